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
are set side by side for the two projects (:func:`plot_compare_project` draws them).

What the published summaries can and cannot identify is the subject of
:func:`rsw2017_summaries`; the docstring of :func:`compare_project` lists every assumption.
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

from pyramid.data import published
from pyramid.data.schema import DISCUSSION_LEVELS, TRAINING_LEVELS
from pyramid.errors import InputError, check_prob
from pyramid.errors import positive_int as _positive_int
from pyramid.executor import default_jobs

__all__ = [
    "ANALYSES",
    "EFFECTS",
    "QUANTITIES",
    "ReferenceSummaries",
    "ProjectComparison",
    "rsw2017_summaries",
    "compare_project",
    "plot_compare_project",
    "compact",
]

#: The three analyses of :func:`compare_project`, in table order.
ANALYSES: tuple[str, ...] = ("default_priors", "rsw2017_priors", "joint")

#: The compared effects (skill points), named as the simulator's truth.
EFFECTS: tuple[str, ...] = (
    "training[other]", "training[mla]", "training[programme]", "clinician", "discussion",
)

#: Every row of the table: the effects, then the mean skill.
QUANTITIES: tuple[str, ...] = (*EFFECTS, "mean_skill")

_LABELS = {
    "training[other]": "Other systemic training",
    "training[mla]": "Previous MLA training",
    "training[programme]": "CSW development programme",
    "clinician": "Clinician at case discussion",
    "discussion": "Discussion quality (per step)",
    "mean_skill": "Mean skill",
}
_ANALYSIS_LABELS = {
    "default_priors": "(a) default priors",
    "rsw2017_priors": "(b) rsw2017 priors",
    "joint": "(c) joint model",
}

#: Likelihood weight of each of Table 15's two breakdowns of the same 22 workers.
TABLE15_WEIGHT = 0.5


# --------------------------------------------------------------------------------------------
# the reference: RSW 2017's published summaries
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReferenceSummaries:
    """A reference study's published group summaries and how each group is composed.

    Attributes
    ----------
    name : str
    groups : pandas.DataFrame
        One row per published group: ``label``, ``table``, ``factor`` (the factor the group
        is a level of), ``level``, ``mean``, ``sd``, ``n``, ``weight`` (likelihood weight),
        ``clusters`` (the number of authorities its workers are assumed spread over).
    training_levels, discussion_levels : tuple of str
    x_training : numpy.ndarray
        (groups, training levels): the group's share of workers at each training level.
    x_clinician : numpy.ndarray
        (groups,): the group's share of workers with a clinician at the discussion.
    x_discussion : numpy.ndarray
        (groups, discussion levels): the group's shares by discussion quality.
    cell_discussion, cell_clinician, cell_share : numpy.ndarray
        The crosstab of discussion by clinician as cells (level code, 0/1, share).
    training_share : numpy.ndarray
        Share of the sample at each training level.
    unknown_pyramid_mix, unknown_training_mix : numpy.ndarray
        1 for the groups whose clinician/discussion (resp. training) mix is not published
        (the shares above are then assumed, with uncertainty governed by the concentration).
    sample_weight : numpy.ndarray
        Weights of the groups whose weighted mean is the study's mean skill.
    subsample : numpy.ndarray
        1 for the groups of a subsample whose mean level is its own (Table 15's 22 workers):
        they get a free offset and inform contrasts only.
    rounding : float
        The precision the means are printed to.
    n_authorities : int
    notes : tuple of str
        The assumptions, in words.
    """

    name: str
    groups: pd.DataFrame
    training_levels: tuple[str, ...]
    discussion_levels: tuple[str, ...]
    x_training: np.ndarray
    x_clinician: np.ndarray
    x_discussion: np.ndarray
    cell_discussion: np.ndarray
    cell_clinician: np.ndarray
    cell_share: np.ndarray
    training_share: np.ndarray
    unknown_pyramid_mix: np.ndarray
    unknown_training_mix: np.ndarray
    sample_weight: np.ndarray
    subsample: np.ndarray
    rounding: float
    n_authorities: int
    notes: tuple[str, ...] = field(default=())

    def n_for(self, quantity: str) -> int:
        """Workers behind one compared quantity (the non-reference levels of its factor).

        Examples
        --------
        >>> rsw2017_summaries().n_for("clinician")
        10
        """
        g = self.groups
        if quantity == "mean_skill":
            return int(g.loc[g.table == "14", "n"].sum())
        if quantity.startswith("training["):
            level = quantity[len("training["):-1]
            return int(g.loc[(g.factor == "training") & (g.level == level), "n"].sum())
        if quantity == "clinician":
            return int(g.loc[(g.factor == "clinician") & (g.level == "1"), "n"].sum())
        if quantity == "discussion":
            return int(g.loc[(g.factor == "discussion")
                             & (g.level != self.discussion_levels[0]), "n"].sum())
        raise InputError(f"unknown quantity {quantity!r}; allowed: {', '.join(QUANTITIES)}")


def _stats(tab: str, key: str) -> tuple[float, float, float]:
    return tuple(published.cell(tab, key, s) for s in ("mean", "sd", "n"))


def rsw2017_summaries() -> ReferenceSummaries:
    """RSW 2017's published summaries of overall skill, arranged for a likelihood.

    From :mod:`pyramid.data.published`: Table 14 (mean, SD and N of overall skill by
    training level, 72 workers), Table 15 (by quality of case discussion and by clinician
    presence, 22 workers counted once in each breakdown, Ns from the text of Part 4) and the
    Part 4 crosstab of clinician presence by discussion quality. Table 1 gives the number of
    authorities (5). Table 10 (RSW units against service as usual) is *not* used: it
    classifies the same observations by a grouping that is not a pyramid factor, so it would
    count them twice.

    What these numbers can identify, and the assumptions that make them do so:

    * They are means by one factor at a time. A training group's mean also holds the
      contributions of the clinicians and discussions of its workers, whose mix is not
      published: the mix is *assumed* to be the 22 observed discussions' (the crosstab), with
      unknown deviations for each group (a Dirichlet around that mix, see ``concentration`` in
      :func:`compare_project`). Likewise each Table 15 group's training mix is assumed to be
      Table 14's.
    * Within the 22, the crosstab is published, so each discussion level's clinician share and
      each clinician group's discussion mix are *known*: clinician and discussion are adjusted
      for each other exactly as a regression on the individual scores would (the same
      sufficient statistics :func:`pyramid.data.simulate.default_effects` uses).
    * The two breakdowns of Table 15 are the same 22 workers: each gets likelihood weight 1/2
      (:data:`TABLE15_WEIGHT`), so those workers count once. The 22 are also among Table 14's
      72; that overlap is kept (it informs the training effects in one table and clinician
      and discussion in the other).
    * Table 15's 22 workers scored higher on average than Table 14's 72 (3.05 against 2.71),
      so they are not a random subsample: their groups get a mean level of their own
      (``subsample``) and inform the clinician and discussion contrasts only.
    * The published means ignore the nesting of workers in units and authorities, whose
      variance is not published: a mean of ``n`` workers spread over ``k = min(n, 5)``
      authorities gets the extra variance ``sd_cluster^2 (1/k - 1/n)`` (independent across
      groups, which is conservative for contrasts between groups sharing authorities).
    * Each group has its own SD (no pooling); means are printed to 2 decimals (rounding
      variance 0.01^2 / 12 is added). Table 14's Ns sum to 72 where Table 1 has 67
      observations; the Ns are used as printed.

    Returns
    -------
    ReferenceSummaries

    Examples
    --------
    >>> ref = rsw2017_summaries()
    >>> print(ref.groups[["label", "mean", "sd", "n", "weight"]].to_string(index=False))
                       label  mean   sd    n  weight
              training: none  2.44 0.59 35.0     1.0
             training: other  2.65 0.70 15.0     1.0
               training: mla  2.91 0.67 12.0     1.0
         training: programme  3.50 0.58 10.0     1.0
    discussion: non_systemic  2.35 0.30  4.0     0.5
    discussion: green_shoots  2.98 0.95  9.0     0.5
        discussion: systemic  3.43 0.77  9.0     0.5
               clinician: no  2.52 0.75 12.0     0.5
              clinician: yes  3.64 0.61 10.0     0.5
    """
    t1 = published.table(1)
    n_auth = int(t1.loc[(t1.row_key == "observations") & t1.group_key.str.match(r"^rsw:la\d+$"),
                        "group_key"].nunique())
    ct = published.table("crosstab")
    n_k = ct[ct.stat == "n"].set_index("row_key")["value"].reindex(DISCUSSION_LEVELS).to_numpy()
    nc_k = ct[ct.stat == "count"].set_index("row_key")["value"].reindex(
        DISCUSSION_LEVELS).to_numpy()
    n22 = float(n_k.sum())
    cells = [(k, c, (nc_k[k] if c else n_k[k] - nc_k[k]) / n22)
             for k in range(len(DISCUSSION_LEVELS)) for c in (0, 1)]
    cell_k = np.array([c[0] for c in cells], dtype=np.int64)
    cell_c = np.array([c[1] for c in cells], dtype=float)
    cell_p = np.array([c[2] for c in cells], dtype=float)
    p_clin = float(nc_k.sum() / n22)
    p_disc = n_k / n22
    n_train = np.array([published.cell(14, lv, "n") for lv in TRAINING_LEVELS])
    w_train = n_train / n_train.sum()

    rows, x_t, x_c, x_d, unk_p, unk_t, sw = [], [], [], [], [], [], []
    eye_t, eye_d = np.eye(len(TRAINING_LEVELS)), np.eye(len(DISCUSSION_LEVELS))
    for j, lv in enumerate(TRAINING_LEVELS):
        m, s, n = _stats("14", lv)
        rows.append(("training: " + lv, "14", "training", lv, m, s, n, 1.0))
        x_t.append(eye_t[j])
        x_c.append(p_clin)
        x_d.append(p_disc)
        unk_p.append(1.0)
        unk_t.append(0.0)
        sw.append(n / n_train.sum())
    for k, lv in enumerate(DISCUSSION_LEVELS):
        m, s, n = _stats("15", lv)
        rows.append(("discussion: " + lv, "15", "discussion", lv, m, s, n, TABLE15_WEIGHT))
        x_t.append(w_train)
        x_c.append(nc_k[k] / n_k[k])
        x_d.append(eye_d[k])
        unk_p.append(0.0)
        unk_t.append(1.0)
        sw.append(0.0)
    for c, key in enumerate(("clinician_no", "clinician_yes")):
        m, s, n = _stats("15", key)
        rows.append((f"clinician: {'yes' if c else 'no'}", "15", "clinician", str(c), m, s, n,
                     TABLE15_WEIGHT))
        x_t.append(w_train)
        x_c.append(float(c))
        mix = (nc_k if c else n_k - nc_k)
        x_d.append(mix / mix.sum())
        unk_p.append(0.0)
        unk_t.append(1.0)
        sw.append(0.0)
    groups = pd.DataFrame(rows, columns=["label", "table", "factor", "level", "mean", "sd", "n",
                                         "weight"])
    groups["clusters"] = np.minimum(groups["n"], n_auth).astype(float)
    notes = (
        "RSW 2017 enters through Tables 14 and 15 and the Part 4 crosstab (group means, SDs "
        "and Ns), not through the reconstructed observations",
        "each training group's clinician/discussion mix is assumed to be the crosstab's, with "
        "unknown deviations; each Table 15 group's training mix is assumed to be Table 14's",
        "Table 15's two breakdowns of the same 22 workers each have likelihood weight 1/2",
        "Table 15's 22 workers have a mean level of their own (they are not a random "
        "subsample of Table 14's 72): they inform the clinician and discussion contrasts",
        "the published means ignore nesting: a mean of n workers gets the extra variance "
        f"sd_cluster^2 (1/k - 1/n), k = min(n, {n_auth}) authorities",
        "Table 10 is not used (the same observations grouped by RSW unit vs service as usual)",
    )
    return ReferenceSummaries(
        name="rsw2017", groups=groups, training_levels=TRAINING_LEVELS,
        discussion_levels=DISCUSSION_LEVELS, x_training=np.array(x_t), x_clinician=np.array(x_c),
        x_discussion=np.array(x_d), cell_discussion=cell_k, cell_clinician=cell_c,
        cell_share=cell_p, training_share=w_train, unknown_pyramid_mix=np.array(unk_p),
        unknown_training_mix=np.array(unk_t), sample_weight=np.array(sw),
        subsample=(groups["table"] == "15").to_numpy(float), rounding=0.01,
        n_authorities=n_auth, notes=notes,
    )


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
        Convergence checks (:func:`pyramid.fit.diagnose`) of every model sampled, with a
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
# sampling helpers
# --------------------------------------------------------------------------------------------
def _sample(model, *, draws: int, tune: int, chains: int, cores: int, seed: int,
            progressbar: bool, target_accept: float, initvals: dict | None = None):
    """Sample a PyMC model with nutpie over pyramid's compiled functions (as :func:`fit`)."""
    import nutpie

    from pyramid.models.compiled import compile_model

    cm = compile_model(model, initvals=initvals or None)
    dt = nutpie.sample(cm.to_nutpie(), draws=draws, tune=tune, chains=chains, cores=cores,
                       seed=seed, progress_bar=progressbar, target_accept=target_accept)
    return xr.DataTree.from_dict({
        "posterior": dt["posterior"].to_dataset(),
        "sample_stats": dt["sample_stats"].to_dataset(),
    })


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


def _new_draws(result) -> dict[str, np.ndarray]:
    """Draws of each compared quantity in the new project from a fitted result."""
    out = {}
    for name in EFFECTS:
        d = _coef_draws(result, name)
        out[name] = d if d is not None else None
    cols = [c for c in ("training", "clinician", "discussion", "csw", "group", "unit")
            if c in result.data.columns]
    e = result.expected_skill(result.data[cols])
    out["mean_skill"] = _flat(e.mean("row"))
    return out


def _reference_draws(post: xr.Dataset | xr.DataTree, prefix: str = "rsw2017_") -> dict:
    post = post.to_dataset() if isinstance(post, xr.DataTree) else post
    train = _flat(post[f"{prefix}training"])
    out = {f"training[{lv}]": train[:, j] for j, lv in enumerate(TRAINING_LEVELS[1:])}
    out["clinician"] = _flat(post[f"{prefix}clinician"])
    out["discussion"] = _flat(post[f"{prefix}discussion"])
    out["mean_skill"] = _flat(post[f"{prefix}mean_skill"])
    return out


def _n_new(data: pd.DataFrame, quantity: str) -> int:
    if quantity == "mean_skill":
        return len(data)
    if quantity.startswith("training["):
        return int((data["training"].astype(object) == quantity[9:-1]).sum())
    if quantity == "clinician":
        return int((pd.to_numeric(data["clinician"], errors="coerce") == 1).sum())
    disc = data["discussion"].astype(object)
    return int((disc.notna() & (disc != DISCUSSION_LEVELS[0])).sum())


def _positive_float(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        extra = " or None" if allow_none else ""
        raise InputError(f"{name} must be a finite number > 0{extra}, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------
# compare_project
# --------------------------------------------------------------------------------------------
def compare_project(
    new_data: pd.DataFrame,
    reference: str | ReferenceSummaries = "rsw2017",
    *,
    model: str = "skill",
    priors: str = "default",
    informed_priors: str = "rsw2017",
    analyses: tuple[str, ...] | list[str] | str = ANALYSES,
    concentration: float | None = 10.0,
    cluster_sd: float | str | None = "default",
    project_sd: float = 0.5,
    ci_prob: float = 0.95,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    cores: int | None = None,
    random_seed: int | None = None,
    target_accept: float = 0.9,
    progressbar: bool = False,
    verbose: bool = False,
) -> ProjectComparison:
    """Compare a new project's coded observations with RSW 2017, factor by factor.

    The new project's observations (validated with :func:`pyramid.validate`) are analysed by
    the hierarchical ``model`` (``skill`` by default: authority, unit and worker levels):

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
    model : {"skill", "pyramid"}, default "skill"
        Model of the new project (a model on the skill scale; ``pyramid`` keeps rows whose
        discussion or clinician was not observed).
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
    ci_prob : float, default 0.95
        Probability of the equal-tailed intervals.
    draws, tune, chains, cores, random_seed, target_accept, progressbar
        Sampling settings (as :func:`pyramid.fit`); every model gets ``chains x draws`` draws,
        so the reference's and the new project's draws pair up one to one.
    verbose : bool, default False
        Print progress and convergence checks to stderr.

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
    from pyramid.data.validate import validate
    from pyramid.fit import diagnose, fit
    from pyramid.specs import load_priors, load_spec

    t0 = time.perf_counter()
    if isinstance(analyses, str):
        analyses = (analyses,)
    analyses = tuple(analyses)
    bad = [a for a in analyses if a not in ANALYSES]
    if bad or not analyses:
        raise InputError(f"analyses must be one or more of {', '.join(ANALYSES)}; got "
                         f"{list(analyses)!r}")
    analyses = tuple(a for a in ANALYSES if a in analyses)
    if isinstance(reference, ReferenceSummaries):
        ref = reference
    elif reference == "rsw2017":
        ref = rsw2017_summaries()
    else:
        raise InputError(f"reference must be 'rsw2017' (the only published study pyramid "
                         f"holds) or a ReferenceSummaries; got {reference!r}")
    spec = load_spec(model)
    if spec.family not in ("gaussian", "path") or spec.outcome != "skill":
        raise InputError(
            f"model must be a model of overall skill on the skill scale ('skill' or "
            f"'pyramid'), so that its effects are in skill points like the published means; "
            f"got {spec.name!r} (family {spec.family!r}, outcome {spec.outcome!r})")
    prior_set = load_priors(priors)
    informed = load_priors(informed_priors)
    concentration = _positive_float("concentration", concentration, allow_none=True)
    if isinstance(cluster_sd, str) and cluster_sd == "default":
        from pyramid.data.simulate import default_group_sds

        cluster_sd = default_group_sds()["sd_authority"]
    elif cluster_sd is not None:
        ok = isinstance(cluster_sd, int | float) and not isinstance(cluster_sd, bool)
        if not ok or not math.isfinite(cluster_sd) or cluster_sd < 0:
            raise InputError(f"cluster_sd must be a number >= 0, 'default' or None (unknown, "
                             f"with the prior set's authority SD prior); got {cluster_sd!r}")
        cluster_sd = float(cluster_sd)
    project_sd = _positive_float("project_sd", project_sd)
    ci_prob = check_prob("ci_prob", ci_prob)
    draws = _positive_int("draws", draws)
    tune = _positive_int("tune", tune, minimum=0)
    chains = _positive_int("chains", chains)
    cores = min(chains, default_jobs()) if cores is None else _positive_int("cores", cores)
    if not (isinstance(target_accept, int | float) and 0 < target_accept < 1):
        raise InputError(f"target_accept must be in (0, 1), got {target_accept!r}")
    if random_seed is None:
        random_seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
    seed = _positive_int("random_seed", random_seed, minimum=0)
    if not isinstance(new_data, pd.DataFrame):
        raise InputError(f"new_data must be a pandas DataFrame, got {type(new_data).__name__}")

    def say(msg: str) -> None:
        if verbose:
            print(msg, file=sys.stderr)

    canon = validate(new_data, model=spec)
    sampling = dict(draws=draws, tune=tune, chains=chains, cores=cores, progressbar=progressbar)
    fits: dict[str, Any] = {}
    diag_parts: list[pd.DataFrame] = []
    notes: list[str] = list(ref.notes)

    def fit_new(label: str, pset, s: int):
        say(f"{_ANALYSIS_LABELS[label]}: fitting {spec.name!r} with priors {pset.name!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=_data_warning())
            res = fit(canon, model=spec, priors=pset, random_seed=s, validate=False,
                      verbose=verbose, target_accept=target_accept, **sampling)
        fits[label] = res
        diag_parts.append(res.diagnostics.assign(model=label))
        return res

    ref_post = None
    ref_ok = True
    if "default_priors" in analyses or "rsw2017_priors" in analyses:
        from pyramid.models.reference import build_reference

        say("RSW 2017: sampling the model of its published summaries")
        rmodel = build_reference(ref, prior_set, concentration=concentration,
                                 cluster_sd=cluster_sd)
        ref_dt = _sample(rmodel, seed=seed + 3, target_accept=target_accept, **sampling)
        rdiag = diagnose(ref_dt)
        ref_ok = bool(rdiag["passed"].all())
        diag_parts.append(rdiag.assign(model="reference"))
        ref_post = ref_dt["posterior"].to_dataset()

    per_analysis: dict[str, tuple[dict, dict, bool]] = {}
    if "default_priors" in analyses:
        res = fit_new("default_priors", prior_set, seed)
        per_analysis["default_priors"] = (_new_draws(res), _reference_draws(ref_post),
                                          res.converged and ref_ok)
    if "rsw2017_priors" in analyses:
        res = fit_new("rsw2017_priors", informed, seed + 1)
        per_analysis["rsw2017_priors"] = (_new_draws(res), _reference_draws(ref_post),
                                          res.converged and ref_ok)
    if "joint" in analyses:
        res = _fit_joint(canon, spec, prior_set, ref, concentration=concentration,
                         cluster_sd=cluster_sd, project_sd=project_sd, seed=seed + 2, target_accept=target_accept,
                         say=say, **sampling)
        fits["joint"] = res
        diag_parts.append(res.diagnostics.assign(model="joint"))
        per_analysis["joint"] = (_new_draws(res), _reference_draws(res.idata["posterior"]),
                                 res.converged)

    any_fit = next(iter(fits.values()))
    data_used = any_fit.data
    if any_fit.n_dropped:
        notes.append(f"model {spec.name!r} used {len(data_used)} of {any_fit.info['rows_input']} "
                     f"rows of the new project (rows missing {', '.join(any_fit.dropped)} left "
                     "out; model='pyramid' keeps them)")
    for q in EFFECTS:
        if _n_new(data_used, q) == 0:
            notes.append(f"the new project has no rows behind {q}: its value there is its prior "
                         "(and, in the joint model, RSW 2017's through the project level)")

    table, ds = _tabulate(per_analysis, ref, data_used, ci_prob)
    diagnostics = pd.concat(diag_parts, ignore_index=True)
    for label, (_, _, ok) in per_analysis.items():
        if not ok:
            notes.append(f"{label}: some convergence checks failed (see .diagnostics); rerun "
                         "with more draws and tune")
    settings = dict(reference=ref.name, model=spec.name, priors=prior_set.name,
                    informed_priors=informed.name, analyses=list(analyses),
                    concentration=concentration, cluster_sd=cluster_sd,
                    project_sd=project_sd, ci_prob=ci_prob,
                    draws=draws, tune=tune, chains=chains, random_seed=seed,
                    rows_input=int(any_fit.info.get("rows_input", len(data_used))),
                    rows_used=len(data_used), seconds=round(time.perf_counter() - t0, 1))
    table.attrs["ci_prob"] = ci_prob
    return ProjectComparison(table=table, draws=ds, fits=fits, reference=ref_post,
                             diagnostics=diagnostics, notes=notes, settings=settings)


def _data_warning():
    from pyramid.data.validate import DataWarning

    return DataWarning


def _fit_joint(canon: pd.DataFrame, spec, prior_set, ref: ReferenceSummaries, *, concentration,
               cluster_sd, project_sd, seed, target_accept, say, draws, tune, chains, cores, progressbar):
    """The joint model: the new project's raw observations and RSW 2017's summaries."""
    from pyramid.fit import FitResult, diagnose
    from pyramid.models.builder import build
    from pyramid.models.coding import prepare
    from pyramid.models.reference import add_joint_reference

    say(f"(c) joint model: {spec.name!r} on the new project + RSW 2017's published summaries")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=_data_warning())
        md = prepare(spec, canon)
    built = build(md, prior_set)
    add_joint_reference(built, ref, prior_set, concentration=concentration,
                        cluster_sd=cluster_sd, project_sd=project_sd)
    t = time.perf_counter()
    idata = _sample(built.model, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                    progressbar=progressbar, target_accept=target_accept,
                    initvals=built.initvals)
    diag = diagnose(idata)
    info = {
        "model": spec.name, "priors": prior_set.name, "seed": seed, "sampler": "nutpie",
        "draws": draws, "tune": tune, "chains": chains, "target_accept": target_accept,
        "rows_input": int(md.n_input), "rows_used": int(md.n_rows),
        "groups_kept": [g.name for g in md.groups], "domains": list(md.domains),
        "scale": built.scale, "coefs": json.dumps(built.coefs), "notes": list(md.notes),
        "joint_reference": ref.name, "timings": {"sample_s": time.perf_counter() - t},
    }
    return FitResult(idata=idata, spec=spec, priors=prior_set, data=md.frame,
                     dropped=dict(md.dropped), diagnostics=diag, info=info)


def _tabulate(per_analysis: dict, ref: ReferenceSummaries, data: pd.DataFrame,
              ci_prob: float) -> tuple[pd.DataFrame, xr.Dataset]:
    lo_q, hi_q = 0.5 - ci_prob / 2, 0.5 + ci_prob / 2
    bench = published.BENCHMARKS
    rows = []
    n_samples = min(len(d["mean_skill"]) for d, _, _ in per_analysis.values())
    arr = np.full((len(per_analysis), len(QUANTITIES), 3, n_samples), np.nan)

    def summary(x: np.ndarray) -> tuple[float, float, float]:
        return float(x.mean()), float(np.quantile(x, lo_q)), float(np.quantile(x, hi_q))

    for i, (label, (new, refd, ok)) in enumerate(per_analysis.items()):
        for j, q in enumerate(QUANTITIES):
            nd = new.get(q)
            rd = refd[q]
            rec = {"analysis": label, "quantity": q, "label": _LABELS[q]}
            if nd is None:  # the model has no such coefficient
                nd = np.full(n_samples, np.nan)
            nd, rd = nd[:n_samples], rd[:n_samples]
            diff = nd - rd
            arr[i, j] = np.stack([nd, rd, diff])
            for part, x in (("new", nd), ("reference", rd), ("difference", diff)):
                est, lo, hi = summary(x) if np.isfinite(x).all() else (np.nan,) * 3
                rec[f"{part}_estimate"], rec[f"{part}_ci_lower"], rec[f"{part}_ci_upper"] = (
                    est, lo, hi)
            rec["prob_new_greater"] = float((diff > 0).mean()) if np.isfinite(diff).all() else (
                np.nan)
            rec["n_new"] = _n_new(data, q)
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
    table = pd.DataFrame(rows)
    ds = xr.Dataset(
        {part: (("analysis", "quantity", "sample"), arr[:, :, k])
         for k, part in enumerate(("new", "reference", "difference"))},
        coords={"analysis": list(per_analysis), "quantity": list(QUANTITIES),
                "sample": np.arange(n_samples)},
    )
    return table, ds


# --------------------------------------------------------------------------------------------
# the plot
# --------------------------------------------------------------------------------------------
def plot_compare_project(result: ProjectComparison | pd.DataFrame, *, title: str | None = None,
                         caption: bool = True):
    """Draw a comparison: each factor in the new project and in RSW 2017, and the difference.

    Three panels: (left) each effect's posterior mean and interval in the new project and in
    RSW 2017, by analysis; (middle) the difference new minus RSW 2017 with
    P(new > RSW 2017); (bottom) mean skill of both projects against the report's
    benchmarks (band: 2-2.5, where workers commonly score; dashed: 3.24, the highest mean
    seen before).

    Parameters
    ----------
    result : ProjectComparison or pandas.DataFrame
        What :func:`compare_project` returned, or its ``table``.
    title : str, optional
        Figure title (default: "New project compared with RSW 2017").
    caption : bool, default True
        Add a caption saying what the intervals are.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from pyramid.project import _example_table
    >>> fig = plot_compare_project(_example_table())
    >>> [a.get_title() for a in fig.axes][:2]
    ['Effect (skill points)', 'Difference: new - RSW 2017']
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = result.table if isinstance(result, ProjectComparison) else result
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"result must be a ProjectComparison or its table; got "
                         f"{type(result).__name__}")
    need = {"analysis", "quantity", "new_estimate", "new_ci_lower", "new_ci_upper",
            "reference_estimate", "reference_ci_lower", "reference_ci_upper",
            "difference_estimate", "difference_ci_lower", "difference_ci_upper",
            "prob_new_greater"}
    lacking = sorted(need - set(table.columns))
    if lacking:
        raise InputError(f"the table lacks the column(s) {', '.join(lacking)}; pass what "
                         "compare_project returned")
    ci_prob = table.attrs.get("ci_prob", 0.95)
    analyses = [a for a in ANALYSES if a in set(table["analysis"])]
    palette = dict(zip(ANALYSES, sns.color_palette("deep")[:3], strict=True))
    effects = [q for q in EFFECTS if q in set(table["quantity"])]
    y0 = np.arange(len(effects))[::-1].astype(float)
    step = 0.8 / (2 * len(analyses))

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = plt.figure(figsize=(12, 7.6), layout="constrained")
        grid = fig.add_gridspec(2, 2, height_ratios=(len(effects), 1.8))
        ax_e = fig.add_subplot(grid[0, 0])
        ax_d = fig.add_subplot(grid[0, 1], sharey=ax_e)
        ax_m = fig.add_subplot(grid[1, :])
        for i, a in enumerate(analyses):
            sub = table[table.analysis == a].set_index("quantity")
            for j, q in enumerate(effects):
                if q not in sub.index:
                    continue
                r = sub.loc[q]
                base = y0[j] + 0.4 - step * (2 * i + 0.5)
                ax_e.errorbar(r.new_estimate, base,
                              xerr=[[r.new_estimate - r.new_ci_lower],
                                    [r.new_ci_upper - r.new_estimate]],
                              fmt="o", color=palette[a], ms=6, capsize=3,
                              label=f"new: {_ANALYSIS_LABELS[a]}" if j == 0 else None)
                ax_e.errorbar(r.reference_estimate, base - step,
                              xerr=[[r.reference_estimate - r.reference_ci_lower],
                                    [r.reference_ci_upper - r.reference_estimate]],
                              fmt="s", mfc="white", color=palette[a], ms=5, capsize=3,
                              label=f"RSW 2017: {_ANALYSIS_LABELS[a]}" if j == 0 else None)
                yd = y0[j] + 0.3 - 0.6 * i / max(1, len(analyses) - 1) if len(analyses) > 1 \
                    else y0[j]
                ax_d.errorbar(r.difference_estimate, yd,
                              xerr=[[r.difference_estimate - r.difference_ci_lower],
                                    [r.difference_ci_upper - r.difference_estimate]],
                              fmt="o", color=palette[a], ms=6, capsize=3)
                ax_d.annotate(f"P(new > RSW) = {r.prob_new_greater:.2f}",
                              (r.difference_ci_upper, yd), xytext=(5, -3),
                              textcoords="offset points", fontsize=8, color=palette[a])
        for ax in (ax_e, ax_d):
            ax.axvline(0, color="0.5", lw=1, zorder=0)
            for y in y0[:-1] - 0.5:
                ax.axhline(y, color="0.85", lw=0.8, zorder=0)
        ax_e.set_yticks(y0, [_LABELS[q] for q in effects])
        ax_e.set_ylim(-0.6, len(effects) - 0.4)
        ax_d.tick_params(labelleft=False)
        ax_e.set_title("Effect (skill points)")
        ax_d.set_title("Difference: new - RSW 2017")
        ax_e.legend(fontsize=7.5, loc="lower right", frameon=True)
        ax_d.grid(axis="y", visible=False)
        ax_e.grid(axis="y", visible=False)
        lo, hi = ax_d.get_xlim()
        ax_d.set_xlim(lo, hi + 0.35 * (hi - lo))

        bench = published.BENCHMARKS
        ax_m.axvspan(bench["typical_low"], bench["typical_high"], color="0.6", alpha=0.2, lw=0,
                     label="typical (2-2.5)")
        ax_m.axvline(bench["highest_seen"], color="0.35", ls="--", lw=1.1,
                     label="highest seen (3.24)")
        ys = []
        for i, a in enumerate(analyses):
            r = table[(table.analysis == a) & (table.quantity == "mean_skill")]
            if not len(r):
                continue
            r = r.iloc[0]
            y = len(analyses) - i
            ys.append((y, _ANALYSIS_LABELS[a]))
            ax_m.errorbar(r.new_estimate, y + 0.15,
                          xerr=[[r.new_estimate - r.new_ci_lower],
                                [r.new_ci_upper - r.new_estimate]],
                          fmt="o", color=palette[a], ms=6, capsize=3)
            ax_m.errorbar(r.reference_estimate, y - 0.15,
                          xerr=[[r.reference_estimate - r.reference_ci_lower],
                                [r.reference_ci_upper - r.reference_estimate]],
                          fmt="s", mfc="white", color=palette[a], ms=5, capsize=3)
            if "prob_above_typical" in r and pd.notna(r.prob_above_typical):
                ax_m.annotate(f"new: P(> 2.5) = {r.prob_above_typical:.2f}, "
                              f"P(> 3.24) = {r.prob_above_highest:.2f}",
                              (r.new_ci_upper, y + 0.15), xytext=(6, -3),
                              textcoords="offset points", fontsize=8, color=palette[a])
        ax_m.set_yticks([y for y, _ in ys], [lab for _, lab in ys])
        ax_m.set_ylim(0.4, len(analyses) + 0.6)
        ax_m.set_title("Mean skill (1-5): new (circles) and RSW 2017 (squares)")
        ax_m.grid(axis="y", visible=False)
        lo, hi = ax_m.get_xlim()
        ax_m.set_xlim(min(lo, 1.8), max(hi + 0.3 * (hi - lo), 3.5))
        ax_m.legend(fontsize=8, loc="lower left")
        fig.suptitle(title or "New project compared with RSW 2017", fontsize=14,
                     fontweight="bold")
        if caption:
            room = 0.45 / fig.get_figheight()
            fig.get_layout_engine().set(rect=(0.0, room, 1.0, 1.0 - room))
            fig.text(0.01, 0.005,
                     f"Posterior means and {ci_prob:.0%} intervals. Circles: the new project "
                     f"(its coded observations); squares: RSW 2017 (its published Tables 14-15 "
                     f"and the Part 4 crosstab, never reconstructed data). (b) uses RSW 2017 "
                     f"as the prior of the new project, so its differences are shrunk to 0.",
                     ha="left", va="bottom", fontsize=8.5, color="0.25", wrap=True)
    return fig


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
    >>> compact(_example_table()).columns.tolist()
    ['analysis', 'quantity', 'new', 'rsw2017', 'difference', 'P(new>rsw)', 'n_new', 'benchmarks']
    """
    def cell(r, part):
        est, lo, hi = (r[f"{part}_{k}"] for k in ("estimate", "ci_lower", "ci_upper"))
        return "" if pd.isna(est) else f"{est:.2f} [{lo:.2f}, {hi:.2f}]"

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


def _example_table() -> pd.DataFrame:
    """A small made-up comparison table (for the plot's example; not a result)."""
    rows = []
    for a, shift in (("default_priors", 0.0), ("joint", 0.1)):
        for j, q in enumerate(QUANTITIES):
            new = 2.8 + shift if q == "mean_skill" else 0.2 * j + shift
            refv = 2.7 if q == "mean_skill" else 0.2 * j
            rows.append({
                "analysis": a, "quantity": q, "new_estimate": new, "new_ci_lower": new - 0.3,
                "new_ci_upper": new + 0.3, "reference_estimate": refv,
                "reference_ci_lower": refv - 0.3, "reference_ci_upper": refv + 0.3,
                "difference_estimate": new - refv, "difference_ci_lower": new - refv - 0.4,
                "difference_ci_upper": new - refv + 0.4, "prob_new_greater": 0.6,
                "n_new": 40, "prob_below_typical": 0.0 if q == "mean_skill" else np.nan,
                "prob_typical": 0.1 if q == "mean_skill" else np.nan,
                "prob_above_typical": 0.9 if q == "mean_skill" else np.nan,
                "prob_above_highest": 0.05 if q == "mean_skill" else np.nan,
            })
    return pd.DataFrame(rows)


def _write_outputs(cmp: ProjectComparison, out: str | Path) -> dict[str, Path]:
    """Write the table (CSV), the figure (PNG) and the notes (text) to a folder."""
    import matplotlib.pyplot as plt

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {str(out)!r}: {exc}") from None
    files = {"table": out / "compare_project.csv", "figure": out / "compare_project.png",
             "notes": out / "compare_project_notes.txt"}
    cmp.table.to_csv(files["table"], index=False)
    fig = plot_compare_project(cmp)
    fig.savefig(files["figure"], dpi=150)
    plt.close(fig)
    lines = ["settings: " + json.dumps(cmp.settings, default=str), "", "notes:"]
    lines += [f"- {n}" for n in cmp.notes]
    lines += ["", "convergence checks:", cmp.diagnostics.to_string(index=False)]
    files["notes"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files
