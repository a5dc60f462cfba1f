"""A reference study's published summary statistics as a likelihood (RSW 2017 by default).

This is the PyMC half of :func:`pyramid.compare_project` (the numbers, and every assumption
made about them, are in :func:`pyramid.data.published.rsw2017_summaries` and the docstring of
:func:`pyramid.compare_project`). The reference study's pyramid parameters (intercept,
training effects, clinician, monotonic discussion with its simplex) are given as tensors; each
published group's mean and SD then enter through their sufficient statistics::

    mean_g     ~ Normal(mu_g, sqrt(sigma_g^2 / n_g + v_composition_g
                                   + sd_cluster^2 (1 / k_g - 1 / n_g) + rounding^2 / 12))
    (n_g - 1) s_g^2 / sigma_g^2 ~ chi2(n_g - 1)

with ``mu_g = alpha + X_T[g] . b_training + X_C[g] * b_clinician + X_M[g] . mono (+ an
offset for a subsample's groups)`` (the group's composition on the other factors, from the
published crosstab and Ns), each term
multiplied by the group's likelihood weight (1/2 for two breakdowns of the same workers).

:func:`build_reference` gives the model of the published summaries alone;
:func:`add_joint_reference` adds them to an already built model of a new project's raw
observations, the reference parameters being the new project's minus a project-level
difference (the two-project form of a project level ``theta_p ~ Normal(mu, tau)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from pyramid.data.published import EFFECTS, ReferenceSummaries
from pyramid.errors import InputError
from pyramid.models.builder import Built
from pyramid.specs import PriorDist, PriorSet

__all__ = ["EFFECTS", "build_reference", "add_joint_reference", "reference_loglik"]


def _prior_rv(name: str, prior: PriorDist, **kwargs):
    if prior.dist == "Dirichlet":  # pragma: no cover - the specs give zeta its own class
        raise InputError(f"internal: {name} cannot take a Dirichlet prior")
    return getattr(pm, prior.dist)(name, **{k: np.float64(v) for k, v in prior.params.items()},
                                   **kwargs)


def reference_loglik(params: dict[str, Any], ref: ReferenceSummaries, priors: PriorSet, *,
                     concentration: float | None, cluster_sd: float | None,
                     prefix: str) -> dict[str, Any]:
    """Add the published summaries' likelihood to the model in context.

    Parameters
    ----------
    params : dict
        Tensors of the reference study's parameters: ``intercept`` (scalar), ``training``
        (vector over other, mla, programme), ``clinician`` (scalar), ``discussion`` (the
        monotonic coefficient, an average step) and ``zeta`` (simplex over the steps).
    ref : ReferenceSummaries
    priors : PriorSet
        Priors of each group's SD (class ``sigma``), of the subsample offset (the intercept's
        SD) and, when ``cluster_sd`` is None, of the between-authority SD.
    concentration : float or None
        Concentration of the unknown composition of each group on the factors it does not
        classify (None: the same composition in every group, no extra variance).
    cluster_sd : float or None
        The unpublished between-authority SD of the study (skill points); None: unknown, with
        the prior set's authority SD prior (class ``sd``).
    prefix : str
        Prefix of the names added (``rsw2017_``).

    Returns
    -------
    dict
        ``mean_skill`` (the modelled mean skill of the study's sample) and ``group_means``.
    """
    g = ref.groups
    n = g["n"].to_numpy(float)
    weight = g["weight"].to_numpy(float)
    k = g["clusters"].to_numpy(float)
    steps = len(ref.discussion_levels) - 1
    mono = pt.concatenate([pt.zeros(1), params["discussion"] * steps * pt.cumsum(params["zeta"])])
    b_train = pt.concatenate([pt.zeros(1), params["training"]])
    # the workers of the breakdowns with a subsample offset (Table 15's 22, whose mean skill
    # is not that of Table 14's 72) get a level of their own: they inform contrasts only
    ip = priors.get("intercept", coef="intercept")
    offset = pm.Normal(f"{prefix}subsample_offset", np.float64(0.0),
                       np.float64(ip.params.get("sigma", 1.0)))
    mu = (params["intercept"] + pt.dot(ref.x_training, b_train)
          + ref.x_clinician * params["clinician"] + pt.dot(ref.x_discussion, mono)
          + ref.subsample * offset)
    pm.Deterministic(f"{prefix}group_mean", mu, dims=f"{prefix}group")

    # unknown composition of each group on the factors it does not classify: a Dirichlet(kappa
    # pi) mix of cells with contributions f gives Var(sum q f) = Var_pi(f) / (kappa + 1)
    var = pt.zeros(len(g))
    if concentration is not None:
        f_cell = ref.cell_clinician * params["clinician"] + mono[ref.cell_discussion]
        var_pyr = pt.sum(ref.cell_share * f_cell**2) - pt.sum(ref.cell_share * f_cell) ** 2
        var_train = (pt.sum(ref.training_share * b_train**2)
                     - pt.sum(ref.training_share * b_train) ** 2)
        var = (ref.unknown_pyramid_mix * var_pyr + ref.unknown_training_mix * var_train) / (
            concentration + 1.0)
    sd_prior = priors.get("sigma")
    sigma = _prior_rv(f"{prefix}sigma", sd_prior, dims=f"{prefix}group")
    if cluster_sd is None:
        sd_cluster = _prior_rv(f"{prefix}sd_cluster", priors.get("sd", group="authority"))
    else:
        sd_cluster = pt.as_tensor(float(cluster_sd))
    # a mean of n workers spread over k authorities: sigma_g^2 / n already holds the
    # between-authority variance once per worker; clustering adds sd^2 (1/k - 1/n)
    var = (var + pt.sqr(sigma) / n + pt.sqr(sd_cluster) * (1.0 / k - 1.0 / n)
           + (ref.rounding**2) / 12.0)
    ll_mean = pm.logp(pm.Normal.dist(mu, pt.sqrt(var)), g["mean"].to_numpy(float))
    s2 = g["sd"].to_numpy(float) ** 2
    shape = (n - 1.0) / 2.0
    ll_sd = pm.logp(pm.Gamma.dist(alpha=shape, beta=shape / pt.sqr(sigma)), s2)
    pm.Potential(f"{prefix}loglik", pt.sum(weight * (ll_mean + ll_sd)))

    sample_mean = pt.sum(ref.sample_weight * mu)
    pm.Deterministic(f"{prefix}mean_skill", sample_mean)
    return {"mean_skill": sample_mean, "group_means": mu}


def _coords(ref: ReferenceSummaries, prefix: str) -> dict[str, list[str]]:
    return {
        f"{prefix}group": list(ref.groups["label"]),
        f"{prefix}training_level": list(ref.training_levels[1:]),
        f"{prefix}discussion_step": [f"{a}->{b}" for a, b in zip(
            ref.discussion_levels[:-1], ref.discussion_levels[1:], strict=True)],
        f"{prefix}effect": list(EFFECTS),
    }


def _deterministics(prefix: str, params: dict[str, Any]) -> None:
    pm.Deterministic(f"{prefix}intercept", params["intercept"])
    pm.Deterministic(f"{prefix}training", params["training"], dims=f"{prefix}training_level")
    pm.Deterministic(f"{prefix}clinician", params["clinician"])
    pm.Deterministic(f"{prefix}discussion", params["discussion"])


def build_reference(ref: ReferenceSummaries, priors: PriorSet, *,
                    concentration: float | None, cluster_sd: float | None,
                    prefix: str = "rsw2017_") -> pm.Model:
    """The model of the reference study's published summaries alone.

    The pyramid parameters take the prior set's priors (``intercept``, ``b`` per training
    level and clinician, ``b_mo`` for discussion, ``zeta``), as in a model of raw data.

    Returns
    -------
    pymc.Model
        With deterministics ``<prefix>intercept``, ``<prefix>training``,
        ``<prefix>clinician``, ``<prefix>discussion``, ``<prefix>mean_skill`` and
        ``<prefix>group_mean``.
    """
    with pm.Model(coords=_coords(ref, prefix)) as model:
        levels = ref.training_levels[1:]
        tp = [priors.get("b", coef=f"training[{lv}]") for lv in levels]
        if len({p.dist for p in tp}) != 1:
            raise InputError("the training coefficients' priors must share one distribution")
        train = getattr(pm, tp[0].dist)(
            "ref_training", **{k: np.array([p.params[k] for p in tp], dtype=np.float64)
                               for k in tp[0].params},
            dims=f"{prefix}training_level")
        params = {
            "intercept": _prior_rv("ref_intercept", priors.get("intercept", coef="intercept")),
            "training": train,
            "clinician": _prior_rv("ref_clinician", priors.get("b", coef="clinician")),
            "discussion": _prior_rv("ref_discussion", priors.get("b_mo", coef="discussion")),
            "zeta": pm.Dirichlet("ref_zeta", a=np.full(len(ref.discussion_levels) - 1,
                                                      priors.get("zeta").params["a"],
                                                      dtype=np.float64),
                                 dims=f"{prefix}discussion_step"),
        }
        _deterministics(prefix, params)
        reference_loglik(params, ref, priors, concentration=concentration,
                         cluster_sd=cluster_sd, prefix=prefix)
    return model


def _coef_tensor(built: Built, name: str):
    """The tensor of one fixed effect of a built model, by its truth name (None if absent)."""
    if name not in built.coefs:
        return None
    var, sel = built.coefs[name]
    rv = built.model[var]
    if not sel:
        return rv
    ((dim, label),) = sel.items()
    labels = [str(x) for x in built.model.coords[dim]]
    return rv[labels.index(str(label))]


def add_joint_reference(built: Built, ref: ReferenceSummaries, priors: PriorSet, *,
                        concentration: float | None, cluster_sd: float | None,
                        project_sd: float, prefix: str = "rsw2017_",
                        mapping: dict[str, str] | None = None,
                        scale: tuple[int, int] | None = None) -> list[str]:
    """Add the reference study to a built model of a new project, through a project level.

    For each compared effect ``f``, the reference's value is the new project's minus
    ``difference_f ~ Normal(0, sqrt(2) * project_sd)`` (divided by the discussion term's
    number of steps, so that the systemic vs non-systemic contrast has the scale of the
    others): the difference of two projects drawn from a project level
    ``theta_p ~ Normal(mu_f, tau)`` with ``tau = project_sd``. Two projects cannot estimate a
    between-project SD, so ``tau`` is set, not estimated (an estimated ``tau`` shared by the
    effects was tried: it pooled the differences towards zero, understating a real one, and
    sampled poorly). The intercepts differ by ``Normal(0, s)``, ``s`` the SD of the prior
    set's intercept prior. The discussion simplex is the reference's own. An effect the built
    model lacks gets a free reference parameter with its prior.

    For a new project of another study, ``mapping`` (reference effect -> the built model's
    coefficient) says which coefficient stands for which effect (the others get free
    reference parameters), and ``scale`` (its ``(min, max)``) puts the new project's
    coefficients on the reference's 1-5 scale first: an effect times ``4 / (max - min)``, the
    intercept as ``1 + (b - min) 4 / (max - min)``.

    Returns
    -------
    list of str
        Names of the difference deterministics added (``project_difference`` over
        ``<prefix>effect``, ``project_difference_intercept``).
    """
    model = built.model
    new_scale = scale  # the new project's (min, max); ``scale`` below is the effects' own
    for dim, values in _coords(ref, prefix).items():
        if dim not in model.coords:
            model.add_coord(dim, values)
    steps = len(ref.discussion_levels) - 1
    with model:
        scale = np.array([1.0 / steps if e == "discussion" else 1.0 for e in EFFECTS])
        diff = pm.Normal("project_difference", np.float64(0.0),
                         np.sqrt(2.0) * float(project_sd) * scale,
                         dims=f"{prefix}effect")
        ip = priors.get("intercept", coef="intercept")
        s_int = np.float64(ip.params.get("sigma", 1.0))
        d_int = pm.Normal("project_difference_intercept", np.float64(0.0), s_int)

        def own(name: str, prior: PriorDist):
            return _prior_rv(f"ref_{name}", prior)

        if mapping is None:
            new = {name: _coef_tensor(built, name) for name in ("intercept", *EFFECTS)}
        else:
            k = 4.0 / (new_scale[1] - new_scale[0])
            new = {name: (None if name not in mapping else _coef_tensor(built, mapping[name]))
                   for name in EFFECTS}
            new = {name: (None if t is None else t * k) for name, t in new.items()}
            b0 = _coef_tensor(built, "intercept")
            new["intercept"] = None if b0 is None else 1.0 + (b0 - new_scale[0]) * k
        ref_vals = {}
        for j, name in enumerate(EFFECTS):
            cls = "b_mo" if name == "discussion" else "b"
            base = new[name] if new[name] is not None else own(
                name.replace("[", "_").replace("]", ""), priors.get(cls, coef=name))
            ref_vals[name] = base - diff[j]
        intercept = (new["intercept"] if new["intercept"] is not None
                     else own("intercept", ip)) - d_int
        params = {
            "intercept": intercept,
            "training": pt.stack([ref_vals[f"training[{lv}]"] for lv in ref.training_levels[1:]]),
            "clinician": ref_vals["clinician"],
            "discussion": ref_vals["discussion"],
            "zeta": pm.Dirichlet("ref_zeta", a=np.full(steps, priors.get("zeta").params["a"],
                                                      dtype=np.float64),
                                 dims=f"{prefix}discussion_step"),
        }
        _deterministics(prefix, params)
        reference_loglik(params, ref, priors, concentration=concentration,
                         cluster_sd=cluster_sd, prefix=prefix)
    return ["project_difference", "project_difference_intercept"]
