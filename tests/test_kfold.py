"""Grouped K-fold cross-validation by refitting (pyramid.kfold), against a brute-force loop of
refits scored with a dense multivariate normal (skill) or by enumerating every unit's
discussion and clinician values (pyramid, slow tier)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from pyramid.checks import derived_seed
from pyramid.data.simulate import simulate
from pyramid.errors import InputError
from pyramid.kfold import kfold, kfold_table

KW = {"draws": 100, "tune": 100, "progressbar": False, "verbose": False}


def _fit(data, **kwargs):
    from pyramid.fit import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(data, **{**KW, **kwargs})


def _flat(res, var, **sel):
    da = res.posterior[var]
    if sel:
        da = da.sel(**sel)
    return np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)


def _cov(held, fold, s, sigma):
    """Dense covariance of the held-out rows: sigma^2 I + sum_level sd^2 [same group]."""
    cov = sigma ** 2 * np.eye(len(held))
    for g in fold.groups_kept:
        ids = held[g].astype(str).to_numpy()
        cov += _flat(fold, f"sd_{g}").reshape(-1)[s] ** 2 * (ids[:, None] == ids[None, :])
    return cov


def _skill_mean(held, fold):
    """Fixed part of the skill model for the held-out rows, per draw (S, N)."""
    b = _flat(fold, "b_training").reshape(-1, 3)
    lev = {"none": -1, "other": 0, "mla": 1, "programme": 2}
    t = np.array([lev[str(v)] for v in held["training"]])
    eta = _flat(fold, "intercept").reshape(-1, 1) + np.where(t >= 0, b[:, np.maximum(t, 0)], 0)
    eta = eta + _flat(fold, "b_clinician").reshape(-1, 1) * held["clinician"].astype(float).to_numpy()
    zeta = _flat(fold, "zeta_discussion").reshape(-1, 2)
    cum = np.concatenate([np.zeros((zeta.shape[0], 1)), np.cumsum(zeta, axis=1)], axis=1)
    d = np.array([["non_systemic", "green_shoots", "systemic"].index(str(v))
                  for v in held["discussion"]])
    return eta + _flat(fold, "b_discussion").reshape(-1, 1) * 2 * cum[:, d]


@pytest.fixture(scope="module")
def skill_result():
    sim = simulate((3, 2, 2, 2), seed=8, mix={"discussion_observed": 1.0})
    return _fit(sim.data, model="skill", random_seed=3)


@pytest.fixture(scope="module")
def skill_folds(skill_result):
    return kfold(skill_result, "authority")


def test_kfold_matches_a_brute_force_refit_loop(skill_result, skill_folds):
    res = skill_result
    folds = skill_folds
    data = res.data.reset_index(drop=True)
    groups = list(pd.unique(data["authority"].astype(str)))
    assert list(folds["group"]) == groups and folds.attrs["K"] == 3
    for k, g in enumerate(groups):
        train = data[data["authority"].astype(str) != g]
        held = data[data["authority"].astype(str) == g].reset_index(drop=True)
        fold = _fit(train, model="skill", random_seed=derived_seed(3, k))
        mu = _skill_mean(held, fold)
        sigma = _flat(fold, "sigma").reshape(-1)
        ll = np.array([stats.multivariate_normal.logpdf(held["skill"].to_numpy(float), mu[s],
                                                        _cov(held, fold, s, sigma[s]))
                       for s in range(sigma.size)])
        ref = special.logsumexp(ll) - math.log(ll.size)
        row = folds.iloc[k]
        assert row["n_rows"] == len(held)
        assert row["elpd"] == pytest.approx(ref, rel=1e-9), g
    assert folds.attrs["elpd_kfold"] == pytest.approx(folds["elpd"].sum(), rel=1e-12)
    assert folds.attrs["se"] == pytest.approx(math.sqrt(3 * folds["elpd"].var(ddof=1)),
                                              rel=1e-12)
    table = kfold_table({"a": folds, "b": folds})
    assert table["elpd_diff"].tolist() == [0.0, 0.0]


def test_cli_loo_by_authority(skill_result, skill_folds, tmp_path, monkeypatch, capsys):
    import importlib

    from pyramid.cli import main

    kf = importlib.import_module("pyramid.kfold")  # the module (pyramid.kfold is the function)

    path = tmp_path / "s.nc"
    skill_result.save(path)
    seen = []

    def fake(result, by, **kwargs):
        seen.append(by)
        return skill_folds

    monkeypatch.setattr(kf, "kfold", fake)
    assert main(["loo", str(path), "--by", "authority"]) == 0
    out = capsys.readouterr().out
    assert seen == ["authority"]
    assert "one authority left out at a time" in out and "elpd_kfold" in out
    assert f"{skill_folds.attrs['elpd_kfold']:.2f}" in out
    assert main(["loo", str(path), "--by", "authority", "--format", "csv"]) == 0
    csv = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert csv["elpd"].tolist() == pytest.approx(skill_folds["elpd"].tolist(), rel=1e-12)
    monkeypatch.undo()
    assert main(["loo", str(path), "--by", "school"]) == 2
    assert "by must be one of the model's group levels" in capsys.readouterr().err


def test_kfold_refuses_what_it_cannot_do(skill_result):
    with pytest.raises(InputError, match="by must be one of the model's group levels"):
        kfold(skill_result, "school")
    one = skill_result.data[skill_result.data["authority"] == skill_result.data[
        "authority"].iloc[0]]
    fake = type("R", (), {"spec": skill_result.spec, "data": one})()
    with pytest.raises(InputError, match="at least 2 groups"):
        kfold(fake, "authority")


@pytest.mark.slow  # a pyramid fit and 3 refits: compile and sampling, minutes on 2 cores
def test_kfold_of_the_pyramid_model_matches_enumeration():
    sim = simulate((4, 3, 2, 2), seed=4, mix={"discussion_observed": 0.7})
    res = _fit(sim.data, model="pyramid", random_seed=5)
    folds = kfold(res, "authority")
    data = res.data.reset_index(drop=True)
    for k, g in enumerate(pd.unique(data["authority"].astype(str))):
        train = data[data["authority"].astype(str) != g]
        held = data[data["authority"].astype(str) == g].reset_index(drop=True)
        fold = _fit(train, model="pyramid", random_seed=derived_seed(5, k))
        ref = _pyramid_heldout(fold, held)
        assert folds.iloc[k]["elpd"] == pytest.approx(ref, rel=1e-8), g


def _pyramid_heldout(fold, held):
    """log mean_s p(y, observed discussion and clinician | theta_s), every combination of the
    held-out units' missing values enumerated, each a dense multivariate normal."""
    from pyramid.data.schema import derive_csw

    units = list(pd.unique(held["unit"].astype(str)))
    csw = derive_csw(held)
    sigma = _flat(fold, "sigma").reshape(-1)
    base = _skill_mean(held.assign(clinician=0, discussion="non_systemic"), fold)
    b_c = _flat(fold, "b_clinician").reshape(-1)
    zeta = _flat(fold, "zeta_discussion").reshape(-1, 2)
    med = _flat(fold, "b_discussion").reshape(-1, 1) * 2 * np.concatenate(
        [np.zeros((zeta.shape[0], 1)), np.cumsum(zeta, axis=1)], axis=1)
    cuts = _flat(fold, "discussion_cutpoints").reshape(-1, 2)
    g_c = _flat(fold, "discussion_clinician").reshape(-1)
    g_w = _flat(fold, "discussion_csw").reshape(-1)
    rate = _flat(fold, "clinician_rate").reshape(-1, 2)
    out = []
    for s in range(sigma.size):
        cov = _cov(held, fold, s, sigma[s])
        options, lw_unit = [], []
        for u in units:
            rows = held["unit"].astype(str) == u
            c_obs = held.loc[rows, "clinician"].dropna()
            d_obs = held.loc[rows, "discussion"].dropna()
            cw = int(csw[rows.to_numpy()][0])
            cs = [int(c_obs.iloc[0])] if len(c_obs) else [0, 1]
            ks = ([["non_systemic", "green_shoots", "systemic"].index(str(d_obs.iloc[0]))]
                  if len(d_obs) else [0, 1, 2])
            opts = []
            for c in cs:
                p_c = rate[s, cw] if c == 1 else 1 - rate[s, cw]
                eta = g_c[s] * c + g_w[s] * cw
                cdf = np.concatenate([[0.0], stats.norm.cdf(cuts[s] - eta), [1.0]])
                for kk in ks:
                    opts.append((c, kk, math.log(p_c) + math.log(cdf[kk + 1] - cdf[kk])))
            options.append(opts)
            lw_unit.append(rows.to_numpy())
        terms = []
        for combo in itertools.product(*options):
            mu = base[s].copy()
            lw = 0.0
            for rows, (c, kk, l_) in zip(lw_unit, combo, strict=True):
                mu[rows] += b_c[s] * c + med[s, kk]
                lw += l_
            terms.append(lw + stats.multivariate_normal.logpdf(held["skill"].to_numpy(float),
                                                               mu, cov))
        out.append(special.logsumexp(terms))
    out = np.array(out)
    return float(special.logsumexp(out) - math.log(out.size))
