"""The rsw2017 reconstruction: hard constraints exact, fit to the published summaries, the
documented structural rules, GRIM/GRIMMER checks, the cache and its label.

Fast tests check the shipped cache (and short, seeded builds); rebuilding the cache with the
default settings takes about half a minute and is marked ``slow``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import pyramid as pyr
from pyramid import datasets
from pyramid.data import published, reconstruct
from pyramid.data.schema import COLUMNS, DOMAINS, EXTRA_DOMAINS
from pyramid.errors import InputError

LABEL = "a reconstruction consistent with the published summaries, not the evaluation's data"


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return datasets.load_rsw2017()


@pytest.fixture(scope="module")
def rep(df) -> pd.DataFrame:
    return datasets.reconstruction_report(df)


# --------------------------------------------------------------------------------------------
# label and shape
# --------------------------------------------------------------------------------------------
def test_labelled_everywhere(df, rep):
    assert LABEL in df.attrs["description"]
    assert LABEL in rep.attrs["description"]
    with open(reconstruct.cache_path(), encoding="utf-8") as fh:
        assert LABEL in fh.readline()
    for fn in (datasets.load_rsw2017, datasets.reconstruction_report, reconstruct.build):
        assert LABEL in " ".join(fn.__doc__.split()).lower(), fn.__name__


def test_canonical_frame_passes_validate_unchanged(df):
    assert list(df.columns) == list(COLUMNS)
    out = pyr.validate(df)
    pd.testing.assert_frame_equal(out, df)
    assert out.attrs["validation"]["skill_derived"] == 0


def test_load_returns_independent_copies():
    a = datasets.load_rsw2017()
    a.loc[0, "empathy"] = 1
    a.attrs["table10_group"].clear()
    b = datasets.load_rsw2017()
    assert b.attrs["table10_group"]
    pd.testing.assert_frame_equal(b, reconstruct.read_cache())


def test_scores_whole_numbers_and_skill_is_mean_of_available(df):
    scores = df[list(DOMAINS)]
    vals = scores.stack().dropna().astype(int)
    assert vals.between(1, 5).all()
    assert df[list(EXTRA_DOMAINS)].isna().all().all()  # not analysed, no summary printed
    np.testing.assert_allclose(
        df["skill"], scores.astype("float64").mean(axis=1), rtol=1e-12
    )
    # Table 10's df: 2 collaboration and 1 child-focus score missing, on different rows
    assert scores.isna().sum().to_dict() == {
        "collaboration": 2, "empathy": 0, "purposefulness": 0, "clarity": 0, "child_focus": 1
    }
    assert int(scores.isna().any(axis=1).sum()) == 3


# --------------------------------------------------------------------------------------------
# hard constraints: every N exact
# --------------------------------------------------------------------------------------------
def test_every_published_n_matched(rep):
    counts = rep[rep["stat"].isin(["count", "n", "df"])]
    assert len(counts) >= 40
    bad = counts[counts["difference"] != 0]
    assert bad.empty, bad.to_string()


def test_ns_recomputed_directly(df):
    # independent of the report's own bookkeeping
    t1 = published.table(1).query("row_key == 'observations'").set_index("group_key")["value"]
    for g in ("rsw", "usual"):
        for i in range(1, 6):
            got = ((df["group"] == g) & (df["authority"] == f"LA{i}")).sum()
            assert got == t1[f"{g}:la{i}"]
    t2 = published.table(2).query("row_key == 'practice_observations'").set_index("group_key")["value"]
    for i in range(1, 6):
        assert ((df["group"] == "kft") & (df["authority"] == f"LA{i}")).sum() == t2[f"la{i}"]
    for lv in ("none", "other", "mla", "programme"):
        assert (df["training"] == lv).sum() == published.cell(14, lv, "n")
    # Table 23: the programme workers are RSW participants on the CSW programme
    assert ((df["training"] == "programme") & (df["group"] == "rsw")).sum() == published.cell(
        23, "programme", "count"
    )
    assert (df["training"] == "programme").sum() == published.cell(23, "programme", "count")
    # the cross-tab of Part 4
    ct = pd.crosstab(df["discussion"], df["clinician"])
    for lv in ("non_systemic", "green_shoots", "systemic"):
        assert ct.loc[lv].sum() == published.cell("crosstab", lv, "n")
        assert ct.loc[lv].get(1, 0) == published.cell("crosstab", lv, "count")
    assert df["discussion"].notna().sum() == 22
    assert (df["discussion"].notna() == df["clinician"].notna()).all()


# --------------------------------------------------------------------------------------------
# fit to the published means and SDs
# --------------------------------------------------------------------------------------------
def test_at_least_90_percent_of_tables_10_14_15_within_precision(rep):
    ms = rep[rep["table"].isin(["10", "14", "15"]) & rep["stat"].isin(["mean", "sd"])]
    assert len(ms) == 42  # 24 + 8 + 10 printed means and SDs
    share = ms["within_precision"].mean()
    assert share >= 0.90, ms.loc[~ms["within_precision"]].to_string()
    # the tolerances are the printed precision: means +/- 0.01, SDs +/- 0.02
    assert set(ms.loc[ms["stat"] == "mean", "tolerance"]) == {0.01}
    assert set(ms.loc[ms["stat"] == "sd", "tolerance"]) == {0.02}
    # within_precision is what it says
    recomputed = (ms["reconstructed"] - ms["value"]).abs() <= ms["tolerance"] + 1e-9
    assert (recomputed == ms["within_precision"]).all()


def test_report_recomputes_from_the_frame(df, rep):
    # a few cells recomputed by hand from the frame
    prog = df.loc[df["training"] == "programme", "skill"]
    row = rep[(rep.table == "14") & (rep.row.str.startswith("Worker on MLA")) & (rep.stat == "mean")]
    assert row["reconstructed"].item() == pytest.approx(prog.mean(), rel=1e-12)
    g10 = reconstruct.table10_group(df)
    emp = df.loc[g10 == "usual", "empathy"].astype(float)
    row = rep[(rep.table == "10") & (rep.row == "Empathy") & (rep.column == "Service as usual: SD")]
    assert row["reconstructed"].item() == pytest.approx(emp.std(ddof=1), rel=1e-12)
    assert row["n"].item() == 41


def test_kft_domain_means_and_text(rep):
    kft = rep[rep["table"].isin(["kft_domains", "kft_text"]) & rep["stat"].isin(["mean", "band"])]
    assert len(kft) == 5
    assert kft["within_precision"].all(), kft.to_string()


def test_every_miss_has_a_reason(rep):
    flagged = rep[rep["flag"]]
    assert (flagged["reason"].str.len() > 0).all()
    assert (rep.loc[~rep["rounds_to_printed"] & rep["flag"], "reason"].str.len() > 0).all()
    # GRIM and GRIMMER failures are always explained, flagged or not
    impossible = rep["grim"].str.contains("impossible")
    assert rep.loc[impossible, "reason"].str.contains("impossible with n =").all()


def test_misses_are_forced_by_the_report(rep):
    """Each mean outside the precision belongs to a table whose own sums disagree."""
    checks = reconstruct.consistency_checks().set_index("check")
    miss = rep[rep["flag"] & rep["stat"].isin(["mean", "sd"])]
    for r in miss.itertuples():
        assert "REPORT INCONSISTENCY" in r.reason or "impossible" in r.reason, r
    # one mean per inconsistency gives way; more would mean a poor optimum
    for table, check in (("14", "table14_total"), ("15", "table15_total")):
        allowed = 0 if checks.loc[check, "consistent"] else 1
        assert (miss["table"] == table).sum() <= allowed, miss.to_string()


# --------------------------------------------------------------------------------------------
# the report's own consistency: computed, with an independent recomputation
# --------------------------------------------------------------------------------------------
def test_consistency_checks_recomputed():
    c = reconstruct.consistency_checks().set_index("check")
    t15 = published.table(15).pivot(index="row_key", columns="stat", values="value")
    disc = sum(t15.loc[k, "mean"] * t15.loc[k, "n"] for k in ("non_systemic", "green_shoots", "systemic"))
    clin = sum(t15.loc[k, "mean"] * t15.loc[k, "n"] for k in ("clinician_no", "clinician_yes"))
    assert c.loc["table15_total", "lhs"] == pytest.approx(disc, rel=1e-12)
    assert c.loc["table15_total", "rhs"] == pytest.approx(clin, rel=1e-12)
    # half a printed unit per worker on each side: the two intervals do not meet
    gap = abs(disc - clin) - 2 * 22 * 0.005
    assert (gap > 0) == (not c.loc["table15_total", "consistent"])
    t14 = published.table(14).pivot(index="row_key", columns="stat", values="value")
    assert c.loc["table14_total", "lhs"] == pytest.approx((t14["mean"] * t14["n"]).sum(), rel=1e-12)
    assert not c.loc["table14_total", "consistent"]


# --------------------------------------------------------------------------------------------
# GRIM and GRIMMER against brute force
# --------------------------------------------------------------------------------------------
H = 0.005 + 1e-9  # half a printed unit; a value exactly half-way may have been rounded either way
GRID = np.round(np.arange(1.0, 5.001, 0.01), 2)
SD_GRID = np.round(np.arange(0.0, 2.501, 0.01), 2)


@pytest.mark.parametrize("n", [2, 3, 4, 6, 9])
def test_grim_and_grimmer_agree_with_enumeration(n):
    samples = list(itertools.combinations_with_replacement(range(1, 6), n))
    means = np.array([sum(x) / n for x in samples])
    sds = np.array([np.std(x, ddof=1) for x in samples])
    for m in GRID:
        near = np.abs(means - m) <= H
        # GRIM is exact
        assert reconstruct.grim_consistent(float(m), n) == bool(near.any()), (n, m)
        if not near.any():
            continue
        # GRIMMER checks necessary conditions: it never rejects a reachable (mean, SD) pair
        for s in SD_GRID:
            if (near & (np.abs(sds - s) <= H)).any():
                assert reconstruct.grimmer_consistent(float(m), float(s), n), (n, m, s)
    # and it does reject: mean 3 from three whole numbers has SD 0 or at least 1
    assert not reconstruct.grimmer_consistent(3.0, 0.5, 3)
    assert reconstruct.grimmer_consistent(3.0, 1.0, 3)


def test_grim_with_rows_of_different_lengths():
    # 2 rows averaging 5 items and 1 row averaging 4: totals 4a + 5b in twentieths
    reach = set()
    for a in range(10, 51):
        for b in range(4, 21):
            reach.add((a / 5 + b / 4) / 3)
    reach = np.array(sorted(reach))
    for m in GRID:
        expected = bool((np.abs(reach - m) <= H).any())
        assert reconstruct.grim_consistent(float(m), 3, items={5: 2, 4: 1}) == expected, m


def test_grim_errors():
    with pytest.raises(InputError, match="n must be"):
        reconstruct.grim_consistent(2.5, 0)
    with pytest.raises(InputError, match="do not add up"):
        reconstruct.grim_consistent(2.5, 3, items={5: 2})
    with pytest.raises(InputError, match="at least 2"):
        reconstruct.grimmer_consistent(2.5, 0.5, 1)


# --------------------------------------------------------------------------------------------
# Table 10's Ns
# --------------------------------------------------------------------------------------------
def test_table10_split_makes_every_cell_reachable():
    d = reconstruct.table10_split()
    assert d.n["rsw"] + d.n["usual"] == published.cell(1, "observations", "count", "total")
    for var in (*DOMAINS, "skill"):
        df_printed = published.cell(10, var, "df")
        n1, n2 = d.n_domain(var, "rsw"), d.n_domain(var, "usual")
        assert n1 + n2 - 2 == df_printed
        items = 5 if var == "skill" else 1
        for g, n in (("rsw", n1), ("usual", n2)):
            m, s = published.cell(10, var, "mean", g), published.cell(10, var, "sd", g)
            assert reconstruct.grim_consistent(m, n, items=items), (var, g, n)
            assert reconstruct.grimmer_consistent(m, s, n, items=items), (var, g, n)
    ev = d.evidence
    assert ev["cells_ok"].iloc[0] == 24
    assert (ev["cells_ok"].iloc[1:] < 24).all()  # the split is the only one
    # Table 1's own split leaves most of Table 10 unreachable
    t1 = ev[ev["n_rsw"] == published.cell(1, "observations", "count", "rsw:subtotal")]
    assert (t1["cells_ok"] < 12).all()


def test_table10_group_survives_validate(df):
    g = reconstruct.table10_group(pyr.validate(df))  # validate drops attrs: the cache fills in
    assert g.value_counts().to_dict() == {"usual": 41, "rsw": 26}
    assert g.isna().sum() == (df["group"] == "kft").sum()
    moved = df.attrs["table10_group"]
    assert len(moved) == 1
    (obs, grp), = moved.items()
    row = df[df["observation"] == obs].iloc[0]
    assert (row["group"], grp) == ("rsw", "usual")
    assert row["training"] != "programme"


# --------------------------------------------------------------------------------------------
# the documented structural rules
# --------------------------------------------------------------------------------------------
def test_nesting_and_ids(df):
    assert df["observation"].is_unique and df["worker"].is_unique  # one worker per observation
    assert (df.groupby("unit")["authority"].nunique() == 1).all()
    assert (df.groupby("unit", observed=True)["group"].nunique() == 1).all()
    assert set(df["authority"]) <= {f"LA{i}" for i in range(1, 6)}
    assert all(u.startswith(f"{a}-") for u, a in zip(df["unit"], df["authority"], strict=True))


def test_units_follow_the_rules(df):
    by_unit = df.groupby("unit", observed=True)
    sizes = by_unit.size()
    group = by_unit["group"].first()
    for g, cap in reconstruct.UNIT_CAP.items():
        assert (sizes[group == g] <= cap).all(), g
    # one CSW per RSW unit: at most one programme worker
    prog = by_unit["training"].apply(lambda s: int((s == "programme").sum()))
    assert (prog[group == "rsw"] <= 1).all()
    assert (prog[group != "rsw"] == 0).all()
    # the case discussion is a property of the unit
    key = df["discussion"].astype(str).fillna("-") + "/" + df["clinician"].astype(str).fillna("-")
    assert (key.groupby(df["unit"]).nunique() == 1).all()
    # clinicians only in RSW and KFT units, in RSW units of at most 3 authorities
    assert set(df.loc[df["clinician"] == 1, "group"]) <= {"rsw", "kft"}
    rsw_clin = df[(df["clinician"] == 1) & (df["group"] == "rsw")]
    assert rsw_clin["authority"].nunique() <= reconstruct.CLINICIAN_AUTHORITIES
    # a unit's discussion is observed only where the report recorded observations of
    # supervision (Table 1) or case discussion (Table 2) in that authority, one unit each
    observed = df[df["discussion"].notna()].groupby(["group", "authority"], observed=True)["unit"].nunique()
    t1 = published.table(1).query("row_key == 'supervision_observations'").set_index("group_key")["value"]
    t2 = published.table(2).query("row_key == 'case_discussion_observations'").set_index("group_key")["value"]
    for (g, la), k in observed.items():
        allowed = t2[la.lower()] if g == "kft" else t1[f"{g}:{la.lower()}"]
        assert k <= allowed, (g, la, k, allowed)


def test_kft_workers_are_mla_trained(df):
    assert set(df.loc[df["group"] == "kft", "training"]) == {reconstruct.KFT_TRAINING}


# --------------------------------------------------------------------------------------------
# build, cache
# --------------------------------------------------------------------------------------------
def test_short_build_is_seeded_and_keeps_hard_constraints():
    a = reconstruct.build(seed=5, n_iter=4000, chains=1)
    b = reconstruct.build(seed=5, n_iter=4000, chains=1)
    c = reconstruct.build(seed=6, n_iter=4000, chains=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    assert not a[list(DOMAINS)].equals(c[list(DOMAINS)])
    r = reconstruct.fit_report(a)
    counts = r[r["stat"].isin(["count", "n", "df"])]
    assert (counts["difference"] == 0).all(), counts[counts["difference"] != 0].to_string()
    pyr.validate(a)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"n_iter": 0}, "n_iter"),
     ({"chains": True}, "chains")],
)
def test_build_rejects_bad_arguments(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        reconstruct.build(**kwargs)


def test_cache_round_trip(tmp_path, df):
    p = reconstruct.write_cache(df, tmp_path / "r.csv")
    back = reconstruct.read_cache(p)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs == df.attrs
    assert p.stat().st_size < 20_000  # small


def test_cache_has_the_default_seed(df):
    assert df.attrs["seed"] == reconstruct.DEFAULT_SEED


@pytest.mark.slow
def test_cache_equals_a_fresh_build(df):
    fresh = reconstruct.build()
    pd.testing.assert_frame_equal(fresh, df)
    assert fresh.attrs["table10_group"] == df.attrs["table10_group"]


def test_report_columns_as_documented(rep):
    assert list(rep.columns) == [
        "table", "row", "column", "stat", "printed", "value", "n", "reconstructed",
        "difference", "tolerance", "rounds_to_printed", "within_precision", "grim", "flag",
        "reason", "note",
    ]
    for col in rep.columns:
        assert f"{col} " in " ".join(datasets.reconstruction_report.__doc__.split()), col
    assert not math.isnan(rep.loc[rep["stat"] == "r", "reconstructed"].item())
