"""Fit a model: data -> validated rows -> coded arrays -> PyMC model -> draws -> FitResult.

:func:`fit` runs the stages in order: check the arguments (:func:`_settings`), validate the
data (:func:`pyramid.validate`), code them (:mod:`pyramid.models.coding`), build the PyMC model
(:mod:`pyramid.models.builder`), sample it (:mod:`pyramid.models.sampling`: nutpie, PyMC's
NUTS as fallback), draw what the sampler does not (integrated-out group effects,
log-likelihoods, predictive draws, prior draws: :func:`_posterior_groups`,
:func:`_prior_groups`), check convergence (:mod:`pyramid.diagnostics`) and return a
:class:`~pyramid.results.FitResult`. :func:`prior_check` is the prior predictive check of a
prior set.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pyramid import defaults
from pyramid.checks import positive_int, resolve_seed
from pyramid.data import schema
from pyramid.data.validate import validate as validate_frame
from pyramid.datasets import load_rsw2017
from pyramid.diagnostics import diagnose, e_bfmi, format_diagnostics
from pyramid.errors import InputError
from pyramid.executor import default_jobs
from pyramid.models import generated, sampling
from pyramid.models.builder import Built, build
from pyramid.models.coding import ModelData, prepare
from pyramid.results import FitResult, data_hash, frame_to_dataset, versions
from pyramid.specs import ModelSpec, PriorSet, load_priors, load_spec

__all__ = ["fit", "prior_check", "DEFAULT_MODEL"]


#: The model :func:`fit` uses when none is named: :data:`pyramid.defaults.DEFAULT_MODEL`, the
#: one default of every entry point (``pyramid``: it keeps every row, integrating out a missing
#: discussion or clinician, where ``skill`` and ``domains`` leave those rows out).
DEFAULT_MODEL = defaults.DEFAULT_MODEL


# --------------------------------------------------------------------------------------------
# stages of a fit
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    """The sampler settings of one fit, checked (:func:`_settings`)."""

    draws: int
    tune: int
    chains: int
    cores: int
    prior_draws: int
    seed: int
    sampler: str | None
    adaptation: str
    max_tree_depth: int | None
    backend: str
    target_accept: float | None


def _settings(spec: ModelSpec, *, draws: Any, tune: Any, chains: Any, cores: Any,
              prior_draws: Any, random_seed: Any, sampler: Any, adaptation: Any,
              max_tree_depth: Any, backend: Any, target_accept: Any) -> _Settings:
    """Check :func:`fit`'s sampler arguments; the spec's ``[sampling]`` fills those not given."""
    draws = positive_int("draws", draws)
    tune = positive_int("tune", tune, minimum=0)
    chains = positive_int("chains", chains)
    prior_draws = positive_int("prior_draws", prior_draws)
    cores = min(chains, default_jobs()) if cores is None else positive_int("cores", cores)
    seed = resolve_seed(random_seed)
    if sampler not in (None, "nutpie", "pymc"):
        raise InputError(f"sampler must be 'nutpie', 'pymc' or None, got {sampler!r}")
    if adaptation is None:
        adaptation = spec.adaptation or "diag"
    if adaptation not in ("diag", "low_rank", "draw_diag"):
        raise InputError(f"adaptation must be 'diag', 'low_rank' or 'draw_diag', got {adaptation!r}")
    if max_tree_depth is None:
        max_tree_depth = spec.max_tree_depth
    elif isinstance(max_tree_depth, bool) or not isinstance(max_tree_depth, int) \
            or not 1 <= max_tree_depth <= 20:
        raise InputError(f"max_tree_depth must be a whole number from 1 to 20, got "
                         f"{max_tree_depth!r}")
    if backend not in ("numba", "jax"):
        raise InputError(f"backend must be 'numba' or 'jax', got {backend!r}")
    if backend == "jax" and sampler == "pymc":
        raise InputError("backend 'jax' is nutpie's: use sampler='nutpie' (or None) with it")
    if target_accept is None:
        target_accept = spec.target_accept
    elif not (isinstance(target_accept, int | float) and 0 < target_accept < 1):
        raise InputError(f"target_accept must be in (0, 1), got {target_accept!r}")
    return _Settings(draws=draws, tune=tune, chains=chains, cores=cores,
                     prior_draws=prior_draws, seed=seed, sampler=sampler, adaptation=adaptation,
                     max_tree_depth=max_tree_depth, backend=backend,
                     target_accept=target_accept)


def _as_canonical(data: pd.DataFrame, spec: ModelSpec, validate: bool) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    return validate_frame(data, model=spec) if validate else data


def _sample(built: Built, prior_set: PriorSet, s: _Settings, *, progressbar: bool
            ) -> tuple[xr.DataTree, str, str | None, dict[str, float]]:
    """Sample with nutpie, or with PyMC's NUTS when nutpie is missing or fails (unless it was
    asked for): the trace, the sampler used, why it fell back, and the timings."""
    used = s.sampler
    fallback_reason = None
    if s.sampler in (None, "nutpie"):
        try:
            import nutpie  # noqa: F401
        except ModuleNotFoundError:
            if s.sampler == "nutpie":
                raise InputError("sampler 'nutpie' requested but nutpie is not installed") from None
            fallback_reason = "nutpie is not installed"
            used = "pymc"
        else:
            used = "nutpie"
    common = dict(draws=s.draws, tune=s.tune, chains=s.chains, cores=s.cores, seed=s.seed,
                  progressbar=progressbar, target_accept=s.target_accept,
                  max_tree_depth=s.max_tree_depth)
    if used == "nutpie":
        try:
            dt, timings = sampling.sample_nutpie(built, prior_set, adaptation=s.adaptation,
                                                 backend=s.backend, **common)
        except InputError:
            raise
        except (RuntimeError, ValueError, TypeError, ImportError, OSError) as exc:
            if s.sampler == "nutpie" or s.backend == "jax":  # asked for: no silent fallback
                raise
            fallback_reason = f"nutpie failed ({type(exc).__name__}: {exc})"
            used = "pymc"
    if used == "pymc":
        if fallback_reason:
            warnings.warn(f"sampling with PyMC's NUTS: {fallback_reason}", RuntimeWarning,
                          stacklevel=3)
        dt, timings = sampling.sample_pymc(built, **common)
    return dt, used, fallback_reason, timings


def _check_complete(dt: xr.DataTree, s: _Settings, used: str) -> None:
    """Refuse a trace with fewer chains or draws than asked for.

    A sampler stopped early (Ctrl-C caught inside it, an abort) can return the draws it made
    so far; carried on, they would become a result that looks valid (a short run saved under
    the settings of a long one, NaN coefficients). Nothing after sampling runs on one.
    """
    post = dt["posterior"] if "posterior" in dt.children else None
    got = dict(post.sizes) if post is not None else {}
    if got.get("chain") != s.chains or got.get("draw") != s.draws:
        raise KeyboardInterrupt(
            f"{used} returned {got.get('chain', 0)} chain(s) x {got.get('draw', 0)} draws of "
            f"the {s.chains} x {s.draws} asked for: the run was interrupted; nothing was saved")


def _drop_warmup(dt: xr.DataTree) -> xr.DataTree:
    keep = {k: dt[k].to_dataset() for k in dt.children if not k.startswith("warmup")
            and k not in ("unconstrained_posterior",)}
    return xr.DataTree.from_dict(keep)


def _posterior_groups(dt: xr.DataTree, built: Built, md: ModelData, seed: int, *,
                      log_likelihood: bool, posterior_predictive: bool
                      ) -> tuple[dict[str, xr.Dataset], dict[str, tuple], dict[str, list]]:
    """The posterior (with the draws of what the sampler integrated out), sample stats,
    observed data, log-likelihood and posterior predictive groups; and the model's dims and
    coordinates."""
    dt = _drop_warmup(dt)
    post_ds = dt["posterior"].to_dataset()
    draws_post, shape = generated.stack_draws(post_ds)
    rng = np.random.default_rng([seed, 1])
    model_dims = {k: tuple(v) for k, v in built.model.named_vars_to_dims.items() if v}
    coords = {k: list(v) for k, v in built.model.coords.items() if v is not None}
    for g in md.groups:
        model_dims.setdefault(f"r_{g.name}", (g.name,))
    extra, extra_dims = generated.integrated_draws(md, draws_post, rng, prior=False)
    if extra:
        draws_post.update(extra)
        post_ds = post_ds.assign({k: (("chain", "draw", *extra_dims[k]), generated.unstack(v, shape))
                                  for k, v in extra.items()})
        post_ds = post_ds.assign_coords(_extra_coords(md, extra_dims))
        model_dims.update(extra_dims)
    groups: dict[str, xr.Dataset] = {"posterior": post_ds,
                                     "sample_stats": dt["sample_stats"].to_dataset()}
    row_coord = {"row": np.arange(md.n_rows)}
    if md.spec.family == "cumulative_probit":
        obs = xr.Dataset({"ratings": (("rating",), md.y + schema.SCORE_MIN),
                          "rating_row": (("rating",), md.rating_row),
                          "rating_domain": (("rating",), np.asarray(md.domains)[md.rating_domain].astype(object))})
    else:
        obs = xr.Dataset({"skill": (("row",), md.y)}, coords=row_coord)
    groups["observed_data"] = obs
    if log_likelihood:
        # one value per row, or per unit for the unit-level path model (a unit's rows share
        # its discussion, clinician and integrated-out effects): generated.pointwise_dim
        ll = generated.pointwise_loglik(md, draws_post)
        dim, ids = generated.pointwise_dim(md)
        groups["log_likelihood"] = xr.Dataset(
            {"obs": (("chain", "draw", dim), generated.unstack(ll, shape))},
            coords={"chain": post_ds["chain"].values, "draw": post_ds["draw"].values,
                    dim: ids})
    if posterior_predictive:
        pp = generated.predictive(md, draws_post, rng, condition_latent=True)
        groups["posterior_predictive"] = _predictive_dataset(pp, shape, md)
    return groups, model_dims, coords


def _prior_groups(built: Built, md: ModelData, s: _Settings, model_dims: dict, coords: dict, *,
                  prior_predictive: bool) -> dict[str, xr.Dataset]:
    """The prior group (always a modest number of draws) and, on request, the prior
    predictive."""
    prior = sampling.prior_draws(built, s.prior_draws, s.seed + 1)
    prior_rng = np.random.default_rng([s.seed, 2])
    extra, extra_dims = generated.integrated_draws(md, prior, prior_rng, prior=True)
    prior.update(extra)
    coords = {**coords, **_extra_coords(md, extra_dims)}
    groups = {"prior": _dataset(prior, (1, s.prior_draws), model_dims, coords)}
    if prior_predictive:
        pp = generated.predictive(md, prior, prior_rng, condition_latent=False)
        groups["prior_predictive"] = _predictive_dataset(pp, (1, s.prior_draws), md)
    return groups


def _info(spec: ModelSpec, prior_set: PriorSet, s: _Settings, md: ModelData, built: Built, *,
          used: str, fallback_reason: str | None, sha: str, timings: dict,
          bfmi: list[float] | None) -> dict[str, Any]:
    """The provenance a :class:`~pyramid.results.FitResult` carries (``.info``)."""
    return {
        "model": spec.name,
        "priors": prior_set.name,
        "seed": s.seed,
        "sampler": used,
        "sampler_fallback_reason": fallback_reason or "",
        "draws": s.draws, "tune": s.tune, "chains": s.chains, "cores": s.cores,
        "target_accept": float(s.target_accept) if s.target_accept else 0.8,
        "adaptation": s.adaptation,
        "max_tree_depth": s.max_tree_depth or 10,
        "backend": s.backend if used == "nutpie" else "pymc",
        "data_sha256": sha,
        "rows_input": int(md.n_input),
        "rows_used": int(md.n_rows),
        "groups_kept": [g.name for g in md.groups],
        "parametrisation": {g.name: g.parametrisation for g in md.groups},
        "domains": list(md.domains),
        "scale": built.scale,
        "coefs": json.dumps(built.coefs),
        "derived": list(built.derived),
        "notes": list(md.notes),
        "versions": versions(),
        "timings": timings,
        "e_bfmi": bfmi or [],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _dataset(draws: dict[str, np.ndarray], shape: tuple[int, int], dims: dict,
             coords: dict) -> xr.Dataset:
    data_vars = {}
    for name, arr in draws.items():
        arr = np.asarray(arr).reshape(*shape, *np.shape(arr)[1:])
        d = list(dims.get(name, ()))
        extra = arr.ndim - 2
        if len(d) != extra:
            d = [f"{name}_dim_{i}" for i in range(extra)]
        data_vars[name] = (("chain", "draw", *d), arr)
    ds = xr.Dataset(data_vars, coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1])})
    for name, vals in coords.items():
        if name in ds.dims:
            ds = ds.assign_coords({name: list(vals)})
    return ds


def _extra_coords(md, dims: dict) -> dict:
    coords = {}
    for d in {x for v in dims.values() for x in v}:
        if d == "path_unit":
            coords[d] = [str(u) for u in md.unit_ids]
        else:
            g = md.group(d)
            if g is not None:
                coords[d] = [str(x) for x in g.levels]
    return coords


def _predictive_dataset(pp: dict, shape: tuple[int, int], md) -> xr.Dataset:
    out = {"skill": (("chain", "draw", "row"), generated.unstack(pp["skill"], shape))}
    if "ratings" in pp:
        out["ratings"] = (("chain", "draw", "rating"), generated.unstack(pp["ratings"], shape))
    return xr.Dataset(out, coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1])})


# --------------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------------
def fit(
    data: pd.DataFrame,
    model: str | Path | ModelSpec = DEFAULT_MODEL,
    priors: str | Path | PriorSet = "default",
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    cores: int | None = None,
    random_seed: int | None = None,
    sampler: str | None = None,
    progressbar: bool = True,
    prior_predictive: bool = False,
    posterior_predictive: bool = False,
    log_likelihood: bool = True,
    prior_draws: int = 500,
    target_accept: float | None = None,
    adaptation: str | None = None,
    max_tree_depth: int | None = None,
    backend: str = "numba",
    validate: bool = True,
    verbose: bool = True,
) -> FitResult:
    """Fit a model to coded observations of practice.

    Parameters
    ----------
    data : pandas.DataFrame
        Raw or canonical observations (validated here with :func:`pyramid.validate`).
    model : str, Path or ModelSpec, default "pyramid"
        ``skill``, ``domains``, ``pyramid`` or a spec file. ``pyramid`` is the default because
        it keeps rows whose discussion or clinician was not observed (see
        :data:`DEFAULT_MODEL`).
    priors : str, Path or PriorSet, default "default"
        ``default``, ``sceptical``, ``rsw2017`` or a prior file.
    draws, tune, chains : int
        Draws kept and tuning draws per chain, and the number of chains.
    cores : int, optional
        Chains run in parallel (default: one per chain, up to the cores this process may use).
    random_seed : int, optional
        Seed of everything random in the fit; the same seed gives the same draws. ``None``
        draws one (stored in the result).
    sampler : {"nutpie", "pymc"}, optional
        Default nutpie, with PyMC's NUTS as fallback when nutpie is missing or fails.
    progressbar : bool, default True
    prior_predictive, posterior_predictive : bool, default False
        Also draw replicated outcomes (``skill``, and ``ratings`` for ``domains``).
    log_likelihood : bool, default True
        Store pointwise log-likelihoods for LOO: per observation (row), or per unit for the
        unit-level ``pyramid`` model, whose units share their discussion, clinician and
        integrated-out effects (their sum is the model's log-likelihood, ``loglik_total``).
    prior_draws : int, default 500
        Draws from the prior stored in the ``prior`` group (for Savage-Dickey Bayes factors
        and ``group="prior"``).
    target_accept : float, optional
        Sampler target acceptance; default the spec's ``[sampling] target_accept`` or 0.8.
    adaptation : {"diag", "low_rank", "draw_diag"}, optional
        nutpie's mass-matrix adaptation; default the spec's ``[sampling] adaptation`` or
        ``"diag"`` (see the performance page of the user guide for what each model uses).
    max_tree_depth : int, optional
        Longest NUTS trajectory, ``2**max_tree_depth`` leapfrog steps (nutpie's ``maxdepth``,
        PyMC's ``max_treedepth``); default the spec's ``[sampling] max_tree_depth``, else the
        sampler's (10). A cap below what the posterior asks for keeps the chain valid but
        mixing slower per draw; the national benchmark measures where it pays.
    backend : {"numba", "jax"}, default "numba"
        How the model's log-density is compiled for nutpie: PyTensor's numba backend (cached
        on disk, reused across fits of one design), or JAX (``pip install
        'rsw-pyramid[jax]'``; on a GPU with ``jax[cuda12]``). JAX is never needed otherwise.
    validate : bool, default True
        Run :func:`pyramid.validate` first (turn off only for frames it already returned).
    verbose : bool, default True
        Print the rows left out, the sampler used and the convergence checks (to stderr).

    Returns
    -------
    FitResult

    Raises
    ------
    InputError
        Bad data, spec, priors or argument.

    Examples
    --------
    >>> import pyramid as pyr
    >>> sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    >>> res = pyr.fit(sim.data, model="skill", draws=200, tune=200, random_seed=1,
    ...               progressbar=False, verbose=False)  # doctest: +SKIP
    >>> res  # doctest: +SKIP
    FitResult(model='skill', priors='default', rows=48, dropped=0, chains=2, draws=200, ...)
    """
    t_start = time.perf_counter()
    spec = load_spec(model)
    prior_set = load_priors(priors)
    s = _settings(spec, draws=draws, tune=tune, chains=chains, cores=cores,
                  prior_draws=prior_draws, random_seed=random_seed, sampler=sampler,
                  adaptation=adaptation, max_tree_depth=max_tree_depth, backend=backend,
                  target_accept=target_accept)
    canon = _as_canonical(data, spec, validate)
    sha = data_hash(canon)
    # pyramid.validate(model=...) already warned about the rows the model leaves out
    md = prepare(spec, canon, warn=not validate)
    if verbose:
        for note in md.notes:
            print(f"note: {note}", file=sys.stderr)
    built = build(md, prior_set)

    dt, used, fallback_reason, timings = _sample(built, prior_set, s, progressbar=progressbar)
    _check_complete(dt, s, used)
    if verbose:
        print(f"sampled {spec.name!r} with {used} ({s.chains} chains x {s.draws} draws, "
              f"{s.tune} tuning) in {timings['sample_s']:.1f} s"
              + (f", compiled in {timings['compile_s']:.1f} s" if math.isfinite(timings.get("compile_s", float('nan'))) else ""),
              file=sys.stderr)

    t_post = time.perf_counter()
    groups, model_dims, coords = _posterior_groups(
        dt, built, md, s.seed, log_likelihood=log_likelihood,
        posterior_predictive=posterior_predictive)
    groups.update(_prior_groups(built, md, s, model_dims, coords,
                                prior_predictive=prior_predictive))
    groups["constant_data"] = frame_to_dataset(md.frame)
    idata = xr.DataTree.from_dict(groups)
    timings["post_s"] = time.perf_counter() - t_post

    diag = diagnose(idata)
    b = e_bfmi(groups["sample_stats"])
    bfmi = None if b is None else [float(x) for x in b]
    if verbose:
        print(format_diagnostics(diag, bfmi), file=sys.stderr)
    timings["total_s"] = time.perf_counter() - t_start
    info = _info(spec, prior_set, s, md, built, used=used, fallback_reason=fallback_reason,
                 sha=sha, timings=timings, bfmi=bfmi)
    return FitResult(idata=idata, spec=spec, priors=prior_set, data=md.frame,
                     dropped=dict(md.dropped), diagnostics=diag, info=info)


# --------------------------------------------------------------------------------------------
# prior predictive check
# --------------------------------------------------------------------------------------------
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def prior_check(
    priors: str | Path | PriorSet = "default",
    model: str | Path | ModelSpec = DEFAULT_MODEL,
    data: pd.DataFrame | None = None,
    *,
    draws: int = 1000,
    random_seed: int | None = None,
    validate: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Prior predictive check: the skill scores a prior set implies for a model.

    Draws the model's parameters from the prior, then replicated outcomes for the rows of
    ``data`` (the reference data by default), and summarises them on the 1-5 skill scale.

    Parameters
    ----------
    priors : str, Path or PriorSet, default "default"
    model : str, Path or ModelSpec, default "pyramid"
    data : pandas.DataFrame, optional
        Rows to replicate; default :func:`pyramid.datasets.load_rsw2017`.
    draws : int, default 1000
    random_seed : int, optional

    Returns
    -------
    table : pandas.DataFrame
        One row per quantity, columns ``quantity``, ``q01``, ``q05``, ``q25``, ``q50``,
        ``q75``, ``q95``, ``q99``, ``outside_1_5`` (share of draws outside the 1-5 scale).
        Quantities: ``skill of an observation`` (pooled over rows), ``mean skill of the
        sample``, ``sd of skill in the sample``, ``expected skill at the reference levels``
        (no training, no clinician, non-systemic discussion), ``expected skill, full pyramid``
        (programme, clinician, systemic), ``full pyramid minus reference``.
    draws_ : dict
        ``skill`` (draws x rows) and the expected-skill draws, for plotting.

    Examples
    --------
    >>> table, _ = prior_check("sceptical", "skill", draws=200, random_seed=1)  # doctest: +SKIP
    """
    spec = load_spec(model)
    prior_set = load_priors(priors)
    draws = positive_int("draws", draws)
    seed = resolve_seed(random_seed)
    if data is None:
        data = load_rsw2017()
    with warnings.catch_warnings():
        # rows the model leaves out do not matter to a check of what the priors imply
        warnings.simplefilter("ignore", UserWarning)
        canon = _as_canonical(data, spec, validate)
        md = prepare(spec, canon, warn=False)
    built = build(md, prior_set)
    prior = sampling.prior_draws(built, draws, seed)
    rng = np.random.default_rng([seed, 3])
    extra, _ = generated.integrated_draws(md, prior, rng, prior=True)
    prior.update(extra)
    rep = generated.predictive(md, prior, rng, condition_latent=False)["skill"]
    new = pd.DataFrame({
        "training": [schema.TRAINING_LEVELS[0], "programme"],
        "clinician": [0, 1],
        "discussion": [schema.DISCUSSION_LEVELS[0], schema.DISCUSSION_LEVELS[-1]],
        "csw": [0, 1],
    })
    groups = [g.name for g in md.groups]
    exp = generated.expected_skill(spec, prior, new, groups=groups, domains=list(md.domains))
    quantities = {
        "skill of an observation": rep.ravel(),
        "mean skill of the sample": rep.mean(axis=1),
        "sd of skill in the sample": rep.std(axis=1, ddof=1) if rep.shape[1] > 1 else np.zeros(len(rep)),
        "expected skill at the reference levels": exp[:, 0],
        "expected skill, full pyramid": exp[:, 1],
        "full pyramid minus reference": exp[:, 1] - exp[:, 0],
    }
    rows = []
    for name, v in quantities.items():
        q = np.quantile(v, _QUANTILES)
        outside = (np.nan if "minus" in name or "sd of" in name
                   else float(np.mean((v < schema.SCORE_MIN) | (v > schema.SCORE_MAX))))
        rows.append({"quantity": name, **{f"q{int(round(p * 100)):02d}": float(x)
                                            for p, x in zip(_QUANTILES, q, strict=True)},
                     "outside_1_5": outside})
    return pd.DataFrame(rows), {"skill": rep, "expected": exp}
