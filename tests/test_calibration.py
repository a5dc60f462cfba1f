"""Simulation-based calibration: the uniformity tests, the prior draw, a tiny run, the CLI, and
(slow) SBC of the skill model over 100 simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyramid as pyr
from pyramid.calibration import summarise_calibration, uniformity_test
from pyramid.cli import main
from pyramid.errors import InputError
from pyramid.plots.calibration import plot_ranks

FAST = {"draws": 100, "tune": 100, "jobs": 0, "progressbar": False}


# ------------------------------------------------------------------------------------------
# the uniformity tests
# ------------------------------------------------------------------------------------------
def _ecdf_min_tail_by_hand(ranks, n_values):
    """The ECDF statistic written out with scipy.stats.binom, point by point."""
    n = len(ranks)
    tails = []
    for j in range(1, n_values):
        c = int(np.sum(np.asarray(ranks) < j))
        z = j / n_values
        tails.append(min(stats.binom.cdf(c, n, z), stats.binom.sf(c - 1, n, z)))
    return min(tails)


def test_ecdf_statistic_matches_a_direct_computation():
    ranks = np.random.default_rng(1).integers(0, 100, size=60)
    u = uniformity_test(ranks, 100)
    assert u["statistic"] == pytest.approx(_ecdf_min_tail_by_hand(ranks, 100), rel=1e-10)
    cdf = np.array([np.mean(ranks < j) for j in range(1, 100)])
    assert u["max_ecdf_diff"] == pytest.approx(np.max(np.abs(cdf - np.arange(1, 100) / 100)),
                                               rel=1e-10)


def test_chi_square_matches_scipy():
    ranks = np.random.default_rng(2).integers(0, 100, size=200)
    u = uniformity_test(ranks, 100)
    assert u["bins"] == 20 and u["chi2_df"] == 19
    # reference: scipy.stats.chisquare(np.histogram(ranks, bins=20, range=(0, 100))[0])
    ref = stats.chisquare(np.histogram(ranks, bins=20, range=(0, 100))[0])
    assert u["chi2"] == pytest.approx(ref.statistic, rel=1e-10)
    assert u["chi2_p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert uniformity_test(ranks, 100, bins=4)["chi2_df"] == 3


def test_uniformity_p_values_are_calibrated_under_the_null():
    # 400 samples of 50 uniform ranks: the share of p < 0.05 is binomial(400, 0.05) if the
    # test is exact (mean 20, sd 4.4); allow 3.5 sd either side
    rng = np.random.default_rng(3)
    p = np.array([uniformity_test(rng.integers(0, 100, 50), 100)["p_value"]
                  for _ in range(400)])
    assert 0.05 * 400 - 15 <= np.sum(p < 0.05) <= 0.05 * 400 + 15


@pytest.mark.parametrize("name, ranks", [
    # posterior too narrow: the truth falls in the tails (a U shape)
    ("overconfident", np.concatenate([np.arange(0, 10).repeat(5), np.arange(90, 100).repeat(5)])),
    # posterior biased upwards: the truth ranks low
    ("biased", (np.random.default_rng(4).beta(1, 2, 100) * 100).astype(int)),
])
def test_uniformity_tests_detect_miscalibration(name, ranks):
    u = uniformity_test(ranks, 100)
    assert u["p_value"] < 0.01 and u["chi2_p_value"] < 0.01, name


@pytest.mark.parametrize("args, match", [
    (([], 100), "at least one rank"),
    (([0, 100], 100), r"ranks must lie in 0\.\.99"),
    (([0, 1], 1), "n_values must be a whole number >= 2"),
])
def test_uniformity_test_bad_input(args, match):
    with pytest.raises(InputError, match=match):
        uniformity_test(*args)
    with pytest.raises(InputError, match="bins must be >= 2 and divide 100"):
        uniformity_test([1, 2], 100, bins=7)


def test_summarise_calibration_and_plot():
    rng = np.random.default_rng(5)
    recs = [{"key": f"s{i}", "status": "ok", "result": {
        "ranks": {"clinician": int(rng.integers(0, 100)), "sigma": int(i // 4)},  # 0..49 only
        "fixed_effects": ["clinician"], "n_draws_ranked": 99, "divergences": int(i == 0)}}
        for i in range(200)] + [{"key": "bad", "status": "failed", "error": "x"}]
    table, ranks = summarise_calibration(recs)
    t = table.set_index("parameter")
    assert list(table["parameter"]) == ["clinician", "sigma"]  # fixed effects first
    assert bool(t.loc["clinician", "pass"]) and not bool(t.loc["sigma", "pass"])
    assert t.loc["clinician", "n_sims"] == 200 and t.loc["clinician", "n_ranks"] == 99
    assert t.loc["clinician", "share_divergent"] == pytest.approx(1 / 200)
    assert len(ranks) == 400
    fig = plot_ranks(ranks, table)
    assert [ax.get_title().split()[0] for ax in fig.axes if ax.get_visible()] == \
        ["clinician", "sigma"]
    chi = summarise_calibration(recs, test="chi2")[0].set_index("parameter")
    assert chi.loc["sigma", "test"] == "chi2" and not bool(chi.loc["sigma", "pass"])


# ------------------------------------------------------------------------------------------
# the prior draw
# ------------------------------------------------------------------------------------------
def _layout(model):
    from pyramid.models.coding import prepare
    from pyramid.models.layout import build_layout

    sim = pyr.simulate((3, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    return build_layout(prepare(pyr.load_spec(model), sim.data, warn=False),
                        pyr.load_priors("default"))


def test_prior_draw_of_the_skill_model():
    from pyramid.calibration import _prior_draw

    lay = _layout("skill")
    d = _prior_draw(lay, 3, np.random.default_rng(3))
    for g in lay.md.groups:
        assert d[f"sd_{g.name}"][0] >= 0 and f"sd_{g.name}_signed" not in d
        assert d[f"r_{g.name}"].shape == (1, g.n)
    assert d["zeta_discussion"].sum() == pytest.approx(1.0)
    assert d["sigma"][0] > 0


def test_prior_draw_orders_ordered_variables():
    from pyramid.calibration import _prior_draw

    lay = _layout("domains")
    for seed in range(5):
        d = _prior_draw(lay, seed, np.random.default_rng(seed))
        cuts = d["cutpoints_centred"][0]
        assert np.all(np.diff(cuts) > 0)
        # the thresholds at the reference levels are the sorted ones shifted by one number
        shift = d["cutpoints"][0] - cuts
        np.testing.assert_allclose(shift, shift[0], rtol=1e-10)


def _row_pyramid(folder):
    """A spec file of the pyramid model with its discussion at row level."""
    path = folder / "pyramid-row.toml"
    path.write_text(pyr.load_spec("pyramid").text.replace('level = "unit"', 'level = "row"')
                    .replace('unit = "marginal", worker = "marginal"',
                             'unit = "non_centred", worker = "non_centred"'))
    return path


def test_path_replicate_draws_discussion_and_clinician_from_the_model():
    """SBC of the pyramid model replicates every unit's clinician presence and discussion
    from the model's own equations (the skill scores from the skill equation), keeping the
    simulated data's missing values missing."""
    from pyramid.calibration import _path_replicate, _prior_draw
    from pyramid.models.coding import prepare
    from pyramid.models.layout import build_layout

    sim = pyr.simulate((4, 3, 2, 2), seed=2, mix={"discussion_observed": 0.6})
    md = prepare(pyr.load_spec("pyramid"), sim.data, warn=False)
    layout = build_layout(md, pyr.load_priors("default"))
    seen = set()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        theta = _prior_draw(layout, seed, rng)
        rep = _path_replicate(md, theta, rng)
        assert rep.n_rows == md.n_rows and np.isfinite(rep.y).all()
        # the same units observed; the replicated values are the drawn ones
        np.testing.assert_array_equal(rep.unit_mediator >= 0, md.unit_mediator >= 0)
        np.testing.assert_array_equal(rep.unit_exposure >= 0, md.unit_exposure >= 0)
        obs = rep.unit_mediator >= 0
        np.testing.assert_array_equal(rep.unit_mediator[obs],
                                      theta["discussion_unit"][0].astype(int)[obs])
        obs = rep.unit_exposure >= 0
        np.testing.assert_array_equal(rep.unit_exposure[obs],
                                      theta["clinician_unit"][0].astype(int)[obs])
        seen.add(tuple(rep.unit_mediator))
    assert len(seen) > 1


# ------------------------------------------------------------------------------------------
# tiny runs
# ------------------------------------------------------------------------------------------
def test_tiny_calibration(tmp_path):
    out = tmp_path / "sbc"
    t = pyr.calibrate("skill", sims=3, authorities=3, units=2, workers_per_unit=2, observations=2,
                      random_seed=7, out=out, thin_to=49, **FAST)
    assert {"calibration.csv", "ranks.csv", "ranks.png", "results.jsonl"} <= \
        {p.name for p in out.iterdir()}
    fixed = set(t.loc[t["fixed_effect"], "parameter"])
    assert fixed == {"intercept", "training[other]", "training[mla]", "training[programme]",
                     "clinician", "discussion"}
    assert {"sigma", "sd_authority", "sd_unit", "sd_worker"} <= set(t["parameter"])
    assert not any(p.endswith("_signed") for p in t["parameter"])
    assert "loglik_total" not in set(t["parameter"])  # computed from the data: not ranked
    assert (t["n_sims"] == 3).all() and (t["n_ranks"] == 49).all()
    ranks = t.attrs["ranks"]
    assert ranks["rank"].between(0, 49).all()
    again = pyr.calibrate("skill", sims=3, authorities=3, units=2, workers_per_unit=2, observations=2,
                          random_seed=7, out=out, thin_to=49, **FAST)
    assert again.attrs["report"]["skipped"] == 3
    pd.testing.assert_frame_equal(again, t)


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "ROW"}, "has its discussion at row level"),
    ({"thin_to": 500}, r"thin_to \(500\) must not exceed chains x draws \(200\)"),
    ({"test": "ks"}, "test must be 'ecdf' or 'chi2'"),
    ({"bins": 7}, "bins must divide thin_to \\+ 1 = 100"),
    ({"alpha": 0}, "alpha must be in"),
    ({"mix": {"discussion_observed": 2}}, "discussion_observed"),
])
def test_calibrate_bad_arguments(tmp_path, kwargs, match):
    args = {"sims": 2, "out": tmp_path, **FAST, **kwargs}
    if args.get("model") == "ROW":
        args["model"] = _row_pyramid(tmp_path)
    with pytest.raises(InputError, match=match):
        pyr.calibrate(**args)


def test_cli_calibrate(tmp_path, capsys):
    code = main(["calibrate", "--model", "skill", "--sims", "2", "-A", "3", "-U", "2", "-W",
                 "2", "-O", "2", "--draws", "100", "--tune", "100", "--thin-to", "49",
                 "--jobs", "0", "--no-progress", "--seed", "2", "--out", str(tmp_path / "c")])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "parameters pass" in cap.out and "clinician" in cap.out
    assert main(["calibrate", "--model", str(_row_pyramid(tmp_path)), "--out",
                 str(tmp_path / "x")]) == 2
    assert "has its discussion at row level" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# slow: SBC of the skill model (issue 5, "Done when")
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sbc_of_the_skill_model(tmp_path):
    t = pyr.calibrate("skill", sims=100, random_seed=2026, out=tmp_path / "sbc",
                      progressbar=False)
    fixed = t[t["fixed_effect"]]
    assert len(fixed) == 6 and (fixed["n_sims"] == 100).all()
    assert fixed["pass"].all(), fixed[["parameter", "p_value", "chi2_p_value"]]


# ------------------------------------------------------------------------------------------
# slow: SBC of the pyramid path model (issue 20)
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sbc_of_the_pyramid_model(tmp_path):
    """100 simulations of the path model's own joint (a third of the units' discussion and
    clinician missing, integrated out by the model): every fixed effect's ranks uniform."""
    t = pyr.calibrate("pyramid", sims=100, random_seed=2020, out=tmp_path / "sbc",
                      mix={"discussion_observed": 0.67}, progressbar=False)
    fixed = t[t["fixed_effect"]]
    assert len(fixed) == 10 and (fixed["n_sims"] == 100).all()
    assert fixed["pass"].all(), fixed[["parameter", "p_value", "chi2_p_value"]]
    assert "direct_csw" not in set(t["parameter"])  # 0 by construction: not ranked
