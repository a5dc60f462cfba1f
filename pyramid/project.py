"""Compare a new project's coded observations with RSW 2017.

The report recommends a national agreement on measures so that innovation projects can be
compared with each other. :func:`compare_project` does the comparison for a project coded like
the evaluation (pyramid's observation schema): its observations are analysed

(a) ``default_priors``: with the ``default`` (weakly informative) priors;
(b) ``rsw2017_priors``: with the ``rsw2017`` priors, built from the report's Tables 14-15;
(c) ``joint``: in one model in which RSW 2017 enters through its *published summary
    statistics* (the group means, SDs and Ns of Tables 14 and 15 and the Part 4 crosstab) and
    the new project through its raw observations, with a project level, so that the difference
    between the projects is a posterior quantity.

and each pyramid factor's effect (training levels, clinician, discussion) and the mean skill
are set side by side for the two projects (:func:`pyramid.plot_compare_project` draws them).

What the published summaries can and cannot identify is the subject of
:func:`pyramid.data.published.rsw2017_summaries`; the docstring of :func:`compare_project` lists
every assumption.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pyramid import defaults
from pyramid.checks import positive_int, positive_number, resolve_seed
from pyramid.data import published
from pyramid.data.published import (
    EFFECTS,
    QUANTITIES,
    QUANTITY_LABELS,
    ReferenceSummaries,
    rsw2017_summaries,
)
from pyramid.data.schema import DISCUSSION_LEVELS, TRAINING_LEVELS
from pyramid.data.simulate import default_group_sds
from pyramid.data.validate import validate
from pyramid.diagnostics import diagnose, failed_checks
from pyramid.errors import DataWarning, InputError
from pyramid.executor import default_jobs
from pyramid.fit import fit
from pyramid.formatting import interval
from pyramid.models.builder import build
from pyramid.models.coding import prepare
from pyramid.models.layout import build_layout
from pyramid.models.reference import add_joint_reference, build_reference
from pyramid.models.sampling import sample_model
from pyramid.plots.project import ANALYSIS_LABELS, plot_compare_project
from pyramid.results import FitResult
from pyramid.specs import ModelSpec, PriorSet, load_priors, load_spec
from pyramid.study import load_study

__all__ = [
    "ANALYSES",
    "EFFECTS",
    "QUANTITIES",
    "ProjectComparison",
    "compare_project",
    "compact",
    "write_outputs",
]

#: The three analyses of :func:`compare_project`, in table order.
ANALYSES: tuple[str, ...] = ("default_priors", "rsw2017_priors", "joint")


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass
class ProjectComparison:
    """What :func:`compare_project` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        The comparison, one row per analysis and quantity (columns in
        :func:`compare_project`).
    draws : xarray.Dataset
        Posterior draws of ``new``, ``reference`` and ``difference`` with dims
        ``(analysis, quantity, sample)``.
    fits : dict
        Analysis -> :class:`pyramid.FitResult` of the new project (for ``joint``, the joint
        model's posterior, the reference's parameters included as ``rsw2017_*``).
    reference : xarray.Dataset or None
        Posterior of the published summaries alone (used by analyses a and b).
    diagnostics : pandas.DataFrame
        Convergence checks (:func:`pyramid.diagnostics.diagnose`) of every model sampled, with a
        column ``model``.
    notes : list of str
        Assumptions and what was decided, in words.
    settings : dict
        The arguments used.
    """

    table: pd.DataFrame
    draws: xr.Dataset
    fits: dict[str, Any]
    reference: xr.Dataset | None
    diagnostics: pd.DataFrame
    notes: list[str]
    settings: dict[str, Any]

    def __repr__(self) -> str:
        analyses = list(dict.fromkeys(self.table["analysis"]))
        return (f"ProjectComparison(reference={self.settings.get('reference')!r}, "
                f"analyses={analyses}, rows_used={self.settings.get('rows_used')}, "
                f"converged={bool(self.diagnostics['passed'].all())})")

    @property
    def converged(self) -> bool:
        """Whether every model's convergence checks passed."""
        return bool(self.diagnostics["passed"].all())


# --------------------------------------------------------------------------------------------
# draws of the compared quantities
# --------------------------------------------------------------------------------------------
def _flat(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.transpose("chain", "draw", ...).values, dtype=float).reshape(
        da.sizes["chain"] * da.sizes["draw"], *[da.sizes[d] for d in da.dims
                                                 if d not in ("chain", "draw")])


def _coef_draws(result, name: str) -> np.ndarray | None:
    coefs = result.info["coefs"]
    coefs = json.loads(coefs) if isinstance(coefs, str) else coefs
    if name not in coefs:
        return None
    var, sel = coefs[name]
    da = result.idata["posterior"][var]
    da = da.sel(sel) if sel else da
    return _flat(da)


def _failed_checks(diagnostics: pd.DataFrame, analysis: str) -> str:
    """The convergence checks an analysis failed, in words: its own model's, then (for (a) and
    (b)) those of the RSW 2017 model they share."""
    own = failed_checks(diagnostics[diagnostics["model"] == analysis])
    shared = [] if analysis == "joint" else failed_checks(
        diagnostics[diagnostics["model"] == "reference"])
    said = own + [f"{c} in the RSW 2017 model" for c in shared]
    return "convergence checks failed: " + "; ".join(said)


def _new_draws(result, mapping: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Draws of each compared quantity in the new project from a fitted result.

    For a study other than rsw2017, ``mapping`` (RSW 2017 quantity -> the new project's
    coefficient) says which of its coefficients stands for each compared effect, and every
    draw is put on RSW 2017's 1-5 scale (:func:`_to_rsw_scale`); the new project's other
    coefficients come back under their own names (``own:<name>``).
    """
    study = result.spec.the_study
    out: dict[str, Any] = {}
    if study.is_default():
        for name in EFFECTS:
            d = _coef_draws(result, name)
            out[name] = d if d is not None else None
        cols = [c for c in ("training", "clinician", "discussion", "csw", "group", "unit")
                if c in result.data.columns]
        e = result.expected_skill(result.data[cols])
        out["mean_skill"] = _flat(e.mean("row"))
        return out
    k, lo = _to_rsw_scale(study)
    mapping = dict(mapping or {})
    for name in EFFECTS:
        d = _coef_draws(result, mapping[name]) if name in mapping else None
        out[name] = None if d is None else d * k
    cols = [c for c in study.factors if c in result.data.columns]
    e = result.expected_skill(result.data[cols])
    out["mean_skill"] = 1.0 + (_flat(e.mean("row")) - lo) * k
    coefs = result.info["coefs"]
    coefs = json.loads(coefs) if isinstance(coefs, str) else coefs
    for name in coefs:
        if name != "intercept" and name not in mapping.values():
            out[f"own:{name}"] = _coef_draws(result, name) * k
    return out


def _to_rsw_scale(study) -> tuple[float, float]:
    """``(k, min)``: a score ``x`` of the study's ``min``-``max`` scale is ``1 + (x - min) k``
    on RSW 2017's 1-5 scale, and an effect ``b`` is ``b k``, ``k = 4 / (max - min)``."""
    return 4.0 / (study.scale_max - study.scale_min), float(study.scale_min)


def parse_mapping(mapping: Any, study: Any) -> dict[str, str]:
    """Which coefficient of a study's model stands for each of RSW 2017's compared effects.

    Parameters
    ----------
    mapping : mapping or sequence of str
        New coefficient -> RSW 2017 effect, e.g. ``{"practice_model[systemic]":
        "training[programme]", "reflective_supervision": "clinician"}``, or strings
        ``"NEW=RSW"`` (the CLI's ``--map``). A level may be written in any spelling the study
        accepts; ``training=programme`` is read as ``training[programme]``.
    study : Study

    Returns
    -------
    dict
        RSW 2017 effect (:data:`pyramid.data.published.EFFECTS`) -> new coefficient name.

    Raises
    ------
    InputError
        A name that is not a coefficient of the study or not a compared effect of RSW 2017,
        or one mapped twice.

    Examples
    --------
    >>> from pyramid.data.example import future_project
    >>> from pyramid.study import draft_study
    >>> s = draft_study(future_project(), name="future").study()
    >>> parse_mapping(["practice_model[Signs of Safety]=training=programme"], s)
    {'training[programme]': 'practice_model[signs_of_safety]'}
    >>> parse_mapping({"caseload": "clinician"}, s)
    {'clinician': 'caseload'}
    """
    from pyramid.study import normalise

    if mapping is None:
        return {}
    if isinstance(mapping, str):
        mapping = [mapping]
    if isinstance(mapping, dict):
        pairs = list(mapping.items())
    else:
        pairs = []
        for item in mapping:
            if not isinstance(item, str) or "=" not in item:
                raise InputError(f"mapping: {item!r} must be NEW=RSW, e.g. "
                                 "'practice_model[systemic]=training[programme]'")
            new, _, old = item.partition("=")
            pairs.append((new.strip(), old.strip()))
    known: list[str] = []
    for f in study.factors.values():
        if f.kind in ("categorical", "ordered"):
            known += [f"{f.name}[{lv}]" for lv in f.ordered_levels[1:]]
            if f.kind == "ordered":
                known.append(f.name)  # mo(): the average step
        else:
            known.append(f.name)
    known += list(study.derived)

    def new_name(text: str) -> str:
        t = text.strip()
        if "=" in t and "[" not in t:
            f, _, lv = t.partition("=")
            t = f"{f.strip()}[{lv.strip()}]"
        if "[" in t and t.endswith("]"):
            f, _, lv = t[:-1].partition("[")
            fac = study.factors.get(f.strip())
            if fac is not None:
                level = fac.spellings.get(normalise(lv))
                if level is not None:
                    t = f"{fac.name}[{level}]"
        if t not in known:
            raise InputError(f"mapping: {text!r} is not a coefficient of study {study.name!r}; "
                             f"its coefficients are {', '.join(known)}")
        return t

    out: dict[str, str] = {}
    for new, old in pairs:
        o = str(old).replace(" ", "")
        if "=" in o:
            f, _, lv = o.partition("=")
            o = f"{f}[{lv}]"
        if o not in EFFECTS:
            raise InputError(f"mapping: {old!r} is not one of RSW 2017's compared effects "
                             f"({', '.join(EFFECTS)})")
        if o in out:
            raise InputError(f"mapping: {o!r} is mapped twice")
        n = new_name(str(new))
        if n in out.values():
            raise InputError(f"mapping: {n!r} stands for two of RSW 2017's effects")
        out[o] = n
    return out


def _informed_for_study(informed_name: Any, study: Any, mapping: dict[str, str]):
    """The informed (rsw2017) prior set for a study's model: the set on the study's scale,
    and each mapped coefficient with the prior of the RSW 2017 effect it stands for (a
    skill-point prior, so its location and scale times (max - min) / 4)."""
    from types import MappingProxyType

    from pyramid.specs import PriorDist, PriorSet

    rsw = load_priors(informed_name)  # RSW 2017's own coefficient names
    base = load_priors(informed_name, study=study)  # on the study's scale, RSW's left out
    k = (study.scale_max - study.scale_min) / 4.0
    coef = dict(base.coef)
    for old, new in mapping.items():
        prior = rsw.coef.get(old)
        if prior is None:
            continue
        params = {p: (v * k if p in ("mu", "sigma", "alpha", "beta") and prior.dist in (
            "Normal", "StudentT", "Cauchy") else v) for p, v in prior.params.items()}
        coef[new] = PriorDist(prior.dist, params)
    return PriorSet(name=base.name, description=(
        f"{base.description} (RSW 2017's informed priors on the new project's "
        f"{', '.join(f'{n} (as {o})' for o, n in mapping.items()) or 'no'} coefficients)"),
        classes=base.classes, coef=MappingProxyType(coef), text=base.text, source=base.source)


def _reference_draws(post: xr.Dataset | xr.DataTree, prefix: str = "rsw2017_") -> dict:
    post = post.to_dataset() if isinstance(post, xr.DataTree) else post
    train = _flat(post[f"{prefix}training"])
    out = {f"training[{lv}]": train[:, j] for j, lv in enumerate(TRAINING_LEVELS[1:])}
    out["clinician"] = _flat(post[f"{prefix}clinician"])
    out["discussion"] = _flat(post[f"{prefix}discussion"])
    out["mean_skill"] = _flat(post[f"{prefix}mean_skill"])
    return out


def _n_new(data: pd.DataFrame, quantity: str, study: Any = None) -> int:
    """The new project's rows behind a quantity (a coefficient of its study's model when the
    study is not rsw2017): rows at that level, rows with 1, or every row with a value."""
    if quantity == "mean_skill":
        return len(data)
    if study is not None and not study.is_default():
        name, _, level = quantity.partition("[")
        if name not in data.columns:
            return 0
        col = data[name]
        if level:
            return int((col.astype(object) == level.rstrip("]")).sum())
        f = study.factors.get(name)
        if f is not None and f.kind == "binary":
            return int((pd.to_numeric(col, errors="coerce") == 1).sum())
        return int(col.notna().sum())
    if quantity.startswith("training["):
        return int((data["training"].astype(object) == quantity[9:-1]).sum())
    if quantity == "clinician":
        return int((pd.to_numeric(data["clinician"], errors="coerce") == 1).sum())
    disc = data["discussion"].astype(object)
    return int((disc.notna() & (disc != DISCUSSION_LEVELS[0])).sum())


# --------------------------------------------------------------------------------------------
# compare_project
# --------------------------------------------------------------------------------------------
def compare_project(
    new_data: pd.DataFrame,
    reference: str | ReferenceSummaries = "rsw2017",
    *,
    model: str | None = None,
    priors: str = "default",
    informed_priors: str = "rsw2017",
    analyses: tuple[str, ...] | list[str] | str = ANALYSES,
    concentration: float | None = 10.0,
    cluster_sd: float | str | None = "default",
    project_sd: float = 0.5,
    ci_prob: float | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    random_seed: int | None = None,
    target_accept: float = 0.9,
    progressbar: bool = False,
    verbose: bool = False,
    study: Any = None,
    mapping: Any = None,
) -> ProjectComparison:
    """Compare a new project's coded observations with RSW 2017, factor by factor.

    The new project's observations (validated with :func:`pyramid.validate`) are analysed by
    the hierarchical ``model`` (authority, unit and worker levels; by default ``pyramid``, the
    default model of :mod:`pyramid.defaults`):

    (a) ``default_priors``: with the ``priors`` set (``default``); RSW 2017's effects come from
        the model of its published summaries alone (see below), with the same priors;
    (b) ``rsw2017_priors``: with the ``informed_priors`` set (``rsw2017``: the report's
        differences as prior means); RSW 2017's side as in (a). The new project's estimate is
        then pulled towards RSW 2017 by construction, so its difference from RSW 2017 is
        shrunk towards zero: read (b) as "the new project, given what RSW 2017 found", not as
        a test of a difference;
    (c) ``joint``: one model in which the new project enters through its raw observations and
        RSW 2017 through its published summary statistics, linked by a project level: for each
        effect ``theta_rsw = theta_new - difference``, ``difference ~ Normal(0, sqrt(2)
        project_sd)`` (the discussion term's on its systemic vs non-systemic scale): the
        two-project form of a project level ``theta_p ~ Normal(mu, tau)`` with ``tau =
        project_sd``, set rather than estimated, because two projects cannot estimate a
        between-project SD. The intercepts differ by ``Normal(0, s)`` with ``s`` the
        intercept prior's SD. The difference is a posterior quantity.

    RSW 2017's published summaries (:func:`rsw2017_summaries`) enter as a likelihood of
    sufficient statistics, never as reconstructed observations: each group mean
    ``~ Normal(mu_g, sqrt(sigma_g^2/n + v_g))`` and ``(n-1) s^2 / sigma_g^2 ~ chi2(n-1)``.
    Assumptions, because the report publishes marginal means by one factor at a time and
    ignores the nesting:

    * ``mu_g`` follows the same generative model as the new project's (intercept + training +
      clinician + monotonic discussion); a group's mix on the factors it does not classify is
      taken from the published crosstab (Table 15 groups: clinician and discussion, known
      exactly) or assumed (Table 14 groups: the crosstab's clinician/discussion mix; Table 15
      groups: Table 14's training mix), the assumed mixes varying between groups as a
      Dirichlet with ``concentration`` around the overall mix (``None``: no variation, the
      report's implicit assumption). Smaller ``concentration`` = more doubt about
      confounding = wider RSW 2017 intervals, the training effects most;
    * the 22 workers of Table 15 appear in two breakdowns, each with weight 1/2;
    * the unpublished clustering adds ``cluster_sd^2 (1/k - 1/n)`` to the variance of a mean
      of ``n`` workers spread over ``k = min(n, 5)`` authorities (independently between
      groups: conservative for contrasts of groups that share authorities);
    * Table 15's 22 workers have a mean level of their own (they scored higher than Table
      14's 72 on average, 3.05 against 2.71, so they are not a random subsample): they
      inform the clinician and discussion contrasts, not the level;
    * group SDs are not pooled; Table 10 is not used (it would count the observations again).

    The compared quantities are the skill-point effects of the model (``training[other]``,
    ``training[mla]``, ``training[programme]`` against no systemic training, ``clinician``
    present against absent, ``discussion`` the average step of the monotonic effect, so that
    systemic vs non-systemic is twice it) and ``mean_skill``: for the new project the model's
    expected skill (group effects at zero) averaged over its own rows, for RSW 2017 the
    modelled mean of Table 14's 72 workers. Mean skill depends on a project's mix of training
    and clinicians: it says how good practice was, not why; it is set against the report's
    benchmarks (2 to 2.5 typical, 3.24 the highest seen: :data:`pyramid.data.published.
    BENCHMARKS`).

    Parameters
    ----------
    new_data : pandas.DataFrame
        The new project's observations, raw or canonical (one row per coded observation).
    reference : "rsw2017" or ReferenceSummaries, default "rsw2017"
        The study compared with.
    model : {"pyramid", "skill"}, optional
        Model of the new project (a model on the skill scale). ``None``: the default model,
        :data:`pyramid.defaults.DEFAULT_MODEL` (``pyramid``, which keeps rows whose discussion
        or clinician was not observed; ``skill`` leaves them out).
    priors : str, default "default"
        Prior set of analyses (a) and (c), and of RSW 2017's side in every analysis.
    informed_priors : str, default "rsw2017"
        Prior set of analysis (b).
    analyses : sequence of str or str, default all three
        Any of ``default_priors``, ``rsw2017_priors``, ``joint``.
    concentration : float or None, default 10
        How well each published group's unpublished mix of the other factors is known, in
        workers' worth of information (see above).
    cluster_sd : float, "default" or None, default "default"
        RSW 2017's between-authority SD of skill, which the report does not publish.
        ``"default"``: :func:`pyramid.data.simulate.default_group_sds`'s ``sd_authority``
        (0.10, chosen there so that simulated spreads match Table 10); a number: that value;
        ``None``: unknown, with the prior set's authority SD prior (``default``:
        HalfNormal(0.4)), which widens every RSW 2017 interval and shrinks its effects.
    project_sd : float, default 0.5
        Between-project SD of each effect (analysis c): a difference between two projects is
        a priori ``Normal(0, 0.71)`` skill points, so a gap of a point is possible but not
        expected.
    ci_prob : float, optional
        Probability of the equal-tailed intervals. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).
    draws, tune, chains, cores, random_seed, target_accept, progressbar
        Sampling settings (as :func:`pyramid.fit`); every model gets ``chains x draws`` draws,
        so the reference's and the new project's draws pair up one to one.
    verbose : bool, default False
        Print progress and convergence checks to stderr.
    study : str, path or Study, optional
        The new project's study (default: the one a validated frame records, else
        ``rsw2017``). For a study other than rsw2017 the new project is fitted in its own
        terms (``skill`` with the study's ``[models] terms``), only the effects ``mapping``
        names are compared with RSW 2017's, and everything is put on RSW 2017's 1-5 scale
        first (a score ``x`` of a ``min``-``max`` scale as ``1 + (x - min) 4 / (max - min)``,
        an effect times ``4 / (max - min)``). The new project's other coefficients are
        estimated within it only: rows ``own:<coefficient>`` with no RSW 2017 side.
    mapping : mapping or sequence of str, optional
        Which of the new project's coefficients stands for which of RSW 2017's effects
        (:func:`parse_mapping`), e.g. ``{"practice_model[systemic]": "training[programme]",
        "reflective_supervision": "clinician"}``; an RSW 2017 effect no coefficient stands for
        is RSW 2017's side only. For rsw2017 data the effects are matched by name.

    Returns
    -------
    ProjectComparison
        ``.table`` has one row per analysis and quantity, with columns:

        - ``analysis``: ``default_priors``, ``rsw2017_priors`` or ``joint``;
        - ``quantity``: ``training[other]`` ... ``discussion``, ``mean_skill``; ``label``: it
          in words;
        - ``new_estimate``, ``new_ci_lower``, ``new_ci_upper``: posterior mean and
          ``ci_prob`` interval in the new project;
        - ``reference_estimate``, ``reference_ci_lower``, ``reference_ci_upper``: the same for
          RSW 2017;
        - ``difference_estimate``, ``difference_ci_lower``, ``difference_ci_upper``: new minus
          RSW 2017, draw by draw;
        - ``prob_new_greater``: posterior probability that new > RSW 2017;
        - ``n_new``: the new project's rows behind it (rows at the factor's non-reference
          levels; all rows for mean skill): 0 means the new project's value is its prior;
        - ``n_reference``: RSW 2017's workers behind it (published Ns);
        - ``prob_below_typical``, ``prob_typical``, ``prob_above_typical``,
          ``prob_above_highest`` (mean skill rows, else missing): P(new mean skill < 2),
          P(2 <= it <= 2.5) (the report's typical range), P(> 2.5) and P(> 3.24) (the highest
          mean seen before);
        - ``converged``: every convergence check of the models behind the row passed.

    Raises
    ------
    InputError
        Bad arguments; :class:`~pyramid.errors.ValidationError` for invalid data.

    Examples
    --------
    >>> import pyramid as pyr
    >>> sim = pyr.simulate((6, 4, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    >>> cmp = pyr.compare_project(sim.data, analyses="joint", draws=300, tune=300,
    ...                           random_seed=1)  # doctest: +SKIP
    >>> list(cmp.table["quantity"])  # doctest: +SKIP
    ['training[other]', 'training[mla]', 'training[programme]', 'clinician', 'discussion',
     'mean_skill']
    >>> bool(cmp.table["prob_new_greater"].between(0, 1).all())  # doctest: +SKIP
    True
    """
    t0 = time.perf_counter()
    analyses = _check_analyses(analyses)
    ref = _reference(reference)
    if study is None and isinstance(new_data, pd.DataFrame) and isinstance(new_data.attrs, dict):
        study = new_data.attrs.get("study")
    the_study = load_study(study)
    rsw = the_study.is_default()
    if rsw and mapping:
        raise InputError("mapping is for a study other than rsw2017: rsw2017 data are "
                         "compared effect by effect under the same names")
    mapped = {} if rsw else parse_mapping(mapping, the_study)
    spec = _skill_model(defaults.model(model), the_study)
    prior_set = load_priors(priors, study=the_study)
    ref_priors = prior_set if rsw else load_priors(priors)  # RSW 2017's side: its 1-5 scale
    informed = (load_priors(informed_priors) if rsw
                else _informed_for_study(informed_priors, the_study, mapped))
    concentration = positive_number("concentration", concentration, allow_none=True)
    cluster_sd = _check_cluster_sd(cluster_sd)
    project_sd = positive_number("project_sd", project_sd)
    ci_prob = defaults.ci_prob(ci_prob)
    draws = positive_int("draws", draws)
    tune = positive_int("tune", tune, minimum=0)
    chains = positive_int("chains", chains)
    cores = min(chains, default_jobs()) if cores is None else positive_int("cores", cores)
    if not (isinstance(target_accept, int | float) and 0 < target_accept < 1):
        raise InputError(f"target_accept must be in (0, 1), got {target_accept!r}")
    seed = resolve_seed(random_seed)
    if not isinstance(new_data, pd.DataFrame):
        raise InputError(f"new_data must be a pandas DataFrame, got {type(new_data).__name__}")

    run = _Run(canon=validate(new_data, model=spec, study=the_study), spec=spec, ref=ref,
               sampling=dict(draws=draws, tune=tune, chains=chains, cores=cores,
                             progressbar=progressbar),
               target_accept=target_accept, verbose=verbose, mapping=mapped,
               ref_priors=ref_priors)
    ref_post, ref_ok = None, True
    if "default_priors" in analyses or "rsw2017_priors" in analyses:
        ref_post, ref_ok = run.sample_reference(ref_priors, concentration, cluster_sd, seed + 3)
    per_analysis: dict[str, tuple[dict, dict, bool]] = {}
    for label, pset, s in (("default_priors", prior_set, seed),
                           ("rsw2017_priors", informed, seed + 1)):
        if label in analyses:
            res = run.fit_new(label, pset, s)
            per_analysis[label] = (_new_draws(res, mapped), _reference_draws(ref_post),
                                   res.converged and ref_ok)
    if "joint" in analyses:
        res = run.fit_joint(prior_set, concentration=concentration, cluster_sd=cluster_sd,
                            project_sd=project_sd, seed=seed + 2)
        per_analysis["joint"] = (_new_draws(res, mapped),
                                 _reference_draws(res.idata["posterior"]), res.converged)

    any_fit = next(iter(run.fits.values()))
    data_used = any_fit.data
    table, ds = _tabulate(per_analysis, ref, data_used, ci_prob, mapped, the_study)
    settings = dict(reference=ref.name, model=spec.name, priors=prior_set.name,
                    study=the_study.name, mapping=dict(mapped),
                    informed_priors=informed.name, analyses=list(analyses),
                    concentration=concentration, cluster_sd=cluster_sd,
                    project_sd=project_sd, ci_prob=ci_prob,
                    draws=draws, tune=tune, chains=chains, random_seed=seed,
                    rows_input=int(any_fit.info.get("rows_input", len(data_used))),
                    rows_used=len(data_used), seconds=round(time.perf_counter() - t0, 1))
    table.attrs["ci_prob"] = ci_prob
    diagnostics = pd.concat(run.diagnostics, ignore_index=True)
    return ProjectComparison(table=table, draws=ds, fits=run.fits, reference=ref_post,
                             diagnostics=diagnostics, settings=settings,
                             notes=_notes(ref, spec, any_fit, per_analysis, diagnostics,
                                          mapped))


# --------------------------------------------------------------------------------------------
# stages of compare_project
# --------------------------------------------------------------------------------------------
def _check_analyses(analyses: Any) -> tuple[str, ...]:
    """The analyses asked for, in table order."""
    if isinstance(analyses, str):
        analyses = (analyses,)
    analyses = tuple(analyses)
    bad = [a for a in analyses if a not in ANALYSES]
    if bad or not analyses:
        raise InputError(f"analyses must be one or more of {', '.join(ANALYSES)}; got "
                         f"{list(analyses)!r}")
    return tuple(a for a in ANALYSES if a in analyses)


def _reference(reference: Any) -> ReferenceSummaries:
    if isinstance(reference, ReferenceSummaries):
        return reference
    if reference == "rsw2017":
        return rsw2017_summaries()
    raise InputError(f"reference must be 'rsw2017' (the only published study pyramid "
                     f"holds) or a ReferenceSummaries; got {reference!r}")


def _skill_model(model: Any, study: Any = None) -> ModelSpec:
    """The model's spec: a model of overall skill on the skill scale (the study's)."""
    spec = load_spec(model, study=study)
    if spec.family not in ("gaussian", "path") or spec.outcome != spec.the_study.overall.name:
        raise InputError(
            f"model must be a model of overall skill on the skill scale ('skill' or "
            f"'pyramid'), so that its effects are in skill points like the published means; "
            f"got {spec.name!r} (family {spec.family!r}, outcome {spec.outcome!r})")
    return spec


def _check_cluster_sd(cluster_sd: Any) -> float | None:
    if isinstance(cluster_sd, str) and cluster_sd == "default":
        return default_group_sds()["sd_authority"]
    if cluster_sd is None:
        return None
    ok = isinstance(cluster_sd, int | float) and not isinstance(cluster_sd, bool)
    if not ok or not math.isfinite(cluster_sd) or cluster_sd < 0:
        raise InputError(f"cluster_sd must be a number >= 0, 'default' or None (unknown, "
                         f"with the prior set's authority SD prior); got {cluster_sd!r}")
    return float(cluster_sd)


@dataclass
class _Run:
    """The models of one comparison: each fit and sampled reference, and their checks."""

    canon: pd.DataFrame
    spec: ModelSpec
    ref: ReferenceSummaries
    sampling: dict[str, Any]
    target_accept: float
    verbose: bool
    mapping: dict[str, str] = field(default_factory=dict)  # another study's: RSW -> its own
    ref_priors: PriorSet | None = None  # RSW 2017's side, on its 1-5 scale
    fits: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[pd.DataFrame] = field(default_factory=list)

    def say(self, msg: str) -> None:
        if self.verbose:
            print(msg, file=sys.stderr)

    def sample_reference(self, prior_set: PriorSet, concentration: float | None,
                         cluster_sd: float | None, seed: int) -> tuple[xr.Dataset, bool]:
        """The posterior of the model of the published summaries alone, and whether its
        convergence checks passed."""
        self.say("RSW 2017: sampling the model of its published summaries")
        rmodel = build_reference(self.ref, prior_set, concentration=concentration,
                                 cluster_sd=cluster_sd)
        ref_dt = sample_model(rmodel, seed=seed, target_accept=self.target_accept,
                              **self.sampling)
        rdiag = diagnose(ref_dt)
        self.diagnostics.append(rdiag.assign(model="reference"))
        return ref_dt["posterior"].to_dataset(), bool(rdiag["passed"].all())

    def fit_new(self, label: str, pset: PriorSet, seed: int) -> FitResult:
        """The new project's observations alone, with the prior set ``pset``."""
        self.say(f"{ANALYSIS_LABELS[label]}: fitting {self.spec.name!r} with priors "
                 f"{pset.name!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=DataWarning)
            res = fit(self.canon, model=self.spec, priors=pset, random_seed=seed,
                      validate=False, verbose=self.verbose, target_accept=self.target_accept,
                      **self.sampling)
        self.fits[label] = res
        self.diagnostics.append(res.diagnostics.assign(model=label))
        return res

    def fit_joint(self, prior_set: PriorSet, *, concentration: float | None,
                  cluster_sd: float | None, project_sd: float, seed: int) -> FitResult:
        """The joint model (:func:`_fit_joint`)."""
        res = _fit_joint(self.canon, self.spec, prior_set, self.ref,
                         concentration=concentration, cluster_sd=cluster_sd,
                         project_sd=project_sd, seed=seed, target_accept=self.target_accept,
                         say=self.say, mapping=self.mapping, ref_priors=self.ref_priors,
                         **self.sampling)
        self.fits["joint"] = res
        self.diagnostics.append(res.diagnostics.assign(model="joint"))
        return res


def _notes(ref: ReferenceSummaries, spec: ModelSpec, any_fit: FitResult,
           per_analysis: dict[str, tuple[dict, dict, bool]],
           diagnostics: pd.DataFrame, mapped: dict[str, str] | None = None) -> list[str]:
    """The assumptions, the rows left out, quantities without data and failed checks; for
    another study, the scale, what stands for what and what is the new project's own."""
    notes: list[str] = list(ref.notes)
    data_used = any_fit.data
    study = spec.the_study
    mapped = dict(mapped or {})
    if any_fit.n_dropped:
        notes.append(f"model {spec.name!r} used {len(data_used)} of {any_fit.info['rows_input']} "
                     f"rows of the new project (rows missing {', '.join(any_fit.dropped)} left "
                     "out; the pyramid model keeps them)")
    if not study.is_default():
        k, _ = _to_rsw_scale(study)
        notes.append(
            f"study {study.name!r} is rated {study.scale_min}-{study.scale_max}: its scores and "
            f"effects are put on RSW 2017's 1-5 scale (effects times {k:.3g}) before they are "
            "compared")
        for q in EFFECTS:
            notes.append(f"RSW 2017's {q} is compared with the new project's {mapped[q]}"
                         if q in mapped else
                         f"no coefficient of the new project stands for RSW 2017's {q} (no "
                         "mapping): RSW 2017's side only")
        own = sorted({key[4:] for d, _, _ in per_analysis.values() for key in d
                      if key.startswith("own:")})
        if own:
            notes.append("estimated within the new project only (no RSW 2017 counterpart): "
                         + ", ".join(own))
    for q in EFFECTS:
        if not study.is_default() and q not in mapped:
            continue
        if _n_new(data_used, mapped.get(q, q), study) == 0:
            notes.append(f"the new project has no rows behind {q}: its value there is its prior "
                         "(and, in the joint model, RSW 2017's through the project level)")
    for label, (_, _, ok) in per_analysis.items():
        if not ok:
            notes.append(f"{label}: {_failed_checks(diagnostics, label)}; its numbers may be "
                         "unreliable: rerun with more draws and tuning draws")
    return notes


def _fit_joint(canon: pd.DataFrame, spec, prior_set, ref: ReferenceSummaries, *, concentration,
               cluster_sd, project_sd, seed, target_accept, say, draws, tune, chains, cores,
               progressbar, mapping=None, ref_priors=None):
    """The joint model: the new project's raw observations and RSW 2017's summaries."""
    say(f"(c) joint model: {spec.name!r} on the new project + RSW 2017's published summaries")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DataWarning)
        md = prepare(spec, canon)
    built = build(md, prior_set)
    study = spec.the_study
    add_joint_reference(built, ref, ref_priors or prior_set, concentration=concentration,
                        cluster_sd=cluster_sd, project_sd=project_sd,
                        mapping=None if study.is_default() else dict(mapping or {}),
                        scale=None if study.is_default() else (study.scale_min,
                                                               study.scale_max))
    t = time.perf_counter()
    idata = sample_model(built.model, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                    progressbar=progressbar, target_accept=target_accept,
                    initvals=built.initvals)
    # only the model's quantities in the posterior (no signed SDs or standardised effects),
    # as pyramid.fit keeps them
    devices = [v for v in build_layout(md, prior_set).devices
               if v in idata["posterior"].data_vars]
    idata["posterior"] = xr.DataTree(idata["posterior"].to_dataset().drop_vars(devices))
    diag = diagnose(idata)
    info = {
        "model": spec.name, "priors": prior_set.name, "seed": seed, "sampler": "nutpie",
        "draws": draws, "tune": tune, "chains": chains, "target_accept": target_accept,
        "rows_input": int(md.n_input), "rows_used": int(md.n_rows),
        "groups_kept": [g.name for g in md.groups], "domains": list(md.domains),
        "scale": built.scale, "coefs": json.dumps(built.coefs), "notes": list(md.notes),
        "joint_reference": ref.name, "timings": {"sample_s": time.perf_counter() - t},
        "study": study.name, "centring": md.centring,
    }
    return FitResult(idata=idata, spec=spec, priors=prior_set, data=md.frame,
                     dropped=dict(md.dropped), diagnostics=diag, info=info)


def _tabulate(per_analysis: dict, ref: ReferenceSummaries, data: pd.DataFrame,
              ci_prob: float, mapping: dict[str, str] | None = None,
              study: Any = None) -> tuple[pd.DataFrame, xr.Dataset]:
    lo_q, hi_q = 0.5 - ci_prob / 2, 0.5 + ci_prob / 2
    bench = published.BENCHMARKS
    rows = []
    # the fewest draws of any side (a fit extended until its checks pass has more draws than
    # the reference sampled beside it); a longer side is thinned evenly to that many
    n_samples = min(min(len(d["mean_skill"]), len(r["mean_skill"]))
                    for d, r, _ in per_analysis.values())
    arr = np.full((len(per_analysis), len(QUANTITIES), 3, n_samples), np.nan)

    def summary(x: np.ndarray) -> tuple[float, float, float]:
        return float(x.mean()), float(np.quantile(x, lo_q)), float(np.quantile(x, hi_q))

    for i, (label, (new, refd, ok)) in enumerate(per_analysis.items()):
        for j, q in enumerate(QUANTITIES):
            nd = new.get(q)
            rd = refd[q]
            rec = {"analysis": label, "quantity": q, "label": QUANTITY_LABELS[q]}
            if mapping and q in mapping:
                rec["label"] += f" (new project: {mapping[q]})"
            if nd is None:  # the model has no such coefficient
                nd = np.full(n_samples, np.nan)
            nd, rd = _thinned(nd, n_samples), _thinned(rd, n_samples)
            diff = nd - rd
            arr[i, j] = np.stack([nd, rd, diff])
            for part, x in (("new", nd), ("reference", rd), ("difference", diff)):
                est, lo, hi = summary(x) if np.isfinite(x).all() else (np.nan,) * 3
                rec[f"{part}_estimate"], rec[f"{part}_ci_lower"], rec[f"{part}_ci_upper"] = (
                    est, lo, hi)
            rec["prob_new_greater"] = float((diff > 0).mean()) if np.isfinite(diff).all() else (
                np.nan)
            rec["n_new"] = _n_new_of(data, q, mapping, study)
            rec["n_reference"] = ref.n_for(q)
            if q == "mean_skill":
                rec["prob_below_typical"] = float((nd < bench["typical_low"]).mean())
                rec["prob_typical"] = float(((nd >= bench["typical_low"])
                                             & (nd <= bench["typical_high"])).mean())
                rec["prob_above_typical"] = float((nd > bench["typical_high"]).mean())
                rec["prob_above_highest"] = float((nd > bench["highest_seen"]).mean())
            else:
                for c in ("prob_below_typical", "prob_typical", "prob_above_typical",
                          "prob_above_highest"):
                    rec[c] = np.nan
            rec["converged"] = bool(ok)
            rows.append(rec)
        rows += _own_rows(label, new, n_samples, data, study, ok, summary)
    table = pd.DataFrame(rows)
    ds = xr.Dataset(
        {part: (("analysis", "quantity", "sample"), arr[:, :, k])
         for k, part in enumerate(("new", "reference", "difference"))},
        coords={"analysis": list(per_analysis), "quantity": list(QUANTITIES),
                "sample": np.arange(n_samples)},
    )
    return table, ds


def _n_new_of(data: pd.DataFrame, q: str, mapping: dict[str, str] | None, study: Any) -> int:
    """Rows behind a compared quantity: for another study, of the coefficient mapped to it."""
    if study is None or study.is_default() or q == "mean_skill":
        return _n_new(data, q)
    return _n_new(data, mapping[q], study) if q in (mapping or {}) else 0


def _thinned(x: np.ndarray, n: int) -> np.ndarray:
    """``n`` evenly spaced draws of ``x`` (all of them, in order, when it has ``n``)."""
    x = np.asarray(x)
    if len(x) == n:
        return x
    return x[np.linspace(0, len(x) - 1, n).round().astype(int)]


def _own_rows(label: str, new: dict, n_samples: int, data: pd.DataFrame, study: Any,
              ok: bool, summary) -> list[dict]:
    """Rows of the new project's own coefficients (``own:<name>``), with no RSW 2017 side."""
    rows = []
    for key in [k for k in new if k.startswith("own:")]:
        est, lo, hi = summary(_thinned(new[key], n_samples))
        rows.append({"analysis": label, "quantity": key,
                     "label": f"{key[4:]} (new project only)",
                     "new_estimate": est, "new_ci_lower": lo, "new_ci_upper": hi,
                     "n_new": _n_new(data, key[4:], study), "n_reference": 0,
                     "converged": bool(ok)})
    return rows


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------
def compact(table: pd.DataFrame) -> pd.DataFrame:
    """A short text view of a comparison table (what ``pyramid compare-project`` prints).

    Parameters
    ----------
    table : pandas.DataFrame
        ``ProjectComparison.table``.

    Returns
    -------
    pandas.DataFrame
        Columns ``analysis``, ``quantity``, ``new``, ``rsw2017``, ``difference`` (each
        "mean [lower, upper]"), ``P(new>rsw)``, ``n_new`` and ``benchmarks`` (mean skill
        rows: P(< 2), P(2-2.5), P(> 2.5), P(> 3.24) of the new project).

    Examples
    --------
    >>> from pyramid.plots.project import example_table
    >>> compact(example_table()).columns.tolist()
    ['analysis', 'quantity', 'new', 'rsw2017', 'difference', 'P(new>rsw)', 'n_new', 'benchmarks']
    """
    def cell(r, part):
        return interval(*(r[f"{part}_{k}"] for k in ("estimate", "ci_lower", "ci_upper")))

    rows = []
    for _, r in table.iterrows():
        bench = ""
        if r["quantity"] == "mean_skill" and pd.notna(r.get("prob_above_typical", np.nan)):
            bench = (f"P(<2)={r.get('prob_below_typical', np.nan):.2f} "
                     f"P(2-2.5)={r.get('prob_typical', np.nan):.2f} "
                     f"P(>2.5)={r['prob_above_typical']:.2f} "
                     f"P(>3.24)={r['prob_above_highest']:.2f}")
        rows.append({
            "analysis": r["analysis"], "quantity": r["quantity"], "new": cell(r, "new"),
            "rsw2017": cell(r, "reference"), "difference": cell(r, "difference"),
            "P(new>rsw)": "" if pd.isna(r["prob_new_greater"]) else f"{r['prob_new_greater']:.3f}",
            "n_new": r.get("n_new", ""), "benchmarks": bench,
        })
    return pd.DataFrame(rows)


def write_outputs(cmp: ProjectComparison, out: str | Path) -> dict[str, Path]:
    """Write the table (CSV), the figure (PNG) and the notes (text) to a folder."""
    import matplotlib.pyplot as plt  # here: matplotlib is slow to import

    from pyramid.output import check_folder, save_figure, write_csv, write_text

    out = check_folder(out)
    files = {"table": out / "compare_project.csv", "figure": out / "compare_project.png",
             "notes": out / "compare_project_notes.txt"}
    write_csv(cmp.table, files["table"], "comparison table")
    fig = plot_compare_project(cmp)
    try:
        save_figure(fig, files["figure"], "figure", dpi=150)
    finally:
        plt.close(fig)
    lines = ["settings: " + json.dumps(cmp.settings, default=str), "", "notes:"]
    lines += [f"- {n}" for n in cmp.notes]
    lines += ["", "convergence checks:", cmp.diagnostics.to_string(index=False)]
    write_text(files["notes"], "\n".join(lines) + "\n", "notes")
    return files
