"""Validation of observation data: the one place where the schema of DESIGN.md section 2 is
enforced.

:func:`validate` checks a raw frame (as read from a file by :func:`pyramid.read`, or built in
Python) against :mod:`pyramid.data.schema` and returns the canonical, typed copy described in
docs/architecture.md ("The canonical data frame"), so that no later module re-checks anything.
Every problem is collected first and reported at once in one
:class:`~pyramid.errors.ValidationError`, each naming row, column, value and rule.

Rows are counted as a user sees them: row 1 is the first data row (the line after the header
of a CSV file, the second row of a spreadsheet), whatever the frame's index.

Every rule reads what it checks from :mod:`pyramid.data.schema` (``COLUMNS``: each column's
kind, whether it is required, its levels and their spellings, ``constant_within``;
``ID_COLUMNS``: the nesting, innermost first; ``DOMAINS``: what ``skill`` is the mean of), and
:func:`validate` runs them as named stages over one :class:`_Table`. Two kinds of finding:

- **errors** (a :class:`~pyramid.errors.Problem` each): the data cannot be analysed as they are;
- **judgements** (:data:`JUDGEMENTS`): allowed but probably a mistake, so a
  :class:`DataWarning` names the rows; ``allow=`` (CLI ``--allow``) silences one.

:func:`check_suitability` checks that a validated frame has enough groups and observed levels for a
model, and :func:`summarise` gives a one-table summary of a validated frame.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
import unicodedata
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from pyramid.data import schema
from pyramid.errors import DataWarning, InputError, Problem, ValidationError
from pyramid.models.coding import prepare
from pyramid.specs import load_spec
from pyramid.study import Study, header_key, level_problems, load_study, map_columns

__all__ = [
    "CANONICAL_DTYPES",
    "JUDGEMENTS",
    "MISSING_TOKENS",
    "canonical_column_name",
    "check_suitability",
    "suitability_terms",
    "is_canonical",
    "is_missing",
    "parse_id",
    "summarise",
    "validate",
]


#: Text read as "missing" in any column (compared case-insensitively after stripping spaces).
#: ``"None"`` is deliberately not among them: ``none`` is a training level.
MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "#n/a", "<na>"})

_KIND_DTYPES: dict[str, Any] = {"id": "str", "binary": "Int8", "score": "Int8",
                                "float": "float64"}


def _dtype(column: schema.Column) -> Any:
    if column.kind in ("category", "ordered"):
        return pd.CategoricalDtype(list(column.levels), ordered=column.kind == "ordered")
    return _KIND_DTYPES[column.kind]


#: The dtypes of the canonical frame returned by :func:`validate` (docs/architecture.md),
#: from each column's kind in :data:`pyramid.data.schema.COLUMNS`.
CANONICAL_DTYPES: dict[str, Any] = {c.name: _dtype(c) for c in schema.COLUMNS.values()}

_ID_OUTER = dict(zip(schema.ID_COLUMNS[1:-1], schema.ID_COLUMNS[2:], strict=True))

#: Judgement rules: findings that are allowed but probably a mistake. Each gives a
#: :class:`DataWarning` naming the rows; ``validate(..., allow=[name])`` (CLI ``--allow
#: NAME``) silences it.
JUDGEMENTS: dict[str, str] = {
    "case-ids": "ids of one column that differ only in upper and lower case (kept as "
                "different ids)",
    **{
        f"{c.constant_within}-{c.name}": f"a {c.constant_within} with more than one {c.name} "
        f"value (each observation keeps its own)"
        for c in schema.COLUMNS.values() if c.constant_within
    },
}


def _key(text: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(text).strip().lower())


_COLUMN_KEYS: dict[str, str] = {header_key(c): c for c in schema.COLUMNS}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def canonical_column_name(name: Any) -> str | None:
    """The schema column a header stands for, tolerating case, spaces, hyphens and underscores.

    Parameters
    ----------
    name : Any
        A column header as read.

    Returns
    -------
    str or None
        The canonical column name, or ``None`` when the header is not a schema column.

    Examples
    --------
    >>> canonical_column_name(" Child Focus ")
    'child_focus'
    >>> canonical_column_name("Worker")
    'worker'
    >>> canonical_column_name("notes") is None
    True
    >>> canonical_column_name("=empathy") is None  # a formula, not the empathy scores
    True
    """
    return _COLUMN_KEYS.get(header_key(name))


# --------------------------------------------------------------------------------------------
# cell parsers: each returns (value, None) or (None, rule); (None, None) means missing
# --------------------------------------------------------------------------------------------
def is_missing(v: Any) -> bool:
    """Whether a cell means "missing": None, NA, NaN, or one of :data:`MISSING_TOKENS`."""
    if type(v) is str:
        return v.strip().lower() in MISSING_TOKENS
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float | np.floating):
        return math.isnan(v)
    if isinstance(v, str):
        return v.strip().lower() in MISSING_TOKENS
    return False


def _as_number(v: Any) -> float | None:
    """A finite number from a number or numeric text; None when it is not one."""
    if isinstance(v, bool | np.bool_):
        return None
    if isinstance(v, int | np.integer | float | np.floating):
        f = float(v)
    elif isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
        f = float(v.strip())
    else:
        return None
    return f if math.isfinite(f) else None


_ID_RULE = "an id must be non-empty text or a whole number"
# how pandas writes a spreadsheet's date cell read as text
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} 00:00:00")
_DATE_RULE = (
    "an id that is a date: a spreadsheet turned the id into a date (Excel does this to ids such "
    "as 3-4 or 3/4), and the id as typed is lost. Format the column as Text, type the ids "
    "again and save"
)


def parse_id(v: Any) -> tuple[str | None, str | None]:
    """An identifier cell as text (a whole number without its ``.0``), or an error message:
    ``(text, None)``, ``(None, None)`` for missing, ``(None, rule)`` for a bad value."""
    if type(v) is str:
        v = v.strip()
        if v.lower() in MISSING_TOKENS:
            return None, None
        if _DATE_TEXT.fullmatch(v):
            return None, _DATE_RULE
        # one text, one id: 'école' typed as one character or as 'e' + accent is one id
        return unicodedata.normalize("NFC", v), None
    if is_missing(v):
        return None, None
    if isinstance(v, bool | np.bool_):
        return None, f"{_ID_RULE}; got a true/false value"
    if isinstance(v, int | np.integer):
        return str(int(v)), None
    if isinstance(v, float | np.floating):
        f = float(v)
        if not math.isfinite(f):
            return None, f"{_ID_RULE}; got {f}"
        if not f.is_integer():
            return None, f"{_ID_RULE}; got {f!r}, which is not a whole number"
        return str(int(f)), None
    if isinstance(v, datetime.date | datetime.time | np.datetime64):
        return None, _DATE_RULE
    if isinstance(v, str):
        return parse_id(str(v))
    return None, f"{_ID_RULE}; got a value of type {type(v).__name__}"


@cache
def _score_parser(lo: int, hi: int) -> Callable[[Any], tuple[int | None, str | None]]:
    """Domain scores: whole numbers from ``lo`` to ``hi`` (the study's scale)."""
    rule = f"domain scores must be whole numbers from {lo} to {hi} (empty = not scored)"

    def parse(v: Any) -> tuple[int | None, str | None]:
        if is_missing(v):
            return None, None
        f = _as_number(v)
        if f is None:
            return None, f"not a number: {rule}"
        if not f.is_integer():
            return None, f"not a whole number: {rule}"
        if not lo <= f <= hi:
            return None, f"out of range: {rule}"
        return int(f), None

    return parse




@cache
def _mean_parser(column: str, lo: int = schema.SCORE_MIN,
                 hi: int = schema.SCORE_MAX) -> Callable[[Any], tuple[float | None, str | None]]:

    def parse(v: Any) -> tuple[float | None, str | None]:
        if is_missing(v):
            return None, None
        f = _as_number(v)
        if f is None:
            return None, f"{column} must be a number (empty = derive it from the domain scores)"
        if not lo <= f <= hi:
            return None, (f"{column} is a mean of {lo}-{hi} scores, so it must lie between "
                          f"{lo} and {hi}")
        return f, None

    return parse


def _parser(study: Study, column: str) -> Callable[[Any], tuple[Any, str | None]]:
    """The cell parser of a study's column, by its kind: ids, a factor's own parser (levels
    and their spellings, 0/1 and words, numbers within bounds), scores on the study's scale,
    the overall score."""
    kind = study.kind_of(column)
    if kind == "id":
        return parse_id
    if kind == "score":
        return _score_parser(study.scale_min, study.scale_max)
    if kind == "overall":
        return _mean_parser(column, study.scale_min, study.scale_max)
    return study.factors[column].parse


def _rows_text(rows: Sequence[int], limit: int = 6) -> str:
    rows = list(rows)
    if len(rows) == 1:
        return f"row {rows[0]}"
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f", ... ({len(rows)} rows)" if len(rows) > limit else ""
    return f"rows {shown}{more}"


def _parse_column(
    values: np.ndarray, parse: Callable[[Any], tuple[Any, str | None]]
) -> tuple[list[Any], dict[int, str]]:
    """Parse every cell; return parsed values (None = missing) and {index: rule} of failures.

    Results are cached by (type, value), so a column of a few distinct values is parsed once
    per value; 1, 1.0 and True stay distinct.
    """
    out: list[Any] = [None] * len(values)
    errors: dict[int, str] = {}
    cache_: dict[tuple[type, Any], tuple[Any, str | None]] = {}
    for i, v in enumerate(values):
        try:
            key = (type(v), v)
            value, rule = cache_[key] if key in cache_ else cache_.setdefault(key, parse(v))
        except TypeError:  # an unhashable cell (a list, say): parse it uncached
            value, rule = parse(v)
        if rule is not None:
            errors[i] = rule
        else:
            out[i] = value
    return out, errors


# --------------------------------------------------------------------------------------------
# validate: named stages over one table
# --------------------------------------------------------------------------------------------
#: The column that is the mean of the analysed domains (derived where missing).
_SKILL = "skill"
_MISSING_SHOWN = "NA, N/A, NaN, null, #N/A, <NA>"  # MISSING_TOKENS as a user writes them


@dataclass
class _Table:
    """What the stages of :func:`validate` read and add to, in the order they run."""

    df: pd.DataFrame
    source: str | None
    allow: frozenset[str]
    record: dict[str, Any]
    study: Study
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    headers: list[Any] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)  # study column -> position in df
    extra: list[int] = field(default_factory=list)  # positions of columns outside the study
    shown: dict[str, str] = field(default_factory=dict)  # study column -> the file's header
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # 1 = first row
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # cells as read
    parsed: dict[str, list[Any]] = field(default_factory=dict)  # cells parsed, None = missing
    bad: dict[str, np.ndarray] = field(default_factory=dict)  # cells that broke a rule
    skill: np.ndarray | None = None

    def problem(self, i: int | None, column: str | None, value: Any, rule: str) -> None:
        """Record a problem at row index ``i`` (None: the whole column or table)."""
        row = None if i is None else int(self.rows[i])
        shown = None if column is None else self.shown.get(column, column)
        self.problems.append(Problem(row, shown, value, rule))

    def judgement(self, name: str, message: str) -> None:
        """Record a judgement's warning unless the user allowed it."""
        if name not in self.allow:
            self.warnings.append(
                f"{message} (if this is right, silence it with allow={name!r}; CLI: --allow "
                f"{name})"
            )


def validate(
    df: pd.DataFrame,
    model: Any = None,
    *,
    source: str | None = None,
    allow: str | Iterable[str] = (),
    study: Any = None,
) -> pd.DataFrame:
    """Check observation data against a study and return the canonical, typed copy.

    The input is never modified. Every problem is collected and reported at once.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per coded observation, with the columns of DESIGN.md section 2 (see
        :mod:`pyramid.data.schema`). Headers may differ from the canonical names in case,
        surrounding spaces and separators (``"Child Focus"`` is read as ``child_focus``); the
        renaming is recorded. Columns outside the schema are kept unchanged, after the schema's.
        What each column accepts:

        - ``observation``, ``worker``, ``unit``, ``authority`` (required): non-empty text or
          whole numbers, stored as text (``1``, ``1.0`` and ``"1"`` are the same id; two
          spellings of one number such as ``"007"`` and ``"7"`` in one column are an error,
          because they would silently become two ids; so are fractions such as ``0.5`` and
          dates a spreadsheet made of ids). Surrounding spaces are removed, and text is stored
          in Unicode's composed form (NFC), so that an accented id typed two ways is one id.
          Ids that differ only in case (``W01``, ``w01``) stay two ids, with a warning.
        - ``training`` (required on every row), ``group`` and ``discussion`` (optional): level
          names in any case and with spaces, hyphens or underscores (``"Green shoots"``,
          ``"non-systemic"``), or the row labels printed in the report. A worker with more
          than one training level gives a warning.
        - ``clinician``: 0/1, ``yes``/``no`` or ``true``/``false`` in any case; empty = not
          observed.
        - the seven domains: whole numbers 1-5 (``2.0`` is fine, ``2.5`` is not); empty = not
          scored.
        - ``skill``: a number; where given it must agree with the mean of the available
          analysed domains within ``schema.SKILL_TOLERANCE``; where missing it is derived.

        The texts ``NA``, ``N/A``, ``NaN``, ``null``, ``#N/A`` and empty cells are missing.
        Completely blank rows are dropped with a :class:`DataWarning` and recorded.
    model : str, path or ModelSpec, optional
        A model (name such as ``"skill"``, path to a spec file, or a spec loaded by
        :func:`pyramid.specs.load_spec`). When given, the data are also checked for that
        model, with every check :func:`pyramid.fit` makes of the data: enough groups and
        observed levels (see :func:`check_suitability`), one discussion and clinician value per
        unit for the path model, and the model's own coding of the data. This check runs once
        the data themselves are valid.
    source : str, optional
        Name of the data (a file name) used in messages.
    allow : str or iterable of str, optional
        Judgements (:data:`JUDGEMENTS`) not to warn about: ``"case-ids"`` (ids that differ
        only in case), ``"worker-training"`` (a worker with more than one training level).
        A frame that :func:`validate` returned keeps its allowances when validated again.
    study : str, path or Study, optional
        The study whose columns, levels, scale and rules the data follow
        (:func:`pyramid.study.load_study`); default ``rsw2017`` (the columns above). With
        another study the same rules apply in its terms: its id columns and their nesting,
        its factors (levels and their spellings, 0/1, numbers within bounds; a factor
        declared at worker or unit level must not differ within a worker or unit, within a
        wave where the study has one), its domains on its scale, its overall score. A frame
        that :func:`validate` returned with a study keeps it when validated again.

    Returns
    -------
    pandas.DataFrame
        The canonical frame: every schema column in schema order (optional columns absent from
        the input are added as all missing), then the extra columns; dtypes as
        :data:`CANONICAL_DTYPES`. The input's index is kept (less any blank rows).
        ``result.attrs["validation"]`` records what was done: ``source``, ``rows_in``,
        ``blank_rows`` (row numbers), ``renamed`` ({header: column}), ``extra_columns``,
        ``absent_columns``, ``numeric_ids`` ({column: count}), ``composed_ids`` ({column:
        count of ids stored in composed Unicode form}), ``skill_derived`` (count),
        ``allowed`` (the judgements allowed), ``study`` (the study's name), ``columns``
        (every header: ``used`` under its own name, ``mapped`` to a study column, or
        ``unused``/``ignored`` and kept as it is) and ``notes`` (the same in words).

    Raises
    ------
    ValidationError
        Listing every problem found (row, column, value, rule).
    InputError
        If ``df`` is not a DataFrame, ``model`` cannot be loaded or ``allow`` names an unknown
        judgement.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({
    ...     "Observation": ["o1", "o2", "o3"], "worker": [1, 2, 2], "unit": "u1",
    ...     "authority": "A", "training": ["None", "MLA", "programme"],
    ...     "Discussion": ["green shoots", None, "Systemic"], "clinician": ["yes", "", "no"],
    ...     "empathy": [2, 3.0, "4"], "Child Focus": [3, 4, 5],
    ... })
    >>> df = validate(raw, allow="worker-training")  # worker 2: mla, then the programme
    >>> df[["worker", "training", "discussion", "clinician", "skill"]]
      worker   training    discussion  clinician  skill
    0      1       none  green_shoots          1    2.5
    1      2        mla           NaN       <NA>    3.5
    2      2  programme      systemic          0    4.5
    >>> df.attrs["validation"]["renamed"]
    {'Observation': 'observation', 'Discussion': 'discussion', 'Child Focus': 'child_focus'}
    >>> validate(raw.assign(empathy=[2, 2.5, 6]))
    Traceback (most recent call last):
    ...
    pyramid.errors.ValidationError: 2 problem(s) in the data:
      - row 2, column 'empathy': value 2.5: not a whole number: domain scores must be whole numbers from 1 to 5 (empty = not scored)
      - row 3, column 'empathy': value 6.0: out of range: domain scores must be whole numbers from 1 to 5 (empty = not scored)
    """
    t = _start(df, source, allow, study)
    _match_headers(t)
    errors = _parse_cells(t)
    _drop_blank_rows(t, errors)
    _report_cell_errors(t, errors)
    _check_required_values(t)
    _check_ids(t)
    _check_skill(t)
    _check_nesting(t)
    _check_levels_at(t)
    _check_constant_within(t)
    if t.problems:
        raise ValidationError(_sorted(t.problems, t.headers), source)
    result = _canonical_frame(t)
    for message in t.warnings:
        warnings.warn(message, DataWarning, stacklevel=2)
    if model is not None:
        _check_model(result, model, source, t.study)
    return result


def _study_of(df: pd.DataFrame, study: Any) -> Study:
    """The study given, else the one a validated frame records, else rsw2017."""
    if study is None and isinstance(df, pd.DataFrame) and isinstance(df.attrs, dict):
        study = df.attrs.get("study")
    return load_study(study)


def _start(df: pd.DataFrame, source: str | None, allow: str | Iterable[str],
           study: Any = None) -> _Table:
    """The input is a non-empty frame; the study loads; the judgements allowed are known."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"validate needs a pandas DataFrame (one row per observation), got "
            f"{type(df).__name__}"
        )
    study = _study_of(df, study)
    judgements = study.judgements()
    names = [allow] if isinstance(allow, str) else list(allow)
    unknown = [a for a in names if a not in judgements]
    if unknown:
        raise InputError(
            f"allow: unknown judgement(s) {', '.join(map(repr, unknown))}; allowed: "
            + "; ".join(f"{k} ({v})" for k, v in judgements.items())
        )
    before = df.attrs.get("validation", {}) if isinstance(df.attrs, dict) else {}
    allowed = frozenset(names) | frozenset(before.get("allowed", ()))
    if df.shape[1] == 0 or len(df) == 0:
        what = "no columns" if df.shape[1] == 0 else "no rows"
        raise ValidationError(
            [Problem(None, None, None, f"the data are empty ({what}): nothing to validate")],
            source,
        )
    record: dict[str, Any] = {
        "source": source, "rows_in": len(df), "blank_rows": [], "renamed": {},
        "extra_columns": [], "absent_columns": [], "numeric_ids": {}, "composed_ids": {},
        "skill_derived": 0, "allowed": sorted(allowed), "study": study.name,
        "overall": study.overall.name, "columns": [], "notes": [],
    }
    return _Table(df, source, allowed, record, study, rows=np.arange(1, len(df) + 1))


def _match_headers(t: _Table) -> None:
    """Each header to its study column (or an extra column, kept as it is); required columns
    present; a header close to a column the data lack but not mapped to it is an error
    (:func:`pyramid.study.map_columns`)."""
    t.headers = headers = list(t.df.columns)
    cmap = map_columns(t.study, headers)
    t.problems.extend(cmap.problems)
    t.found = dict(cmap.found)
    t.extra = [p for p, (_, status, _) in enumerate(cmap.status)
               if status in ("unused", "ignored")]
    t.record["renamed"] = cmap.renamed
    t.record["columns"] = [list(x) for x in cmap.status]
    t.record["extra_columns"] = [str(headers[p]) for p in t.extra]
    t.shown = {c: str(headers[p]) for c, p in t.found.items()}
    required = list(t.study.required_columns())
    for c in required:
        if c not in t.found:
            t.problem(None, c, None, (
                f"required column '{t.study.data_column(c)}' is missing{_renaming_hint(t, c)} "
                f"(required: {', '.join(t.study.data_column(r) for r in required)}; found: "
                f"{', '.join(map(str, headers))})"
            ))
    overall = t.study.overall.name
    t.record["absent_columns"] = [
        c for c in t.study.columns
        if c not in required and c not in t.found and c != overall
    ]


def _renaming_hint(t: _Table, column: str) -> str:
    """'; is 'Empathy score' it? Rename it to 'empathy'' for a close extra header."""
    extra = {_key(t.headers[p]): str(t.headers[p]) for p in t.extra}
    wanted = t.study.data_column(column)
    key = _key(wanted)
    close = [h for k, h in extra.items() if key in k] or [
        extra[k] for k in difflib.get_close_matches(key, list(extra), n=1, cutoff=0.75)
    ]
    return f"; is {close[0]!r} it? Then rename it to '{wanted}'" if close else ""


def _parse_cells(t: _Table) -> dict[str, dict[int, str]]:
    """Parse every cell of the schema columns; return {column: {row index: rule broken}}."""
    errors: dict[str, dict[int, str]] = {}
    for c in t.study.columns:  # the study's order: problems come out in a stable order
        if c in t.found:
            t.raw[c] = t.df.iloc[:, t.found[c]].to_numpy(dtype=object)
            t.parsed[c], errors[c] = _parse_column(t.raw[c], _parser(t.study, c))
    return errors


def _drop_blank_rows(t: _Table, errors: dict[str, dict[int, str]]) -> None:
    """Drop rows whose every cell is missing (schema columns parsed as missing, extras empty)."""
    n = len(t.df)
    blank = np.ones(n, dtype=bool)
    for c in t.found:
        blank &= np.fromiter((v is None for v in t.parsed[c]), dtype=bool, count=n)
        blank[list(errors[c])] = False
    for p in t.extra:
        candidates = np.flatnonzero(blank)
        cells = t.df.iloc[candidates, p].to_numpy(dtype=object)
        blank[candidates[[not is_missing(v) for v in cells]]] = False
    if blank.all():
        raise ValidationError(
            [Problem(None, None, None, f"every row ({n}) is completely blank: no data")],
            t.source,
        )
    if blank.any():
        t.record["blank_rows"] = t.rows[blank].tolist()
        t.warnings.append(
            f"{int(blank.sum())} completely blank row(s) dropped "
            f"({_rows_text(t.record['blank_rows'])}) from {t.source or 'the data'}"
        )
        keep = np.flatnonzero(~blank)
        t.raw = {c: v[keep] for c, v in t.raw.items()}
        t.parsed = {c: [v[i] for i in keep] for c, v in t.parsed.items()}
        position = {int(i): j for j, i in enumerate(keep)}
        for c, e in errors.items():
            errors[c] = {position[i]: r for i, r in e.items()}
        t.rows = t.rows[keep]


def _report_cell_errors(t: _Table, errors: dict[str, dict[int, str]]) -> None:
    t.bad = {c: np.zeros(len(t.rows), dtype=bool) for c in t.study.columns}
    for c, errs in errors.items():
        for i, rule in errs.items():
            t.problem(i, c, t.raw[c][i], rule)
            t.bad[c][i] = True


def _check_required_values(t: _Table) -> None:
    """Every row has a value in each required column; a text read as missing is named."""
    for c in t.study.required_columns():
        if c not in t.found:
            continue
        kind = t.study.kind_of(c)
        if kind == "id":
            rule = f"missing {c} id: every row needs one (non-empty text or a whole number)"
        else:
            f = t.study.factors[c]
            allowed = {"binary": "0 or 1", "numeric": "a number"}.get(kind) or ", ".join(f.levels)
            rule = f"missing {c}: required on every row ({allowed}); the models need it"
        for i, v in enumerate(t.parsed[c]):
            if v is not None or t.bad[c][i]:
                continue
            cell = t.raw[c][i]
            if isinstance(cell, str) and cell.strip():
                text = cell.strip()
                t.problem(i, c, cell, (
                    f"{rule}. {text!r} is read as missing (as are empty cells and "
                    f"{_MISSING_SHOWN}); if {text!r} is an id, write it so that it cannot be "
                    f"read as missing, e.g. '{text}1' or the {c}'s name"
                ))
            else:
                t.problem(i, c, None, rule)
            t.bad[c][i] = True


def _check_ids(t: _Table) -> None:
    """Numbers as ids recorded; one number written two ways is an error; Unicode forms
    recorded; ids that differ only in case are a judgement."""
    for c in t.study.roles:
        if c not in t.found:
            continue
        raw = t.raw[c]
        n_numeric = sum(
            isinstance(v, int | np.integer | float | np.floating) and not is_missing(v)
            for v in raw
        )
        if n_numeric:
            t.record["numeric_ids"][c] = int(n_numeric)
        n_composed = sum(
            isinstance(v, str) and not unicodedata.is_normalized("NFC", v.strip()) for v in raw
        )
        if n_composed:
            t.record["composed_ids"][c] = int(n_composed)
        _same_number_ids(t, c)
        _case_variant_ids(t, c)


def _same_number_ids(t: _Table, column: str) -> None:
    """Ids that are different spellings of one number ('007' and '7', '1' and '1.0')."""
    by_number: dict[Decimal, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, v in enumerate(t.parsed[column]):
        if v is not None and _NUMBER.fullmatch(v):
            by_number[Decimal(v)][v].append(i)
    for spellings in by_number.values():
        if len(spellings) < 2:
            continue
        (first, first_at), *others = spellings.items()
        for spelling, at in others:
            t.problem(at[0], column, t.raw[column][at[0]], (
                f"ids {first!r} ({_rows_text(t.rows[first_at])}) and {spelling!r} "
                f"({_rows_text(t.rows[at])}) are the same number written differently; they "
                "would become two different ids. Write them the same way if they are one, or "
                "clearly differently if not"
            ))


def _case_variant_ids(t: _Table, column: str) -> None:
    """Judgement 'case-ids': ids of one column that differ only in upper and lower case."""
    by_fold: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, v in enumerate(t.parsed[column]):
        if v is not None:
            by_fold[v.casefold()][v].append(i)
    variants = [s for s in by_fold.values() if len(s) > 1]
    if not variants:
        return
    listed = "; ".join(
        " and ".join(f"{v!r} ({_rows_text(t.rows[at])})" for v, at in s.items())
        for s in variants[:3]
    )
    more = f"; ... ({len(variants)} sets)" if len(variants) > 3 else ""
    t.judgement("case-ids", (
        f"{column} ids that differ only in upper and lower case are kept as different "
        f"{column}s: {listed}{more}. If they are one {column}, write the ids the same way"
    ))


def _check_skill(t: _Table) -> None:
    """Skill agrees with the mean of the analysed domains where given, is derived where not,
    and every row has something to analyse; an absent domain column is named first."""
    n = len(t.rows)
    analysed = t.study.domain_names
    skill_, tolerance = t.study.overall.name, t.study.overall.tolerance
    domains = [d for d in analysed if d in t.found]
    absent = [d for d in analysed if d not in t.found]
    scores = np.full((n, len(domains)), np.nan)
    for j, d in enumerate(domains):
        scores[:, j] = [np.nan if v is None else v for v in t.parsed[d]]
    n_scored = (~np.isnan(scores)).sum(axis=1)
    mean = np.full(n, np.nan)
    np.divide(np.nansum(scores, axis=1), n_scored, out=mean, where=n_scored > 0)
    given = np.array(
        [np.nan if v is None else v for v in t.parsed.get(skill_, [None] * n)], dtype=float
    )
    has_given = ~np.isnan(given)
    t.skill = np.where(has_given, given, mean)
    t.record["skill_derived"] = int((~has_given & (n_scored > 0)).sum())
    if not domains and skill_ not in t.found:
        t.problem(None, None, None, (
            "nothing to analyse: no analysed domain column ("
            f"{', '.join(_domain_headers(t.study))}) and no {skill_} column"
        ))
        return
    domain_bad = np.zeros(n, dtype=bool)
    for d in domains:
        domain_bad |= t.bad[d]
    with np.errstate(invalid="ignore"):
        disagree = has_given & (n_scored > 0) & ~domain_bad & (
            np.abs(given - mean) > tolerance
        )
    checked = int((has_given & (n_scored > 0) & ~domain_bad).sum())
    if absent and disagree.any():
        _absent_domains(t, absent, domains, np.flatnonzero(disagree), checked)
    if not absent or 2 * disagree.sum() < checked:  # else the absent column explains them
        for i in np.flatnonzero(disagree):
            t.problem(i, skill_, t.raw[skill_][i], (
                f"{skill_} differs from the mean {mean[i]:.4g} of the {n_scored[i]} analysed "
                f"domain score(s) given by more than {tolerance}; correct it or leave it "
                "empty to derive it"
            ))
    nothing = ~has_given & (n_scored == 0) & ~domain_bad & ~t.bad[skill_]
    for i in np.flatnonzero(nothing):
        t.problem(i, None, None, (
            f"nothing to analyse: no analysed domain score "
            f"({', '.join(_domain_headers(t.study))}) and no {skill_}"
        ))


def _domain_headers(study: Study) -> list[str]:
    """The analysed domains as the data name them."""
    return [d.column for d in study.domains]


def _absent_domains(
    t: _Table, absent: list[str], present: list[str], disagree: np.ndarray, checked: int
) -> None:
    names = ", ".join(f"'{t.study.data_column(d)}'" for d in absent)
    s = "s" if len(absent) > 1 else ""
    skill_ = t.study.overall.name
    t.problem(None, absent[0], None, (
        f"analysed domain column{s} {names} {'are' if s else 'is'} missing"
        f"{_renaming_hint(t, absent[0])}: {skill_} is the mean of the analysed domains "
        f"({', '.join(_domain_headers(t.study))}), and the {skill_} given differs from the "
        f"mean of the {len(present)} present on {len(disagree)} of {checked} rows "
        f"({_rows_text(t.rows[disagree])}). Add the column{s} (empty cells = not scored), or "
        f"leave {skill_} empty to derive it from the domains present"
    ))


def _check_nesting(t: _Table) -> None:
    """Observation ids are unique; each inner id lies in one outer id (the study's roles)."""
    roles = t.study.roles
    first = roles[0]
    if first in t.found:
        where: dict[str, list[int]] = defaultdict(list)
        for i, v in enumerate(t.parsed[first]):
            if v is not None:
                where[v].append(i)
        for v, at in where.items():
            if len(at) > 1:
                t.problem(at[1], first, t.raw[first][at[1]], (
                    f"{first} ids must be unique: {v!r} appears in {_rows_text(t.rows[at])}"
                ))
    for inner, outer in zip(roles[1:-1], roles[2:], strict=True):
        if inner in t.found and outer in t.found:
            _nesting(t, inner, outer)


def _check_levels_at(t: _Table) -> None:
    """A factor declared at worker or unit level (``at``) takes one value per worker or unit
    (per wave, where the study has one): a rule, so an error naming the rows."""
    study = t.study
    columns = [r for r in study.roles if r in t.found]
    columns += [f.name for f in study.factors.values()
                if f.name in t.found and (f.at != "row" or f.name == study.wave)]
    if not any(study.factors[c].at != "row" for c in columns if c in study.factors):
        return
    frame = pd.DataFrame({c: t.parsed[c] for c in columns})
    for c in columns:
        if c in study.factors:
            frame.loc[t.bad[c], c] = None
    for p in level_problems(study, frame, rows=t.rows):
        t.problems.append(p)


def _nesting(t: _Table, inner: str, outer: str) -> None:
    seen: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (a, b) in enumerate(zip(t.parsed[inner], t.parsed[outer], strict=True)):
        if a is not None and b is not None:
            seen[a][b].append(i)
    article = "an" if outer[0] in "aeiou" else "a"
    for a, outs in seen.items():
        if len(outs) < 2:
            continue
        listing = ", ".join(f"{b!r} ({_rows_text(t.rows[at])})" for b, at in outs.items())
        second, second_at = list(outs.items())[1]
        t.problem(second_at[0], outer, second, (
            f"{inner} {a!r} is in more than one {outer}: {listing}; each {inner} must be in "
            f"exactly one {outer} (if these are different {inner}s, give them different ids, "
            f"e.g. prefixed with {article} {outer} id)"
        ))


def _check_constant_within(t: _Table) -> None:
    """Judgements '<id>-<column>': a column that should stay the same within an id (a
    worker's training) takes more than one value."""
    for c, col in t.study.factors.items():
        within = col.constant_within
        if within is None or c not in t.found or within not in t.found:
            continue
        values: dict[str, dict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
        for i, (w, v) in enumerate(zip(t.parsed[within], t.parsed[c], strict=True)):
            if w is not None and v is not None:
                values[w][v].append(i)
        changing = {w: vs for w, vs in values.items() if len(vs) > 1}
        if not changing:
            continue
        listed = "; ".join(
            f"{within} {w!r}: " + ", ".join(f"{v} ({_rows_text(t.rows[at])})"
                                            for v, at in vs.items())
            for w, vs in list(changing.items())[:3]
        )
        more = f"; ... ({len(changing)} {within}s)" if len(changing) > 3 else ""
        what = "level" if col.levels else "value"
        t.judgement(f"{within}-{c}", (
            f"{len(changing)} {within}(s) with more than one {c} {what}: {listed}{more}. Each "
            f"observation keeps its own {c}; if a {within}'s {c} did not change between "
            "observations, correct the rows"
        ))


def _sorted(problems: list[Problem], headers: list[Any]) -> list[Problem]:
    order = {str(h): i for i, h in enumerate(headers)}
    return sorted(
        problems,
        key=lambda p: (
            p.row is not None,
            p.row or 0,
            order.get(p.column, len(order)) if p.column is not None else -1,
        ),
    )


def _canonical_frame(t: _Table) -> pd.DataFrame:
    """Schema columns in schema order with their canonical dtypes, then the extra columns."""
    n = len(t.rows)
    out: dict[str, Any] = {}
    dtypes = t.study.canonical_dtypes()
    for c in t.study.columns:
        if c == t.study.overall.name:
            values = pd.array(t.skill, dtype="float64")
        else:
            values = pd.array(t.parsed.get(c, [None] * n), dtype=object)
        out[c] = pd.Series(values).astype(dtypes[c]).array
    result = pd.DataFrame(out, index=t.df.index[t.rows - 1])
    for p in t.extra:
        result[t.headers[p]] = t.df.iloc[t.rows - 1, p].array
    t.record["notes"] = _notes(t.record)
    result.attrs = {"validation": t.record}
    if not t.study.is_default():
        result.attrs["study"] = t.study
    return result


def _notes(record: dict[str, Any]) -> list[str]:
    notes = []
    if record["blank_rows"]:
        notes.append(
            f"{len(record['blank_rows'])} completely blank row(s) dropped: "
            f"{_rows_text(record['blank_rows'], limit=20)}"
        )
    if record["renamed"]:
        pairs = ", ".join(f"{k!r} -> {v}" for k, v in record["renamed"].items())
        notes.append(f"columns renamed: {pairs}")
    if record["extra_columns"]:
        notes.append(
            f"columns outside the {'schema' if record.get('study', 'rsw2017') == 'rsw2017' else 'study'} "
            "kept as they are: " + ", ".join(record["extra_columns"])
        )
    if record["absent_columns"]:
        notes.append(
            "optional columns absent, added as all missing: " + ", ".join(record["absent_columns"])
        )
    for c, k in record["numeric_ids"].items():
        notes.append(f"{k} numeric {c} id(s) stored as text (1.0 -> '1')")
    for c, k in record["composed_ids"].items():
        notes.append(f"{k} {c} id(s) with accents typed as separate marks stored in composed "
                     "form (NFC), so that an id typed two ways is one id")
    if record["skill_derived"]:
        notes.append(
            f"{record.get('overall', _SKILL)} derived from the domain scores on "
            f"{record['skill_derived']} row(s)"
        )
    if record["allowed"]:
        notes.append(f"judgements allowed (not warned about): {', '.join(record['allowed'])}")
    return notes


# --------------------------------------------------------------------------------------------
# the checks for a model: everything pyramid.fit checks of the data
# --------------------------------------------------------------------------------------------
def _load_spec(model: Any, study: Any = None) -> Any:
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        return load_spec(model, study=study)
    if hasattr(model, "the_study") and study is not None:
        return load_spec(model, study=study)
    if all(hasattr(model, a) for a in ("groups", "terms", "outcome")):
        return model
    raise InputError(
        "model must be a model name (e.g. 'skill'), a path to a spec file or a ModelSpec; got "
        f"{type(model).__name__}"
    )


def _check_model(frame: pd.DataFrame, model: Any, source: str | None,
                 study: Study | None = None) -> None:
    """The data suit the model: enough groups and levels, one value per unit where the model
    takes one, and the model's own coding of the data (the same code :func:`pyramid.fit`
    runs) succeeds."""
    spec = _load_spec(model, study)
    problems = check_suitability(frame, **suitability_terms(spec), study=study)
    if not problems:
        problems = _unit_level_problems(frame, spec)
    if not problems:
        problems = _coding_problems(frame, spec)
    if problems:
        raise ValidationError(problems, source)


def _unit_level_problems(frame: pd.DataFrame, spec: Any) -> list[Problem]:
    """A path model at unit level takes one mediator and exposure value (and one value of
    their equations' terms) per unit: every unit whose rows disagree, with the rows."""
    if getattr(spec, "family", None) != "path" or getattr(spec, "path_level", None) != "unit":
        return []
    columns: list[str] = []
    for part in (spec.mediator, spec.exposure):
        if part is not None:
            columns += [part.outcome, *(c for t in part.terms for c in _term_columns(t))]
    rows = np.arange(1, len(frame) + 1)
    unit = frame["unit"].to_numpy(dtype=object)
    problems = []
    for c in dict.fromkeys(columns):
        if c not in frame.columns:
            continue  # derived (csw): one value per unit by its definition
        seen: dict[str, dict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
        for u, v, r in zip(unit, frame[c].to_numpy(dtype=object), rows, strict=True):
            if not is_missing(v):
                seen[u][_plain(v)].append(int(r))
        for u, vs in seen.items():
            if len(vs) > 1:
                (_, _), (second, at) = list(vs.items())[:2]
                listing = ", ".join(f"{v!r} ({_rows_text(r)})" for v, r in vs.items())
                problems.append(Problem(at[0], c, second, (
                    f"{c} differs between the rows of unit {u!r}: {listing}; model "
                    f"{spec.name!r} takes one {c} value per unit (its [path] level is 'unit': "
                    f"the unit's case discussion). Give the unit's rows one value, or use a "
                    f"spec with [path] level = \"row\""
                )))
    return problems


def _coding_problems(frame: pd.DataFrame, spec: Any) -> list[Problem]:
    """What the model's own coding of the data (pyramid.models.coding.prepare, run by fit)
    refuses, so that ``validate(model=...)`` passes exactly the data ``fit`` accepts."""
    if not hasattr(spec, "columns"):
        return []  # not a ModelSpec (an object with groups, terms and outcome only)
    try:
        prepare(spec, frame, warn=False)
    except InputError as exc:
        return [Problem(None, None, None, f"model {spec.name!r}: {exc}")]
    return []


def suitability_terms(spec: Any) -> dict[str, Any]:
    """The arguments of :func:`check_suitability` that a model spec implies.

    Parameters
    ----------
    spec : ModelSpec
        A spec from :func:`pyramid.specs.load_spec`, or any object with ``groups``, ``terms``
        and ``outcome``. For a path model (``mediator`` and ``exposure`` equations), the
        terms of those equations count too, and their outcome columns (``discussion``,
        ``clinician``) may be missing: the model integrates them out instead of leaving the
        row out.

    Returns
    -------
    dict
        ``groups``, ``terms``, ``outcome`` and ``missing_ok``.

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> suitability_terms(load_spec("pyramid"))  # doctest: +NORMALIZE_WHITESPACE
    {'groups': ['authority', 'unit', 'worker'],
     'terms': ['training', 'clinician', 'mo(discussion)', 'csw'],
     'outcome': 'skill', 'missing_ok': ('discussion', 'clinician')}
    """
    terms = list(spec.terms)
    missing_ok: list[str] = []
    for part in (getattr(spec, "mediator", None), getattr(spec, "exposure", None)):
        if part is None:
            continue
        missing_ok.append(part.outcome)
        terms += [t for t in part.terms if t not in terms]
    return {
        "groups": list(spec.groups),
        "terms": terms,
        "outcome": spec.outcome,
        "missing_ok": tuple(missing_ok),
    }


_FUNCTION = re.compile(r"([A-Za-z_]\w*)\s*(\()?")


def _term_columns(term: str) -> list[str]:
    """Columns a model term uses: identifiers that are not function names (``mo(x)`` -> x)."""
    return [m.group(1) for m in _FUNCTION.finditer(term) if m.group(2) is None]


def check_suitability(
    df: pd.DataFrame,
    groups: Iterable[str],
    terms: Iterable[str],
    *,
    outcome: str = "skill",
    missing_ok: Iterable[str] = (),
    study: Any = None,
) -> list[Problem]:
    """Check that a validated frame has enough groups and observed levels for a model.

    Only the rows the model will use count: rows with the outcome observed and every term's
    columns observed (except the columns in ``missing_ok``, whose missing values the model
    integrates out).

    Rules (errors, returned as problems): every grouping column has at least 2 groups; every
    column a term uses has at least 2 observed levels. Warnings (:class:`DataWarning`, not
    errors): a grouping column with fewer than 5 groups (its standard deviation will be driven
    by the prior); the model leaves out rows with a missing term; workers have only one
    observation each while ``worker`` is a grouping level of a model of ``skill`` (the worker
    effect is then not separately identified from the residual).

    Parameters
    ----------
    df : pandas.DataFrame
        A frame returned by :func:`validate`.
    groups : iterable of str
        Grouping columns, e.g. ``["authority", "unit", "worker"]`` (``observation`` counts
        rows).
    terms : iterable of str
        Model terms, e.g. ``["training", "clinician", "mo(discussion)"]``; ``a:b`` interactions
        use both columns. ``csw`` is derived as in docs/architecture.md when the frame has no
        such column.
    outcome : str, default "skill"
        ``"skill"``, ``"domains"`` (rows with at least one analysed domain score) or a column.
    missing_ok : iterable of str, default ()
        Columns whose missing values the model integrates out instead of leaving the row out.
    study : str, path or Study, optional
        The study of the data (its analysed domains, derived indicators); default the one the
        frame was validated with, else ``rsw2017``.

    Returns
    -------
    list of Problem
        Empty when the design is good enough.

    Examples
    --------
    >>> import pandas as pd
    >>> df = validate(pd.DataFrame({
    ...     "observation": ["o1", "o2", "o3", "o4"], "worker": ["w1", "w2", "w3", "w4"],
    ...     "unit": ["u1", "u1", "u2", "u2"], "authority": ["A", "A", "A", "A"],
    ...     "training": ["none", "mla", "none", "programme"], "clinician": [1, 1, 1, 1],
    ...     "empathy": [2, 3, 3, 4],
    ... }))
    >>> for p in check_suitability(df, ["authority"], ["training", "clinician"]):
    ...     print(p)
    column 'authority': value 1: grouping level 'authority' needs at least 2 groups among the 4 rows the model uses; found 1 ('A')
    column 'clinician': value [1]: term 'clinician' needs at least 2 observed levels of 'clinician' among the 4 rows the model uses; found 1: [1]
    """
    groups, missing_ok = list(groups), set(missing_ok)
    study = _study_of(df, study)
    columns_of = {t: _term_columns(t) for t in terms}
    data = _with_derived(df, columns_of, study)
    problems = _absent_design_columns(data, groups, columns_of, outcome, study)
    if problems:
        return problems
    used, left_out = _rows_used(data, columns_of, missing_ok, outcome, study)
    k = int(used.sum())
    if k == 0:
        return [Problem(None, None, None, (
            f"no row has the outcome ({outcome}) and every term observed; missing: "
            + ", ".join(f"{c} in {m} row(s)" for c, m in left_out.items())
        ))]
    if k < len(data):
        why = ", ".join(f"{c} missing in {m}" for c, m in left_out.items()) or (
            f"{outcome} missing"
        )
        warnings.warn(
            f"the model will use {k} of {len(data)} rows and leave out {len(data) - k} ({why})",
            DataWarning,
            stacklevel=2,
        )
    rows = data.loc[used]
    problems, few = _group_problems(rows, groups, k)
    problems += _level_problems(rows, columns_of, k)
    if "worker" in groups and outcome == study.overall.name \
            and rows.groupby("worker").size().max() == 1:
        few.append(
            f"every worker has only one observation among the {k} rows the model uses: the "
            f"worker effect is not separately identified from the residual in a model of "
            f"{outcome}"
        )
    for message in few:
        warnings.warn(message, DataWarning, stacklevel=2)
    return problems


def _with_derived(df: pd.DataFrame, columns_of: dict[str, list[str]],
                  study: Study) -> pd.DataFrame:
    """The frame with the study's derived indicators (``csw``) a term needs and the frame
    lacks, when the frame has the factors they are derived from."""
    needed = {c for cols in columns_of.values() for c in cols}
    out = df
    for name, d in study.derived.items():
        sources = {c.factor for c in d.when_any} | {c.over for c in d.when_any if c.over != "row"}
        if name in needed and name not in df.columns and sources <= set(df.columns):
            out = out.assign(**{name: pd.Series(study.derive(name, df), index=df.index,
                                                dtype="Int8")})
    return out


def _outcome_rows(data: pd.DataFrame, outcome: str, study: Study) -> pd.Series | None:
    """Rows with the outcome observed; None when the data have no such outcome."""
    if outcome == "domains":
        present = [d for d in study.domain_names if d in data.columns]
        return data[present].notna().any(axis=1) if present else None
    return data[outcome].notna() if outcome in data.columns else None


def _absent_design_columns(
    data: pd.DataFrame, groups: list[str], columns_of: dict[str, list[str]], outcome: str,
    study: Study,
) -> list[Problem]:
    columns = ", ".join(map(str, data.columns.drop(list(study.derived), errors="ignore")))
    problems = [
        Problem(None, c, None, (
            f"term {term!r} needs column '{c}', which the data lack (columns: {columns})"
        ))
        for term, cols in columns_of.items() for c in cols if c not in data.columns
    ]
    problems += [
        Problem(None, g, None, f"grouping column '{g}' is missing (columns: {columns})")
        for g in groups if g not in data.columns
    ]
    if _outcome_rows(data, outcome, study) is None:
        problems.append(Problem(None, outcome, None, (
            f"outcome {outcome!r} is not in the data (an outcome is "
            f"'{study.overall.name}', 'domains' or a column)"
        )))
    return problems


def _rows_used(
    data: pd.DataFrame, columns_of: dict[str, list[str]], missing_ok: set[str], outcome: str,
    study: Study,
) -> tuple[np.ndarray, dict[str, int]]:
    """Rows the model uses, and per column the rows it leaves out for that column."""
    has_outcome = _outcome_rows(data, outcome, study).to_numpy(dtype=bool)
    used = has_outcome.copy()
    left_out: dict[str, int] = {}
    for c in dict.fromkeys(c for cols in columns_of.values() for c in cols):
        if c in missing_ok:
            continue
        observed = data[c].notna().to_numpy(dtype=bool)
        if (~observed & has_outcome).any():
            left_out[c] = int((~observed & has_outcome).sum())
        used &= observed
    return used, left_out


def _group_problems(
    rows: pd.DataFrame, groups: list[str], k: int
) -> tuple[list[Problem], list[str]]:
    """Fewer than 2 groups: an error; fewer than 5: a warning (returned as messages)."""
    problems, few = [], []
    for g in groups:
        n_groups = k if g == "observation" else int(rows[g].nunique())
        if n_groups < 2:
            names = ", ".join(repr(str(v)) for v in rows[g].unique()[:5])
            problems.append(Problem(None, g, n_groups, (
                f"grouping level '{g}' needs at least 2 groups among the {k} rows the model "
                f"uses; found {n_groups} ({names})"
            )))
        elif n_groups < 5:
            few.append(
                f"grouping level '{g}' has only {n_groups} groups among the {k} rows the model "
                "uses: its standard deviation will be driven by the prior"
            )
    return problems, few


def _level_problems(
    rows: pd.DataFrame, columns_of: dict[str, list[str]], k: int
) -> list[Problem]:
    problems = []
    for term, cols in columns_of.items():
        for c in cols:
            levels = rows[c].dropna().unique()
            if len(levels) < 2:
                shown = [_plain(v) for v in levels]
                problems.append(Problem(None, c, shown, (
                    f"term {term!r} needs at least 2 observed levels of '{c}' among the {k} "
                    f"rows the model uses; found {len(levels)}: {shown}"
                )))
    return problems


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------
def summarise(df: pd.DataFrame, study: Any = None) -> pd.DataFrame:
    """A one-table summary of observation data (validated first if it is not canonical).

    Parameters
    ----------
    df : pandas.DataFrame
        A frame returned by :func:`validate`, or raw data (then validated here).
    study : str, path or Study, optional
        The study of the data; default the one the frame was validated with, else
        ``rsw2017``. Its id roles, factors, domains and overall score are what is counted.

    Returns
    -------
    pandas.DataFrame
        One row per quantity, with columns:

        ========== ================================================================
        quantity   what is counted: ``rows``, ``authorities``, ``units``, ``workers``
                   (the study's id roles), ``observations per worker``, each factor
                   (``group``, ``training``, ``discussion``, ``clinician`` for
                   rsw2017; a numeric factor's statistics), ``workers by waves seen``
                   (a study with a wave), ``missing score``, ``skill`` (the overall
                   score), and from the validation record ``blank rows dropped``,
                   ``renamed column``, ``extra column``
        level      the level counted (``missing`` for missing values), the statistic
                   (``min``, ``median``, ``max``, ``mean``, ``sd``, ``derived``) or
                   the column; ``""`` when none
        n          a count (``<NA>`` for statistics)
        percent    ``n`` as a percentage of the rows, for level counts
        value      the statistic (``NaN`` for counts)
        ========== ================================================================

    Examples
    --------
    >>> import pandas as pd
    >>> s = summarise(pd.DataFrame({
    ...     "observation": ["o1", "o2"], "worker": ["w1", "w2"], "unit": "u1",
    ...     "authority": "A", "training": ["none", "mla"], "empathy": [2, 4],
    ... }))
    >>> print(s.query("quantity == 'training'")[["level", "n", "percent"]].to_string(index=False))
        level  n  percent
         none  1     50.0
        other  0      0.0
          mla  1     50.0
    programme  0      0.0
      missing  0      0.0
    >>> s.query("quantity == 'skill' and level == 'mean'")["value"].item()
    3.0
    """
    study = _study_of(df, study)
    if not is_canonical(df, study):
        df = validate(df, study=study)
    n = len(df)
    out: list[tuple[str, str, Any, float, float]] = []

    def count(quantity: str, level: str, k: int, pct: bool = False) -> None:
        out.append((quantity, level, int(k), 100.0 * k / n if pct else np.nan, np.nan))

    def stat(quantity: str, level: str, value: float) -> None:
        out.append((quantity, level, pd.NA, np.nan, float(value)))

    record = df.attrs.get("validation", {})
    count("rows", "", n)
    if record.get("blank_rows"):
        count("blank rows dropped", "", len(record["blank_rows"]))
    for role in reversed(study.roles[1:]):
        count("authorities" if role == "authority" else f"{role}s", "", df[role].nunique())
    per_worker = df.groupby("worker", sort=False).size()
    for name, value in (("min", per_worker.min()), ("median", per_worker.median()),
                        ("max", per_worker.max())):
        stat("observations per worker", name, value)
    for c, f in study.factors.items():
        if f.kind in ("categorical", "ordered"):
            counts = df[c].value_counts(dropna=False, sort=False)
            for level in df[c].cat.categories:
                count(c, str(level), counts.get(level, 0), pct=True)
        elif f.kind == "binary":
            for level in (0, 1):
                count(c, str(level), (df[c] == level).sum(), pct=True)
        else:
            x = df[c]
            for name, value in (("min", x.min()), ("median", x.median()), ("max", x.max()),
                                ("mean", x.mean()), ("sd", x.std())):
                stat(c, name, value)
        count(c, "missing", df[c].isna().sum(), pct=True)
    if study.wave is not None:
        waves = df.dropna(subset=[study.wave]).groupby("worker")[study.wave].nunique()
        for k, m in waves.value_counts().sort_index().items():
            count("workers by waves seen", str(k), m)
    for d in study.domain_names:
        count("missing score", d, df[d].isna().sum(), pct=True)
    name_ = study.overall.name
    skill = df[name_]
    stat(name_, "mean", skill.mean())
    stat(name_, "sd", skill.std())
    stat(name_, "min", skill.min())
    stat(name_, "max", skill.max())
    if record:
        count(name_, "derived", record.get("skill_derived", 0), pct=True)
    for h, c in record.get("renamed", {}).items():
        out.append(("renamed column", f"{h} -> {c}", pd.NA, np.nan, np.nan))
    for h in record.get("extra_columns", []):
        out.append(("extra column", h, pd.NA, np.nan, np.nan))
    table = pd.DataFrame(out, columns=["quantity", "level", "n", "percent", "value"])
    table["n"] = table["n"].astype("Int64")
    return table


def is_canonical(df: pd.DataFrame, study: Any = None) -> bool:
    """Whether ``df`` already is a frame :func:`validate` returned (its columns and dtypes;
    the study's, default ``rsw2017``)."""
    if not isinstance(df, pd.DataFrame):
        return False
    dtypes = CANONICAL_DTYPES if study is None else load_study(study).canonical_dtypes()
    for c, dtype in dtypes.items():
        if c not in df.columns:
            return False
        have = df[c].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            if have != dtype:
                return False
        elif dtype == "str":
            if not (isinstance(have, pd.StringDtype)):
                return False
        elif str(have) != str(dtype):
            return False
    return True
