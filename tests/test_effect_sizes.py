"""Variance partition (ICC) and effect sizes in the Education Endowment Foundation's convention,
against hand computations from the variance components of small fitted fixtures."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pyramid.compare import compact, compare
from pyramid.data.simulate import simulate
from pyramid.effect_sizes import ES_THRESHOLDS, total_sd, unadjusted_fit
from pyramid.errors import InputError


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def fits():
    """The skill model on simulated data with two observations per worker, and its
    unconditional model (intercept and group levels only) on the same rows."""
    from pyramid.fit import fit

    sim = simulate((8, 3, 2, 2), seed=6, mix={"discussion_observed": 1.0})
    res = _quiet(fit, sim.data, model="skill", draws=250, tune=250, random_seed=3,
                 progressbar=False, verbose=False)
    return res, _quiet(unadjusted_fit, res)


def _flat(res, var, **sel):
    da = res.posterior[var]
    if sel:
        da = da.sel(**sel)
    return np.asarray(da.transpose("chain", "draw").values, dtype=float).ravel()


def test_unconditional_model_is_intercept_and_group_levels(fits):
    res, un = fits
    assert un.spec.family == "gaussian" and list(un.spec.terms) == []
    assert list(un.spec.groups) == list(res.spec.groups)
    assert len(un.data) == len(res.data)
    assert un.groups_kept == res.groups_kept
    assert un.priors.name == res.priors.name


def test_effect_sizes_match_a_hand_computation_from_the_variance_components(fits):
    res, un = fits
    t = compare(res, effect_sizes=un).set_index("key")
    # the skill model's programme-vs-none contrast is its coefficient, draw by draw
    delta = _flat(res, "b_training", training="programme")
    total = np.sqrt(_flat(un, "sigma") ** 2 + sum(_flat(un, f"sd_{g}") ** 2
                                                  for g in un.groups_kept))
    es = delta / total[np.arange(delta.size) % total.size]
    r = t.loc["programme_vs_none"]
    assert r.estimate == pytest.approx(delta.mean(), rel=1e-10)
    assert r.es == pytest.approx(es.mean(), rel=1e-10)
    lo, hi = np.quantile(es, [0.025, 0.975])
    assert (r.es_lower, r.es_upper) == pytest.approx((lo, hi), rel=1e-10)
    for thr in ES_THRESHOLDS:
        assert r[f"es_p_gt_{thr:g}"] == pytest.approx(float((es > thr).mean()), abs=0)
    np.testing.assert_allclose(total_sd(un), total, rtol=1e-12)
    assert any("unconditional model" in n for n in t.attrs["notes"])
    # compact shows the effect size where it was asked for, and not otherwise
    assert "ES" in compact(t.reset_index()).columns
    plain = compare(res, "training=programme - training=none")
    assert plain["es"].isna().all() and "ES" not in compact(plain).columns


def test_effect_sizes_refuse_a_fit_of_other_rows_or_a_conditional_model(fits):
    res, un = fits
    with pytest.raises(InputError, match="unconditional Gaussian model"):
        compare(res, "training=programme - training=none", effect_sizes=res)
    with pytest.raises(InputError, match="effect_sizes must be True, False"):
        compare(res, "training=programme - training=none", effect_sizes="yes")


def test_variance_partition_is_each_levels_share(fits):
    res, un = fits
    for fit in (res, un):
        vp = fit.variance_partition(ci_prob=0.8)
        assert list(vp["level"]) == [*fit.groups_kept, "residual"]
        comp = {g: _flat(fit, f"sd_{g}") ** 2 for g in fit.groups_kept}
        comp["residual"] = _flat(fit, "sigma") ** 2
        total = sum(comp.values())
        for _, row in vp.iterrows():
            share = comp[row["level"]] / total
            assert row["share"] == pytest.approx(share.mean(), rel=1e-10)
            assert (row["share_lower"], row["share_upper"]) == pytest.approx(
                tuple(np.quantile(share, [0.1, 0.9])), rel=1e-10)
            assert row["sd"] == pytest.approx(np.sqrt(comp[row["level"]]).mean(), rel=1e-10)
        assert vp["share"].sum() == pytest.approx(1.0, rel=1e-12)
        assert (vp["scale"] == "skill").all()
