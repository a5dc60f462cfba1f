"""The ``rsw2017`` reconstruction: observation-level data rebuilt from the published summaries.

**This is a reconstruction consistent with the published summaries, not the evaluation's
data.** The report's observation-level data are not public. This module builds 72 rows of
whole-number domain scores, training levels, case-discussion codes, authorities, units and
workers whose group sizes, means and SDs reproduce the printed tables as closely as whole
numbers allow, by a documented, seeded optimisation. :func:`pyramid.datasets.load_rsw2017`
loads the cached result (``pyramid/data/rsw2017.csv``); :func:`build` regenerates it and
:func:`fit_report` says, cell by cell, how close it comes and why a printed value cannot be
reached where it cannot.

Every target number is taken from :mod:`pyramid.data.published`; none is typed here.

What was decided, and why
-------------------------
Rows
    One row per coded observation of practice, one worker per observation (Part 4 counts
    workers and observations alike): the 27 RSW and 40 service-as-usual observations of
    Table 1 (per authority, ``LA1`` .. ``LA5`` as the report numbers them; the report does not
    say which council each number is, so neither does pyramid) and the 5 KFT observations of
    Table 2. Together they are Table 14's 72 workers.
Table 10's analysis groups (:func:`table10_split`)
    Table 10 prints no Ns, only a df per row (63, 65, 65, 65, 64, 62). With Table 1's 27 RSW and
    40 usual observations, 8 of its 12 means are GRIM-impossible. Searching the splits of the 67
    comparative observations and of the missing scores the df allow, the only split under which
    every Table 10 mean and SD is reachable is 26 RSW and 41 usual, with 2 RSW collaboration
    scores and 1 RSW child-focus score missing (on 3 different observations), so that 23 RSW
    and 41 usual observations have all five scores (df 62); with 23 and 41 the pooled t-value
    for overall skill equals the printed one to its three decimals. The reconstruction therefore keeps Table 1's groups in
    ``group`` and marks the one RSW observation that Table 10 analysed with the usual group
    (``frame.attrs["table10_group"]``, :func:`table10_group`). Table 10's overall skill is over
    complete cases (its df); everywhere else (Tables 14 and 15, whose Ns count every
    observation) ``skill`` is the mean of the available analysed domains.
Training (Table 14)
    The 10 ``programme`` workers are Table 23's 10 RSW participants on the CSW programme. The
    5 KFT workers are ``mla``: every KFT unit member was trained by MLA in the FAMILY approach
    (Part 2). The other 35 ``none``, 15 ``other`` and 7 ``mla`` fall on the 17 RSW-unit
    participants and the 40 usual-practice workers as the optimisation finds them to fit
    Table 14 (the report does not say); the cross-tabulation is in :func:`fit_report`'s notes.
Case discussions (Table 15, the cross-tab in the text of Part 4)
    22 rows carry a discussion code and clinician presence, in exactly the printed cells
    (no clinician at the 4 non-systemic, 3 of 9 green shoots, 7 of 9 systemic); the rest are
    missing (not observed). A clinician is placed only in RSW or KFT units (clinicians were
    attached to RSW units; Part 2). Which rows carry which code is chosen by the optimisation.
Scores
    Evocation and autonomy are left missing: the report does not analyse them and prints no
    summary of them. The five analysed domains are whole numbers 1-5.
Authorities, units and workers (:func:`_structure`)
    Units are not reported. RSW units hold at most 4 observed workers and at most one worker on
    the CSW programme (each unit is led by one CSW); usual-practice teams hold at most 5; each
    authority has a KFT unit (a second where its observed KFT workers' case discussions differ:
    one county had two). The case discussion is a property of the unit, so every observed
    worker of a unit whose discussion was observed carries its code, and no unit of an
    authority has an observed discussion unless Table 1 (RSW, usual) or Table 2 (KFT) records
    observations of supervision there, at most one unit per recorded observation. Clinicians
    sit in RSW units of at most 3 authorities ("3 had clinicians, 2 did not"; Part 2).

The optimisation
----------------
Simulated annealing over the integer state (domain scores; training levels of the free rows;
which rows carry which discussion code), seeded, with every N and the cross-tab as hard
constraints (moves preserve them). The objective sums, over every published mean and SD used
as a target (Tables 10, 14, 15 and the KFT domain means of Part 2), the distance from the
printed value in units of its last printed digit: zero inside the rounding interval
(+/- half a unit), slope 1 beyond it and a further slope 10 beyond the tolerance the
acceptance uses (1 unit for means, 2 for SDs). This epsilon-insensitive L1 loss concentrates
the misfit that the report's own inconsistencies force (see :func:`consistency_checks`) on as
few cells as possible, instead of spreading it over all of them. Sums and sums of squares are
kept as integers (skill in twentieths) and updated incrementally, so a build takes seconds.
The start is a draw from the shared generative model of docs/architecture.md (a worker level
plus domain noise around the printed group means), so what the annealing leaves unconstrained
looks like scores, not like an artefact of the search.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pyramid.data import published
from pyramid.data.schema import (
    COLUMNS,
    DISCUSSION_LEVELS,
    DOMAINS,
    EXTRA_DOMAINS,
    GROUP_LEVELS,
    SCORE_MAX,
    SCORE_MIN,
    TRAINING_LEVELS,
)
from pyramid.data.validate import CANONICAL_DTYPES
from pyramid.errors import InputError

__all__ = [
    "DESCRIPTION",
    "DEFAULT_SEED",
    "CACHE_NAME",
    "build",
    "write_cache",
    "read_cache",
    "cache_path",
    "table10_split",
    "table10_group",
    "targets",
    "fit_report",
    "consistency_checks",
    "grim_consistent",
    "grimmer_consistent",
]

#: The label every output of this module carries.
DESCRIPTION = (
    "rsw2017: a reconstruction consistent with the published summaries, not the evaluation's "
    "data. Observation-level data rebuilt by a seeded optimisation to reproduce the group sizes, "
    "means and SDs printed in Bostock, Forrester et al. (2017) DFE-RR588 (Tables 1, 2, 10, 14, "
    "15, 23 and numbers in the text); see pyramid.datasets.reconstruction_report()."
)

#: Seed of the shipped cache (the report's publication month).
DEFAULT_SEED = 201707

#: File name of the cache inside the package.
CACHE_NAME = "rsw2017.csv"

#: Training of the KFT workers: all KFT unit members were trained by MLA (Part 2).
KFT_TRAINING = "mla"

#: Most observed workers in one unit: RSW units, usual-practice teams.
UNIT_CAP = {"rsw": 4, "usual": 5}

#: At most this many authorities had clinicians attached to RSW units (Part 2: "3 had
#: clinicians, 2 did not").
CLINICIAN_AUTHORITIES = 3

_VARS = (*DOMAINS, "skill")
_SKILL = len(DOMAINS)  # index of skill among _VARS
_LCM = 20  # skill in twentieths: a mean of 4 or of 5 whole numbers is a whole number of 1/20
# loss: slope beyond the rounding interval, slope and a fixed cost beyond the tolerance
_A_SLOPE, _B_SLOPE, _C_STEP = 1.0, 5.0, 15.0
# a small cost on the spread of one observation's domain scores around their mean: it shapes
# only what the targets leave free (one worker's scores hang together, as coded practice does)
_ROW_SPREAD = 0.02
_N_ITER = 200_000
_CHAINS = 6

_T10_SEARCH = 3  # Table 10 analysis split searched within +/- this of Table 1's RSW count


# =============================================================================================
# GRIM and GRIMMER
# =============================================================================================
def _half(decimals: int) -> float:
    return 0.5 * 10.0 ** (-decimals) + 1e-9


def _reachable_totals(counts: dict[int, int], lo: int = SCORE_MIN, hi: int = SCORE_MAX):
    """Totals of per-row means, in units of 1/L (L = lcm of the items), that whole scores allow.

    ``counts`` maps the number of items a row averages (5 for a complete skill row, 4 where one
    domain is missing, 1 for a single domain) to the number of such rows.
    """
    lcm = math.lcm(*counts) if counts else 1
    reach = np.zeros(1, dtype=bool)
    reach[0] = True
    for items, c in counts.items():
        if c == 0:
            continue
        w = lcm // items
        a = np.arange(c * items * lo, c * items * hi + 1) * w
        pos = np.flatnonzero(reach)
        new = np.zeros(pos.max() + a.max() + 1, dtype=bool)
        new[(pos[:, None] + a[None, :]).ravel()] = True
        reach = new
    return np.flatnonzero(reach), lcm


def grim_consistent(
    mean: float,
    n: int,
    decimals: int = 2,
    *,
    items: int | dict[int, int] = 1,
    lo: int = SCORE_MIN,
    hi: int = SCORE_MAX,
) -> bool:
    """GRIM test: can ``n`` rows of whole-number scores have a mean that rounds to ``mean``?

    A mean of ``n`` whole numbers is ``k / n``; a mean of ``n`` row means of 5 whole numbers
    (overall skill of complete cases) is ``k / (5 n)``. Brown and Heathers (2017).

    Parameters
    ----------
    mean : float
        The printed mean.
    n : int
        Number of rows.
    decimals : int, default 2
        Decimals printed.
    items : int or dict, default 1
        Whole-number items each row averages (1 for one domain, 5 for overall skill), or a
        mapping ``{items: rows}`` for rows that average different numbers of items.
    lo, hi : int
        Range of one item (1-5).

    Returns
    -------
    bool

    Examples
    --------
    >>> grim_consistent(3.08, 27)    # Table 10, empathy, RSW: 83/27 = 3.074, 84/27 = 3.111
    False
    >>> grim_consistent(3.08, 26)    # 80/26 = 3.077
    True
    >>> grim_consistent(3.24, 23, items=5)
    True
    """
    if n < 1:
        raise InputError(f"n must be a positive whole number, got {n!r}")
    counts = {items: n} if isinstance(items, int) else dict(items)
    if sum(counts.values()) != n:
        raise InputError(f"items {counts} do not add up to n = {n}")
    totals, lcm = _reachable_totals(counts, lo, hi)
    return bool(np.any(np.abs(totals / (lcm * n) - mean) <= _half(decimals)))


def _nearest_means(mean: float, n: int, counts: dict[int, int], lo=SCORE_MIN, hi=SCORE_MAX):
    totals, lcm = _reachable_totals(counts, lo, hi)
    m = totals / (lcm * n)
    below = m[m <= mean]
    above = m[m >= mean]
    return (below.max() if below.size else np.nan), (above.min() if above.size else np.nan)


def grimmer_consistent(
    mean: float,
    sd: float,
    n: int,
    decimals_mean: int = 2,
    decimals_sd: int = 2,
    *,
    items: int = 1,
    lo: int = SCORE_MIN,
    hi: int = SCORE_MAX,
) -> bool:
    """GRIMMER-style test: can ``n`` whole-number rows have this mean *and* this SD?

    With row totals ``T_i`` (whole numbers in ``[items*lo, items*hi]``), the sum ``S`` and the sum
    of squares ``Q`` are whole numbers, ``Q`` has the parity of ``S`` (``T**2`` and ``T`` are
    both odd or both even), and ``Q`` lies between its least value (totals as equal as
    possible) and its largest (totals at the ends of the range). The test asks whether some
    ``S`` whose mean rounds to ``mean`` has such a ``Q`` whose sample SD rounds to ``sd``
    (Anaya 2016; Allard 2018). These are necessary conditions, checked exactly.

    Parameters
    ----------
    mean, sd : float
        The printed mean and sample SD (n - 1 denominator, as SPSS).
    n : int
        Number of rows (at least 2).
    decimals_mean, decimals_sd : int
        Decimals printed.
    items : int, default 1
        Whole-number items each row averages (5 for overall skill of complete cases).
    lo, hi : int
        Range of one item.

    Returns
    -------
    bool

    Examples
    --------
    >>> grimmer_consistent(2.35, 0.30, 4, items=5)   # Table 15, non-systemic
    True
    >>> grimmer_consistent(3.0, 0.05, 3)             # three whole numbers with mean 3: SD 0 or >= 1
    False
    """
    if n < 2:
        raise InputError(f"n must be at least 2 for an SD, got {n!r}")
    tlo, thi = items * lo, items * hi
    hm = _half(decimals_mean) * items
    hs = _half(decimals_sd) * items
    m_t, s_t = mean * items, sd * items
    for s in range(math.ceil((m_t - hm) * n), math.floor((m_t + hm) * n) + 1):
        if s < n * tlo or s > n * thi:
            continue
        q, r = divmod(s, n)
        qmin = (n - r) * q * q + r * (q + 1) ** 2
        excess = s - n * tlo
        x, rem = divmod(excess, thi - tlo)
        if x >= n:
            x, rem = n, 0
        qmax = x * thi**2 + (1 if rem else 0) * (tlo + rem) ** 2 + (n - x - (1 if rem else 0)) * tlo**2
        lo_q = (n - 1) * max(s_t - hs, 0.0) ** 2 + s * s / n
        hi_q = (n - 1) * (s_t + hs) ** 2 + s * s / n
        a, b = max(math.ceil(lo_q - 1e-9), qmin), min(math.floor(hi_q + 1e-9), qmax)
        if a > b:
            continue
        if (a % 2 == s % 2) or a + 1 <= b:
            return True
    return False


# =============================================================================================
# Table 10: which analysis split do its df and means imply?
# =============================================================================================
@dataclass(frozen=True)
class Table10Split:
    """The Ns behind Table 10, as far as its df, means and t-values pin them down.

    Attributes
    ----------
    n : dict
        ``{"rsw": int, "usual": int}``: observations in each compared group.
    missing : dict
        ``{domain: (rsw, usual)}``: missing scores per domain and group.
    incomplete : dict
        ``{"rsw": int, "usual": int}``: observations with at least one domain missing (left out
        of the overall-skill comparison, df 62).
    moved : int
        Table 1 RSW observations analysed with the usual group (negative: usual observations
        analysed as RSW).
    evidence : pandas.DataFrame
        The ten best candidate splits, ranked, and the best with Table 1's split (``n_rsw,
        n_usual, missing, incomplete, grim_ok, grimmer_ok, t_distance, cells_ok``): GRIM-
        consistent means and GRIMMER-consistent SDs out of 12 each, and the root sum of squared
        differences between the pooled t-values and the printed ones.
    """

    n: dict
    missing: dict
    incomplete: dict
    moved: int
    evidence: pd.DataFrame = field(repr=False, compare=False)

    def n_domain(self, var: str, group: str) -> int:
        """Scores of ``var`` (a domain or ``"skill"``, complete cases) in ``group``."""
        gi = 0 if group == "rsw" else 1
        if var == "skill":
            return self.n[group] - self.incomplete[group]
        return self.n[group] - self.missing[var][gi]


def _t10_cells() -> dict[str, dict[str, float]]:
    t = published.table(10)
    out = {}
    for var in _VARS:
        sub = t[t.row_key == var]
        get = {(r.group_key, r.stat): r.value for r in sub.itertuples()}
        out[var] = dict(
            m1=get[("rsw", "mean")], s1=get[("rsw", "sd")], m2=get[("usual", "mean")],
            s2=get[("usual", "sd")], t=get[("", "t")], df=int(get[("", "df")]),
        )
    return out


def _pooled_t(m1, s1, n1, m2, s2, n2) -> float:
    sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
    return (m1 - m2) / math.sqrt(sp2 * (1 / n1 + 1 / n2))


def table10_split() -> Table10Split:
    """Work out the Ns behind Table 10 from its df, means, SDs and t-values.

    Table 10 prints a df per row but no Ns. For every split of Table 1's 67 comparative
    observations into RSW and usual (within 3 of Table 1's 27) and every placement of the
    missing scores the df imply (df + 2 scores per domain; complete cases for overall skill,
    each observation missing at most the domains the df allow), count the means that pass GRIM
    and the SDs that pass GRIMMER, and measure how far the pooled t-values are from the printed
    ones. The best split (most cells reachable, then nearest t-values, then nearest Table 1)
    is the one the reconstruction uses.

    Returns
    -------
    Table10Split

    Examples
    --------
    >>> d = table10_split()
    >>> d.n, d.incomplete, d.moved
    ({'rsw': 26, 'usual': 41}, {'rsw': 3, 'usual': 0}, 1)
    """
    cells = _t10_cells()
    n0 = int(published.cell(1, "observations", "count", "total"))
    r0 = int(published.cell(1, "observations", "count", "rsw:subtotal"))
    n_skill = cells["skill"]["df"] + 2
    grim_cache: dict = {}

    def ok(var, gi, n):
        key = (var, gi, n)
        if key not in grim_cache:
            c = cells[var]
            m, s = (c["m1"], c["s1"]) if gi == 0 else (c["m2"], c["s2"])
            items = 5 if var == "skill" else 1
            grim_cache[key] = (
                n >= 1 and grim_consistent(m, n, items=items),
                n >= 2 and grimmer_consistent(m, s, n, items=items),
            )
        return grim_cache[key]

    rows = []
    for r in range(max(2, r0 - _T10_SEARCH), r0 + _T10_SEARCH + 1):
        u = n0 - r
        options = []
        for var in DOMAINS:
            miss = n0 - (cells[var]["df"] + 2)
            if miss < 0:
                raise InputError(f"Table 10 {var}: df {cells[var]['df']} implies more than {n0} scores")
            options.append([(a, miss - a) for a in range(miss + 1) if a <= r and miss - a <= u])
        inc_total = n0 - n_skill
        for combo in itertools.product(*options):
            for cr in range(inc_total + 1):
                cu = inc_total - cr
                mr = [c[0] for c in combo]
                mu = [c[1] for c in combo]
                if not (max(mr) <= cr <= sum(mr) and max(mu) <= cu <= sum(mu)):
                    continue
                g = gg = 0
                td = 0.0
                for var, (a, b) in zip(_VARS, [*combo, (cr, cu)], strict=True):
                    n1, n2 = r - a, u - b
                    o1, o2 = ok(var, 0, n1), ok(var, 1, n2)
                    g += o1[0] + o2[0]
                    gg += o1[1] + o2[1]
                    c = cells[var]
                    td += (_pooled_t(c["m1"], c["s1"], n1, c["m2"], c["s2"], n2) - c["t"]) ** 2
                rows.append(
                    dict(
                        n_rsw=r, n_usual=u,
                        missing={v: c for v, c in zip(DOMAINS, combo, strict=True) if sum(c)},
                        incomplete=(cr, cu), grim_ok=g, grimmer_ok=gg,
                        t_distance=round(math.sqrt(td), 4), from_table1=abs(r - r0),
                    )
                )
    ev = pd.DataFrame(rows)
    ev["cells_ok"] = ev["grim_ok"] + ev["grimmer_ok"]
    ev = ev.sort_values(
        ["cells_ok", "t_distance", "from_table1"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)
    # keep the best candidates and the best one with Table 1's split, for comparison
    ev = pd.concat([ev.head(10), ev[ev.from_table1 == 0].head(1)]).drop_duplicates(
        subset=["n_rsw", "incomplete", "grim_ok", "grimmer_ok", "t_distance"]
    )
    best = ev.iloc[0]
    missing = {v: (0, 0) for v in DOMAINS}
    missing.update(best["missing"])
    return Table10Split(
        n={"rsw": int(best["n_rsw"]), "usual": int(best["n_usual"])},
        missing=missing,
        incomplete={"rsw": int(best["incomplete"][0]), "usual": int(best["incomplete"][1])},
        moved=r0 - int(best["n_rsw"]),
        evidence=ev.drop(columns="from_table1").reset_index(drop=True),
    )


# =============================================================================================
# Targets
# =============================================================================================
@dataclass(frozen=True)
class Target:
    """One published number the reconstruction aims at.

    ``member`` names the rows it summarises: ``("t10", "rsw" | "usual")``, ``("t14",
    training)``, ``("t15d", discussion)``, ``("t15c", 0 | 1)`` or ``("kft", None)``. ``stat`` is
    ``mean``, ``sd`` or ``band`` (a range read from words in the text).
    """

    table: str
    row: str
    column: str
    row_key: str
    group_key: str
    stat: str
    printed: str
    value: float
    var: str
    member: tuple
    decimals: int
    lo: float = math.nan
    hi: float = math.nan
    note: str = ""

    @property
    def unit(self) -> float:
        return 10.0 ** (-self.decimals)

    @property
    def tolerance(self) -> float:
        """Acceptance tolerance: 1 unit of the last printed digit for means, 2 for SDs."""
        return (2 if self.stat == "sd" else 1) * self.unit


def _decimals(printed: str) -> int:
    s = printed.strip()
    return len(s.split(".")[1]) if "." in s else 0


_T15_MEMBERS = {
    **{k: ("t15d", k) for k in DISCUSSION_LEVELS},
    "clinician_no": ("t15c", 0),
    "clinician_yes": ("t15c", 1),
}


def targets() -> list[Target]:
    """Every published mean and SD the reconstruction aims at, read from :mod:`published`.

    Table 10 (domains and overall skill by group), Table 14 (overall skill by training),
    Table 15 (overall skill by discussion quality and by clinician presence), the KFT domain
    means quoted in Part 2, and two ranges read from its words: KFT "scores for empathy and
    collaboration were closer to service as usual", taken as a KFT mean nearer Table 10's usual
    mean than its RSW mean and no further below the usual mean than that.

    Returns
    -------
    list of Target

    Examples
    --------
    >>> ts = targets()
    >>> sum(t.table in ("10", "14", "15") for t in ts)
    42
    """
    out: list[Target] = []
    for tid in ("10", "14", "15"):
        t = published.table(tid)
        for r in t[t.stat.isin(["mean", "sd"])].itertuples():
            if tid == "10":
                member, var = ("t10", r.group_key), r.row_key
                column = f"{r.group}: {r.column}"
            elif tid == "14":
                member, var, column = ("t14", r.row_key), "skill", r.column
            else:
                member, var, column = _T15_MEMBERS[r.row_key], "skill", r.column
            out.append(
                Target(tid, r.row, column, r.row_key, r.group_key, r.stat, r.printed, r.value,
                       var, member, _decimals(r.printed))
            )
    k = published.table("kft_domains")
    for r in k[k.stat == "mean"].itertuples():
        out.append(
            Target("kft_domains", r.row, r.column, r.row_key, "", "mean", r.printed, r.value,
                   r.row_key, ("kft", None), _decimals(r.printed))
        )
    for dom in ("empathy", "collaboration"):
        rsw = published.cell(10, dom, "mean", "rsw")
        usual = published.cell(10, dom, "mean", "usual")
        half = (rsw - usual) / 2
        out.append(
            Target(
                "kft_text", f"KFT {dom}", "Mean", dom, "", "band",
                "closer to service as usual", math.nan, dom, ("kft", None), 2,
                lo=usual - half, hi=usual + half,
                note=f"Part 2: KFT 'scores for empathy and collaboration were closer to service "
                f"as usual'; read as within half the RSW-usual gap of Table 10's usual mean "
                f"({usual:.2f} +/- {half:.3f})",
            )
        )
    return out


# =============================================================================================
# Hard constraints: the sizes every reconstruction must have
# =============================================================================================
@dataclass
class _Constraints:
    la_rsw: list[int]
    la_usual: list[int]
    la_kft: list[int]
    sup_rsw: list[int]
    sup_usual: list[int]
    sup_kft: list[int]
    training_n: dict[str, int]
    programme: int
    cells: dict[tuple[int, int], int]  # (discussion index, clinician) -> rows
    t10: Table10Split


def _constraints() -> _Constraints:
    t1 = published.table(1)

    def row(tab, key, prefix):
        sub = tab[tab.row_key == key].set_index("group_key")["value"]
        return [int(sub[f"{prefix}la{i}"]) for i in range(1, 6)]

    t2 = published.table(2)
    training_n = {lv: int(published.cell(14, lv, "n")) for lv in TRAINING_LEVELS}
    cells = {}
    for di, lv in enumerate(DISCUSSION_LEVELS):
        n = int(published.cell("crosstab", lv, "n"))
        c = int(published.cell("crosstab", lv, "count"))
        cells[(di, 1)] = c
        cells[(di, 0)] = n - c
    d = _Constraints(
        la_rsw=row(t1, "observations", "rsw:"),
        la_usual=row(t1, "observations", "usual:"),
        la_kft=row(t2, "practice_observations", ""),
        sup_rsw=row(t1, "supervision_observations", "rsw:"),
        sup_usual=row(t1, "supervision_observations", "usual:"),
        sup_kft=row(t2, "case_discussion_observations", ""),
        training_n=training_n,
        programme=int(published.cell(23, "programme", "count")),
        cells=cells,
        t10=table10_split(),
    )
    n_rows = sum(d.la_rsw) + sum(d.la_usual) + sum(d.la_kft)
    if sum(training_n.values()) != n_rows:
        raise InputError(
            f"Table 14's Ns add up to {sum(training_n.values())}, but Tables 1 and 2 give "
            f"{n_rows} observations of practice"
        )
    return d


# =============================================================================================
# The state and the annealing
# =============================================================================================
@dataclass
class _State:
    group: list[str]  # rsw / usual / kft (Table 1 / Table 2)
    g10: list[int]  # Table 10 analysis group: 0 rsw, 1 usual, -1 not in Table 10
    train: list[int]  # index into TRAINING_LEVELS
    free_train: list[bool]
    disc: list[int]  # index into DISCUSSION_LEVELS, -1 not observed
    clin: list[int]  # 0/1, -1 not observed
    mask: list[list[bool]]  # domain available
    y: list[list[int]]  # domain scores (0 where missing)

    @property
    def n(self) -> int:
        return len(self.group)


def _initial_state(constraints: _Constraints, rng: np.random.Generator) -> _State:
    t10 = constraints.t10
    n_prog = constraints.programme
    n_rsw, n_usual, n_kft = sum(constraints.la_rsw), sum(constraints.la_usual), sum(constraints.la_kft)
    group = ["rsw"] * n_rsw + ["usual"] * n_usual + ["kft"] * n_kft
    g10 = [0] * n_rsw + [1] * n_usual + [-1] * n_kft
    prog_idx = TRAINING_LEVELS.index("programme")
    train = [prog_idx] * n_prog + [-1] * (n_rsw - n_prog + n_usual) + [
        TRAINING_LEVELS.index(KFT_TRAINING)
    ] * n_kft
    free = [t == -1 for t in train]
    # Table 10 analysed |moved| observations with the other group: the last RSW-unit rows
    # (moved > 0) or the last usual rows (moved < 0)
    moved = t10.moved
    if moved > 0:
        for i in range(n_rsw - moved, n_rsw):
            g10[i] = 1
    elif moved < 0:
        for i in range(n_rsw + n_usual + moved, n_rsw + n_usual):
            g10[i] = 0
    # missing domain scores: on rows that are neither on the programme nor moved
    mask = [[True] * len(DOMAINS) for _ in group]
    for gi, gname in ((0, "rsw"), (1, "usual")):
        cand = [i for i in range(len(group)) if g10[i] == gi and free[i] and group[i] == gname]
        c = t10.incomplete[gname]
        rows = cand[:c]
        if len(rows) < c:
            raise InputError(f"Table 10 needs {c} incomplete {gname} rows, only {len(rows)} free")
        nmiss = [0] * c
        for di, dom in enumerate(DOMAINS):
            for _ in range(t10.missing[dom][gi]):
                j = min((k for k in range(c) if mask[rows[k]][di]), key=lambda k: nmiss[k])
                mask[rows[j]][di] = False
                nmiss[j] += 1
    # training of the free rows: the remaining Table 14 counts, shuffled
    remaining = dict(constraints.training_n)
    remaining["programme"] -= n_prog
    remaining[KFT_TRAINING] -= n_kft
    if min(remaining.values()) < 0:
        raise InputError(f"Table 14's training counts leave negative remainders: {remaining}")
    pool = [TRAINING_LEVELS.index(lv) for lv, c in remaining.items() for _ in range(c)]
    if len(pool) != sum(free):
        raise InputError(f"{len(pool)} free training levels for {sum(free)} free rows")
    pool = list(rng.permutation(pool))
    it = iter(pool)
    train = [int(next(it)) if f else t for t, f in zip(train, free, strict=True)]
    # discussion cells: clinician only in RSW or KFT rows
    disc = [-1] * len(group)
    clin = [-1] * len(group)
    eligible_c = [i for i, g in enumerate(group) if g in ("rsw", "kft")]
    order_c = list(rng.permutation(eligible_c))
    taken = set()
    for (di, c), k in sorted(constraints.cells.items()):
        if c != 1:
            continue
        for _ in range(k):
            i = int(order_c.pop())
            disc[i], clin[i] = di, 1
            taken.add(i)
    order_a = [int(i) for i in rng.permutation(len(group)) if int(i) not in taken]
    for (di, c), k in sorted(constraints.cells.items()):
        if c != 0:
            continue
        for _ in range(k):
            i = order_a.pop()
            disc[i], clin[i] = di, 0
    # scores: a draw from the shared generative model around the printed group means
    mu = np.zeros((len(group), len(DOMAINS)))
    for i in range(len(group)):
        for di, dom in enumerate(DOMAINS):
            if g10[i] >= 0:
                mu[i, di] = published.cell(10, dom, "mean", "rsw" if g10[i] == 0 else "usual")
            else:
                try:
                    mu[i, di] = published.cell("kft_domains", dom, "mean")
                except InputError:
                    mu[i, di] = published.cell(10, dom, "mean", "usual")
    worker = rng.normal(0.0, 0.6, size=(len(group), 1))
    noise = rng.normal(0.0, 0.5, size=mu.shape)
    yy = np.clip(np.rint(mu + worker + noise), SCORE_MIN, SCORE_MAX).astype(int)
    y = [[int(yy[i, d]) if mask[i][d] else 0 for d in range(len(DOMAINS))] for i in range(len(group))]
    return _State(group, g10, train, free, disc, clin, mask, y)


class _Annealer:
    """Integer sums and sums of squares per target group, updated move by move.

    Each row's contributions (aggregate id, value) are cached; a move recomputes them only for
    the rows it changes and re-evaluates the loss only of the aggregates it touches.
    """

    def __init__(self, state: _State, tgts: list[Target]):
        self.s = state
        keys: dict[tuple, int] = {}
        cells: list[list[tuple]] = []
        for t in tgts:
            k = (t.member, _VARS.index(t.var))
            if k not in keys:
                keys[k] = len(keys)
                cells.append([])
            if t.stat == "band":
                cells[keys[k]].append((2, t.lo, t.hi, t.unit, 0.0))
            else:
                cells[keys[k]].append(
                    (0 if t.stat == "mean" else 1, t.value, 0.0, t.unit, t.tolerance / t.unit)
                )
        self.keys = keys
        self.cells = cells
        self.c_step = _C_STEP
        self.scale = [(_LCM if var == _SKILL else 1) for (_m, var) in keys]
        na = len(keys)
        self.n = [0] * na
        self.S = [0] * na
        self.Q = [0] * na
        self._t10 = {(g, v): keys.get((("t10", gname), v))
                     for g, gname in ((0, "rsw"), (1, "usual")) for v in range(len(_VARS))}
        self._kft = [keys.get((("kft", None), v)) for v in range(len(DOMAINS))]
        self._t14 = [keys.get((("t14", lv), _SKILL)) for lv in TRAINING_LEVELS]
        self._t15d = [keys.get((("t15d", lv), _SKILL)) for lv in DISCUSSION_LEVELS]
        self._t15c = [keys.get((("t15c", c), _SKILL)) for c in (0, 1)]
        self.contrib = [self._contribs(i) for i in range(state.n)]
        for c in self.contrib:
            self._add(c, 1)
        self.loss_of = [self._agg_loss(a) for a in range(na)]
        self.spread = [self._spread(i) for i in range(state.n)]
        self.total = sum(self.loss_of) + _ROW_SPREAD * sum(self.spread)

    def _spread(self, i: int) -> float:
        yi, mi = self.s.y[i], self.s.mask[i]
        k = sum(mi)
        tot = sum(yi)
        return sum(v * v for v in yi) - tot * tot / k

    def _contribs(self, i: int) -> list[tuple[int, int]]:
        s = self.s
        yi, mi = s.y[i], s.mask[i]
        k = sum(mi)
        sk = sum(yi) * (_LCM // k)
        out = []
        g = s.g10[i]
        if g >= 0:
            for d in range(len(DOMAINS)):
                a = self._t10[(g, d)]
                if mi[d] and a is not None:
                    out.append((a, yi[d]))
            a = self._t10[(g, _SKILL)]
            if k == len(DOMAINS) and a is not None:
                out.append((a, sk))
        if s.group[i] == "kft":
            for d in range(len(DOMAINS)):
                a = self._kft[d]
                if a is not None and mi[d]:
                    out.append((a, yi[d]))
        a = self._t14[s.train[i]]
        if a is not None:
            out.append((a, sk))
        if s.disc[i] >= 0:
            a = self._t15d[s.disc[i]]
            if a is not None:
                out.append((a, sk))
            a = self._t15c[s.clin[i]]
            if a is not None:
                out.append((a, sk))
        return out

    def _add(self, contrib, sign: int) -> None:
        n, S, Q = self.n, self.S, self.Q
        for a, v in contrib:
            n[a] += sign
            S[a] += sign * v
            Q[a] += sign * v * v

    def _agg_loss(self, a: int) -> float:
        n, S, Q, sc = self.n[a], self.S[a], self.Q[a], self.scale[a]
        if n == 0:
            return 100.0 * len(self.cells[a])
        mean = S / n / sc
        sd = math.sqrt(max(Q - S * S / n, 0.0) / (n - 1)) / sc if n > 1 else math.nan
        loss = 0.0
        for kind, v, hi, unit, tol in self.cells[a]:
            if kind == 2:
                out = max(v - mean, mean - hi, 0.0) / unit
                if out > 0:
                    loss += _B_SLOPE * out + self.c_step
                continue
            x = mean if kind == 0 else sd
            if x != x:  # an SD of one row
                loss += 100.0
                continue
            z = abs(x - v) / unit
            if z > 0.5:
                loss += _A_SLOPE * (z - 0.5)
                if z > tol + 1e-9:
                    loss += _B_SLOPE * (z - tol) + self.c_step
        return loss

    def propose(self, rows, temperature: float, r: random.Random) -> bool:
        """Score the state after a change to ``rows``; keep it, or undo the sums and say so.

        The caller has already changed the rows; on rejection it changes them back.
        """
        diff: dict[int, list[int]] = {}
        new_c = []
        for i in rows:
            for a, v in self.contrib[i]:
                d = diff.get(a)
                if d is None:
                    diff[a] = [-1, -v, -v * v]
                else:
                    d[0] -= 1
                    d[1] -= v
                    d[2] -= v * v
            c = self._contribs(i)
            new_c.append(c)
            for a, v in c:
                d = diff.get(a)
                if d is None:
                    diff[a] = [1, v, v * v]
                else:
                    d[0] += 1
                    d[1] += v
                    d[2] += v * v
        n, S, Q, loss_of = self.n, self.S, self.Q, self.loss_of
        changed = [(a, d) for a, d in diff.items() if d[0] or d[1] or d[2]]
        old = new = 0.0
        new_losses = []
        for a, d in changed:
            n[a] += d[0]
            S[a] += d[1]
            Q[a] += d[2]
            old += loss_of[a]
            x = self._agg_loss(a)
            new_losses.append(x)
            new += x
        new_spread = [self._spread(i) for i in rows]
        delta = new - old + _ROW_SPREAD * (sum(new_spread) - sum(self.spread[i] for i in rows))
        if delta <= 1e-12 or (temperature > 0 and r.random() < math.exp(-delta / temperature)):
            for (a, _d), x in zip(changed, new_losses, strict=True):
                loss_of[a] = x
            for i, c, sp in zip(rows, new_c, new_spread, strict=True):
                self.contrib[i] = c
                self.spread[i] = sp
            self.total += delta
            return True
        for a, d in changed:
            n[a] -= d[0]
            S[a] -= d[1]
            Q[a] -= d[2]
        return False

    def _snapshot(self):
        s = self.s
        return ([row[:] for row in s.y], s.train[:], s.disc[:], s.clin[:])

    def _restore(self, snap) -> None:
        s = self.s
        y, train, disc, clin = snap
        for i in range(s.n):
            s.y[i][:] = y[i]
        s.train[:], s.disc[:], s.clin[:] = train, disc, clin
        na = len(self.keys)
        self.n, self.S, self.Q = [0] * na, [0] * na, [0] * na
        self.contrib = [self._contribs(i) for i in range(s.n)]
        for c in self.contrib:
            self._add(c, 1)
        self.loss_of = [self._agg_loss(a) for a in range(na)]
        self.spread = [self._spread(i) for i in range(s.n)]
        self.total = sum(self.loss_of) + _ROW_SPREAD * sum(self.spread)

    def run(self, n_iter: int, seed: int, t0: float = 20.0, t1: float = 0.05, cycles: int = 3) -> None:
        """Anneal in ``cycles`` rounds (each from the best state so far), then polish greedily."""
        s = self.s
        r = random.Random(seed)
        rand = r.random
        n = s.n
        nd = len(DOMAINS)
        y = s.y
        free = [i for i in range(n) if s.free_train[i]]
        clin_ok = [g in ("rsw", "kft") for g in s.group]
        avail = [(i, d) for i in range(n) for d in range(nd) if s.mask[i][d]]
        # rows of the same Table 10 group (KFT rows among themselves): moves between them keep
        # the group's means
        peers_of = [
            [j for j in range(n) if s.g10[j] == s.g10[i] and (s.group[j] == "kft") == (s.group[i] == "kft")]
            for i in range(n)
        ]
        # whole-row swaps within a group and missing pattern leave Tables 10 and KFT unchanged
        by_pattern: dict[tuple, list[int]] = {}
        for i in range(n):
            by_pattern.setdefault((tuple(s.mask[i]), s.g10[i], s.group[i] == "kft"), []).append(i)
        patterns = [v for v in by_pattern.values() if len(v) > 1]
        train, disc, clin = s.train, s.disc, s.clin

        def pick_peer(i: int) -> int:
            """A row of i's group; half the time one that also shares i's training and
            discussion cells (a twin), so that moving points between them keeps every mean."""
            peers = peers_of[i]
            m = len(peers)
            k = int(rand() * m)
            if rand() < 0.5:
                return peers[k]
            for step in range(m):
                j = peers[(k + step) % m]
                if j != i and train[j] == train[i] and disc[j] == disc[i] and clin[j] == clin[i]:
                    return j
            return i

        best, snap = self.total, self._snapshot()
        per_cycle = max(n_iter // (cycles + 1), 1)
        schedule = []
        for c in range(cycles):
            top = t0 * 0.5**c
            ratio = (t1 / top) ** (1.0 / max(per_cycle - 1, 1))
            schedule.append((top, ratio, per_cycle))
        schedule.append((0.0, 1.0, n_iter - per_cycle * cycles))  # greedy polish
        steps = [_C_STEP * k / max(cycles - 1, 1) for k in range(cycles)] + [_C_STEP]
        for (top, ratio, length), c_step in zip(schedule, steps, strict=True):
            # the fixed cost of a cell beyond tolerance grows from 0 to _C_STEP over the
            # cycles: the first cycle searches a smooth landscape, the last counts failures
            if self.total > best + 1e-9 or c_step != self.c_step:
                if self.total > best + 1e-9:
                    self._restore(snap)
                self.c_step = c_step
                self._restore(self._snapshot())
                best, snap = self.total, self._snapshot()
            for it in range(length):
                temp = top * ratio**it
                if self.total < best - 1e-9:
                    best, snap = self.total, self._snapshot()
                u = rand()
                if u < 0.45:  # one score up or down
                    i, d = avail[int(rand() * len(avail))]
                    step = 1 if rand() < 0.5 else -1
                    if not SCORE_MIN <= y[i][d] + step <= SCORE_MAX:
                        continue
                    y[i][d] += step
                    if not self.propose((i,), temp, r):
                        y[i][d] -= step
                elif u < 0.60:  # move a point between two rows of one group, same domain
                    i, d = avail[int(rand() * len(avail))]
                    j = pick_peer(i)
                    if j == i or not s.mask[j][d] or y[i][d] >= SCORE_MAX or y[j][d] <= SCORE_MIN:
                        continue
                    y[i][d] += 1
                    y[j][d] -= 1
                    if not self.propose((i, j), temp, r):
                        y[i][d] -= 1
                        y[j][d] += 1
                elif u < 0.75:  # swap one domain's scores between two rows of one group
                    i, d = avail[int(rand() * len(avail))]
                    j = pick_peer(i)
                    if j == i or not s.mask[j][d] or y[i][d] == y[j][d]:
                        continue
                    y[i][d], y[j][d] = y[j][d], y[i][d]
                    if not self.propose((i, j), temp, r):
                        y[i][d], y[j][d] = y[j][d], y[i][d]
                elif u < 0.85:  # swap two rows' scores (same missing pattern)
                    pat = patterns[int(rand() * len(patterns))]
                    i = pat[int(rand() * len(pat))]
                    j = pat[int(rand() * len(pat))]
                    if i == j or y[i] == y[j]:
                        continue
                    y[i], y[j] = y[j], y[i]
                    if not self.propose((i, j), temp, r):
                        y[i], y[j] = y[j], y[i]
                elif u < 0.925:  # swap two free rows' training
                    i = free[int(rand() * len(free))]
                    j = free[int(rand() * len(free))]
                    if s.train[i] == s.train[j]:
                        continue
                    s.train[i], s.train[j] = s.train[j], s.train[i]
                    if not self.propose((i, j), temp, r):
                        s.train[i], s.train[j] = s.train[j], s.train[i]
                else:  # swap two rows' discussion codes
                    i = int(rand() * n)
                    j = int(rand() * n)
                    if (s.disc[i], s.clin[i]) == (s.disc[j], s.clin[j]):
                        continue
                    if (s.clin[j] == 1 and not clin_ok[i]) or (s.clin[i] == 1 and not clin_ok[j]):
                        continue
                    s.disc[i], s.disc[j] = s.disc[j], s.disc[i]
                    s.clin[i], s.clin[j] = s.clin[j], s.clin[i]
                    if not self.propose((i, j), temp, r):
                        s.disc[i], s.disc[j] = s.disc[j], s.disc[i]
                        s.clin[i], s.clin[j] = s.clin[j], s.clin[i]
        if self.total > best + 1e-9:
            self._restore(snap)


# =============================================================================================
# Authorities, units and workers
# =============================================================================================
def _structure(state: _State, constraints: _Constraints, rng: np.random.Generator, tries: int = 2000):
    """Place the rows in authorities and units under the documented rules; seeded.

    Returns lists ``authority`` and ``unit`` (one entry per row). Raises ``RuntimeError`` if no
    placement is found in ``tries`` attempts (a bug: the rules are loose enough for any
    state the annealing can reach).
    """
    n = state.n
    prog = TRAINING_LEVELS.index("programme")
    la_names = [f"LA{i}" for i in range(1, 6)]
    for _ in range(tries):
        authority: list[str | None] = [None] * n
        unit: list[str | None] = [None] * n
        ok = True
        for g, cap_la, sup, tag in (
            ("rsw", constraints.la_rsw, constraints.sup_rsw, "RSW"),
            ("usual", constraints.la_usual, constraints.sup_usual, "TEAM"),
        ):
            rows = [i for i in range(n) if state.group[i] == g]
            left = list(cap_la)
            sup_left = list(sup)
            units_in: list[list[list[int]]] = [[] for _ in la_names]
            # observed-discussion rows: one unit per (key, chunk), in an authority that
            # recorded observations of supervision
            keys: dict[tuple, list[int]] = {}
            for i in rows:
                if state.disc[i] >= 0:
                    keys.setdefault((state.disc[i], state.clin[i]), []).append(i)
            clin_las = None
            if g == "rsw":
                pool = [a for a in range(5) if cap_la[a] > 0]
                clin_las = set(int(a) for a in rng.permutation(pool)[:CLINICIAN_AUTHORITIES])
            chunks = []
            for key in sorted(keys):
                members = [keys[key][k] for k in rng.permutation(len(keys[key]))]
                cap = UNIT_CAP[g]
                # at most one programme worker per RSW unit
                pr = [i for i in members if state.train[i] == prog]
                other = [i for i in members if state.train[i] != prog]
                n_units = max(math.ceil(len(members) / cap), len(pr) if g == "rsw" else 0)
                parts: list[list[int]] = [[] for _ in range(n_units)]
                for k, i in enumerate(pr):
                    parts[k].append(i)
                for i in other:
                    k = min(range(n_units), key=lambda k: (len(parts[k]), k))
                    parts[k].append(i)
                chunks += [(key, p) for p in parts if p]
            order = [chunks[k] for k in rng.permutation(len(chunks))]
            for key, part in order:
                feas = [
                    a for a in range(5)
                    if left[a] >= len(part) and sup_left[a] >= 1
                    and not (clin_las is not None and key[1] == 1 and a not in clin_las)
                ]
                if not feas:
                    ok = False
                    break
                a = int(feas[int(rng.integers(len(feas)))])
                left[a] -= len(part)
                sup_left[a] -= 1
                units_in[a].append(part)
            if not ok:
                break
            # rows without an observed discussion fill the rest
            rest = [i for i in rows if state.disc[i] < 0]
            rest = [rest[k] for k in rng.permutation(len(rest))]
            for a in range(5):
                take, rest = rest[: left[a]], rest[left[a]:]
                if not take:
                    continue
                pr = [i for i in take if state.train[i] == prog]
                other = [i for i in take if state.train[i] != prog]
                n_units = max(math.ceil(len(take) / UNIT_CAP[g]), len(pr) if g == "rsw" else 0)
                parts = [[] for _ in range(n_units)]
                for k, i in enumerate(pr):
                    parts[k].append(i)
                for i in other:
                    k = min(range(n_units), key=lambda k: (len(parts[k]), k))
                    parts[k].append(i)
                units_in[a] += [p for p in parts if p]
            for a, parts in enumerate(units_in):
                for k, p in enumerate(parts, start=1):
                    for i in p:
                        authority[i] = la_names[a]
                        unit[i] = f"{la_names[a]}-{tag}{k}"
        if not ok:
            continue
        # KFT: rows sorted by discussion key fill the authorities in order, so that rows with
        # the same key share an authority; one unit per authority and key
        kft = sorted((i for i in range(n) if state.group[i] == "kft"),
                     key=lambda i: (state.disc[i], state.clin[i], i))
        slots = [a for a in range(5) for _ in range(constraints.la_kft[a])]
        per_la: dict[int, dict[tuple, list[int]]] = {}
        for i, a in zip(kft, slots, strict=True):
            per_la.setdefault(a, {}).setdefault((state.disc[i], state.clin[i]), []).append(i)
        for a, groups in per_la.items():
            observed = [k for k in groups if k[0] >= 0]
            if len(observed) > constraints.sup_kft[a]:
                ok = False
            for k, key in enumerate(sorted(groups), start=1):
                for i in groups[key]:
                    authority[i] = la_names[a]
                    unit[i] = f"{la_names[a]}-KFT{k}"
        if ok:
            return authority, unit
    raise RuntimeError("no placement of rows in authorities and units satisfies the rules")


# =============================================================================================
# Build, cache
# =============================================================================================
def _frame(state: _State, authority, unit, t10_moved: list[int], seed: int) -> pd.DataFrame:
    n = state.n
    group_rank = {g: k for k, g in enumerate(GROUP_LEVELS)}
    order = sorted(
        range(n),
        key=lambda i: (authority[i], group_rank[state.group[i]], unit[i], -state.train[i], i),
    )
    width = len(str(n))
    obs = {i: f"O{k:0{width}d}" for k, i in enumerate(order, start=1)}
    wrk = {i: f"W{k:0{width}d}" for k, i in enumerate(order, start=1)}
    recs = []
    for i in order:
        rec = dict(
            observation=obs[i], worker=wrk[i], unit=unit[i], authority=authority[i],
            group=state.group[i], training=TRAINING_LEVELS[state.train[i]],
            discussion=DISCUSSION_LEVELS[state.disc[i]] if state.disc[i] >= 0 else None,
            clinician=state.clin[i] if state.clin[i] >= 0 else None,
        )
        for d, dom in enumerate(DOMAINS):
            rec[dom] = state.y[i][d] if state.mask[i][d] else None
        for dom in EXTRA_DOMAINS:
            rec[dom] = None
        recs.append(rec)
    df = _typed(pd.DataFrame.from_records(recs))
    df.attrs["description"] = DESCRIPTION
    df.attrs["seed"] = seed
    df.attrs["table10_group"] = {obs[i]: ("rsw" if state.g10[i] == 0 else "usual") for i in t10_moved}
    return df


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """The canonical dtypes (``CANONICAL_DTYPES`` of :mod:`pyramid.data.validate`), in schema
    order; skill derived from the domains."""
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col in COLUMNS:
        if col == "skill":
            continue
        dtype = CANONICAL_DTYPES[col]
        if dtype == "Int8":
            out[col] = pd.array(df[col].astype("float64"), dtype="Int8")
        else:
            out[col] = df[col].astype(dtype)
    out["skill"] = out[list(DOMAINS)].astype("float64").mean(axis=1, skipna=True)
    return out


def build(seed: int = DEFAULT_SEED, *, n_iter: int = _N_ITER, chains: int = _CHAINS) -> pd.DataFrame:
    """Build the reconstruction from the published tables by a seeded optimisation.

    **A reconstruction consistent with the published summaries, not the evaluation's data.**
    See the module docstring for every decision and :func:`fit_report` for how close it comes.

    Parameters
    ----------
    seed : int, default DEFAULT_SEED
        Seeds the starting draws, the annealing and the placement in units. The shipped cache
        is ``build(DEFAULT_SEED)``.
    n_iter : int, default 200000
        Annealing moves per chain: three cooling cycles and a greedy polish, a quarter each.
    chains : int, default 6
        Independent chains (different starting draws); the one with the lowest loss is kept.

    Returns
    -------
    pandas.DataFrame
        72 rows in the canonical frame of docs/architecture.md, with ``attrs["description"]``,
        ``attrs["seed"]``, ``attrs["loss"]`` (the objective reached) and
        ``attrs["table10_group"]`` (observations Table 10 analysed with the other group).

    Examples
    --------
    >>> df = build(seed=1, n_iter=20_000, chains=1)  # a short run; the cache uses the defaults
    >>> len(df), int(df["discussion"].notna().sum())
    (72, 22)
    """
    for name, v, low in (("seed", seed, 0), ("n_iter", n_iter, 1), ("chains", chains, 1)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise InputError(f"{name} must be a whole number >= {low}, got {v!r}")
    constraints = _constraints()
    tgts = targets()
    best: tuple[float, _State] | None = None
    for k in range(int(chains)):
        state = _initial_state(constraints, np.random.default_rng([int(seed), k, 0]))
        ann = _Annealer(state, tgts)
        ann.run(int(n_iter), seed=int(seed) * 1000 + k)
        if best is None or ann.total < best[0] - 1e-9:
            best = (ann.total, state)
    loss, state = best
    authority, unit = _structure(state, constraints, np.random.default_rng([int(seed), 0, 1]))
    moved = [i for i in range(state.n) if state.g10[i] >= 0 and
             state.g10[i] != (0 if state.group[i] == "rsw" else 1)]
    df = _frame(state, authority, unit, moved, int(seed))
    df.attrs["loss"] = round(loss, 6)
    return df


def cache_path() -> Path:
    """Where the shipped cache lives (inside the installed package).

    Examples
    --------
    >>> cache_path().name
    'rsw2017.csv'
    """
    return Path(str(resources.files("pyramid.data") / CACHE_NAME))


def write_cache(df: pd.DataFrame, path: str | Path | None = None) -> Path:
    """Write a reconstruction as CSV with a commented header that labels it.

    The header lines start with ``#``: the description, the seed, and the observations that
    Table 10 analysed with the other group (``# table10_group: O26=usual``).

    Examples
    --------
    >>> import tempfile, os
    >>> p = write_cache(read_cache(), os.path.join(tempfile.mkdtemp(), "r.csv"))
    >>> p.read_text(encoding="utf-8").startswith("# rsw2017: a reconstruction")
    True
    """
    path = Path(path) if path is not None else cache_path()
    moved = ",".join(f"{k}={v}" for k, v in sorted(df.attrs.get("table10_group", {}).items()))
    lines = [
        f"# {DESCRIPTION}",
        f"# seed: {df.attrs.get('seed', '')}",
        f"# table10_group: {moved}",
        "# Regenerate with: python -c \"from pyramid.data import reconstruct as r; "
        "r.write_cache(r.build())\"",
    ]
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        df.to_csv(fh, index=False, lineterminator="\n")
    return path


def read_cache(path: str | Path | None = None) -> pd.DataFrame:
    """Read a reconstruction written by :func:`write_cache` into the canonical frame.

    Examples
    --------
    >>> df = read_cache()
    >>> df.attrs["description"].startswith("rsw2017: a reconstruction")
    True
    """
    path = Path(path) if path is not None else cache_path()
    meta = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, sep, val = line[1:].strip().partition(": ")
            if sep and key in ("seed", "table10_group"):
                meta[key] = val
    raw = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, na_values=[""])
    df = _typed(raw)
    df.attrs["description"] = DESCRIPTION
    df.attrs["seed"] = int(meta["seed"]) if meta.get("seed") else None
    moved = meta.get("table10_group", "")
    df.attrs["table10_group"] = dict(p.split("=") for p in moved.split(",") if p)
    return df


def table10_group(frame: pd.DataFrame) -> pd.Series:
    """The group each row was compared in by Table 10 (``rsw``/``usual``; NA for KFT rows).

    Table 1's group, except for the observations in ``frame.attrs["table10_group"]``
    (see :func:`table10_split`); where the frame has lost its ``attrs`` (``validate`` and many
    pandas operations drop them), those of the shipped cache, matched by observation id.

    Examples
    --------
    >>> df = read_cache()
    >>> table10_group(df).value_counts().to_dict()
    {'usual': 41, 'rsw': 26}
    """
    g = frame["group"].astype("str").where(frame["group"].isin(["rsw", "usual"]))
    moved = frame.attrs.get("table10_group")
    if moved is None:  # attrs do not survive every pandas operation (nor validate)
        moved = read_cache().attrs["table10_group"]
    for obs, grp in moved.items():
        g[frame["observation"] == obs] = grp
    return g


# =============================================================================================
# How close it comes
# =============================================================================================
def _members(frame: pd.DataFrame) -> dict[tuple, pd.Series]:
    g10 = table10_group(frame)
    out = {("t10", g): g10 == g for g in ("rsw", "usual")}
    for lv in TRAINING_LEVELS:
        out[("t14", lv)] = frame["training"] == lv
    for lv in DISCUSSION_LEVELS:
        out[("t15d", lv)] = frame["discussion"] == lv
    for c in (0, 1):
        out[("t15c", c)] = frame["clinician"] == c
    out[("kft", None)] = frame["group"] == "kft"
    return {k: v.fillna(False).astype(bool) for k, v in out.items()}


def _values(frame: pd.DataFrame, t: Target, sel: pd.Series) -> pd.Series:
    if t.var == "skill" and t.member[0] == "t10":  # Table 10: complete cases (its df)
        complete = frame[list(DOMAINS)].notna().all(axis=1)
        return frame.loc[sel & complete, "skill"]
    return frame.loc[sel, t.var].dropna().astype("float64")


def _items(frame: pd.DataFrame, t: Target, sel: pd.Series) -> dict[int, int]:
    if t.var != "skill":
        return {1: int(frame.loc[sel, t.var].notna().sum())}
    k = frame.loc[sel, list(DOMAINS)].notna().sum(axis=1)
    if t.member[0] == "t10":
        k = k[k == len(DOMAINS)]
    return {int(a): int(b) for a, b in k.value_counts().items()}


def consistency_checks() -> pd.DataFrame:
    """Sums the report's tables imply, compared where they must agree.

    * ``table14_total``: Table 14's four means times their Ns give the overall-skill total of
      all 72 observations; Table 10 (with the split of :func:`table10_split`) gives that of
      the 67 comparative ones, and the KFT domain means of Part 2 a least value for the 5 KFT
      ones (their two unquoted domains at the bottom of the range read from the text). Each
      total is an interval: every mean lies within half a printed unit.
    * ``table15_total``: the two halves of Table 15 (by discussion quality, by clinician)
      summarise the same 22 workers and must give the same total.

    Returns
    -------
    pandas.DataFrame
        ``check, lhs, lhs_low, lhs_high, rhs, rhs_low, rhs_high, consistent, message``.

    Examples
    --------
    >>> c = consistency_checks().set_index("check")
    >>> bool(c.loc["table15_total", "consistent"])
    False
    """
    h = 0.005
    d = table10_split()
    # Table 14
    t14 = [(published.cell(14, lv, "mean"), int(published.cell(14, lv, "n"))) for lv in TRAINING_LEVELS]
    lhs = sum(m * n for m, n in t14)
    lhs_h = sum(n for _m, n in t14) * h
    # Table 10: complete-case skill plus the incomplete rows' skill (mean of 4 domains)
    rhs = rhs_h = 0.0
    for g in ("rsw", "usual"):
        nc = d.n_domain("skill", g)
        m = published.cell(10, "skill", "mean", g)
        rhs += nc * m
        rhs_h += nc * h
        inc = d.incomplete[g]
        if inc:
            pts = sum(published.cell(10, v, "mean", g) * d.n_domain(v, g) for v in DOMAINS)
            pts_h = sum(d.n_domain(v, g) for v in DOMAINS) * h
            inc_pts = pts - 5 * m * nc
            inc_h = pts_h + 5 * nc * h
            n_missing = sum(d.missing[v][0 if g == "rsw" else 1] for v in DOMAINS)
            k = (5 * inc - n_missing) / inc  # average domains per incomplete row
            rhs += inc_pts / k
            rhs_h += inc_h / k
    n_kft = int(published.cell("kft_domains", "purposefulness", "n"))
    kt = {t.row_key: t for t in targets() if t.member == ("kft", None) and t.stat == "mean"}
    unquoted = [v for v in DOMAINS if v not in kt]
    kft_min = n_kft * sum(
        (kt[v].value - _half(kt[v].decimals)) if v in kt else SCORE_MIN for v in DOMAINS
    ) / len(DOMAINS)
    rhs_min = rhs - rhs_h + kft_min
    rows = [
        dict(
            check="table14_total",
            lhs=lhs, lhs_low=lhs - lhs_h, lhs_high=lhs + lhs_h,
            rhs=rhs + kft_min, rhs_low=rhs_min, rhs_high=math.inf,
            consistent=rhs_min <= lhs + lhs_h,
            message=(
                f"REPORT INCONSISTENCY: Table 14's means and Ns give the 72 observations a total "
                f"overall skill of {lhs:.2f} (at most {lhs + lhs_h:.2f}); Table 10 gives the 67 "
                f"comparative observations {rhs:.2f} (at least {rhs - rhs_h:.2f}) and the KFT "
                f"domain means of Part 2 give the {n_kft} KFT observations at least "
                f"{kft_min:.2f} (even with {' and '.join(unquoted)} at {SCORE_MIN}): together "
                f"at least {rhs_min:.2f}. Table 14's means cannot all be reached together with "
                f"Table 10 and the KFT means; the reconstruction lets the fewest cells give way"
            ),
        )
    ]
    disc = [(published.cell(15, lv, "mean"), int(published.cell(15, lv, "n"))) for lv in DISCUSSION_LEVELS]
    clin = [(published.cell(15, k, "mean"), int(published.cell(15, k, "n"))) for k in ("clinician_no", "clinician_yes")]
    a, ah = sum(m * n for m, n in disc), sum(n for _m, n in disc) * h
    b, bh = sum(m * n for m, n in clin), sum(n for _m, n in clin) * h
    rows.append(
        dict(
            check="table15_total",
            lhs=a, lhs_low=a - ah, lhs_high=a + ah, rhs=b, rhs_low=b - bh, rhs_high=b + bh,
            consistent=(a - ah <= b + bh) and (b - bh <= a + ah),
            message=(
                f"REPORT INCONSISTENCY: Table 15 by discussion quality gives the 22 workers a "
                f"total overall skill of {a:.2f} ({a - ah:.2f} to {a + ah:.2f}); by clinician "
                f"presence {b:.2f} ({b - bh:.2f} to {b + bh:.2f}). The same 22 workers cannot "
                f"give both"
            ),
        )
    )
    return pd.DataFrame(rows)


def fit_report(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every published number the reconstruction targets, beside the reconstruction's value.

    See :func:`pyramid.datasets.reconstruction_report`, which documents the columns.

    Examples
    --------
    >>> rep = fit_report()
    >>> bool(rep.loc[rep.stat.isin(["n", "count", "df"]), "within_precision"].all())
    True
    """
    df = read_cache() if frame is None else frame
    split = table10_split()
    members = _members(df)
    rows = _ReportRows()
    _count_rows(rows, df, members)
    _table10_df_rows(rows, df, split)
    checks = consistency_checks().set_index("check")
    tgts = targets()
    printed_mean = {(t.member, t.var): t.value for t in tgts if t.stat == "mean"}
    for t in tgts:
        _target_row(rows, df, members, t, printed_mean, checks)
    _correlation_row(rows, df)
    recs = rows.recs
    out = pd.DataFrame(recs)
    counts = out["stat"].isin(["count", "n", "df"])
    out.loc[counts, "difference"] = out.loc[counts, "reconstructed"] - out.loc[counts, "value"]
    out.loc[counts, "rounds_to_printed"] = out.loc[counts, "difference"] == 0
    out.loc[counts, "within_precision"] = out.loc[counts, "difference"] == 0
    out.loc[counts, "flag"] = out.loc[counts, "difference"] != 0
    out.loc[counts & out["flag"], "reason"] = "N not matched"
    out["n"] = out["n"].astype("Int64")
    out["rounds_to_printed"] = out["rounds_to_printed"].astype(bool)
    out["within_precision"] = out["within_precision"].astype(bool)
    out["flag"] = out["flag"].astype(bool)
    out.attrs["description"] = DESCRIPTION
    return out


class _ReportRows:
    """The rows of :func:`fit_report`, each with every column (defaults for those not given)."""

    def __init__(self) -> None:
        self.recs: list[dict] = []

    def add(self, **kw) -> None:
        base = dict(
            table="", row="", column="", stat="", printed="", value=math.nan, n=pd.NA,
            reconstructed=math.nan, difference=math.nan, tolerance=0.0, rounds_to_printed=True,
            within_precision=True, grim="", flag=False, reason="", note="",
        )
        base.update(kw)
        self.recs.append(base)


def _count_rows(rows: _ReportRows, df: pd.DataFrame, members: pd.DataFrame) -> None:
    """The published Ns and counts (Tables 1, 2, 14, 15, 23, the crosstab, the KFT domains)."""
    t1 = published.table(1)
    for r in t1[t1.row_key == "observations"].itertuples():
        if r.group_key == "total":
            got = int(df["group"].isin(["rsw", "usual"]).sum())
        else:
            g, _, la = r.group_key.partition(":")
            sel = df["group"] == g
            if la != "subtotal":
                sel &= df["authority"] == la.upper()
            got = int(sel.sum())
        rows.add(table="1", row=r.row, column=f"{r.group}: {r.column}".strip(": "), stat="count",
            printed=r.printed, value=r.value, reconstructed=got)
    t2 = published.table(2)
    for r in t2[t2.row_key == "practice_observations"].itertuples():
        sel = df["group"] == "kft"
        if r.group_key != "total":
            sel &= df["authority"] == r.group_key.upper()
        rows.add(table="2", row=r.row, column=r.column, stat="count", printed=r.printed,
            value=r.value, reconstructed=int(sel.sum()))
    for lv in TRAINING_LEVELS:
        t = published.table(14)
        r = t[(t.row_key == lv) & (t.stat == "n")].iloc[0]
        rows.add(table="14", row=r.row, column=r.column, stat="n", printed=r.printed, value=r.value,
            reconstructed=int((df["training"] == lv).sum()))
    t15 = published.table(15)
    for r in t15[t15.stat == "n"].itertuples():
        rows.add(table="15", row=r.row, column=r.column, stat="n", printed=r.printed, value=r.value,
            reconstructed=int(members[_T15_MEMBERS[r.row_key]].sum()), note=r.note)
    ct = published.table("crosstab")
    for r in ct.itertuples():
        sel = df["discussion"] == r.row_key
        if r.stat == "count":
            sel &= df["clinician"] == 1
        rows.add(table="crosstab", row=r.row, column=r.column, stat=r.stat, printed=r.printed,
            value=r.value, reconstructed=int(sel.fillna(False).sum()))
    t23 = published.table(23)
    for r in t23.itertuples():
        sel = {
            "programme": (df["group"] == "rsw") & (df["training"] == "programme"),
            "rsw_unit": (df["group"] == "rsw") & (df["training"] != "programme"),
            "usual": df["group"] == "usual",
        }[r.row_key]
        rows.add(table="23", row=r.row, column=r.column, stat="count", printed=r.printed,
            value=r.value, reconstructed=int(sel.sum()))
    kd = published.table("kft_domains")
    for r in kd[kd.stat == "n"].itertuples():
        rows.add(table="kft_domains", row=r.row, column=r.column, stat="n", printed=r.printed,
            value=r.value, reconstructed=int(df.loc[df["group"] == "kft", r.row_key].notna().sum()))


def _table10_df_rows(rows: _ReportRows, df: pd.DataFrame, split: Table10Split) -> None:
    """Table 10's df against the reconstruction's Ns under the split it implies."""
    t10 = published.table(10)
    g10 = table10_group(df)
    if split.moved > 0:
        moved_txt = f"{split.moved} of Table 1's RSW observation(s) compared with the usual group"
    elif split.moved < 0:
        moved_txt = f"{-split.moved} of Table 1's usual observation(s) compared with the RSW group"
    else:
        moved_txt = "Table 1's split"
    split_note = (
        f"Table 10 prints df, not Ns. All its means and SDs are reachable only with "
        f"{split.n['rsw']} RSW and {split.n['usual']} usual observations ({moved_txt}), with "
        + ", ".join(
            f"{a + b} {v.replace('_', ' ')} score(s) missing"
            for v, (a, b) in split.missing.items() if a + b
        )
        + " (see pyramid.data.reconstruct.table10_split)"
    )
    for r in t10[t10.stat == "df"].itertuples():
        var = r.row_key
        if var == "skill":
            complete = df[list(DOMAINS)].notna().all(axis=1)
            nn = int((g10.notna() & complete).sum())
        else:
            nn = int((g10.notna() & df[var].notna()).sum())
        rows.add(table="10", row=r.row, column="df", stat="df", printed=r.printed, value=r.value,
            reconstructed=nn - 2, note=split_note)


def _target_row(rows: _ReportRows, df: pd.DataFrame, members: pd.DataFrame, t: Target,
                printed_mean: dict, checks: pd.DataFrame) -> None:
    """One published mean, SD or band against the reconstruction, with GRIM / GRIMMER."""
    sel = members[t.member]
    vals = _values(df, t, sel)
    n = len(vals)
    items = _items(df, t, sel)
    base = dict(table=t.table, row=t.row, column=t.column, stat=t.stat, printed=t.printed,
                value=t.value, n=n, note=t.note)
    if t.stat == "band":
        m = float(vals.mean())
        inside = bool(t.lo <= m <= t.hi)
        rows.add(**base, reconstructed=m, tolerance=0.0, rounds_to_printed=inside,
            within_precision=inside, flag=not inside,
            reason="" if inside else f"outside the range read from the text ({t.lo:.2f} to {t.hi:.2f})")
        return
    x = float(vals.mean()) if t.stat == "mean" else float(vals.std(ddof=1))
    diff = x - t.value
    rounds = abs(diff) <= _half(t.decimals)
    within = abs(diff) <= t.tolerance + 1e-9
    reasons = []
    composition = (
        "" if set(items) <= {1}
        else " (every row scoring all 5 domains)" if set(items) == {5}
        else " (" + ", ".join(f"{c} row(s) of {k} domains" for k, c in sorted(items.items())) + ")"
    )
    if t.stat == "mean":
        ok = grim_consistent(t.value, n, t.decimals, items=items)
        grim = "consistent" if ok else "GRIM-impossible"
        if not ok:
            lo_m, hi_m = _nearest_means(t.value, n, items)
            reasons.append(
                f"GRIM-impossible with n = {n}{composition}: no such mean rounds to "
                f"{t.printed} (nearest reachable: {lo_m:.4f}, {hi_m:.4f})"
            )
        if t.table == "10":
            n1 = int(published.cell(1, "observations", "count", f"{t.group_key}:subtotal"))
            ok1 = grim_consistent(t.value, n1, t.decimals, items=5 if t.var == "skill" else 1)
            base["note"] = (
                f"with Table 1's n = {n1}: "
                + ("GRIM-consistent" if ok1 else "GRIM-impossible")
                + f"; reconstruction compares the Table 10 split (n = {n})"
            )
    else:
        mean_t = printed_mean[(t.member, t.var)]
        if n < 2:
            grim = "not tested (fewer than 2 rows)"
        elif set(items) <= {1} or set(items) == {5}:
            it = next(iter(items)) if items else 1
            ok = grimmer_consistent(mean_t, t.value, n, items=it)
            grim = "consistent" if ok else "GRIMMER-impossible"
            if not ok:
                reasons.append(
                    f"GRIMMER-impossible with n = {n}{composition}: no such scores have both "
                    f"the printed mean and this SD"
                    + (" (the mean itself is GRIM-impossible)"
                       if not grim_consistent(mean_t, n, items=it) else "")
                )
        else:
            grim = f"not tested{composition}"
    if not within:
        if t.stat == "mean" and t.table == "14" and not checks.loc["table14_total", "consistent"]:
            reasons.append(checks.loc["table14_total", "message"])
        elif t.stat == "mean" and t.table == "15" and not checks.loc["table15_total", "consistent"]:
            reasons.append(checks.loc["table15_total", "message"])
        elif not reasons:
            reasons.append(
                "not reached together with the other targets by the optimisation "
                "(whole-number scores; the same rows serve several tables)"
            )
    rows.add(**base, reconstructed=x, difference=diff, tolerance=t.tolerance,
        rounds_to_printed=rounds, within_precision=within, grim=grim, flag=not within,
        reason="; ".join(reasons))


def _correlation_row(rows: _ReportRows, df: pd.DataFrame) -> None:
    """The correlation quoted with Table 15 (not a target: it follows from the table)."""
    obs = df["discussion"].notna()
    code = df.loc[obs, "discussion"].cat.codes.astype("float64")
    r_rec = float(np.corrcoef(code, df.loc[obs, "skill"])[0, 1])
    r_pub = published.table("correlations")
    rr = r_pub[(r_pub.row_key == "discussion") & (r_pub.stat == "r")].iloc[0]
    tol = 10.0 ** (-_decimals(rr.printed))
    rows.add(table="correlations", row=rr.row, column="r", stat="r", printed=rr.printed,
        value=rr.value, n=int(obs.sum()), reconstructed=r_rec, difference=r_rec - rr.value,
        tolerance=0.01, rounds_to_printed=abs(r_rec - rr.value) <= tol / 2,
        within_precision=abs(r_rec - rr.value) <= 0.01 + 1e-12, flag=abs(r_rec - rr.value) > 0.01,
        reason="" if abs(r_rec - rr.value) <= 0.01 else "follows from Table 15's means and SDs",
        note="not a target of the optimisation: Pearson r of the discussion code (0, 1, 2) with "
        "skill over the 22 workers, a check")
