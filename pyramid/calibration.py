"""Simulation-based calibration (Talts et al. 2018) of a model and prior set.

:func:`calibrate` draws parameters from the prior, simulates data from the model given them,
fits, and ranks each true value among thinned posterior draws; uniform ranks for every
parameter (:func:`uniformity_test`) mean the fitting is calibrated. Fits run as in
:mod:`pyramid.planning` (:mod:`pyramid.executor`, the fast path of
:func:`pyramid.models.sampling.fit_compiled`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import bdtr, bdtrc

from pyramid import defaults
from pyramid.checks import check_prob, derived_seed, positive_int
from pyramid.data.simulate import Layout, simulate
from pyramid.errors import InputError
from pyramid.executor import Task
from pyramid.models import generated
from pyramid.models.coding import prepare
from pyramid.models.sampling import fit_compiled, model_layout, model_target, prior_draws
from pyramid.plots.calibration import plot_ranks
from pyramid.runs import (
    OutputFolder,
    fit_summary,
    identity_hash,
    jsonable,
    quiet,
    run_fits,
    run_seed,
    sampling_args,
    spec_from_payload,
    spec_payload,
)
from pyramid.specs import load_priors, model_spec

__all__ = ["calibrate", "summarise_calibration", "uniformity_test"]


# --------------------------------------------------------------------------------------------
# one fit (runs in the workers)
# --------------------------------------------------------------------------------------------
def _prior_draw(layout, seed: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One draw of the model's quantities from its prior
    (:func:`pyramid.models.sampling.prior_draws`: each free variable from its prior, ordered
    ones sorted, the model's quantities computed from them), with a leading draw axis of 1;
    group effects the model integrates out are drawn from Normal(0, sd).
    """
    draws = prior_draws(layout, 1, seed)
    extra, _ = generated.integrated_draws(layout.md, draws, rng, prior=True)
    draws.update(extra)
    return draws


def _path_replicate(md, theta: dict, rng: np.random.Generator):
    """Data from the unit-level path model's own joint given one prior draw: every unit's
    clinician presence and discussion drawn afresh from their equations (given the unit's
    csw), the skill scores from the skill equation with the group effects drawn from their
    prior; the simulated data's missing discussion / clinician values stay missing (missing
    completely at random, so the posterior is the model's). Returns the coded data."""
    spec = md.spec
    med = spec.mediator.outcome
    expo = spec.exposure.outcome if spec.exposure else None
    fresh = replace(md, unit_mediator=np.full_like(md.unit_mediator, -1),
                    unit_exposure=(np.full_like(md.unit_exposure, -1) if expo else None))
    theta.update(generated.draw_path_unit_prior(fresh, theta, rng))
    skill = generated.predictive(fresh, theta, rng, condition_latent=False)["skill"][0]
    frame = md.frame.copy()
    unit = md.unit_index
    levels = list(md.mediator.levels)
    k = theta[f"{med}_unit"][0].astype(int)[unit]
    keep_med = frame[med].notna().to_numpy()
    frame[med] = pd.Categorical(np.where(keep_med, np.asarray(levels, dtype=object)[k], None),
                                categories=levels, ordered=True)
    if expo:
        c = theta[f"{expo}_unit"][0].astype(int)[unit]
        keep = frame[expo].notna().to_numpy()
        frame[expo] = pd.array(np.where(keep, c, 0), dtype="Int8")
        frame.loc[~keep, expo] = pd.NA
    frame[spec.outcome] = skill
    return prepare(spec, frame.drop(columns=["csw"], errors="ignore"), warn=False)


def _group_dims(layout) -> set[str]:
    return ({g.name for g in layout.md.groups} | {b.name for b in layout.md.blocks}
            | {"path_unit"})


#: Quantities computed from the outcome (the data's log-likelihood): not parameters.
_NOT_PARAMETERS = {"loglik_total"}


def _sbc_fit(p: dict) -> dict:
    """One SBC fit: prior draw, data from the model given it, fit, ranks."""
    spec, priors = spec_from_payload(p)
    rng = np.random.default_rng(p["sim_seed"])
    with quiet() as caught:
        warnings.simplefilter("always")
        if spec.study is not None:  # another study: its covariates and nesting
            from pyramid.data.simulate_study import simulate_study

            sim = simulate_study(spec.study, tuple(p["design"]), mix=p["mix"],
                                 seed=p["sim_seed"])
        else:
            sim = simulate(tuple(p["design"]), mix=p["mix"], seed=p["sim_seed"])
        md = prepare(spec, sim.data, warn=False)
        theta = _prior_draw(model_layout(md, priors), p["prior_seed"], rng)
        if spec.family == "path":
            md_rep = _path_replicate(md, theta, rng)
        else:
            rep = generated.predictive(md, theta, rng, condition_latent=False)
            if spec.family == "gaussian":
                md_rep = replace(md, y=np.asarray(rep["skill"][0], dtype=float))
            else:  # cumulative_probit: the replicated ratings, 1..K, as codes 0..K-1
                md_rep = replace(md, y=np.asarray(rep["ratings"][0], dtype=np.int64) - 1)
        layout = model_layout(md_rep, priors)
        post, stats, info = fit_compiled(
            model_target(layout), draws=p["draws"], tune=p["tune"], chains=p["chains"],
            random_seed=p["fit_seed"], target_accept=spec.target_accept, reuse=p["reuse"],
        )
    names = {(var, tuple(sorted(sel.items()))): name for name, (var, sel) in layout.coefs.items()}
    dims = {k: tuple(v) for k, v in layout.dims.items() if v}
    skip_dims = _group_dims(layout)
    not_parameters = _NOT_PARAMETERS
    n_total = post.sizes["chain"] * post.sizes["draw"]
    idx = np.unique(np.linspace(0, n_total - 1, p["thin_to"]).round().astype(int))
    ranks, fixed = {}, []
    used = []
    for var in post.data_vars:
        var = str(var)
        # chol_<g>: the packed Cholesky factor of a block of varying slopes, ranked through
        # its SDs and correlations (sd_<g>, sd_<g>_slope, cor_<g>) instead
        if (var.endswith("_signed") or var.startswith("chol_") or var not in theta
                or var in not_parameters or set(dims.get(var, ())) & skip_dims):
            continue
        da = post[var].transpose("chain", "draw", ...)
        arr = np.asarray(da.values, dtype=float).reshape(n_total, -1)[idx]
        truth = np.asarray(theta[var][0], dtype=float).ravel()
        extra_dims = da.dims[2:]
        for k in range(arr.shape[1]):
            sel = {}
            if extra_dims:
                pos = np.unravel_index(k, da.shape[2:])
                sel = {d: str(da[d].values[i]) if d in da.coords else str(i)
                       for d, i in zip(extra_dims, pos, strict=True)}
            key = (var, tuple(sorted(sel.items())))
            label = names.get(key) or (var + (f"[{','.join(sel.values())}]" if sel else ""))
            if np.ptp(arr[:, k]) == 0 and arr[0, k] == truth[k]:
                continue  # constant by construction (direct_csw where csw is no skill term)
            ranks[label] = int((arr[:, k] < truth[k]).sum())
            if key in names:
                fixed.append(label)
        used.append((var, {}))
    diag = fit_summary(post, stats, used) if used else {}
    return {"ranks": ranks, "fixed_effects": fixed, "n_draws_ranked": int(len(idx)),
            "n_rows": int(md.n_rows), **diag, **info,
            "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5]}


# --------------------------------------------------------------------------------------------
# uniformity of the ranks
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _null_tails(n: int, n_values: int, n_null: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n_values, 1.0 / n_values), size=n_null)
    return _min_tail(np.cumsum(counts, axis=1)[:, :-1], n, n_values)


def _min_tail(cum: np.ndarray, n: int, n_values: int) -> np.ndarray:
    """Smallest binomial tail probability of the rank ECDF over the evaluation points."""
    z = np.arange(1, n_values) / n_values
    lower = bdtr(cum, n, z)
    upper = np.where(cum > 0, bdtrc(np.maximum(cum - 1, 0), n, z), 1.0)
    return np.minimum(lower, upper).min(axis=-1)


def uniformity_test(ranks: Sequence[int], n_values: int, *, bins: int | None = None,
                    n_null: int = 5000, seed: int = 0) -> dict[str, float]:
    """Tests that ranks are uniform on ``0 .. n_values - 1``.

    Two tests:

    * **ECDF** (Säilynoja, Bürkner and Vehtari 2022): at each evaluation point ``z_j = j /
      n_values`` the number of ranks below ``j`` is Binomial(n, z_j) under uniformity. The
      statistic is the smallest binomial tail probability over all points (small: the ECDF
      leaves its simultaneous band somewhere); its p-value is its rank among ``n_null``
      simulations of uniform ranks (this is the statistic whose quantile gives the simultaneous
      band that ``arviz_stats.ecdf_utils`` draws; arviz offers the band, not a p-value, so the
      few lines are here). Exact for discrete ranks: no randomisation, no binning.
    * **chi-square** on ``bins`` equal bins of ranks (``bins`` must divide ``n_values``;
      default the most bins, up to 20, with at least 5 expected per bin), scipy's
      ``chisquare``.

    Parameters
    ----------
    ranks : sequence of int
        Ranks in ``0 .. n_values - 1`` (e.g. the number of L posterior draws below the truth:
        ``n_values = L + 1``).
    n_values : int
    bins : int, optional
    n_null : int, default 5000
        Simulations of the ECDF statistic under uniformity.
    seed : int, default 0
        Seed of those simulations.

    Returns
    -------
    dict
        ``statistic`` (smallest tail probability), ``p_value`` (ECDF test),
        ``max_ecdf_diff`` (largest |ECDF - uniform CDF|), ``chi2``, ``chi2_df``,
        ``chi2_p_value``, ``bins``.

    Examples
    --------
    >>> r = uniformity_test(list(range(100)) * 2, 100)
    >>> r["p_value"] > 0.5, r["chi2"]
    (True, 0.0)
    >>> uniformity_test([0] * 50 + [99] * 50, 100)["p_value"] < 0.001
    True
    """
    r = np.asarray(ranks, dtype=int)
    n = len(r)
    n_values = positive_int("n_values", n_values, minimum=2)
    if n == 0:
        raise InputError("uniformity_test needs at least one rank")
    if r.min() < 0 or r.max() >= n_values:
        raise InputError(f"ranks must lie in 0..{n_values - 1}; got {r.min()}..{r.max()}")
    cum = np.cumsum(np.bincount(r, minlength=n_values))[:-1]
    stat = float(_min_tail(cum, n, n_values))
    null = _null_tails(n, n_values, n_null, seed)
    p_value = float((1 + np.sum(null <= stat)) / (n_null + 1))
    z = np.arange(1, n_values) / n_values
    max_diff = float(np.max(np.abs(cum / n - z)))
    if bins is None:
        fit = [b for b in range(min(20, n_values), 1, -1) if n_values % b == 0 and n / b >= 5]
        bins = fit[0] if fit else 0
    elif n_values % bins or bins < 2:
        raise InputError(f"bins must be >= 2 and divide {n_values}; got {bins}")
    if bins:
        counts = np.bincount(r * bins // n_values, minlength=bins)
        chi2, chi2_p = stats.chisquare(counts)
        chi2, chi2_p = float(chi2), float(chi2_p)
    else:
        chi2 = chi2_p = float("nan")
    return {"statistic": stat, "p_value": p_value, "max_ecdf_diff": max_diff, "chi2": chi2,
            "chi2_df": max(bins - 1, 0), "chi2_p_value": chi2_p, "bins": bins}


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------
def calibrate(
    model: Any = defaults.PLANNING_MODEL,
    sims: int = 100,
    *,
    priors: Any = "default",
    formula: str | None = None,
    family: str | None = None,
    authorities: int = 5,
    units: int = 4,
    workers_per_unit: int = 2,
    observations: int = 2,
    mix: Mapping[str, Any] | None = None,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    thin_to: int = 99,
    test: str = "ecdf",
    alpha: float = 0.01,
    bins: int | None = None,
    random_seed: int | None = None,
    out: str | Path | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    progressbar: bool = True,
    retry_failed: bool = False,
    study: Any = None,
) -> pd.DataFrame:
    """Simulation-based calibration (Talts et al. 2018) of a model and prior set.

    For each simulation: the design's covariates and nesting are simulated with
    :func:`pyramid.simulate` (the shared generative model's mix: training, clinician and
    discussion per unit); one parameter set is drawn from the model's prior; the outcome is
    drawn from **the model's own likelihood** given those parameters (its prior predictive,
    :func:`pyramid.models.generated.predictive`); the model is fitted to that outcome; and the
    rank of each true value among ``thin_to`` evenly thinned posterior draws is recorded. If
    the fitting is right, every parameter's ranks are uniform on ``0 .. thin_to``.

    Why the model's prior predictive and not the simulator's outcome: SBC checks that the
    computation (model code, sampler) recovers the posterior of *the model's* joint
    distribution; its ranks are uniform only when the data come from that same joint. The
    simulator scores skill as the mean of whole-number domain ratings, which the Gaussian
    ``skill`` model only approximates, so ranks from simulator data would also reflect that
    misfit (and ``sigma`` has no simulator counterpart). Whether the model recovers the
    *generative model's* effects is what :func:`design` measures (coverage and bias).

    Parameters
    ----------
    model : str, Path or ModelSpec, default :data:`pyramid.defaults.PLANNING_MODEL` ("skill")
        ``skill``, ``domains`` or ``pyramid`` (or a spec of those families; the path model
        with its discussion at unit level). For ``pyramid`` each unit's clinician presence
        and discussion are drawn afresh from the model's own equations too, and the
        simulated data's missing ones stay missing (:func:`_path_replicate`). A ``formula``
        replaces the default.
    sims : int, default 100
    priors : str, Path or PriorSet, default "default"
    formula : str, optional
        A brms-style formula in place of ``model`` (:mod:`pyramid.formula`), through the
        build it takes (integrated-out groups, the fused ordinal likelihood, or the general
        one with varying slopes).
    family : {"gaussian", "cumulative_probit"}, optional
        With ``formula``; default from its outcome.
    authorities, units, workers_per_unit, observations : int, default 5, 4, 2, 2
        Layout of each simulated data set (two observations a worker so that the worker level
        is in the model).
    mix : mapping, optional
        Factor mix (default the simulator's, with every discussion observed).
    draws, tune, chains : int, default 500, 500, 2
    thin_to : int, default 99
        Posterior draws each true value is ranked among (evenly thinned from chains x draws).
    test : {"ecdf", "chi2"}, default "ecdf"
        The test that decides ``pass`` (both are reported; see :func:`uniformity_test`).
    alpha : float, default 0.01
        A parameter passes when the test's p-value is at least ``alpha``.
    bins : int, optional
        Bins of the chi-square test and the rank histograms.
    random_seed, out, jobs, scheduler, dask_workers, progressbar, retry_failed :
        As in :func:`pyramid.design`; ``out`` gets ``manifest.json``, ``results.jsonl``,
        ``calibration.csv``, ``ranks.csv`` and ``ranks.png``.
    study : str, path or Study, optional
        The study (default ``rsw2017``). With another study the designs' covariates and
        nesting are simulated in its terms
        (:func:`pyramid.data.simulate_study.simulate_study`, ``mix`` as there), ``model``
        (``skill``, ``domains``) takes its ``[models] terms`` and the prior set is put on its
        scale, as :func:`pyramid.fit` does.

    Returns
    -------
    pandas.DataFrame
        One row per parameter (see :func:`summarise_calibration`); ``attrs`` holds ``ranks``
        (a long table), ``out``, ``report`` and ``failed``.

    Examples
    --------
    A tiny run in this process (a real check wants ``sims=100`` or more):

    >>> import pyramid as pyr
    >>> table = pyr.calibrate("skill", sims=2, authorities=3, units=2, workers_per_unit=2,
    ...                       observations=2, draws=100, tune=100, thin_to=49,
    ...                       random_seed=1, jobs=0, progressbar=False)
    >>> table.loc[table["fixed_effect"], "parameter"].tolist()
    ['clinician', 'discussion', 'intercept', 'training[mla]', 'training[other]', 'training[programme]']
    >>> table["n_sims"].unique().tolist()
    [2]
    """
    from pyramid.study import load_study

    the_study = load_study(study)
    spec = model_spec(model, formula, family, the_study, default=defaults.PLANNING_MODEL)
    prior_set = load_priors(priors, study=the_study)
    if spec.family == "path" and spec.path_level != "unit":
        raise InputError(
            f"calibrate supports the gaussian, cumulative_probit and unit-level path models "
            f"(skill, domains, pyramid); {spec.name!r} has its discussion at row level"
        )
    sims = positive_int("sims", sims)
    sampling = sampling_args(draws, tune, chains)
    thin_to = positive_int("thin_to", thin_to)
    if thin_to > sampling["draws"] * sampling["chains"]:
        raise InputError(f"thin_to ({thin_to}) must not exceed chains x draws "
                         f"({sampling['chains'] * sampling['draws']})")
    if test not in ("ecdf", "chi2"):
        raise InputError(f"test must be 'ecdf' or 'chi2', got {test!r}")
    alpha = check_prob("alpha", alpha)
    dims = {"authorities": authorities, "units": units, "workers_per_unit": workers_per_unit,
            "observations": observations}
    Layout(**dims)
    if the_study.is_default():
        mx = {"discussion_observed": 1.0, **dict(mix or {})}
        simulate((1, 1, 1, 1), mix=mx, seed=0)  # checks the mix
    else:
        from pyramid.data.simulate_study import simulate_study

        mx = dict(mix or {})
        simulate_study(the_study, (1, 1, 1, 1), mix=mx, seed=0)  # checks the mix
    if bins is not None and ((thin_to + 1) % positive_int("bins", bins, minimum=2)):
        raise InputError(f"bins must divide thin_to + 1 = {thin_to + 1}; got {bins}")

    folder = OutputFolder(out)
    seed = run_seed(random_seed, folder.path if folder.kept else None)
    common = {**spec_payload(spec, prior_set), **sampling, "mix": jsonable(mx),
              "design": list(dims.values()), "thin_to": thin_to, "reuse": True}
    identity = {
        "kind": "calibrate", "sims": sims, "random_seed": seed, "design": common["design"],
        "model": spec.name, "model_sha": identity_hash(spec.text), "priors": prior_set.name,
        "priors_sha": identity_hash(json.dumps(common["priors"], sort_keys=True)),
        "mix": common["mix"], **sampling, "thin_to": thin_to,
        **({} if the_study.is_default() else {"study": the_study.name,
                                               "study_sha": identity_hash(the_study.text)}),
    }
    tasks = [Task(f"s{i:05d}", {**common, "sim_seed": derived_seed(seed, i),
                                "prior_seed": derived_seed(seed, i, 2),
                                "fit_seed": derived_seed(seed, i, 1)})
             for i in range(sims)]
    try:
        records, report, failed = run_fits(
            _sbc_fit, tasks, folder, identity, {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
            jobs=jobs, scheduler=scheduler, dask_workers=dask_workers, progressbar=progressbar,
            description="calibration fits", retry_failed=retry_failed)
        table, ranks = summarise_calibration(records, test=test, alpha=alpha, bins=bins,
                                             seed=seed)
        if folder.kept:
            import matplotlib.pyplot as plt

            from pyramid.output import save_figure, write_csv

            write_csv(table, folder.path / "calibration.csv", "calibration table")
            write_csv(ranks, folder.path / "ranks.csv", "table of ranks")
            fig = plot_ranks(ranks, table)
            try:
                save_figure(fig, folder.path / "ranks.png", "rank figure", dpi=110,
                            bbox_inches="tight")
            finally:
                plt.close(fig)
        table.attrs.update({"ranks": ranks, "out": str(folder.path) if folder.kept else None,
                            "report": report.__dict__, "failed": failed, "random_seed": seed})
        return table
    finally:
        folder.cleanup()


def summarise_calibration(records: Sequence[dict], *, test: str = "ecdf", alpha: float = 0.01,
                          bins: int | None = None, seed: int = 0
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Uniformity of the SBC ranks, per parameter.

    Parameters
    ----------
    records : list of dict
        The store's records of :func:`calibrate` (failed ones are left out and counted).
    test, alpha, bins :
        As in :func:`calibrate`.
    seed : int
        Seed of the ECDF test's null simulations.

    Returns
    -------
    table : pandas.DataFrame
        One row per parameter: ``parameter``, ``fixed_effect`` (a coefficient of the model:
        intercept, training, clinician, discussion, ...), ``n_sims``, ``n_ranks`` (posterior
        draws ranked among), ``test`` (the deciding test), ``statistic`` and ``p_value`` (the
        ECDF test), ``max_ecdf_diff``, ``chi2``, ``chi2_df``, ``chi2_p_value``, ``alpha``,
        ``pass`` (the deciding test's p-value >= alpha), ``share_divergent`` (of the fits).
    ranks : pandas.DataFrame
        Long table ``key``, ``parameter``, ``rank``, ``n_ranks``.

    Examples
    --------
    >>> recs = [{"key": f"s{i}", "status": "ok", "result": {"ranks": {"clinician": i % 100},
    ...          "fixed_effects": ["clinician"], "n_draws_ranked": 99, "divergences": 0}}
    ...         for i in range(200)]
    >>> table, ranks = summarise_calibration(recs)
    >>> table[["parameter", "n_sims", "pass"]]
      parameter  n_sims  pass
    0  clinician     200  True
    """
    if test not in ("ecdf", "chi2"):
        raise InputError(f"test must be 'ecdf' or 'chi2', got {test!r}")
    rows, fixed, div = [], set(), {}
    for rec in records:
        if rec.get("status") != "ok":
            continue
        r = rec["result"]
        fixed.update(r.get("fixed_effects", []))
        div[rec["key"]] = r.get("divergences", 0) > 0
        for name, rank in r["ranks"].items():
            rows.append({"key": rec["key"], "parameter": name, "rank": int(rank),
                         "n_ranks": int(r["n_draws_ranked"])})
    ranks = pd.DataFrame(rows, columns=["key", "parameter", "rank", "n_ranks"])
    out = []
    for name, sub in ranks.groupby("parameter", sort=False):
        n_values = int(sub["n_ranks"].max()) + 1
        u = uniformity_test(sub["rank"].to_numpy(), n_values, bins=bins, seed=seed)
        p = u["p_value"] if test == "ecdf" else u["chi2_p_value"]
        out.append({
            "parameter": name, "fixed_effect": name in fixed, "n_sims": len(sub),
            "n_ranks": n_values - 1, "test": test, "statistic": u["statistic"],
            "p_value": u["p_value"], "max_ecdf_diff": u["max_ecdf_diff"], "chi2": u["chi2"],
            "chi2_df": u["chi2_df"], "chi2_p_value": u["chi2_p_value"], "alpha": alpha,
            "pass": bool(p >= alpha) if np.isfinite(p) else False,
            "share_divergent": float(np.mean([div[k] for k in sub["key"]])),
        })
    table = pd.DataFrame(out)
    if len(table):
        table = table.sort_values(["fixed_effect", "parameter"], ascending=[False, True],
                                  kind="stable").reset_index(drop=True)
    return table, ranks
