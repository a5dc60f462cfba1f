"""Disclosure control of the report's tables (pyramid.report.disclosure, report.tables).

The audit is an integer-programming check of what a reader can work out from the printed
numbers; it is tested against a brute-force enumeration, and shown to catch what the
protection of pyramid 0f97976 let through (a crosstab cell given away by its row and column
totals, 14 - 11 = 3; workers ``<5`` beside 10 observations at most 3 per worker). The property
test then runs it on every table of the report for many random data sets: unbalanced, with
missing discussion and clinician, one observation per worker, factors that vary within
workers, min_cell 3, 5 and 10. It reads the tables back from their printed strings, checks
every printed count against the data (a shown count is the true one, ``<5`` is 1 to 4, ``[c]``
5 or more), and asks the audit for every small count and withheld mean.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from pyramid.data import schema
from pyramid.errors import InputError
from pyramid.report import audit, data_tables, protect
from pyramid.report.disclosure import Unprotectable, additive, at_most
from pyramid.report.tables import DataTables, Layout, _read_layout, facts


# ---------------------------------------------------------------------------------------------
# the audit against brute force
# ---------------------------------------------------------------------------------------------
def _brute(vals, shown, small, hidden, m, kmax):
    """Every value of each cell a reader cannot rule out, by enumerating the unit counts.

    One authority A of three units: workers 1 to 8 a unit, observations from its workers to
    kmax times them; A's counts are the sums. A printed cell must equal its value, ``<m`` is
    1 to m-1, ``[c]`` m or more. Also returns whether a solution touches the grid's edge.
    """
    w = np.arange(1, 9, dtype=np.int16)
    o = np.arange(1, 8 * kmax + 1, dtype=np.int16)
    g = np.array(np.meshgrid(w, w, w, o, o, o, indexing="ij")).reshape(6, -1)
    v = {("w", f"u{i}"): g[i - 1] for i in (1, 2, 3)}
    v.update({("o", f"u{i}"): g[i + 2] for i in (1, 2, 3)})
    ok = np.ones(g.shape[1], dtype=bool)
    for i in (1, 2, 3):
        ok &= (v[("w", f"u{i}")] <= v[("o", f"u{i}")])
        ok &= (v[("o", f"u{i}")] <= kmax * v[("w", f"u{i}")])
    for kind in "wo":
        v[(kind, "A")] = sum(v[(kind, f"u{i}")] for i in (1, 2, 3))
    ok &= v[("o", "A")] <= kmax * v[("w", "A")]
    for k, val in v.items():
        if k in shown:
            ok &= val == shown[k]
        elif k in small:
            ok &= (val >= 1) & (val <= m - 1)
        else:
            ok &= val >= m
    edge = bool(np.any(g[:3, ok] == 8) or np.any(g[3:, ok] == 8 * kmax))
    return {k: set(val[ok].tolist()) for k, val in v.items()}, edge


@pytest.mark.parametrize("seed", range(30))
def test_audit_agrees_with_brute_force(seed):
    # three units of one authority, workers and observations joined by the per-worker bound;
    # random values and a random choice of hidden cells
    rng = np.random.default_rng(seed)
    m, kmax = 5, int(rng.integers(1, 3))
    w = {f"u{i}": int(rng.integers(1, 6)) for i in (1, 2, 3)}
    o = {u: int(rng.integers(n, kmax * n + 1)) for u, n in w.items()}
    vals = {}
    for kind, d in (("w", w), ("o", o)):
        vals.update({(kind, u): n for u, n in d.items()})
        vals[(kind, "A")] = sum(d.values())
    fs = [additive((k, "A"), [(k, "u1"), (k, "u2"), (k, "u3")]) for k in "wo"]
    for u in ("u1", "u2", "u3", "A"):
        fs += [at_most({("w", u): 1}, {("o", u): 1}), at_most({("o", u): 1}, {("w", u): kmax})]
    small = {k for k, v in vals.items() if v < m}
    hidden = {k for k, v in vals.items() if v >= m and rng.random() < 0.5}
    shown = {k: v for k, v in vals.items() if k not in small | hidden}
    found = audit(shown, small, hidden, fs, m, cells=small | hidden)
    seen, edge = _brute(vals, shown, small, hidden, m, kmax)
    for k in small | hidden:
        assert vals[k] in seen[k]
        if k in found:  # pinned: the enumeration (a subset of the solutions) agrees
            assert seen[k] == {vals[k]} == {found[k]}, (k, seen[k], found)
        elif len(seen[k]) == 1:  # the other values lie beyond the enumerated grid
            assert edge, (k, seen[k], found)


def test_audit_finds_the_joint_worker_count_and_protect_hides_it():
    # the issue: a unit printing workers <5, observations 10, at most 3 observations a worker
    fs = [at_most({"o": 1}, {"w": 3}), at_most({"w": 1}, {"o": 1})]
    assert audit({"o": 10}, ["w"], [], fs) == {"w": 4}
    assert audit({"o": 9}, ["w"], [], fs) == {}  # 3 or 4 workers
    p, s = protect({"w": 4, "o": 10}, facts=fs)
    assert p == {"w"} and s == {"o"}
    assert audit({}, ["w"], ["o"], fs) == {}


def test_audit_refuses_contradictions_and_unknown_cells():
    with pytest.raises(InputError, match="contradict"):
        audit({"all": 3, "a": 5}, ["b"], [], [additive("all", ["a", "b"])])
    with pytest.raises(InputError, match="neither printed nor hidden"):
        audit({"all": 3}, ["b"], [], [additive("all", ["a", "b"])])


def test_protect_never_gives_up_where_every_neighbour_is_zero():
    # a small cell whose row has only zeros and whose column total is itself small: the old
    # protection found no partner and stopped; now the margin goes, then what pins that
    sizes = {"all": 30, "r1": 27, "r2": 3, "c1": 27, "c2": 3,
             "x11": 27, "x12": 0, "x21": 0, "x22": 3}
    rel = [("all", ["r1", "r2"]), ("all", ["c1", "c2"]), ("r1", ["x11", "x12"]),
           ("r2", ["x21", "x22"]), ("c1", ["x11", "x21"]), ("c2", ["x12", "x22"])]
    p, s = protect(sizes, rel)
    hidden = p | s
    shown = {k: v for k, v in sizes.items() if k not in hidden}
    assert audit(shown, p, s, [additive(t, ps) for t, ps in rel]) == {}
    assert {"r2", "c2", "x22"} <= p


def test_protect_raises_when_nothing_is_left_to_hide():
    # 4 = 1 + 1 + 1 + 1 with every cell small: the bounds alone give each 1 away
    sizes = {"all": 4, "a": 1, "b": 1, "c": 1, "d": 1}
    with pytest.raises(Unprotectable) as err:
        protect(sizes, [("all", ["a", "b", "c", "d"])])
    assert set(err.value.cells) == set(sizes)


# ---------------------------------------------------------------------------------------------
# what the protection of pyramid 0f97976 let through
# ---------------------------------------------------------------------------------------------
#: 27 observations, one a worker, with missing discussion and clinician (authority, unit,
#: training, discussion, clinician, empathy); ids are derived from the position
ISSUE_ROWS = [
    ("a0", "a0u0", "programme", None, 1, 5), ("a0", "a0u0", "other", None, 1, 4),
    ("a0", "a0u0", "mla", None, 1, 2), ("a0", "a0u0", "programme", None, 1, 5),
    ("a0", "a0u1", "other", "non_systemic", 0, 5), ("a0", "a0u1", "programme", "non_systemic", 0, 5),
    ("a0", "a0u1", "other", "non_systemic", 0, 1), ("a0", "a0u1", "other", "non_systemic", 0, 2),
    ("a0", "a0u1", "other", "systemic", 0, 3), ("a0", "a0u1", "mla", "systemic", 0, 1),
    ("a0", "a0u2", "none", "systemic", None, 5), ("a0", "a0u2", "other", None, None, 5),
    ("a0", "a0u2", "none", None, None, 2), ("a1", "a1u0", "other", "systemic", 0, 4),
    ("a1", "a1u0", "programme", "systemic", 0, 1), ("a1", "a1u0", "programme", "systemic", 0, 5),
    ("a1", "a1u0", "programme", "non_systemic", 0, 2), ("a2", "a2u0", "none", "systemic", None, 4),
    ("a2", "a2u1", "none", None, None, 1), ("a2", "a2u1", "none", None, None, 2),
    ("a2", "a2u1", "other", None, None, 3), ("a2", "a2u1", "mla", "systemic", None, 4),
    ("a2", "a2u1", "mla", None, None, 4), ("a2", "a2u1", "mla", None, None, 4),
    ("a2", "a2u2", "mla", "non_systemic", 0, 5), ("a2", "a2u2", "programme", "non_systemic", 0, 3),
    ("a2", "a2u2", "none", "green_shoots", 0, 5),
]

#: Its crosstab as pyramid 0f97976 printed it
OLD_CROSSTAB = [
    # clinician, non_systemic, green_shoots, systemic, not observed, all
    ("no", "[c]", "<5", "[c]", "0", "13"),
    ("yes", "0", "0", "0", "<5", "<5"),
    ("not observed", "0", "0", "<5", "[c]", "[c]"),
    ("all", "[c]", "<5", "[c]", "11", "27"),
]


def _issue_frame() -> pd.DataFrame:
    return pd.DataFrame([
        {"observation": f"o{i}", "worker": f"w{i}", "unit": u, "authority": a, "training": t,
         "discussion": d, "clinician": c, "empathy": e}
        for i, (a, u, t, d, c, e) in enumerate(ISSUE_ROWS)])


def _crosstab_view(rows, m=5):
    """The crosstab's cells and its row, column and grand totals, as a reader reads them."""
    cols = ["ns", "gs", "sys", "no_d"]
    printed = {}
    for r in rows:
        for c, v in zip([*cols, "all"], r[1:], strict=True):
            printed[(r[0], c)] = v
    rel = [((r, "all"), [(r, c) for c in cols]) for r in ("no", "yes", "not observed", "all")]
    rel += [(("all", c), [(r, c) for r in ("no", "yes", "not observed")]) for c in
            [*cols, "all"]]
    shown = {k: int(v) for k, v in printed.items() if v.isdigit()}
    small = {k for k, v in printed.items() if v == f"<{m}"}
    hidden = {k for k, v in printed.items() if v == "[c]"}
    return shown, small, hidden, [additive(t, ps) for t, ps in rel]


def test_audit_catches_the_old_crosstab():
    # the yes row is its one "not observed" cell, so y = yes total; the not-observed row's
    # total is 27 - 13 - y = 14 - y and its not-observed cell 11 - y (the column), so its
    # systemic cell is (14 - y) - (11 - y) = 3: the issue's 28 - 25 = 3, in these numbers
    df = _issue_frame()
    truth = int(((df["clinician"].isna()) & (df["discussion"] == "systemic")).sum())
    assert truth == 3
    assert audit(*_crosstab_view(OLD_CROSSTAB)) == {("not observed", "sys"): 3}


def test_the_same_data_are_protected_now():
    t = data_tables(_issue_frame())
    assert t.audit() == {}
    x = t.tables["crosstab"]
    rows = [tuple(r) for r in x.astype(str).itertuples(index=False)]
    assert audit(*_crosstab_view(rows)) == {}  # the crosstab on its own holds too


def test_old_joint_counts_are_caught():
    # workers <5, observations 11, at most 3 observations per worker: 4 workers (the old
    # report printed this for a clinician level); the reader's facts of a Layout say so
    lay = Layout(units={"A": ["u"]}, levels={"clinician": ["no", "yes"]},
                 worker_level=frozenset({"clinician"}), per_worker=(1, 3))
    rel, fs, floor = facts(lay)
    shown = {("o", "all"): 24, ("w", "all"): 11, ("o", "authority", "A"): 24,
             ("w", "authority", "A"): 11, ("o", "unit", "u"): 24, ("w", "unit", "u"): 11,
             ("o", "factor", "clinician", "no"): 11, ("o", "factor", "clinician", "yes"): 13}
    small = [("w", "factor", "clinician", "no")]
    hidden = [("w", "factor", "clinician", "yes")]
    found = audit(shown, small, hidden, [*(additive(a, b) for a, b in rel), *fs], floor=floor)
    assert found == {("w", "factor", "clinician", "no"): 4}


# ---------------------------------------------------------------------------------------------
# the property test: every table of the report, random data sets
# ---------------------------------------------------------------------------------------------
_DISC = list(schema.DISCUSSION_LEVELS)


def _random_frame(rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """A random, unbalanced data set, skewed towards the hard cases of small-cell control."""
    opts = {
        "per_worker": rng.choice(["one", "fixed", "random"], p=[0.35, 0.2, 0.45]),
        "k": int(rng.integers(2, 5)),
        "unit_level": rng.random() < 0.6,        # discussion and clinician one per unit
        "p_missing": float(rng.choice([0.0, 0.2, 0.5])),
        "training_varies": rng.random() < 0.15,  # training differs within a worker
        "group": rng.random() < 0.3,
        "min_cell": int(rng.choice([3, 5, 5, 5, 10])),
    }
    rows, n = [], 0
    for a in range(int(rng.integers(1, 5))):
        for u in range(int(rng.integers(1, 5))):
            disc = _DISC[int(rng.integers(3))] if rng.random() > opts["p_missing"] else None
            clin = int(rng.integers(2)) if rng.random() > opts["p_missing"] else None
            for w in range(int(rng.integers(1, 8))):
                training = schema.TRAINING_LEVELS[int(rng.integers(4))]
                k = {"one": 1, "fixed": opts["k"]}.get(opts["per_worker"]) or int(
                    rng.integers(1, 4))
                for _ in range(k):
                    if not opts["unit_level"]:
                        disc = _DISC[int(rng.integers(3))] if rng.random() > opts[
                            "p_missing"] else None
                        clin = int(rng.integers(2)) if rng.random() > opts["p_missing"] else None
                    if opts["training_varies"]:
                        training = schema.TRAINING_LEVELS[int(rng.integers(4))]
                    rows.append({
                        "observation": f"o{n}", "worker": f"a{a}u{u}w{w}", "unit": f"a{a}u{u}",
                        "authority": f"a{a}", "training": training, "discussion": disc,
                        "clinician": clin, "empathy": int(rng.integers(1, 6)),
                        **({"group": ["rsw", "usual", None][int(rng.integers(3))]}
                           if opts["group"] else {}),
                    })
                    n += 1
    return pd.DataFrame(rows), opts


def _label(factor, value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {"discussion": "not observed", "clinician": "not observed"}.get(factor, "missing")
    if factor == "clinician":
        return {0: "no", 1: "yes"}[int(value)]
    return str(value)


def _truth(df: pd.DataFrame) -> dict:
    """Every count the tables can print, from the data with pandas (not the module's code)."""
    out = {("o", "all"): len(df), ("w", "all"): df["worker"].nunique()}
    for col, key in (("authority", "authority"), ("unit", "unit")):
        for v, g in df.groupby(col):
            out[("o", key, v)] = len(g)
            out[("w", key, v)] = g["worker"].nunique()
    for f in ("group", "training", "discussion", "clinician"):
        if f not in df.columns:
            continue
        lab = df[f].astype(object).map(lambda v, f=f: _label(f, v))
        for v, g in df.groupby(lab):
            out[("o", "factor", f, v)] = len(g)
            out[("w", "factor", f, v)] = g["worker"].nunique()
    lab_c = df["clinician"].astype(object).map(lambda v: _label("clinician", v))
    lab_d = df["discussion"].astype(object).map(lambda v: _label("discussion", v))
    for (c, d), g in df.groupby([lab_c, lab_d]):
        out[("o", "x", c, d)] = len(g)
    return out


def _check_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    df, opts = _random_frame(rng)
    m = opts["min_cell"]
    try:
        t = data_tables(df, min_cell=m)
    except InputError as exc:  # too few to print at all: only for tiny data sets
        assert "too few" in str(exc) and df["worker"].nunique() < 2 * m, (seed, exc)
        return
    truth = _truth(df)
    layout, printed = _read_layout(t)
    for key, v in printed.items():
        true = truth.get(key, 0)
        if isinstance(v, int):
            assert v == true, (seed, key, v, true)
        elif v == "small":
            assert 1 <= true < m, (seed, key, v, true)
        else:
            assert true >= m, (seed, key, v, true)
    # no small count of the data is printed as a number
    assert not [k for k, v in printed.items() if isinstance(v, int) and 0 < v < m], seed
    found = t.audit()
    assert found == {}, (seed, opts, found)


N_DEFAULT = int(os.environ.get("PYRAMID_DISCLOSURE_N", "48"))


@pytest.mark.parametrize("block", range(4))
def test_disclosure_property(block):
    """The audit on every table of the report, for random data sets (a quarter each)."""
    for seed in range(block, N_DEFAULT, 4):
        _check_one(seed)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_disclosure_property_many(block):
    """1,200 further data sets (seeds 1000-2199), run in the slow tier."""
    for seed in range(1000 + block, 2200, 10):
        _check_one(seed)


def test_the_property_data_sets_cover_the_hard_cases():
    # the default run's data sets include each hard case (guards the generator)
    seen = set()
    for seed in range(N_DEFAULT):
        df, opts = _random_frame(np.random.default_rng(seed))
        per = df.groupby("worker").size()
        if (per == 1).all():
            seen.add("one observation per worker")
        if df["discussion"].isna().any() and df["clinician"].isna().any():
            seen.add("missing discussion and clinician")
        if opts["training_varies"]:
            seen.add("training varies within a worker")
        if df.groupby("unit")["worker"].nunique().min() < opts["min_cell"]:
            seen.add("a unit with fewer workers than min_cell")
        seen.add(f"min_cell={opts['min_cell']}")
    assert seen >= {"one observation per worker", "missing discussion and clinician",
                    "training varies within a worker", "a unit with fewer workers than min_cell",
                    "min_cell=3", "min_cell=5", "min_cell=10"}, seen


def test_data_tables_withhold_what_cannot_be_protected():
    # 4 workers in one unit, one at each level of training: the training rows would say
    # that there are 4 workers (each level at least 1, the total under 5) whatever is hidden
    df = pd.DataFrame({"observation": [f"o{i}" for i in range(8)],
                       "worker": [f"w{i // 2}" for i in range(8)], "unit": "u",
                       "authority": "A", "training": [schema.TRAINING_LEVELS[i // 2]
                                                      for i in range(8)], "empathy": 3})
    t = data_tables(df)
    assert t.audit() == {}
    assert any("training" in w for w in t.withheld)
    assert "training" not in set(t.tables["factors"]["factor"])
    assert "Not printed" in t.statement()


def test_data_tables_stop_listing_units_that_give_a_count_away():
    # 4 units of one worker each in one authority: listing them says that it has 4 workers
    df = pd.DataFrame({"observation": [f"o{i}" for i in range(12)],
                       "worker": [f"w{i}" for i in range(12)],
                       "unit": [f"u{i}" for i in range(4)] + ["v"] * 8,
                       "authority": ["A"] * 4 + ["B"] * 8, "training": "none", "empathy": 3})
    t = data_tables(df)
    assert t.audit() == {}
    assert t.withheld == ["the units of authority A and how many they are"]
    auth = t.tables["authorities"].set_index("authority")
    assert auth.loc["A", "units"] == "not shown" and auth.loc["B", "units"] == "1"
    assert t.tables["units"]["unit"].tolist() == ["v"]
    assert data_tables(df, min_cell=1).tables["units"]["workers"].tolist() == ["1"] * 4 + ["8"]


def test_data_tables_refuse_data_too_few_to_print():
    # one authority, one unit, 4 workers at four levels of training, each with one
    # observation and each level with one worker: nothing printable keeps the 4 unknown
    df = pd.DataFrame({"observation": [f"o{i}" for i in range(4)],
                       "worker": [f"w{i}" for i in range(4)], "unit": "u", "authority": "A",
                       "training": list(schema.TRAINING_LEVELS), "empathy": 3})
    t = data_tables(df)  # the training rows go, and then the <5 is 1 to 4 again
    assert t.audit() == {} and "the breakdown by training" in t.withheld
    with pytest.raises(Unprotectable):
        protect({"all": 4, "a": 1, "b": 1, "c": 1, "d": 1}, [("all", ["a", "b", "c", "d"])])


def test_data_tables_audit_sees_a_printed_disclosure():
    # the reader-side audit reads the printed strings: print a unit's 3 by hand and it finds
    # it (a check that cannot fail would pass this too: it must find exactly the 3)
    df = pd.DataFrame([{"observation": f"{u}{i}", "worker": f"{u}{i}", "unit": u,
                        "authority": "A", "training": "none", "empathy": 3}
                       for u, n in (("u1", 3), ("u2", 6)) for i in range(n)])
    t = data_tables(df)
    assert t.audit() == {}
    units = t.tables["units"].copy()
    units.loc[units["unit"] == "u2", ["workers", "observations"]] = "6"
    bad = DataTables({**t.tables, "units": units}, t.min_cell, t.counts,
                     worker_level=t.worker_level)
    assert bad.audit() == {("o", "unit", "u1"): 3, ("w", "unit", "u1"): 3}
