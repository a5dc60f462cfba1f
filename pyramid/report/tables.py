"""The report's descriptive tables, with small cells protected (:func:`data_tables`).

The tables are built in stages: the layout (authorities and their units, factor levels, the
clinician x discussion crosstab), the counts behind every cell, what a reader knows about
them (:func:`facts`: every total is the sum of its parts, workers and observations of one
cell bound each other), the suppression (:func:`pyramid.report.disclosure.protect` on the
counts of observations and workers together, then on the means), and the printed frames.
:meth:`DataTables.audit` reads the printed frames back as a reader would and checks that no
hidden count or mean can be worked out from them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pyramid.errors import InputError
from pyramid.report.disclosure import (
    Fact,
    Unprotectable,
    additive,
    at_most,
    audit,
    check_min_cell,
    protect,
)

__all__ = ["data_tables", "DataTables", "Layout", "facts"]

_MISSING_WORD = {"discussion": "not observed", "clinician": "not observed"}
_FACTORS = ("group", "training", "discussion", "clinician")
_PER_WORKER = "observations per worker (min, median, max)"
_NOT_SHOWN = "not shown"


@dataclass(frozen=True)
class Layout:
    """What the printed tables are made of, as a reader sees them.

    Attributes
    ----------
    units : dict of str to list of str
        Authority -> its units, in the order printed.
    levels : dict of str to list of str
        Factor -> its level labels, in the order printed.
    missing : frozenset of (str, str)
        ``(factor, label)`` of the levels printed only because some rows have them (a reader
        knows they hold at least one observation and one worker).
    cross : tuple of (list of str, list of str) or None
        Clinician and discussion labels of the crosstab, if printed.
    worker_level : frozenset of str
        Factors whose level is the same for all the rows of every worker (their worker
        counts add up to the total).
    per_worker : tuple of (int, int) or None
        The fewest and the most observations of one worker, as printed (None: withheld).
    hidden_units : frozenset of str
        Authorities whose units are not printed (nor how many they are): their units are not
        in ``units``.
    """

    units: dict[str, list[str]]
    levels: dict[str, list[str]]
    missing: frozenset = frozenset()
    cross: tuple[list[str], list[str]] | None = None
    worker_level: frozenset = frozenset()
    per_worker: tuple[int, int] | None = None
    hidden_units: frozenset = frozenset()

    def unit_relations(self) -> list[tuple[str, list[str]]]:
        """(authority, its units) for the authorities whose units are printed."""
        return [(a, us) for a, us in self.units.items() if a not in self.hidden_units]

    def cells(self) -> list[tuple]:
        """Every cell that has a worker count, and so an observation count beside it."""
        return [("all",), *(("authority", a) for a in self.units),
                *(("unit", u) for us in self.units.values() for u in us),
                *(("factor", f, lv) for f, lvs in self.levels.items() for lv in lvs)]


def facts(layout: Layout) -> tuple[list, list[Fact], dict]:
    """What a reader of the tables knows about their counts, beyond the printed values.

    Cells are ``("o", *cell)`` (observations) and ``("w", *cell)`` (workers), ``cell`` as in
    :meth:`Layout.cells`, and ``("o", "x", clinician, discussion)`` for the crosstab.

    Parameters
    ----------
    layout : Layout

    Returns
    -------
    relations : list of (total, parts)
        Totals: observations and workers of all = their authorities' = their units'; the
        observations (and, for a factor that is one level per worker, the workers) of each
        factor's levels add up to all; the crosstab's rows and columns to its margins.
    facts : list of Fact
        For every cell, workers <= observations <= workers x the most observations of one
        worker, and observations >= workers x the fewest where every worker of the cell
        has all its rows in it; for a factor that varies within workers, each level's workers
        at most all workers and together at least all of them.
    floor : dict
        Lower bounds: a listed unit has a worker and an observation; an authority as many as
        its units; a level printed only because rows have it, one.

    Examples
    --------
    >>> rel, fs, floor = facts(Layout(units={"A": ["u1"]}, levels={}))
    >>> rel[0]
    (('o', 'all'), [('o', 'authority', 'A')])
    >>> floor[("w", "unit", "u1")]
    1
    """
    rel: list = []
    for kind in ("o", "w"):
        rel.append(((kind, "all"), [(kind, "authority", a) for a in layout.units]))
        rel += [((kind, "authority", a), [(kind, "unit", u) for u in us])
                for a, us in layout.unit_relations()]
    out: list[Fact] = []
    for f, lvs in layout.levels.items():
        rel.append((("o", "all"), [("o", "factor", f, lv) for lv in lvs]))
        if f in layout.worker_level:
            rel.append((("w", "all"), [("w", "factor", f, lv) for lv in lvs]))
        else:
            out.append(at_most({("w", "all"): 1}, {("w", "factor", f, lv): 1 for lv in lvs}))
            out += [at_most({("w", "factor", f, lv): 1}, {("w", "all"): 1}) for lv in lvs]
    if layout.cross is not None:
        cl, dl = layout.cross
        rel += [(("o", "factor", "clinician", c), [("o", "x", c, d) for d in dl]) for c in cl]
        rel += [(("o", "factor", "discussion", d), [("o", "x", c, d) for c in cl]) for d in dl]
    kmin, kmax = layout.per_worker or (1, None)
    for cell in layout.cells():
        o, w = ("o", *cell), ("w", *cell)
        out.append(at_most({w: 1}, {o: 1}))
        if kmax is not None:
            out.append(at_most({o: 1}, {w: kmax}))
        if kmin > 1 and (cell[0] != "factor" or cell[1] in layout.worker_level):
            out.append(at_most({w: kmin}, {o: 1}))
    floor: dict = {}
    for a, us in layout.units.items():
        for kind in ("o", "w"):
            floor[(kind, "authority", a)] = max(1, len(us))
            floor.update({(kind, "unit", u): 1 for u in us})
    for kind in ("o", "w"):
        floor[(kind, "all")] = sum(max(1, len(us)) for us in layout.units.values())
        floor.update({(kind, "factor", f, lv): 1 for f, lv in layout.missing})
    return rel, out, floor


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
    worker_level : frozenset of str
        Factors whose level is the same for all the rows of every worker (a reader who knows
        the design knows that their worker counts add up; :meth:`audit` assumes so).
    withheld : list of str
        What is not printed at all because its small counts could be worked out whatever was
        hidden (the line of observations per worker, the crosstab, a factor's breakdown).
    """

    tables: dict[str, pd.DataFrame]
    min_cell: int
    counts: dict[str, int]
    small_levels: dict[str, list[str]] = field(default_factory=dict)
    empty_levels: dict[str, list[str]] = field(default_factory=dict)
    worker_level: frozenset = frozenset()
    withheld: list[str] = field(default_factory=list)

    def statement(self) -> str:
        """What was suppressed, in one paragraph (as the report prints it).

        Returns
        -------
        str

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"observation": ["o1", "o2"], "worker": ["w1", "w2"],
        ...                    "unit": "u", "authority": "a", "training": "none",
        ...                    "empathy": [3, 4]})
        >>> data_tables(df).statement()[:42]
        'Small cells are suppressed, as official st'
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
            f"hidden value could otherwise be worked out from the printed numbers: by "
            f"subtraction from a total, from the <{m} bounds, or from the workers and "
            f"observations of the same row together. Of {c['cells']} counts, {c['primary']} "
            f"were suppressed as small and {c['secondary']} to protect them; "
            f"{c['means_withheld']} means (with their SDs) were withheld as small and "
            f"{c['means_secondary']} to protect them. Numbers of authorities and units are "
            f"counts of organisations, not of people, and are shown as they are."
            + (f" Not printed, because a small count could be worked out from it whatever "
               f"else was hidden: {'; '.join(self.withheld)}." if self.withheld else "")
        )

    def audit(self) -> dict[Hashable, Any]:
        """What a reader can work out from the printed tables alone: should be nothing.

        Reads the tables back from their printed strings (the layout from the printed rows,
        the values from the printed cells) and runs :func:`pyramid.report.disclosure.audit`
        on every count shown as ``<5`` under every fact :func:`facts` lists, and a rank test
        on the sums of skill behind every withheld mean.

        Returns
        -------
        dict
            Each count a reader can work out (``("o" or "w", *cell)``) with its value, and
            each withheld mean whose sum of skill is fixed by the printed ones
            (``("mean", *cell)``) with ``None``. Empty when the protection holds.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"observation": [f"o{i}" for i in range(9)],
        ...                    "worker": [f"w{i}" for i in range(9)],
        ...                    "unit": ["u1"] * 3 + ["u2"] * 6, "authority": "A",
        ...                    "training": "none", "empathy": 3})
        >>> data_tables(df).audit()
        {}
        """
        return _audit_printed(self)


# --------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------
def _level_label(factor: str, level: Any, study: Any = None) -> str:
    """A level as the tables print it: RSW 2017's level names (and its missing words), another
    study's labels (:meth:`pyramid.study.Factor.level_label`)."""
    if study is not None and not study.is_default() and factor in study.factors:
        return study.factors[factor].level_label(level)
    if level is None:
        return _MISSING_WORD.get(factor, "missing")
    if factor == "clinician":
        return {0: "no", 1: "yes"}[int(level)]
    return str(level)


def _canonical(data: pd.DataFrame, study: Any = None) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    from pyramid.data.validate import is_canonical, validate

    if is_canonical(data, study):
        return data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a summary of rows, not a fit: the validator's notes
        return validate(data, study=study)  # about models do not apply here


def _fmt_mean(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.2f}"


@dataclass
class _Cells:
    """The data behind the tables: the layout, each cell's rows, names as printed."""

    layout: Layout
    masks: dict[tuple, np.ndarray]        # cell (without "o"/"w") -> its rows
    levels: dict[str, list]               # factor -> its levels (None: missing)
    a_name: dict[str, str]
    u_name: dict[str, str]
    unit_auth: pd.Series                  # unit -> authority, in printed order


def _cells(df: pd.DataFrame, pseudonymise: bool, study: Any = None) -> _Cells:
    """Stage 1: authorities and their units, factor levels, the crosstab, and their rows."""
    auth_col = df["authority"].astype(str).to_numpy()
    unit_col = df["unit"].astype(str).to_numpy()
    auths = sorted(set(auth_col))
    units = pd.Series(auth_col, index=unit_col).groupby(level=0, sort=False).first()
    units = units.loc[sorted(units.index, key=lambda u: (auths.index(units[u]), u))]
    if pseudonymise:
        a_name = {a: f"Authority {i + 1}" for i, a in enumerate(auths)}
        u_name, seen = {}, {}
        for u, a in units.items():
            seen[a] = seen.get(a, 0) + 1
            u_name[u] = f"Unit {auths.index(a) + 1}.{seen[a]}"
    else:
        a_name, u_name = {a: a for a in auths}, {u: u for u in units.index}
    masks: dict[tuple, np.ndarray] = {("all",): np.ones(len(df), dtype=bool)}
    masks.update({("authority", a): auth_col == a for a in auths})
    masks.update({("unit", u): unit_col == u for u in units.index})
    levels: dict[str, list] = {}
    rsw = study is None or study.is_default()
    factors = _FACTORS if rsw else tuple(
        f.name for f in study.factors.values() if f.kind != "numeric")
    for f in factors:
        if f not in df.columns or f == "group" and df[f].isna().all():
            continue
        s = df[f]
        lv = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else [0, 1]
        # "missing" / "not observed" only where some rows are: a row of zeros tells nothing
        levels[f] = [*lv, None] if s.isna().any() else lv
        for level in levels[f]:
            masks[("factor", f, level)] = (s.isna() if level is None else (s == level)).fillna(
                False).to_numpy(dtype=bool)
    cross = (rsw and "clinician" in levels and "discussion" in levels
             and df["clinician"].notna().any() and df["discussion"].notna().any())
    if cross:
        for c in levels["clinician"]:
            for d in levels["discussion"]:
                masks[("x", c, d)] = (masks[("factor", "clinician", c)]
                                      & masks[("factor", "discussion", d)])
    w_codes, w_names = pd.factorize(df["worker"].astype(str).to_numpy())
    per_worker = np.bincount(w_codes)
    worker_level = frozenset(f for f in levels if _one_per_worker(df[f], w_codes, len(w_names)))
    layout = Layout(
        units={a: [u for u in units.index if units[u] == a] for a in auths},
        levels={f: list(lv) for f, lv in levels.items()},
        missing=frozenset((f, None) for f, lv in levels.items() if None in lv),
        cross=(list(levels["clinician"]), list(levels["discussion"])) if cross else None,
        worker_level=worker_level,
        per_worker=(int(per_worker.min()), int(per_worker.max())),
    )
    return _Cells(layout, masks, levels, a_name, u_name, units)


def _one_per_worker(s: pd.Series, w_codes: np.ndarray, n_workers: int) -> bool:
    """Whether every worker has one level of ``s`` in all its rows (missing counts as one)."""
    codes = pd.factorize(s.astype(object).to_numpy(), use_na_sentinel=True)[0]
    lo = np.full(n_workers, np.iinfo(np.int64).max)
    hi = np.full(n_workers, np.iinfo(np.int64).min)
    np.minimum.at(lo, w_codes, codes)
    np.maximum.at(hi, w_codes, codes)
    return bool(np.all(lo == hi))


def _protect_counts(c: _Cells, n_obs: dict, n_wrk: dict, m: int) -> tuple[set, set, Layout]:
    """Stage 2: suppression of the counts of observations and workers, together.

    One :func:`protect` over both, with the facts that join them, so that a unit's workers
    cannot be worked out from its observations (or the reverse). If a small count can still
    be worked out with every linked cell hidden, less is printed (:func:`_print_less`) and
    the suppression runs again.
    """
    layout = c.layout
    while True:
        rel, fs, floor = facts(layout)
        sizes = {("o", *k): n_obs[k] for k in layout.cells()}
        sizes.update({("w", *k): n_wrk[k] for k in layout.cells()})
        if layout.cross is not None:
            sizes.update({("o", "x", a, b): n_obs[("x", a, b)]
                          for a in layout.cross[0] for b in layout.cross[1]})
        try:
            prim, sec = protect(sizes, rel, m, facts=fs, floor=floor)
        except Unprotectable as exc:
            layout = _print_less(layout, exc.cells, sizes, m)
            continue
        return set(prim), set(sec), layout


def _print_less(layout: Layout, stuck: list, sizes: dict, m: int) -> Layout:
    """A layout that prints less, for small counts that can be worked out whatever is hidden.

    First the list of an authority's units where each holds one worker and that pins a count
    (4 units listed, fewer than 5 workers: one each), then the line of observations per
    worker (the fewest and most observations of one worker pin a count: every worker with
    exactly 4 observations, a unit of 4 observations is one worker), then the crosstab, then
    a factor joined to the stuck cells (four levels of training with one worker each say that
    there are 4 workers), the one with most small levels. Raises InputError when nothing of
    that is left.
    """
    touched = {k[2] for k in stuck if k[1] == "authority"}
    touched |= {a for a, us in layout.unit_relations() for u in us
                if any(k[1:] == ("unit", u) for k in stuck)}
    # an authority whose listed units each hold one worker (or observation): the list says
    # how many it has; list its units no more
    auths = [a for a, us in layout.unit_relations() if a in touched
             and min(sizes[("w", "authority", a)], sizes[("o", "authority", a)]) == len(us)]
    if auths:
        a = sorted(set(auths))[0]
        return replace(layout, units={**layout.units, a: []},
                       hidden_units=layout.hidden_units | {a})
    if layout.per_worker is not None:
        return replace(layout, per_worker=None)
    if layout.cross is not None:
        return replace(layout, cross=None)
    rel, fs, _ = facts(layout)
    linked = {k for f in [*(additive(a, b) for a, b in rel), *fs] if set(f.cells) & set(stuck)
              for k in f.cells}
    candidates = {k[2] for k in linked if k[1] == "factor"} or set(layout.levels)
    if not candidates:
        raise InputError(
            f"the data are too few to print their counts of workers and observations without "
            f"giving small ones away (min_cell={m}): {len(stuck)} small count(s) can be worked "
            f"out from the totals alone; use min_cell=1 for a report that is not to be shared")
    small = {f: sum(0 < sizes[("o", "factor", f, lv)] < m for lv in layout.levels[f])
             for f in candidates}
    drop = max(sorted(candidates), key=lambda f: small[f])
    return replace(layout, levels={f: lv for f, lv in layout.levels.items() if f != drop},
                    missing=frozenset(x for x in layout.missing if x[0] != drop),
                    worker_level=layout.worker_level - {drop})


def _protect_means(layout: Layout, n_skill: dict, hidden_counts: set, m: int):
    """Stage 3: means (sums of skill) withheld where small or where the count is hidden."""
    if m == 1:
        return frozenset(), frozenset(), set()
    rel = [(("all",), [("authority", a) for a in layout.units])]
    rel += [(("authority", a), [("unit", u) for u in us]) for a, us in layout.unit_relations()]
    rel += [(("all",), [("factor", f, lv) for lv in lvs]) for f, lvs in layout.levels.items()]
    n_skill = {k: n_skill[k] for k in layout.cells()}
    small_mean = {k for k in n_skill if 0 < n_skill[k] < m}
    prim, sec = protect(n_skill, rel, m, initial=small_mean | hidden_counts, bounded=False)
    return prim, sec, small_mean


@dataclass
class _Shown:
    """How each count and mean is printed, once suppression is decided."""

    m: int
    n_obs: dict
    n_wrk: dict
    hidden: set          # ("o" | "w", *cell) suppressed counts
    primary: set         # ... of which small
    means: tuple         # (primary, secondary, small) of the means
    skill: np.ndarray
    masks: dict

    def count(self, kind: str, k: tuple) -> str:
        key = (kind, *k)
        if key in self.primary:
            return f"<{self.m}"
        if key in self.hidden:
            return "[c]"
        return str((self.n_obs if kind == "o" else self.n_wrk)[k])

    def mean_sd(self, k: tuple) -> tuple[str, str]:
        prim, sec, small = self.means
        m = self.m
        counted = {("o", *k), ("w", *k)}
        if k in prim or k in sec:
            if k in small or counted & self.primary:
                return f"[<{m}]", f"[<{m}]"
            return "[c]", "[c]"
        v = self.skill[self.masks[k]]
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else np.nan
        sd = float(v.std(ddof=1)) if v.size > 1 else np.nan
        return _fmt_mean(mean), _fmt_mean(sd)

    def row(self, k: tuple) -> dict:
        mean, sd = self.mean_sd(k)
        return {"workers": self.count("w", k), "observations": self.count("o", k),
                "mean skill": mean, "SD": sd}


def _sample_table(df: pd.DataFrame, c: _Cells, s: _Shown, layout: Layout,
                  dropped: Mapping[str, int] | None) -> tuple[pd.DataFrame, int]:
    """Stage 4a: the sample in numbers (and how many of its counts are small)."""
    m = s.m
    units = c.unit_auth
    mean, sd = s.mean_sd(("all",))
    if layout.per_worker is None:
        per = "withheld (with the tables' small cells it could give one away)"
    else:
        pw = df.groupby(df["worker"].astype(str), sort=False).size()
        per = f"{pw.min()}, {pw.median():g}, {pw.max()}"
    listed = [u for _, us in layout.unit_relations() for u in us]
    rows = [
        ("observations (rows used)", s.count("o", ("all",))),
        ("workers", s.count("w", ("all",))),
        ("units", _NOT_SHOWN if layout.hidden_units else str(len(units))),
        ("authorities", str(len(layout.units))),
        (_PER_WORKER, per),
        (f"units listed with fewer than {m} observed workers" if m > 1 else
         "units with one observed worker",
         str(int(sum(s.n_wrk[("unit", u)] < max(m, 2) for u in listed)))),
        ("mean skill (SD)", f"{mean} ({sd})"),
    ]
    n_small = 0
    if dropped is not None and sum(int(v) for v in dropped.values()):
        for col, v in dropped.items():
            v = int(v)
            n_small += 0 < v < m
            rows.append((f"rows left out: {col} missing", f"<{m}" if 0 < v < m else str(v)))
    return pd.DataFrame(rows, columns=["quantity", "value"]), n_small


def _crosstab(layout: Layout, s: _Shown) -> pd.DataFrame:
    """Stage 4b: observations by clinician and discussion, with the margins."""
    cl, dl = layout.cross
    rows = []
    for cv in cl:
        r = {"clinician": _level_label("clinician", cv)}
        r.update({_level_label("discussion", d): s.count("o", ("x", cv, d)) for d in dl})
        r["all"] = s.count("o", ("factor", "clinician", cv))
        rows.append(r)
    r = {"clinician": "all"}
    r.update({_level_label("discussion", d): s.count("o", ("factor", "discussion", d))
              for d in dl})
    r["all"] = s.count("o", ("all",))
    rows.append(r)
    return pd.DataFrame(rows)


def _render(df: pd.DataFrame, c: _Cells, s: _Shown, layout: Layout,
            dropped: Mapping[str, int] | None, study: Any) -> tuple[dict[str, pd.DataFrame], int]:
    """Stage 4: the printed frames (and the number of small counts outside the protection)."""
    units = c.unit_auth
    tables: dict[str, pd.DataFrame] = {}
    tables["sample"], n_small = _sample_table(df, c, s, layout, dropped)
    hidden = layout.hidden_units
    tables["authorities"] = pd.DataFrame([
        {"authority": c.a_name[a], "units": _NOT_SHOWN if a in hidden else str(len(us)),
         **s.row(("authority", a))} for a, us in c.layout.units.items()] + [
        {"authority": "all", "units": _NOT_SHOWN if hidden else str(len(units)),
         **s.row(("all",))}])
    tables["units"] = pd.DataFrame([
        {"authority": c.a_name[units[u]], "unit": c.u_name[u], **s.row(("unit", u))}
        for u in units.index if units[u] not in hidden],
        columns=["authority", "unit", "workers", "observations", "mean skill", "SD"])
    rsw = study.is_default()
    tables["factors"] = pd.DataFrame([
        {"factor": f if rsw else study.label_of(f), "level": _level_label(f, lv, study),
         **s.row(("factor", f, lv))}
        for f, lvs in layout.levels.items() for lv in lvs])
    if layout.cross is not None:
        tables["crosstab"] = _crosstab(layout, s)
    miss = []
    for d in study.domain_names:
        if d in df.columns:
            v = int(df[d].isna().sum())
            n_small += 0 < v < s.m
            miss.append({"domain": d if rsw else study.label_of(d),
                         "missing scores": f"<{s.m}" if 0 < v < s.m else str(v)})
    if miss:
        tables["missing"] = pd.DataFrame(miss)
    return tables, n_small


def data_tables(
    data: pd.DataFrame, *, min_cell: int = 5, pseudonymise: bool = False,
    dropped: Mapping[str, int] | None = None, study: Any = None,
) -> DataTables:
    """Descriptive tables of observation data with small cells suppressed.

    Counts of observations and workers by authority, unit and factor level, with the mean and
    SD of overall skill in each, as the report prints them. Counts from 1 to ``min_cell - 1``
    are shown as ``<5``; means and SDs from fewer than ``min_cell`` observations or workers are
    withheld; further cells are suppressed (:func:`~pyramid.report.disclosure.protect`) so that
    no hidden value can be worked out from the printed numbers: from the totals, from the
    ``<5`` bounds, or from the workers and observations of the same row together (a unit
    printing ``<5`` workers and 10 observations, at most 3 observations per worker, would have
    4 workers).

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
    study : str, path or Study, optional
        The study of the data (its factors, words, domains and overall score); default the
        one the frame records, else ``rsw2017``. A study without a unit or authority level
        gets one group named ``(no unit level)`` / ``(no authority level)`` in its place.

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
    >>> t.audit()
    {}
    """
    from pyramid.study import load_study

    m = check_min_cell(min_cell)
    if study is None and isinstance(data, pd.DataFrame) and isinstance(data.attrs, dict):
        study = data.attrs.get("study")
    study = load_study(study)
    df = _canonical(data, study)
    if len(df) == 0:
        raise InputError("data_tables needs at least one row, got an empty frame")
    # a study without units or authorities (2 or 3 levels): one group, named so, stands for
    # the level it lacks, so that the tables and their protection keep their shape
    df = df.assign(**{r: f"(no {r} level)" for r in ("unit", "authority")
                      if r not in study.roles})
    c = _cells(df, pseudonymise, study)
    worker = df["worker"].astype(str).to_numpy()
    skill = df[study.overall.name].to_numpy(dtype=float, na_value=np.nan)
    n_obs = {k: int(v.sum()) for k, v in c.masks.items()}
    grouped = {k: v for k, v in c.masks.items() if k[0] != "x"}
    n_wrk = {k: len(set(worker[v])) for k, v in grouped.items()}
    n_skill = {k: int(np.isfinite(skill[v]).sum()) for k, v in grouped.items()}
    if m == 1:
        hidden, primary, layout = set(), set(), c.layout
    else:
        primary, secondary, layout = _protect_counts(c, n_obs, n_wrk, m)
        hidden = primary | secondary
    hidden_counts = {k[1:] for k in hidden if k[1:] in grouped and n_skill[k[1:]] > 0}
    means = _protect_means(layout, n_skill, hidden_counts, m)
    s = _Shown(m, n_obs, n_wrk, hidden, primary, means, skill, c.masks)
    tables, n_small = _render(df, c, s, layout, dropped, study)
    n_cross = len(layout.cross[0]) * len(layout.cross[1]) if layout.cross else 0
    counts = {
        "cells": 2 * len(layout.cells()) + n_cross + len(tables.get("missing", ()))
        + len(dropped or {}),
        "primary": len(primary) + n_small,
        "secondary": len(hidden - primary),
        "means_withheld": len(means[0]),
        "means_secondary": len(means[1]),
    }
    levels = layout.levels
    small_levels = {f: [_level_label(f, lv, study) for lv in lvs if lv is not None
                        and 0 < n_obs[("factor", f, lv)] < m] for f, lvs in levels.items()}
    empty_levels = {f: [_level_label(f, lv, study) for lv in lvs if lv is not None
                        and n_obs[("factor", f, lv)] == 0] for f, lvs in levels.items()}
    withheld = [f"the breakdown by {f}" for f in c.layout.levels if f not in levels]
    if c.layout.cross is not None and layout.cross is None:
        withheld.append("the crosstab of clinician by discussion")
    if layout.per_worker is None:
        withheld.append("the fewest and most observations of one worker")
    withheld += [f"the units of authority {c.a_name[a]} and how many they are"
                 for a in sorted(layout.hidden_units)]
    return DataTables(tables=tables, min_cell=m, counts=counts,
                      small_levels={k: v for k, v in small_levels.items() if v},
                      empty_levels={k: v for k, v in empty_levels.items() if v},
                      worker_level=layout.worker_level, withheld=withheld)


# --------------------------------------------------------------------------------------------
# the audit of the printed tables
# --------------------------------------------------------------------------------------------
def _read_cell(value: str, m: int) -> int | str:
    """A printed count: its value, ``"small"`` (``<m``) or ``"hidden"`` (``[c]``)."""
    if value == f"<{m}":
        return "small"
    if value == "[c]":
        return "hidden"
    if not re.fullmatch(r"\d+", value):
        raise InputError(f"not a printed count: {value!r}")
    return int(value)


def _read_layout(t: DataTables) -> tuple[Layout, dict]:
    """The layout and every printed count (cell -> value or "small" / "hidden")."""
    m = t.min_cell
    tab = t.tables
    auth, units_t, fac = tab["authorities"], tab["units"], tab["factors"]
    names = auth["authority"].tolist()[:-1]  # the last row is all
    u_auth, u_name = units_t["authority"].tolist(), units_t["unit"].tolist()
    f_name = fac["factor"].tolist() if len(fac) else []
    f_level = fac["level"].tolist() if len(fac) else []
    printed: dict = {}
    for kind, col in (("o", "observations"), ("w", "workers")):
        a_val = [_read_cell(v, m) for v in auth[col].tolist()]
        printed[(kind, "all")] = a_val[-1]
        printed.update({(kind, "authority", a): v for a, v in zip(names, a_val, strict=False)})
        printed.update({(kind, "unit", u): _read_cell(v, m)
                        for u, v in zip(u_name, units_t[col].tolist(), strict=True)})
        if len(fac):
            printed.update({(kind, "factor", f, lv): _read_cell(v, m)
                            for f, lv, v in zip(f_name, f_level, fac[col].tolist(), strict=True)})
    units: dict = {a: [] for a in names}
    for a, u in zip(u_auth, u_name, strict=True):
        units[a].append(u)
    hidden_units = frozenset(a for a, n in zip(names, auth["units"].tolist(), strict=False)
                             if n == _NOT_SHOWN)
    levels: dict = {}
    for f, lv in zip(f_name, f_level, strict=True):
        levels.setdefault(f, []).append(lv)
    sample = dict(zip(tab["sample"]["quantity"], tab["sample"]["value"], strict=True))
    for kind, q in (("o", "observations (rows used)"), ("w", "workers")):
        if _read_cell(sample[q], m) != printed[(kind, "all")]:
            raise InputError(f"the sample's {q} and the authorities' total differ")
    nums = re.findall(r"\d+(?:\.\d+)?", sample[_PER_WORKER])
    per_worker = (int(nums[0]), int(nums[2])) if len(nums) == 3 else None
    cross = None
    if "crosstab" in tab:
        x = tab["crosstab"]
        dl = [d for d in x.columns if d not in ("clinician", "all")]
        recs = x.to_dict("records")
        cl = [r["clinician"] for r in recs[:-1]]
        cross = (cl, dl)
        margins = []
        for r in recs[:-1]:
            printed.update({("o", "x", r["clinician"], d): _read_cell(r[d], m) for d in dl})
            margins.append((("o", "factor", "clinician", r["clinician"]), r["all"]))
        margins += [(("o", "factor", "discussion", d), recs[-1][d]) for d in dl]
        for key, v in margins:
            if _read_cell(v, m) != printed[key]:
                raise InputError(f"the crosstab's margin {key[2:]} differs from the factors'")
    missing = frozenset((f, lv) for f, lvs in levels.items() for lv in lvs
                        if lv == _MISSING_WORD.get(f, "missing"))
    layout = Layout(units=units, levels=levels, missing=missing, cross=cross,
                    worker_level=frozenset(t.worker_level) & set(levels), per_worker=per_worker,
                    hidden_units=hidden_units)
    return layout, printed


def _audit_means(t: DataTables, printed: dict, layout: Layout) -> dict:
    """Withheld means (or hidden counts beside shown means) whose sum of skill is fixed."""
    from pyramid.report.disclosure import determined

    m = t.min_cell
    tab = t.tables
    auth, fac = tab["authorities"], tab["factors"]
    a_mean = auth["mean skill"].tolist()
    mean_of: dict = {("all",): a_mean[-1]}
    mean_of.update({("authority", a): v
                    for a, v in zip(auth["authority"].tolist()[:-1], a_mean, strict=False)})
    mean_of.update({("unit", u): v for u, v in zip(tab["units"]["unit"].tolist(),
                                                    tab["units"]["mean skill"].tolist(),
                                                    strict=True)})
    if len(fac):
        mean_of.update({("factor", f, lv): v for f, lv, v in zip(
            fac["factor"].tolist(), fac["level"].tolist(), fac["mean skill"].tolist(),
            strict=True)})
    withheld = {f"[<{m}]", "[c]"}
    unknown = {k for k, v in mean_of.items()
               if v in withheld or not isinstance(printed[("o", *k)], int)}
    rel = [(("all",), [("authority", a) for a in layout.units])]
    rel += [(("authority", a), [("unit", u) for u in us]) for a, us in layout.unit_relations()]
    rel += [(("all",), [("factor", f, lv) for lv in lvs]) for f, lvs in layout.levels.items()]
    return {("mean", *k): None for k in determined(unknown, [additive(a, b) for a, b in rel])}


def _audit_printed(t: DataTables) -> dict:
    m = t.min_cell
    if m == 1:
        return {}
    layout, printed = _read_layout(t)
    rel, fs, floor = facts(layout)
    shown = {k: v for k, v in printed.items() if isinstance(v, int)}
    small = {k for k, v in printed.items() if v == "small"}
    hidden = {k for k, v in printed.items() if v == "hidden"}
    found = audit(shown, small, hidden, [*(additive(a, b) for a, b in rel), *fs], m,
                  floor=floor)
    found.update(_audit_means(t, printed, layout))
    return found
