"""Helper process of a cold compile (:func:`pyramid.models.compiled._start_helper`).

Reads a cloudpickled ``(inputs, outputs, mode)`` from standard input, compiles it with
PyTensor's numba backend and runs it once, which writes numba's disk cache that the parent
process then loads. Exit status 0 on success; the parent does not depend on it.
"""

from __future__ import annotations

import sys

from pyramid.models.compiled import compile_in_helper


def main() -> int:
    compile_in_helper(sys.stdin.buffer.read())
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process
    sys.exit(main())
