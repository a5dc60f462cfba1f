"""The observation schema: one row per coded observation of practice (DESIGN.md section 2).

This module only *describes* the columns; :mod:`pyramid.data.validate` enforces them. Every
other module takes its column names and level orders from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyramid.errors import InputError

__all__ = [
    "ID_COLUMNS",
    "GROUP_LEVELS",
    "TRAINING_LEVELS",
    "DISCUSSION_LEVELS",
    "DOMAINS",
    "EXTRA_DOMAINS",
    "ALL_DOMAINS",
    "SCORE_MIN",
    "SCORE_MAX",
    "COLUMNS",
    "Column",
    "SKILL_TOLERANCE",
    "derive_csw",
    "csw_column",
]

#: Identifier columns, outermost last: an observation is of a worker, in a unit, in an authority.
ID_COLUMNS: tuple[str, ...] = ("observation", "worker", "unit", "authority")

#: Sample group of the comparative study (Table 1, Table 23) or the KFT strand (Table 2).
GROUP_LEVELS: tuple[str, ...] = ("rsw", "usual", "kft")

#: Systemic training of the observed worker, in increasing order (Table 14).
#: ``none``: no systemic training; ``other``: systemic training by another provider;
#: ``mla``: previous MLA systemic training; ``programme``: on the MLA CSW development programme.
TRAINING_LEVELS: tuple[str, ...] = ("none", "other", "mla", "programme")

#: Quality of the unit's group case discussion, in increasing order (Table 15).
DISCUSSION_LEVELS: tuple[str, ...] = ("non_systemic", "green_shoots", "systemic")

#: The five analysed skill domains (Table 24; Part 2 "How did the quality of practice compare").
DOMAINS: tuple[str, ...] = ("collaboration", "empathy", "purposefulness", "clarity", "child_focus")

#: Coded but not analysed in the report (Part 2 explains why).
EXTRA_DOMAINS: tuple[str, ...] = ("evocation", "autonomy")

ALL_DOMAINS: tuple[str, ...] = DOMAINS + EXTRA_DOMAINS

#: Domain scores are whole numbers on this closed range.
SCORE_MIN, SCORE_MAX = 1, 5

#: A given ``skill`` may differ from the mean of the domain scores by this much (rounding to 2 dp).
SKILL_TOLERANCE = 0.0051


@dataclass(frozen=True)
class Column:
    """Description of one column of the schema.

    :mod:`pyramid.data.validate` reads everything it checks from these fields: how a cell is
    parsed (``kind``), whether every row needs a value (``required``), the allowed levels and
    their accepted spellings, and the judgement rules (``constant_within``).
    """

    name: str
    kind: str  # "id", "category", "ordered", "binary", "score", "float"
    required: bool
    levels: tuple[str, ...] = ()
    description: str = ""
    #: Accepted spellings of each level (compared after lower-casing and removing everything
    #: that is not a letter or a digit); the level's own name is always accepted.
    spellings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: An id column within whose rows the value is expected to stay the same. A judgement, not
    #: a rule: a change gives a warning naming the rows (``allow="<id>-<name>"`` silences it).
    constant_within: str | None = None


# Spellings accepted for each level. The longer entries are the row labels printed in the
# report (Tables 14, 15 and 23), so a file typed from the report validates as it is.
_GROUP_SPELLINGS = {
    "rsw": ("reclaiming social work", "rsw unit", "participant within a rsw unit"),
    "usual": ("service as usual", "usual service", "usual practice",
              "participant service as usual"),
    "kft": ("keeping families together",),
}
_TRAINING_SPELLINGS = {
    "none": ("no training", "no systemic training"),
    "other": ("other systemic training", "systemic training by another provider"),
    "mla": ("mla systemic training", "previous mla systemic training"),
    "programme": ("program", "csw programme", "mla development programme",
                  "worker on mla development programme", "participant on the csw programme"),
}
_DISCUSSION_SPELLINGS = {"non_systemic": ("not systemic",)}


COLUMNS: dict[str, Column] = {
    c.name: c
    for c in [
        Column("observation", "id", True, description="unique id of the coded observation"),
        Column("worker", "id", True, description="worker observed; each worker in one unit"),
        Column("unit", "id", True, description="unit or team; each unit in one authority"),
        Column("authority", "id", True, description="local authority"),
        Column("group", "category", False, GROUP_LEVELS, "sample group: rsw, usual or kft",
               spellings=_GROUP_SPELLINGS),
        Column("training", "ordered", True, TRAINING_LEVELS, "systemic training (Table 14)",
               spellings=_TRAINING_SPELLINGS, constant_within="worker"),
        Column(
            "discussion",
            "ordered",
            False,
            DISCUSSION_LEVELS,
            "quality of the unit's case discussion (Table 15); missing = not observed",
            spellings=_DISCUSSION_SPELLINGS,
        ),
        Column("clinician", "binary", False, (), "clinician at the last case discussion (0/1)"),
        *[Column(d, "score", False, (), f"{d} score, whole number 1-5") for d in DOMAINS],
        *[
            Column(d, "score", False, (), f"{d} score, coded but not analysed")
            for d in EXTRA_DOMAINS
        ],
        Column("skill", "float", False, (), "mean of the available analysed domain scores"),
    ]
}


# --------------------------------------------------------------------------------------------
# derived columns
# --------------------------------------------------------------------------------------------
def derive_csw(frame: pd.DataFrame) -> np.ndarray:
    """The derived ``csw`` indicator (docs/architecture.md): 1 when the row's unit is led by a
    consultant social worker on the MLA development programme, i.e. the row's group is ``rsw``
    or ``kft``, or any worker of the unit has training ``programme``. An explicit ``csw``
    column (0/1) wins.

    Examples
    --------
    >>> df = pd.DataFrame({"unit": ["u1", "u1", "u2"], "group": ["usual"] * 3,
    ...                    "training": ["none", "programme", "mla"]})
    >>> derive_csw(df).tolist()
    [1, 1, 0]
    """
    n = len(frame)
    if "csw" in frame.columns:
        vals = pd.to_numeric(frame["csw"], errors="coerce")
        bad = vals.notna() & ~vals.isin([0, 1])
        if bad.any() or vals.isna().any():
            raise InputError(
                f"column 'csw' must be 0 or 1 on every row, got {sorted(set(frame['csw'][bad | vals.isna()].astype(str)))}"
            )
        return vals.to_numpy(dtype=int)
    by_group = np.zeros(n, dtype=bool)
    if "group" in frame.columns:
        by_group = frame["group"].astype(object).isin(["rsw", "kft"]).to_numpy()
    programme = np.zeros(n, dtype=bool)
    if "training" in frame.columns:
        prog = frame["training"].astype(object).eq("programme").fillna(False).astype(bool)
        if "unit" in frame.columns:
            prog = prog.groupby(frame["unit"].to_numpy()).transform("any").astype(bool)
        programme = prog.to_numpy()
    return (by_group | programme).astype(int)


def csw_column(frame: pd.DataFrame) -> pd.Series:
    """:func:`derive_csw` as a column of ``frame`` (nullable ``Int8``, ``frame``'s index).

    Examples
    --------
    >>> df = pd.DataFrame({"unit": ["u1", "u2"], "group": ["rsw", "usual"],
    ...                    "training": ["none", "none"]}, index=[3, 7])
    >>> csw_column(df).tolist()
    [1, 0]
    """
    return pd.Series(derive_csw(frame), index=frame.index, dtype="Int8")
