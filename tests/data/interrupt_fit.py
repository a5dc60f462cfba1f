"""Run ``pyramid fit`` with a signal sent to itself at one point (tests/test_interrupt.py).

Usage: ``python interrupt_fit.py POINT SIGNAL -- <pyramid fit arguments>``; POINT is one of
``compile`` (as the model compiles), ``sampling`` (as nutpie starts), ``mid-sampling`` (from
another process, two seconds into sampling), ``saving`` (half-way through writing the results
file); SIGNAL ``INT``, ``TERM`` or ``KILL``. Exits with the CLI's exit code.
"""

import os
import signal
import subprocess
import sys


def _patch(point: str, sig_name: str) -> None:
    import nutpie

    import pyramid.models.sampling  # noqa: F401
    import pyramid.results  # noqa: F401

    sig = getattr(signal, "SIG" + sig_name)
    sampling = sys.modules["pyramid.models.sampling"]
    results = sys.modules["pyramid.results"]

    def me() -> None:
        os.kill(os.getpid(), sig)

    if point == "compile":  # the kernels compiled, or loaded from numba's cache
        real_compile = sampling.ensure_compiled

        def ensure_compiled(*a, **k):
            me()
            return real_compile(*a, **k)

        sampling.ensure_compiled = ensure_compiled
    elif point in ("sampling", "mid-sampling"):
        real_sample = nutpie.sample

        def sample(*a, **k):
            if point == "sampling":
                me()
            else:
                subprocess.Popen(["sh", "-c", f"sleep 2; kill -{sig_name} {os.getpid()}"])
            return real_sample(*a, **k)

        nutpie.sample = sample
    elif point == "saving":
        def write_tree(dt, tmp, path):
            data = bytes(dt.to_netcdf(engine="h5netcdf"))
            with open(tmp, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                me()
                f.write(data[len(data) // 2:])

        results._write_tree = write_tree
    else:
        raise SystemExit(f"unknown point {point!r}")


def main() -> int:
    _patch(sys.argv[1], sys.argv[2])
    from pyramid.cli import main as cli

    return cli(sys.argv[sys.argv.index("--") + 1:])


if __name__ == "__main__":
    sys.exit(main())
