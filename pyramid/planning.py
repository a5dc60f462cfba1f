"""Design analysis: assurance, interval width, coverage and bias of a planned study, by many
simulate-and-fit runs (DESIGN.md section 8).

For a planned design (authorities x units x workers per unit x observations) and planned effects,
:func:`design` simulates data sets from the shared generative model (:func:`pyramid.simulate`),
fits each, and reports per effect the **assurance** (the share of fits meeting a criterion:
the probability that the study will show the effect), the mean interval width, the
**coverage** of the true value by the interval, and the bias, each with its Monte Carlo
standard error. A sweep over a design dimension gives an assurance curve.

Fits run through :mod:`pyramid.executor` (local worker processes or Dask, with an
append-only results store and resume) on the fast path of
:func:`pyramid.models.sampling.fit_compiled`: the model is compiled once per worker and model
structure and each new data set is swapped in; no ``FitResult`` post-processing is done: each
fit keeps only the summaries the tables need. Simulation-based calibration, the other
many-fit workflow, is :mod:`pyramid.calibration`.

What the true value of an effect is (for coverage and bias) is stated in each table: the
``skill`` and ``pyramid`` models' coefficients are on the skill-point scale of the simulator
(``truth["clinician"]``), the ``domains`` model's on the latent probit scale
(``truth["latent:clinician"]`` = the skill-point effect / ``sigma_domain``); see
docs/architecture.md.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pyramid import defaults
from pyramid.checks import check_prob, derived_seed, positive_int
from pyramid.data.simulate import (
    EFFECT_NAMES,
    LAYOUT_DIMS,
    Layout,
    default_group_sds,
    simulate,
)
from pyramid.diagnostics import THRESHOLDS
from pyramid.errors import InputError
from pyramid.executor import Task
from pyramid.models.coding import prepare
from pyramid.models.sampling import fit_compiled, model_layout, model_target
from pyramid.plots.planning import plot_assurance
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

__all__ = [
    "design",
    "summarise_design",
    "fits_table",
    "sd_prior_medians",
    "design_defaults",
    "CRITERIA",
    "REFERENCE_DESIGN",
]


#: Success criteria of the assurance (see :func:`design`).
CRITERIA: tuple[str, ...] = ("direction", "rope", "width")




#: The reference design of the issue (the report's five authorities, four units each).
REFERENCE_DESIGN = (5, 4, 4, 1)


_NOT_EFFECTS = ("intercept",)


# --------------------------------------------------------------------------------------------
# defaults of the simulation
# --------------------------------------------------------------------------------------------
def _prior_median(prior) -> float:
    """Median of a positive prior (scipy; PyMC names mapped to scipy's parametrisation)."""
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
    p = load_priors(priors)
    return {f"sd_{g}": _prior_median(p.get("sd", group=g)) for g in ("authority", "unit", "worker")}


def design_defaults(study: Any = None) -> dict[str, Any]:
    """What :func:`design` simulates with when not told otherwise.

    For a study other than rsw2017 (``study=``): the group SDs are the same medians of the
    ``default`` prior set put on the study's scale (:func:`pyramid.specs.for_scale`), with the
    study simulator's ``sd_observation`` and ``sigma_domain``, and its default mix
    (:func:`pyramid.data.simulate_study.study_default_mix`).

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
    from pyramid.study import load_study

    the_study = load_study(study)
    if not the_study.is_default():
        from pyramid.data.simulate_study import study_default_group_sds

        sds = study_default_group_sds(the_study)
        sds.update(sd_prior_medians(load_priors("default", study=the_study)))
        return {"group_sds": sds, "mix": {}}
    sds = default_group_sds()
    sds.update(sd_prior_medians("default"))
    return {"group_sds": sds, "mix": {"discussion_observed": 1.0}}


# --------------------------------------------------------------------------------------------
# one fit (runs in the workers)
# --------------------------------------------------------------------------------------------
def _design_fit(p: dict) -> dict:
    """One design-analysis fit: simulate, fit, summarise the target effects."""
    spec, priors = spec_from_payload(p)
    with quiet() as caught:
        warnings.simplefilter("always")
        if spec.formula is not None:  # the formula's own model with the planned coefficients
            from pyramid.models.simulate_formula import simulate_formula

            sim = simulate_formula(spec.formula.text, tuple(p["design"]), p["effects"],
                                   study=spec.study, family=spec.family,
                                   group_sds=p["group_sds"], mix=p["mix"] or None,
                                   seed=p["sim_seed"])
        elif spec.study is not None:
            from pyramid.data.simulate_study import simulate_study

            sim = simulate_study(spec.study, tuple(p["design"]), effects=p["effects"],
                                 group_sds=p["group_sds"], mix=p["mix"], seed=p["sim_seed"])
        else:
            sim = simulate(tuple(p["design"]), effects=p["effects"], group_sds=p["group_sds"],
                           mix=p["mix"], seed=p["sim_seed"], preset=p["preset"])
        md = prepare(spec, sim.data, warn=False)
        layout = model_layout(md, priors)  # the kernels, or a formula's PyMC graph
        post, stats, info = fit_compiled(
            model_target(layout), draws=p["draws"], tune=p["tune"], chains=p["chains"],
            random_seed=p["fit_seed"], target_accept=spec.target_accept, reuse=p["reuse"],
        )
    built = layout  # scale and coefs, as the PyMC model's
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
    diag = fit_summary(post, stats, used) if used else {}
    return {
        "point": p["point"], "design": list(p["design"]), "scale": built.scale,
        "n_rows": int(md.n_rows), "effects": effects, **diag, **info,
        "notes": list(md.notes),
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5],
    }


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
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
        raise InputError(f"sweep must name one design dimension ({', '.join(LAYOUT_DIMS)}) and "
                         f"its values, e.g. {{'units': [2, 4, 8]}}; got {sweep!r}")
    ((name, values),) = sweep.items()
    if name not in LAYOUT_DIMS:
        raise InputError(f"sweep dimension must be one of {', '.join(LAYOUT_DIMS)}; got {name!r}")
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise InputError(f"sweep values of {name} must be a non-empty list of whole numbers, "
                         f"got {values!r}")
    vals = [positive_int(f"sweep value of {name}", v) for v in values]
    if len(set(vals)) != len(vals):
        raise InputError(f"sweep values of {name} must differ, got {vals}")
    return name, vals


# --------------------------------------------------------------------------------------------
# design analysis
# --------------------------------------------------------------------------------------------
def design(
    authorities: int = REFERENCE_DESIGN[0],
    units: int = REFERENCE_DESIGN[1],
    workers_per_unit: int = REFERENCE_DESIGN[2],
    observations: int = REFERENCE_DESIGN[3],
    *,
    effects: Mapping[str, Any] | None = None,
    preset: str = "report",
    group_sds: Mapping[str, float] | None = None,
    mix: Mapping[str, Any] | None = None,
    sims: int = 100,
    sweep: Mapping[str, Sequence[int]] | str | None = None,
    model: Any = defaults.PLANNING_MODEL,
    priors: Any = "default",
    criterion: str = "direction",
    level: float = 0.95,
    rope: float = 0.1,
    width: float | None = None,
    ci_prob: float | None = None,
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
    retry_failed: bool = False,
    study: Any = None,
    formula: str | None = None,
    family: str | None = None,
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
    authorities, units, workers_per_unit, observations : int
        The planned design: authorities, units per authority, social workers per unit,
        observations per worker (default the reference design 5 x 4 x 4 x 1). Processes are
        ``jobs`` and ``dask_workers`` below.
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
        The analysis model (default :data:`pyramid.defaults.PLANNING_MODEL`, ``skill``: a
        design analysis fits it hundreds of times; its effects are in skill points like the
        ``pyramid`` model's) and prior set (default ``default``).
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
    ci_prob : float, optional
        Probability of the equal-tailed interval whose width and coverage are reported;
        ``None``: the default, :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).
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
    retry_failed : bool, default False
        Fit again the simulations an earlier run into ``out`` recorded as failed. Fits that
        failed for a reason outside the model (an OS error: a full disk, a compile cache that
        could not be written; a worker that died) are fitted again without it.
    study : str, path or Study, optional
        The planned study (default ``rsw2017``). With another study the data sets are
        simulated in its terms (:func:`pyramid.data.simulate_study.simulate_study`):
        ``effects`` name its factors' coefficients (``practice_model[systemic]``,
        ``caseload`` per its ``scale`` units, any spelling of a level), every effect not
        given is 0 (``preset`` does not apply), ``mix`` says how its factors are drawn, the
        group SDs are on its scale, and ``model`` (``skill``, ``domains``) takes its
        ``[models] terms``.
    formula, family : str, optional
        A brms-style formula in place of ``model`` (:mod:`pyramid.formula`): each data set is
        drawn from the formula's own model (:func:`pyramid.simulate_formula`) with
        ``effects`` naming its coefficients as a fit does (``wave:model[follow_up,systemic]``;
        on the probit scale for a cumulative probit), ``group_sds`` its groups' SDs
        (``sd_worker``, ``sd_worker[wave[follow_up]]``) over :func:`design_defaults`', and
        ``mix`` how the study's factors are drawn.

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
    from pyramid.study import load_study

    the_study = load_study(study)
    spec = model_spec(model, formula, family, the_study, default=defaults.PLANNING_MODEL)
    prior_set = load_priors(priors, study=the_study)
    sims = positive_int("sims", sims)
    sampling = sampling_args(draws, tune, chains)
    level, ci_prob, rope = _check_criterion(criterion, level, ci_prob, rope, width)
    swept = _parse_sweep(sweep)
    points = _design_points((authorities, units, workers_per_unit, observations), swept)
    if spec.formula is not None:
        eff, sds, mx, truth = _formula_truth(spec, effects, group_sds, mix, points[0])
    else:
        eff, sds, mx, truth = _planned_truth(effects, group_sds, mix, preset, the_study)
    targets = _check_targets(targets, truth)

    folder = OutputFolder(out)
    seed = run_seed(random_seed, folder.path if folder.kept else None)
    common = {**spec_payload(spec, prior_set), **sampling, "effects": eff, "preset": preset,
              "group_sds": jsonable(sds), "mix": jsonable(mx), "ci_prob": ci_prob,
              "rope": rope, "reuse": bool(reuse)}
    identity = {
        "kind": "design", "points": points, "sims": sims, "random_seed": seed,
        "model": spec.name, "model_sha": identity_hash(spec.text), "priors": prior_set.name,
        **({} if the_study.is_default() else {"study": the_study.name,
                                               "study_sha": identity_hash(the_study.text)}),
        "priors_sha": identity_hash(json.dumps(common["priors"], sort_keys=True)),
        "truth": jsonable(truth), "group_sds": common["group_sds"], "mix": common["mix"],
        **sampling, "ci_prob": ci_prob, "rope": rope,
    }
    info = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "effects_given": eff,
            "preset": preset, "sweep": swept[0] if swept else None}
    try:
        records, report, failed = run_fits(
            _design_fit, _design_tasks(points, sims, seed, common), folder, identity, info,
            jobs=jobs, scheduler=scheduler, dask_workers=dask_workers, progressbar=progressbar,
            description="design fits", retry_failed=retry_failed)
        table = summarise_design(records, points=points, sweep=swept[0] if swept else None,
                                 criterion=criterion, level=level, width=width,
                                 targets=targets, ci_prob=ci_prob)
        if folder.kept:
            _write_outputs(folder.path, table, records)
        table.attrs.update({"out": str(folder.path) if folder.kept else None,
                            "report": report.__dict__, "failed": failed, "random_seed": seed})
        return table
    finally:
        folder.cleanup()


def _write_outputs(path: Path, table: pd.DataFrame, records: list[dict]) -> None:
    """``summary.csv``, ``fits.csv`` and ``assurance.png`` in the run's folder, each written
    whole or not at all (spreadsheet-safe CSV)."""
    import matplotlib.pyplot as plt

    from pyramid.output import save_figure, write_csv

    write_csv(table, path / "summary.csv", "design summary")
    write_csv(fits_table(records), path / "fits.csv", "table of fits")
    fig = plot_assurance(table)
    try:
        save_figure(fig, path / "assurance.png", "assurance figure", dpi=120,
                    bbox_inches="tight")
    finally:
        plt.close(fig)


def _check_criterion(criterion: Any, level: Any, ci_prob: Any, rope: Any,
                     width: Any) -> tuple[float, float, float]:
    """Check the success criterion's arguments; ``(level, ci_prob, rope)`` as floats."""
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    level = check_prob("level", level)
    ci_prob = defaults.ci_prob(ci_prob)
    if isinstance(rope, bool) or not isinstance(rope, int | float) or not rope >= 0:
        raise InputError(f"rope must be a number >= 0, got {rope!r}")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int | float)
                              or not width > 0):
        raise InputError(f"width must be a number > 0, got {width!r}")
    if criterion == "width" and width is None:
        raise InputError("criterion 'width' needs a target width (width=..., --width W)")
    return level, ci_prob, float(rope)


def _design_points(sizes: Sequence[int], swept: tuple[str, list[int]] | None) -> list[dict]:
    """The design points: the layout, or one per value of the swept dimension (each checked)."""
    base = dict(zip(LAYOUT_DIMS, sizes, strict=True))
    points: list[dict] = []
    for value in (swept[1] if swept else [None]):
        d = dict(base)
        if swept:
            d[swept[0]] = value
        Layout(**d)  # checks each size
        points.append(d)
    return points


def _planned_truth(effects: Any, group_sds: Any, mix: Any, preset: str, the_study: Any
                   ) -> tuple[dict, dict, dict, dict]:
    """The planned effects, group SDs and mix over :func:`design_defaults`, and the truth
    they give (checked and resolved by a tiny simulation in the study's terms)."""
    planned = design_defaults(the_study)
    sds = dict(planned["group_sds"])
    sds.update(dict(group_sds or {}))
    mx = dict(planned["mix"])
    mx.update(dict(mix or {}))
    eff = jsonable(dict(effects or {}))
    # a tiny simulation checks every effect, SD and mix name and value, and resolves them
    if the_study.is_default():
        probe = simulate((1, 1, 1, 1), effects=eff, group_sds=sds, mix=mx, seed=0,
                         preset=preset)
    else:
        from pyramid.data.simulate_study import simulate_study

        probe = simulate_study(the_study, (1, 1, 1, 1), effects=eff, group_sds=sds, mix=mx,
                               seed=0)
    truth = {k: v for k, v in probe.truth.items() if not isinstance(v, pd.Series)}
    return eff, sds, mx, truth


def _formula_truth(spec: Any, effects: Any, group_sds: Any, mix: Any, point: dict
                   ) -> tuple[dict, dict, dict, dict]:
    """The planned coefficients of a formula's model (its own names, e.g.
    ``wave:model[follow_up,systemic]``) and group SDs (the :func:`design_defaults` SDs of the
    groups the formula has, then those given), checked and resolved by simulating the first
    design point (:func:`pyramid.models.simulate_formula.simulate_formula`)."""
    from pyramid.models.simulate_formula import simulate_formula

    defaults = design_defaults(spec.the_study)
    groups = {f"sd_{g.name}" for g in spec.formula.groups}
    sds = {k: v for k, v in defaults["group_sds"].items() if k in groups}
    sds.update(dict(group_sds or {}))
    mx = dict(mix or {})
    eff = jsonable(dict(effects or {}))
    probe = simulate_formula(spec.formula.text, tuple(point[k] for k in LAYOUT_DIMS), eff,
                             study=spec.the_study, family=spec.family, group_sds=sds,
                             mix=mx or None, seed=0)
    truth = {k: v for k, v in probe.truth.items()
             if not isinstance(v, pd.Series | pd.DataFrame) and k not in ("formula", "study")}
    return eff, sds, mx, truth


def _check_targets(targets: Sequence[str] | None, truth: Mapping[str, Any]) -> list[str] | None:
    if targets is None:
        return None
    targets = [str(t) for t in targets]
    known = [k for k in truth if not k.startswith("latent:")]
    bad = [t for t in targets if t not in known]
    if bad:
        raise InputError(f"unknown target effect(s) {', '.join(bad)}; known: {', '.join(known)}")
    return targets


def _design_tasks(points: list[dict], sims: int, seed: int, common: dict) -> list[Task]:
    """One task per design point and simulation, with seeds derived from (seed, point, sim)."""
    tasks = []
    for j, d in enumerate(points):
        for i in range(sims):
            payload = {**common, "point": j, "design": [d[k] for k in LAYOUT_DIMS],
                       "sim_seed": derived_seed(seed, j, i), "fit_seed": derived_seed(seed, j, i, 1)}
            tasks.append(Task(f"p{j}-s{i:05d}", payload))
    return tasks

def fits_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per successful design fit and effect, from the store's records.

    Returns
    -------
    pandas.DataFrame
        Columns ``key``, ``point``, the four design dimensions, ``n_rows`` (rows the model
        used), ``effect``, ``truth``, ``mean``, ``sd``, ``median``, ``lower``, ``upper``,
        ``p_positive``, ``p_above_rope``, ``p_below_rope``, ``divergences``, ``max_r_hat``,
        ``min_ess_bulk``, ``min_ess_tail``, ``verdict`` (what :func:`pyramid.fit` would say
        about the fit's checks on the reported effects), ``compiled`` and ``sample_s``.

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
                **dict(zip(LAYOUT_DIMS, r["design"], strict=True)), "n_rows": r.get("n_rows"),
                "effect": name, **{k: e[k] for k in ("truth", "mean", "sd", "median", "lower",
                                                     "upper", "p_positive", "p_above_rope",
                                                     "p_below_rope")},
                "divergences": r.get("divergences", 0), "max_r_hat": r.get("max_r_hat"),
                "min_ess_bulk": r.get("min_ess_bulk"), "min_ess_tail": r.get("min_ess_tail"),
                "verdict": r.get("verdict", ""), "compiled": r.get("compiled"),
                "sample_s": r.get("sample_s"),
            })
    cols = ["key", "point", *LAYOUT_DIMS, "n_rows", "effect", "truth", "mean", "sd", "median",
            "lower", "upper", "p_positive", "p_above_rope", "p_below_rope", "divergences",
            "max_r_hat", "min_ess_bulk", "min_ess_tail", "verdict", "compiled", "sample_s"]
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
    ci_prob: float | None = None,
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

        - ``sweep``: the swept dimension or empty; ``authorities``, ``units``, ``workers_per_unit``,
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
          ``share_unconverged``: share failing pyramid.fit's checks in a reported effect (R-hat
          > 1.01, bulk or tail ESS < 400: :data:`pyramid.diagnostics.THRESHOLDS`).

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
    ci_prob = defaults.ci_prob(ci_prob)
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
            dims = {k: int(points[j][k]) for k in LAYOUT_DIMS}
        elif len(sub):
            dims = {k: int(sub[k].iloc[0]) for k in LAYOUT_DIMS}
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
            # the checks pyramid.fit runs (diagnostics.THRESHOLDS), over the reported effects
            unconv = ((f["max_r_hat"].astype(float) > THRESHOLDS["r_hat"])
                      | (f["min_ess_bulk"].astype(float) < THRESHOLDS["ess_bulk"])
                      | (f["min_ess_tail"].astype(float) < THRESHOLDS["ess_tail"])).to_numpy()
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
    base = name.split("[")[0] if name.split("[")[0] in ("zeta", "discussion_cutpoints") else name
    return (EFFECT_NAMES.index(base) if base in EFFECT_NAMES else len(EFFECT_NAMES), name)
