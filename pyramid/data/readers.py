"""Reading and writing observation data: CSV, Parquet, Excel (.xlsx) and SPSS (.sav).

:func:`read` returns the file's table as a raw :class:`pandas.DataFrame` for
:func:`pyramid.validate`; it does not check the schema, but it makes sure that identifiers are
read as text (``007`` stays ``"007"``), that ``None`` in a CSV or a workbook is the training
level and not a missing value, and that an SPSS file's labelled codes for ``group``,
``training``, ``discussion`` (and a yes/no ``clinician``) arrive as their labels. Anything
wrong with the file itself (missing, empty, not what its extension says, undecodable) is an
:class:`~pyramid.errors.InputError` that says what was found and what was expected.

:func:`write` writes a frame to the same four formats; in an SPSS file the categorical columns
become labelled numeric codes (ordinal where the levels are ordered), as SPSS users expect.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyramid.data.validate import is_missing, parse_id
from pyramid.errors import DataWarning, InputError
from pyramid.study import Study, load_study, map_columns

__all__ = ["SUPPORTED_EXTENSIONS", "read", "write"]

#: File extensions pyramid reads and writes, with the format's name.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "CSV",
    ".parquet": "Parquet",
    ".xlsx": "Excel workbook",
    ".sav": "SPSS data file",
}

# Cell texts read as missing in CSV and Excel files: pandas' defaults less "None" (a training
# level) and the rarer spellings of NaN.
_NA_TEXT = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "#N/A", "<NA>"]

# Leading bytes of each format (and of the look-alikes users rename by mistake).
_MAGIC = [
    (b"PK\x03\x04", "an Excel workbook or another zip file"),
    (b"PAR1", "a Parquet file"),
    (b"$FL2", "an SPSS data file (.sav)"),
    (b"$FL3", "a compressed SPSS data file (.zsav)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or password-protected Office file"),
    (b"%PDF", "a PDF document"),
]

_YES_NO = {"0", "1", "no", "yes", "false", "true"}


def _supported() -> str:
    return ", ".join(f"{ext} ({name})" for ext, name in SUPPORTED_EXTENSIONS.items())


def _extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        hint = ""
        if ext == ".xls":
            hint = "; save the workbook as .xlsx"
        elif ext in (".tsv", ".txt"):
            hint = "; save it as .csv"
        elif ext == ".zsav":
            hint = "; save it uncompressed as .sav"
        raise InputError(
            f"{path}: unsupported file type {ext or '(no extension)'!r}; supported: "
            f"{_supported()}{hint}"
        )
    return ext


def _looks_like(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if b"\x00" in head:
        return "a binary file"
    return None


def _check_file(path: Path) -> bytes:
    """The first bytes of a readable, non-empty file; InputError otherwise."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a data file ({_supported()})")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")
    return head


def _not_a(path: Path, expected: str, head: bytes) -> InputError:
    seen = _looks_like(head)
    if seen is None:
        seen = "text" if _is_text(head) else "something else"
    return InputError(
        f"{path}: not {expected} (its extension says so, but its content looks like {seen})"
    )


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still text
        return exc.start >= len(head) - 3 and b"\x00" not in head
    return b"\x00" not in head


def read(
    path: str | os.PathLike[str],
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    study: Any = None,
) -> pd.DataFrame:
    """Read observation data from a CSV, Parquet, Excel (.xlsx) or SPSS (.sav) file.

    Parameters
    ----------
    path : str or path-like
        The file; its extension (case-insensitive) gives the format.
    sheet : str or int, optional
        Excel only: the sheet to read, by name or 0-based position (``0`` is the first). Text
        that is a whole number (``"1"``, as the CLI's ``--sheet 1`` passes it) is a position
        unless a sheet has that name. By default the first sheet; a workbook with several
        sheets then gives a :class:`DataWarning` naming the sheet used.
    encoding : str, optional
        CSV only: the text encoding, by default UTF-8 (with or without a byte-order mark;
        UTF-16 with a byte-order mark is recognised too). A CSV saved by Excel on Windows may
        need ``"cp1252"``; UTF-16 text without a byte-order mark needs ``"utf-16-le"`` (or
        ``"utf-16-be"``), which the error message suggests.
    study : str, path or Study, optional
        The study whose id columns are read as text and whose categorical factors' SPSS
        value labels are applied (:func:`pyramid.study.load_study`); default ``rsw2017``.

    Returns
    -------
    pandas.DataFrame
        The table as read, not yet validated (pass it to :func:`pyramid.validate`). The
        identifier columns (``observation``, ``worker``, ``unit``, ``authority``, under any
        header variant that :func:`pyramid.validate` accepts) are text, and read as typed:
        ``NA`` in an identifier column stays the text ``"NA"`` (so that
        :func:`pyramid.validate` can say which value it read as missing), and cells a
        spreadsheet or a Parquet file holds as dates or fractions are kept as they are, for
        :func:`pyramid.validate` to refuse with the row. A CSV's delimiter
        (comma, semicolon or tab) is detected from its header. In an SPSS file, the value
        labels of ``group``, ``training`` and ``discussion``, of ``clinician`` when its labels
        are yes/no, and of columns outside the schema are applied; codes of identifiers,
        domain scores and ``skill`` are kept as numbers, and empty text is missing (SPSS
        has no missing value for text). ``attrs["read"]`` holds ``path``,
        ``format`` and, where they apply, ``sheet`` and ``delimiter``.

    Raises
    ------
    InputError
        For an unsupported extension (the message lists the supported ones), a missing file,
        a directory, an empty file (0 bytes, or a header without data rows), a file whose
        content is not what its extension says, text that is not valid in the encoding
        (naming the line), an unparsable file, or an unknown sheet.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "obs.csv"
    >>> _ = path.write_text(
    ...     "observation,Worker,unit,authority,training,empathy\\n"
    ...     "007,w1,u1,A,None,3\\n008,w2,u1,A,mla,\\n"
    ... )
    >>> df = read(path)
    >>> df["observation"].tolist(), df["training"].tolist()
    (['007', '008'], ['None', 'mla'])
    >>> df["empathy"].tolist()
    [3.0, nan]
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a data file ({_supported()})")
    ext = _extension(path)
    head = _check_file(path)
    study = load_study(study)
    if ext == ".csv":
        df, info = _read_csv(path, head, encoding, study)
    elif ext == ".parquet":
        df, info = _read_parquet(path, head)
    elif ext == ".xlsx":
        df, info = _read_excel(path, head, sheet, study)
    else:
        df, info = _read_sav(path, head, study)
    if df.shape[1] == 0:
        raise InputError(f"{path}: the file has no columns")
    if len(df) == 0:
        raise InputError(
            f"{path}: the file has a header ({', '.join(map(str, df.columns))}) but no data rows"
        )
    df = _ids_as_text(df, study)
    df.attrs = {"read": {"path": str(path), **info}}
    return df


def _canonical(study: Study, columns: Any) -> dict[Any, str]:
    """Header -> the study column it stands for (headers that stand for none left out)."""
    found = map_columns(study, list(columns)).found
    headers = list(columns)
    return {headers[p]: c for c, p in found.items()}


def _id_headers(columns: Any, study: Study | None = None) -> list[Any]:
    study = load_study(study)
    return [h for h, c in _canonical(study, columns).items() if c in study.roles]


def _ids_as_text(df: pd.DataFrame, study: Study | None = None) -> pd.DataFrame:
    """Whole numbers in identifier columns (Parquet, SPSS, Excel) as text: 7.0 -> '7'.

    Anything else that is not text (a fraction such as 0.5, a date, true/false) is kept as it
    is, for :func:`pyramid.validate` to refuse with its row: turned into text here, it would
    pass as an id.
    """
    for h in _id_headers(df.columns, study):
        col = df[h]
        if pd.api.types.is_bool_dtype(col.dtype) or isinstance(col.dtype, pd.StringDtype):
            continue
        cells = [_id_as_text(v) for v in col.to_numpy(object)]
        text = all(v is None or isinstance(v, str) for v in cells)
        df[h] = pd.array(cells, dtype="str") if text else pd.Series(cells, dtype=object).array
    return df


def _id_as_text(v: Any) -> Any:
    if is_missing(v) and not isinstance(v, str):
        return None
    if isinstance(v, int | np.integer | float | np.floating) and not isinstance(v, bool):
        text, rule = parse_id(v)
        return v if rule is not None else text
    return v


def _read_csv(path: Path, head: bytes, encoding: str | None,
              study: Study | None = None) -> tuple[pd.DataFrame, dict]:
    seen = _looks_like(head)
    enc = encoding or "utf-8-sig"
    bom16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if encoding is None and bom16:
        enc = "utf-16"  # "Unicode text" saved by Excel: its byte-order mark says so
    utf16 = enc.lower().replace("_", "-").startswith("utf-16")
    if seen == "a binary file" and not utf16 and (guess := _utf16_without_bom(head)):
        raise InputError(
            f"{path}: looks like UTF-16 text without a byte-order mark (every other byte is "
            f"zero), not UTF-8; pass its encoding (Python: read(path, encoding={guess!r}); "
            f"CLI: --encoding {guess}), or save it again as 'CSV UTF-8'"
        )
    if seen is not None and not (utf16 and seen == "a binary file"):
        raise InputError(f"{path}: not a CSV text file (its content looks like {seen})")
    try:
        with path.open(encoding=enc, newline="") as fh:
            first = ""
            for _, line in zip(range(1000), fh, strict=False):  # the first non-blank line
                if line.strip():
                    first = line
                    break
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r} (try 'utf-8' or 'cp1252')") from None
    except UnicodeDecodeError:
        raise _undecodable(path, enc) from None
    if not first.strip():
        raise InputError(f"{path}: the file is empty (no header line)")
    sep = max([",", ";", "\t"], key=first.count)  # ties (incl. a one-column file) -> ","
    try:
        header = pd.read_csv(path, nrows=0, sep=sep, encoding=enc).columns
        _check_header(path, pd.read_csv(
            path, header=None, nrows=1, sep=sep, encoding=enc, dtype=str, keep_default_na=False
        ))
        df = pd.read_csv(
            path,
            sep=sep,
            encoding=enc,
            dtype={h: "str" for h in _id_headers(header, study)},
            keep_default_na=False,
            na_values=_na_values(header, study),
        )
    except UnicodeDecodeError:
        raise _undecodable(path, enc) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty (no header line)") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a well-formed CSV file: {exc}") from None
    return df, {"format": "csv", "delimiter": sep, "encoding": enc}


def _na_values(header: Any, study: Study | None = None) -> dict[Any, list[str]]:
    """The texts read as missing, per column: none in identifier columns, whose cells are read
    as typed (an authority written ``NA`` reaches :func:`pyramid.validate` as ``"NA"``)."""
    ids = set(_id_headers(header, study))
    return {h: ([""] if h in ids else _NA_TEXT) for h in header}


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the bytes look like mostly-ASCII UTF-16 text."""
    even, odd = head[0 : len(head) // 2 * 2 : 2], head[1 : len(head) // 2 * 2 : 2]
    if len(odd) < 8:
        return None
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zeros_odd > 0.9 and zeros_even < 0.1:
        return "utf-16-le"
    if zeros_even > 0.9 and zeros_odd < 0.1:
        return "utf-16-be"
    return None


def _check_header(path: Path, first_row: pd.DataFrame) -> None:
    """A header naming one column twice: pandas would rename the second ('x.1') silently."""
    if first_row.empty:
        return
    names = [str(v).strip() for v in first_row.iloc[0].tolist()]
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name and name in seen:
            raise InputError(
                f"{path}: the header names column {name!r} twice (columns {seen[name]} and "
                f"{position}); column names must be unique"
            )
        seen.setdefault(name, position)


def _undecodable(path: Path, encoding: str) -> InputError:
    """Name the first line that cannot be decoded."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as exc:
                bad = line[exc.start : exc.start + 1]
                return InputError(
                    f"{path}: line {number} is not valid {encoding} text (byte 0x{bad.hex()} at "
                    f"character {exc.start + 1}); if the file was saved in another encoding, "
                    "pass it (Python: read(path, encoding='cp1252'); CLI: --encoding cp1252)"
                )
    return InputError(f"{path}: not valid {encoding} text")


def _read_parquet(path: Path, head: bytes) -> tuple[pd.DataFrame, dict]:
    tail = b""
    if path.stat().st_size >= 8:
        with path.open("rb") as fh:
            fh.seek(-4, os.SEEK_END)
            tail = fh.read(4)
    if not (head.startswith(b"PAR1") and tail == b"PAR1"):
        raise _not_a(path, "a Parquet file", head)
    import pyarrow as pa

    try:
        df = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"{path}: a damaged Parquet file ({exc})") from None
    df.attrs = {}
    return df, {"format": "parquet"}


def _read_excel(path: Path, head: bytes, sheet: str | int | None,
                study: Study | None = None) -> tuple[pd.DataFrame, dict]:
    if not head.startswith(b"PK\x03\x04"):
        raise _not_a(path, "an Excel workbook (.xlsx)", head)
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise InputError(
            f"{path}: not a readable Excel workbook (.xlsx): {type(exc).__name__}: {exc}"
        ) from None
    with book:
        names = list(book.sheet_names)
        if isinstance(sheet, str) and sheet not in names and sheet.strip().isdigit():
            sheet = int(sheet.strip())  # the CLI's --sheet 1: a position, as in the API
        if sheet is None:
            chosen = names[0]
            if len(names) > 1:
                warnings.warn(
                    f"{path}: the workbook has {len(names)} sheets "
                    f"({', '.join(map(repr, names))}); read the first, {chosen!r} "
                    "(choose another by name or 0-based position: sheet=..., CLI --sheet)",
                    DataWarning,
                    stacklevel=3,
                )
        elif isinstance(sheet, int | np.integer) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise InputError(
                    f"{path}: no sheet at position {sheet} (0-based); the workbook has "
                    f"{len(names)}: {', '.join(map(repr, names))}"
                )
            chosen = names[int(sheet)]
        elif str(sheet) in names:
            chosen = str(sheet)
        else:
            raise InputError(
                f"{path}: no sheet named {sheet!r}; sheets: {', '.join(map(repr, names))}"
            )
        _check_formulas(path, chosen)
        try:
            header = pd.read_excel(book, sheet_name=chosen, nrows=0).columns
            _check_header(path, pd.read_excel(
                book, sheet_name=chosen, header=None, nrows=1, dtype=str, keep_default_na=False
            ))
            df = pd.read_excel(  # ids as the cells hold them: a date stays a date
                book,
                sheet_name=chosen,
                dtype={h: object for h in _id_headers(header, study)},
                keep_default_na=False,
                na_values=_na_values(header, study),
            )
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: sheet {chosen!r} cannot be read: {exc}") from None
    if df.shape[1] == 0:
        raise InputError(f"{path}: sheet {chosen!r} is empty")
    return df, {"format": "xlsx", "sheet": chosen}


def _check_formulas(path: Path, sheet: str) -> None:
    """Refuse formula cells without a saved value: they would be read as empty.

    A workbook written by a program that does not calculate (openpyxl, pandas, some exports)
    holds formulas without their results; openpyxl, like pandas, reads the saved result, so
    such a cell would silently become a missing score.
    """
    import openpyxl

    def load(data_only: bool):
        return openpyxl.load_workbook(path, read_only=True, data_only=data_only)

    try:
        book = load(False)
        try:
            formulas = [c.coordinate for row in book[sheet].iter_rows() for c in row
                        if getattr(c, "data_type", None) == "f"]
        finally:
            book.close()
        if not formulas:
            return
        book = load(True)
        try:
            want = set(formulas)
            empty = [c.coordinate for row in book[sheet].iter_rows() for c in row
                     if getattr(c, "coordinate", None) in want and c.value is None]
        finally:
            book.close()
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: sheet {sheet!r} cannot be read: {exc}") from None
    if empty:
        shown = ", ".join(empty[:12]) + (f" and {len(empty) - 12} more" if len(empty) > 12
                                          else "")
        raise InputError(
            f"{path}: sheet {sheet!r} has {len(empty)} formula cell(s) without a saved value "
            f"({shown}): they would be read as empty. The workbook was saved by a program that "
            f"does not calculate formulas; open it in Excel or LibreOffice and save it, or "
            f"replace the formulas by their values")


def _read_sav(path: Path, head: bytes, study: Study | None = None) -> tuple[pd.DataFrame, dict]:
    if not head.startswith((b"$FL2", b"$FL3")):
        raise _not_a(path, "an SPSS data file (.sav)", head)
    import pyreadstat

    try:
        df, meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, ValueError) as exc:
        raise InputError(f"{path}: a damaged SPSS data file ({exc})") from None
    for column in df.columns:  # SPSS has no missing text: an empty string means missing
        if not pd.api.types.is_numeric_dtype(df[column].dtype):
            text = df[column].astype(object)
            df[column] = text.where(~text.map(lambda v: isinstance(v, str) and not v.strip()))
    applied = []
    study = load_study(study)
    canonical = _canonical(study, df.columns)
    for column, labels in (meta.variable_value_labels or {}).items():
        kind = study.kind_of(canonical.get(column, ""))
        if kind is not None and kind not in ("categorical", "ordered"):
            if kind != "binary" or not {str(v).strip().lower() for v in labels.values()} <= (
                _YES_NO
            ):
                continue  # ids, scores, skill, numbers: the codes are the data
        df[column] = _apply_labels(df[column], labels)
        applied.append(str(column))
    return df, {"format": "sav", "labels_applied": applied}


def _apply_labels(col: pd.Series, labels: dict[Any, str]) -> pd.Series:
    """Codes -> labels; unlabelled values stay as they are, missing stays missing."""
    lookup = {float(k) if isinstance(k, int | float) else k: v for k, v in labels.items()}
    out = []
    for v in col.to_numpy(dtype=object):
        if is_missing(v):
            out.append(None)
            continue
        key = float(v) if isinstance(v, int | float | np.integer | np.floating) else v
        out.append(lookup.get(key, v))
    return pd.Series(out, index=col.index, dtype=object, name=col.name)


# --------------------------------------------------------------------------------------------
# write
# --------------------------------------------------------------------------------------------
def write(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    sheet_name: str = "observations",
) -> Path:
    """Write observation data to a CSV, Parquet, Excel (.xlsx) or SPSS (.sav) file.

    Parameters
    ----------
    df : pandas.DataFrame
        The data, usually a frame returned by :func:`pyramid.validate`. The index is not
        written.
    path : str or path-like
        The file to write (replaced if it exists); its extension gives the format.
    sheet_name : str, default "observations"
        Excel only: the sheet's name.

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    The file is written whole to a temporary file in the same folder and renamed over
    ``path`` when complete (nothing partial is left on a failure). CSV files are UTF-8 with
    missing values as empty fields, and spreadsheet-safe: a text cell or header starting with
    ``=``, ``+``, ``-`` or ``@`` gets a leading apostrophe, so that Excel does not run it as a
    formula (:func:`pyramid.output.spreadsheet_safe`). In an SPSS file, categorical
    columns become numeric codes 1, 2, ... in level order with the level names as value labels
    (measure "ordinal" for ordered levels such as ``training``, else "nominal"), nullable
    integers become numeric with system-missing values, text stays text (ids keep their
    leading zeros), and the columns of the frame's study (``rsw2017`` unless the frame was
    validated with another) get their description as the variable label;
    :func:`read` turns the codes back into level names.

    Raises
    ------
    InputError
        For an unsupported extension, a folder that does not exist, or a frame the format
        cannot hold (e.g. a column name SPSS does not allow).
    OutputError
        The file cannot be written (a full disk, a read-only folder, permission denied).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> from pyramid import validate
    >>> df = validate(pd.DataFrame({
    ...     "observation": ["o1", "o2"], "worker": ["w1", "w2"], "unit": "u1",
    ...     "authority": "A", "training": ["none", "programme"], "empathy": [2, 4],
    ... }))
    >>> path = write(df, pathlib.Path(tempfile.mkdtemp()) / "obs.sav")
    >>> read(path)["training"].tolist()
    ['none', 'programme']
    """
    from pyramid.output import atomic_path, check_output, spreadsheet_safe

    if not isinstance(df, pd.DataFrame):
        raise InputError(f"write needs a pandas DataFrame, got {type(df).__name__}")
    path = Path(path)
    ext = _extension(path)
    if not path.parent.is_dir():
        raise InputError(f"{path}: cannot write, folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file name")
    check_output(path, (ext,), "data file")
    study = df.attrs.get("study") if isinstance(df.attrs, dict) else None
    data = df.reset_index(drop=True)
    data.attrs = {}
    with atomic_path(path, "data file") as tmp:
        if ext == ".csv":
            spreadsheet_safe(data).to_csv(tmp, index=False, encoding="utf-8")
        elif ext == ".parquet":
            data.to_parquet(tmp, index=False)
        elif ext == ".xlsx":
            data.to_excel(tmp, index=False, sheet_name=sheet_name, engine="openpyxl")
        else:
            _write_sav(data, tmp, load_study(study))
    return path


def _write_sav(df: pd.DataFrame, path: Path, study: Study) -> None:
    import pyreadstat

    canonical = _canonical(study, df.columns)
    out = {}
    value_labels: dict[str, dict[float, str]] = {}
    measure: dict[str, str] = {}
    labels: dict[str, str | None] = {}
    for name in df.columns:
        col = df[name]
        key = str(name)
        canon = canonical.get(name)
        labels[key] = study.description_of(canon) if canon is not None else None
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = list(col.cat.categories)
            codes = col.cat.codes.to_numpy().astype("float64")
            codes[codes < 0] = np.nan
            out[key] = codes + 1
            value_labels[key] = {float(i + 1): str(c) for i, c in enumerate(cats)}
            measure[key] = "ordinal" if col.cat.ordered else "nominal"
        elif pd.api.types.is_bool_dtype(col.dtype) or (
            pd.api.types.is_numeric_dtype(col.dtype)
        ):
            out[key] = col.astype("float64").to_numpy(na_value=np.nan)
            measure[key] = "scale"
        else:
            out[key] = [None if is_missing(v) else str(v) for v in col.to_numpy(object)]
            measure[key] = "nominal"
    frame = pd.DataFrame(out)
    try:
        pyreadstat.write_sav(
            frame,
            str(path),
            column_labels=labels,
            variable_value_labels=value_labels,
            variable_measure=measure,
        )
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, ValueError) as exc:
        raise InputError(f"{path}: cannot write this frame as SPSS data: {exc}") from None
