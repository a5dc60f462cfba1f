"""ModelData + PriorSet -> PyMC model. The only module of pyramid that builds PyMC graphs.

Three families (see docs/architecture.md, "The shared generative model"):

* ``gaussian`` -- skill ~ Normal(eta, sigma). With ``parametrisation = "marginal"`` the nested
  group effects are integrated out exactly by passing Gaussian messages up the hierarchy
  (rows -> worker -> unit -> authority), each a segment sum over integer indices: the cost is
  linear in the rows and the sampler sees only the fixed effects and SDs. The group effects
  are then drawn from their exact conditional posterior (:mod:`pyramid.models.generated`).
* ``cumulative_probit`` -- P(y <= k) = Phi(kappa_k - eta), log(Phi(b) - Phi(a)) computed on
  the tail with the larger mass with log-CDFs (:func:`ordinal_logp`), ordered thresholds with
  initial values from the empirical cumulative proportions.
* ``path`` -- the pyramid: a Gaussian skill equation, a cumulative-probit mediator
  (discussion) equation and a Bernoulli exposure (clinician) equation; missing mediator and
  exposure values are integrated out exactly by a log-sum-exp over their possible values.

Monotonic effects ``mo(x)`` follow brms: ``b * D * cumsum([0, zeta])[x]``, zeta ~ Dirichlet.
All data live in ``pm.Data`` containers so a compiled model can be reused with new data of the
same design (``pm.set_data`` / nutpie's ``with_data``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from pyramid.errors import InputError
from pyramid.models.coding import (
    SIGNED_NONCENTRED,
    GroupLevel,
    ModelData,
    Term,
    empirical_cuts,
    main_coords,
)
from pyramid.models.names import coef_name, threshold_labels
from pyramid.models.ordinal_op import ordinal_logp_fused
from pyramid.specs import PriorDist, PriorSet

__all__ = ["Built", "build", "ordinal_logp", "gaussian_marginal_logp", "LOG_2PI"]

LOG_2PI = float(np.log(2 * np.pi))


@dataclass
class Built:
    """A built model and what later stages need to know about it.

    Attributes
    ----------
    model : pymc.Model
    data : ModelData
    scale : str
        ``skill`` (effects in skill points) or ``latent`` (probit scale of a rating).
    coefs : dict
        Truth-style coefficient name -> (variable, {dim: coordinate}) for every fixed effect.
    derived : list of str
        Names of derived quantities (path family).
    initvals : dict
        Initial values given to the sampler (variable -> array).
    priors : PriorSet
        The prior set it was built with (what :func:`pyramid.models.sampling.kernel_model`
        needs besides ``data``).
    """

    model: pm.Model
    data: ModelData
    scale: str
    coefs: dict[str, tuple[str, dict]] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)
    initvals: dict[str, np.ndarray] = field(default_factory=dict)
    priors: PriorSet | None = None

    @property
    def build(self) -> str:
        """Which build the model took (:attr:`pyramid.models.coding.ModelData.build`)."""
        return self.data.build


# --------------------------------------------------------------------------------------------
# log-densities
# --------------------------------------------------------------------------------------------
def ordinal_logp(y, eta, cuts):
    """Cumulative-probit log-probability of category ``y`` (0..K-1), stable in the tails.

    ``log P(y = k) = log(Phi(c_k - eta) - Phi(c_{k-1} - eta))`` with ``c_{-1} = -inf``,
    ``c_{K-1} = inf``. The first and last categories are one log-CDF each, ``log Phi(c_0 -
    eta)`` and ``log Phi(eta - c_{K-2})``, exact however far the predictor lies inside them.
    An interior category's difference is taken on the tail with the larger mass:
    ``Phi(b) - Phi(a) = Phi(-a) - Phi(-b)``, and ``log(Phi(b) - Phi(a)) = log Phi(b) +
    log1mexp(log Phi(a) - log Phi(b))`` with log-CDFs from ``erfcx`` (:func:`log_ndtr`), so
    probabilities far in the tails keep their precision. Every branch a ``switch`` does not
    select is evaluated at finite arguments, so no infinity or NaN reaches the gradient.

    Parameters
    ----------
    y : int tensor
        Categories 0..K-1.
    eta : tensor
        Linear predictors, broadcastable with ``y``.
    cuts : 1-d tensor
        The K-1 increasing thresholds.

    Returns
    -------
    tensor
        Log-probabilities, the broadcast shape of ``y`` and ``eta``.
    """
    km1 = cuts.shape[0]
    a_raw = cuts[pt.clip(y - 1, 0, km1 - 1)] - eta
    b_raw = cuts[pt.clip(y, 0, km1 - 1)] - eta
    first = pt.eq(y, 0)
    last = pt.eq(y, km1)
    # the interior formula at a finite stand-in interval where it is not selected
    interior = _log_interval(pt.switch(first, b_raw - 1.0, a_raw),
                             pt.switch(last, a_raw + 1.0, b_raw))
    return pt.switch(first, log_ndtr(b_raw), pt.switch(last, log_ndtr(-a_raw), interior))


def _log_interval(a, b):
    """log(Phi(b) - Phi(a)) for finite a <= b, taken on the tail with the larger mass
    (reflected when a + b > 0) so that neither tail loses precision."""
    flip = pt.gt(a + b, 0.0)
    lo = pt.switch(flip, -b, a)
    hi = pt.switch(flip, -a, b)
    l_hi = log_ndtr(hi)
    l_lo = log_ndtr(lo)
    return l_hi + pt.log1mexp(pt.minimum(l_lo - l_hi, -1e-300))


def ordinal_logp_all(eta, cuts):
    """log P(y = k) for every category k at once, shape ``(*eta.shape, K)``.

    The same stable computation as :func:`ordinal_logp` (the first and last categories one
    log-CDF each), without gathering thresholds by category (no index arrays: a smaller graph,
    faster to compile), for the small arrays of the path model's mediator equation.
    """
    z = cuts - eta[..., None]  # c_k - eta, (..., K-1)
    return pt.concatenate([log_ndtr(z[..., :1]), _log_interval(z[..., :-1], z[..., 1:]),
                           log_ndtr(-z[..., -1:])], axis=-1)


_SQRT2 = np.sqrt(2.0)  # float64: a Python 2.0 would become a float32 constant in PyTensor


def log_ndtr(x):
    """log Phi(x) in float64, accurate in both tails (``erfcx`` below -1, ``erfc`` above).

    PyMC's ``normal_lcdf`` computes ``sqrt(2.0)`` from a float32 constant, which costs about
    1e-8 relative precision; this keeps every constant in float64. Each branch is evaluated
    only on its own side of -1 (the other side clipped to -1), so the branch a ``switch``
    does not select stays finite (``erfcx`` overflows far above -1) and its gradient cannot
    turn the selected one into NaN.
    """
    sqrt2 = pt.constant(_SQRT2, dtype="float64")
    half = pt.constant(0.5, dtype="float64")
    one = pt.constant(-1.0, dtype="float64")
    lo = pt.minimum(x, one)
    hi = pt.maximum(x, one)
    return pt.switch(
        pt.lt(x, one),
        pt.log(pt.erfcx(-lo / sqrt2) * half) - half * pt.sqr(lo),
        pt.log1p(-pt.erfc(hi / sqrt2) * half),
    )


def gaussian_marginal_logp(resid, sigma, levels, sds):
    """Log-likelihood of nested Gaussian group effects integrated out exactly.

    Parameters
    ----------
    resid : 1-d tensor
        y minus the fixed part, per row.
    sigma : scalar tensor
        Residual SD.
    levels : list of (index, n_groups)
        From the innermost level outwards: ``index`` maps each child (rows for the innermost,
        then the groups of the level below) to its group.
    sds : list of scalar tensors
        The SD of each level, in the same order.

    Returns
    -------
    scalar tensor

    Notes
    -----
    Each group holds a Gaussian-shaped message in the offset ``c`` its parents add:
    ``exp(A - P (c - m)^2 / 2)``. Children combine by summing precisions ``P``, precision-
    weighted means and log-constants; integrating the group's own effect r ~ N(0, s^2) gives
    ``P' = P / (1 + P s^2)`` and ``A' = A - log1p(P s^2) / 2``. At the top the offset is 0.
    """
    n = resid.shape[0]
    prec_row = 1.0 / pt.sqr(sigma)
    P = pt.ones(n) * prec_row  # noqa: N806
    S = resid * prec_row  # noqa: N806  precision-weighted sum
    Q = pt.sqr(resid) * prec_row  # noqa: N806
    A = -0.5 * (LOG_2PI + 2 * pt.log(sigma)) * pt.ones(n)  # noqa: N806
    for (index, n_groups), sd in zip(levels, sds, strict=True):
        Pg = pt.inc_subtensor(pt.zeros(n_groups)[index], P)  # noqa: N806
        Sg = pt.inc_subtensor(pt.zeros(n_groups)[index], S)  # noqa: N806
        Qg = pt.inc_subtensor(pt.zeros(n_groups)[index], Q)  # noqa: N806
        Ag = pt.inc_subtensor(pt.zeros(n_groups)[index], A)  # noqa: N806
        mg = Sg / Pg
        Ag = Ag - 0.5 * (Qg - Sg * mg)  # noqa: N806
        shrink = 1.0 + Pg * pt.sqr(sd)
        A = Ag - 0.5 * pt.log(shrink)  # noqa: N806
        P = Pg / shrink  # noqa: N806
        S = P * mg  # noqa: N806
        Q = S * mg  # noqa: N806
    return pt.sum(A - 0.5 * Q)


def _loglik(ll):
    """Add the model's log-likelihood (a Potential) and keep its value per draw as
    ``loglik_total`` (a deterministic: a check of the likelihood code and a convergence
    diagnostic of its own)."""
    pm.Potential("loglik", ll)
    pm.Deterministic("loglik_total", ll)


# --------------------------------------------------------------------------------------------
# priors
# --------------------------------------------------------------------------------------------
def _params(prior: PriorDist) -> dict[str, np.float64]:
    """A prior's parameters as float64 numbers: PyTensor turns a Python float that float32
    can hold (2.5, 0.75) into a float32 constant, and PyMC then computes normalising constants
    such as log(sigma) in float32 (about 1e-8 relative error in the log-density)."""
    return {k: np.float64(v) for k, v in prior.params.items()}


_ZERO = np.float64(0.0)
_ONE = np.float64(1.0)


def _rv(name: str, priors: list[PriorDist] | PriorDist, dims=None, **kwargs):
    """A random variable from one prior, or a vector of same-family priors (one per element),
    every parameter a float64 constant (:func:`_params`)."""
    if isinstance(priors, PriorDist):
        prior = priors
        params = _params(prior)
        if prior.dist == "Dirichlet":
            raise InputError("internal: use _dirichlet")  # pragma: no cover
        return getattr(pm, prior.dist)(name, **params, dims=dims, **kwargs)
    dists = {p.dist for p in priors}
    if len(dists) > 1:
        raise InputError(
            f"the coefficients of {name} must share one prior distribution family; the prior "
            f"set gives {', '.join(sorted(dists))} (check its [coef] entries)"
        )
    (dist,) = dists
    params = {k: np.array([p.params[k] for p in priors], dtype=np.float64)
              for k in priors[0].params}
    return getattr(pm, dist)(name, **params, dims=dims, **kwargs)


#: Half distributions whose symmetric twin can be sampled as a signed SD (see :func:`_sd_rv`).
_SIGNED = {"HalfNormal": "Normal", "HalfStudentT": "StudentT", "HalfCauchy": "Cauchy",
           "Exponential": "Laplace"}


def _sd_rv(name: str, prior: PriorDist, *, signed: bool, with_scale: bool = False):
    """A group standard deviation.

    With ``signed=True`` (used where the likelihood depends on the SD only through its square:
    integrated-out levels) and a half-symmetric prior, a signed value ``u`` is sampled from the
    symmetric twin of the prior (HalfNormal(s) -> Normal(0, s), HalfStudentT -> StudentT,
    HalfCauchy -> Cauchy, Exponential(lam) -> Laplace(0, 1/lam)) and ``sd = |u|`` is a
    deterministic with exactly the prior asked for. The sampler then moves through sd = 0
    smoothly instead of down the long left tail of log(sd), which is what limits the effective
    sample size of weakly identified SDs on the log scale. In a non-centred level the effects
    are ``u * z``: the pair (u, z) and (-u, -z) give the same effects, so ``z`` and ``u`` have
    no meaningful sign and are left out of the convergence checks (``r`` and ``sd`` are in).
    With ``with_scale=True`` returns ``(sd, scale)``, the scale being ``u`` (or ``sd``).
    """
    if not signed or prior.dist not in _SIGNED:
        sd = _rv(name, prior)
        return (sd, sd) if with_scale else sd
    p = _params(prior)
    twin = _SIGNED[prior.dist]
    if prior.dist == "Exponential":
        u = pm.Laplace(f"{name}_signed", mu=_ZERO, b=_ONE / p["lam"])
    elif prior.dist == "HalfCauchy":
        u = pm.Cauchy(f"{name}_signed", alpha=_ZERO, beta=p["beta"])
    else:
        u = getattr(pm, twin)(f"{name}_signed", mu=_ZERO, **p)
    sd = pm.Deterministic(name, pt.abs(u))
    return (sd, u) if with_scale else sd


def _dirichlet(name: str, prior: PriorDist, n: int, dims: str):
    return pm.Dirichlet(name, a=np.full(n, prior.params["a"], dtype=np.float64), dims=dims)


@dataclass
class _Effect:
    """One term's effect: a vector over the term's levels (first 0) or a slope."""

    term: Term
    per_level: object | None = None  # tensor (L,) for categorical / mo
    slope: object | None = None  # scalar tensor for numeric
    vector: object | None = None  # tensor (P,) for an interaction's columns

    def at(self, values):
        if self.per_level is not None:
            return self.per_level[values]
        if self.vector is not None:
            return pt.dot(values, self.vector)
        return self.slope * values


def _class(cls_b: str, t: Term, numeric: frozenset) -> str:
    """The prior class of a term's coefficients: ``<cls_b>_interaction`` for an interaction,
    ``<cls_b>_numeric`` for a numeric factor's slope, else ``cls_b``."""
    if ":" in t.column or t.kind == "interaction":
        return f"{cls_b}_interaction"
    if t.column in numeric:
        return f"{cls_b}_numeric"
    return cls_b


def _effects(terms: list[Term], priors: PriorSet, *, prefix: str, cls_b: str, cls_mo: str | None,
             coefs: dict, coef_prefix: str = "", numeric: frozenset = frozenset()
             ) -> list[_Effect]:
    """Create the coefficients of a list of terms, named ``<prefix><column>``."""
    out = []
    for t in terms:
        name = f"{prefix}{t.column}"
        if t.kind == "interaction":
            names = [coef_name(coef_prefix + t.column, lv) for lv in t.coef_levels]
            b = _rv(name, [priors.get(_class(cls_b, t, numeric), coef=n) for n in names],
                    dims=t.column)
            for n, lv in zip(names, t.coef_levels, strict=True):
                coefs[n] = (name, {t.column: lv})
            out.append(_Effect(t, vector=b))
        elif t.kind == "categorical":
            names = [coef_name(coef_prefix + t.column, lv) for lv in t.coef_levels]
            b = _rv(name, [priors.get(cls_b, coef=n) for n in names], dims=t.column)
            for n, lv in zip(names, t.coef_levels, strict=True):
                coefs[n] = (name, {t.column: lv})
            out.append(_Effect(t, per_level=pt.concatenate([pt.zeros(1), b])))
        elif t.kind == "mo":
            n = coef_prefix + t.column
            b = _rv(name, priors.get(cls_mo, coef=n))
            d = len(t.levels) - 1
            zeta_name = f"zeta_{t.column}" if prefix == "b_" else f"{prefix}zeta_{t.column}"
            zeta = _dirichlet(zeta_name, priors.get("zeta"), d, dims=f"{t.column}_step")
            coefs[n] = (name, {})
            out.append(_Effect(t, per_level=b * d * pt.concatenate([pt.zeros(1), pt.cumsum(zeta)])))
        else:
            n = coef_prefix + t.column
            b = _rv(name, priors.get(_class(cls_b, t, numeric), coef=n))
            coefs[n] = (name, {})
            out.append(_Effect(t, slope=b))
    return out


def _numeric_factors(md: ModelData) -> frozenset:
    """The study's numeric factors (their slopes have a prior class of their own)."""
    study = md.spec.the_study
    return frozenset(n for n, f in study.factors.items() if f.kind == "numeric")


def _term_data(t: Term, name: str):
    if t.kind in ("numeric", "interaction"):
        return pm.Data(name, np.nan_to_num(t.values, nan=0.0).astype(float))
    return pm.Data(name, np.maximum(t.values, 0).astype(np.int64))


def _group_effects(md: ModelData, priors: PriorSet, sd_cls: str, *, row_index=None):
    """Explicit group effects (centred, non-centred or partially centred); returns their sum
    per row."""
    total = 0.0
    for g in md.groups:
        idx = pm.Data(f"idx_{g.name}", g.index)
        total = total + _level_effects(g, priors, sd_cls)[idx]
    return total


def _block_effects(md: ModelData, priors: PriorSet, sd_cls: str):
    """The sum per row of a formula's sampled group blocks (:class:`GroupBlock`): every block
    non-centred, ``r = z @ (diag(sd) L)^T`` with ``L`` the Cholesky factor of the effects'
    correlation matrix (an LKJ prior, class ``cor``) where a block has two or more effects.

    Variables of block ``g``: ``sd_<g>`` (the intercepts' SD, class ``sd`` or
    ``latent_sd``), ``sd_<g>_slope`` (dims ``<g>_slope``: each slope's SD, class
    ``sd_slope``/``latent_sd_slope``), ``cor_<g>`` (dims ``<g>_pair``: the correlations of
    each pair of effects), ``r_<g>`` (dims ``(<g>, <g>_effect)``; ``(<g>,)`` for intercepts
    only). Sizes come from the model's coordinates and data containers, never from Python
    numbers.
    """
    total = 0.0
    for b in md.blocks:
        idx = pm.Data(f"idx_{b.name}", b.index)
        if b.intercept and not b.slopes:
            level = GroupLevel(b.name, b.levels, b.index, None, "non_centred")
            total = total + _level_effects(level, priors, sd_cls)[idx]
            continue
        design = pm.Data(f"design_{b.name}", b.design)
        r = _slope_block(b, priors, sd_cls)
        total = total + (r[idx] * design).sum(axis=1)
    return total


def _slope_block(b, priors: PriorSet, sd_cls: str):
    """Effects ``r_<g>`` (groups x effects) of one block with varying slopes."""
    eff_dim, slope_dim = f"{b.name}_effect", f"{b.name}_slope"
    slope_labels = b.labels[1:] if b.intercept else b.labels
    sd_priors = ([priors.get(sd_cls, group=b.name)] if b.intercept else []) + [
        priors.get(f"{sd_cls}_slope", group=b.name) for _ in slope_labels]
    dists = {p.dist for p in sd_priors}
    if len(dists) > 1:
        raise InputError(
            f"the group SDs of {b.name!r} (intercept and slopes, correlated) need one prior "
            f"family; the prior set gives {', '.join(sorted(dists))} for classes {sd_cls!r} and "
            f"{sd_cls + '_slope'!r}")
    (dist,) = dists
    params = {k: np.array([p.params[k] for p in sd_priors], dtype=np.float64)
              for k in sd_priors[0].params}
    q = len(b.labels)
    z = pm.Normal(f"z_{b.name}", _ZERO, _ONE, dims=(b.name, eff_dim))
    if q == 1:
        sd = getattr(pm, dist)(f"sd_{b.name}_slope", **params, dims=slope_dim)
        return pm.Deterministic(f"r_{b.name}", z * sd[None, :], dims=(b.name, eff_dim))
    eta = _params(priors.get("cor", group=b.name))["eta"]
    chol = pm.LKJCholeskyCov(f"chol_{b.name}", n=q, eta=eta,
                             sd_dist=getattr(pm, dist).dist(**params), compute_corr=False)
    lower = pm.math.expand_packed_triangular(q, chol, lower=True)
    sds = pt.sqrt(pt.sum(pt.sqr(lower), axis=1))
    corr = pt.dot(lower, lower.T) / (sds[:, None] * sds[None, :])
    rows, cols = np.triu_indices(q, k=1)
    pm.Deterministic(f"cor_{b.name}", corr[rows, cols], dims=f"{b.name}_pair")
    if b.intercept:
        pm.Deterministic(f"sd_{b.name}", sds[0])
        pm.Deterministic(f"sd_{b.name}_slope", sds[1:], dims=slope_dim)
    else:
        pm.Deterministic(f"sd_{b.name}_slope", sds, dims=slope_dim)
    return pm.Deterministic(f"r_{b.name}", pt.dot(z, lower.T), dims=(b.name, eff_dim))


def _level_effects(g, priors: PriorSet, sd_cls: str):
    """The effects ``r_<level>`` of one sampled level, in the level's parametrisation."""
    if g.parametrisation == "centred":
        sd = _rv(f"sd_{g.name}", priors.get(sd_cls, group=g.name))
        r = pm.Normal(f"r_{g.name}", _ZERO, sd, dims=g.name)
    elif g.parametrisation.startswith("partial:"):
        # partially non-centred (Papaspiliopoulos, Roberts & Skold 2007): with weight w,
        # z ~ Normal(0, sd**w) and r = sd**(1 - w) * z, so r ~ Normal(0, sd) exactly;
        # w = 1 is the centred form, w = 0 the non-centred one
        w = float(g.parametrisation.split(":", 1)[1])
        sd = _rv(f"sd_{g.name}", priors.get(sd_cls, group=g.name))
        z = pm.Normal(f"z_{g.name}", _ZERO, sd ** w, dims=g.name)
        r = pm.Deterministic(f"r_{g.name}", z * sd ** (1.0 - w), dims=g.name)
    else:
        sd, scale = _sd_rv(f"sd_{g.name}", priors.get(sd_cls, group=g.name),
                           signed=SIGNED_NONCENTRED, with_scale=True)
        z = pm.Normal(f"z_{g.name}", _ZERO, _ONE, dims=g.name)
        r = pm.Deterministic(f"r_{g.name}", z * scale, dims=g.name)
    return r



def _coords(md: ModelData) -> dict:
    """:func:`pyramid.models.coding.main_coords`, and those of interaction terms and of the
    other group terms (varying slopes, crossed groupings), which only the PyMC build has."""
    coords = main_coords(md)
    for t in md.terms:
        if t.kind == "interaction":
            coords[t.column] = t.coef_levels
    for b in md.blocks:
        coords[b.name] = [str(v) for v in b.levels]
        if b.slopes:
            coords[f"{b.name}_effect"] = list(b.labels)
            coords[f"{b.name}_slope"] = list(b.labels[1:] if b.intercept else b.labels)
            q = len(b.labels)
            rows, cols = np.triu_indices(q, k=1)
            coords[f"{b.name}_pair"] = [f"{b.labels[i]}~{b.labels[j]}"
                                        for i, j in zip(rows, cols, strict=True)]
    return coords


# --------------------------------------------------------------------------------------------
# families
# --------------------------------------------------------------------------------------------
def build(md: ModelData, priors: PriorSet) -> Built:
    """Build the PyMC model of a coded data set.

    Parameters
    ----------
    md : ModelData
        From :func:`pyramid.models.coding.prepare`.
    priors : PriorSet

    Returns
    -------
    Built
    """
    family = md.spec.family
    builders = {"gaussian": _gaussian, "cumulative_probit": _cumulative_probit, "path": _path}
    if family in builders:
        built = builders[family](md, priors)
        built.priors = priors
        return built
    raise InputError(f"unknown family {family!r}")  # pragma: no cover - specs checks it


def _gaussian(md: ModelData, priors: PriorSet) -> Built:
    coefs: dict = {}
    with pm.Model(coords=_coords(md)) as model:
        y = pm.Data("y", md.y)
        intercept = _rv("intercept", priors.get("intercept", coef="intercept"))
        coefs["intercept"] = ("intercept", {})
        effects = _effects(md.terms, priors, prefix="b_", cls_b="b", cls_mo="b_mo", coefs=coefs,
                           numeric=_numeric_factors(md))
        eta = intercept + sum(e.at(_term_data(e.term, f"x_{e.term.column}")) for e in effects)
        sigma = _rv("sigma", priors.get("sigma"))
        marginal = md.groups and md.groups[0].parametrisation == "marginal"
        if marginal:
            sds = [_sd_rv(f"sd_{g.name}", priors.get("sd", group=g.name), signed=True)
                   for g in md.groups]
            levels = []
            child = None
            for g in reversed(md.groups):
                if child is None:
                    index = pm.Data(f"idx_{g.name}", g.index)
                else:
                    index = pm.Data(f"parent_{child.name}", child.parent)
                levels.append((index, g.n))
                child = g
            ll = gaussian_marginal_logp(y - eta, sigma, levels, list(reversed(sds)))
            _loglik(ll)
        else:
            mu = eta + _group_effects(md, priors, "sd") + _block_effects(md, priors, "sd")
            _loglik(pm.logp(pm.Normal.dist(mu, sigma), y).sum())
    return Built(model, md, "skill", coefs)


def _cumulative_probit(md: ModelData, priors: PriorSet) -> Built:
    coefs: dict = {}
    k = len(md.categories)
    coords = _coords(md)
    coords["threshold"] = threshold_labels(list(md.categories))
    if md.spec.domain_effects:
        coords["domain"] = md.domains
    init_cuts = empirical_cuts(md.y, k)
    with pm.Model(coords=coords) as model:
        y = pm.Data("y", md.y)
        rating_row = pm.Data("rating_row", md.rating_row)
        effects = _effects(md.terms, priors, prefix="b_", cls_b="latent_b", cls_mo="latent_b_mo",
                           coefs=coefs, numeric=_numeric_factors(md))
        fixed_row = sum((e.at(_term_data(e.term, f"x_{e.term.column}")) for e in effects),
                        pt.zeros(1))
        # thresholds are sampled at the average covariate values (as brms does for an
        # intercept): the reported cutpoints, at the reference levels, are a shift of them by
        # the mean fixed part; this removes the strong posterior correlation between the
        # thresholds and the effects of rare reference levels (the Jacobian of a shift is 1)
        n_ratings = np.bincount(md.rating_row, minlength=md.n_rows)
        row_weight = pm.Data("row_weight", n_ratings / n_ratings.sum())
        mean_fixed = pt.sum(row_weight * fixed_row)
        # zeros_like(row_weight): one value per row even with no term or group
        eta_row = (fixed_row - mean_fixed + _group_effects(md, priors, "latent_sd")
                   + _block_effects(md, priors, "latent_sd")
                   + pt.zeros_like(row_weight))
        offset = rating_domain = None
        if md.spec.domain_effects:
            rating_domain = pm.Data("rating_domain", md.rating_domain)
            dp = priors.get("domain")
            offset = pm.ZeroSumNormal("delta", sigma=_params(dp)["sigma"], dims="domain")
        cp = priors.get("cutpoints")
        cuts_c = getattr(pm, cp.dist)(
            "cutpoints_centred", **_params(cp), dims="threshold",
            transform=pm.distributions.transforms.ordered, initval=init_cuts,
        )
        pm.Deterministic("cutpoints", cuts_c + mean_fixed, dims="threshold")
        for j, lab in enumerate(coords["threshold"]):
            coefs[f"kappa[{j + 1}]"] = ("cutpoints", {"threshold": lab})
        # one fused operation (pyramid.models.ordinal_op): the same stable log-CDF
        # differences as ordinal_logp, with the per-rating gather of the row's predictor and
        # the domain effect (and their gradients' sums) inside it
        _loglik(ordinal_logp_fused(y, eta_row, cuts_c, row=rating_row, offset=offset,
                                   domain=rating_domain).sum())
    return Built(model, md, "latent", coefs, initvals={"cutpoints_centred": init_cuts})


def _path(md: ModelData, priors: PriorSet) -> Built:
    """The path model: mediator at unit level (default) or row level."""
    if md.unit_index is not None:
        return _path_unit(md, priors)
    return _path_row(md, priors)


def _path_setup(md: ModelData, priors: PriorSet, coefs: dict, pat_terms, pat_weights):
    """Coefficients shared by both path variants, inside an open model context.

    Returns the skill-equation effects split into (other, mediator, exposure), sigma, the
    mediator per-pattern log-probabilities ``(U, C, K)`` and the exposure per-pattern
    log-probabilities ``(U, C)`` (zeros when there is no exposure equation), plus the pieces
    the derived effects need.
    """
    med, expo = md.mediator, md.exposure
    k_med = len(med.levels)
    med_name = med.column
    c_vals = np.array([0.0, 1.0]) if expo is not None else np.zeros(1)
    intercept = _rv("intercept", priors.get("intercept", coef="intercept"))
    coefs["intercept"] = ("intercept", {})
    effects = _effects(md.terms, priors, prefix="b_", cls_b="b", cls_mo="b_mo", coefs=coefs)
    sigma = _rv("sigma", priors.get("sigma"))
    e_med = next(e for e in effects if e.term.column == med_name)
    e_expo = next((e for e in effects if expo is not None and e.term.column == expo.column), None)
    others = [e for e in effects if e is not e_med and e is not e_expo]
    med_vec = e_med.per_level
    expo_contrib = (e_expo.slope * c_vals) if e_expo is not None else pt.zeros(len(c_vals))
    shift = expo_contrib[:, None] + med_vec[None, :]  # (C, K)

    m_effects = _effects(md.mediator_terms, priors, prefix=f"{med_name}_", cls_b="mediator_b",
                         cls_mo="mediator_b", coefs=coefs, coef_prefix=f"{med_name}_")
    pat_data = {t.column: _term_data(t, f"pattern_{t.column}") for t in pat_terms}
    m_base = pt.zeros_like(pat_weights)
    m_expo = None
    for e in m_effects:
        if expo is not None and e.term.column == expo.column:
            m_expo = e
        else:
            m_base = m_base + e.at(pat_data[e.term.column])
    mcp = priors.get("mediator_cutpoints")
    init_cuts = empirical_cuts(
        md.unit_mediator if md.unit_mediator is not None else med.values, k_med)
    thr = f"{med_name}_threshold"
    m_cuts = getattr(pm, mcp.dist)(
        f"{med_name}_cutpoints", **_params(mcp), dims=thr,
        transform=pm.distributions.transforms.ordered, initval=init_cuts,
    )
    for j, lab in enumerate(threshold_labels(list(med.levels))):
        coefs[f"{med_name}_cutpoints[{j + 1}]"] = (f"{med_name}_cutpoints", {thr: lab})
    g_expo = (m_expo.slope * c_vals) if m_expo is not None else pt.zeros(len(c_vals))
    m_eta = m_base[:, None] + g_expo[None, :]  # (U, C)
    ll_med = ordinal_logp_all(m_eta, m_cuts)  # (U, C, K)
    rate = None
    if expo is not None:
        ep = priors.get("exposure_rate")
        rate = getattr(pm, ep.dist)(f"{expo.column}_rate", **_params(ep),
                                    dims=f"{expo.column}_given")
        cell = 0
        for j, t in enumerate(md.exposure_terms):
            cell = cell + pt.cast(pat_data[t.column], "int64") * (2 ** j)
        p1 = rate[cell] if md.exposure_terms else pt.zeros_like(pat_weights) + rate[0]
        ll_expo = pt.stack([pt.log1p(-p1), pt.log(p1)], axis=1)  # (U, C)
    else:
        ll_expo = pt.zeros((1, 1))
    return dict(intercept=intercept, effects=effects, others=others, sigma=sigma, e_med=e_med,
                e_expo=e_expo, med_vec=med_vec, shift=shift, m_effects=m_effects, m_expo=m_expo,
                m_cuts=m_cuts, ll_med=ll_med, ll_expo=ll_expo, rate=rate, pat_data=pat_data,
                k_med=k_med, init_cuts=init_cuts, c_vals=c_vals)


def _path_coords(md: ModelData) -> dict:
    coords = _coords(md)
    med, expo = md.mediator, md.exposure
    coords[f"{med.column}_threshold"] = threshold_labels(list(med.levels))
    if expo is not None:
        coords[f"{expo.column}_given"] = [
            ",".join(f"{t.column}={(c >> j) & 1}" for j, t in enumerate(md.exposure_terms)) or "all"
            for c in range(2 ** len(md.exposure_terms))
        ]
    return coords


def _path_unit(md: ModelData, priors: PriorSet) -> Built:
    """Path model with one mediator / exposure value per unit.

    Given the unit's (exposure, mediator) value, its rows' skill scores are jointly Gaussian
    once the unit and worker effects are integrated out (nested Gaussian messages, as in
    :func:`gaussian_marginal_logp`); the value only shifts the mean of every row of the unit,
    so each unit's message is evaluated at C x K shifts and mixed with the unit's mediator
    and exposure probabilities (log-sum-exp). Levels outside the unit (authority) are sampled.
    """
    med, expo = md.mediator, md.exposure
    coefs: dict = {}
    coords = _path_coords(md)
    pat_index, pat_terms = md.path_patterns()
    n_pat = len(pat_terms[0].values) if pat_terms else 1
    row_pat = pat_index[md.unit_index]
    n_units = len(md.unit_ids)
    marginal = {g.name: g for g in md.groups if g.parametrisation == "marginal"}
    explicit = [g for g in md.groups if g.parametrisation != "marginal"]
    with pm.Model(coords=coords) as model:
        y = pm.Data("y", md.y)
        pattern = pm.Data("unit_pattern", pat_index)
        weights = pm.Data("pattern_weight", np.bincount(row_pat, minlength=n_pat) / md.n_rows)
        m = _path_setup(md, priors, coefs, pat_terms, weights)
        base = m["intercept"] + sum(
            (e.at(_term_data(e.term, f"x_{e.term.column}")) for e in m["others"]), pt.zeros(1))
        if explicit:
            sub = ModelData(spec=md.spec, frame=md.frame, y=md.y, terms=[], groups=explicit)
            base = base + _group_effects(sub, priors, "sd")
        resid = y - base
        # rows -> (workers) -> units
        prec = 1.0 / pt.sqr(m["sigma"])
        P = pt.ones_like(resid) * prec  # noqa: N806
        S = resid * prec  # noqa: N806
        Q = pt.sqr(resid) * prec  # noqa: N806
        A = -0.5 * (LOG_2PI + 2 * pt.log(m["sigma"])) * pt.ones_like(resid)  # noqa: N806
        to_unit = pm.Data("row_unit", md.unit_index)
        if "worker" in marginal:
            w = marginal["worker"]
            sd_w = _sd_rv("sd_worker", priors.get("sd", group="worker"), signed=True)
            idx = pm.Data("idx_worker", w.index)
            P, S, Q, A = _combine(idx, w.n, P, S, Q, A)  # noqa: N806
            P, S, Q, A = _integrate(sd_w, P, S, Q, A)  # noqa: N806
            worker_unit = np.zeros(w.n, dtype=np.int64)
            worker_unit[w.index] = md.unit_index
            to_unit = pm.Data("worker_unit", worker_unit)
        P, S, Q, A = _combine(to_unit, n_units, P, S, Q, A)  # noqa: N806
        if "unit" in marginal:
            sd_u = _sd_rv("sd_unit", priors.get("sd", group="unit"), signed=True)
            P, S, Q, A = _integrate(sd_u, P, S, Q, A)  # noqa: N806
        mean = S / P
        # log-likelihood of each unit's rows for each (c, k): message evaluated at the shift
        ll_units = (A - 0.5 * (Q - S * mean))[:, None, None] - 0.5 * P[:, None, None] * pt.sqr(
            m["shift"][None, :, :] - mean[:, None, None])
        ll_med = m["ll_med"][pattern]
        ll_expo = m["ll_expo"][pattern][:, :, None] if expo is not None else 0.0
        med_obs = pm.Data(f"{med.column}_code", md.unit_mediator)
        ks = pt.arange(len(med.levels))
        k_ok = pt.eq(med_obs[:, None], -1) | pt.eq(med_obs[:, None], ks[None, :])
        if expo is not None:
            expo_obs = pm.Data(f"{expo.column}_code", md.unit_exposure)
            c_ok = pt.eq(expo_obs[:, None], -1) | pt.eq(expo_obs[:, None], pt.arange(2)[None, :])
        else:
            c_ok = pt.ones((n_units, 1), dtype=bool)
        ok = c_ok[:, :, None] & k_ok[:, None, :]
        joint = pt.switch(ok, ll_units + ll_med + ll_expo, -np.inf)
        _loglik(pt.special.logsumexp(joint, axis=(1, 2)).sum())
        derived = _path_effects(md, pat_terms, m["pat_data"], weights, m["e_expo"], m["med_vec"],
                                m["m_effects"], m["m_expo"], m["m_cuts"], m["effects"], m["rate"],
                                m["k_med"])
    return Built(model, md, "skill", coefs, derived=derived,
                 initvals={f"{med.column}_cutpoints": m["init_cuts"]})


def _combine(index, n_groups, P, S, Q, A):  # noqa: N803
    """Combine child messages into their groups (segment sums)."""
    def seg(x):
        return pt.inc_subtensor(pt.zeros(n_groups)[index], x)
    return seg(P), seg(S), seg(Q), seg(A)


def _integrate(sd, P, S, Q, A):  # noqa: N803
    """Integrate each group's own Normal(0, sd) effect out of its message."""
    mean = S / P
    A = A - 0.5 * (Q - S * mean)  # noqa: N806
    shrink = 1.0 + P * pt.sqr(sd)
    A = A - 0.5 * pt.log(shrink)  # noqa: N806
    P = P / shrink  # noqa: N806
    S = P * mean  # noqa: N806
    return P, S, S * mean, A


def _path_row(md: ModelData, priors: PriorSet) -> Built:
    """The pyramid path model with missing mediator / exposure values integrated out per row.

    The mediator and exposure equations depend on the rows only through a few binary terms
    (clinician, csw), so they are evaluated once per *pattern* of those terms (sufficient
    statistics: at most 2^m patterns) and gathered to the rows by an integer index.
    """
    med, expo = md.mediator, md.exposure
    coefs: dict = {}
    coords = _coords(md)
    k_med = len(med.levels)
    med_name = med.column
    coords[f"{med_name}_threshold"] = threshold_labels(list(med.levels))
    n_cells = 2 ** len(md.exposure_terms) if expo is not None else 0
    if expo is not None:
        coords[f"{expo.column}_given"] = [
            ",".join(f"{t.column}={(c >> j) & 1}" for j, t in enumerate(md.exposure_terms)) or "all"
            for c in range(n_cells)
        ]
    pat_index, pat_terms = md.path_patterns()
    init_cuts = empirical_cuts(med.values, k_med)
    c_vals = np.array([0.0, 1.0]) if expo is not None else np.zeros(1)
    with pm.Model(coords=coords) as model:
        y = pm.Data("y", md.y)
        med_obs = pm.Data(f"{med_name}_code", med.values.astype(np.int64))
        pattern = pm.Data("pattern", pat_index)
        intercept = _rv("intercept", priors.get("intercept", coef="intercept"))
        coefs["intercept"] = ("intercept", {})
        effects = _effects(md.terms, priors, prefix="b_", cls_b="b", cls_mo="b_mo", coefs=coefs)
        sigma = _rv("sigma", priors.get("sigma"))

        # ---- skill equation, for every (exposure, mediator) value ----
        base = intercept + _group_effects(md, priors, "sd")
        e_med = e_expo = None
        for e in effects:
            if e.term.column == med_name:
                e_med = e
            elif expo is not None and e.term.column == expo.column:
                e_expo = e
            else:
                base = base + e.at(_term_data(e.term, f"x_{e.term.column}"))
        med_vec = e_med.per_level  # (K,)
        expo_contrib = (e_expo.slope * c_vals) if e_expo is not None else pt.zeros(len(c_vals))
        mu = base[:, None, None] + expo_contrib[None, :, None] + med_vec[None, None, :]
        ll_skill = pm.logp(pm.Normal.dist(mu, sigma), y[:, None, None])  # (N, C, K)

        # ---- mediator equation, per pattern ----
        m_effects = _effects(md.mediator_terms, priors, prefix=f"{med_name}_", cls_b="mediator_b",
                             cls_mo="mediator_b", coefs=coefs, coef_prefix=f"{med_name}_")
        pat_data = {t.column: _term_data(t, f"pattern_{t.column}") for t in pat_terms}
        n_pat = len(pat_terms[0].values) if pat_terms else 1
        weights = pm.Data("pattern_weight", np.bincount(pat_index, minlength=n_pat) / len(pat_index))
        m_base = pt.zeros_like(weights)
        m_expo = None
        for e in m_effects:
            if expo is not None and e.term.column == expo.column:
                m_expo = e
            else:
                m_base = m_base + e.at(pat_data[e.term.column])
        mcp = priors.get("mediator_cutpoints")
        m_cuts = getattr(pm, mcp.dist)(
            f"{med_name}_cutpoints", **_params(mcp), dims=f"{med_name}_threshold",
            transform=pm.distributions.transforms.ordered, initval=init_cuts,
        )
        for j, lab in enumerate(coords[f"{med_name}_threshold"]):
            coefs[f"{med_name}_cutpoints[{j + 1}]"] = (f"{med_name}_cutpoints",
                                                        {f"{med_name}_threshold": lab})
        g_expo = (m_expo.slope * c_vals) if m_expo is not None else pt.zeros(len(c_vals))
        m_eta = m_base[:, None] + g_expo[None, :]  # (U, C)
        ks = pt.as_tensor(np.arange(k_med))
        ll_med = ordinal_logp_all(m_eta, m_cuts)[pattern]  # (N, C, K)

        # ---- exposure equation, per pattern ----
        rate = None
        if expo is not None:
            ep = priors.get("exposure_rate")
            rate = getattr(pm, ep.dist)(f"{expo.column}_rate", **_params(ep),
                                        dims=f"{expo.column}_given")
            cell = 0
            for j, t in enumerate(md.exposure_terms):
                cell = cell + pt.cast(pat_data[t.column], "int64") * (2 ** j)
            p1 = rate[cell] if md.exposure_terms else pt.zeros_like(weights) + rate[0]
            ll_expo = pt.stack([pt.log1p(-p1), pt.log(p1)], axis=1)[pattern][:, :, None]
            expo_obs = pm.Data(f"{expo.column}_code",
                               np.where(expo.missing, -1, expo.values).astype(np.int64))
            c_ok = pt.eq(expo_obs[:, None], -1) | pt.eq(expo_obs[:, None], pt.arange(2)[None, :])
        else:
            ll_expo = pt.zeros((1, 1, 1))
            p1 = None
            c_ok = pt.ones((md.n_rows, 1), dtype=bool)
        k_ok = pt.eq(med_obs[:, None], -1) | pt.eq(med_obs[:, None], ks[None, :])
        ok = c_ok[:, :, None] & k_ok[:, None, :]
        joint = pt.switch(ok, ll_skill + ll_med + ll_expo, -np.inf)
        _loglik(pt.special.logsumexp(joint, axis=(1, 2)).sum())

        # ---- derived effects on skill ----
        derived = _path_effects(md, pat_terms, pat_data, weights, e_expo, med_vec, m_effects,
                                m_expo, m_cuts, effects, rate, k_med)
    return Built(model, md, "skill", coefs, derived=derived,
                 initvals={f"{med_name}_cutpoints": init_cuts})


def _mediator_probs(m_eta, m_cuts, k_med: int):
    """P(mediator = k) for each k, broadcasting ``m_eta`` with a trailing K axis."""
    return pt.exp(ordinal_logp_all(m_eta, m_cuts))


def _path_effects(md, pat_terms, pat_data, weights, e_expo, med_vec, m_effects, m_expo, m_cuts,
                  effects, rate, k_med):
    """Direct, indirect (through the mediator) and total effects, averaged over the rows.

    For the exposure x (clinician): direct = its skill coefficient; indirect = the change in
    the expected mediator effect when x goes from 0 to 1; total = their sum. For another
    binary term t of the mediator equation (csw): total = the change in expected skill when t
    goes from 0 to 1, through the exposure (its probability given t) and the mediator; direct =
    t's own skill coefficient (0 when t is not a skill term); indirect = total - direct.
    Averages are over the model's rows (their patterns), i.e. average causal effects in this
    sample.
    """
    names = []
    expo = md.exposure
    g = m_expo.slope if m_expo is not None else 0.0
    b_c = e_expo.slope if e_expo is not None else pt.as_tensor(0.0)
    skill_terms = {e.term.column: e for e in effects}

    def m_base_with(col=None, value=None):
        out = pt.zeros_like(weights)
        for e in m_effects:
            if e is m_expo:
                continue
            x = pat_data[e.term.column]
            if e.term.column == col:
                x = pt.ones_like(weights) * value
            out = out + e.at(x)
        return out

    def expected_mediator(m_eta):
        return (_mediator_probs(m_eta, m_cuts, k_med) * med_vec[None, :]).sum(axis=-1)

    if expo is not None:
        m_base = m_base_with()
        indirect = pt.sum(weights * (expected_mediator(m_base + g) - expected_mediator(m_base)))
        col = expo.column
        pm.Deterministic(f"direct_{col}", b_c)
        pm.Deterministic(f"indirect_{col}", indirect)
        pm.Deterministic(f"total_{col}", b_c + indirect)
        names += [f"direct_{col}", f"indirect_{col}", f"total_{col}"]

    for e in m_effects:
        t = e.term
        if e is m_expo or t.kind != "numeric":
            continue
        col = t.column
        vals = np.unique(t.values[~np.isnan(t.values)])
        if not np.isin(vals, [0.0, 1.0]).all():
            continue

        def expected(s, col=col):
            m_eta = m_base_with(col, s)
            if expo is not None:
                cell = 0
                for j, et in enumerate(md.exposure_terms):
                    x = pt.ones_like(weights) * s if et.column == col else pat_data[et.column]
                    cell = cell + pt.cast(x, "int64") * (2 ** j)
                pc1 = rate[cell] if md.exposure_terms else rate[0]
            else:
                pc1 = 0.0
            out = pc1 * (b_c + expected_mediator(m_eta + g)) + (1 - pc1) * expected_mediator(m_eta)
            if col in skill_terms:
                out = out + skill_terms[col].slope * s
            return out

        total = pt.sum(weights * (expected(1.0) - expected(0.0)))
        direct = skill_terms[col].slope if col in skill_terms else pt.as_tensor(0.0)
        pm.Deterministic(f"direct_{col}", direct)
        pm.Deterministic(f"indirect_{col}", total - direct)
        pm.Deterministic(f"total_{col}", total)
        names += [f"direct_{col}", f"indirect_{col}", f"total_{col}"]
    return names
