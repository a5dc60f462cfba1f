"""The report's published tables, typed in once, as tidy data with provenance.

Source: Bostock, L., Forrester, D., Patrizo, L., Godfrey, T., Zonouzi, M., Antonopoulou, V.,
Bird, H. and Tinarwo, M. (2017) *Scaling and deepening the Reclaiming Social Work model:
evaluation report*. Department for Education, DFE-RR588 (July 2017).

Every number pyramid quotes from the report comes from this module. Each table is a tidy
:class:`pandas.DataFrame` with one row per printed cell:

========== ==================================================================================
column     meaning
========== ==================================================================================
table      table id as printed (``"14"``) or a name for numbers quoted in the text
           (``"crosstab"``, ``"correlations"``, ``"kft_domains"``, ``"benchmarks"``)
title      the table's printed title
row        the row label as printed
group      the upper column header as printed (``""`` where the table has one header row)
column     the column header as printed
printed    the cell exactly as printed (``".59"``, ``"<0.001"``, ``"12 (71%)"``, ``"Ns"``)
value      the cell as a number (``NaN`` where nothing numeric was printed)
row_key    machine key of the row (snake case)
group_key  machine key of the group (``rsw``, ``usual``, ...; ``""`` when none)
stat       what the number is: ``mean``, ``sd``, ``n``, ``count``, ``percent``, ``t``,
           ``df``, ``p``, ``r``, ``cost``, ``rate``
note       how the printed text was read where that needed a decision
========== ==================================================================================

Use :func:`table` for one table, :func:`tables` for all, :func:`cell` for one number, and
:func:`check_totals` to verify every printed total against its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from pyramid.data.schema import DISCUSSION_LEVELS, TRAINING_LEVELS
from pyramid.errors import InputError

__all__ = [
    "SOURCE",
    "BENCHMARKS",
    "table",
    "tables",
    "table_ids",
    "titles",
    "cell",
    "check_totals",
    "crosstab_counts",
    "report_regression",
    "ReferenceSummaries",
    "rsw2017_summaries",
    "EFFECTS",
    "QUANTITIES",
    "QUANTITY_LABELS",
    "TABLE15_WEIGHT",
]

SOURCE = (
    "Bostock L, Forrester D, et al. (2017) Scaling and deepening the Reclaiming Social Work "
    "model: evaluation report. Department for Education, DFE-RR588."
)

#: Benchmarks for mean overall skill quoted in Part 2: workers "commonly score around 2 to 2.5;
#: 3.24 is the highest score thus far seen for any local authority or group of practitioners".
BENCHMARKS = {"typical_low": 2.0, "typical_high": 2.5, "highest_seen": 3.24}

_COLUMNS = [
    "table",
    "title",
    "row",
    "group",
    "column",
    "printed",
    "value",
    "row_key",
    "group_key",
    "stat",
    "note",
]


@dataclass
class _Spec:
    """A table as printed: a header of (group, column, group_key, stat) and rows of cells."""

    id: str
    title: str
    header: list[tuple[str, str, str, str]]
    rows: list[tuple[str, str, list[str]]]  # (row label as printed, row_key, cells)
    notes: dict[tuple[str, int], str] = field(default_factory=dict)  # (row_key, col idx) -> note
    # (total row_key or None for a column total, ...) checked by check_totals
    totals: list[tuple] = field(default_factory=list)


_NUM = re.compile(r"^[<>]?\s*-?\d*\.?\d+$")


def _parse(printed: str, stat: str) -> tuple[float, str]:
    """Read one printed cell; return (value, note)."""
    s = printed.strip()
    if s in ("", "-"):
        return np.nan, "blank in the report"
    if s.lower() == "ns":
        return np.nan, "printed 'Ns' (not significant); no p-value printed"
    m = re.match(r"^(\d+)\s*\((\d+(?:\.\d+)?)%\)$", s)
    if m:  # "12 (71%)": count and percent in one cell
        return (float(m.group(1)) if stat == "count" else float(m.group(2))), ""
    if s.endswith("%"):
        return float(s[:-1]), ""
    t = s.replace(",", "").replace(" ", "")
    if _NUM.match(t):
        note = ""
        if t.startswith("<"):
            note = "printed as an upper bound; value is the bound"
        elif t.startswith(">"):
            note = "printed as a lower bound; value is the bound"
        if " " in s and "," not in s:
            note = (note + "; " if note else "") + f"printed with a stray space as '{s}'"
        return float(t.lstrip("<>")), note
    raise ValueError(f"cannot read printed cell {printed!r}")


def _frame(spec: _Spec) -> pd.DataFrame:
    recs = []
    for row, row_key, cells in spec.rows:
        if len(cells) != len(spec.header):
            raise ValueError(f"table {spec.id} row {row!r}: {len(cells)} cells for {len(spec.header)} columns")
        for j, ((group, column, group_key, stat), printed) in enumerate(zip(spec.header, cells, strict=True)):
            if printed is None:
                continue
            value, note = _parse(printed, stat)
            extra = spec.notes.get((row_key, j))
            if extra:
                note = f"{note}; {extra}" if note else extra
            recs.append(
                dict(
                    table=spec.id,
                    title=spec.title,
                    row=row,
                    group=group,
                    column=column,
                    printed=printed,
                    value=value,
                    row_key=row_key,
                    group_key=group_key,
                    stat=stat,
                    note=note,
                )
            )
    df = pd.DataFrame.from_records(recs, columns=_COLUMNS)
    df["value"] = df["value"].astype("float64")
    return df


def _la_header(group: str, group_key: str, with_sub: bool, stat: str = "count"):
    cols = [(group, f"LA {i}", f"{group_key}:la{i}", stat) for i in range(1, 6)]
    if with_sub:
        cols.append((group, "SUB-TOTAL", f"{group_key}:subtotal", stat))
    return cols


# ---------------------------------------------------------------------------------------------
# The tables. Cells are copied exactly as printed in DFE-RR588.
# ---------------------------------------------------------------------------------------------
_SPECS: list[_Spec] = []

_SPECS.append(
    _Spec(
        id="1",
        title="Comparative data sources",
        header=_la_header("RSW", "rsw", True)
        + _la_header("Service as usual", "usual", True)
        + [("", "TOTAL", "total", "count")],
        rows=[
            ("Observations", "observations", "6 10 1 5 5 27 12 8 1 11 8 40 67".split()),
            ("Parent Interview", "parent_interview", "11 9 1 4 7 32 19 6 1 4 8 38 70".split()),
            ("Child Interview", "child_interview", "0 1 0 0 0 1 0 2 0 1 0 3 4".split()),
            ("Follow-up Interview", "followup_interview", "7 8 1 2 6 24 3 3 1 1 4 12 36".split()),
            (
                "Social Worker Questionnaire",
                "sw_questionnaire",
                ["8", "10", "0", "4", "7", "29", "18", "1 0", "0", "7", "9", "44", "73"],
            ),
            (
                "Follow-up Social Worker questionnaire",
                "followup_sw_questionnaire",
                "1 4 0 0 0 5 3 0 0 0 2 5 10".split(),
            ),
            ("Observation of Supervision", "supervision_observations", "2 2 7 3 4 18 1 0 3 0 7 11 29".split()),
        ],
        totals=[
            ("row_sum", "rsw:subtotal", [f"rsw:la{i}" for i in range(1, 6)]),
            ("row_sum", "usual:subtotal", [f"usual:la{i}" for i in range(1, 6)]),
            ("row_sum", "total", ["rsw:subtotal", "usual:subtotal"]),
        ],
    )
)

_SPECS.append(
    _Spec(
        id="2",
        title="KFT case study data collection",
        header=[("", f"LA{i}", f"la{i}", "count") for i in range(1, 6)] + [("", "TOTAL", "total", "count")],
        rows=[
            ("Interview with Referring Social Worker", "referring_sw_interview", "0 1 1 1 1 4".split()),
            ("Initial KFT Interview (pre-intervention)", "initial_kft_interview", "0 2 2 1 1 6".split()),
            ("Observation of Case Discussion", "case_discussion_observations", "0 2 2 1 1 6".split()),
            ("Observation of Practice", "practice_observations", "0 2 1 1 1 5".split()),
            ("T1 Interview with Family", "t1_family_interview", "1 2 2 0 1 6".split()),
            ("Post-Intervention KFT Interview", "post_kft_interview", "0 1 2 1 0 4".split()),
            ("T2 Interview with Family", "t2_family_interview", "0 1 2 0 1 4".split()),
            ("Resource Panel Observation", "resource_panel_observation", "0 0 0 0 1 1".split()),
            ("Resource Panel Interview", "resource_panel_interview", "0 1 1 0 1 3".split()),
        ],
        totals=[("row_sum", "total", [f"la{i}" for i in range(1, 6)])],
    )
)

_SPECS.append(
    _Spec(
        id="5",
        title="Family participants by local authority and sample group",
        header=[
            ("", "Hull", "hull", "count"),
            ("", "Derby-shire", "derbyshire", "count"),
            ("", "Bucks", "buckinghamshire", "count"),
            ("", "Harrow", "harrow", "count"),
            ("", "Southwark", "southwark", "count"),
            ("", "Total", "total", "count"),
        ],
        rows=[
            ("RSW unit family", "rsw", "11 10 1 5 7 34".split()),
            ("Service as usual family", "usual", "24 8 1 11 8 52".split()),
        ],
        totals=[
            ("row_sum", "total", ["hull", "derbyshire", "buckinghamshire", "harrow", "southwark"]),
            ("text", "total", 86, "Part 2: 'data was collected from 86 families'"),
        ],
    )
)

_SPECS.append(
    _Spec(
        id="6",
        title="Data on family welfare and issues from parent interviews (T1)",
        header=[
            ("RSW Unit Family", "Mean", "rsw", "mean"),
            ("RSW Unit Family", "SD", "rsw", "sd"),
            ("RSW Unit Family", "N", "rsw", "count"),
            ("RSW Unit Family", "(%)", "rsw", "percent"),
            ("Service as usual family", "Mean", "usual", "mean"),
            ("Service as usual family", "SD", "usual", "sd"),
            ("Service as usual family", "N", "usual", "count"),
            ("Service as usual family", "(%)", "usual", "percent"),
        ],
        rows=[
            ("Life scaling (1-10) at referral", "life_scaling_referral", ["3.12", "2.44", None, None, "2.82", "2.81", None, None]),
            ("Life scaling (1-10) now", "life_scaling_now", ["7.00", "2.02", None, None, "7.06", "2.44", None, None]),
            ("Score-15", "score15", ["31.96", "12.74", None, None, "31.98", "12.53", None, None]),
            ("GHQ clinically elevated score", "ghq_elevated", [None, None, "14 (44%)", "14 (44%)", None, None, "11 (31%)", "11 (31%)"]),
            ("alcohol or drugs", "concern_alcohol_drugs", [None, None, "4", None, None, None, "0", None]),
            ("child's emotional or behavioural welfare", "concern_child_welfare", [None, None, "9 (47%)", "9 (47%)", None, None, "7 (35%)", "7 (35%)"]),
            ("school attendance", "concern_school", [None, None, "5 (29%)", "5 (29%)", None, None, "3 (19%)", "3 (19%)"]),
            ("parental isolation", "concern_isolation", [None, None, "3 (16%)", "3 (16%)", None, None, "4 (20%)", "4 (20%)"]),
            ("parents' mental health", "concern_mental_health", [None, None, "8 (50%)", "8 (50%)", None, None, "4 (22%)", "4 (22%)"]),
            ("Average number of concerns identified", "concerns_per_family", ["0.72", "0.67", None, None, "0.37", "0.50", None, None]),
        ],
    )
)

_SPECS.append(
    _Spec(
        id="7",
        title="Average social worker rating of concern",
        header=[
            ("RSW Unit Family", "Mean", "rsw", "mean"),
            ("RSW Unit Family", "SD", "rsw", "sd"),
            ("Service as usual Family", "Mean", "usual", "mean"),
            ("Service as usual Family", "SD", "usual", "sd"),
            ("", "T value", "", "t"),
            ("", "P value", "", "p"),
        ],
        rows=[
            ("Perceived risk of abuse, physical", "physical", ["2.00", "1.07", "2.07", "1.31", None, None]),
            ("Perceived risk of abuse, emotional from domestic abuse", "emotional_domestic", ["2.21", "1.24", "2.29", "1.29", None, None]),
            ("Perceived risk of abuse, emotional not domestic abuse", "emotional_other", ["2.69", ".97", "2.49", "1.03", None, None]),
            ("Perceived risk of abuse, sexual", "sexual", ["1.25", ".65", "1.52", "1.02", None, None]),
            ("Perceived risk of neglect", "neglect", ["1.71", ".90", "2.33", "1.32", "0.234", "0.022"]),
            ("Rating of overall concern", "overall", ["2.82", ".72", "3.25", ".71", "0.244", "0.017"]),
        ],
        notes={
            ("neglect", 4): "a t of 0.234 cannot give p = 0.022 at any df; see pyramid.reanalyse",
            ("overall", 4): "a t of 0.244 cannot give p = 0.017 at any df; see pyramid.reanalyse",
        },
    )
)

_SPECS.append(
    _Spec(
        id="8",
        title="Level of agreement between worker and carer identified issues",
        header=[
            ("", "Worker identified issue (suspected or definite)", "worker", "count"),
            ("", "Carer identified issue", "carer", "count"),
            ("", "Level of agreement", "agreement", "percent"),
        ],
        rows=[
            ("Drugs and/or alcohol", "drugs_alcohol", ["32", "19", "59%"]),
            ("Mental health", "mental_health", ["27", "17", "63%"]),
            ("Social isolation", "social_isolation", ["27", "14", "52%"]),
        ],
        notes={
            ("drugs_alcohol", 1): "the text reads this column as the number agreeing ('19 out of 32')",
        },
    )
)

_T9_SWAP = (
    "REPORT INCONSISTENCY: Table 9 does not add up to Table 8 for mental health and social "
    "isolation (Table 9 gives 27 and 14 for mental health, Table 8 gives 27 and 14 for social "
    "isolation: the rows look swapped in one of the two tables)"
)
_T9_ONE = "REPORT INCONSISTENCY: Table 9 gives 12 + 8 = 20 agreeing families, Table 8 gives 19"

_SPECS.append(
    _Spec(
        id="9",
        title="Level of agreement between worker and carer identified issues between RSW and comparison group",
        header=[
            ("RSW Family", "N", "rsw", "n"),
            ("RSW Family", "Agreement", "rsw", "count"),
            ("RSW Family", "Agreement (%)", "rsw", "percent"),
            ("Comparison Family", "N", "usual", "n"),
            ("Comparison Family", "Agreement", "usual", "count"),
            ("Comparison Family", "Agreement (%)", "usual", "percent"),
            ("T-Test Results", "T-value", "", "t"),
            ("", "P value", "", "p"),
        ],
        rows=[
            ("Drugs and/or alcohol", "drugs_alcohol", ["17", "12 (71%)", "12 (71%)", "15", "8 (53%)", "8 (53%)", "-1.8", "0.08"]),
            ("Mental health", "mental_health", ["14", "9 (64%)", "9 (64%)", "13", "5 (38%)", "5 (38%)", "-2.17", "0.04"]),
            ("Social isolation", "social_isolation", ["17", "8 (47%)", "8 (47%)", "15", "9 (60%)", "9 (60%)", "0.585", "0.561"]),
        ],
        totals=[
            ("cross", "8", "drugs_alcohol", ["rsw", "usual"], "n", "worker", "count", None),
            ("cross", "8", "mental_health", ["rsw", "usual"], "n", "worker", "count", None),
            ("cross", "8", "social_isolation", ["rsw", "usual"], "n", "worker", "count", _T9_SWAP),
            ("cross", "8", "drugs_alcohol", ["rsw", "usual"], "count", "carer", "count", _T9_ONE),
            ("cross", "8", "mental_health", ["rsw", "usual"], "count", "carer", "count", _T9_SWAP),
            ("cross", "8", "social_isolation", ["rsw", "usual"], "count", "carer", "count", _T9_SWAP),
        ],
    )
)

_SPECS.append(
    _Spec(
        id="10",
        title="Social work skills in RSW units and comparison group",
        header=[
            ("RSW unit", "Mean", "rsw", "mean"),
            ("RSW unit", "SD", "rsw", "sd"),
            ("Service as usual", "Mean", "usual", "mean"),
            ("Service as usual", "SD", "usual", "sd"),
            ("T-test result", "t-value", "", "t"),
            ("T-test result", "", "", "df"),
            ("T-test result", "p-value", "", "p"),
        ],
        rows=[
            ("Collaboration", "collaboration", ["3.29", "1.20", "2.51", ".93", "2.936", "63", ".005"]),
            ("Empathy", "empathy", ["3.08", "1.13", "2.24", ".86", "3.419", "65", ".001"]),
            ("Purposefulness", "purposefulness", ["3.19", ".75", "2.59", ".77", "3.167", "65", ".002"]),
            ("Clarity of Concerns", "clarity", ["3.23", ".71", "2.54", ".81", "3.583", "65", ".001"]),
            ("Child Focus", "child_focus", ["3.20", ".76", "2.63", ".73", "2.994", "64", ".004"]),
            ("Overall SW Skill", "skill", ["3.24", ".77", "2.50", ".59", "4.307", "62", "<0.001"]),
        ],
        notes={
            (k, 5): "the degrees-of-freedom column has no printed header; Ns are not printed "
            "(Table 1 gives 27 RSW and 40 usual observations, df = N - 2 = 65)"
            for k in ("collaboration", "empathy", "purposefulness", "clarity", "child_focus", "skill")
        },
    )
)

_SPECS.append(
    _Spec(
        id="11",
        title="Parent ratings of quality of service",
        header=[
            ("RSW unit family", "Mean", "rsw", "mean"),
            ("RSW unit family", "Standard Deviation", "rsw", "sd"),
            ("Comparison unit Family", "Mean", "usual", "mean"),
            ("Comparison unit Family", "Standard Deviation", "usual", "sd"),
            ("", "Sig. (2-tailed)", "", "p"),
        ],
        rows=[
            ("worker is on time", "on_time", ["4.26", "1.11", "4.34", "1.04", ".756"]),
            ("reasons clearly explained", "reasons_explained", ["4.45", ".86", "4.50", ".62", ".774"]),
            ("included in meetings", "included", ["4.27", "1.10", "4.36", ".95", ".752"]),
            ("I feel understood", "understood", ["4.66", ".48", "4.60", ".76", ".736"]),
            ("professional and respectful manner", "respectful", ["4.13", "1.23", "4.53", ".76", ".116"]),
            ("overall pleased", "pleased", ["3.97", "1.38", "4.00", "1.26", ".935"]),
            ("Times seen social worker in last 4 weeks", "times_seen", ["2.68", "1.19", "2.81", "1.18", ".758"]),
            ("Rating of how happy with the amount of contact with social worker", "contact_amount", ["3.08", ".84", "3.03", ".47", ".758"]),
            (
                "Rating of how well worker handled observed meeting, 1 (very badly) through 4 (OK) to 7 (very well)",
                "observed_meeting",
                ["5.97", "1.22", "6.66", ".48", ".004"],
            ),
        ],
    )
)

_SPECS.append(
    _Spec(
        id="12",
        title="KFT cases by local authority and where at least 1 week was spent in care",
        header=[
            ("", "Number of children at risk of care entry", "at_risk", "count"),
            ("", "Cases where at least 1 week spent in care", "in_care", "count"),
        ],
        rows=[
            ("Local Authority 1", "la1", ["27", "11"]),
            ("Local Authority 2", "la2", ["25", "4"]),
            ("Local Authority 3", "la3", ["30", "0"]),
            ("Local Authority 4", "la4", ["21", "5"]),
            ("Local Authority 5", "la5", ["16", "5"]),
            ("Total", "total", ["119", "25"]),
        ],
        totals=[("col_sum", "total", ["la1", "la2", "la3", "la4", "la5"])],
    )
)

_SPECS.append(
    _Spec(
        id="14",
        title="Training and quality of social work practice",
        header=[
            ("Overall Social Worker Skill", "Mean", "", "mean"),
            ("Overall Social Worker Skill", "SD", "", "sd"),
            ("Overall Social Worker Skill", "N", "", "n"),
            ("T-test Results", "T", "", "t"),
            ("T-test Results", "P", "", "p"),
        ],
        rows=[
            ("No Systemic Training", "none", ["2.44", ".59", "35", "-3.28", "0.002"]),
            ("Other systemic training", "other", ["2.65", ".70", "15", ".608", "Ns"]),
            ("MLA systemic training", "mla", ["2.91", ".67", "12", "-.682", "Ns"]),
            ("Worker on MLA development programme", "programme", ["3.50", ".58", "10", "-3.17", "0.002"]),
        ],
        notes={
            ("none", 3): "each t compares the level with all other observations (text of Part 4)",
        },
        totals=[("text_sum", "n", 72, "Part 4 lists 35 + 15 + 12 + 10 workers")],
    )
)

_T15_N_NOTE = (
    "Ns are not in the table; Part 4 gives 4 (18%), 9 (41%) and 9 (41%) discussions, and a "
    "clinician at 10 of them, not at 12"
)
_SPECS.append(
    _Spec(
        id="15",
        title="Relationship between quality of practice, case discussions and clinicians",
        header=[
            ("SW direct work skill", "Mean", "", "mean"),
            ("SW direct work skill", "SD", "", "sd"),
            ("", "N (from the text of Part 4)", "", "n"),
        ],
        rows=[
            ("Coding for quality of supervision: Non-systemic", "non_systemic", ["2.35", ".30", "4"]),
            ("Coding for quality of supervision: Green shoots", "green_shoots", ["2.98", ".95", "9"]),
            ("Coding for quality of supervision: Systemic", "systemic", ["3.43", ".77", "9"]),
            ("Was clinician present at last case discussion?: No", "clinician_no", ["2.52", ".75", "12"]),
            ("Was clinician present at last case discussion?: Yes", "clinician_yes", ["3.64", ".61", "10"]),
        ],
        notes={
            (k, 2): _T15_N_NOTE
            for k in ("non_systemic", "green_shoots", "systemic", "clinician_no", "clinician_yes")
        },
        totals=[
            ("text_sum", "n", 44, "22 workers counted once by discussion quality and once by clinician"),
        ],
    )
)

_SPECS.append(
    _Spec(
        id="17",
        title="CSW recruitment and retention by local authority",
        header=[
            ("", "Number of CSWs recruited", "recruited", "count"),
            ("", "Number of CSWs retained", "retained", "count"),
        ],
        rows=[
            ("Hull City Council", "hull", ["10", "10"]),
            ("Derbyshire County Council", "derbyshire", ["6", "5"]),
            ("Buckinghamshire County Council", "buckinghamshire", ["11", "10"]),
            ("London Borough of Harrow", "harrow", ["4", "3"]),
            ("London Borough of Southwark", "southwark", ["10", "10"]),
        ],
        totals=[("text_col_sum", "recruited", 41, "Part 1: 'A total of 41 of 50 CSWs were recruited'")],
    )
)

_SPECS.append(
    _Spec(
        id="23",
        title="Direct observations by participant type",
        header=[("", "Number", "", "count")],
        rows=[
            ("Participant on the CSW programme", "programme", ["10"]),
            ("Participant within a RSW unit", "rsw_unit", ["17"]),
            ("Participant 'service as usual'", "usual", ["40"]),
        ],
        totals=[
            ("text_col_sum", "", 67, "Table 1 prints 67 observations (27 RSW + 40 usual)"),
        ],
    )
)

# Numbers printed in the text rather than in a table --------------------------------------------
_SPECS.append(
    _Spec(
        id="crosstab",
        title="Clinician presence by quality of case discussion (Part 4, text)",
        header=[
            ("", "Discussions", "", "n"),
            ("", "With a clinician present", "", "count"),
        ],
        rows=[
            ("Non-systemic", "non_systemic", ["4", "0"]),
            ("Green shoots", "green_shoots", ["9", "3"]),
            ("Systemic", "systemic", ["9", "7"]),
        ],
        totals=[
            ("text_sum", "n", 22, "Part 4: 'For 22 of the workers ...'"),
            ("text_sum", "count", 10, "Part 4: 'for 10 of the discussions there was a clinician present'"),
        ],
    )
)

_SPECS.append(
    _Spec(
        id="correlations",
        title="Relationships with quality of practice reported in the text of Part 4",
        header=[
            ("", "r", "", "r"),
            ("", "t", "", "t"),
            ("", "p", "", "p"),
            ("", "n (workers)", "", "n"),
        ],
        rows=[
            ("Quality of systemic case discussion and quality of practice", "discussion", ["0.456", None, "0.04", "22"]),
            ("Presence of a clinician and quality of practice", "clinician", [None, "-3.69", "0.002", "22"]),
        ],
        notes={
            ("discussion", 3): "n is not printed beside r; the 22 workers with an observed discussion",
            ("clinician", 3): "n is not printed beside t; the 22 workers with an observed discussion",
            ("clinician", 1): "printed as an independent-samples t; its point-biserial r is "
            "t / sqrt(t^2 + n - 2)",
        },
    )
)

_SPECS.append(
    _Spec(
        id="kft_domains",
        title="KFT observations of practice: domain means quoted in Part 2 (text)",
        header=[("", "Mean", "", "mean"), ("", "N", "", "n")],
        rows=[
            ("purposefulness", "purposefulness", ["3.4", "5"]),
            ("clarity of concerns", "clarity", ["3.8", "5"]),
            ("child focus", "child_focus", ["3.8", "5"]),
        ],
        notes={("purposefulness", 1): "n from Table 2 (5 observations of KFT practice)"},
    )
)

_SPECS.append(
    _Spec(
        id="benchmarks",
        title="Mean overall skill seen in other studies (Part 2, text)",
        header=[("", "Overall skill", "", "mean")],
        rows=[
            ("commonly score around (low)", "typical_low", ["2"]),
            ("commonly score around (high)", "typical_high", ["2.5"]),
            ("highest score thus far seen", "highest_seen", ["3.24"]),
        ],
    )
)

_BY_ID = {s.id: s for s in _SPECS}


def table_ids() -> list[str]:
    """Ids of every published table pyramid holds.

    Returns
    -------
    list of str
        Table numbers as strings (``"1"``, ``"14"``) then the names of numbers quoted in the text.

    Examples
    --------
    >>> "14" in table_ids()
    True
    """
    return [s.id for s in _SPECS]


def titles() -> dict[str, str]:
    """Map each table id to its printed title.

    Examples
    --------
    >>> titles()["14"]
    'Training and quality of social work practice'
    """
    return {s.id: s.title for s in _SPECS}


@cache
def _table_cached(key: str) -> pd.DataFrame:
    return _frame(_BY_ID[key])


def table(n: int | str) -> pd.DataFrame:
    """One published table as a tidy frame (one row per printed cell).

    Parameters
    ----------
    n : int or str
        Table number (``14`` or ``"14"``) or the name of a set of numbers quoted in the text:
        ``"crosstab"``, ``"correlations"``, ``"kft_domains"``, ``"benchmarks"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``table, title, row, group, column, printed, value, row_key, group_key, stat,
        note`` as described in the module docstring.

    Raises
    ------
    InputError
        If the report has no such table in pyramid.

    Examples
    --------
    >>> t14 = table(14)
    >>> t14.query("row_key == 'programme' and stat == 'mean'")["value"].item()
    3.5
    """
    key = str(n).strip().lower().removeprefix("table").strip()
    if key not in _BY_ID:
        raise InputError(f"no published table '{n}'; available: {', '.join(table_ids())}")
    return _table_cached(key).copy()


def tables() -> pd.DataFrame:
    """Every published table stacked in one tidy frame.

    Examples
    --------
    >>> sorted(set(tables()["table"]))[:3]
    ['1', '10', '11']
    """
    return pd.concat([table(k) for k in table_ids()], ignore_index=True)


def cell(n: int | str, row_key: str, stat: str, group_key: str = "") -> float:
    """One number from a published table.

    Parameters
    ----------
    n : int or str
        Table id as for :func:`table`.
    row_key, stat : str
        Machine keys of the row and of the statistic.
    group_key : str, default ""
        Machine key of the column group (``"rsw"``, ``"usual"``), where the table has groups.

    Returns
    -------
    float

    Examples
    --------
    >>> cell(10, "skill", "mean", "rsw")
    3.24
    """
    t = table(n)
    hit = t[(t.row_key == row_key) & (t.stat == stat) & (t.group_key == group_key)]
    if len(hit) != 1:
        raise InputError(
            f"table {n}: expected one cell for row {row_key!r}, stat {stat!r}, group "
            f"{group_key!r}; found {len(hit)}"
        )
    return float(hit["value"].iloc[0])


# --------------------------------------------------------------------------------------------
# Part 4: clinician and discussion together
# --------------------------------------------------------------------------------------------
def crosstab_counts() -> tuple[np.ndarray, np.ndarray]:
    """Discussions per level and, of those, with a clinician (Part 4 text), in level order.

    Examples
    --------
    >>> n, with_clinician = crosstab_counts()
    >>> n.tolist(), with_clinician.tolist()
    ([4.0, 9.0, 9.0], [0.0, 3.0, 7.0])
    """
    ct = table("crosstab")
    n = ct[ct.stat == "n"].set_index("row_key")["value"].reindex(DISCUSSION_LEVELS).to_numpy()
    nc = ct[ct.stat == "count"].set_index("row_key")["value"].reindex(DISCUSSION_LEVELS)
    return n, nc.to_numpy()


def _t15_cell(row: str, stat: str = "mean") -> float:
    return cell(15, row, stat)


@cache
def report_regression() -> tuple[float, float]:
    """Clinician and discussion effects adjusted for each other, from the report's numbers.

    The report gives the mean skill of the 22 workers with an observed case discussion by
    discussion level and by clinician presence (Table 15) and the crosstab of the two (Part 4),
    but tests each factor on its own. Those are the sufficient statistics of the least-squares
    regression ``skill ~ 1 + clinician + level`` (level 0, 1, 2: the monotonic effect with zeta =
    (1/2, 1/2)): ``X'X`` from the crosstab, ``X'y`` from the group means. The two breakdowns of
    the same workers give slightly different totals of skill (67.09 and 66.64, rounding and
    missing scores); their mean is used. Returns ``(b_clinician, b_discussion)``.

    Examples
    --------
    >>> [round(b, 2) for b in report_regression()]
    [0.96, 0.17]
    """
    n, nc = crosstab_counts()
    k = np.arange(len(DISCUSSION_LEVELS), dtype=float)
    xtx = np.array([
        [n.sum(), nc.sum(), (n * k).sum()],
        [nc.sum(), nc.sum(), (nc * k).sum()],
        [(n * k).sum(), (nc * k).sum(), (n * k * k).sum()],
    ])
    m_disc = np.array([_t15_cell(lv) for lv in DISCUSSION_LEVELS])
    sum_y_disc = float((n * m_disc).sum())
    sum_y_clin = sum(_t15_cell(r, "n") * _t15_cell(r) for r in ("clinician_no", "clinician_yes"))
    xty = np.array([
        (sum_y_disc + sum_y_clin) / 2.0,
        _t15_cell("clinician_yes", "n") * _t15_cell("clinician_yes"),
        float((n * k * m_disc).sum()),
    ])
    _, b_clin, b_disc = np.linalg.solve(xtx, xty)
    return float(b_clin), float(b_disc)



def check_totals() -> pd.DataFrame:
    """Check every printed total against the rows it sums.

    Some printed totals do not add up in the report itself (Table 9 against Table 8). Those
    checks are kept, with ``known_inconsistency`` set and the reason in ``note``, so that a test
    can require every other total to agree and these to keep disagreeing.

    Returns
    -------
    pandas.DataFrame
        One row per check: ``table, check, printed_total, sum_of_rows, ok,
        known_inconsistency, note``.

    Examples
    --------
    >>> chk = check_totals()
    >>> bool((chk["ok"] != chk["known_inconsistency"]).all())
    True
    """
    out = []
    for spec in _SPECS:
        t = table(spec.id)
        for chk in spec.totals:
            kind, known = chk[0], None
            if kind == "row_sum":  # a total column equals the sum of other columns, row by row
                _, total_key, parts = chk
                for row_key, sub in t.groupby("row_key", sort=False):
                    vals = sub.set_index("group_key")["value"]
                    what = f"{row_key}: {total_key} = sum({', '.join(parts)})"
                    out.append((spec.id, what, vals[total_key], vals[parts].sum(), None, ""))
                continue
            if kind == "col_sum":  # a total row equals the sum of the other rows, per column
                _, total_row, parts = chk
                for gk, sub in t.groupby("group_key", sort=False):
                    vals = sub.set_index("row_key")["value"]
                    what = f"{gk}: {total_row} = sum of rows"
                    out.append((spec.id, what, vals[total_row], vals[parts].sum(), None, ""))
                continue
            if kind in ("text_sum", "text_col_sum"):  # a total printed in the text
                _, key, printed, note = chk
                if kind == "text_sum":
                    sel = t[t.stat == key]
                else:
                    sel = t[t.group_key == key] if key else t
                what = f"sum of '{key or 'all'}' cells"
                out.append((spec.id, what, float(printed), sel["value"].sum(), None, note))
            elif kind == "cross":  # cells of this table sum to a cell of another table
                _, other, row_key, groups, stat, other_group, other_stat, known = chk
                sel = t[(t.row_key == row_key) & (t.group_key.isin(groups)) & (t.stat == stat)]
                total = cell(other, row_key, other_stat, other_group)
                what = f"{row_key}: {stat} of {' + '.join(groups)} = Table {other} '{other_group}'"
                out.append((spec.id, what, total, sel["value"].sum(), known, known or ""))
    df = pd.DataFrame(
        out, columns=["table", "check", "printed_total", "sum_of_rows", "known", "note"]
    )
    df["ok"] = np.isclose(df["printed_total"], df["sum_of_rows"])
    df["known_inconsistency"] = df.pop("known").notna()
    return df[["table", "check", "printed_total", "sum_of_rows", "ok", "known_inconsistency", "note"]]

# --------------------------------------------------------------------------------------------
# the published summaries of overall skill, arranged for a likelihood (a reference study)
# --------------------------------------------------------------------------------------------
#: The effects the published summaries inform (skill points), named as the simulator's truth:
#: what :func:`pyramid.compare_project` compares.
EFFECTS: tuple[str, ...] = (
    "training[other]", "training[mla]", "training[programme]", "clinician", "discussion",
)


#: Every row of the table: the effects, then the mean skill.
QUANTITIES: tuple[str, ...] = (*EFFECTS, "mean_skill")


#: Display labels of the quantities.
QUANTITY_LABELS = {
    "training[other]": "Other systemic training",
    "training[mla]": "Previous MLA training",
    "training[programme]": "CSW development programme",
    "clinician": "Clinician at case discussion",
    "discussion": "Discussion quality (per step)",
    "mean_skill": "Mean skill",
}


#: Likelihood weight of each of Table 15's two breakdowns of the same 22 workers.
TABLE15_WEIGHT = 0.5



@dataclass(frozen=True)
class ReferenceSummaries:
    """A reference study's published group summaries and how each group is composed.

    Attributes
    ----------
    name : str
    groups : pandas.DataFrame
        One row per published group: ``label``, ``table``, ``factor`` (the factor the group
        is a level of), ``level``, ``mean``, ``sd``, ``n``, ``weight`` (likelihood weight),
        ``clusters`` (the number of authorities its workers are assumed spread over).
    training_levels, discussion_levels : tuple of str
    x_training : numpy.ndarray
        (groups, training levels): the group's share of workers at each training level.
    x_clinician : numpy.ndarray
        (groups,): the group's share of workers with a clinician at the discussion.
    x_discussion : numpy.ndarray
        (groups, discussion levels): the group's shares by discussion quality.
    cell_discussion, cell_clinician, cell_share : numpy.ndarray
        The crosstab of discussion by clinician as cells (level code, 0/1, share).
    training_share : numpy.ndarray
        Share of the sample at each training level.
    unknown_pyramid_mix, unknown_training_mix : numpy.ndarray
        1 for the groups whose clinician/discussion (resp. training) mix is not published
        (the shares above are then assumed, with uncertainty governed by the concentration).
    sample_weight : numpy.ndarray
        Weights of the groups whose weighted mean is the study's mean skill.
    subsample : numpy.ndarray
        1 for the groups of a subsample whose mean level is its own (Table 15's 22 workers):
        they get a free offset and inform contrasts only.
    rounding : float
        The precision the means are printed to.
    n_authorities : int
    notes : tuple of str
        The assumptions, in words.
    """

    name: str
    groups: pd.DataFrame
    training_levels: tuple[str, ...]
    discussion_levels: tuple[str, ...]
    x_training: np.ndarray
    x_clinician: np.ndarray
    x_discussion: np.ndarray
    cell_discussion: np.ndarray
    cell_clinician: np.ndarray
    cell_share: np.ndarray
    training_share: np.ndarray
    unknown_pyramid_mix: np.ndarray
    unknown_training_mix: np.ndarray
    sample_weight: np.ndarray
    subsample: np.ndarray
    rounding: float
    n_authorities: int
    notes: tuple[str, ...] = field(default=())

    def n_for(self, quantity: str) -> int:
        """Workers behind one compared quantity (the non-reference levels of its factor).

        Examples
        --------
        >>> rsw2017_summaries().n_for("clinician")
        10
        """
        g = self.groups
        if quantity == "mean_skill":
            return int(g.loc[g.table == "14", "n"].sum())
        if quantity.startswith("training["):
            level = quantity[len("training["):-1]
            return int(g.loc[(g.factor == "training") & (g.level == level), "n"].sum())
        if quantity == "clinician":
            return int(g.loc[(g.factor == "clinician") & (g.level == "1"), "n"].sum())
        if quantity == "discussion":
            return int(g.loc[(g.factor == "discussion")
                             & (g.level != self.discussion_levels[0]), "n"].sum())
        raise InputError(f"unknown quantity {quantity!r}; allowed: {', '.join(QUANTITIES)}")



def _summary_stats(tab: str, key: str) -> tuple[float, float, float]:
    return tuple(cell(tab, key, s) for s in ("mean", "sd", "n"))


def rsw2017_summaries() -> ReferenceSummaries:
    """RSW 2017's published summaries of overall skill, arranged for a likelihood.

    From :mod:`pyramid.data.published`: Table 14 (mean, SD and N of overall skill by
    training level, 72 workers), Table 15 (by quality of case discussion and by clinician
    presence, 22 workers counted once in each breakdown, Ns from the text of Part 4) and the
    Part 4 crosstab of clinician presence by discussion quality. Table 1 gives the number of
    authorities (5). Table 10 (RSW units against service as usual) is *not* used: it
    classifies the same observations by a grouping that is not a pyramid factor, so it would
    count them twice.

    What these numbers can identify, and the assumptions that make them do so:

    * They are means by one factor at a time. A training group's mean also holds the
      contributions of the clinicians and discussions of its workers, whose mix is not
      published: the mix is *assumed* to be the 22 observed discussions' (the crosstab), with
      unknown deviations for each group (a Dirichlet around that mix, see ``concentration`` in
      :func:`pyramid.compare_project`). Likewise each Table 15 group's training mix is assumed to be
      Table 14's.
    * Within the 22, the crosstab is published, so each discussion level's clinician share and
      each clinician group's discussion mix are *known*: clinician and discussion are adjusted
      for each other exactly as a regression on the individual scores would (the same
      sufficient statistics :func:`pyramid.data.simulate.default_effects` uses).
    * The two breakdowns of Table 15 are the same 22 workers: each gets likelihood weight 1/2
      (:data:`TABLE15_WEIGHT`), so those workers count once. The 22 are also among Table 14's
      72; that overlap is kept (it informs the training effects in one table and clinician
      and discussion in the other).
    * Table 15's 22 workers scored higher on average than Table 14's 72 (3.05 against 2.71),
      so they are not a random subsample: their groups get a mean level of their own
      (``subsample``) and inform the clinician and discussion contrasts only.
    * The published means ignore the nesting of workers in units and authorities, whose
      variance is not published: a mean of ``n`` workers spread over ``k = min(n, 5)``
      authorities gets the extra variance ``sd_cluster^2 (1/k - 1/n)`` (independent across
      groups, which is conservative for contrasts between groups sharing authorities).
    * Each group has its own SD (no pooling); means are printed to 2 decimals (rounding
      variance 0.01^2 / 12 is added). Table 14's Ns sum to 72 where Table 1 has 67
      observations; the Ns are used as printed.

    Returns
    -------
    ReferenceSummaries

    Examples
    --------
    >>> ref = rsw2017_summaries()
    >>> print(ref.groups[["label", "mean", "sd", "n", "weight"]].to_string(index=False))
                       label  mean   sd    n  weight
              training: none  2.44 0.59 35.0     1.0
             training: other  2.65 0.70 15.0     1.0
               training: mla  2.91 0.67 12.0     1.0
         training: programme  3.50 0.58 10.0     1.0
    discussion: non_systemic  2.35 0.30  4.0     0.5
    discussion: green_shoots  2.98 0.95  9.0     0.5
        discussion: systemic  3.43 0.77  9.0     0.5
               clinician: no  2.52 0.75 12.0     0.5
              clinician: yes  3.64 0.61 10.0     0.5
    """
    t1 = table(1)
    n_auth = int(t1.loc[(t1.row_key == "observations") & t1.group_key.str.match(r"^rsw:la\d+$"),
                        "group_key"].nunique())
    n_k, nc_k = crosstab_counts()
    n22 = float(n_k.sum())
    cells = [(k, c, (nc_k[k] if c else n_k[k] - nc_k[k]) / n22)
             for k in range(len(DISCUSSION_LEVELS)) for c in (0, 1)]
    cell_k = np.array([c[0] for c in cells], dtype=np.int64)
    cell_c = np.array([c[1] for c in cells], dtype=float)
    cell_p = np.array([c[2] for c in cells], dtype=float)
    p_clin = float(nc_k.sum() / n22)
    p_disc = n_k / n22
    n_train = np.array([cell(14, lv, "n") for lv in TRAINING_LEVELS])
    w_train = n_train / n_train.sum()

    rows, x_t, x_c, x_d, unk_p, unk_t, sw = [], [], [], [], [], [], []
    eye_t, eye_d = np.eye(len(TRAINING_LEVELS)), np.eye(len(DISCUSSION_LEVELS))
    for j, lv in enumerate(TRAINING_LEVELS):
        m, s, n = _summary_stats("14", lv)
        rows.append(("training: " + lv, "14", "training", lv, m, s, n, 1.0))
        x_t.append(eye_t[j])
        x_c.append(p_clin)
        x_d.append(p_disc)
        unk_p.append(1.0)
        unk_t.append(0.0)
        sw.append(n / n_train.sum())
    for k, lv in enumerate(DISCUSSION_LEVELS):
        m, s, n = _summary_stats("15", lv)
        rows.append(("discussion: " + lv, "15", "discussion", lv, m, s, n, TABLE15_WEIGHT))
        x_t.append(w_train)
        x_c.append(nc_k[k] / n_k[k])
        x_d.append(eye_d[k])
        unk_p.append(0.0)
        unk_t.append(1.0)
        sw.append(0.0)
    for c, key in enumerate(("clinician_no", "clinician_yes")):
        m, s, n = _summary_stats("15", key)
        rows.append((f"clinician: {'yes' if c else 'no'}", "15", "clinician", str(c), m, s, n,
                     TABLE15_WEIGHT))
        x_t.append(w_train)
        x_c.append(float(c))
        mix = (nc_k if c else n_k - nc_k)
        x_d.append(mix / mix.sum())
        unk_p.append(0.0)
        unk_t.append(1.0)
        sw.append(0.0)
    groups = pd.DataFrame(rows, columns=["label", "table", "factor", "level", "mean", "sd", "n",
                                         "weight"])
    groups["clusters"] = np.minimum(groups["n"], n_auth).astype(float)
    notes = (
        "RSW 2017 enters through Tables 14 and 15 and the Part 4 crosstab (group means, SDs "
        "and Ns), not through the reconstructed observations",
        "each training group's clinician/discussion mix is assumed to be the crosstab's, with "
        "unknown deviations; each Table 15 group's training mix is assumed to be Table 14's",
        "Table 15's two breakdowns of the same 22 workers each have likelihood weight 1/2",
        "Table 15's 22 workers have a mean level of their own (they are not a random "
        "subsample of Table 14's 72): they inform the clinician and discussion contrasts",
        "the published means ignore nesting: a mean of n workers gets the extra variance "
        f"sd_cluster^2 (1/k - 1/n), k = min(n, {n_auth}) authorities",
        "Table 10 is not used (the same observations grouped by RSW unit vs service as usual)",
    )
    return ReferenceSummaries(
        name="rsw2017", groups=groups, training_levels=TRAINING_LEVELS,
        discussion_levels=DISCUSSION_LEVELS, x_training=np.array(x_t), x_clinician=np.array(x_c),
        x_discussion=np.array(x_d), cell_discussion=cell_k, cell_clinician=cell_c,
        cell_share=cell_p, training_share=w_train, unknown_pyramid_mix=np.array(unk_p),
        unknown_training_mix=np.array(unk_t), sample_weight=np.array(sw),
        subsample=(groups["table"] == "15").to_numpy(float), rounding=0.01,
        n_authorities=n_auth, notes=notes,
    )
