"""Every file pyramid writes: checked before the work, written whole or not at all.

* :func:`check_output` checks an output path before any work is done (the suffix, not a
  folder, a folder that exists or can be made, and that can be written), so that a fit does
  not sample for an hour and then fail on ``--out x.txt``;
* :func:`atomic_path` (and :func:`write_bytes`, :func:`write_text`) write to a temporary file
  in the target folder, flush it to disk (``fsync``), and only then rename it over the
  target: a failure, a full disk or Ctrl-C leaves the folder as it was (a good file at the
  path stays untouched), never a partial file;
* :func:`output_error` turns an ``OSError`` into an :class:`~pyramid.errors.OutputError` whose
  message says what could not be written and why in words (the disk is full, the folder is
  read-only, permission denied), which the CLI prints with exit status 2;
* :func:`spreadsheet_safe` neutralises text cells that a spreadsheet would run as a formula
  (a leading ``=``, ``+``, ``-``, ``@``, tab or carriage return, as OWASP advises for CSV).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from pyramid.errors import InputError, OutputError

__all__ = ["check_output", "check_folder", "atomic_path", "write_bytes", "write_text", "write_csv",
           "save_figure", "output_error", "spreadsheet_safe", "TEMP_PREFIX"]

#: Temporary files start with this (and end in ``.tmp``): hidden, and easy to spot.
TEMP_PREFIX = ".pyramid-"

_WORDS = {
    errno.ENOSPC: "the disk is full (no space left on the device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "the folder does not exist",
    errno.EFBIG: "the file is too large for the file system",
    errno.EIO: "an input/output error of the device",
}


def describe_os_error(exc: OSError) -> str:
    """An OS error in words, with the file it concerns (for the CLI's last resort).

    Examples
    --------
    >>> import errno
    >>> describe_os_error(OSError(errno.EROFS, "Read-only file system", "/data/x.csv"))
    "cannot write '/data/x.csv': the folder is on a read-only file system"
    """
    words = _WORDS.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__)
    if exc.filename:
        verb = "read" if exc.errno == errno.ENOENT else "write"
        return f"cannot {verb} {str(exc.filename)!r}: {words}"
    return f"{words} ({type(exc).__name__})"


def output_error(exc: OSError, path: str | os.PathLike[str], what: str = "file") -> OutputError:
    """An :class:`OutputError` for an OS error met writing ``path``, in words.

    Parameters
    ----------
    exc : OSError
    path : str or path-like
        The file that was being written (not the temporary file).
    what : str, default "file"
        What the file is ("results file", "report", ...).

    Returns
    -------
    OutputError

    Examples
    --------
    >>> import errno
    >>> str(output_error(OSError(errno.ENOSPC, "No space left on device"), "fit.nc",
    ...                  "results file"))
    "cannot write the results file 'fit.nc': the disk is full (no space left on the device); nothing was written"
    """
    words = _WORDS.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__)
    if exc.errno in _WORDS and exc.strerror and exc.strerror != os.strerror(exc.errno):
        words += f": {exc.strerror}"  # a detail of pyramid's own (how much room is needed)
    return OutputError(f"cannot write the {what} {str(path)!r}: {words}; nothing was written")


def _writable_folder(folder: Path) -> Path | None:
    """The folder itself, or its nearest existing parent, if a file can be made there."""
    p = folder
    while not p.exists():
        if p.parent == p:
            return None
        p = p.parent
    return p if p.is_dir() and os.access(p, os.W_OK | os.X_OK) else None


def check_output(path: str | os.PathLike[str], suffixes: Iterable[str], what: str = "file",
                 ) -> Path:
    """Check an output path before the work that produces it.

    Parameters
    ----------
    path : str or path-like
    suffixes : iterable of str
        Allowed suffixes (lower case, with the dot), e.g. ``(".nc",)``.
    what : str, default "file"
        What the file is, for the messages.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        A suffix not allowed, or a path that is a folder.
    OutputError
        A folder that cannot be made or written (read-only, permission denied).

    Examples
    --------
    >>> check_output("fit.txt", (".nc",), "results file")
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: a results file must end in .nc, got 'fit.txt'
    """
    path = Path(path)
    suffixes = tuple(suffixes)
    if path.suffix.lower() not in suffixes:
        allowed = " or ".join(suffixes)
        raise InputError(f"a {what} must end in {allowed}, got {str(path)!r}")
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a folder; give a file name ending in "
                         f"{suffixes[0]} for the {what}")
    if path.exists() and not path.is_file():
        raise InputError(f"{str(path)!r} exists and is not a regular file")
    folder = path.parent if str(path.parent) else Path(".")
    if _writable_folder(folder) is None:
        reason = errno.EROFS if _read_only(_existing(folder)) else errno.EACCES
        raise output_error(OSError(reason, os.strerror(reason)), path, what)
    return path


def check_folder(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Check an output folder before the work: a folder (or none yet) that can be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_folder(d / "new") == d / "new"
    True
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{str(path)!r} is a file; the {what} must be a folder")
    if _writable_folder(path) is None:
        reason = errno.EROFS if _read_only(_existing(path)) else errno.EACCES
        raise output_error(OSError(reason, os.strerror(reason)), path, what)
    return path


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system can sync a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], what: str = "file") -> Iterator[Path]:
    """A temporary path in the target's folder, renamed over the target if the block succeeds.

    The block writes the file at the path it is given; when it returns, the file is flushed
    to disk and renamed to ``path`` (atomic on one file system), and the folder is flushed.
    If the block raises (an error, a full disk, Ctrl-C), the temporary file is removed and
    ``path`` is left as it was. An ``OSError`` becomes an :class:`OutputError` in words.

    Parameters
    ----------
    path : str or path-like
    what : str, default "file"

    Yields
    ------
    Path
        The temporary file to write.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".tmp",
                                    dir=folder)
        os.close(fd)
    except OSError as exc:
        raise output_error(exc, path, what) from None
    tmp = Path(name)
    done = False
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if path.exists() and path.is_dir():
            raise InputError(f"{str(path)!r} is a folder; the {what} was not written")
        os.replace(tmp, path)
        done = True
        _fsync_folder(folder)
    except OSError as exc:
        raise output_error(exc, path, what) from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes, what: str = "file") -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_path`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_bytes(pathlib.Path(tempfile.mkdtemp()) / "a.bin", b"123")
    >>> p.read_bytes()
    b'123'
    """
    with atomic_path(path, what) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, what: str = "file") -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (:func:`atomic_path`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "x").read_text()
    'x'
    """
    return write_bytes(path, text.encode("utf-8"), what)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A lone sign or a plain number written as text: a spreadsheet reads it as that sign or
#: number, never as a formula, so it is left as it is (a comparison's direction "+" or "-")
_HARMLESS = re.compile(r"[+-]|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _risky(v) -> bool:
    return isinstance(v, str) and v.startswith(_FORMULA_START) and not _HARMLESS.fullmatch(v)


def _safe_text(v):
    return "'" + v if _risky(v) else v


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names a spreadsheet will not run as formulas.

    A text cell or header starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading apostrophe (OWASP's advice for CSV injection): Excel shows the text
    and does not evaluate it. Numbers stay numbers (a negative number is not text), and so
    does text that a spreadsheet reads as a number or a lone sign (``-2``, ``+``: a
    comparison's direction), which cannot carry a formula.

    Parameters
    ----------
    df : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> spreadsheet_safe(pd.DataFrame({"=notes": ["=1+1", "+"], "x": [-1.5, 2]}))
      '=notes      x
    0   '=1+1  -1.5
    1       +    2.0
    """
    out = df.copy()
    out.columns = [_safe_text(c) if isinstance(c, str) else c for c in out.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype) or isinstance(
                col.dtype, pd.CategoricalDtype):
            vals = col.astype(object).to_numpy()
            if any(_risky(v) for v in vals):
                out.isetitem(i, col.astype(object).map(_safe_text, na_action="ignore"))
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], what: str = "table",
              **kwargs) -> Path:
    """Write a table as a spreadsheet-safe CSV file (:func:`spreadsheet_safe`), atomically.

    Parameters
    ----------
    df : pandas.DataFrame
    path : str or path-like
    what : str, default "table"
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv` (``index=False`` by default).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_csv(pd.DataFrame({"a": ["=1+1"]}), pathlib.Path(tempfile.mkdtemp()) / "t.csv")
    >>> p.read_text()
    "a\\n'=1+1\\n"
    """
    kwargs.setdefault("index", False)
    with atomic_path(path, what) as tmp:
        spreadsheet_safe(df).to_csv(tmp, encoding="utf-8", **kwargs)
    return Path(path)


def save_figure(fig, path: str | os.PathLike[str], what: str = "figure", **kwargs) -> Path:
    """Save a matplotlib figure atomically, in the format its suffix names.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or path-like
    what : str, default "figure"
    **kwargs
        Passed to :meth:`matplotlib.figure.Figure.savefig`.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import matplotlib.pyplot as plt
    >>> fig = plt.figure()
    >>> p = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "f.png")
    >>> p.read_bytes()[:4]
    b'\\x89PNG'
    >>> plt.close(fig)
    """
    path = Path(path)
    with atomic_path(path, what) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or None, **kwargs)
    return path
