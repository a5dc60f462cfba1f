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

import importlib.util
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
from pyramid.diagnostics import diagnose, e_bfmi, fit_verdict, format_diagnostics
from pyramid.errors import InputError
from pyramid.executor import default_jobs
from pyramid.models import generated, sampling
from pyramid.models.coding import ModelData, prepare
from pyramid.results import FitResult, data_hash, frame_to_dataset, versions
from pyramid.specs import ModelSpec, PriorSet, load_priors, model_spec
from pyramid.study import load_study

__all__ = ["fit", "build_model", "prior_check", "DEFAULT_MODEL"]


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
    extend: bool | float


def _settings(spec: ModelSpec, *, draws: Any, tune: Any, chains: Any, cores: Any,
              prior_draws: Any, random_seed: Any, sampler: Any, adaptation: Any,
              max_tree_depth: Any, backend: Any, target_accept: Any,
              extend: Any = True) -> _Settings:
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
    if backend not in ("numba", "pytensor", "jax"):
        raise InputError(f"backend must be 'numba', 'pytensor' or 'jax', got {backend!r}")
    if backend == "jax" and sampler == "pymc":
        raise InputError("backend 'jax' is nutpie's: use sampler='nutpie' (or None) with it")
    if target_accept is None:
        target_accept = spec.target_accept
    elif not (isinstance(target_accept, int | float) and 0 < target_accept < 1):
        raise InputError(f"target_accept must be in (0, 1), got {target_accept!r}")
    if not (isinstance(extend, bool) or (isinstance(extend, int | float) and extend > 0)):
        raise InputError(f"extend must be True, False or a time budget in seconds (> 0), got "
                         f"{extend!r}")
    return _Settings(draws=draws, tune=tune, chains=chains, cores=cores,
                     prior_draws=prior_draws, seed=seed, sampler=sampler, adaptation=adaptation,
                     max_tree_depth=max_tree_depth, backend=backend,
                     target_accept=target_accept, extend=extend)


def _as_canonical(data: pd.DataFrame, spec: ModelSpec, validate: bool) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    return validate_frame(data, model=spec, study=spec.the_study) if validate else data


@dataclass
class _Model:
    """One fit's model: its kernel tables (:mod:`pyramid.models.layout`), and the PyMC model
    only when a sampler needs it (PyMC's NUTS, the JAX backend): building it imports PyMC."""

    md: ModelData
    priors: PriorSet
    layout: Any
    _built: Any = None

    @property
    def built(self):
        if self._built is None and isinstance(self.layout, sampling.GraphLayout):
            self._built = self.layout.built  # built once, for the layout and the sampler
        if self._built is None:
            from pyramid.models.builder import build

            self._built = build(self.md, self.priors)
        return self._built


def _identified(post: xr.Dataset, m: _Model, kernels: bool) -> xr.Dataset:
    """The posterior as the model's quantities: a kernel trace's free variables turned into
    them (:func:`pyramid.models.sampling.identified_posterior`), a PyMC trace's sampling
    devices left out."""
    if kernels:
        return sampling.identified_posterior(post, m.layout)
    drop = [v for v in m.layout.devices if v in post.data_vars]
    return post.drop_vars(drop)


#: Checks that more draws of the same chains can make pass.
_EXTENDABLE = {"r_hat", "ess_bulk", "ess_tail"}


class _Check:
    """The convergence check the sampler runs at each block of draws: ``(passed,
    extendable)`` of :func:`pyramid.diagnostics.diagnose` on the posterior's quantities.

    Its per-variable results (``reuse``) serve the final diagnosis, which then computes only
    the quantities drawn after sampling (the check of a small domains fit took 0.3-0.9 s,
    and was done twice)."""

    def __init__(self, m: _Model):
        self.m = m
        #: whether the trace is the kernels' (its free variables become the model's
        #: quantities): set by :func:`_sample` once it has chosen the path
        self.kernels = False
        self.reuse: dict = {}

    def __call__(self, trace: xr.DataTree) -> tuple[bool, bool]:
        post = _identified(trace["posterior"].to_dataset(), self.m, self.kernels)
        stats = trace["sample_stats"].to_dataset()
        diag = diagnose(xr.DataTree.from_dict({"posterior": post, "sample_stats": stats}),
                        reuse=self.reuse)
        failed = set(diag.loc[~diag["passed"], "check"])
        return not failed, failed <= _EXTENDABLE


def _installed(name: str) -> bool:
    """Whether a module can be imported, without importing it (nutpie's import is not cheap)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules: blocked
        return False


def _sample(m: _Model, s: _Settings, *, progressbar: bool, check: _Check
            ) -> tuple[xr.DataTree, str, str | None, dict[str, float], sampling.Extension, bool]:
    """Sample with nutpie (over pyramid's kernels, or JAX), or with PyMC's NUTS when nutpie is
    missing or fails (unless it was asked for): the trace, the sampler used, why it fell back,
    the timings, how far the chains were extended, and whether the trace is the kernels'."""
    used = s.sampler
    fallback_reason = None
    if s.sampler in (None, "nutpie"):
        if not _installed("nutpie"):
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
        # a model outside the kernels (a formula's interactions, varying slopes or crossed
        # groupings: sampling.kernel_gap) is its PyMC graph, compiled by PyTensor
        graph = isinstance(m.layout, sampling.GraphLayout)
        kernels = s.backend == "numba" and not graph
        check.kernels = kernels
        try:
            t0 = time.perf_counter()
            if kernels:
                sampling.ensure_compiled([m.layout.family])
                target = sampling.kernel_model(m.md, m.priors)
            elif s.backend in ("pytensor", "numba"):
                target = sampling.compile_graph(m.built)
            else:
                target = sampling.compile_jax(m.built)
            compile_s = time.perf_counter() - t0
            dt, timings, ext = sampling.sample_nutpie(
                target, adaptation=s.adaptation, check=check, extend=s.extend,
                **common)
            timings["compile_s"] += compile_s
            return dt, used, None, timings, ext, kernels
        except InputError:
            raise
        except (RuntimeError, ValueError, TypeError, ImportError, OSError) as exc:
            if s.sampler == "nutpie" or s.backend != "numba":  # asked for: no silent fallback
                raise
            fallback_reason = f"nutpie failed ({type(exc).__name__}: {exc})"
            used = "pymc"
    if fallback_reason:
        warnings.warn(f"sampling with PyMC's NUTS: {fallback_reason}", RuntimeWarning,
                      stacklevel=3)
    dt, timings = sampling.sample_pymc(m.built, **common)
    ext = sampling.Extension(asked=s.draws, draws=s.draws, blocks=0, passed=None,
                             stopped="off", budget_s=0.0)
    return dt, used, fallback_reason, timings, ext, False


def _check_complete(dt: xr.DataTree, s: _Settings, used: str, draws: int) -> None:
    """Refuse a trace with fewer chains or draws than asked for (``draws``: the draws asked
    for, with the extension's blocks).

    A sampler stopped early (Ctrl-C caught inside it, an abort) can return the draws it made
    so far; carried on, they would become a result that looks valid (a short run saved under
    the settings of a long one, NaN coefficients). Nothing after sampling runs on one.
    """
    post = dt["posterior"] if "posterior" in dt.children else None
    got = dict(post.sizes) if post is not None else {}
    if got.get("chain") != s.chains or got.get("draw") != draws:
        raise KeyboardInterrupt(
            f"{used} returned {got.get('chain', 0)} chain(s) x {got.get('draw', 0)} draws of "
            f"the {s.chains} x {draws} asked for: the run was interrupted; nothing was saved")


def _drop_warmup(dt: xr.DataTree) -> xr.DataTree:
    keep = {k: dt[k].to_dataset() for k in dt.children if not k.startswith("warmup")
            and k not in ("unconstrained_posterior",)}
    return xr.DataTree.from_dict(keep)


def _imputed_names(md: ModelData) -> set[str]:
    """Variables drawn after sampling that are discrete per-unit imputations (the path
    model's unit-level mediator and exposure values): kept in the ``imputed`` group, not the
    posterior (their R-hat and ESS describe a discrete draw, not the chains' mixing)."""
    out = set()
    for t in (md.mediator, md.exposure):
        if t is not None and md.unit_index is not None:
            out.add(f"{t.column}_unit")
    return out


def _posterior_groups(dt: xr.DataTree, m: _Model, seed: int, *, kernels: bool,
                      log_likelihood: bool, posterior_predictive: bool
                      ) -> tuple[dict[str, xr.Dataset], dict[str, tuple], dict[str, list]]:
    """The posterior (the model's quantities, with the draws of what the sampler integrated
    out), the imputed per-unit values, sample stats, observed data, log-likelihood and
    posterior predictive groups; and the model's dims and coordinates."""
    md = m.md
    dt = _drop_warmup(dt)
    post_ds = _identified(dt["posterior"].to_dataset(), m, kernels)
    draws_post, shape = generated.stack_draws(post_ds)
    rng = np.random.default_rng([seed, 1])
    model_dims = {k: tuple(v) for k, v in m.layout.dims.items() if v}
    coords = {k: list(v) for k, v in m.layout.coords.items() if v is not None}
    for g in md.groups:
        model_dims.setdefault(f"r_{g.name}", (g.name,))
    extra, extra_dims = generated.integrated_draws(md, draws_post, rng, prior=False)
    imputed_names = _imputed_names(md)
    groups: dict[str, xr.Dataset] = {}
    if extra:
        draws_post.update(extra)
        new = {k: (("chain", "draw", *extra_dims[k]), generated.unstack(v, shape))
               for k, v in extra.items()}
        ex_coords = _extra_coords(md, extra_dims)
        post_ds = post_ds.assign({k: v for k, v in new.items() if k not in imputed_names})
        post_ds = post_ds.assign_coords({d: c for d, c in ex_coords.items() if d in post_ds.dims})
        imputed = {k: v for k, v in new.items() if k in imputed_names}
        if imputed:
            ids = xr.Dataset(imputed, coords={"chain": post_ds["chain"].values,
                                              "draw": post_ds["draw"].values})
            groups["imputed"] = ids.assign_coords(
                {d: c for d, c in ex_coords.items() if d in ids.dims})
        model_dims.update(extra_dims)
    groups["sample_stats"] = dt["sample_stats"].to_dataset()
    row_coord = {"row": np.arange(md.n_rows)}
    if md.spec.family == "cumulative_probit":
        obs = xr.Dataset({"ratings": (("rating",), md.y + md.spec.the_study.scale_min),
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
        if "loglik_total" not in post_ds:
            # the data's log-likelihood per draw (a check of its own), from the same numbers
            post_ds = post_ds.assign(loglik_total=(("chain", "draw"),
                                                   generated.unstack(ll.sum(axis=1), shape)))
    if posterior_predictive:
        pp = generated.predictive(md, draws_post, rng, condition_latent=True)
        groups["posterior_predictive"] = _predictive_dataset(pp, shape, md)
    groups = {"posterior": post_ds, **groups}
    return groups, model_dims, coords


def _prior_groups(m: _Model, s: _Settings, model_dims: dict, coords: dict, *,
                  prior_predictive: bool) -> dict[str, xr.Dataset]:
    """The prior group (always a modest number of draws; the model's quantities, as the
    posterior's) and, on request, the prior predictive."""
    md = m.md
    prior = sampling.prior_draws(m.layout, s.prior_draws, s.seed + 1)
    prior_rng = np.random.default_rng([s.seed, 2])
    extra, extra_dims = generated.integrated_draws(md, prior, prior_rng, prior=True)
    prior.update({k: v for k, v in extra.items() if k not in _imputed_names(md)})
    coords = {**coords, **_extra_coords(md, extra_dims)}
    groups = {"prior": _dataset(prior, (1, s.prior_draws), model_dims, coords)}
    if prior_predictive:
        prior.update(extra)
        pp = generated.predictive(md, prior, prior_rng, condition_latent=False)
        groups["prior_predictive"] = _predictive_dataset(pp, (1, s.prior_draws), md)
    return groups


def _info(spec: ModelSpec, prior_set: PriorSet, s: _Settings, m: _Model, *,
          used: str, fallback_reason: str | None, sha: str, timings: dict,
          bfmi: list[float] | None, ext: sampling.Extension) -> dict[str, Any]:
    """The provenance a :class:`~pyramid.results.FitResult` carries (``.info``)."""
    return {
        "model": spec.name,
        "priors": prior_set.name,
        "seed": s.seed,
        "sampler": used,
        "sampler_fallback_reason": fallback_reason or "",
        "draws": ext.draws, "draws_asked": s.draws, "tune": s.tune, "chains": s.chains,
        "cores": s.cores, "extension": ext.as_dict(),
        "target_accept": float(s.target_accept) if s.target_accept else 0.8,
        "adaptation": s.adaptation,
        "max_tree_depth": s.max_tree_depth or 10,
        "backend": s.backend if used == "nutpie" else "pymc",
        "data_sha256": sha,
        "rows_input": int(m.md.n_input),
        "rows_used": int(m.md.n_rows),
        "groups_kept": [g.name for g in m.md.groups] + [b.name for b in m.md.blocks],
        "parametrisation": {**{g.name: g.parametrisation for g in m.md.groups},
                            **{b.name: "non_centred" for b in m.md.blocks}},
        "domains": list(m.md.domains),
        "scale": m.layout.scale,
        "coefs": json.dumps(m.layout.coefs),
        "derived": list(m.layout.derived),
        "notes": list(m.md.notes),
        "build": m.md.build,
        "formula": spec.formula.text if spec.formula is not None else "",
        "study": m.md.spec.the_study.name,
        "centring": m.md.centring,
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
#: Each build a model can take (``result.info["build"]``), in words.
_BUILDS = {
    "marginal": "nested group effects integrated out exactly, drawn after sampling",
    "fused_ordinal": "nested group effects sampled non-centred, the fused ordinal likelihood",
    "general": "a formula's group terms sampled non-centred, varying slopes with LKJ "
               "correlations",
    "path": "the path model",
    "sampled": "nested group effects sampled",
}


def _spec_and_priors(data: Any, model: Any, formula: Any, family: Any, study: Any,
                     priors: Any) -> tuple[ModelSpec, PriorSet]:
    """The model spec (a shipped or own spec, or one from a formula) and the prior set, for
    the study (given, or recorded by a validated frame, else rsw2017)."""
    if study is None and isinstance(data, pd.DataFrame) and isinstance(data.attrs, dict):
        study = data.attrs.get("study")
    if study is None and isinstance(model, ModelSpec):
        study = model.study  # a spec loaded for another study (a refit of its result) keeps it
    the_study = load_study(study)
    spec = model_spec(model, formula, family, the_study, default=DEFAULT_MODEL)
    return spec, load_priors(priors, study=the_study)


def build_model(
    data: pd.DataFrame,
    model: str | Path | ModelSpec | None = DEFAULT_MODEL,
    priors: str | Path | PriorSet = "default",
    *,
    formula: str | None = None,
    family: str | None = None,
    study: Any = None,
    validate: bool = True,
):
    """The PyMC model pyramid would fit, to inspect or extend (``pyramid.model``).

    The same stages as :func:`fit` up to sampling: the data validated against the study and
    coded, the model built from the spec or formula and the prior set. Every data array is a
    ``pm.Data`` container and every size comes from the model's coordinates.

    Parameters
    ----------
    data : pandas.DataFrame
        Raw or canonical observations.
    model : str, Path or ModelSpec, default "pyramid"
        A shipped spec (``skill``, ``domains``, ``pyramid``) or a spec file; a ``formula``
        replaces the default (naming another model with a formula is an error).
    priors : str, Path or PriorSet, default "default"
    formula : str, optional
        A brms-style formula over the study's factors (:mod:`pyramid.formula`), in place of
        ``model``.
    family : {"gaussian", "cumulative_probit"}, optional
        With ``formula``; default from its outcome.
    study : str, Path or Study, optional
        Default: the study a validated frame records, else ``rsw2017``.
    validate : bool, default True

    Returns
    -------
    pymc.Model
        With attributes ``pyramid_build`` (``marginal``, ``fused_ordinal``, ``general``,
        ...), ``pyramid_coefs`` (truth-style coefficient name -> variable and coordinate) and
        ``pyramid_data`` (the coded data, :class:`pyramid.models.coding.ModelData`).

    Examples
    --------
    >>> import pyramid as pyr
    >>> sim = pyr.simulate((4, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    >>> m = pyr.model(sim.data, formula="skill ~ training + clinician + (1 | unit)")
    >>> m.pyramid_build, sorted(m.named_vars)[:3]
    ('marginal', ['b_clinician', 'b_training', 'idx_unit'])
    """
    spec, prior_set = _spec_and_priors(data, model, formula, family, study, priors)
    canon = _as_canonical(data, spec, validate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows left out: validate said so
        md = prepare(spec, canon, warn=False)
    from pyramid.models.builder import build

    built = build(md, prior_set)
    built.model.pyramid_build = built.build
    built.model.pyramid_coefs = dict(built.coefs)
    built.model.pyramid_data = md
    return built.model

def fit(
    data: pd.DataFrame,
    model: str | Path | ModelSpec | None = DEFAULT_MODEL,
    priors: str | Path | PriorSet = "default",
    *,
    formula: str | None = None,
    family: str | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    random_seed: int | None = None,
    sampler: str | None = None,
    extend: bool | float = True,
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
    study: Any = None,
) -> FitResult:
    """Fit a model to coded observations of practice.

    Parameters
    ----------
    data : pandas.DataFrame
        Raw or canonical observations (validated here with :func:`pyramid.validate`).
    model : str, Path or ModelSpec, default "pyramid"
        ``skill``, ``domains``, ``pyramid`` or a spec file. ``pyramid`` is the default because
        it keeps rows whose discussion or clinician was not observed (see
        :data:`DEFAULT_MODEL`); a ``formula`` replaces it (naming another model with a formula
        is an error).
    priors : str, Path or PriorSet, default "default"
        ``default``, ``sceptical``, ``rsw2017`` or a prior file.
    formula : str, optional
        A brms-style formula over the study's factors in place of ``model``, e.g. ``"skill ~
        wave * model + caseload + (1 | authority/unit/worker)"`` (:mod:`pyramid.formula`).
        Nested group intercepts keep the fast paths; other group terms are sampled
        non-centred. The build taken is printed and stored (``result.info["build"]``).
    family : {"gaussian", "cumulative_probit"}, optional
        With ``formula``: default ``gaussian`` for the overall score, ``cumulative_probit``
        for ``domains`` (every analysed domain rating, long format) or one domain.
    draws, tune, chains : int
        Draws kept and tuning draws per chain, and the number of chains (4 by default, as
        Stan, PyMC and the rank-normalised R-hat of Vehtari et al. 2021 recommend).
    cores : int, optional
        Chains run in parallel (default: one per chain, up to the cores this process may use).
    random_seed : int, optional
        Seed of everything random in the fit; the same seed gives the same draws. ``None``
        draws one (stored in the result).
    sampler : {"nutpie", "pymc"}, optional
        Default nutpie, with PyMC's NUTS as fallback when nutpie is missing or fails.
    extend : bool or float, default True
        When the convergence checks fail after ``draws`` draws, continue the same adapted
        chains in blocks of ``draws`` more (at most three blocks) until they pass, as long as
        a time budget allows: by default twice the seconds the first draws took (at least
        30 s), or this many seconds. The same seed gives the same draws: the checks run at
        fixed block boundaries and the first block count at which they pass is kept.
        ``result.info["extension"]`` says what was done. ``False`` keeps exactly ``draws``.
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
    backend : {"numba", "pytensor", "jax"}, default "numba"
        How nutpie evaluates the model: pyramid's numba kernels (compiled once per
        installation, the same machine code for every data set: :mod:`pyramid.models.kernels`),
        PyTensor's numba backend on the PyMC model (pyramid's path before the kernels, kept
        for comparison: its compile takes a minute or more the first time and again for data
        of other sizes), or PyTensor's JAX backend on the PyMC model (``pip install
        'rsw-pyramid[jax]'``; on a GPU with ``jax[cuda12]``). JAX is never needed otherwise.
    validate : bool, default True
        Run :func:`pyramid.validate` first (turn off only for frames it already returned).
    verbose : bool, default True
        Print the rows left out, the sampler used and the convergence checks (to stderr).
    study : str, path or Study, optional
        The study of the data (:func:`pyramid.study.load_study`): its columns, levels, scale
        and words; default the study a validated ``data`` frame records, else the study of a
        ``model`` given as a :class:`~pyramid.specs.ModelSpec`, else ``rsw2017``.
        The shipped ``skill`` and ``domains`` models take the study's ``[models] terms``;
        prior sets are put on its rating scale (:func:`pyramid.specs.for_scale`). The result
        stores the study, so later stages need not be told it again.

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
    FitResult(model='skill', priors='default', rows=48, dropped=0, chains=4, draws=200, ...)
    """
    t_start = time.perf_counter()
    spec, prior_set = _spec_and_priors(data, model, formula, family, study, priors)
    s = _settings(spec, draws=draws, tune=tune, chains=chains, cores=cores,
                  prior_draws=prior_draws, random_seed=random_seed, sampler=sampler,
                  adaptation=adaptation, max_tree_depth=max_tree_depth, backend=backend,
                  target_accept=target_accept, extend=extend)
    canon = _as_canonical(data, spec, validate)
    sha = data_hash(canon)
    # pyramid.validate(model=...) already warned about the rows the model leaves out
    md = prepare(spec, canon, warn=not validate)
    if verbose:
        for note in md.notes:
            print(f"note: {note}", file=sys.stderr)
    if verbose:
        print(f"build: {md.build} ({_BUILDS[md.build]})", file=sys.stderr)
    m = _Model(md=md, priors=prior_set, layout=sampling.model_layout(md, prior_set))

    check = _Check(m)
    dt, used, fallback_reason, timings, ext, kernels = _sample(m, s, progressbar=progressbar,
                                                               check=check)
    _check_complete(dt, s, used, ext.draws)
    if verbose:
        print(f"sampled {spec.name!r} with {used} ({s.chains} chains x {ext.draws} draws, "
              f"{s.tune} tuning) in {timings['sample_s']:.1f} s"
              + (f", compiled in {timings['compile_s']:.1f} s" if math.isfinite(timings.get("compile_s", float('nan'))) else ""),
              file=sys.stderr)

    t_post = time.perf_counter()
    groups, model_dims, coords = _posterior_groups(
        dt, m, s.seed, kernels=kernels, log_likelihood=log_likelihood,
        posterior_predictive=posterior_predictive)
    groups.update(_prior_groups(m, s, model_dims, coords, prior_predictive=prior_predictive))
    groups["constant_data"] = frame_to_dataset(md.frame)
    idata = xr.DataTree.from_dict(groups)
    timings["post_s"] = time.perf_counter() - t_post

    diag = diagnose(idata, reuse=check.reuse)
    b = e_bfmi(groups["sample_stats"])
    bfmi = None if b is None else [float(x) for x in b]
    timings["total_s"] = time.perf_counter() - t_start
    info = _info(spec, prior_set, s, m, used=used, fallback_reason=fallback_reason,
                 sha=sha, timings=timings, bfmi=bfmi, ext=ext)
    res = FitResult(idata=idata, spec=spec, priors=prior_set, data=md.frame,
                    dropped=dict(md.dropped), diagnostics=diag, info=info)
    if verbose:
        print(format_diagnostics(diag, bfmi), file=sys.stderr)
        print(fit_verdict(res), file=sys.stderr)
    return res


# --------------------------------------------------------------------------------------------
# prior predictive check
# --------------------------------------------------------------------------------------------
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _prior_check_table(spec: ModelSpec, md: ModelData, prior: dict, rep: np.ndarray
                       ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The prior predictive check of a formula's model (any study): replicated scores, the
    sample's mean and SD, and the range of the rows' expected scores."""
    study = spec.the_study
    groups = [g.name for g in md.groups] + [b.name for b in md.blocks]
    exp = generated.expected_skill(spec, prior, md.frame, groups=groups,
                                   domains=list(md.domains), centring=md.centring)
    quantities = {
        "skill of an observation": rep.ravel(),
        "mean skill of the sample": rep.mean(axis=1),
        "sd of skill in the sample": (rep.std(axis=1, ddof=1) if rep.shape[1] > 1
                                      else np.zeros(len(rep))),
        "range of the rows' expected skill": exp.max(axis=1) - exp.min(axis=1),
    }
    rows = []
    for name, v in quantities.items():
        q = np.quantile(v, _QUANTILES)
        outside = (np.nan if name.startswith(("sd of", "range")) else
                   float(np.mean((v < study.scale_min) | (v > study.scale_max))))
        rows.append({"quantity": name, **{f"q{int(round(p * 100)):02d}": float(x)
                                            for p, x in zip(_QUANTILES, q, strict=True)},
                     "outside_1_5": outside})
    return pd.DataFrame(rows), {"skill": rep, "expected": exp}


def prior_check(
    priors: str | Path | PriorSet = "default",
    model: str | Path | ModelSpec | None = DEFAULT_MODEL,
    data: pd.DataFrame | None = None,
    *,
    draws: int = 1000,
    random_seed: int | None = None,
    validate: bool = True,
    formula: str | None = None,
    family: str | None = None,
    study: Any = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Prior predictive check: the skill scores a prior set implies for a model.

    Draws the model's parameters from the prior, then replicated outcomes for the rows of
    ``data`` (the reference data by default), and summarises them on the study's scale (1-5
    for RSW 2017).

    Parameters
    ----------
    priors : str, Path or PriorSet, default "default"
        Put on the study's scale as :func:`fit` does (:func:`pyramid.specs.for_scale`).
    model : str, Path or ModelSpec, default "pyramid"
        A ``formula`` replaces it.
    data : pandas.DataFrame, optional
        Rows to replicate; default :func:`pyramid.datasets.load_rsw2017`, or for another
        study a data set of its shape simulated with every effect 0
        (:func:`pyramid.data.simulate_study.simulate_study`, 5 authorities x 4 units x 4
        workers x 2 observations): the covariates' mix is all it is used for.
    draws : int, default 1000
    random_seed : int, optional
    validate : bool, default True
    formula, family : str, optional
        As in :func:`fit`. A model from a formula is summarised by the quantities that do not
        name a study's factors: a replicated observation, the sample's mean and SD, and the
        range of the rows' expected scores (what the fixed effects, interactions included,
        imply between the most and least favoured rows).
    study : str, path or Study, optional
        The study (:func:`pyramid.study.load_study`); default the study a validated ``data``
        frame records, else ``rsw2017``.

    Returns
    -------
    table : pandas.DataFrame
        One row per quantity, columns ``quantity``, ``q01``, ``q05``, ``q25``, ``q50``,
        ``q75``, ``q95``, ``q99`` and the share of draws outside the scale (``outside_1_5``
        for RSW 2017; ``outside_MIN_MAX`` for another study's scale). Quantities: ``skill of
        an observation`` (pooled over rows), ``mean skill of the sample``, ``sd of skill in
        the sample``, ``expected skill at the reference levels`` (RSW 2017: no training, no
        clinician, non-systemic discussion), then for RSW 2017 ``expected skill, full
        pyramid`` (programme, clinician, systemic) and ``full pyramid minus reference``; for
        another study one difference per factor of the model, the factor at its last level
        (binary: 1; numeric: ``centre + scale``) against all at the reference.
    draws_ : dict
        ``skill`` (draws x rows), the expected-skill draws (``expected``: the reference, then
        the other settings), the scale (``scale``) and the words of the first difference
        (``difference``), for plotting.

    Examples
    --------
    >>> table, _ = prior_check("sceptical", "skill", draws=200, random_seed=1)  # doctest: +SKIP
    """
    spec, prior_set = _spec_and_priors(data, model, formula, family, study, priors)
    the_study = spec.the_study
    draws = positive_int("draws", draws)
    seed = resolve_seed(random_seed)
    if data is None and the_study.is_default():
        data = load_rsw2017()
    elif data is None:
        from pyramid.data.simulate_study import simulate_study

        data = simulate_study(the_study, (5, 4, 4, 2), seed=seed).data
    with warnings.catch_warnings():
        # rows the model leaves out do not matter to a check of what the priors imply
        warnings.simplefilter("ignore", UserWarning)
        canon = _as_canonical(data, spec, validate)
        md = prepare(spec, canon, warn=False)
    prior = sampling.prior_draws(sampling.model_layout(md, prior_set), draws, seed)
    rng = np.random.default_rng([seed, 3])
    extra, _ = generated.integrated_draws(md, prior, rng, prior=True)
    prior.update(extra)
    rep = generated.predictive(md, prior, rng, condition_latent=False)["skill"]
    if spec.formula is not None:
        return _prior_check_table(spec, md, prior, rep)
    if the_study.is_default():
        new = pd.DataFrame({
            "training": [schema.TRAINING_LEVELS[0], "programme"],
            "clinician": [0, 1],
            "discussion": [schema.DISCUSSION_LEVELS[0], schema.DISCUSSION_LEVELS[-1]],
            "csw": [0, 1],
        })
        differences = ["full pyramid minus reference"]
    else:
        new, differences = _prior_check_settings(spec, md)
    groups = [g.name for g in md.groups]
    exp = generated.expected_skill(spec, prior, new, groups=groups, domains=list(md.domains),
                                   centring=md.centring or None)
    quantities = {
        "skill of an observation": rep.ravel(),
        "mean skill of the sample": rep.mean(axis=1),
        "sd of skill in the sample": rep.std(axis=1, ddof=1) if rep.shape[1] > 1 else np.zeros(len(rep)),
        "expected skill at the reference levels": exp[:, 0],
    }
    if the_study.is_default():
        quantities["expected skill, full pyramid"] = exp[:, 1]
    for i, name in enumerate(differences, start=1):
        quantities[name] = exp[:, i] - exp[:, 0]
    lo, hi = the_study.scale_min, the_study.scale_max
    rows = []
    for name, v in quantities.items():
        q = np.quantile(v, _QUANTILES)
        outside = (np.nan if name in differences or "sd of" in name
                   else float(np.mean((v < lo) | (v > hi))))
        rows.append({"quantity": name, **{f"q{int(round(p * 100)):02d}": float(x)
                                            for p, x in zip(_QUANTILES, q, strict=True)},
                     f"outside_{lo}_{hi}": outside})
    return pd.DataFrame(rows), {"skill": rep, "expected": exp, "scale": (lo, hi),
                                "difference": differences[0] if differences else ""}


def _prior_check_settings(spec: ModelSpec, md: ModelData) -> tuple[pd.DataFrame, list[str]]:
    """Another study's settings for :func:`prior_check`: every factor of the model at its
    reference (numeric: at its centre), then each factor alone at its last level (binary: 1;
    numeric: one ``scale`` step up), with the words of each difference."""
    study = spec.the_study
    centring = md.centring or {}
    ref: dict[str, Any] = {}
    other: dict[str, tuple[Any, str]] = {}
    for c in spec.term_columns:
        f = study.factors[c]
        if f.kind == "binary":
            ref[c] = 0
            other[c] = (1, f"{f.label}: {f.level_label(1)} vs {f.level_label(0)}")
        elif f.kind == "numeric":
            centre, step = centring.get(c, (f.centre if isinstance(f.centre, int | float)
                                            else 0.0, f.scale))
            ref[c] = float(centre)
            unit = f" {f.unit}" if f.unit else ""
            other[c] = (float(centre) + float(step), f"{f.label}: +{float(step):g}{unit}")
        else:
            levels = f.ordered_levels
            ref[c] = levels[0]
            other[c] = (levels[-1], f"{f.label}: {f.level_label(levels[-1])} vs "
                                    f"{f.level_label(levels[0])}")
    for d in spec.derived_terms:
        ref[d] = 0
    rows = [dict(ref)] + [{**ref, c: v} for c, (v, _) in other.items()]
    return pd.DataFrame(rows), [words for _, words in other.values()]
