"""Simulate coded observations for any study, from the generative model written in its terms.

RSW 2017's simulator (:mod:`pyramid.data.simulate`) draws its factors the way the report's
sample was made up (CSW-led units, the discussion equation of the path model). A study of
one's own has no such structure to copy, so its simulator is the shared generative model of
docs/architecture.md with the study's factors, scale and domains in place of RSW's. For
observation *i* of worker *w* in unit *u* in authority *a*::

    eta_i  = intercept + sum_f b_f(x_fi) + r_a + r_u + r_w
    s_i    = eta_i + r_obs_i
    z_id   = s_i + delta_d + e_id                 e ~ Normal(0, sigma_domain)
    y_id   = min + #{k : z_id > tau_k}            tau_k = min + k - 1/2, k = 1 .. max - min
    overall_i = mean of the available y_id over the analysed domains

where ``b_f(x)`` is, for a categorical or ordered factor, the effect of the row's level
against the reference (``f[level]``); for a binary factor or a derived 0/1 indicator ``f * x``;
for a numeric factor ``f * (x - centre) / scale`` (the study's centring and scaling, so an
effect is per ``scale`` units, as the models estimate it). An ordered factor may instead be
given one effect ``f``, the average step between adjacent levels (brms's monotonic
coefficient, split evenly). Effects are in score points on the study's scale.

Each factor is drawn at the level it is measured at (``at``: row, worker or unit): a
categorical factor uniformly over its levels unless the mix says otherwise, a binary one with
probability 1/2, a numeric one Normal(mean, sd) with mean the study's ``centre`` (the midpoint
of ``min``/``max`` when the centre is ``"mean"``, else 0) and sd its ``scale``, kept within
``min``/``max``. A wave factor drawn per row gives, with two observations per worker, about
half the workers seen at both waves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pyramid.checks import resolve_seed
from pyramid.data.simulate import Layout, Simulation, nested_ids
from pyramid.errors import InputError
from pyramid.study import Factor, Study, load_study, normalise

__all__ = [
    "simulate_study",
    "study_effect_names",
    "study_default_effects",
    "study_default_group_sds",
    "study_default_mix",
    "study_expected_skill",
]

#: RSW 2017's default group SDs on its 1-5 scale (:func:`pyramid.data.simulate.default_group_sds`),
#: scaled by (max - min) / 4 for another scale.
_GROUP_SDS = {"sd_authority": 0.10, "sd_unit": 0.15, "sd_worker": 0.20,
              "sd_observation": 0.15, "sigma_domain": 0.50}


def _scale_factor(study: Study) -> float:
    return (study.scale_max - study.scale_min) / 4.0


def study_effect_names(study: str | Study | None) -> list[str]:
    """The effects a simulation of ``study`` takes, by name (the models' coefficient names).

    Examples
    --------
    >>> from pyramid.study import study_from_text
    >>> s = study_from_text('''
    ... name = "x"
    ... [ids]
    ... observation = "o"
    ... worker = "w"
    ... [scale]
    ... min = 1
    ... max = 7
    ... domains = ["a", "b"]
    ... [factors.model]
    ... kind = "categorical"
    ... levels = ["usual", "new"]
    ... [factors.caseload]
    ... kind = "numeric"
    ... ''')
    >>> study_effect_names(s)
    ['intercept', 'model[new]', 'caseload', 'delta[a]', 'delta[b]']
    """
    study = load_study(study)
    out = ["intercept"]
    for f in study.factors.values():
        if f.kind in ("categorical", "ordered"):
            out += [f"{f.name}[{lv}]" for lv in f.ordered_levels[1:]]
        else:
            out.append(f.name)
    out += list(study.derived)
    out += [f"delta[{d}]" for d in study.domain_names]
    return out


def study_default_effects(study: str | Study | None) -> dict[str, float]:
    """Every effect 0 and the intercept at the middle of the scale.

    Examples
    --------
    >>> study_default_effects("rsw2017")["intercept"]
    3.0
    """
    study = load_study(study)
    eff = dict.fromkeys(study_effect_names(study), 0.0)
    eff["intercept"] = (study.scale_min + study.scale_max) / 2.0
    return eff


def study_default_group_sds(study: str | Study | None) -> dict[str, float]:
    """RSW 2017's default group SDs, scaled by (max - min) / 4 (skill points of the study).

    Examples
    --------
    >>> study_default_group_sds("rsw2017")["sigma_domain"]
    0.5
    """
    k = _scale_factor(load_study(study))
    return {name: v * k for name, v in _GROUP_SDS.items()}


def study_default_mix(study: str | Study | None) -> dict[str, Any]:
    """The default way each factor is drawn: uniform levels, p = 1/2, Normal(centre, scale).

    Returns
    -------
    dict
        Factor -> ``{level: probability}`` (categorical, ordered), a probability of 1
        (binary) or ``{"mean": m, "sd": s}`` (numeric); and ``p_missing_domain`` (0).
    """
    study = load_study(study)
    out: dict[str, Any] = {}
    for f in study.factors.values():
        if f.kind in ("categorical", "ordered"):
            out[f.name] = dict.fromkeys(f.levels, 1.0 / len(f.levels))
        elif f.kind == "binary":
            out[f.name] = 0.5
        else:
            out[f.name] = {"mean": _numeric_mean(f), "sd": f.scale}
    out["p_missing_domain"] = 0.0
    return out


def _numeric_mean(f: Factor) -> float:
    if isinstance(f.centre, int | float):
        return float(f.centre)
    if f.min is not None and f.max is not None:
        return (f.min + f.max) / 2.0
    return f.min if f.min is not None else (f.max if f.max is not None else 0.0)


def _number(kind: str, name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{kind} {name} must be a number; got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{kind} {name} must be a finite number; got {value!r}")
    return v


def _resolve_effects(study: Study, effects: Mapping[str, Any] | None) -> dict[str, float]:
    eff = study_default_effects(study)
    if effects is None:
        return eff
    if not isinstance(effects, Mapping):
        raise InputError(f"effects must be a mapping of name -> value; got "
                         f"{type(effects).__name__}")
    names = study_effect_names(study)
    steps: dict[str, float] = {}
    for key, value in effects.items():
        name = _canonical_effect(study, str(key))
        if name in study.factors and study.factors[name].kind == "ordered":
            steps[name] = _number("effect", name, value)
            continue
        if name not in names:
            raise InputError(f"unknown effect {key!r} for study {study.name!r}; known effects: "
                             f"{', '.join(names)} (and an ordered factor's name for its "
                             "average step)")
        eff[name] = _number("effect", name, value)
    for name, step in steps.items():
        f = study.factors[name]
        for k, lv in enumerate(f.ordered_levels[1:], start=1):
            if f"{name}[{lv}]" in effects:
                raise InputError(f"effect {name!r} (the average step) and {name}[{lv}] both "
                                 "given; give one or the other")
            eff[f"{name}[{lv}]"] = step * k
    deltas = [eff[f"delta[{d}]"] for d in study.domain_names]
    if abs(sum(deltas)) > 1e-8:
        raise InputError(f"the domain shifts delta[...] must sum to zero (give all "
                         f"{len(deltas)}); got sum {sum(deltas):.6g}")
    return eff


def _canonical_effect(study: Study, key: str) -> str:
    """``model[Signs of Safety]`` -> ``model[signs_of_safety]``: any spelling of a level."""
    if "[" in key and key.endswith("]"):
        name, _, level = key[:-1].partition("[")
        f = study.factors.get(name)
        if f is not None and f.kind in ("categorical", "ordered"):
            lv = f.spellings.get(normalise(level))
            if lv is not None:
                return f"{name}[{lv}]"
        if name == "delta":
            for d in study.all_domains:
                if normalise(level) in (normalise(d.name), normalise(d.label)):
                    return f"delta[{d.name}]"
    return key


def _resolve_group_sds(study: Study, group_sds: Mapping[str, Any] | None) -> dict[str, float]:
    sds = study_default_group_sds(study)
    for key, value in dict(group_sds or {}).items():
        if key not in sds:
            raise InputError(f"unknown group SD {key!r}; known: {', '.join(sds)}")
        v = _number("group SD", key, value)
        if v < 0 or (key == "sigma_domain" and v == 0):
            raise InputError(f"group SD {key} must be {'> 0' if key == 'sigma_domain' else '>= 0'}"
                             f"; got {value!r}")
        sds[key] = v
    return sds


def _resolve_mix(study: Study, mix: Mapping[str, Any] | None) -> dict[str, Any]:
    out = study_default_mix(study)
    for key, value in dict(mix or {}).items():
        if key == "p_missing_domain":
            p = _number("mix", key, value)
            if not 0 <= p < 1:
                raise InputError(f"mix p_missing_domain must be in [0, 1); got {value!r}")
            out[key] = p
            continue
        f = study.factors.get(key)
        if f is None:
            raise InputError(f"unknown mix setting {key!r}; known: {', '.join(out)}")
        if f.kind in ("categorical", "ordered"):
            if not isinstance(value, Mapping):
                raise InputError(f"mix {key} must be a mapping of level -> probability over "
                                 f"{', '.join(f.levels)}; got {value!r}")
            probs = dict.fromkeys(f.levels, 0.0)
            for lv, p in value.items():
                level = f.spellings.get(normalise(lv))
                if level is None:
                    raise InputError(f"mix {key}: unknown level {lv!r}; allowed: "
                                     f"{', '.join(f.levels)}")
                probs[level] = _number("mix", f"{key}[{level}]", p)
                if probs[level] < 0:
                    raise InputError(f"mix {key}[{level}] must be >= 0; got {p!r}")
            if abs(sum(probs.values()) - 1.0) > 1e-8:
                raise InputError(f"mix {key} must sum to 1; got {probs}")
            out[key] = probs
        elif f.kind == "binary":
            p = _number("mix", key, value)
            if not 0 <= p <= 1:
                raise InputError(f"mix {key} must be a probability in [0, 1]; got {value!r}")
            out[key] = p
        else:
            if isinstance(value, Mapping):
                unknown = set(value) - {"mean", "sd"}
                if unknown:
                    raise InputError(f"mix {key} takes mean and sd; got {sorted(unknown)}")
                m = _number("mix", f"{key}[mean]", value.get("mean", out[key]["mean"]))
                s = _number("mix", f"{key}[sd]", value.get("sd", out[key]["sd"]))
            else:
                m, s = _number("mix", key, value), out[key]["sd"]
            if s < 0:
                raise InputError(f"mix {key} sd must be >= 0; got {s!r}")
            out[key] = {"mean": m, "sd": s}
    return out


def simulate_study(
    study: str | Study | None,
    design: Layout | Mapping[str, int] | Sequence[int],
    effects: Mapping[str, Any] | None = None,
    group_sds: Mapping[str, Any] | None = None,
    mix: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> Simulation:
    """Simulate a data set in a study's terms, with its truth.

    Parameters
    ----------
    study : str, Path or Study
        The study (its factors, scale, domains and roles).
    design : Layout, mapping or tuple
        Authorities x units per authority x workers per unit x observations per worker. A
        study without authorities (or units) gets no such column; their counts still multiply
        the units (workers).
    effects : mapping, optional
        True effects by name (:func:`study_effect_names`; any spelling of a level), in score
        points; unspecified effects are 0 and the intercept the middle of the scale.
    group_sds : mapping, optional
        ``sd_authority, sd_unit, sd_worker, sd_observation, sigma_domain``; default RSW 2017's,
        scaled to the study's scale.
    mix : mapping, optional
        How factors are drawn (:func:`study_default_mix`) and ``p_missing_domain``.
    seed : int, optional
        Random seed (drawn and recorded when None).

    Returns
    -------
    Simulation
        ``data`` is the study's canonical frame (ids ``A01``, ``A01-U02``, ...);
        ``truth`` holds the effects, ``tau[k]``, the group SDs, the mix (``mix:<factor>``,
        ``mix:<factor>[<level>]``), the latent-scale values
        (``latent:<effect>`` = effect / sigma_domain, ``latent:kappa[k]``, ``latent:sd_*``),
        for an ordered factor its average step and ``zeta_<factor>[k]``, and the realised
        group effects.

    Examples
    --------
    >>> from pyramid.study import study_from_text
    >>> s = study_from_text('''
    ... name = "x"
    ... [ids]
    ... observation = "o"
    ... worker = "w"
    ... unit = "u"
    ... [scale]
    ... min = 1
    ... max = 7
    ... domains = ["a", "b", "c"]
    ... [factors.model]
    ... kind = "categorical"
    ... levels = ["usual", "new"]
    ... at = "unit"
    ... ''')
    >>> sim = simulate_study(s, (1, 4, 3, 2), effects={"model[new]": 0.5}, seed=1)
    >>> list(sim.data.columns)
    ['observation', 'worker', 'unit', 'model', 'a', 'b', 'c', 'skill']
    >>> sim.truth["model[new]"], round(sim.truth["latent:model[new]"], 3)  # sigma_domain 0.75
    (0.5, 0.667)
    """
    study = load_study(study)
    design = Layout.coerce(design)
    eff = _resolve_effects(study, effects)
    sds = _resolve_group_sds(study, group_sds)
    mx = _resolve_mix(study, mix)
    seed = resolve_seed(seed, name="seed")
    rng = np.random.default_rng(seed)

    n_a, n_u, n_w, n_o = (design.authorities, design.n_units, design.n_workers,
                          design.n_observations)
    unit_auth = np.repeat(np.arange(n_a), design.units)
    worker_unit = np.repeat(np.arange(n_u), design.workers_per_unit)
    obs_worker = np.repeat(np.arange(n_w), design.observations)
    o_unit = worker_unit[obs_worker]
    o_auth = unit_auth[o_unit]
    index_at = {"row": np.arange(n_o), "worker": obs_worker, "unit": o_unit}
    size_at = {"row": n_o, "worker": n_w, "unit": n_u}

    values: dict[str, np.ndarray] = {}
    for f in study.factors.values():
        k = size_at[f.at]
        if f.kind in ("categorical", "ordered"):
            p = np.array([mx[f.name][lv] for lv in f.levels])
            drawn = rng.choice(len(f.levels), size=k, p=p / p.sum())
        elif f.kind == "binary":
            drawn = (rng.random(k) < mx[f.name]).astype(np.int64)
        else:
            drawn = rng.normal(mx[f.name]["mean"], mx[f.name]["sd"], k)
            if f.min is not None or f.max is not None:
                drawn = np.clip(drawn, f.min if f.min is not None else -np.inf,
                                f.max if f.max is not None else np.inf)
        values[f.name] = drawn[index_at[f.at]]

    r_a = rng.normal(0.0, sds["sd_authority"], n_a)
    r_u = rng.normal(0.0, sds["sd_unit"], n_u)
    r_w = rng.normal(0.0, sds["sd_worker"], n_w)
    r_o = rng.normal(0.0, sds["sd_observation"], n_o)
    if "authority" not in study.roles:
        r_a[:] = 0.0
    if "unit" not in study.roles:
        r_u[:] = 0.0

    wa = max(2, len(str(n_a)))
    auth_ids = nested_ids("A", n_a, wa)
    unit_ids = nested_ids("U", design.units, max(2, len(str(design.units))), auth_ids)
    worker_ids = nested_ids("W", design.workers_per_unit, max(1, len(str(design.workers_per_unit))), unit_ids)
    obs_ids = nested_ids("O", design.observations, max(1, len(str(design.observations))), worker_ids)
    ids = {"observation": obs_ids, "worker": worker_ids[obs_worker],
           "unit": unit_ids[o_unit], "authority": auth_ids[o_auth]}
    data = pd.DataFrame({r: pd.array(ids[r], dtype="str") for r in study.roles})
    dtypes = study.canonical_dtypes()
    for f in study.factors.values():
        v = values[f.name]
        if f.kind in ("categorical", "ordered"):
            data[f.name] = pd.Categorical.from_codes(v, dtype=dtypes[f.name])
        elif f.kind == "binary":
            data[f.name] = pd.array(v, dtype="Int8")
        else:
            data[f.name] = v.astype(float)

    eta = eff["intercept"] + _linear(study, eff, data) + r_a[o_auth] + r_u[o_unit] + r_w[
        obs_worker]
    s = eta + r_o
    tau = np.arange(1, study.scale_max - study.scale_min + 1) + study.scale_min - 0.5
    delta = np.array([eff[f"delta[{d}]"] for d in study.domain_names])
    nd = len(study.domains)
    z = s[:, None] + delta[None, :] + rng.normal(0.0, sds["sigma_domain"], (n_o, nd))
    y = study.scale_min + (z[:, :, None] > tau).sum(axis=2)
    missing = rng.random(y.shape) < mx["p_missing_domain"]
    for j, d in enumerate(study.domain_names):
        data[d] = pd.array(np.where(missing[:, j], 0, y[:, j]), dtype="Int8")
        data.loc[missing[:, j], d] = pd.NA
    for d in study.coded:
        data[d.name] = pd.array([pd.NA] * n_o, dtype="Int8")
    scores = np.where(missing, np.nan, y.astype(float))
    n_avail = (~missing).sum(axis=1)
    with np.errstate(invalid="ignore"):
        data[study.overall.name] = np.where(
            n_avail > 0, np.nansum(scores, axis=1) / np.maximum(n_avail, 1), np.nan)
    data = data[list(study.columns)]

    units = pd.DataFrame({"unit": pd.array(unit_ids, dtype="str"),
                          "authority": pd.array(auth_ids[unit_auth], dtype="str"),
                          "r_unit": r_u})
    latent = pd.DataFrame({"observation": pd.array(obs_ids, dtype="str"), "eta": eta, "s": s})
    realised = {
        "r_authority": pd.Series(r_a, index=pd.Index(auth_ids, dtype="str", name="authority")),
        "r_unit": pd.Series(r_u, index=pd.Index(unit_ids, dtype="str", name="unit")),
        "r_worker": pd.Series(r_w, index=pd.Index(worker_ids, dtype="str", name="worker")),
        "r_observation": pd.Series(r_o, index=pd.Index(obs_ids, dtype="str",
                                                       name="observation")),
    }
    truth = _truth(study, eff, sds, mx, tau, realised)
    return Simulation(data=data, truth=MappingProxyType(truth), layout=design, seed=seed,
                      units=units, latent=latent)


def _linear(study: Study, eff: Mapping[str, float], frame: pd.DataFrame) -> np.ndarray:
    """``sum_f b_f(x_f)`` for every row of a frame of the study's factors (no missing)."""
    out = np.zeros(len(frame))
    for f in study.factors.values():
        if f.name not in frame.columns:
            raise InputError(f"newdata needs column {f.name!r} (a factor of study "
                             f"{study.name!r}); got {list(frame.columns)}")
        col = frame[f.name]
        if col.isna().any():
            raise InputError(f"column {f.name!r} must not be missing here")
        if f.kind in ("categorical", "ordered"):
            b = {lv: eff.get(f"{f.name}[{lv}]", 0.0) for lv in f.levels}
            levels = col.astype(object).map(lambda v, f=f: f.spellings.get(normalise(v)))
            if levels.isna().any():
                bad = sorted(set(col[levels.isna()].astype(str)))
                raise InputError(f"column {f.name!r}: unknown level(s) {bad}; allowed: "
                                 f"{', '.join(f.levels)}")
            out += levels.map(b).to_numpy(dtype=float)
        elif f.kind == "binary":
            out += eff[f.name] * pd.to_numeric(col).to_numpy(dtype=float)
        else:
            centre = (f.centre if isinstance(f.centre, int | float)
                      else _numeric_mean(f))
            out += eff[f.name] * (pd.to_numeric(col).to_numpy(dtype=float) - centre) / f.scale
    for name in study.derived:
        if eff.get(name, 0.0):
            out += eff[name] * study.derive(name, frame)
    return out


def _truth(study: Study, eff: dict[str, float], sds: dict[str, float], mx: dict[str, Any],
           tau: np.ndarray, realised: dict[str, pd.Series]) -> dict[str, Any]:
    sigma = sds["sigma_domain"]
    t: dict[str, Any] = {"study": study.name}
    t.update(eff)
    for f in study.factors.values():
        if f.kind == "ordered":
            lv = f.ordered_levels
            d = len(lv) - 1
            cum = np.array([eff[f"{f.name}[{x}]"] for x in lv[1:]])
            steps = np.diff(np.concatenate([[0.0], cum]))
            t[f.name] = float(cum[-1] / d)
            total = steps.sum()
            for k, st in enumerate(steps, start=1):
                t[f"zeta_{f.name}[{k}]"] = float(st / total) if total else 1.0 / d
    for k, v in enumerate(tau, start=1):
        t[f"tau[{k}]"] = float(v)
    t.update(sds)
    for name, value in mx.items():  # "mix:" keeps them apart from the effects' names
        if isinstance(value, Mapping):
            for k2, v in value.items():
                t[f"mix:{name}[{k2}]"] = float(v)
        else:
            t[f"mix:{name}"] = float(value)
    for name in list(eff):
        if name != "intercept":
            t[f"latent:{name}"] = eff[name] / sigma
    for f in study.factors.values():
        if f.kind == "ordered":
            t[f"latent:{f.name}"] = t[f.name] / sigma
            for k in range(1, len(f.levels)):
                t[f"latent:zeta_{f.name}[{k}]"] = t[f"zeta_{f.name}[{k}]"]
    for k, v in enumerate(tau, start=1):
        t[f"latent:kappa[{k}]"] = (float(v) - eff["intercept"]) / sigma
    for name in ("sd_authority", "sd_unit", "sd_worker", "sd_observation"):
        t[f"latent:{name}"] = sds[name] / sigma
    t.update(realised)
    for name, series in realised.items():
        t[f"latent:{name}"] = series / sigma
    return t


def study_expected_skill(study: str | Study | None, truth: Simulation | Mapping[str, Any],
                         newdata: pd.DataFrame, *, integrate_groups: bool = False) -> pd.Series:
    """Expected overall score implied by a study's generative model for each row of
    ``newdata`` (every factor given), group effects at zero (or integrated with
    ``integrate_groups``).

    ``E[y_d | eta] = min + sum_k Phi((eta + delta_d - tau_k) / sqrt(sd_observation^2 +
    sigma_domain^2))``, averaged over the analysed domains.

    Examples
    --------
    >>> from pyramid.study import study_from_text
    >>> s = study_from_text('''
    ... name = "x"
    ... [ids]
    ... observation = "o"
    ... worker = "w"
    ... [scale]
    ... min = 1
    ... max = 7
    ... domains = ["a"]
    ... [factors.new]
    ... kind = "binary"
    ... ''')
    >>> sim = simulate_study(s, (1, 1, 4, 1), effects={"new": 1.0}, seed=2)
    >>> e = study_expected_skill(s, sim, pd.DataFrame({"new": [0, 1]}))
    >>> round(float(e.iloc[1] - e.iloc[0]), 2)
    1.0
    """
    study = load_study(study)
    if isinstance(truth, Simulation):
        truth = truth.truth
    if not isinstance(newdata, pd.DataFrame):
        raise InputError(f"newdata must be a pandas DataFrame; got {type(newdata).__name__}")
    eff = {n: float(truth[n]) for n in study_effect_names(study) if n in truth}
    eta = eff["intercept"] + _linear(study, eff, newdata)
    var = float(truth["sd_observation"]) ** 2 + float(truth["sigma_domain"]) ** 2
    if integrate_groups:
        var += sum(float(truth[n]) ** 2 for n in ("sd_authority", "sd_unit", "sd_worker"))
    tau = np.array([truth[f"tau[{k}]"] for k in range(1, study.scale_max - study.scale_min + 1)])
    delta = np.array([eff.get(f"delta[{d}]", 0.0) for d in study.domain_names])
    x = eta[:, None, None] + delta[None, :, None] - tau[None, None, :]
    m = study.scale_min + stats.norm.cdf(x / math.sqrt(var)).sum(axis=-1).mean(axis=-1)
    return pd.Series(m, index=newdata.index, name="expected_skill")
