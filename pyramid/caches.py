"""Compile caches that can be written, wherever pyramid runs.

PyTensor keeps compiled models under ``~/.pytensor`` (``base_compiledir``) and refuses to
import at all when it cannot create that folder; numba keeps the compiled kernels of
:mod:`pyramid.models.ordinal_op` next to their source or under ``~/.cache``. With a read-only
home folder (a locked-down server, a container) every fit failed. :func:`ensure_writable`
(run when :mod:`pyramid` is imported, before PyTensor or numba is) keeps the configured
folders when they can be written and otherwise points both at a private folder under the
system's temporary folder, with a warning.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = ["ensure_writable", "pytensor_base_compiledir", "fallback_folder"]


def pytensor_base_compiledir() -> Path:
    """PyTensor's base compile folder as ``PYTENSOR_FLAGS`` gives it, else its default.

    Examples
    --------
    >>> isinstance(pytensor_base_compiledir(), Path)
    True
    """
    for part in os.environ.get("PYTENSOR_FLAGS", "").split(","):
        key, _, value = part.partition("=")
        if key.strip() == "base_compiledir" and value.strip():
            return Path(value.strip()).expanduser()
    return Path(os.environ.get("HOME") or Path.home()) / ".pytensor"


def _can_write(folder: Path) -> bool:
    """Whether ``folder`` exists and can be written, or can be made."""
    p = folder
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
        return False
    try:
        return not bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def fallback_folder() -> Path:
    """This user's private folder under the temporary folder (made ``0700`` if new).

    A folder another user made there (or a link) is never used: compiled code is loaded from
    it. Then a fresh one is made for this process.
    """
    base = Path(tempfile.gettempdir()) / f"pyramid-caches-{os.getuid()}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(base)
        if (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
                and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            return base
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="pyramid-caches-"))


def _set_flag(flags: str, key: str, value: str) -> str:
    parts = [p for p in flags.split(",") if p.strip() and p.partition("=")[0].strip() != key]
    return ",".join([*parts, f"{key}={value}"])


def ensure_writable() -> list[str]:
    """Point PyTensor's and numba's caches at a writable folder where theirs cannot be written.

    Does nothing once PyTensor (or numba) is imported: their settings are read then.

    Returns
    -------
    list of str
        What was changed (empty when nothing had to be).

    Examples
    --------
    >>> isinstance(ensure_writable(), list)
    True
    """
    changed = []
    if "pytensor" not in sys.modules:
        base = pytensor_base_compiledir()
        if not _can_write(base):
            new = fallback_folder() / "pytensor"
            os.environ["PYTENSOR_FLAGS"] = _set_flag(os.environ.get("PYTENSOR_FLAGS", ""),
                                                     "base_compiledir", str(new))
            changed.append(f"PyTensor's compile cache {str(base)!r} cannot be written; "
                           f"using {str(new)!r}")
    if "numba" not in sys.modules and not os.environ.get("NUMBA_CACHE_DIR"):
        here = Path(__file__).parent / "models" / "__pycache__"
        home = Path(os.environ.get("XDG_CACHE_HOME") or
                    Path(os.environ.get("HOME") or Path.home()) / ".cache")
        if not _can_write(here) and not _can_write(home):
            new = fallback_folder() / "numba"
            os.environ["NUMBA_CACHE_DIR"] = str(new)
            changed.append(f"numba's cache cannot be written next to pyramid or under "
                           f"{str(home)!r}; using {str(new)!r}")
    for message in changed:
        warnings.warn(message + " (compiled models are kept there until it is cleared)",
                      RuntimeWarning, stacklevel=3)
    return changed
