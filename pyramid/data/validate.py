"""Validation of observation data: the one place where the schema of DESIGN.md section 2 is
enforced.

:func:`validate` checks a raw frame (as read from a file by :func:`pyramid.read`, or built in
Python) against :mod:`pyramid.data.schema` and returns the canonical, typed copy described in
docs/architecture.md ("The canonical data frame"), so that no later module re-checks anything.
Every problem is collected first and reported at once in one
:class:`~pyramid.errors.ValidationError`, each naming row, column, value and rule.

Rows are counted as a user sees them: row 1 is the first data row (the line after the header
of a CSV file, the second row of a spreadsheet), whatever the frame's index.

:func:`check_design` checks that a validated frame has enough groups and observed levels for a
model, and :func:`summarise` gives a one-table summary of a validated frame.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from pyramid.data import schema
from pyramid.errors import InputError, Problem, ValidationError

__all__ = [
    "CANONICAL_DTYPES",
    "MISSING_TOKENS",
    "DataWarning",
    "canonical_column_name",
    "check_design",
    "design_terms",
    "summarise",
    "validate",
]


class DataWarning(UserWarning):
    """Something in the data that is allowed but deserves the user's attention.

    Examples: completely blank rows that were dropped, a grouping level with so few groups that
    its standard deviation is driven by the prior, rows a model will leave out.
    """


#: Text read as "missing" in any column (compared case-insensitively after stripping spaces).
#: ``"None"`` is deliberately not among them: ``none`` is a training level.
MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "#n/a", "<na>"})

#: The dtypes of the canonical frame returned by :func:`validate` (docs/architecture.md).
CANONICAL_DTYPES: dict[str, Any] = {
    **{c: "str" for c in schema.ID_COLUMNS},
    "group": pd.CategoricalDtype(list(schema.GROUP_LEVELS)),
    "training": pd.CategoricalDtype(list(schema.TRAINING_LEVELS), ordered=True),
    "discussion": pd.CategoricalDtype(list(schema.DISCUSSION_LEVELS), ordered=True),
    "clinician": "Int8",
    **{c: "Int8" for c in schema.ALL_DOMAINS},
    "skill": "float64",
}

# Spellings accepted for each level, compared after lower-casing and removing everything that is
# not a letter or a digit (so "Green shoots", "green-shoots" and "GREEN_SHOOTS" all match). The
# longer entries are the row labels printed in the report (Tables 14, 15 and 23).
_LEVEL_SPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "group": {
        "rsw": ("rsw", "reclaiming social work", "rsw unit", "participant within a rsw unit"),
        "usual": ("usual", "service as usual", "usual service", "usual practice",
                  "participant service as usual"),
        "kft": ("kft", "keeping families together"),
    },
    "training": {
        "none": ("none", "no training", "no systemic training"),
        "other": ("other", "other systemic training", "systemic training by another provider"),
        "mla": ("mla", "mla systemic training", "previous mla systemic training"),
        "programme": ("programme", "program", "csw programme", "mla development programme",
                      "worker on mla development programme",
                      "participant on the csw programme"),
    },
    "discussion": {
        "non_systemic": ("non_systemic", "not systemic"),
        "green_shoots": ("green_shoots",),
        "systemic": ("systemic",),
    },
}


def _key(text: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(text).strip().lower())


_LEVELS: dict[str, dict[str, str]] = {
    col: {_key(s): level for level, spellings in table.items() for s in spellings}
    for col, table in _LEVEL_SPELLINGS.items()
}
_COLUMN_KEYS: dict[str, str] = {_key(c): c for c in schema.COLUMNS}
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
    """
    return _COLUMN_KEYS.get(_key(name))


# --------------------------------------------------------------------------------------------
# cell parsers: each returns (value, None) or (None, rule); (None, None) means missing
# --------------------------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
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


def _parse_id(v: Any) -> tuple[str | None, str | None]:
    if type(v) is str:
        v = v.strip()
        return (None, None) if v.lower() in MISSING_TOKENS else (v, None)
    if _is_missing(v):
        return None, None
    if isinstance(v, bool | np.bool_):
        return None, f"{_ID_RULE}; got a true/false value"
    if isinstance(v, int | np.integer):
        return str(int(v)), None
    if isinstance(v, float | np.floating):
        f = float(v)
        if not math.isfinite(f):
            return None, f"{_ID_RULE}; got {f}"
        return (str(int(f)) if f.is_integer() else repr(f)), None
    if isinstance(v, str):
        return v.strip(), None
    return None, f"{_ID_RULE}; got a value of type {type(v).__name__}"


_SCORE_RULE = (
    f"domain scores must be whole numbers from {schema.SCORE_MIN} to {schema.SCORE_MAX} "
    "(empty = not scored)"
)


def _parse_score(v: Any) -> tuple[int | None, str | None]:
    if _is_missing(v):
        return None, None
    f = _as_number(v)
    if f is None:
        return None, f"not a number: {_SCORE_RULE}"
    if not f.is_integer():
        return None, f"not a whole number: {_SCORE_RULE}"
    if not schema.SCORE_MIN <= f <= schema.SCORE_MAX:
        return None, f"out of range: {_SCORE_RULE}"
    return int(f), None


_CLINICIAN_RULE = (
    "clinician must be 0 or 1 (also accepted: no/yes, false/true in any case; empty = not "
    "observed)"
)
_CLINICIAN_WORDS = {"no": 0, "yes": 1, "false": 0, "true": 1}


def _parse_clinician(v: Any) -> tuple[int | None, str | None]:
    if _is_missing(v):
        return None, None
    if isinstance(v, bool | np.bool_):
        return int(v), None
    if isinstance(v, str) and v.strip().lower() in _CLINICIAN_WORDS:
        return _CLINICIAN_WORDS[v.strip().lower()], None
    f = _as_number(v)
    if f in (0.0, 1.0):
        return int(f), None
    return None, _CLINICIAN_RULE


def _parse_skill(v: Any) -> tuple[float | None, str | None]:
    if _is_missing(v):
        return None, None
    f = _as_number(v)
    if f is None:
        return None, "skill must be a number (empty = derive it from the domain scores)"
    if not schema.SCORE_MIN <= f <= schema.SCORE_MAX:
        return None, (
            f"skill is a mean of {schema.SCORE_MIN}-{schema.SCORE_MAX} scores, so it must lie "
            f"between {schema.SCORE_MIN} and {schema.SCORE_MAX}"
        )
    return f, None


def _level_parser(column: str) -> Callable[[Any], tuple[str | None, str | None]]:
    levels = _LEVELS[column]
    allowed = ", ".join(schema.COLUMNS[column].levels)
    rule = f"unknown {column} level: allowed are {allowed}"
    if not schema.COLUMNS[column].required:
        rule += " (empty = not observed)"

    def parse(v: Any) -> tuple[str | None, str | None]:
        if _is_missing(v):
            return None, None
        if isinstance(v, str) and _key(v) in levels:
            return levels[_key(v)], None
        if _as_number(v) is not None:
            return None, f"{rule}; numeric codes are not accepted, use the level names"
        return None, rule

    return parse


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
    cache: dict[tuple[type, Any], tuple[Any, str | None]] = {}
    for i, v in enumerate(values):
        try:
            key = (type(v), v)
            value, rule = cache[key] if key in cache else cache.setdefault(key, parse(v))
        except TypeError:  # an unhashable cell (a list, say): parse it uncached
            value, rule = parse(v)
        if rule is not None:
            errors[i] = rule
        else:
            out[i] = value
    return out, errors


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------
def validate(
    df: pd.DataFrame,
    model: Any = None,
    *,
    source: str | None = None,
) -> pd.DataFrame:
    """Check observation data against the schema and return the canonical, typed copy.

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
          because they would silently become two ids). Surrounding spaces are removed.
        - ``training`` (required on every row), ``group`` and ``discussion`` (optional): level
          names in any case and with spaces, hyphens or underscores (``"Green shoots"``,
          ``"non-systemic"``), or the row labels printed in the report.
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
        :func:`pyramid.specs.load_spec`). When given, the data are also checked for enough
        groups and observed levels for that model (see :func:`check_design`). This check runs
        once the data themselves are valid.
    source : str, optional
        Name of the data (a file name) used in messages.

    Returns
    -------
    pandas.DataFrame
        The canonical frame: every schema column in schema order (optional columns absent from
        the input are added as all missing), then the extra columns; dtypes as
        :data:`CANONICAL_DTYPES`. The input's index is kept (less any blank rows).
        ``result.attrs["validation"]`` records what was done: ``source``, ``rows_in``,
        ``blank_rows`` (row numbers), ``renamed`` ({header: column}), ``extra_columns``,
        ``absent_columns``, ``numeric_ids`` ({column: count}), ``skill_derived`` (count) and
        ``notes`` (the same in words).

    Raises
    ------
    ValidationError
        Listing every problem found (row, column, value, rule).
    InputError
        If ``df`` is not a DataFrame, or ``model`` cannot be loaded.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({
    ...     "Observation": ["o1", "o2", "o3"], "worker": [1, 2, 2], "unit": "u1",
    ...     "authority": "A", "training": ["None", "MLA", "programme"],
    ...     "Discussion": ["green shoots", None, "Systemic"], "clinician": ["yes", "", "no"],
    ...     "empathy": [2, 3.0, "4"], "Child Focus": [3, 4, 5],
    ... })
    >>> df = validate(raw)
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
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"validate needs a pandas DataFrame (one row per observation), got "
            f"{type(df).__name__}"
        )
    problems: list[Problem] = []
    record: dict[str, Any] = {
        "source": source,
        "rows_in": len(df),
        "blank_rows": [],
        "renamed": {},
        "extra_columns": [],
        "absent_columns": [],
        "numeric_ids": {},
        "skill_derived": 0,
        "notes": [],
    }

    if df.shape[1] == 0 or len(df) == 0:
        what = "no columns" if df.shape[1] == 0 else "no rows"
        raise ValidationError(
            [Problem(None, None, None, f"the data are empty ({what}): nothing to validate")],
            source,
        )

    # ---- headers ---------------------------------------------------------------------------
    headers = list(df.columns)
    found: dict[str, int] = {}  # canonical column -> position in df
    extra: list[int] = []
    names: set[str] = set()
    for pos, h in enumerate(headers):
        canon = canonical_column_name(h)
        duplicate = str(h) in names
        names.add(str(h))
        if duplicate:
            problems.append(Problem(None, str(h), None, (
                f"column name {str(h)!r} appears more than once; column names must be unique"
            )))
        elif canon is None:
            extra.append(pos)
        elif canon in found:
            first = headers[found[canon]]
            problems.append(Problem(None, str(h), None, (
                f"columns {str(first)!r} and {str(h)!r} both stand for '{canon}'; keep one"
            )))
        else:
            found[canon] = pos
            if h != canon:
                record["renamed"][str(h)] = canon
    record["extra_columns"] = [str(headers[p]) for p in extra]
    shown = {c: str(headers[p]) for c, p in found.items()}  # how the user's file names it

    missing_required = [c for c, col in schema.COLUMNS.items() if col.required and c not in found]
    for c in missing_required:
        problems.append(Problem(None, c, None, (
            f"required column '{c}' is missing (required: "
            f"{', '.join(c for c, col in schema.COLUMNS.items() if col.required)}; "
            f"found: {', '.join(map(str, headers))})"
        )))
    record["absent_columns"] = [
        c for c, col in schema.COLUMNS.items()
        if not col.required and c not in found and c != "skill"
    ]

    # ---- cells: parse every cell of the schema columns ------------------------------------
    parsers: dict[str, Callable[[Any], tuple[Any, str | None]]] = {
        **{c: _parse_id for c in schema.ID_COLUMNS},
        **{c: _level_parser(c) for c in ("group", "training", "discussion")},
        "clinician": _parse_clinician,
        **{c: _parse_score for c in schema.ALL_DOMAINS},
        "skill": _parse_skill,
    }
    raw = {c: df.iloc[:, p].to_numpy(dtype=object) for c, p in found.items()}
    parsed: dict[str, list[Any]] = {}
    errors: dict[str, dict[int, str]] = {}
    for c in schema.COLUMNS:  # schema order, so that problems come out in a stable order
        if c in found:
            parsed[c], errors[c] = _parse_column(raw[c], parsers[c])

    # ---- blank rows: every cell missing (schema columns parsed as missing, extras empty) ----
    rows = np.arange(1, len(df) + 1)
    blank = np.ones(len(df), dtype=bool)
    for c in found:
        blank &= np.fromiter((v is None for v in parsed[c]), dtype=bool, count=len(df))
        blank[list(errors[c])] = False
    for p in extra:
        candidates = np.flatnonzero(blank)
        cells = df.iloc[candidates, p].to_numpy(dtype=object)
        blank[candidates[[not _is_missing(v) for v in cells]]] = False
    if blank.all():
        raise ValidationError(
            [Problem(None, None, None, f"every row ({len(df)}) is completely blank: no data")],
            source,
        )
    if blank.any():
        record["blank_rows"] = rows[blank].tolist()
        keep = np.flatnonzero(~blank)
        raw = {c: v[keep] for c, v in raw.items()}
        parsed = {c: [v[i] for i in keep] for c, v in parsed.items()}
        position = {int(i): j for j, i in enumerate(keep)}
        errors = {c: {position[i]: r for i, r in e.items()} for c, e in errors.items()}
        rows = rows[keep]
    n = len(rows)
    bad = {c: np.zeros(n, dtype=bool) for c in schema.COLUMNS}  # cells that failed a rule
    for c, errs in errors.items():
        for i, rule in errs.items():
            problems.append(Problem(int(rows[i]), shown[c], raw[c][i], rule))
            bad[c][i] = True

    # ---- required values, ids ----------------------------------------------------------------
    for c in [*schema.ID_COLUMNS, "training"]:
        if c not in found:
            continue
        rule = (
            f"missing {c} id: every row needs one (non-empty text or a whole number)"
            if c != "training"
            else "missing training: required on every row (none, other, mla, programme); "
            "the models need it"
        )
        for i, v in enumerate(parsed[c]):
            if v is None and not bad[c][i]:
                problems.append(Problem(int(rows[i]), shown[c], None, rule))
                bad[c][i] = True
    for c in schema.ID_COLUMNS:
        if c not in found:
            continue
        if pd.api.types.is_numeric_dtype(df.iloc[:, found[c]].dtype):
            n_numeric = int(df.iloc[:, found[c]].notna().sum())
        else:
            n_numeric = sum(
                isinstance(v, int | np.integer | float | np.floating) and not _is_missing(v)
                for v in raw[c]
            )
        if n_numeric:
            record["numeric_ids"][c] = int(n_numeric)
        problems.extend(_same_number_ids(parsed[c], raw[c], rows, shown[c]))

    # ---- skill: agree where given, derive where missing, something to analyse ---------------
    domains = [d for d in schema.DOMAINS if d in found]
    scores = np.full((n, len(domains)), np.nan)
    for j, d in enumerate(domains):
        scores[:, j] = [np.nan if v is None else v for v in parsed[d]]
    n_scored = (~np.isnan(scores)).sum(axis=1)
    mean = np.full(n, np.nan)
    np.divide(np.nansum(scores, axis=1), n_scored, out=mean, where=n_scored > 0)
    given = np.array(
        [np.nan if v is None else v for v in parsed.get("skill", [None] * n)], dtype=float
    )
    domain_bad = np.zeros(n, dtype=bool)
    for d in domains:
        domain_bad |= bad[d]
    has_given = ~np.isnan(given)
    derive = ~has_given & (n_scored > 0)
    skill = np.where(has_given, given, mean)
    record["skill_derived"] = int(derive.sum())
    if not domains and "skill" not in found:
        problems.append(Problem(None, None, None, (
            "nothing to analyse: no analysed domain column ("
            f"{', '.join(schema.DOMAINS)}) and no skill column"
        )))
    else:
        with np.errstate(invalid="ignore"):
            disagree = has_given & (n_scored > 0) & ~domain_bad & (
                np.abs(given - mean) > schema.SKILL_TOLERANCE
            )
        for i in np.flatnonzero(disagree):
            problems.append(Problem(int(rows[i]), shown["skill"], raw["skill"][i], (
                f"skill differs from the mean {mean[i]:.4g} of the {n_scored[i]} analysed "
                f"domain score(s) given by more than {schema.SKILL_TOLERANCE}; correct it or "
                "leave it empty to derive it"
            )))
        nothing = ~has_given & (n_scored == 0) & ~domain_bad & ~bad["skill"]
        for i in np.flatnonzero(nothing):
            problems.append(Problem(int(rows[i]), None, None, (
                "nothing to analyse: no analysed domain score ("
                f"{', '.join(schema.DOMAINS)}) and no skill"
            )))

    # ---- uniqueness and nesting --------------------------------------------------------------
    if "observation" in found:
        problems.extend(
            _duplicates(parsed["observation"], raw["observation"], rows, shown["observation"])
        )
    for inner, outer in (("worker", "unit"), ("unit", "authority")):
        if inner in found and outer in found:
            problems.extend(_nesting(parsed[inner], parsed[outer], rows, inner, outer, shown))

    if problems:
        raise ValidationError(_sorted(problems, headers), source)

    # ---- build the canonical frame -----------------------------------------------------------
    out: dict[str, Any] = {}
    for c in schema.COLUMNS:
        dtype = CANONICAL_DTYPES[c]
        if c == "skill":
            out[c] = pd.array(skill, dtype="float64")
        elif c in parsed:
            out[c] = pd.array(parsed[c], dtype=object)
        else:
            out[c] = pd.array([None] * n, dtype=object)
        out[c] = pd.Series(out[c]).astype(dtype).array
    index = df.index[rows - 1]
    result = pd.DataFrame(out, index=index)
    for p in extra:
        result[headers[p]] = df.iloc[rows - 1, p].array
    record["notes"] = _notes(record)
    result.attrs = {"validation": record}
    if record["blank_rows"]:
        warnings.warn(
            f"{len(record['blank_rows'])} completely blank row(s) dropped "
            f"({_rows_text(record['blank_rows'])}) from {source or 'the data'}",
            DataWarning,
            stacklevel=2,
        )

    if model is not None:
        spec = _load_spec(model)
        design = design_terms(spec)
        problems = check_design(result, **design)
        if problems:
            raise ValidationError(problems, source)
    return result


def _same_number_ids(
    ids: list[str | None], raw: np.ndarray, rows: np.ndarray, column: str
) -> list[Problem]:
    """Ids that are different spellings of one number ('007' and '7', '1' and '1.0')."""
    by_number: dict[Decimal, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, v in enumerate(ids):
        if v is not None and _NUMBER.fullmatch(v):
            by_number[Decimal(v)][v].append(i)
    problems = []
    for spellings in by_number.values():
        if len(spellings) < 2:
            continue
        (first, first_at), *others = spellings.items()
        first_rows = rows[first_at].tolist()
        for spelling, at in others:
            where = rows[at].tolist()
            problems.append(Problem(where[0], column, raw[at[0]], (
                f"ids {first!r} ({_rows_text(first_rows)}) and {spelling!r} "
                f"({_rows_text(where)}) are the same number written differently; they would "
                "become two different ids. Write them the same way if they are one, or "
                "clearly differently if not"
            )))
    return problems


def _duplicates(
    ids: list[str | None], raw: np.ndarray, rows: np.ndarray, column: str
) -> list[Problem]:
    where: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(ids):
        if v is not None:
            where[v].append(i)
    return [
        Problem(int(rows[at[1]]), column, raw[at[1]], (
            f"observation ids must be unique: {v!r} appears in {_rows_text(rows[at].tolist())}"
        ))
        for v, at in where.items()
        if len(at) > 1
    ]


def _nesting(
    inner: list[str | None],
    outer: list[str | None],
    rows: np.ndarray,
    inner_name: str,
    outer_name: str,
    shown: dict[str, str],
) -> list[Problem]:
    seen: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (a, b) in enumerate(zip(inner, outer, strict=True)):
        if a is not None and b is not None:
            seen[a][b].append(int(rows[i]))
    problems = []
    article = "an" if outer_name[0] in "aeiou" else "a"
    for a, outs in seen.items():
        if len(outs) < 2:
            continue
        listing = ", ".join(f"{b!r} ({_rows_text(r)})" for b, r in outs.items())
        second, second_rows = list(outs.items())[1]
        problems.append(Problem(second_rows[0], shown[outer_name], second, (
            f"{inner_name} {a!r} is in more than one {outer_name}: {listing}; each "
            f"{inner_name} must be in exactly one {outer_name} (if these are different "
            f"{inner_name}s, give them different ids, e.g. prefixed with {article} "
            f"{outer_name} id)"
        )))
    return problems


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
            "columns outside the schema kept as they are: " + ", ".join(record["extra_columns"])
        )
    if record["absent_columns"]:
        notes.append(
            "optional columns absent, added as all missing: " + ", ".join(record["absent_columns"])
        )
    for c, k in record["numeric_ids"].items():
        notes.append(f"{k} numeric {c} id(s) stored as text (1.0 -> '1')")
    if record["skill_derived"]:
        notes.append(
            f"skill derived from the domain scores on {record['skill_derived']} row(s)"
        )
    return notes


# --------------------------------------------------------------------------------------------
# enough groups for a model
# --------------------------------------------------------------------------------------------
def _load_spec(model: Any) -> Any:
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        from pyramid.specs import load_spec  # lazy: specs is not needed to validate data

        return load_spec(model)
    if all(hasattr(model, a) for a in ("groups", "terms", "outcome")):
        return model
    raise InputError(
        "model must be a model name (e.g. 'skill'), a path to a spec file or a ModelSpec; got "
        f"{type(model).__name__}"
    )


def design_terms(spec: Any) -> dict[str, Any]:
    """The arguments of :func:`check_design` that a model spec implies.

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
    >>> design_terms(load_spec("pyramid"))  # doctest: +NORMALIZE_WHITESPACE
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


def _csw(df: pd.DataFrame) -> pd.Series:
    """The derived csw indicator of docs/architecture.md (unit led by a CSW on the programme):
    :func:`pyramid.models.design.derive_csw`, the one definition the models use."""
    from pyramid.models.design import derive_csw

    return pd.Series(derive_csw(df), index=df.index, dtype="Int8")


def check_design(
    df: pd.DataFrame,
    groups: Iterable[str],
    terms: Iterable[str],
    *,
    outcome: str = "skill",
    missing_ok: Iterable[str] = (),
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
    >>> for p in check_design(df, ["authority"], ["training", "clinician"]):
    ...     print(p)
    column 'authority': value 1: grouping level 'authority' needs at least 2 groups among the 4 rows the model uses; found 1 ('A')
    column 'clinician': value [1]: term 'clinician' needs at least 2 observed levels of 'clinician' among the 4 rows the model uses; found 1: [1]
    """
    groups, terms, missing_ok = list(groups), list(terms), set(missing_ok)
    problems: list[Problem] = []
    data = df
    columns_of = {t: _term_columns(t) for t in terms}
    needed = [c for cols in columns_of.values() for c in cols]
    if "csw" in needed and "csw" not in df.columns and {"group", "training", "unit"} <= set(
        df.columns
    ):
        data = df.assign(csw=_csw(df))
    for term, cols in columns_of.items():
        for c in cols:
            if c not in data.columns:
                problems.append(Problem(None, c, None, (
                    f"term {term!r} needs column '{c}', which the data lack "
                    f"(columns: {', '.join(map(str, df.columns))})"
                )))
    for g in groups:
        if g not in data.columns:
            problems.append(Problem(None, g, None, (
                f"grouping column '{g}' is missing (columns: {', '.join(map(str, df.columns))})"
            )))
    if outcome == "domains":
        present = [d for d in schema.DOMAINS if d in data.columns]
        has_outcome = data[present].notna().any(axis=1) if present else None
    elif outcome in data.columns:
        has_outcome = data[outcome].notna()
    else:
        has_outcome = None
    if has_outcome is None:
        problems.append(Problem(None, outcome, None, (
            f"outcome {outcome!r} is not in the data (an outcome is 'skill', 'domains' or a "
            "column)"
        )))
    if problems:
        return problems

    used = has_outcome.to_numpy(dtype=bool).copy()
    left_out: dict[str, int] = {}
    for c in dict.fromkeys(needed):
        if c in missing_ok:
            continue
        observed = data[c].notna().to_numpy(dtype=bool)
        if (~observed & has_outcome.to_numpy(dtype=bool)).any():
            left_out[c] = int((~observed & has_outcome.to_numpy(dtype=bool)).sum())
        used &= observed
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
    for g in groups:
        n_groups = k if g == "observation" else int(rows[g].nunique())
        if n_groups < 2:
            names = ", ".join(repr(str(v)) for v in rows[g].unique()[:5])
            problems.append(Problem(None, g, n_groups, (
                f"grouping level '{g}' needs at least 2 groups among the {k} rows the model "
                f"uses; found {n_groups} ({names})"
            )))
        elif n_groups < 5:
            warnings.warn(
                f"grouping level '{g}' has only {n_groups} groups among the {k} rows the model "
                "uses: its standard deviation will be driven by the prior",
                DataWarning,
                stacklevel=2,
            )
    for term, cols in columns_of.items():
        for c in cols:
            levels = rows[c].dropna().unique()
            if len(levels) < 2:
                shown = [_plain(v) for v in levels]
                problems.append(Problem(None, c, shown, (
                    f"term {term!r} needs at least 2 observed levels of '{c}' among the {k} "
                    f"rows the model uses; found {len(levels)}: {shown}"
                )))
    if "worker" in groups and outcome == "skill" and rows.groupby("worker").size().max() == 1:
        warnings.warn(
            f"every worker has only one observation among the {k} rows the model uses: the "
            "worker effect is not separately identified from the residual in a model of skill",
            DataWarning,
            stacklevel=2,
        )
    return problems


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------
def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """A one-table summary of observation data (validated first if it is not canonical).

    Parameters
    ----------
    df : pandas.DataFrame
        A frame returned by :func:`validate`, or raw data (then validated here).

    Returns
    -------
    pandas.DataFrame
        One row per quantity, with columns:

        ========== ================================================================
        quantity   what is counted: ``rows``, ``authorities``, ``units``, ``workers``,
                   ``observations per worker``, ``group``, ``training``,
                   ``discussion``, ``clinician``, ``missing score``, ``skill``, and
                   from the validation record ``blank rows dropped``,
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
    if not _is_canonical(df):
        df = validate(df)
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
    count("authorities", "", df["authority"].nunique())
    count("units", "", df["unit"].nunique())
    count("workers", "", df["worker"].nunique())
    per_worker = df.groupby("worker", sort=False).size()
    for name, value in (("min", per_worker.min()), ("median", per_worker.median()),
                        ("max", per_worker.max())):
        stat("observations per worker", name, value)
    for c in ("group", "training", "discussion"):
        counts = df[c].value_counts(dropna=False, sort=False)
        for level in df[c].cat.categories:
            count(c, str(level), counts.get(level, 0), pct=True)
        count(c, "missing", df[c].isna().sum(), pct=True)
    for level in (0, 1):
        count("clinician", str(level), (df["clinician"] == level).sum(), pct=True)
    count("clinician", "missing", df["clinician"].isna().sum(), pct=True)
    for d in schema.DOMAINS:
        count("missing score", d, df[d].isna().sum(), pct=True)
    skill = df["skill"]
    stat("skill", "mean", skill.mean())
    stat("skill", "sd", skill.std())
    stat("skill", "min", skill.min())
    stat("skill", "max", skill.max())
    if record:
        count("skill", "derived", record.get("skill_derived", 0), pct=True)
    for h, c in record.get("renamed", {}).items():
        out.append(("renamed column", f"{h} -> {c}", pd.NA, np.nan, np.nan))
    for h in record.get("extra_columns", []):
        out.append(("extra column", h, pd.NA, np.nan, np.nan))
    table = pd.DataFrame(out, columns=["quantity", "level", "n", "percent", "value"])
    table["n"] = table["n"].astype("Int64")
    return table


def _is_canonical(df: pd.DataFrame) -> bool:
    if not isinstance(df, pd.DataFrame):
        return False
    for c, dtype in CANONICAL_DTYPES.items():
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
