"""The HTML report: one self-contained file about a fitted model, for an evaluator to share.

:func:`report` turns a :class:`~pyramid.results.FitResult` (or a results file) into one HTML file
with everything embedded: the figure as a base64 PNG, the style sheet inline, no script, no
font, no link that needs the network (a ``Content-Security-Policy`` in the file tells a browser
to load nothing from anywhere). It holds

* **the data**: what they are (a reconstruction, simulated, or as supplied), the sample, and
  descriptive tables by authority, unit and factor, with **small cells suppressed**
  (:func:`data_tables`);
* **the model and its priors in words**, generated from the spec and the prior set
  (:func:`model_description`, :func:`prior_table`), and what the priors imply for skill;
* **the convergence checks**, with what to do when one fails;
* **the comparison table** (:func:`pyramid.compare`);
* **Figure 4** with the model's effects (:func:`pyramid.plot_figure4`);
* **the caveats**: the data's origin, the observational design, the sample's size, what the
  model assumes; and the provenance of the fit.

Small cells
-----------
As official statistics do, a descriptive count of observations or workers from 1 to
``min_cell - 1`` is shown as ``<5`` (for ``min_cell=5``), and a mean or SD of skill from fewer
than ``min_cell`` observations or workers is withheld, because such cells can identify families
and workers. A suppressed count could still be worked out from a printed total by subtraction;
:func:`protect` therefore suppresses further cells (*secondary suppression*, shown ``[c]``)
until no suppressed value can be computed exactly from the printed numbers: not from one total
(each total with a hidden part has at least two, together at least ``min_cell``, and the ``<5``
bounds do not pin any of them), nor from any combination of the tables' totals (a rank test of
the linear system the printed totals form). Counts of authorities and units are counts of
organisations, not of people, and are shown as they are. Model estimates (the comparisons and
the figure's model panel) are not descriptive cells and are not suppressed; the report flags
the factor levels with fewer than ``min_cell`` observations behind them.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import time
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyramid.checks import check_prob
from pyramid.data import schema
from pyramid.errors import InputError

__all__ = [
    "report",
    "Report",
    "data_tables",
    "DataTables",
    "protect",
    "describe_prior",
    "prior_table",
    "model_description",
    "data_origin",
    "ORIGINS",
]

#: What the data behind a result can be (``data_label`` of :func:`report`).
ORIGINS: dict[str, str] = {
    "reconstructed": "a RECONSTRUCTION: rsw2017, observation-level scores rebuilt to be "
    "consistent with the published summaries of DFE-RR588, not the evaluation's data, which "
    "are not public. Any result below illustrates the method; it is not a finding about the "
    "services that were evaluated.",
    "simulated": "SIMULATED data (pyramid.simulate or similar), drawn from a model with known "
    "effects. Any result below describes the simulation, not real practice.",
    "observed": "the data as supplied to pyramid.fit, reported as real observations of "
    "practice (pyramid cannot check this: pass data_label='simulated' or 'reconstructed' "
    "when they are not).",
}

#: Observation ids as :func:`pyramid.simulate` writes them (``A01-U02-W3-O1``).
_SIMULATED_ID = re.compile(r"^A\d+-U\d+-W\d+-O\d+$")

_MISSING_WORD = {"discussion": "not observed", "clinician": "not observed"}
_FACTORS = ("group", "training", "discussion", "clinician")


# --------------------------------------------------------------------------------------------
# small-cell protection
# --------------------------------------------------------------------------------------------
Relation = tuple[Hashable, Sequence[Hashable]]


def _check_min_cell(min_cell: Any) -> int:
    if isinstance(min_cell, bool) or not isinstance(min_cell, int | np.integer):
        raise InputError(f"min_cell must be a whole number (1 turns suppression off, or 3 or "
                         f"more), got {min_cell!r}")
    if min_cell < 1 or min_cell == 2:
        raise InputError(
            f"min_cell must be 1 (suppression off) or a whole number >= 3 (a cell shown as "
            f"'<2' could only be 1, which protects nothing), got {min_cell!r}"
        )
    return int(min_cell)


def _relation_issue(total, parts, hidden, primary, sizes, m, bounded) -> bool:
    """Whether one additive relation gives a hidden value away, or a small pool of them.

    A quick check, relation by relation, before the audit of all of them together
    (:func:`_disclosed`), which would find the same cells more slowly.
    """
    h = [k for k in (total, *parts) if k in hidden]
    if not h:
        return False
    if len(h) == 1:
        return True  # the one hidden member = total - shown parts (or the sum of the parts)
    if total in hidden:
        return False  # the total is unknown: this relation alone gives nothing exact
    hidden_parts = [k for k in parts if k in hidden]
    pooled = sizes[total] - sum(sizes[k] for k in parts if k not in hidden)
    if 0 < pooled < m:
        return True  # the hidden parts together are a small cell
    if not bounded:
        return False
    # the bounds a reader knows: "<m" is 1 to m-1, "[c]" m or more
    small = [k in primary and 0 < sizes[k] < m for k in hidden_parts]
    lb = sum(1 if sm else m for sm in small)
    ub = sum(m - 1 if sm else math.inf for sm in small)
    return pooled in (lb, ub)  # every hidden part at its lower (upper) bound: all known


def _components(hidden: set, relations: Sequence[Relation]) -> list[list[Relation]]:
    """The relations touching hidden cells, grouped by the hidden cells they share."""
    parent: dict = {k: k for k in hidden}

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    touching = []
    for total, parts in relations:
        h = [k for k in (total, *parts) if k in hidden]
        if h:
            touching.append((total, parts, h))
            for k in h[1:]:
                parent[find(k)] = find(h[0])
    groups: dict = {}
    for total, parts, h in touching:
        groups.setdefault(find(h[0]), []).append((total, parts))
    return list(groups.values())


def _ranges(order: list, a: np.ndarray, b: np.ndarray, lb: np.ndarray, ub: np.ndarray):
    """Smallest and largest whole-number value of each cell under ``a x = b`` and the bounds
    (scipy's HiGHS integer programs); ``None`` where the solver gives no answer."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    cons = LinearConstraint(a, b, b)
    integ = np.ones(len(order))
    out = []
    for i in range(len(order)):
        c = np.zeros(len(order))
        c[i] = 1.0
        lo = milp(c, integrality=integ, bounds=Bounds(lb, ub), constraints=cons)
        hi = milp(-c, integrality=integ, bounds=Bounds(lb, ub), constraints=cons)
        ok = lo.status == 0 and hi.status == 0
        out.append((round(lo.fun), round(-hi.fun)) if ok else None)
    return out


def _disclosed(hidden: set, primary: set, relations: Sequence[Relation], sizes: Mapping,
               m: int, bounded: bool, cache: dict) -> list:
    """Hidden cells whose values a reader can work out exactly from the printed numbers.

    Exactly from the printed totals alone when the cell's unit vector lies in the row space of
    the system the totals form (a rank test). With ``bounded`` also from the bounds a reader
    knows (a cell shown as ``<m`` holds 1 to m-1; one hidden to protect it, ``[c]``, m or
    more): the smallest and largest whole number the cell can be under every printed total
    at once are equal. The system splits into independent blocks (the hidden cells that share
    totals), each solved once and cached.
    """
    out = []
    for block in _components(hidden, relations):
        order = sorted({k for t, ps in block for k in (t, *ps) if k in hidden}, key=repr)
        pos = {k: i for i, k in enumerate(order)}
        a = np.zeros((len(block), len(order)))
        b = np.zeros(len(block))
        for r, (total, parts) in enumerate(block):
            for k, coef in ((total, 1.0), *((q, -1.0) for q in parts)):
                if k in pos:
                    a[r, pos[k]] += coef
                else:
                    b[r] -= coef * sizes[k]
        # what a reader knows: "<m" is 1 to m-1; "[c]" (hidden to protect a small cell: always
        # a shown non-zero part, so m or more) is m or more; anything else hidden, 0 or more
        small = [k in primary and 0 < sizes[k] < m for k in order]
        lb = np.array([1.0 if sm else float(m) if k not in primary else 0.0
                       for k, sm in zip(order, small, strict=True)])
        ub = np.array([m - 1.0 if sm else np.inf for sm in small])
        key = (tuple(map(repr, order)), a.tobytes(), b.tobytes(), lb.tobytes(), ub.tobytes(),
               bounded)
        if key not in cache:
            # x_i is fixed by a x = b exactly when e_i is in the row space of a, i.e. when
            # every vector of a's null space is 0 at i
            from scipy.linalg import null_space

            ns = null_space(a)
            found = [k for k, row in zip(order, ns, strict=True) if np.all(np.abs(row) < 1e-9)]
            if not found and bounded:
                found = [k for k, r in zip(order, _ranges(order, a, b, lb, ub), strict=True)
                         if r is not None and r[0] == r[1]]
            cache[key] = found
        out.extend(cache[key])
    return out


def _candidate(relations_of: list[Relation], hidden: set, sizes: Mapping) -> Hashable | None:
    """The cell to hide next for a relation: the smallest non-zero shown part, else the total."""
    parts = [(sizes[k], repr(k), k) for _, ps in relations_of for k in ps
             if k not in hidden and sizes[k] > 0]
    if parts:
        return min(parts)[2]
    totals = [(sizes[t], repr(t), t) for t, _ in relations_of if t not in hidden and sizes[t] > 0]
    return min(totals)[2] if totals else None


def protect(
    sizes: Mapping[Hashable, int],
    relations: Sequence[Relation] = (),
    min_cell: int = 5,
    *,
    initial: Iterable[Hashable] = (),
    bounded: bool = True,
) -> tuple[frozenset, frozenset]:
    """Primary and secondary suppression of cells linked by additive totals.

    A cell is a count (or, for means, a sum) with a key. Primary suppression hides every cell
    whose size is from 1 to ``min_cell - 1`` (and the ``initial`` cells). Secondary suppression
    then hides further cells, one at a time, the smallest non-zero part of an offending total
    first, until

    * no printed total has exactly one hidden part, and the hidden parts of a printed total
      add up to ``min_cell`` or more;
    * no hidden cell can be computed exactly from all the printed totals together (a rank
      test of the linear system they form);
    * with ``bounded``, not even with the bounds a reader knows (a cell shown as ``<5`` holds
      1 to 4, a secondary one 5 or more): the smallest and largest whole number each hidden
      cell can be, under every printed total at once, differ (integer programs solved by
      scipy's HiGHS).

    Parameters
    ----------
    sizes : mapping
        Key -> size (a count of observations or workers, >= 0).
    relations : sequence of (total, parts)
        Additive relations ``sizes[total] == sum(sizes[p] for p in parts)`` that the printed
        tables show.
    min_cell : int, default 5
        Smallest size shown; 1 turns suppression off.
    initial : iterable of keys, optional
        Cells to hide whatever their size (e.g. the means of cells whose count is hidden).
    bounded : bool, default True
        Whether readers know the bounds of a hidden cell (true for counts shown as ``<5``).

    Returns
    -------
    primary, secondary : frozenset
        The keys hidden because they are small (or ``initial``), and those hidden to protect
        them.

    Examples
    --------
    A total of 12 split 3 + 9: showing ``<5`` and 9 beside the total would give the 3 away.

    >>> p, s = protect({"all": 12, "a": 3, "b": 9}, [("all", ["a", "b"])])
    >>> sorted(p), sorted(s)
    (['a'], ['b'])
    """
    m = _check_min_cell(min_cell)
    unknown = [k for r in relations for k in (r[0], *r[1]) if k not in sizes]
    if unknown:
        raise InputError(f"relations name cells without a size: {unknown[:5]}")
    primary = {k for k, n in sizes.items() if 0 < int(n) < m} | set(initial)
    if m == 1:
        return frozenset(primary), frozenset()
    hidden = set(primary)
    relations = [(t, list(ps)) for t, ps in relations]
    cache: dict = {}
    while True:
        add = set()
        for total, parts in relations:
            if _relation_issue(total, parts, hidden, primary, sizes, m, bounded):
                k = _candidate([(total, parts)], hidden, sizes)
                if k is not None:
                    hidden.add(k)  # at once: the next relations see it
                    add.add(k)
        if not add:
            for k in _disclosed(hidden, primary, relations, sizes, m, bounded, cache):
                c = _candidate([(t, ps) for t, ps in relations if k == t or k in ps],
                               hidden | add, sizes)
                if c is not None:
                    add.add(c)
        if not add:
            break
        hidden |= add
    return frozenset(primary), frozenset(hidden - primary)


# --------------------------------------------------------------------------------------------
# the data tables
# --------------------------------------------------------------------------------------------
@dataclass
class DataTables:
    """The report's descriptive tables, with small cells suppressed.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        ``sample`` (the sample in numbers), ``authorities``, ``units``, ``factors`` (each level
        of group, training, discussion and clinician) and, where the data have them,
        ``crosstab`` (observations by clinician and discussion) and ``missing`` (missing
        domain scores). Every cell is a string as printed: ``<5`` a suppressed small count,
        ``[c]`` a count suppressed so that a small one cannot be worked out, ``[<5]`` a mean
        or SD withheld because it comes from fewer than ``min_cell`` observations or workers,
        ``[c]`` in a mean column one withheld so that such a mean cannot be worked out.
    min_cell : int
    counts : dict of str to int
        ``primary`` and ``secondary`` (suppressed counts), ``means_withheld`` and
        ``means_secondary`` (withheld means; their SDs are withheld with them), ``cells`` (every
        count printed or suppressed).
    small_levels : dict of str to list
        Factor -> levels with 1 to ``min_cell - 1`` observations; ``empty_levels`` those with
        none.
    empty_levels : dict of str to list
    """

    tables: dict[str, pd.DataFrame]
    min_cell: int
    counts: dict[str, int]
    small_levels: dict[str, list[str]] = field(default_factory=dict)
    empty_levels: dict[str, list[str]] = field(default_factory=dict)

    def statement(self) -> str:
        """What was suppressed, in one paragraph (as the report prints it).

        Returns
        -------
        str
        """
        c, m = self.counts, self.min_cell
        if m == 1:
            return ("Small-cell suppression was turned off (min_cell=1): every count, mean and "
                    "SD is printed. Do not share this report outside the team that holds the "
                    "data.")
        return (
            f"Small cells are suppressed, as official statistics do, because they can identify "
            f"families and workers: a count of observations or workers from 1 to {m - 1} is "
            f"shown as <{m}, and a mean or SD of skill from fewer than {m} observations or "
            f"workers is withheld ([<{m}]). Further cells are suppressed ([c]) wherever a "
            f"hidden value could otherwise be worked out from a printed total, by subtraction "
            f"or from the <{m} bounds. Of {c['cells']} counts, {c['primary']} were suppressed "
            f"as small and {c['secondary']} to protect them; {c['means_withheld']} means (with "
            f"their SDs) were withheld as small and {c['means_secondary']} to protect them. "
            f"Numbers of authorities and units are counts of organisations, not of people, and "
            f"are shown as they are."
        )


def _level_label(factor: str, level: Any) -> str:
    if level is None:
        return _MISSING_WORD.get(factor, "missing")
    if factor == "clinician":
        return {0: "no", 1: "yes"}[int(level)]
    return str(level)


def _canonical(data: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    from pyramid.data.validate import is_canonical, validate

    if is_canonical(data):
        return data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a summary of rows, not a fit: the validator's notes
        return validate(data)            # about models do not apply here


def _fmt_mean(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.2f}"


def data_tables(
    data: pd.DataFrame, *, min_cell: int = 5, pseudonymise: bool = False,
    dropped: Mapping[str, int] | None = None,
) -> DataTables:
    """Descriptive tables of observation data with small cells suppressed.

    Counts of observations and workers by authority, unit and factor level, with the mean and
    SD of overall skill in each, as the report prints them. Counts from 1 to ``min_cell - 1``
    are shown as ``<5``; means and SDs from fewer than ``min_cell`` observations or workers are
    withheld; further cells are suppressed (:func:`protect`) so that no hidden value can be
    worked out from the printed totals.

    Parameters
    ----------
    data : pandas.DataFrame
        Observations (canonical, or validated here).
    min_cell : int, default 5
        Smallest count shown; 1 turns suppression off (never for a report to share).
    pseudonymise : bool, default False
        Print authorities and units as ``Authority 1``, ``Unit 1.2`` instead of their ids.
    dropped : mapping, optional
        Rows a model left out, by the column that was missing (``FitResult.dropped``); shown
        in the ``sample`` table, small counts suppressed.

    Returns
    -------
    DataTables

    Examples
    --------
    A unit of 3 workers: its count is shown as ``<5`` and its mean withheld; the other unit of
    its authority is suppressed too, or the 3 would be the authority's total minus it.

    >>> import pandas as pd
    >>> rows = [("u1", 3), ("u2", 6), ("u3", 6)]
    >>> df = pd.DataFrame([
    ...     {"observation": f"{u}-{i}", "worker": f"{u}-{i}", "unit": u,
    ...      "authority": "A" if u != "u3" else "B", "training": "none", "empathy": 3}
    ...     for u, n in rows for i in range(n)])
    >>> t = data_tables(df)
    >>> t.tables["units"][["unit", "workers", "mean skill"]].to_string(index=False)
    'unit workers mean skill\\n  u1      <5       [<5]\\n  u2     [c]        [c]\\n  u3       6       3.00'
    >>> t.counts["primary"], t.counts["secondary"]
    (2, 2)
    """
    m = _check_min_cell(min_cell)
    df = _canonical(data)
    n_rows = len(df)
    if n_rows == 0:
        raise InputError("data_tables needs at least one row, got an empty frame")
    auths = sorted(df["authority"].astype(str).unique())
    units = (df.assign(authority=df["authority"].astype(str), unit=df["unit"].astype(str))
             .groupby("unit", sort=False)["authority"].first())
    units = units.loc[sorted(units.index, key=lambda u: (auths.index(units[u]), u))]
    if pseudonymise:
        a_name = {a: f"Authority {i + 1}" for i, a in enumerate(auths)}
        u_name, seen = {}, {}
        for u, a in units.items():
            seen[a] = seen.get(a, 0) + 1
            u_name[u] = f"Unit {auths.index(a) + 1}.{seen[a]}"
    else:
        a_name = {a: a for a in auths}
        u_name = {u: u for u in units.index}

    # ---- the cells: key -> row mask ----
    masks: dict[Hashable, np.ndarray] = {("all",): np.ones(n_rows, dtype=bool)}
    auth_col, unit_col = df["authority"].astype(str).to_numpy(), df["unit"].astype(str).to_numpy()
    for a in auths:
        masks[("authority", a)] = auth_col == a
    for u in units.index:
        masks[("unit", u)] = unit_col == u
    rel_groups: list[Relation] = [(("all",), [("authority", a) for a in auths])]
    rel_groups += [(("authority", a), [("unit", u) for u in units.index if units[u] == a])
                   for a in auths]
    factor_levels: dict[str, list] = {}
    for f in _FACTORS:
        if f not in df.columns or df[f].isna().all() and f in ("group",):
            continue
        s = df[f]
        levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else [0, 1]
        # "missing" / "not observed" only where some rows are: a row of zeros tells nothing
        lv = [*levels, None] if s.isna().any() else list(levels)
        factor_levels[f] = lv
        for level in lv:
            masks[("factor", f, level)] = (s.isna() if level is None else (s == level)).fillna(
                False).to_numpy(dtype=bool)
        rel_groups.append((("all",), [("factor", f, level) for level in lv]))
    rel_cross: list[Relation] = []
    cross = ("clinician" in factor_levels and "discussion" in factor_levels
             and df["clinician"].notna().any() and df["discussion"].notna().any())
    if cross:
        for c in factor_levels["clinician"]:
            for d in factor_levels["discussion"]:
                masks[("x", c, d)] = masks[("factor", "clinician", c)] & masks[("factor", "discussion", d)]
        for c in factor_levels["clinician"]:
            rel_cross.append((("factor", "clinician", c),
                              [("x", c, d) for d in factor_levels["discussion"]]))
        for d in factor_levels["discussion"]:
            rel_cross.append((("factor", "discussion", d),
                              [("x", c, d) for c in factor_levels["clinician"]]))

    worker = df["worker"].astype(str).to_numpy()
    skill = df["skill"].to_numpy(dtype=float, na_value=np.nan)
    n_obs = {k: int(v.sum()) for k, v in masks.items()}
    grouped = {k: v for k, v in masks.items() if k[0] != "x"}
    n_wrk = {k: len(set(worker[v])) for k, v in grouped.items()}
    n_skill = {k: int(np.isfinite(skill[v]).sum()) for k, v in grouped.items()}

    # ---- suppression: observation counts, worker counts, then means (sums of skill) ----
    prim_o, sec_o = protect(n_obs, rel_groups + rel_cross, m)
    prim_w, sec_w = protect(n_wrk, rel_groups, m)
    small_mean = {k for k in grouped if 0 < n_skill[k] < m}
    hidden_counts = {k for k in grouped if k in prim_o | sec_o | prim_w | sec_w and n_skill[k] > 0}
    prim_s, sec_s = protect(n_skill, rel_groups, m, initial=small_mean | hidden_counts,
                            bounded=False) if m > 1 else (frozenset(), frozenset())

    def count(k, sizes, prim, sec) -> str:
        if k in prim:
            return f"<{m}"
        if k in sec:
            return "[c]"
        return str(sizes[k])

    def mean_sd(k) -> tuple[str, str]:
        if k in sec_s and k not in hidden_counts and k not in small_mean:
            return "[c]", "[c]"
        if k in prim_s or k in sec_s:
            return (f"[<{m}]", f"[<{m}]") if (k in small_mean or k in prim_o or k in prim_w) \
                else ("[c]", "[c]")
        v = skill[masks[k]]
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else np.nan
        sd = float(v.std(ddof=1)) if v.size > 1 else np.nan
        return _fmt_mean(mean), _fmt_mean(sd)

    def row(k) -> dict:
        mean, sd = mean_sd(k)
        return {"workers": count(k, n_wrk, prim_w, sec_w),
                "observations": count(k, n_obs, prim_o, sec_o), "mean skill": mean, "SD": sd}

    tables: dict[str, pd.DataFrame] = {}
    per_worker = df.groupby(df["worker"].astype(str), sort=False).size()
    all_mean, all_sd = mean_sd(("all",))
    sample = [
        ("observations (rows used)", count(("all",), n_obs, prim_o, sec_o)),
        ("workers", count(("all",), n_wrk, prim_w, sec_w)),
        ("units", str(len(units))),
        ("authorities", str(len(auths))),
        ("observations per worker (min, median, max)",
         f"{per_worker.min()}, {per_worker.median():g}, {per_worker.max()}"),
        (f"units with fewer than {m} observed workers" if m > 1 else
         "units with one observed worker",
         str(int(sum(n_wrk[("unit", u)] < max(m, 2) for u in units.index)))),
        ("mean skill (SD)", f"{all_mean} ({all_sd})"),
    ]
    n_small_prim = 0
    if dropped is not None:
        total_dropped = sum(int(v) for v in dropped.values())
        if total_dropped:
            for col, v in dropped.items():
                v = int(v)
                shown = f"<{m}" if 0 < v < m else str(v)
                n_small_prim += 0 < v < m
                sample.append((f"rows left out: {col} missing", shown))
    tables["sample"] = pd.DataFrame(sample, columns=["quantity", "value"])
    tables["authorities"] = pd.DataFrame([
        {"authority": a_name[a], "units": str(int((units == a).sum())),
         **row(("authority", a))} for a in auths] + [
        {"authority": "all", "units": str(len(units)), **row(("all",))}])
    tables["units"] = pd.DataFrame([
        {"authority": a_name[units[u]], "unit": u_name[u], **row(("unit", u))}
        for u in units.index])
    frows = []
    for f, lv in factor_levels.items():
        for level in lv:
            frows.append({"factor": f, "level": _level_label(f, level),
                          **row(("factor", f, level))})
    tables["factors"] = pd.DataFrame(frows)
    if cross:
        crows = []
        for c in factor_levels["clinician"]:
            r = {"clinician": _level_label("clinician", c)}
            for d in factor_levels["discussion"]:
                r[_level_label("discussion", d)] = count(("x", c, d), n_obs, prim_o, sec_o)
            r["all"] = count(("factor", "clinician", c), n_obs, prim_o, sec_o)
            crows.append(r)
        r = {"clinician": "all"}
        for d in factor_levels["discussion"]:
            r[_level_label("discussion", d)] = count(("factor", "discussion", d), n_obs, prim_o,
                                                     sec_o)
        r["all"] = count(("all",), n_obs, prim_o, sec_o)
        crows.append(r)
        tables["crosstab"] = pd.DataFrame(crows)
    miss = []
    for d in schema.DOMAINS:
        if d in df.columns:
            v = int(df[d].isna().sum())
            n_small_prim += 0 < v < m
            miss.append({"domain": d, "missing scores": f"<{m}" if 0 < v < m else str(v)})
    if miss:
        tables["missing"] = pd.DataFrame(miss)

    small_levels = {f: [_level_label(f, lv) for lv in levels if lv is not None
                        and 0 < n_obs[("factor", f, lv)] < m]
                    for f, levels in factor_levels.items()}
    empty_levels = {f: [_level_label(f, lv) for lv in levels if lv is not None
                        and n_obs[("factor", f, lv)] == 0]
                    for f, levels in factor_levels.items()}
    n_cells = len(n_obs) + len(n_wrk) + len(miss) + (len(dropped or {}))
    counts = {
        "cells": n_cells,
        "primary": len(prim_o) + len(prim_w) + n_small_prim,
        "secondary": len(sec_o) + len(sec_w),
        "means_withheld": len(prim_s),
        "means_secondary": len(sec_s),
    }
    return DataTables(tables=tables, min_cell=m, counts=counts,
                      small_levels={k: v for k, v in small_levels.items() if v},
                      empty_levels={k: v for k, v in empty_levels.items() if v})


# --------------------------------------------------------------------------------------------
# the model and priors in words
# --------------------------------------------------------------------------------------------
def _q(x: float) -> str:
    return f"{x:.3g}"


def describe_prior(prior: Any, unit: str = "") -> str:
    """A prior distribution in words: its name, parameters and where most of its mass lies.

    Parameters
    ----------
    prior : PriorDist
        From a prior set (:func:`pyramid.load_priors`).
    unit : str, optional
        Unit of the values (``"skill points"``), appended to the interval.

    Returns
    -------
    str

    Examples
    --------
    >>> from pyramid.specs import PriorDist
    >>> describe_prior(PriorDist("Normal", {"mu": 0.0, "sigma": 0.5}), "skill points")
    'Normal(mu=0, sigma=0.5): 95 % between -0.98 and 0.98 skill points'
    >>> describe_prior(PriorDist("HalfNormal", {"sigma": 0.4}))
    'HalfNormal(sigma=0.4): 95 % below 0.784, median 0.27'
    """
    from scipy import stats

    p = dict(prior.params)
    head = f"{prior.dist}(" + ", ".join(f"{k}={v:g}" for k, v in p.items()) + ")"
    u = f" {unit}" if unit else ""
    real = {
        "Normal": lambda: stats.norm(p["mu"], p["sigma"]),
        "StudentT": lambda: stats.t(p["nu"], p["mu"], p["sigma"]),
        "Cauchy": lambda: stats.cauchy(p["alpha"], p["beta"]),
    }
    positive = {
        "HalfNormal": lambda: stats.halfnorm(scale=p["sigma"]),
        "HalfStudentT": lambda: stats.t(p["nu"], 0, p["sigma"]),
        "HalfCauchy": lambda: stats.halfcauchy(scale=p["beta"]),
        "Exponential": lambda: stats.expon(scale=1 / p["lam"]),
        "Gamma": lambda: stats.gamma(p["alpha"], scale=1 / p["beta"]),
        "LogNormal": lambda: stats.lognorm(p["sigma"], scale=math.exp(p["mu"])),
    }
    if prior.dist in real:
        d = real[prior.dist]()
        lo, hi = d.ppf([0.025, 0.975])
        return f"{head}: 95 % between {lo:.2f} and {hi:.2f}{u}"
    if prior.dist in positive:
        d = positive[prior.dist]()
        if prior.dist == "HalfStudentT":  # |t|: quantile q of |t| is the (1+q)/2 of t
            hi, med = d.ppf((1 + 0.95) / 2), d.ppf(0.75)
        else:
            hi, med = d.ppf(0.95), d.median()
        return f"{head}: 95 % below {_q(hi)}{u}, median {_q(med)}{u}"
    if prior.dist == "Beta":
        d = stats.beta(p["alpha"], p["beta"])
        if p["alpha"] == 1 and p["beta"] == 1:
            return f"{head}: uniform on 0 to 1 (every probability equally likely)"
        lo, hi = d.ppf([0.025, 0.975])
        return f"{head}: 95 % between {lo:.2f} and {hi:.2f}"
    if prior.dist == "Dirichlet":
        a = p["a"]
        if a == 1:
            return f"{head}: every split between the steps equally likely"
        lean = "towards equal steps" if a > 1 else "towards one step taking most of the effect"
        return f"{head}: leaning {lean}"
    return head  # pragma: no cover - specs.DISTRIBUTIONS lists no other


def _term_column(term: str) -> str:
    return term[3:-1] if term.startswith("mo(") else term


def _term_words(term: str) -> str:
    from pyramid.specs import DERIVED_TERMS

    col = _term_column(term)
    info = schema.COLUMNS.get(col)
    if col in DERIVED_TERMS:
        return (f"{col} (derived: 1 when the unit is led by a consultant social worker on the "
                f"MLA development programme)")
    desc = info.description if info is not None else "a numeric column"
    if term.startswith("mo("):
        levels = " < ".join(info.levels) if info is not None else ""
        return (f"{col} as a monotonic effect ({levels}): one coefficient, the average step "
                f"between adjacent levels, split between the steps by a simplex, so the "
                f"effect can only move one way as the level rises ({desc})")
    if info is not None and info.levels:
        return (f"{col} ({' < '.join(info.levels)}): one effect for each level against "
                f"{info.levels[0]} ({desc})")
    if info is not None and info.kind == "binary":
        return f"{col} (0/1: one effect of 1 against 0; {desc})"
    return f"{col} (a slope; {desc})"


def model_description(spec: Any, info: Mapping[str, Any] | None = None) -> list[str]:
    """The model in words, one sentence per item, generated from the spec.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`pyramid.load_spec` or ``result.spec``.
    info : mapping, optional
        ``result.info`` of a fit: adds which group levels the fit kept and its notes.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> model_description(load_spec("skill"))[0][:60]
    'Outcome: skill (mean of the available analysed domain scores'
    """
    info = dict(info or {})
    out: list[str] = []
    fam = spec.family
    if fam == "cumulative_probit":
        what = ("the five analysed domain ratings (whole numbers 1-5) in long format, one "
                "row per rating" if spec.outcome == "domains" else f"the rating {spec.outcome}")
        out.append(f"Outcome: {what}, as a cumulative probit (ordinal) model: each rating "
                   f"falls in the category whose thresholds bracket a latent normal score, so "
                   f"effects are on the probit scale of a rating (one unit = the residual SD "
                   f"of the latent score).")
    else:
        info_o = schema.COLUMNS.get(spec.outcome)
        desc = info_o.description if info_o is not None else spec.outcome
        out.append(f"Outcome: {spec.outcome} ({desc}, 1-5), normal (Gaussian) around its "
                   f"expected value, with a residual SD sigma; effects are in skill points.")
    out.append("Terms: " + "; ".join(_term_words(t) for t in spec.terms) + ".")
    if spec.domain_effects:
        out.append("Domain effects: each domain shifts its ratings by a sum-to-zero effect "
                   "(some domains are rated higher than others).")
    kept = info.get("groups_kept")
    par = info.get("parametrisation") or spec.parametrisation
    words = {"marginal": "integrated out exactly (the sampler sees only their SD; the effects "
             "are drawn afterwards)", "non_centred": "sampled, non-centred",
             "centred": "sampled, centred"}
    gl = []
    for g in spec.groups:
        if kept is not None and g not in kept:
            gl.append(f"{g} (left out: it cannot be told apart from another level in these "
                      f"data)")
        else:
            how = par.get(g, "")
            if how.startswith("partial:"):
                how = ("sampled, partially non-centred with centring weight "
                       f"{how.split(':', 1)[1]}")
            gl.append(f"{g} ({words.get(how, how or 'sampled')})")
    out.append("Group effects, normal with one SD per level, outermost first: "
               + "; ".join(gl) + ".")
    if fam == "path" and spec.mediator is not None:
        med = spec.mediator
        out.append(
            f"Path: {med.outcome} is itself a cumulative probit outcome of "
            f"{', '.join(_term_column(t) for t in med.terms)}"
            + (f"; {spec.exposure.outcome} is Bernoulli with a probability for each value of "
               f"{', '.join(spec.exposure.terms)}" if spec.exposure is not None else "")
            + f". {med.outcome.capitalize()} and "
            + (spec.exposure.outcome if spec.exposure is not None else "")
            + f" are {'unit' if spec.path_level != 'row' else 'row'}-level: "
            + ("one value per unit, shared by its rows" if spec.path_level != "row" else
               "one value per row")
            + "; where one was not observed it is integrated out over its equation, so no row "
              "is left out for it. The effect of clinician presence splits into a direct "
              "effect (discussion held) and an indirect one (through discussion quality).")
    else:
        need = [c for c in spec.term_columns]
        out.append("Rows missing any of " + ", ".join(need) + " or the outcome are left out "
                   "of this model.")
    for note in info.get("notes", []) or []:
        out.append(f"Note from the fit: {note}.")
    return out


def _prior_class_rows(spec: Any, priors: Any, info: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(parameter, class, PriorDist) for every parameter the built model gives a prior.

    Mirrors :mod:`pyramid.models.builder`: the skill equation's classes (``b``, ``b_mo``,
    ``sd``) or the latent ones (``latent_*``) of the cumulative probit, the mediator's
    ``mediator_*``; per-coefficient and per-group overrides through ``PriorSet.get``.
    """
    fam = spec.family
    latent = fam == "cumulative_probit"
    b_cls, mo_cls, sd_cls = ("latent_b", "latent_b_mo", "latent_sd") if latent else (
        "b", "b_mo", "sd")
    med = spec.mediator.outcome if spec.mediator is not None else None
    coefs = info.get("coefs")
    coefs = json.loads(coefs) if isinstance(coefs, str) else (coefs or {})
    mono = set(spec.monotonic)
    rows: list[tuple[str, str, Any]] = []
    for name in coefs:
        if name == "intercept":
            rows.append((name, "intercept", priors.get("intercept", coef=name)))
        elif name.startswith("kappa["):
            continue  # one row for the thresholds below
        elif med and name.startswith(f"{med}_cutpoints"):
            continue
        elif med and name.startswith(f"{med}_"):
            rows.append((name, "mediator_b", priors.get("mediator_b", coef=name)))
        else:
            col = name.split("[", 1)[0]
            cls = mo_cls if col in mono else b_cls
            rows.append((name, cls, priors.get(cls, coef=name)))
            if col in mono:
                rows.append((f"zeta_{col}", "zeta", priors.get("zeta")))
    if not coefs and not latent:  # a spec without a fit: no coefficient names to list
        rows.append(("intercept", "intercept", priors.get("intercept")))
    if latent:
        rows.append(("thresholds (4)", "cutpoints", priors.get("cutpoints")))
        if spec.domain_effects:
            rows.append(("domain effects", "domain", priors.get("domain")))
    else:
        rows.append(("sigma", "sigma", priors.get("sigma")))
    kept = info.get("groups_kept")
    for g in spec.groups:
        if kept is None or g in kept:
            rows.append((f"sd_{g}", sd_cls, priors.get(sd_cls, group=g)))
    if fam == "path" and med:
        rows.append((f"{med} thresholds", "mediator_cutpoints", priors.get("mediator_cutpoints")))
        if spec.exposure is not None:
            rows.append((f"{spec.exposure.outcome}_rate", "exposure_rate",
                         priors.get("exposure_rate")))
    return rows


def prior_table(spec: Any, priors: Any, info: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every prior a model uses, in words, from its spec and prior set.

    Parameters
    ----------
    spec : ModelSpec
    priors : PriorSet
    info : mapping, optional
        ``result.info`` of a fit (its ``coefs`` and ``groups_kept`` name the parameters
        exactly as fitted). Without it only the parameter classes are listed.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter``, ``class`` (of :data:`pyramid.specs.PRIOR_CLASSES`), ``what``
        (the class's meaning), ``prior`` (the distribution and where 95 % of it lies).

    Examples
    --------
    >>> from pyramid.specs import load_priors, load_spec
    >>> t = prior_table(load_spec("skill"), load_priors("default"),
    ...                 {"coefs": {"intercept": 0, "clinician": 0}, "groups_kept": ["unit"]})
    >>> t["parameter"].tolist()
    ['intercept', 'clinician', 'sigma', 'sd_unit']
    >>> t.loc[1, "prior"]
    'Normal(mu=0, sigma=0.5): 95 % between -0.98 and 0.98 skill points'
    """
    from pyramid.specs import PRIOR_CLASSES

    info = dict(info or {})
    unit_of = {"intercept": "skill points", "b": "skill points", "b_mo": "skill points",
               "sd": "skill points", "sigma": "skill points", "latent_b": "probit units",
               "latent_b_mo": "probit units", "latent_sd": "probit units",
               "cutpoints": "probit units", "domain": "probit units",
               "mediator_b": "probit units", "mediator_cutpoints": "probit units"}
    rows = []
    for param, cls, dist in _prior_class_rows(spec, priors, info):
        rows.append({"parameter": param, "class": cls, "what": PRIOR_CLASSES[cls][1],
                     "prior": describe_prior(dist, unit_of.get(cls, ""))})
    return pd.DataFrame(rows, columns=["parameter", "class", "what", "prior"])


# --------------------------------------------------------------------------------------------
# what the data are
# --------------------------------------------------------------------------------------------
def data_origin(data: pd.DataFrame) -> str:
    """Whether observation data are the ``rsw2017`` reconstruction, simulated, or neither.

    ``reconstructed`` when every row is a row of :func:`pyramid.datasets.load_rsw2017` (same
    observation id, worker, unit, authority and domain scores): the reconstruction or a
    subset of it; ``simulated`` when every observation id has the form
    :func:`pyramid.simulate` gives (``A01-U02-W3-O1``); otherwise ``observed`` (as supplied:
    pyramid cannot tell real observations from others).

    Parameters
    ----------
    data : pandas.DataFrame
        Observations (e.g. ``result.data``).

    Returns
    -------
    str
        A key of :data:`ORIGINS`.

    Examples
    --------
    >>> import pyramid as pyr
    >>> data_origin(pyr.datasets.load_rsw2017().head(10))
    'reconstructed'
    >>> data_origin(pyr.simulate((2, 2, 2, 1), seed=1).data)
    'simulated'
    """
    from pyramid.datasets import load_rsw2017

    if not isinstance(data, pd.DataFrame) or "observation" not in data.columns or not len(data):
        raise InputError("data_origin needs a frame of observations with an 'observation' column")
    ref = load_rsw2017()
    cols = ["observation", "worker", "unit", "authority", *schema.DOMAINS]
    if all(c in data.columns for c in cols):
        def key(frame: pd.DataFrame) -> pd.Series:
            parts = [frame[c].astype("string").fillna("") for c in cols]
            out = parts[0]
            for p in parts[1:]:
                out = out + "|" + p
            return out

        if key(data).isin(set(key(ref))).all():
            return "reconstructed"
    ids = data["observation"].astype(str)
    if ids.map(lambda s: bool(_SIMULATED_ID.match(s))).all():
        return "simulated"
    return "observed"


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------
@dataclass
class Report:
    """A rendered report.

    Attributes
    ----------
    html : str
        The whole self-contained HTML document.
    path : Path or None
        Where it was written (``None`` if not written).
    origin : str
        What the data are (a key of :data:`ORIGINS`).
    data : DataTables
        The descriptive tables as printed, with what was suppressed.
    comparisons : pandas.DataFrame
        :func:`pyramid.compare`'s full table.
    diagnostics : pandas.DataFrame
        The fit's convergence checks.
    """

    html: str
    path: Path | None
    origin: str
    data: DataTables
    comparisons: pd.DataFrame
    diagnostics: pd.DataFrame

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        c = self.data.counts
        return (f"Report({len(self.html) / 1024:.0f} kB, origin={self.origin!r}, suppressed "
                f"{c['primary']} small counts + {c['secondary']} to protect them{where})")

    def save(self, path: str | Path) -> Path:
        """Write the HTML to ``path`` (``.html`` or ``.htm``).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
        """
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise InputError(f"a report file must end in .html or .htm, got {str(path)!r}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.html, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write the report {str(path)!r}: {exc}") from None
        self.path = path
        return path


def _figure_png(fig, dpi: int = 110) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(df: pd.DataFrame, *, text_cols: Sequence[str] = ()) -> dict:
    """A frame as the template's table: header and cells with a CSS class each."""
    cols = [str(c) for c in df.columns]
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            s = "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v)
            cls = "txt" if c in text_cols else "num"
            if s.startswith("<") or s.startswith("["):
                cls += " supp"
            cells.append((s, cls))
        rows.append(cells)
    return {"columns": cols, "rows": rows}


def _prior_implies(result: Any) -> list[str]:
    """What the prior set implies for expected skill, from the fit's stored prior draws."""
    if "prior" not in result.idata.children:
        return []
    new = pd.DataFrame({
        "training": [schema.TRAINING_LEVELS[0], schema.TRAINING_LEVELS[-1]],
        "clinician": [0, 1],
        "discussion": [schema.DISCUSSION_LEVELS[0], schema.DISCUSSION_LEVELS[-1]],
        "csw": [0, 1],
    })
    try:
        draws = result.expected_skill(new, group="prior")
    except InputError:
        return []
    v = np.asarray(draws.transpose("chain", "draw", "row").values, dtype=float).reshape(-1, 2)
    ref, full = v[:, 0], v[:, 1]
    diff = full - ref

    def iv(x):
        lo, hi = np.quantile(x, [0.025, 0.975])
        return f"{lo:.2f} and {hi:.2f}"

    return [
        f"expected skill at the reference levels (no systemic training, non-systemic "
        f"discussion, no clinician): 95 % between {iv(ref)}",
        f"the complete pyramid (CSW programme, systemic discussion, clinician) minus the "
        f"reference: 95 % between {iv(diff)} skill points, P(> 0) = {np.mean(diff > 0):.2f}",
        f"from {len(ref)} prior draws stored with the fit",
    ]


def _caveats(result: Any, origin: str, tables: DataTables, draws_total: int) -> list[str]:
    spec = result.spec
    m = tables.min_cell
    out = []
    if not result.converged:
        failed = ", ".join(result.diagnostics.loc[~result.diagnostics["passed"].astype(bool),
                                                  "check"])
        out.append(f"The fit did not pass every convergence check ({failed}): its numbers may "
                   f"be wrong. Follow the advice in the diagnostics section and refit before "
                   f"relying on them.")
    out.append("The data are " + ORIGINS[origin])
    out.append(
        "The design is observational: training, discussion quality and clinician presence were "
        "not assigned at random. Workers chose or were chosen for training, and units and "
        "authorities with a clinician or systemic discussion differ in other ways too. The "
        "comparisons are associations adjusted for the model's other factors, not causal "
        "effects; differences the model does not measure can produce or hide them.")
    n_auth = int(result.data["authority"].nunique())
    n_unit = int(result.data["unit"].nunique())
    small = [f"{n_auth} authorities and {n_unit} units"]
    groups = set(result.groups_kept)
    if "authority" in groups and n_auth < 10:
        small.append(f"with {n_auth} authorities the SD of authority effects is barely "
                     f"informed by the data and leans on its prior")
    for f, levels in tables.small_levels.items():
        small.append(f"{f} = {', '.join(levels)}: fewer than {m} observations, so contrasts "
                     f"involving it rest on very few workers and lean on the prior")
    for f, levels in tables.empty_levels.items():
        small.append(f"{f} = {', '.join(levels)}: no observations, so contrasts involving it "
                     f"show the prior only")
    out.append("The sample is small: " + "; ".join(small) + ". Intervals are wide, and a "
               "contrast can look clear in one sample and vanish in the next.")
    assume = []
    if spec.family in ("gaussian", "path"):
        assume.append("overall skill, the mean of five whole-number ratings between 1 and 5, is "
                      "treated as normal around its expected value with the same residual SD "
                      "for everyone; expected values near 1 or 5 are less trustworthy")
        assume.append("effects add up on the skill scale (no interactions)")
    else:
        assume.append("each rating is an ordered category of one latent score with thresholds "
                      "shared by the five domains; effects add up on that latent scale")
    if spec.monotonic:
        assume.append(f"the effect of {', '.join(spec.monotonic)} moves one way as its level "
                      f"rises (monotonic)")
    assume.append("group effects of authorities, units and workers are normal and exchangeable, "
                  "and observations are independent given them")
    if spec.family == "path":
        assume.append("a discussion or clinician value that was not observed is missing at "
                      "random given the unit's CSW leadership, and the indirect effect assumes "
                      "nothing unmeasured drives both discussion quality and skill")
    if result.n_dropped > 0:
        assume.append("rows missing a covariate were left out, so the results describe the rows "
                      "that have them; if those differ from the rest, they may not generalise")
    out.append("What the model assumes: " + "; ".join(assume) + ".")
    if draws_total < 2000:
        out.append(f"The fit has {draws_total} posterior draws in all, fewer than the default "
                   f"2 x 1000: enough to illustrate, not for final numbers (Monte Carlo error in "
                   f"the tails).")
    out.append(f"Model estimates (the comparisons and the figure's model panel) are not "
               f"descriptive cells and are not suppressed; where a factor level has fewer than "
               f"{m} observations the caveat above says so.")
    return out


_CSS = """
:root { --ink:#1d2330; --muted:#5b6474; --line:#d9dde5; --accent:#2f5d8a; --warn:#9a3412;
        --okbg:#ecf7ef; --failbg:#fdecea; --bannerbg:#fff7e6; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); margin: 0; line-height: 1.5; background: #fff; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.7rem; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3rem; margin-top: 2.2em; border-bottom: 2px solid var(--line);
     padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin-top: 1.6em; }
p.sub, .muted { color: var(--muted); }
nav { font-size: 0.92rem; margin: 12px 0 6px; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
.banner { border-left: 5px solid #d97706; background: var(--bannerbg); padding: 10px 14px;
          margin: 14px 0; }
.banner.fail { border-color: var(--warn); background: var(--failbg); }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; vertical-align: top; }
th { text-align: left; background: #f3f5f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.txt { text-align: left; }
td.supp { color: var(--warn); font-style: italic; }
tr.fail td { background: var(--failbg); }
tr.ok td.status { color: #166534; font-weight: 600; }
tr.fail td.status { color: var(--warn); font-weight: 600; }
figure { margin: 10px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 0.88rem; color: var(--muted); margin-top: 4px; }
details { margin: 8px 0 14px; }
summary { cursor: pointer; color: var(--accent); }
ul.caveats li { margin-bottom: 8px; }
code { background: #f3f5f8; padding: 0 3px; border-radius: 3px; font-size: 0.88em; }
.legend { font-size: 0.86rem; color: var(--muted); }
footer { margin-top: 40px; font-size: 0.82rem; color: var(--muted); }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pyramid {{ version }}">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<main>
{%- macro table(t, caption=None) %}
<table>
{%- if caption %}<caption class="muted">{{ caption }}</caption>{% endif %}
<thead><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for r in t.rows %}
<tr>{% for v, cls in r %}<td class="{{ cls }}">{{ v }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody>
</table>
{%- endmacro %}
<header>
<h1>{{ title }}</h1>
<p class="sub">Model <code>{{ model }}</code> with priors <code>{{ priors }}</code>, fitted
{{ created }}; report written {{ written }} by pyramid {{ version }}.</p>
<div class="banner{% if origin != 'observed' %} fail{% endif %}"><strong>The data:</strong>
{{ origin_text }}</div>
{%- if not converged %}
<div class="banner fail"><strong>Convergence:</strong> the fit did not pass every
convergence check; see <a href="#diagnostics">Diagnostics</a> before reading any number.</div>
{%- endif %}
<nav>{% for id, name in sections %}<a href="#{{ id }}">{{ name }}</a>{% endfor %}</nav>
</header>

<section id="data">
<h2>1. The data</h2>
<p>{{ suppression }}</p>
<p class="legend">&lt;{{ min_cell }}: a count from 1 to {{ min_cell - 1 }}, suppressed.
[c]: suppressed so that a small cell cannot be worked out from a total. [&lt;{{ min_cell }}]:
a mean or SD withheld because it comes from fewer than {{ min_cell }} observations or
workers. &ndash;: no value.</p>
<h3>The sample</h3>
{{ table(tables.sample) }}
<h3>By authority</h3>
{{ table(tables.authorities) }}
<h3>By factor</h3>
<p class="muted">Observations, workers and overall skill (1-5) at each level of each factor
(the report's Tables 14 and 15 tabulate the same).</p>
{{ table(tables.factors) }}
{%- if tables.crosstab %}
<h3>Clinician by discussion quality</h3>
<p class="muted">Observations at each combination (rows: clinician at the case discussion;
columns: its quality).</p>
{{ table(tables.crosstab) }}
{%- endif %}
{%- if tables.missing %}
<h3>Missing domain scores</h3>
{{ table(tables.missing) }}
{%- endif %}
<details>
<summary>By unit ({{ n_units }} units)</summary>
{{ table(tables.units) }}
</details>
</section>

<section id="model">
<h2>2. The model and its priors</h2>
<p><strong>{{ model }}</strong>: {{ spec_description }}</p>
<ul>
{%- for s in model_words %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
<h3>Priors: the set <code>{{ priors }}</code></h3>
<p>{{ priors_description }}</p>
{{ table(prior_table) }}
{%- if prior_implies %}
<p>What these priors imply before seeing the data:</p>
<ul>
{%- for s in prior_implies %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
{%- endif %}
</section>

<section id="diagnostics">
<h2>3. Diagnostics</h2>
<p>{{ sampling }}</p>
<table>
<thead><tr><th>check</th><th>value</th><th>where</th><th>wanted</th><th>status</th>
<th>what to do if it fails</th></tr></thead>
<tbody>
{%- for d in diagnostics %}
<tr class="{{ 'ok' if d.passed else 'fail' }}"><td class="txt">{{ d.check }}</td>
<td class="num">{{ d.value }}</td><td class="txt">{{ d.where }}</td>
<td class="num">{{ d.wanted }}</td><td class="status">{{ 'ok' if d.passed else 'FAIL' }}</td>
<td class="txt">{{ d.advice }}</td></tr>
{%- endfor %}
</tbody>
</table>
<p class="muted">Divergent transitions mean the sampler met geometry it could not follow;
R-hat above 1.01 that the chains disagree; a bulk or tail effective sample size below 400
that the means or intervals carry Monte Carlo error; E-BFMI below 0.3 that the sampler
explores the energy poorly. Any failure makes every number below suspect.</p>
</section>

<section id="comparisons">
<h2>4. Comparisons</h2>
<p>What replaces the report's t-tests (<code>pyramid.compare</code>): for each contrast, the
posterior mean difference in expected skill (1-5 scale) with its {{ ci }} equal-tailed
interval; P(dir), the probability that the difference has the sign shown; P(ROPE), the
probability that it is smaller than {{ rope }} skill points either way (practically nothing);
BF10, the Savage-Dickey Bayes factor for a difference against none ("&gt;": a lower bound);
odds(dir), P(dir) / (1 - P(dir)).</p>
{{ table(comparisons) }}
{%- if comparison_notes %}
<ul class="muted">
{%- for s in comparison_notes %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
{%- endif %}
</section>

<section id="figure">
<h2>5. Figure 4 with the model</h2>
<figure>
<img src="{{ figure }}" alt="Figure 4 of the 2017 report redrawn, with the fitted model's effect of each factor level">
<figcaption>Upper panel: the 2017 report's published means (Tables 14 and 15, not these data)
with exact posterior intervals from the printed summaries. Lower panel: this model's posterior
effect of each level against the reference level (no systemic training, non-systemic
discussion, no clinician), the other factors held there, with {{ ci }} intervals.</figcaption>
</figure>
</section>

<section id="caveats">
<h2>6. Caveats</h2>
<ul class="caveats">
{%- for s in caveats %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
</section>

<section id="provenance">
<h2>7. Provenance</h2>
{{ table(provenance) }}
</section>

<footer>Written by pyramid {{ version }} (rsw-pyramid). Self-contained: this file loads
nothing from the network.</footer>
</main>
</body>
</html>
"""


def _diag_rows(diag: pd.DataFrame, pseudonymise: bool = False) -> list[dict]:
    names = {"divergences": "divergent transitions", "r_hat": "max R-hat",
             "ess_bulk": "min bulk ESS", "ess_tail": "min tail ESS", "e_bfmi": "min E-BFMI"}
    rows = []
    for _, r in diag.iterrows():
        c = str(r["check"])
        v = float(r["value"])
        shown = (f"{int(v)}" if c == "divergences" else f"{v:.3f}" if c in ("r_hat", "e_bfmi")
                 else f"{v:.0f}") if np.isfinite(v) else "–"
        rel = "<=" if c in ("divergences", "r_hat") else ">="
        where = str(r.get("where", ""))
        if pseudonymise and re.match(r"^r_\w+\[", where):
            where = where.split("[", 1)[0] + "[...]"  # a group's id, as the tables hide it
        rows.append({"check": names.get(c, c), "value": shown, "where": where,
                     "wanted": f"{rel} {r['threshold']:g}", "passed": bool(r["passed"]),
                     "advice": "" if bool(r["passed"]) else str(r.get("advice", ""))})
    return rows


def _provenance(result: Any) -> pd.DataFrame:
    info = result.info
    versions = info.get("versions") or {}
    if isinstance(versions, str):
        versions = json.loads(versions)
    rows = [
        ("model", f"{result.spec.name} ({Path(str(result.spec.source)).name or 'spec text'})"),
        ("priors", f"{result.priors.name} ({Path(str(result.priors.source)).name or 'text'})"),
        ("sampler", str(info.get("sampler", ""))),
        ("seed", str(info.get("seed", ""))),
        ("data SHA-256", str(info.get("data_sha256", ""))),
        ("fitted", str(info.get("created", ""))),
        ("results file", Path(str(info["path"])).name if info.get("path") else "(in memory)"),
    ]
    rows += [(f"version: {k}", str(v)) for k, v in versions.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def report(
    result: Any,
    out: str | Path | None = None,
    *,
    min_cell: int = 5,
    ci_prob: float = 0.95,
    rope: float = 0.1,
    contrasts: str | Sequence[str] | None = None,
    title: str | None = None,
    data_label: str | None = None,
    pseudonymise: bool = False,
) -> Report:
    """Write a self-contained HTML report of a fitted model, for an evaluator to share.

    One file with everything embedded (figure as a base64 PNG, inline styles, no script, no
    external link): the data summary with small cells suppressed, the model and priors in
    words, the convergence checks with what to do when one fails, the comparison table,
    Figure 4 with the model's effects, the caveats and the fit's provenance. The small-cell
    rules are those of :func:`data_tables` and :func:`protect` (the user guide's page on the
    report explains them).

    Parameters
    ----------
    result : FitResult, str or Path
        A fitted result (:func:`pyramid.fit`) or a results file (``.nc``).
    out : str or Path, optional
        HTML file to write (``.html`` or ``.htm``). ``None``: not written (``Report.html``
        holds it).
    min_cell : int, default 5
        Smallest count of observations or workers printed; smaller counts show as ``<5`` and
        means or SDs from fewer are withheld. 1 turns suppression off (the report then says
        not to share it); 2 is refused (``<2`` could only be 1).
    ci_prob : float, default 0.95
        Probability of the posterior intervals.
    rope : float, default 0.1
        Half-width of the region of practical equivalence (skill points).
    contrasts : str or list of str, optional
        Contrasts for :func:`pyramid.compare` (default: its default contrasts).
    title : str, optional
        The report's title (default names the model and priors). Escaped like every string.
    data_label : {"observed", "simulated", "reconstructed"}, optional
        What the data are; default: :func:`data_origin` of the result's rows.
    pseudonymise : bool, default False
        Print authorities and units as ``Authority 1``, ``Unit 1.2``.

    Returns
    -------
    Report
        ``.html``, ``.path``, ``.origin``, ``.data`` (the tables and what was suppressed),
        ``.comparisons``, ``.diagnostics``.

    Raises
    ------
    InputError
        A result that is not a fit, a bad argument, or a file that cannot be written.

    Examples
    --------
    A report needs a fit; with the reference data (a few seconds once the model is compiled):

    >>> import pyramid as pyr
    >>> res = pyr.fit(pyr.datasets.load_rsw2017(), random_seed=1)  # doctest: +SKIP
    >>> rep = pyr.report(res, "report.html")                        # doctest: +SKIP
    >>> rep.origin                                                  # doctest: +SKIP
    'reconstructed'
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from pyramid import __version__
    from pyramid.compare import compact, compare
    from pyramid.plots.figure4 import plot_figure4

    if isinstance(result, str | Path):
        from pyramid.results import load

        result = load(result)
    for attr in ("idata", "spec", "priors", "data", "diagnostics", "info", "expected_skill"):
        if not hasattr(result, attr):
            raise InputError(f"result must be a pyramid FitResult or a results file (.nc); got "
                             f"{type(result).__name__} without .{attr}")
    m = _check_min_cell(min_cell)
    ci_prob = check_prob("ci_prob", ci_prob)
    if data_label is not None and data_label not in ORIGINS:
        raise InputError(f"data_label must be one of {', '.join(ORIGINS)} or None, got "
                         f"{data_label!r}")
    if title is not None and not isinstance(title, str):
        raise InputError(f"title must be a string, got {type(title).__name__}")
    if out is not None and Path(out).suffix.lower() not in (".html", ".htm"):
        raise InputError(f"a report file must end in .html or .htm, got {str(out)!r}")
    origin = data_label or data_origin(result.data)

    tables = data_tables(result.data, min_cell=m, pseudonymise=pseudonymise,
                         dropped=result.dropped)
    cmp = compare(result, contrasts, rope=rope, ci_prob=ci_prob)
    shown = compact(cmp)
    notes = list(cmp.attrs.get("notes", []))
    notes += [f"{r['contrast']}: {r['note']}" for _, r in cmp.iterrows() if str(r["note"])]
    fig = plot_figure4(result, ci_prob=ci_prob)
    figure = _figure_png(fig)

    post = result.idata["posterior"]
    n_chain, n_draw = int(post.sizes["chain"]), int(post.sizes["draw"])
    info = result.info
    timings = info.get("timings") or {}
    if isinstance(timings, str):
        timings = json.loads(timings)
    sampling = (f"Sampled with {info.get('sampler', '?')}: {n_chain} chains x {n_draw} draws "
                f"after {info.get('tune', '?')} tuning draws, target acceptance "
                f"{info.get('target_accept', '?')}, seed {info.get('seed', '?')}"
                + (f"; sampling took {timings['sample_s']:.0f} s" if "sample_s" in timings
                   else "") + ".")
    pri_tab = prior_table(result.spec, result.priors, info)
    sections = [("data", "Data"), ("model", "Model and priors"), ("diagnostics", "Diagnostics"),
                ("comparisons", "Comparisons"), ("figure", "Figure 4"), ("caveats", "Caveats"),
                ("provenance", "Provenance")]
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup  # jinja2's own: the style sheet is this module's trusted text

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=False)
    tpl = env.from_string(_TEMPLATE)
    t = tables.tables
    html_text = tpl.render(
        title=title or f"pyramid report: model {result.spec.name}, priors {result.priors.name}",
        version=__version__, css=Markup(_CSS), model=result.spec.name, priors=result.priors.name,
        created=str(info.get("created", "")), written=time.strftime("%Y-%m-%d %H:%M"),
        origin=origin, origin_text=ORIGINS[origin], converged=bool(result.converged),
        sections=sections, suppression=tables.statement(), min_cell=m,
        tables={k: _table(v, text_cols=[c for c in v.columns if c in
                                        ("quantity", "authority", "unit", "factor", "level",
                                         "clinician", "domain")])
                for k, v in t.items()},
        n_units=len(t["units"]),
        spec_description=" ".join(str(result.spec.description).split()),
        model_words=model_description(result.spec, info),
        priors_description=" ".join(str(result.priors.description).split()),
        prior_table=_table(pri_tab[["parameter", "what", "prior"]],
                           text_cols=["parameter", "what", "prior"]),
        prior_implies=_prior_implies(result),
        sampling=sampling, diagnostics=_diag_rows(result.diagnostics, pseudonymise),
        ci=f"{ci_prob:.0%}", rope=f"{rope:g}",
        comparisons=_table(shown, text_cols=["contrast", "effect"]),
        comparison_notes=notes, figure=figure,
        caveats=_caveats(result, origin, tables, n_chain * n_draw),
        provenance=_table(_provenance(result), text_cols=["item", "value"]),
    )
    rep = Report(html=html_text, path=None, origin=origin, data=tables, comparisons=cmp,
                 diagnostics=result.diagnostics.copy())
    if out is not None:
        rep.save(out)
    return rep
