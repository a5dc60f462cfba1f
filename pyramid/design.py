"""Design analysis and simulation-based calibration, by many simulate-and-fit runs.

Two evaluator workflows (DESIGN.md section 8) share one engine:

* :func:`design` -- for a planned design (authorities x units x workers x observations) and
  planned effects, simulate data sets from the shared generative model
  (:func:`pyramid.simulate`), fit each, and report per effect the **assurance** (the share of
  fits meeting a criterion: the probability that the study will show the effect), the mean
  interval width, the **coverage** of the true value by the interval, and the bias, each with
  its Monte Carlo standard error. A sweep over a design dimension gives an assurance curve.
* :func:`calibrate` -- simulation-based calibration (Talts et al. 2018): draw parameters from
  the prior, simulate data from the model given them, fit, and rank each true value among
  thinned posterior draws; uniform ranks for every parameter mean the fitting is calibrated.

Both run their fits through :mod:`pyramid.executor` (local worker processes or Dask, with an
append-only results store and resume). Fits take a fast path: the model is compiled once per
worker and model structure (:class:`pyramid.models.compiled.CompiledModel`) and each new data
set is swapped in with ``with_data``; a data set whose model graph differs (another number of
groups, say) is detected by comparing the PyTensor graphs and gets a compile of its own. No
``FitResult`` post-processing is done: each fit keeps only the summaries the tables need.

What the true value of an effect is (for coverage and bias) is stated in each table: the
``skill`` and ``pyramid`` models' coefficients are on the skill-point scale of the simulator
(``truth["clinician"]``), the ``domains`` model's on the latent probit scale
(``truth["latent:clinician"]`` = the skill-point effect / ``sigma_domain``); see
docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyramid.errors import InputError, PyramidError, check_prob
from pyramid.executor import RunStore, Task, run_tasks

__all__ = [
    "design",
    "calibrate",
    "summarise_design",
    "summarise_calibration",
    "plot_assurance",
    "plot_ranks",
    "sd_prior_medians",
    "design_defaults",
    "uniformity_test",
    "fit_compiled",
    "CRITERIA",
    "DESIGN_DIMS",
]

#: Success criteria of the assurance (see :func:`design`).
CRITERIA: tuple[str, ...] = ("direction", "rope", "width")

#: Design dimensions, in the order of :class:`pyramid.Design`.
DESIGN_DIMS: tuple[str, ...] = ("authorities", "units", "workers", "observations")

#: The reference design of the issue (the report's five authorities, four units each).
REFERENCE_DESIGN = (5, 4, 4, 1)

_NOT_EFFECTS = ("intercept",)


# --------------------------------------------------------------------------------------------
# defaults of the simulation
# --------------------------------------------------------------------------------------------
def _prior_median(prior) -> float:
    """Median of a positive prior (scipy; PyMC names mapped to scipy's parametrisation)."""
    from scipy import stats

    p = prior.params
    dist = {
        "HalfNormal": lambda: stats.halfnorm(scale=p["sigma"]),
        "HalfCauchy": lambda: stats.halfcauchy(scale=p["beta"]),
        "Exponential": lambda: stats.expon(scale=1.0 / p["lam"]),
        "Gamma": lambda: stats.gamma(a=p["alpha"], scale=1.0 / p["beta"]),
        "LogNormal": lambda: stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"])),
    }
    if prior.dist == "HalfStudentT":  # |T_nu| * sigma: its median is sigma * t_nu(0.75)
        return float(p["sigma"] * stats.t.ppf(0.75, p["nu"]))
    if prior.dist not in dist:
        raise InputError(f"cannot take the median of a {prior.dist} prior for a group SD")
    return float(dist[prior.dist]().median())


def sd_prior_medians(priors: Any = "default") -> dict[str, float]:
    """Group SDs for simulation: the medians of a prior set's ``sd`` priors (skill points).

    The design analysis simulates with these unless told otherwise: the median is a typical
    value of the prior (its mean is pulled up by the right tail).

    Parameters
    ----------
    priors : str, Path or PriorSet, default "default"

    Returns
    -------
    dict
        ``sd_authority``, ``sd_unit``, ``sd_worker`` -> median.

    Examples
    --------
    >>> {k: round(v, 3) for k, v in sd_prior_medians().items()}
    {'sd_authority': 0.27, 'sd_unit': 0.27, 'sd_worker': 0.27}
    """
    from pyramid.specs import load_priors

    p = load_priors(priors)
    return {f"sd_{g}": _prior_median(p.get("sd", group=g)) for g in ("authority", "unit", "worker")}


def design_defaults() -> dict[str, Any]:
    """What :func:`design` simulates with when not told otherwise.

    Returns
    -------
    dict
        ``group_sds`` (the ``default`` prior set's SD medians for authority, unit and worker;
        the simulator's own ``sd_observation`` and ``sigma_domain``, which are not group SDs of
        the models) and ``mix`` (the simulator's default mix, from the report's sample, except
        ``discussion_observed = 1``: a planned study records every unit's case discussion, so
        that the design's sizes are the rows the models use; give
        ``mix={"discussion_observed": 0.33}`` to plan for the report's rate).

    Examples
    --------
    >>> d = design_defaults()
    >>> d["mix"]["discussion_observed"], round(d["group_sds"]["sd_unit"], 2)
    (1.0, 0.27)
    """
    from pyramid.data.simulate import default_group_sds

    sds = default_group_sds()
    sds.update(sd_prior_medians("default"))
    return {"group_sds": sds, "mix": {"discussion_observed": 1.0}}


# --------------------------------------------------------------------------------------------
# fitting with a compiled model reused (runs in the workers)
# --------------------------------------------------------------------------------------------
@dataclass
class _Entry:
    outputs: list
    inputs: list
    compiled: Any


_CACHE: list[_Entry] = []
_CACHE_SIZE = 8


def _graph(model) -> tuple[list, list]:
    """The model's log-density and deterministics, and their non-constant inputs in order."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import graph_inputs

    outputs = [model.logp(), *model.deterministics]
    inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    return outputs, inputs


def _data_values(model) -> dict[str, np.ndarray]:
    from pyramid.models.compiled import _data_vars

    return {name: np.asarray(var.get_value()) for name, var in _data_vars(model).items()}


def _cached(built) -> tuple[Any, list, list]:
    """The cached compiled model whose graph equals ``built``'s (or None), and its graph.

    Equal graphs (up to the data containers, the value variables and the random generators)
    mean the same compiled functions: the priors' parameters, the numbers of groups and every
    other constant are part of the graph, so a model of another spec, prior set or structure
    never matches.
    """
    from pytensor.graph.basic import equal_computations

    outputs, inputs = _graph(built.model)
    for entry in _CACHE:
        if len(entry.inputs) != len(inputs):
            continue
        if equal_computations(outputs, entry.outputs, in_xs=inputs, in_ys=entry.inputs):
            return entry.compiled, outputs, inputs
    return None, outputs, inputs


def _compiled_for(built, reuse: bool = True):
    """A compiled model for ``built``: from the process cache when its graph is the same."""
    from pymc.initial_point import make_initial_point_fn

    from pyramid.models.compiled import compile_model

    if reuse:
        cm, outputs, inputs = _cached(built)
        if cm is not None:
            # the new data, and initial points from the new model (its initvals may come
            # from the data, e.g. empirical thresholds)
            init = make_initial_point_fn(model=built.model, overrides=built.initvals or None,
                                         jitter_rvs=set(built.model.free_RVs),
                                         return_transformed=True)
            return replace(cm.with_data(**_data_values(built.model)), _init_fn=init), False
    cm = compile_model(built.model, initvals=built.initvals)
    if reuse:
        _CACHE.insert(0, _Entry(outputs, inputs, cm))
        del _CACHE[_CACHE_SIZE:]
    return cm, True


def fit_compiled(built, *, draws: int = 500, tune: int = 500, chains: int = 2,
                 random_seed: int = 0, target_accept: float | None = None,
                 reuse: bool = True) -> tuple[Any, Any, dict]:
    """Sample a built model with nutpie on one thread, compiling only when needed.

    The fast path of many fits: the first model of a structure is compiled
    (:func:`pyramid.models.compiled.compile_model`) and kept in a per-process cache; a later
    model whose PyTensor graph is the same (same priors, groups and levels; other data) reuses
    it with its data swapped in (``CompiledModel.with_data``). Nothing of
    :func:`pyramid.fit` 's post-processing is done.

    Parameters
    ----------
    built : pyramid.models.builder.Built
    draws, tune, chains : int
    random_seed : int
    target_accept : float, optional
    reuse : bool, default True
        ``False`` compiles every time (the slow path, for comparison).

    Returns
    -------
    posterior, sample_stats : xarray.Dataset
    info : dict
        ``compiled`` (bool: compiled now), ``compile_s``, ``sample_s``.

    Examples
    --------
    >>> import pyramid as pyr
    >>> from pyramid.models.builder import build
    >>> from pyramid.models.coding import prepare
    >>> spec, priors = pyr.load_spec("skill"), pyr.load_priors("default")
    >>> def built(seed):
    ...     sim = pyr.simulate((3, 2, 2, 2), seed=seed, mix={"discussion_observed": 1.0})
    ...     return build(prepare(spec, sim.data, warn=False), priors)
    >>> _ = fit_compiled(built(1), draws=50, tune=50)
    >>> post, stats, info = fit_compiled(built(2), draws=50, tune=50)
    >>> info["compiled"], dict(post.sizes)
    (False, {'chain': 2, 'draw': 50, 'training': 3, 'discussion_step': 2})
    """
    import nutpie

    t0 = time.perf_counter()
    cm, compiled_now = _compiled_for(built, reuse)
    t1 = time.perf_counter()
    kwargs = {"target_accept": float(target_accept)} if target_accept else {}
    with _interrupt_guard() as interrupted:
        try:
            dt = nutpie.sample(cm.to_nutpie(), draws=draws, tune=tune, chains=chains, cores=1,
                               seed=int(random_seed), progress_bar=False, save_warmup=False,
                               **kwargs)
        except Exception:
            if interrupted:  # e.g. a warning about the cut trace, raised as an error
                raise KeyboardInterrupt("sampling was interrupted") from None
            raise
    if interrupted:
        raise KeyboardInterrupt("sampling was interrupted")
    t2 = time.perf_counter()
    if "posterior" not in dt.children or dt["posterior"].sizes.get("draw") != draws \
            or dt["posterior"].sizes.get("chain") != chains:
        got = dict(dt["posterior"].sizes) if "posterior" in dt.children else {}
        raise PyramidError(f"nutpie returned an incomplete trace ({got}; asked for {chains} "
                           f"chains x {draws} draws)")
    return (dt["posterior"].to_dataset(), dt["sample_stats"].to_dataset(),
            {"compiled": compiled_now, "compile_s": t1 - t0, "sample_s": t2 - t1})


@contextmanager
def _interrupt_guard():
    """Notice Ctrl-C during sampling.

    ``nutpie.sample`` catches KeyboardInterrupt and returns the draws made so far, which would
    turn an interrupted fit into a short one and let the run go on. In the main thread (a run
    in this process) a SIGINT is noted here, still interrupts nutpie, and the caller raises
    KeyboardInterrupt afterwards. Worker processes ignore SIGINT (their parent stops them).
    """
    flag: list[bool] = []
    previous = None
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        def handler(signum, frame):
            flag.append(True)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _spec_payload(spec, priors) -> dict:
    from pyramid.fit import _priors_to_dict

    return {"spec_text": spec.text, "spec_source": spec.source,
            "priors": _priors_to_dict(priors), "priors_text": priors.text,
            "priors_source": priors.source}


def _spec_from_payload(p: dict):
    from pyramid.fit import _priors_from_dict
    from pyramid.specs import spec_from_text

    spec = spec_from_text(p["spec_text"], p["spec_source"])
    priors = _priors_from_dict(p["priors"], p["priors_text"], p["priors_source"])
    return spec, priors


def _identity_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _diagnostics(post, stats, var_sel: list[tuple[str, dict]]) -> dict:
    """Divergences, and the worst R-hat and bulk ESS over the given variables."""
    import arviz as az

    n_div = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0
    names = sorted({v for v, _ in var_sel})
    sub = post[names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(sub)
        ess = az.ess(sub, method="bulk")
    r = max(float(np.nanmax(np.asarray(rhat[v].values, dtype=float))) for v in names)
    e = min(float(np.nanmin(np.asarray(ess[v].values, dtype=float))) for v in names)
    return {"divergences": n_div, "max_r_hat": r, "min_ess_bulk": e}


def _quiet():
    """Record warnings instead of raising or printing them (one fit of many)."""
    cm = warnings.catch_warnings(record=True)
    return cm


def _design_fit(p: dict) -> dict:
    """One design-analysis fit: simulate, fit, summarise the target effects."""
    from pyramid.data.simulate import simulate
    from pyramid.models.builder import build
    from pyramid.models.coding import prepare

    spec, priors = _spec_from_payload(p)
    with _quiet() as caught:
        warnings.simplefilter("always")
        sim = simulate(tuple(p["design"]), effects=p["effects"], group_sds=p["group_sds"],
                       mix=p["mix"], seed=p["sim_seed"], preset=p["preset"])
        md = prepare(spec, sim.data, warn=False)
        built = build(md, priors)
        post, stats, info = fit_compiled(
            built, draws=p["draws"], tune=p["tune"], chains=p["chains"],
            random_seed=p["fit_seed"], target_accept=spec.target_accept, reuse=p["reuse"],
        )
    prefix = "latent:" if built.scale == "latent" else ""
    ci, rope = p["ci_prob"], p["rope"]
    lo_q, hi_q = (1 - ci) / 2, (1 + ci) / 2
    effects = {}
    used = []
    for name, (var, sel) in built.coefs.items():
        truth_key = prefix + name
        if truth_key not in sim.truth:
            continue
        d = np.asarray((post[var].sel(sel) if sel else post[var]).values, dtype=float).ravel()
        lo, med, hi = np.quantile(d, [lo_q, 0.5, hi_q])
        effects[name] = {
            "truth": float(sim.truth[truth_key]), "truth_name": truth_key,
            "mean": float(d.mean()), "sd": float(d.std(ddof=1)), "median": float(med),
            "lower": float(lo), "upper": float(hi),
            "p_positive": float((d > 0).mean()),
            "p_above_rope": float((d > rope).mean()), "p_below_rope": float((d < -rope).mean()),
        }
        used.append((var, sel))
    diag = _diagnostics(post, stats, used) if used else {}
    return {
        "point": p["point"], "design": list(p["design"]), "scale": built.scale,
        "n_rows": int(md.n_rows), "effects": effects, **diag, **info,
        "notes": list(md.notes),
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5],
    }


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _whole(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _parse_sweep(sweep: Any) -> tuple[str, list[int]] | None:
    """``{"units": [2, 4, 8]}`` or ``"units=2,4,8"`` -> ("units", [2, 4, 8])."""
    if sweep is None:
        return None
    if isinstance(sweep, str):
        name, sep, values = sweep.partition("=")
        if not sep:
            raise InputError(f"sweep must look like DIMENSION=V1,V2,... (e.g. units=2,4,8); "
                             f"got {sweep!r}")
        try:
            vals = [int(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"sweep values must be whole numbers, got {values!r}") from None
        sweep = {name.strip(): vals}
    if not isinstance(sweep, Mapping) or len(sweep) != 1:
        raise InputError(f"sweep must name one design dimension ({', '.join(DESIGN_DIMS)}) and "
                         f"its values, e.g. {{'units': [2, 4, 8]}}; got {sweep!r}")
    ((name, values),) = sweep.items()
    if name not in DESIGN_DIMS:
        raise InputError(f"sweep dimension must be one of {', '.join(DESIGN_DIMS)}; got {name!r}")
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise InputError(f"sweep values of {name} must be a non-empty list of whole numbers, "
                         f"got {values!r}")
    vals = [_whole(f"sweep value of {name}", v) for v in values]
    if len(set(vals)) != len(vals):
        raise InputError(f"sweep values of {name} must differ, got {vals}")
    return name, vals


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list | np.ndarray):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _seed_for(seed: int, *words: int) -> int:
    return int(np.random.SeedSequence([seed, *words]).generate_state(1)[0] % (2**31 - 1))


def _resolve_seed(random_seed: Any, out: Path | None) -> int:
    if random_seed is None:
        if out is not None and (out / "manifest.json").exists():
            try:
                return int(json.loads((out / "manifest.json").read_text())["identity"]["random_seed"])
            except (ValueError, KeyError, TypeError):
                pass
        return int(np.random.SeedSequence().entropy % (2**31 - 1))
    return _whole("random_seed", random_seed, minimum=0)


def _sampling_args(draws: Any, tune: Any, chains: Any) -> dict:
    return {"draws": _whole("draws", draws), "tune": _whole("tune", tune, minimum=0),
            "chains": _whole("chains", chains)}


class _Folder:
    """The output folder, or a temporary one deleted afterwards."""

    def __init__(self, out: str | Path | None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="pyramid-") if out is None else None
        self.path = Path(self._tmp.name if self._tmp else out)
        self.kept = out is not None

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


# --------------------------------------------------------------------------------------------
# design analysis
# --------------------------------------------------------------------------------------------
def design(
    authorities: int = REFERENCE_DESIGN[0],
    units: int = REFERENCE_DESIGN[1],
    workers: int = REFERENCE_DESIGN[2],
    observations: int = REFERENCE_DESIGN[3],
    *,
    effects: Mapping[str, Any] | None = None,
    preset: str = "report",
    group_sds: Mapping[str, float] | None = None,
    mix: Mapping[str, Any] | None = None,
    sims: int = 100,
    sweep: Mapping[str, Sequence[int]] | str | None = None,
    model: Any = "skill",
    priors: Any = "default",
    criterion: str = "direction",
    level: float = 0.95,
    rope: float = 0.1,
    width: float | None = None,
    ci_prob: float = 0.9,
    targets: Sequence[str] | None = None,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    random_seed: int | None = None,
    out: str | Path | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    progressbar: bool = True,
    reuse: bool = True,
) -> pd.DataFrame:
    """Design analysis: assurance, interval width, coverage and bias of a planned study.

    For each design point (the design, or each value of a ``sweep``), ``sims`` data sets are
    simulated from the shared generative model with the planned effects
    (:func:`pyramid.simulate`), each is fitted with ``model`` and ``priors``, and the fits are
    summarised per effect. Fits run on :func:`pyramid.executor.run_tasks` (local processes by
    default, or Dask); each finished fit is stored at once in ``out``, so a run that is
    interrupted and started again with the same arguments resumes.

    Parameters
    ----------
    authorities, units, workers, observations : int
        The planned design: authorities, units per authority, workers per unit, observations
        per worker (default the reference design 5 x 4 x 4 x 1).
    effects : mapping, optional
        Planned true effects by name (:mod:`pyramid.data.simulate` names and aliases, skill
        points), over the ``preset``.
    preset : {"report", "null"}, default "report"
        Starting effects: roughly the report's estimates (``clinician`` and ``discussion`` from
        Table 15 and its crosstab, ``training`` from Table 14), or all zero.
    group_sds : mapping, optional
        ``sd_authority, sd_unit, sd_worker, sd_observation, sigma_domain`` overriding the
        defaults of :func:`design_defaults` (authority, unit and worker SDs: the medians of
        the ``default`` prior set's SD priors, 0.27 each).
    mix : mapping, optional
        Factor mix over :func:`design_defaults` (the simulator's default mix with
        ``discussion_observed = 1``).
    sims : int, default 100
        Simulated data sets per design point.
    sweep : mapping or str, optional
        One design dimension and its values, ``{"units": [2, 4, 8]}`` or ``"units=2,4,8"``:
        one design point per value (the other dimensions as given).
    model, priors : str, Path or spec object
        The analysis model (default ``skill``) and prior set (default ``default``).
    criterion : {"direction", "rope", "width"}, default "direction"
        What counts as showing an effect, for the ``assurance`` column (all three are
        reported): ``direction``: the posterior probability that the effect has its true sign
        is at least ``level``; ``rope``: the posterior probability beyond the region of
        practical equivalence (+/- ``rope``) on the true side is at least ``level``;
        ``width``: the ``ci_prob`` interval is at most ``width`` wide. For a true effect of
        zero, ``direction`` counts a confident sign either way (a false detection) and
        ``rope`` counts a posterior probability inside the ROPE of at least ``level``
        (equivalence shown).
    level : float, default 0.95
    rope : float, default 0.1
        Half-width of the region of practical equivalence (skill points, or the model's
        scale).
    width : float, optional
        Target interval width of the ``width`` criterion (needed when it is the criterion).
    ci_prob : float, default 0.9
        Probability of the equal-tailed interval whose width and coverage are reported.
    targets : list of str, optional
        Effects to report (default every fixed effect of the model with a true value, except
        the intercept).
    draws, tune, chains : int, default 500, 500, 2
        Sampler settings of each fit (nutpie, one thread).
    random_seed : int, optional
        Seed of the whole run: fit ``i`` of design point ``j`` uses seeds derived from
        ``(random_seed, j, i)``. ``None`` draws one (and a resumed run reuses the stored one).
    out : str or Path, optional
        Output folder: ``manifest.json``, ``results.jsonl`` (one line per fit),
        ``summary.csv``, ``fits.csv`` and ``assurance.png``. Default a temporary folder.
    jobs, scheduler, dask_workers :
        Where the fits run: ``jobs`` local worker processes (default one per core; 0 = in
        this process), a Dask scheduler address, or a local Dask cluster of that many workers.
    progressbar : bool, default True
    reuse : bool, default True
        Compile once per worker and model structure and swap data (``False``: compile every
        fit, the slow path kept for benchmarks).

    Returns
    -------
    pandas.DataFrame
        One row per design point and effect (see :func:`summarise_design` for the columns);
        ``attrs`` holds ``out``, ``report`` (the executor's :class:`RunReport` as a dict) and
        ``failed`` (the errors of failed fits).

    Raises
    ------
    InputError
        A bad argument, or an output folder holding a run with other arguments.
    PyramidError
        Every fit failed (the first error is given).

    Examples
    --------
    A tiny run in this process (real studies want ``sims=100`` or more, on worker processes):

    >>> import pyramid as pyr
    >>> table = pyr.design(3, 2, 2, 2, effects={"clinician": 0.5}, sims=2, draws=100,
    ...                    tune=100, random_seed=1, jobs=0, progressbar=False)
    >>> table[["effect", "truth", "n_fits"]]
                    effect  truth  n_fits
    0      training[other]   0.21       2
    1        training[mla]   0.47       2
    2  training[programme]   1.06       2
    3            clinician   0.50       2
    4           discussion   0.17       2
    >>> bool(table["assurance"].between(0, 1).all())
    True
    """
    from pyramid.data.simulate import Design, simulate
    from pyramid.specs import load_priors, load_spec

    spec = load_spec(model)
    prior_set = load_priors(priors)
    sims = _whole("sims", sims)
    sampling = _sampling_args(draws, tune, chains)
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    level = check_prob("level", level)
    ci_prob = check_prob("ci_prob", ci_prob)
    if isinstance(rope, bool) or not isinstance(rope, int | float) or not rope >= 0:
        raise InputError(f"rope must be a number >= 0, got {rope!r}")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int | float)
                              or not width > 0):
        raise InputError(f"width must be a number > 0, got {width!r}")
    if criterion == "width" and width is None:
        raise InputError("criterion 'width' needs a target width (width=..., --width W)")
    swept = _parse_sweep(sweep)
    base = dict(zip(DESIGN_DIMS, (authorities, units, workers, observations), strict=True))
    points: list[dict] = []
    for value in (swept[1] if swept else [None]):
        d = dict(base)
        if swept:
            d[swept[0]] = value
        Design(**d)  # checks each size
        points.append(d)

    defaults = design_defaults()
    sds = dict(defaults["group_sds"])
    sds.update(dict(group_sds or {}))
    mx = dict(defaults["mix"])
    mx.update(dict(mix or {}))
    eff = _jsonable(dict(effects or {}))
    # a tiny simulation checks every effect, SD and mix name and value, and resolves them
    probe = simulate((1, 1, 1, 1), effects=eff, group_sds=sds, mix=mx, seed=0, preset=preset)
    truth = {k: v for k, v in probe.truth.items() if not isinstance(v, pd.Series)}
    if targets is not None:
        targets = [str(t) for t in targets]
        known = [k for k in truth if not k.startswith("latent:")]
        bad = [t for t in targets if t not in known]
        if bad:
            raise InputError(f"unknown target effect(s) {', '.join(bad)}; known: "
                             f"{', '.join(known)}")

    folder = _Folder(out)
    seed = _resolve_seed(random_seed, folder.path if folder.kept else None)
    common = {**_spec_payload(spec, prior_set), **sampling, "effects": eff, "preset": preset,
              "group_sds": _jsonable(sds), "mix": _jsonable(mx), "ci_prob": ci_prob,
              "rope": float(rope), "reuse": bool(reuse)}
    identity = {
        "kind": "design", "points": points, "sims": sims, "random_seed": seed,
        "model": spec.name, "model_sha": _identity_hash(spec.text),
        "priors": prior_set.name,
        "priors_sha": _identity_hash(json.dumps(common["priors"], sort_keys=True)),
        "truth": _jsonable(truth), "group_sds": common["group_sds"], "mix": common["mix"],
        **sampling, "ci_prob": ci_prob, "rope": float(rope),
    }
    tasks = []
    for j, d in enumerate(points):
        for i in range(sims):
            payload = {**common, "point": j, "design": [d[k] for k in DESIGN_DIMS],
                       "sim_seed": _seed_for(seed, j, i), "fit_seed": _seed_for(seed, j, i, 1)}
            tasks.append(Task(f"p{j}-s{i:05d}", payload))
    info = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "effects_given": eff,
            "preset": preset, "sweep": swept[0] if swept else None}
    try:
        with RunStore(folder.path, identity, info) as store:
            report = run_tasks(_design_fit, tasks, store, jobs=jobs, scheduler=scheduler,
                               dask_workers=dask_workers, progressbar=progressbar,
                               description="design fits")
            records = store.records()
        table = summarise_design(records, points=points, sweep=swept[0] if swept else None,
                                 criterion=criterion, level=level, width=width,
                                 targets=targets, ci_prob=ci_prob)
        failed = [f"{r['key']}: {r.get('error', '')}" for r in records if r.get("status") != "ok"]
        if not any(r.get("status") == "ok" for r in records):
            raise PyramidError(f"every one of the {len(records)} fits failed; the first: "
                               f"{failed[0] if failed else 'no fit ran'}")
        if folder.kept:
            table.to_csv(folder.path / "summary.csv", index=False)
            fits_table(records).to_csv(folder.path / "fits.csv", index=False)
            fig = plot_assurance(table)
            fig.savefig(folder.path / "assurance.png", dpi=120, bbox_inches="tight")
        table.attrs.update({"out": str(folder.path) if folder.kept else None,
                            "report": report.__dict__, "failed": failed, "random_seed": seed})
        return table
    finally:
        folder.cleanup()


def fits_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per successful design fit and effect, from the store's records.

    Returns
    -------
    pandas.DataFrame
        Columns ``key``, ``point``, the four design dimensions, ``n_rows`` (rows the model
        used), ``effect``, ``truth``, ``mean``, ``sd``, ``median``, ``lower``, ``upper``,
        ``p_positive``, ``p_above_rope``, ``p_below_rope``, ``divergences``, ``max_r_hat``,
        ``min_ess_bulk``, ``compiled`` and ``sample_s``.

    Examples
    --------
    >>> rec = {"key": "p0-s00000", "status": "ok", "result": {
    ...     "point": 0, "design": [2, 2, 2, 1], "n_rows": 8, "divergences": 0,
    ...     "max_r_hat": 1.0, "min_ess_bulk": 500.0, "compiled": True, "sample_s": 1.0,
    ...     "effects": {"clinician": {"truth": 0.5, "mean": 0.4, "sd": 0.2, "median": 0.4,
    ...                 "lower": 0.1, "upper": 0.7, "p_positive": 0.98,
    ...                 "p_above_rope": 0.9, "p_below_rope": 0.0}}}}
    >>> fits_table([rec])[["effect", "truth", "mean", "units"]]
          effect  truth  mean  units
    0  clinician    0.5   0.4      2
    """
    rows = []
    for rec in records:
        if rec.get("status") != "ok":
            continue
        r = rec["result"]
        for name, e in r["effects"].items():
            rows.append({
                "key": rec["key"], "point": r["point"],
                **dict(zip(DESIGN_DIMS, r["design"], strict=True)), "n_rows": r.get("n_rows"),
                "effect": name, **{k: e[k] for k in ("truth", "mean", "sd", "median", "lower",
                                                     "upper", "p_positive", "p_above_rope",
                                                     "p_below_rope")},
                "divergences": r.get("divergences", 0), "max_r_hat": r.get("max_r_hat"),
                "min_ess_bulk": r.get("min_ess_bulk"), "compiled": r.get("compiled"),
                "sample_s": r.get("sample_s"),
            })
    cols = ["key", "point", *DESIGN_DIMS, "n_rows", "effect", "truth", "mean", "sd", "median",
            "lower", "upper", "p_positive", "p_above_rope", "p_below_rope", "divergences",
            "max_r_hat", "min_ess_bulk", "compiled", "sample_s"]
    return pd.DataFrame(rows, columns=cols)


def _share(x: np.ndarray) -> tuple[float, float]:
    """Share of True and its Monte Carlo standard error sqrt(p (1 - p) / n)."""
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    p = float(np.mean(x))
    return p, math.sqrt(p * (1 - p) / n)


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    return float(np.mean(x)), (float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else float("nan"))


def summarise_design(
    records: Sequence[dict],
    *,
    points: Sequence[Mapping[str, int]] | None = None,
    sweep: str | None = None,
    criterion: str = "direction",
    level: float = 0.95,
    width: float | None = None,
    targets: Sequence[str] | None = None,
    ci_prob: float = 0.9,
) -> pd.DataFrame:
    """Summarise design-analysis fits per design point and effect.

    Parameters
    ----------
    records : list of dict
        The store's records (``RunStore.records()``), failed ones included (they are counted).
    points : list of dict, optional
        The design points (to list points whose fits all failed).
    sweep : str, optional
        The swept dimension (a column ``sweep`` names it).
    criterion, level, width, ci_prob :
        As in :func:`design`.
    targets : list of str, optional
        Effects to keep (default every effect but the intercept).

    Returns
    -------
    pandas.DataFrame
        One row per design point and effect, columns:

        - ``sweep``: the swept dimension or empty; ``authorities``, ``units``, ``workers``,
          ``observations``: the design point; ``n_observations``: its rows;
        - ``effect``; ``truth``: the true value on the model's scale;
        - ``n_fits`` (successful), ``n_failed``;
        - ``criterion``, ``level``; ``assurance`` and ``assurance_mcse``: the share of fits
          meeting the criterion and its Monte Carlo standard error, sqrt(p (1 - p) / n);
        - ``assurance_direction``, ``assurance_rope``, ``assurance_width`` (NaN without a
          width) and their ``_mcse``;
        - ``ci_prob``; ``mean_width`` (of the interval) and ``mean_width_mcse``;
        - ``coverage``: share of intervals holding the truth, and ``coverage_mcse``;
        - ``bias``: mean of (posterior mean - truth), ``bias_mcse``; ``rmse``;
        - ``mean_estimate``: mean of the posterior means;
        - ``share_divergent``: share of fits with a divergent transition;
          ``share_unconverged``: share with R-hat > 1.01 or bulk ESS < 100 in a reported effect.

    Examples
    --------
    >>> def rec(i, mean):
    ...     return {"key": f"p0-s{i:05d}", "status": "ok", "result": {
    ...         "point": 0, "design": [2, 2, 2, 1], "divergences": 0, "max_r_hat": 1.0,
    ...         "min_ess_bulk": 400.0, "effects": {"clinician": {
    ...             "truth": 0.5, "mean": mean, "sd": 0.2, "median": mean,
    ...             "lower": mean - 0.3, "upper": mean + 0.3, "p_positive": 0.97,
    ...             "p_above_rope": 0.9, "p_below_rope": 0.0}}}}
    >>> t = summarise_design([rec(0, 0.4), rec(1, 0.9)])
    >>> t[["effect", "n_fits", "assurance", "coverage", "bias"]]
          effect  n_fits  assurance  coverage  bias
    0  clinician       2        1.0       0.5  0.15
    """
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    fits = fits_table(records)
    failed_by_point: dict[int, int] = {}
    for rec in records:
        if rec.get("status") != "ok":
            j = int(str(rec["key"]).split("-")[0][1:]) if str(rec["key"]).startswith("p") else -1
            failed_by_point[j] = failed_by_point.get(j, 0) + 1
    if targets is None:
        fits = fits[~fits["effect"].isin(_NOT_EFFECTS)
                    & ~fits["effect"].str.contains("cutpoints|kappa", regex=True)]
    else:
        fits = fits[fits["effect"].isin(list(targets))]
    rows = []
    point_ids = sorted(set(fits["point"]) | set(range(len(points or []))))
    effect_order = sorted(dict.fromkeys(fits["effect"]), key=_effect_rank)
    for j in point_ids:
        sub = fits[fits["point"] == j]
        if points is not None and j < len(points):
            dims = {k: int(points[j][k]) for k in DESIGN_DIMS}
        elif len(sub):
            dims = {k: int(sub[k].iloc[0]) for k in DESIGN_DIMS}
        else:  # pragma: no cover - a point known only from failures
            continue
        for name in effect_order or [None]:
            f = sub[sub["effect"] == name]
            truth = f["truth"].to_numpy(dtype=float)
            t0 = float(truth[0]) if len(truth) else float("nan")
            sign = np.sign(truth)
            p_pos = f["p_positive"].to_numpy(dtype=float)
            p_true_side = np.where(sign > 0, p_pos, np.where(sign < 0, 1 - p_pos,
                                                             np.maximum(p_pos, 1 - p_pos)))
            above = f["p_above_rope"].to_numpy(dtype=float)
            below = f["p_below_rope"].to_numpy(dtype=float)
            p_rope = np.where(sign > 0, above, np.where(sign < 0, below, 1 - above - below))
            w = (f["upper"] - f["lower"]).to_numpy(dtype=float)
            ok = {"direction": p_true_side >= level, "rope": p_rope >= level,
                  "width": (w <= width) if width is not None else None}
            est = f["mean"].to_numpy(dtype=float)
            covered = ((f["lower"] <= f["truth"]) & (f["truth"] <= f["upper"])).to_numpy()
            a_dir, a_dir_se = _share(ok["direction"])
            a_rope, a_rope_se = _share(ok["rope"])
            a_w, a_w_se = _share(ok["width"]) if width is not None else (float("nan"),) * 2
            chosen = {"direction": (a_dir, a_dir_se), "rope": (a_rope, a_rope_se),
                      "width": (a_w, a_w_se)}[criterion]
            mw, mw_se = _mean_se(w)
            cov, cov_se = _share(covered)
            bias, bias_se = _mean_se(est - truth)
            unconv = ((f["max_r_hat"].astype(float) > 1.01)
                      | (f["min_ess_bulk"].astype(float) < 100)).to_numpy()
            rows.append({
                "sweep": sweep or "", **dims,
                "n_observations": math.prod(dims.values()), "effect": name, "truth": t0,
                "n_fits": len(f), "n_failed": failed_by_point.get(j, 0),
                "criterion": criterion, "level": level,
                "assurance": chosen[0], "assurance_mcse": chosen[1],
                "assurance_direction": a_dir, "assurance_direction_mcse": a_dir_se,
                "assurance_rope": a_rope, "assurance_rope_mcse": a_rope_se,
                "assurance_width": a_w, "assurance_width_mcse": a_w_se,
                "ci_prob": ci_prob, "mean_width": mw, "mean_width_mcse": mw_se,
                "coverage": cov, "coverage_mcse": cov_se,
                "bias": bias, "bias_mcse": bias_se,
                "rmse": float(np.sqrt(np.mean((est - truth) ** 2))) if len(f) else float("nan"),
                "mean_estimate": float(np.mean(est)) if len(f) else float("nan"),
                "share_divergent": float(np.mean(f["divergences"].to_numpy() > 0)) if len(f)
                else float("nan"),
                "share_unconverged": float(np.mean(unconv)) if len(f) else float("nan"),
            })
    return pd.DataFrame(rows)


def _effect_rank(name: str) -> tuple[int, str]:
    """Order of effects in tables: the simulator's order of effect names, then the rest."""
    from pyramid.data.simulate import EFFECT_NAMES

    base = name.split("[")[0] if name.split("[")[0] in ("zeta", "discussion_cutpoints") else name
    return (EFFECT_NAMES.index(base) if base in EFFECT_NAMES else len(EFFECT_NAMES), name)


def plot_assurance(summary: pd.DataFrame):
    """Assurance (and coverage) by design point and effect, with +/- 2 MCSE bars.

    With a swept dimension (``summary["sweep"]``) the x axis is that dimension: an assurance
    curve per effect; otherwise one point per effect.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`design` or :func:`summarise_design`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> t = pd.DataFrame({"sweep": "units", "authorities": 5, "units": [2, 4], "workers": 4,
    ...     "observations": 1, "effect": "clinician", "assurance": [0.5, 0.8],
    ...     "assurance_mcse": [0.05, 0.04], "coverage": [0.9, 0.88],
    ...     "coverage_mcse": [0.03, 0.03], "criterion": "direction", "level": 0.95,
    ...     "ci_prob": 0.9})
    >>> fig = plot_assurance(t)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['assurance', 'coverage of the 90% interval']
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    if summary.empty:
        raise InputError("nothing to plot: the summary has no rows")
    sweep = str(summary["sweep"].iloc[0]) if "sweep" in summary else ""
    x = sweep if sweep else "effect"
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    palette = dict(zip(summary["effect"].unique(),
                       sns.color_palette("colorblind", summary["effect"].nunique()),
                       strict=True))
    for ax, col, label in ((axes[0], "assurance", "assurance"),
                           (axes[1], "coverage", "coverage of the "
                            f"{float(summary['ci_prob'].iloc[0]):.0%} interval")):
        for eff, sub in summary.groupby("effect", sort=False):
            sub = sub.sort_values(x) if sweep else sub
            xs = sub[x].to_numpy()
            ax.errorbar(xs, sub[col], yerr=2 * sub[f"{col}_mcse"], marker="o", capsize=3,
                        color=palette[eff], label=str(eff), linestyle="-" if sweep else "none")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(label)
        ax.set_xlabel(f"{sweep} (design)" if sweep else "")
        if sweep:
            ax.set_xticks(sorted(summary[x].unique()))
        else:
            ax.tick_params(axis="x", rotation=30)
    crit = summary["criterion"].iloc[0]
    lvl = float(summary["level"].iloc[0])
    axes[0].set_title(f"assurance: {crit} criterion (level {lvl:g}), +/- 2 MCSE")
    axes[1].axhline(float(summary["ci_prob"].iloc[0]), color="grey", linestyle="--", lw=1)
    axes[1].set_title("coverage of the true value, +/- 2 MCSE")
    if sweep:
        axes[0].legend(title="effect", fontsize="small")
    sns.despine(fig=fig)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# simulation-based calibration
# --------------------------------------------------------------------------------------------
def _prior_draw(built, seed: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One draw of every free variable and deterministic from the model's prior
    (:func:`pyramid.fit._prior_draws`: ordered variables sorted, deterministics recomputed),
    with a leading draw axis of 1; group effects the model integrates out are drawn from
    Normal(0, sd).
    """
    from pyramid.fit import _integrated_draws, _prior_draws

    draws = _prior_draws(built, 1, seed)
    extra, _ = _integrated_draws(built.data, draws, rng, prior=True)
    draws.update(extra)
    return draws


def _group_dims(built) -> set[str]:
    return {g.name for g in built.data.groups} | {"path_unit"}


def _outcome_dependent(built) -> set[str]:
    """Deterministics computed from the outcome (e.g. a log-likelihood): not parameters."""
    from pytensor.graph.traversal import ancestors

    model = built.model
    outcome = model.named_vars.get("y")
    if outcome is None:
        return set()
    return {d.name for d in model.deterministics if outcome in set(ancestors([d]))}


def _sbc_fit(p: dict) -> dict:
    """One SBC fit: prior draw, data from the model given it, fit, ranks."""
    from pyramid.data.simulate import simulate
    from pyramid.models import generated
    from pyramid.models.builder import build
    from pyramid.models.coding import prepare

    spec, priors = _spec_from_payload(p)
    rng = np.random.default_rng(p["sim_seed"])
    with _quiet() as caught:
        warnings.simplefilter("always")
        sim = simulate(tuple(p["design"]), mix=p["mix"], seed=p["sim_seed"])
        md = prepare(spec, sim.data, warn=False)
        built0 = build(md, priors)
        theta = _prior_draw(built0, p["prior_seed"], rng)
        rep = generated.predictive(md, theta, rng, condition_latent=False)
        if spec.family == "gaussian":
            md_rep = replace(md, y=np.asarray(rep["skill"][0], dtype=float))
        else:  # cumulative_probit: the replicated ratings, 1-5, as codes 0-4
            md_rep = replace(md, y=np.asarray(rep["ratings"][0], dtype=np.int64) - 1)
        built = build(md_rep, priors)
        post, stats, info = fit_compiled(
            built, draws=p["draws"], tune=p["tune"], chains=p["chains"],
            random_seed=p["fit_seed"], target_accept=spec.target_accept, reuse=p["reuse"],
        )
    names = {(var, tuple(sorted(sel.items()))): name for name, (var, sel) in built.coefs.items()}
    dims = {k: tuple(v) for k, v in built.model.named_vars_to_dims.items() if v}
    skip_dims = _group_dims(built)
    not_parameters = _outcome_dependent(built)
    n_total = post.sizes["chain"] * post.sizes["draw"]
    idx = np.unique(np.linspace(0, n_total - 1, p["thin_to"]).round().astype(int))
    ranks, fixed = {}, []
    used = []
    for var in post.data_vars:
        var = str(var)
        if (var.endswith("_signed") or var not in theta or var in not_parameters
                or set(dims.get(var, ())) & skip_dims):
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
            ranks[label] = int((arr[:, k] < truth[k]).sum())
            if key in names:
                fixed.append(label)
        used.append((var, {}))
    diag = _diagnostics(post, stats, used) if used else {}
    return {"ranks": ranks, "fixed_effects": fixed, "n_draws_ranked": int(len(idx)),
            "n_rows": int(md.n_rows), **diag, **info,
            "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5]}


@lru_cache(maxsize=32)
def _null_tails(n: int, n_values: int, n_null: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n_values, 1.0 / n_values), size=n_null)
    return _min_tail(np.cumsum(counts, axis=1)[:, :-1], n, n_values)


def _min_tail(cum: np.ndarray, n: int, n_values: int) -> np.ndarray:
    """Smallest binomial tail probability of the rank ECDF over the evaluation points."""
    from scipy.special import bdtr, bdtrc

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
    from scipy import stats

    r = np.asarray(ranks, dtype=int)
    n = len(r)
    n_values = _whole("n_values", n_values, minimum=2)
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


def calibrate(
    model: Any = "skill",
    sims: int = 100,
    *,
    priors: Any = "default",
    authorities: int = 5,
    units: int = 4,
    workers: int = 2,
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
    model : str, Path or ModelSpec, default "skill"
        ``skill`` or ``domains`` (or a spec of those families). The ``pyramid`` path model is
        not supported: its prior predictive would have to replicate the discussion and
        clinician values too.
    sims : int, default 100
    priors : str, Path or PriorSet, default "default"
    authorities, units, workers, observations : int, default 5, 4, 2, 2
        Design of each simulated data set (two observations a worker so that the worker level
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
    random_seed, out, jobs, scheduler, dask_workers, progressbar :
        As in :func:`design`; ``out`` gets ``manifest.json``, ``results.jsonl``,
        ``calibration.csv``, ``ranks.csv`` and ``ranks.png``.

    Returns
    -------
    pandas.DataFrame
        One row per parameter (see :func:`summarise_calibration`); ``attrs`` holds ``ranks``
        (a long table), ``out``, ``report`` and ``failed``.

    Examples
    --------
    A tiny run in this process (a real check wants ``sims=100`` or more):

    >>> import pyramid as pyr
    >>> table = pyr.calibrate("skill", sims=2, authorities=3, units=2, workers=2,
    ...                       observations=2, draws=100, tune=100, thin_to=49,
    ...                       random_seed=1, jobs=0, progressbar=False)
    >>> table.loc[table["fixed_effect"], "parameter"].tolist()
    ['clinician', 'discussion', 'intercept', 'training[mla]', 'training[other]', 'training[programme]']
    >>> table["n_sims"].unique().tolist()
    [2]
    """
    from pyramid.data.simulate import Design, simulate
    from pyramid.specs import load_priors, load_spec

    spec = load_spec(model)
    prior_set = load_priors(priors)
    if spec.family not in ("gaussian", "cumulative_probit"):
        raise InputError(
            f"calibrate supports models of the gaussian and cumulative_probit families "
            f"(skill, domains); {spec.name!r} is a {spec.family} model, whose prior predictive "
            "would also have to replicate the discussion and clinician values"
        )
    sims = _whole("sims", sims)
    sampling = _sampling_args(draws, tune, chains)
    thin_to = _whole("thin_to", thin_to)
    if thin_to > sampling["draws"] * sampling["chains"]:
        raise InputError(f"thin_to ({thin_to}) must not exceed chains x draws "
                         f"({sampling['chains'] * sampling['draws']})")
    if test not in ("ecdf", "chi2"):
        raise InputError(f"test must be 'ecdf' or 'chi2', got {test!r}")
    alpha = check_prob("alpha", alpha)
    dims = {"authorities": authorities, "units": units, "workers": workers,
            "observations": observations}
    Design(**dims)
    mx = {"discussion_observed": 1.0, **dict(mix or {})}
    simulate((1, 1, 1, 1), mix=mx, seed=0)  # checks the mix
    if bins is not None and ((thin_to + 1) % _whole("bins", bins, minimum=2)):
        raise InputError(f"bins must divide thin_to + 1 = {thin_to + 1}; got {bins}")

    folder = _Folder(out)
    seed = _resolve_seed(random_seed, folder.path if folder.kept else None)
    common = {**_spec_payload(spec, prior_set), **sampling, "mix": _jsonable(mx),
              "design": [dims[k] for k in DESIGN_DIMS], "thin_to": thin_to, "reuse": True}
    identity = {
        "kind": "calibrate", "sims": sims, "random_seed": seed, "design": common["design"],
        "model": spec.name, "model_sha": _identity_hash(spec.text), "priors": prior_set.name,
        "priors_sha": _identity_hash(json.dumps(common["priors"], sort_keys=True)),
        "mix": common["mix"], **sampling, "thin_to": thin_to,
    }
    tasks = [Task(f"s{i:05d}", {**common, "sim_seed": _seed_for(seed, i),
                                "prior_seed": _seed_for(seed, i, 2),
                                "fit_seed": _seed_for(seed, i, 1)})
             for i in range(sims)]
    try:
        with RunStore(folder.path, identity,
                      {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) as store:
            report = run_tasks(_sbc_fit, tasks, store, jobs=jobs, scheduler=scheduler,
                               dask_workers=dask_workers, progressbar=progressbar,
                               description="calibration fits")
            records = store.records()
        failed = [f"{r['key']}: {r.get('error', '')}" for r in records if r.get("status") != "ok"]
        if not any(r.get("status") == "ok" for r in records):
            raise PyramidError(f"every one of the {len(records)} fits failed; the first: "
                               f"{failed[0] if failed else 'no fit ran'}")
        table, ranks = summarise_calibration(records, test=test, alpha=alpha, bins=bins,
                                             seed=seed)
        if folder.kept:
            table.to_csv(folder.path / "calibration.csv", index=False)
            ranks.to_csv(folder.path / "ranks.csv", index=False)
            fig = plot_ranks(ranks, table)
            fig.savefig(folder.path / "ranks.png", dpi=110, bbox_inches="tight")
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


def plot_ranks(ranks: pd.DataFrame, table: pd.DataFrame | None = None, *, bins: int | None = None):
    """SBC rank histograms, one panel per parameter, with the 99 % band of a uniform count.

    Parameters
    ----------
    ranks : pandas.DataFrame
        The long table of :func:`summarise_calibration` (``parameter``, ``rank``,
        ``n_ranks``).
    table : pandas.DataFrame, optional
        Its summary, to print each parameter's p-value in the panel title.
    bins : int, optional
        Histogram bins (default as the chi-square test: up to 20, dividing ``n_ranks + 1``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> r = pd.DataFrame({"parameter": "clinician", "rank": np.arange(100), "n_ranks": 99})
    >>> len(plot_ranks(r).axes)
    1
    """
    from matplotlib.figure import Figure
    from scipy import stats

    if ranks.empty:
        raise InputError("nothing to plot: no ranks")
    params = list(dict.fromkeys(table["parameter"])) if table is not None and len(table) else \
        list(dict.fromkeys(ranks["parameter"]))
    ncol = min(4, len(params))
    nrow = math.ceil(len(params) / ncol)
    fig = Figure(figsize=(3.2 * ncol, 2.4 * nrow))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    pvals = dict(zip(table["parameter"], table["p_value"], strict=True)) if table is not None \
        and len(table) else {}
    for ax, name in zip(axes, params, strict=False):
        sub = ranks[ranks["parameter"] == name]
        n_values = int(sub["n_ranks"].max()) + 1
        n = len(sub)
        b = bins
        if b is None:
            fit = [k for k in range(min(20, n_values), 1, -1) if n_values % k == 0 and n / k >= 5]
            b = fit[0] if fit else min(10, n_values)
        counts = np.bincount(sub["rank"].to_numpy() * b // n_values, minlength=b)
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 1.0 / b)
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(n / b, color="0.5", lw=0.8, zorder=1)
        ax.bar(np.arange(b), counts, width=0.9, color="#4C72B0", zorder=2)
        title = name if name not in pvals else f"{name}  (p = {pvals[name]:.2f})"
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
    for ax in axes[len(params):]:
        ax.set_visible(False)
    fig.suptitle("SBC rank histograms (grey: 99 % band of each bin's count under uniformity)",
                 fontsize=10)
    fig.tight_layout()
    return fig

