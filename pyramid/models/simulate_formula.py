"""Simulate data from a formula's own model with known coefficients.

:func:`simulate_formula` draws a study's covariates and nesting
(:func:`pyramid.data.simulate_study.simulate_study`: every factor at the level it is measured
at), codes them exactly as a fit of the formula would (:func:`pyramid.models.coding.prepare`),
and draws the outcome from the formula's model given the coefficients asked for
(:func:`pyramid.models.generated.predictive`): ``y = intercept + X b + Z r + e`` for a
gaussian formula, the cumulative probit of ``X b + Z r`` for ``cumulative_probit``. Group
effects are drawn from Normal(0, SD), and a block of varying intercepts and slopes from a
multivariate normal with the SDs and correlations asked for. The truth carries every value
under the name a fit's ``coefs()`` uses (``wave:model[follow_up,sos]``; ``latent:`` prefixed
for the cumulative probit), so a recovery check or a design analysis compares like with like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pyramid.checks import resolve_seed
from pyramid.data.simulate import Layout, Simulation
from pyramid.data.simulate_study import simulate_study
from pyramid.errors import InputError
from pyramid.models import generated
from pyramid.models.coding import ModelData, prepare
from pyramid.models.names import coef_name, truth_names
from pyramid.specs import ModelSpec, spec_from_formula
from pyramid.study import load_study

__all__ = ["simulate_formula"]


def _value(values: Mapping[str, float], name: str, default: float, used: set) -> float:
    if name in values:
        used.add(name)
        return float(values[name])
    return float(default)


def _fixed_draws(md: ModelData, coefs: Mapping[str, float], used: set,
                 truth: dict[str, float], pre: str) -> dict[str, np.ndarray]:
    draws: dict[str, np.ndarray] = {}
    for t in md.terms:
        name = f"b_{t.column}"
        if t.kind in ("categorical", "interaction"):
            vals = [_value(coefs, coef_name(t.column, lv), 0.0, used) for lv in t.coef_levels]
            draws[name] = np.asarray(vals)[None]
            for lv, v in zip(t.coef_levels, vals, strict=True):
                truth[pre + coef_name(t.column, lv)] = v
        elif t.kind == "mo":
            b = _value(coefs, t.column, 0.0, used)
            d = len(t.levels) - 1
            zeta = np.array([_value(coefs, f"zeta_{t.column}[{k}]", 1.0 / d, used)
                             for k in range(1, d + 1)])
            if np.any(zeta < 0) or not np.isclose(zeta.sum(), 1.0):
                raise InputError(f"zeta_{t.column}[1..{d}] must be a simplex (>= 0, summing to "
                                 f"1); got {zeta.tolist()}")
            draws[name] = np.array([b])
            draws[f"zeta_{t.column}"] = zeta[None]
            truth[pre + t.column] = b
            for k, z in enumerate(zeta, start=1):
                truth[f"{pre}zeta_{t.column}[{k}]"] = float(z)
        else:
            b = _value(coefs, t.column, 0.0, used)
            draws[name] = np.array([b])
            truth[pre + t.column] = b
    return draws


def _correlation(block, correlations: Mapping[str, float], used: set) -> np.ndarray:
    q = len(block.labels)
    corr = np.eye(q)
    for i in range(q):
        for j in range(i + 1, q):
            key = f"cor_{block.name}[{block.labels[i]}~{block.labels[j]}]"
            corr[i, j] = corr[j, i] = _value(correlations, key, 0.0, used)
    if np.linalg.eigvalsh(corr).min() <= 0:
        raise InputError(f"the correlations of {block.name!r} do not make a positive definite "
                         f"matrix: {corr.round(3).tolist()}")
    return corr


def _group_draws(md: ModelData, sds: Mapping[str, float], correlations: Mapping[str, float],
                 default_sd: float, rng: np.random.Generator, used: set,
                 truth: dict[str, Any], pre: str) -> dict[str, np.ndarray]:
    draws: dict[str, np.ndarray] = {}
    for g in md.groups:
        sd = _value(sds, f"sd_{g.name}", default_sd, used)
        r = rng.normal(0.0, sd, g.n)
        draws[f"sd_{g.name}"] = np.array([sd])
        draws[f"r_{g.name}"] = r[None]
        truth[f"{pre}sd_{g.name}"] = sd
        truth[f"r_{g.name}"] = pd.Series(r, index=pd.Index(g.levels, name=g.name))
    for b in md.blocks:
        slopes = b.labels[1:] if b.intercept else b.labels
        sd = ([_value(sds, f"sd_{b.name}", default_sd, used)] if b.intercept else []) + [
            _value(sds, f"sd_{b.name}[{lab}]", default_sd / 2, used) for lab in slopes]
        sd = np.asarray(sd)
        corr = _correlation(b, correlations, used)
        r = rng.multivariate_normal(np.zeros(len(sd)), corr * np.outer(sd, sd), size=b.n)
        if b.intercept:
            truth[f"{pre}sd_{b.name}"] = float(sd[0])
        for lab, s in zip(slopes, sd[len(sd) - len(slopes):], strict=True):
            truth[f"{pre}sd_{b.name}[{lab}]"] = float(s)
        q = len(b.labels)
        for i in range(q):
            for j in range(i + 1, q):
                truth[f"cor_{b.name}[{b.labels[i]}~{b.labels[j]}]"] = float(corr[i, j])
        draws[f"r_{b.name}"] = (r[:, 0] if not b.slopes else r)[None]
        truth[f"r_{b.name}"] = pd.DataFrame(r, index=pd.Index(b.levels, name=b.name),
                                            columns=list(b.labels))
    return draws


def simulate_formula(
    formula: str,
    layout: Layout | Mapping[str, int] | Sequence[int],
    coefficients: Mapping[str, float] | None = None,
    *,
    study: Any = None,
    family: str | None = None,
    group_sds: Mapping[str, float] | None = None,
    correlations: Mapping[str, float] | None = None,
    sigma: float | None = None,
    cutpoints: Sequence[float] | None = None,
    mix: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> Simulation:
    """Simulate a data set from a formula's model with known coefficients.

    Parameters
    ----------
    formula : str
        A brms-style formula over the study's factors (:mod:`pyramid.formula`).
    layout : Layout, mapping or tuple
        Authorities x units per authority x workers per unit x observations per worker.
    coefficients : mapping, optional
        True values by the names a fit's ``coefs()`` uses, without the ``latent:`` prefix:
        ``intercept`` (gaussian; default the middle of the study's scale), ``wave[follow_up]``,
        ``wave:model[follow_up,sos]``, ``caseload`` (per the study's scale units),
        ``discussion`` and ``zeta_discussion[k]`` for ``mo()``; unnamed ones are 0. For a
        cumulative probit they are on its probit scale.
    study : str, Path or Study, optional
        Default ``rsw2017``.
    family : {"gaussian", "cumulative_probit"}, optional
        Default from the formula's outcome.
    group_sds : mapping, optional
        ``sd_<group>`` (intercepts) and ``sd_<group>[<slope>]`` (a varying slope, e.g.
        ``sd_worker[wave[follow_up]]``). Default 0.2 x (max - min) / 4 score points for the
        intercepts (0.3 on the probit scale), half that for slopes.
    correlations : mapping, optional
        ``cor_<group>[<effect>~<effect>]``, e.g. ``cor_worker[intercept~wave[follow_up]]``;
        default 0.
    sigma : float, optional
        Residual SD (gaussian); default 0.5 x (max - min) / 4.
    cutpoints : sequence of float, optional
        The K - 1 increasing thresholds (cumulative probit); default the normal quantiles
        that make the K categories equally likely at a linear predictor of 0.
    mix : mapping, optional
        How factors are drawn (:func:`pyramid.data.simulate_study.study_default_mix`).
    seed : int, optional

    Returns
    -------
    Simulation
        ``data``: the study's canonical frame with the outcome drawn from the model (gaussian:
        the overall score, the domains left missing; cumulative probit: the rated domains,
        the overall score their mean). ``truth``: every coefficient, SD, correlation,
        ``sigma`` or ``latent:kappa[k]``, and the realised group effects (``r_<group>``).

    Raises
    ------
    InputError
        A coefficient, SD or correlation named that the formula's model does not have (with
        the names it has), thresholds not increasing, correlations not positive definite.

    Examples
    --------
    >>> sim = simulate_formula("skill ~ training + clinician + (1 | unit)", (3, 3, 2, 2),
    ...                        {"intercept": 2.5, "training[programme]": 0.5}, seed=1)
    >>> sim.truth["training[programme]"], sim.truth["sd_unit"], len(sim.data)
    (0.5, 0.2, 36)
    """
    the_study = load_study(study)
    spec = spec_from_formula(formula, family, the_study)
    layout = Layout.coerce(layout)
    seed = resolve_seed(seed, name="seed")
    rng = np.random.default_rng([seed, 19])
    base = simulate_study(the_study, layout, mix=mix, seed=seed)
    frame = base.data.copy()
    md = prepare(spec, frame, warn=False)
    return _simulate(spec, md, coefficients or {}, group_sds or {}, correlations or {}, sigma,
                     cutpoints, rng, layout, seed)


def _simulate(spec: ModelSpec, md: ModelData, coefs: Mapping[str, float],
              sds: Mapping[str, float], correlations: Mapping[str, float], sigma: float | None,
              cutpoints: Sequence[float] | None, rng: np.random.Generator, layout: Layout,
              seed: int) -> Simulation:
    study = spec.the_study
    k = (study.scale_max - study.scale_min) / 4.0
    latent = spec.family == "cumulative_probit"
    pre = "latent:" if latent else ""
    used: set[str] = set()
    truth: dict[str, Any] = {"formula": spec.formula.text, "study": study.name}
    draws: dict[str, np.ndarray] = {}
    if not latent:
        draws["intercept"] = np.array([_value(coefs, "intercept",
                                              (study.scale_min + study.scale_max) / 2, used)])
        truth["intercept"] = float(draws["intercept"][0])
        s = float(0.5 * k if sigma is None else sigma)
        if not s > 0:
            raise InputError(f"sigma must be positive, got {sigma!r}")
        draws["sigma"] = np.array([s])
        truth["sigma"] = s
    draws.update(_fixed_draws(md, coefs, used, truth, pre))
    draws.update(_group_draws(md, sds, correlations, 0.3 if latent else 0.2 * k, rng, used,
                              truth, pre))
    if latent:
        n_cat = len(md.categories)
        cuts = (stats.norm.ppf(np.arange(1, n_cat) / n_cat) if cutpoints is None
                else np.asarray(cutpoints, dtype=float))
        if cuts.shape != (n_cat - 1,) or np.any(np.diff(cuts) <= 0):
            raise InputError(f"cutpoints must be {n_cat - 1} increasing numbers, got "
                             f"{np.asarray(cutpoints).tolist()}")
        draws["cutpoints"] = cuts[None]
        for j, c in enumerate(cuts, start=1):
            truth[f"latent:kappa[{j}]"] = float(c)
        if spec.domain_effects:
            delta = np.array([_value(coefs, f"delta[{d}]", 0.0, used) for d in md.domains])
            if abs(delta.sum()) > 1e-9:
                raise InputError(f"the domain effects must sum to 0, got {delta.tolist()}")
            draws["delta"] = delta[None]
            for d, v in zip(md.domains, delta, strict=True):
                truth[f"latent:delta[{d}]"] = float(v)
    unknown = sorted(set(coefs) - used) + sorted(set(sds) - used) + sorted(
        set(correlations) - used)
    if unknown:
        names = sorted(n.removeprefix("latent:") for n in truth_names(spec))
        raise InputError(f"simulate_formula: {', '.join(map(repr, unknown))} is not a "
                         f"parameter of {spec.formula.text!r}; it has {', '.join(names)}")
    rep = generated.predictive(md, draws, rng, condition_latent=False)
    data = md.frame.copy()
    domains = list(study.domain_names)
    if not latent:
        data[spec.outcome] = rep["skill"][0]
        if spec.outcome == study.overall.name:
            for d in domains:
                data[d] = pd.array([pd.NA] * len(data), dtype="Int8")
    else:
        ratings = np.asarray(rep["ratings"][0], dtype=int) - 1 + study.scale_min
        grid = np.full((len(data), len(md.domains)), np.nan)
        grid[md.rating_row, md.rating_domain] = ratings
        for j, d in enumerate(md.domains):
            col = pd.array(np.where(np.isnan(grid[:, j]), 0, grid[:, j]).astype(int),
                           dtype="Int8")
            col[np.isnan(grid[:, j])] = pd.NA
            data[d] = col
        rated = [d for d in domains if d in md.domains]
        with np.errstate(invalid="ignore"):
            data[study.overall.name] = data[rated].astype(float).mean(axis=1)
    return Simulation(data=data, truth=MappingProxyType(truth), layout=layout, seed=seed,
                      units=pd.DataFrame(), latent=pd.DataFrame())
