"""Keep freed memory for reuse while a model samples (glibc's ``malloc``, Linux).

Why: every log-density and gradient call of a compiled model allocates its output and
temporary arrays afresh (numba and PyTensor allocate per call) and frees them on return. On
glibc, a block of 128 KiB or more is by default its own ``mmap``: freed at once with
``munmap``, and its pages zeroed again by the kernel on the next call's first touch. At national
scale (90,000 ratings: 720 KB a rating-length array) that was a quarter of the time of one
gradient in the kernel's page-fault and page-clearing code (``perf record`` on
``benchmarks/gradient.py``'s whole-model loop: 24 % in ``[kernel.kallsyms]``, 1.6 % with this
setting). Raising glibc's ``mmap`` threshold and its trim threshold while sampling keeps those
blocks in ``malloc``'s heap, so the next call reuses pages already mapped.

Nothing in the Python or numba libraries does this: it is a process-wide ``mallopt(3)``
setting, made here with :mod:`ctypes`, in force only while a fit samples (counted, so that
concurrent fits in one process share it). When the last fit leaves, ``malloc_trim(0)`` hands
the kept memory back to the system, and the thresholds are left where glibc's own dynamic
adjustment takes them at most (``mmap`` threshold 32 MiB, trim threshold twice that): an
explicit ``mallopt`` turns that adjustment off for the rest of the process, and glibc has no
call to turn it back on. The peak memory of a fit is not raised: the same blocks are live at the
peak either way; they are only not unmapped and mapped again in between.

Elsewhere (macOS, Windows, musl) it does nothing. ``PYRAMID_MALLOC_TUNING=0`` in the
environment turns it off (for comparisons: ``benchmarks/gradient.py`` measures both ways).
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["reuse_freed_memory", "enabled", "glibc", "SAMPLING", "AFTER"]

#: ``mallopt`` parameters (``<malloc.h>``).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Sampling values: blocks up to 32 MiB (the largest ``M_MMAP_THRESHOLD`` every 64-bit glibc
#: accepts) come from the heap; up to 1 GiB of free memory at the heap's top is kept.
SAMPLING = {M_MMAP_THRESHOLD: 32 * 1024 * 1024, M_TRIM_THRESHOLD: 1024 * 1024 * 1024}
#: Afterwards: the largest values glibc's dynamic adjustment gives them (``DEFAULT_MMAP_THRESHOLD_MAX``
#: on 64-bit, and the trim threshold it pairs with it).
AFTER = {M_MMAP_THRESHOLD: 32 * 1024 * 1024, M_TRIM_THRESHOLD: 64 * 1024 * 1024}

_LOCK = threading.Lock()
_users = 0


def glibc():
    """The C library when it is glibc with ``mallopt`` and ``malloc_trim``, else ``None``."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


def _set(libc, values: dict[int, int]) -> bool:
    return all(libc.mallopt(ctypes.c_int(k), ctypes.c_int(v)) == 1 for k, v in values.items())


def enabled() -> bool:
    """Whether :func:`reuse_freed_memory` changes anything in this process.

    Examples
    --------
    >>> isinstance(enabled(), bool)
    True
    """
    return os.environ.get("PYRAMID_MALLOC_TUNING", "1") != "0" and glibc() is not None


@contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """While inside, freed blocks up to 32 MiB stay in ``malloc``'s heap for reuse.

    Re-entrant and shared by threads: when the last user leaves, the kept memory is returned to
    the system and the thresholds are set to ``AFTER`` (see the module's description).

    Yields
    ------
    bool
        Whether the setting is in force: ``False`` off glibc or with
        ``PYRAMID_MALLOC_TUNING=0``.

    Examples
    --------
    >>> with reuse_freed_memory() as on:
    ...     isinstance(on, bool)
    True
    """
    global _users
    libc = glibc() if enabled() else None
    if libc is None:
        yield False
        return
    with _LOCK:
        _users += 1
        on = _set(libc, SAMPLING) if _users == 1 else True
    try:
        yield on
    finally:
        with _LOCK:
            _users -= 1
            if _users == 0:
                _set(libc, AFTER)
                libc.malloc_trim(ctypes.c_size_t(0))
