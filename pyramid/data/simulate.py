"""Simulate coded observations of practice from the shared generative model.

The simulator draws data sets, with known true values, from exactly the model written down in
``docs/architecture.md`` ("The shared generative model"); pyramid's models estimate its
parameters, and the recovery tests, the calibration and the design analysis compare the two.
For observation *i* of worker *w* in unit *u* in authority *a*::

    eta_i   = alpha + b_training[training_i] + b_clinician * clinician_u
              + b_discussion * D * sum_{j <= discussion_u} zeta_j + r_a + r_u + r_w
    s_i     = eta_i + r_obs_i
    z_id    = s_i + delta_d + e_id,     e_id ~ Normal(0, sigma_domain)
    y_id    = 1 + #{k : z_id > tau_k},  tau = (1.5, 2.5, 3.5, 4.5)
    skill_i = mean of the available y_id over the five analysed domains

with ``r_a ~ Normal(0, sd_authority)``, ``r_u ~ Normal(0, sd_unit)``, ``r_w ~ Normal(0,
sd_worker)``, ``r_obs ~ Normal(0, sd_observation)`` and ``D = 2`` (three discussion levels).

The factors are drawn as follows (the *mix*):

* exactly ``p_csw`` times the number of units (rounded half up), chosen at random, are led by
  a consultant social worker (CSW) on the MLA development programme (a planned share, not a
  random one); their rows get the group label ``rsw``, the others ``usual``;
* each worker's training is drawn from ``training_csw`` in CSW units and ``training_usual``
  elsewhere (``programme`` only occurs in CSW units);
* clinician presence is a property of the unit: Bernoulli with ``p_clinician_csw`` or
  ``p_clinician_usual``;
* the quality of the unit's case discussion follows the ordinal probit of the path model,
  ``P(discussion <= k) = Phi(c_k - (g_clinician * clinician + g_csw * csw))``;
* the unit's discussion and clinician presence are *observed* (present in the data) for each
  unit with probability ``discussion_observed``; they act on skill whether observed or not;
* each domain score is missing, at random, with probability ``p_missing_domain``.

Effects are in skill points on the 1-5 scale unless marked latent. The names below are the
public vocabulary (``simulate(effects=...)``, ``pyramid simulate --effect NAME=VALUE`` and,
later, ``pyramid design``):

======================== ========= ==========================================================
name                     alias     meaning
======================== ========= ==========================================================
``intercept``            alpha     expected latent skill with no training, no clinician,
                                   non-systemic discussion and group effects at zero
``training[other]``      other     other systemic training vs none
``training[mla]``        mla       previous MLA systemic training vs none
``training[programme]``  programme on the MLA CSW development programme vs none
``clinician``                      clinician present at the unit's case discussion
``discussion``                     brms monotonic coefficient: the *average* difference between
                                   adjacent discussion levels (systemic vs non-systemic = 2b)
``zeta``                           simplex of length 2 splitting ``2 * discussion`` between the
                                   two steps (non-systemic -> green shoots -> systemic)
``discussion_clinician`` g_clin    latent probit coefficient of clinician in the discussion
                                   equation of the path model
``discussion_csw``       g_csw     latent probit coefficient of a CSW-led unit in the
                                   discussion equation
``discussion_cutpoints``           the two increasing latent cutpoints ``c_1 < c_2`` of the
                                   discussion equation
``delta[<domain>]``                domain shift of each analysed domain (the five sum to zero)
======================== ========= ==========================================================

The defaults (:func:`default_effects`, :func:`default_group_sds`, :func:`default_mix`) are
roughly the report's estimates and shares, computed from :mod:`pyramid.data.published`; the
``"null"`` preset sets every effect to zero.

Where the model is nonlinear: a coefficient is a shift of the latent skill ``s``; the expected
*score* moves by less near the ends of the 1-5 scale, because scores are whole numbers between
1 and 5. :func:`expected_skill` gives the expected overall skill a covariate setting implies,
integrating the latent noise exactly, so that a true effect can be stated on the skill scale.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from pyramid.checks import positive_int, resolve_seed
from pyramid.data import published
from pyramid.data.published import crosstab_counts, report_regression
from pyramid.data.schema import (
    ALL_DOMAINS,
    DISCUSSION_LEVELS,
    DOMAINS,
    EXTRA_DOMAINS,
    GROUP_LEVELS,
    TRAINING_LEVELS,
)
from pyramid.errors import InputError

__all__ = [
    "Layout",
    "LAYOUT_DIMS",
    "Simulation",
    "simulate",
    "expected_skill",
    "default_effects",
    "default_group_sds",
    "default_mix",
    "parse_assignments",
    "nested_ids",
    "EFFECT_NAMES",
    "EFFECT_ALIASES",
    "GROUP_SD_NAMES",
    "MIX_NAMES",
    "PRESETS",
    "TAU",
    "D",
]

#: Thresholds of the latent skill on the 1-5 score scale: ``y = 1 + #{k : z > tau_k}``.
TAU: tuple[float, ...] = (1.5, 2.5, 3.5, 4.5)

#: Number of steps of the monotonic discussion effect (three levels, two steps).
D: int = len(DISCUSSION_LEVELS) - 1

_TRAINING_EFFECTS = tuple(f"training[{lv}]" for lv in TRAINING_LEVELS[1:])
_DELTA_NAMES = tuple(f"delta[{d}]" for d in DOMAINS)

#: Canonical effect names, in the order of the truth table.
EFFECT_NAMES: tuple[str, ...] = (
    "intercept",
    *_TRAINING_EFFECTS,
    "clinician",
    "discussion",
    "zeta",
    "discussion_clinician",
    "discussion_csw",
    "discussion_cutpoints",
    *_DELTA_NAMES,
)

#: Short aliases accepted wherever an effect is named.
EFFECT_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "alpha": "intercept",
        **{lv: f"training[{lv}]" for lv in TRAINING_LEVELS[1:]},
        "g_clinician": "discussion_clinician",
        "g_csw": "discussion_csw",
    }
)

_VECTOR_EFFECTS = {"zeta": D, "discussion_cutpoints": D}

#: Names of the group standard deviations (skill points).
GROUP_SD_NAMES: tuple[str, ...] = (
    "sd_authority",
    "sd_unit",
    "sd_worker",
    "sd_observation",
    "sigma_domain",
)

#: Names of the factor-mix settings.
MIX_NAMES: tuple[str, ...] = (
    "p_csw",
    "training_csw",
    "training_usual",
    "p_clinician_csw",
    "p_clinician_usual",
    "discussion_observed",
    "p_missing_domain",
    "group_csw",
    "group_usual",
)

#: Effect presets: ``report`` (roughly the report's estimates) and ``null`` (all effects zero).
PRESETS: tuple[str, ...] = ("report", "null")

# The group standard deviations, in one place (skill points). The report publishes no variance
# components; these are chosen so that, with the default effects and mix, the simulated spread of
# scores is near the report's. Table 10 gives, in the comparison group, domain SDs of 0.73-0.93
# (mean variance ~0.70) and an overall-skill SD of 0.59 (variance ~0.35). With the domains of
# an observation independent given s: var(domain) ~ var(s) + sigma_domain^2 + 1/12 (rounding)
# and var(skill) ~ var(s) + (sigma_domain^2 + 1/12) / 5. Within that group the default factors
# (mostly the clinician) already give var(eta) ~ 0.26, which leaves little for the group
# effects: sigma_domain 0.5 and a random-effect SD of about 0.3 in all give domain SDs ~0.83 and
# a skill SD ~0.63. The split of the random variance between authorities, units, workers and
# occasions is an assumption (the report cannot separate them: nearly every worker was observed
# once). tests/test_simulate.py checks the resulting spread against Table 10.
_DEFAULT_GROUP_SDS: Mapping[str, float] = MappingProxyType(
    {
        "sd_authority": 0.10,
        "sd_unit": 0.15,
        "sd_worker": 0.20,
        "sd_observation": 0.15,
        "sigma_domain": 0.50,
    }
)

# Share of units with a clinician attached when the unit is led by a CSW: Part 1 of the report,
# "3 had clinicians, 2 did not" (of the five authorities' RSW units). Not a table cell, so it is
# written here with its source; p_clinician_usual is then derived from the crosstab.
_CLINICIAN_CSW_AUTHORITIES = (3, 5)


# ------------------------------------------------------------------------------------------
# defaults
# ------------------------------------------------------------------------------------------
def _t14(level: str, stat: str = "mean") -> float:
    return published.cell(14, level, stat)


def _t15(row: str, stat: str = "mean") -> float:
    return published.cell(15, row, stat)


@cache
def _discussion_equation_mle() -> tuple[float, float, float]:
    """Ordinal-probit MLE of discussion quality on clinician presence, from the Part 4 crosstab.

    Fits ``P(discussion <= k) = Phi(c_k - g * clinician)`` to the crosstab (22 discussions) by
    maximum likelihood (scipy.optimize, three parameters, deterministic); returns
    ``(c_1, c_2, g)``.
    """
    n, nc = crosstab_counts()
    counts = np.stack([n - nc, nc])  # [clinician, level]

    def nll(theta: np.ndarray) -> float:
        c1, log_gap, g = theta
        cuts = np.array([c1, c1 + math.exp(log_gap)])
        total = 0.0
        for clin in (0, 1):
            cdf = np.concatenate([[0.0], stats.norm.cdf(cuts - g * clin), [1.0]])
            p = np.clip(np.diff(cdf), 1e-300, None)
            total -= float(np.sum(counts[clin] * np.log(p)))
        return total

    fit = optimize.minimize(nll, x0=np.array([-0.5, 0.0, 1.0]), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    c1, log_gap, g = (float(v) for v in fit.x)
    return c1, c1 + math.exp(log_gap), g


def _group_mean(eff: Mapping[str, Any], sds: Mapping[str, float], mx: Mapping[str, Any],
                csw: int) -> float:
    """Expected mean skill of a group (csw 1: rsw, 0: usual) under the generative model."""
    truth = _truth(dict(eff), dict(sds), dict(mx), {})
    probs = mx["training_csw" if csw else "training_usual"]
    rows = pd.DataFrame({"training": list(TRAINING_LEVELS), "csw": csw})
    e = expected_skill(truth, rows, integrate_groups=True).to_numpy()
    return float(sum(probs[lv] * e[i] for i, lv in enumerate(TRAINING_LEVELS)))


@cache
def _effects(preset: str) -> tuple[tuple[str, Any], ...]:
    c1, c2, g_clin = _discussion_equation_mle()
    b_clin, b_disc = report_regression()
    eff: dict[str, Any] = {
        "intercept": 0.0,
        # Table 14: each level's mean minus that of no systemic training, to printed precision
        **{f"training[{lv}]": round(_t14(lv) - _t14("none"), 2) for lv in TRAINING_LEVELS[1:]},
        "clinician": round(b_clin, 2),
        "discussion": round(b_disc, 2),
        "zeta": (1.0 / D,) * D,
        "discussion_clinician": round(g_clin, 2),
        "discussion_csw": 0.0,
        "discussion_cutpoints": (round(c1, 2), round(c2, 2)),
        **dict.fromkeys(_DELTA_NAMES, 0.0),
    }
    if preset == "null":
        for name in (*_TRAINING_EFFECTS, "clinician", "discussion", "discussion_clinician",
                     "discussion_csw", *_DELTA_NAMES):
            eff[name] = 0.0
    # the intercept: the comparison group's expected mean skill is Table 10's
    target = published.cell(10, "skill", "mean", "usual")
    sds, mx = default_group_sds(), default_mix()

    def gap(alpha: float) -> float:
        return _group_mean({**eff, "intercept": alpha}, sds, mx, csw=0) - target

    eff["intercept"] = round(optimize.brentq(gap, -5.0, 10.0, xtol=1e-12), 2)
    return tuple(eff.items())


def default_effects(preset: str = "report") -> dict[str, Any]:
    """The default true effects, by canonical name.

    Parameters
    ----------
    preset : {"report", "null"}, default "report"
        ``"report"``: roughly the report's estimates, computed from its published tables (and
        rounded to two decimals):

        * ``training[level]``: Table 14, mean skill of the level minus that of no systemic
          training (0.21, 0.47, 1.06);
        * ``clinician`` (0.96) and ``discussion`` (0.17): the report tests the two on their own
          (Table 15: 1.12 and (3.43 - 2.35) / 2 = 0.54), but clinicians mostly attended the
          systemic discussions, so the two differences share most of their variation and their
          sum overstates the joint effect. The defaults are the least-squares coefficients of
          ``skill ~ clinician + discussion level`` computed exactly from Table 15's group means
          and the Part 4 crosstab (its sufficient statistics);
        * ``zeta`` (0.5, 0.5);
        * ``discussion_clinician`` (1.61) and ``discussion_cutpoints`` (-0.48, 1.04): the
          maximum-likelihood ordinal probit of the Part 4 crosstab of discussion quality by
          clinician presence; ``discussion_csw`` 0 (the report gives no crosstab by CSW);
        * ``delta[...]`` 0;
        * ``intercept``: chosen so that the comparison group's expected mean skill under the
          default mix and group SDs is Table 10's 2.50 (about 1.87 here; Table 10's RSW mean,
          3.24, then comes out near 3.1 without being a target).

        ``"null"``: every effect zero, including the discussion equation's coefficients; the
        cutpoints and zeta, which are not effects, stay; the intercept is chosen the same way
        (about 2.5).

    Returns
    -------
    dict
        Canonical name -> float, or a tuple for ``zeta`` and ``discussion_cutpoints``.

    Examples
    --------
    >>> eff = default_effects()
    >>> eff["training[programme]"], eff["clinician"], eff["discussion"]
    (1.06, 0.96, 0.17)
    >>> null = default_effects("null")
    >>> null["clinician"], null["intercept"]
    (0.0, 2.5)
    """
    if preset not in PRESETS:
        raise InputError(f"effects preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    return dict(_effects(preset))


def default_group_sds() -> dict[str, float]:
    """The default group standard deviations (skill points).

    ``sd_authority`` 0.10, ``sd_unit`` 0.15, ``sd_worker`` 0.20, ``sd_observation`` 0.15 and
    ``sigma_domain`` 0.50: with the default effects and mix they give, in the comparison group,
    domain-score SDs of about 0.85 and an overall-skill SD of about 0.65 (Table 10: 0.73-0.93 and
    0.59). The split of the random variance between the levels is an assumption; the report
    cannot separate them (nearly every worker was observed once).

    Examples
    --------
    >>> default_group_sds()["sigma_domain"]
    0.5
    """
    return dict(_DEFAULT_GROUP_SDS)


def default_mix() -> dict[str, Any]:
    """The default factor mix, from the report's sample.

    * ``p_csw``: Table 1, RSW observations / all observations (27 / 67);
    * ``training_csw``: Table 23, share of RSW-group observations with a worker on the programme
      (10 / 27); the rest split as the none/other/mla counts of Table 14 (35 : 15 : 12);
    * ``training_usual``: none/other/mla as Table 14 (35 : 15 : 12), no ``programme``;
    * ``p_clinician_csw``: 3/5 (Part 1: three of the five authorities had clinicians attached to
      RSW units); ``p_clinician_usual`` then chosen so that the overall share matches the Part 4
      crosstab (a clinician at 10 of 22 discussions);
    * ``discussion_observed``: crosstab discussions / observations (22 / 67);
    * ``p_missing_domain``: Table 10's degrees of freedom imply 3 missing domain scores of 5 x 67;
    * ``group_csw`` ``"rsw"``, ``group_usual`` ``"usual"``: the group labels of the rows (a label
      from ``rsw, usual, kft``, or ``None`` for no label).

    Returns
    -------
    dict

    Examples
    --------
    >>> mix = default_mix()
    >>> round(mix["p_csw"], 3), mix["training_usual"]["programme"]
    (0.403, 0.0)
    """
    return copy.deepcopy(_mix())


@cache
def _mix() -> dict[str, Any]:
    t1 = published.table(1).query("row_key == 'observations'").set_index("group_key")["value"]
    n_obs = float(t1["total"])
    p_csw = float(t1["rsw:subtotal"]) / n_obs
    n_t14 = {lv: _t14(lv, "n") for lv in TRAINING_LEVELS[:3]}
    base = {lv: n / sum(n_t14.values()) for lv, n in n_t14.items()}
    t23 = published.table(23).set_index("row_key")["value"]
    p_prog = float(t23["programme"] / (t23["programme"] + t23["rsw_unit"]))
    ct = published.table("crosstab")
    n_disc = float(ct.loc[ct.stat == "n", "value"].sum())
    p_clin_all = float(ct.loc[ct.stat == "count", "value"].sum()) / n_disc
    p_clin_csw = _CLINICIAN_CSW_AUTHORITIES[0] / _CLINICIAN_CSW_AUTHORITIES[1]
    p_clin_usual = (p_clin_all - p_csw * p_clin_csw) / (1.0 - p_csw)
    t10 = published.table(10).query("stat == 'df' and row_key in @DOMAINS")
    n_missing = float(((n_obs - 2.0) - t10["value"]).clip(lower=0).sum())
    return {
        "p_csw": p_csw,
        "training_csw": {**{lv: (1 - p_prog) * p for lv, p in base.items()}, "programme": p_prog},
        "training_usual": {**base, "programme": 0.0},
        "p_clinician_csw": p_clin_csw,
        "p_clinician_usual": p_clin_usual,
        "discussion_observed": n_disc / n_obs,
        "p_missing_domain": n_missing / (len(DOMAINS) * n_obs),
        "group_csw": "rsw",
        "group_usual": "usual",
    }


#: The dimensions of a :class:`Layout`, in order: authorities, units per authority, social
#: workers per unit, observations per worker.
LAYOUT_DIMS: tuple[str, ...] = ("authorities", "units", "workers_per_unit", "observations")


# ------------------------------------------------------------------------------------------
# the layout of a study and argument checking
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """The layout of a study: a balanced nesting of authorities x units x workers x
    observations.

    Parameters
    ----------
    authorities : int
        Number of local authorities.
    units : int
        Units (teams) per authority.
    workers_per_unit : int
        Social workers observed per unit.
    observations : int
        Observations of practice per worker.

    Examples
    --------
    >>> d = Layout(5, 4, 3, 1)
    >>> d.n_observations
    60
    >>> Layout.coerce({"authorities": 2, "units": 1, "workers_per_unit": 1, "observations": 2})
    Layout(authorities=2, units=1, workers_per_unit=1, observations=2)
    """

    authorities: int
    units: int
    workers_per_unit: int
    observations: int

    def __post_init__(self) -> None:
        for name in LAYOUT_DIMS:
            value = positive_int(name, getattr(self, name), whole_floats=True)
            object.__setattr__(self, name, value)

    @classmethod
    def coerce(cls, layout: Layout | Mapping[str, int] | Sequence[int]) -> Layout:
        """Make a :class:`Layout` from a Layout, a mapping or a 4-tuple.

        Examples
        --------
        >>> Layout.coerce((3, 2, 2, 1)).n_units
        6
        """
        if isinstance(layout, Layout):
            return layout
        if isinstance(layout, Mapping):
            unknown = sorted(set(layout) - set(LAYOUT_DIMS))
            missing = [f for f in LAYOUT_DIMS if f not in layout]
            if unknown or missing:
                raise InputError(
                    f"a layout must have the keys {', '.join(LAYOUT_DIMS)}; "
                    f"unknown: {unknown or 'none'}, missing: {missing or 'none'}"
                )
            return cls(**{f: layout[f] for f in LAYOUT_DIMS})
        if isinstance(layout, Sequence) and not isinstance(layout, str) and len(layout) == 4:
            return cls(*layout)
        raise InputError(
            f"a layout must be a Layout, a mapping with keys {', '.join(LAYOUT_DIMS)}, "
            f"or a tuple of those four numbers; got {layout!r}"
        )

    @property
    def n_units(self) -> int:
        """Total number of units."""
        return self.authorities * self.units

    @property
    def n_workers(self) -> int:
        """Total number of workers."""
        return self.n_units * self.workers_per_unit

    @property
    def n_observations(self) -> int:
        """Total number of observations (rows of the data)."""
        return self.n_workers * self.observations


def _number(kind: str, name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{kind} {name} must be a number; got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{kind} {name} must be a finite number; got {value!r}")
    return v


def _prob(kind: str, name: str, value: Any) -> float:
    v = _number(kind, name, value)
    if not 0.0 <= v <= 1.0:
        raise InputError(f"{kind} {name} must be a probability in [0, 1]; got {value!r}")
    return v


def _known_effects_text() -> str:
    aliases = ", ".join(f"{a}={c}" for a, c in EFFECT_ALIASES.items())
    return f"known effects: {', '.join(EFFECT_NAMES)} (aliases: {aliases})"


def _resolve_effects(effects: Mapping[str, Any] | str | None, preset: str) -> dict[str, Any]:
    if isinstance(effects, str):
        preset, effects = effects, None
    eff = default_effects(preset)
    if effects is None:
        return eff
    if not isinstance(effects, Mapping):
        raise InputError(
            f"effects must be a mapping of name -> value or a preset ({', '.join(PRESETS)}); "
            f"got {type(effects).__name__}"
        )
    seen: dict[str, str] = {}
    for key, value in effects.items():
        name = EFFECT_ALIASES.get(key, key)
        if name not in EFFECT_NAMES:
            raise InputError(f"unknown effect {key!r}; {_known_effects_text()}")
        if name in seen:
            raise InputError(f"effect {name!r} given twice (as {seen[name]!r} and {key!r})")
        seen[name] = key
        if name in _VECTOR_EFFECTS:
            n = _VECTOR_EFFECTS[name]
            if isinstance(value, str):
                value = value.split(",")
            if not isinstance(value, Sequence | np.ndarray) or len(value) != n:
                raise InputError(f"effect {name} must be {n} numbers; got {value!r}")
            eff[name] = tuple(_number("effect", name, v) for v in value)
        else:
            eff[name] = _number("effect", name, value)
    zeta = np.array(eff["zeta"])
    if (zeta < 0).any() or abs(zeta.sum() - 1.0) > 1e-8:
        raise InputError(
            f"effect zeta must be a simplex: {D} numbers >= 0 that sum to 1; got {eff['zeta']}"
        )
    cuts = eff["discussion_cutpoints"]
    if not all(b > a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise InputError(f"effect discussion_cutpoints must be increasing; got {cuts}")
    total = sum(eff[n] for n in _DELTA_NAMES)
    if abs(total) > 1e-8:
        given = {n: eff[n] for n in _DELTA_NAMES}
        raise InputError(
            f"the domain shifts delta[...] must sum to zero (give all five); got {given}, "
            f"sum {total:.6g}"
        )
    return eff


def _resolve_group_sds(group_sds: Mapping[str, Any] | None) -> dict[str, float]:
    sds = default_group_sds()
    if group_sds is None:
        return sds
    if not isinstance(group_sds, Mapping):
        raise InputError(f"group_sds must be a mapping of name -> value; got {group_sds!r}")
    for key, value in group_sds.items():
        if key not in GROUP_SD_NAMES:
            raise InputError(
                f"unknown group SD {key!r}; known: {', '.join(GROUP_SD_NAMES)}"
            )
        v = _number("group SD", key, value)
        if v < 0 or (key == "sigma_domain" and v == 0):
            rule = "> 0" if key == "sigma_domain" else ">= 0"
            raise InputError(f"group SD {key} must be {rule}; got {value!r}")
        sds[key] = v
    return sds


def _training_probs(name: str, value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise InputError(
            f"mix {name} must be a mapping of training level -> probability over "
            f"{', '.join(TRAINING_LEVELS)}; got {value!r}"
        )
    unknown = sorted(set(value) - set(TRAINING_LEVELS))
    if unknown:
        raise InputError(
            f"mix {name}: unknown training level(s) {unknown}; allowed: {', '.join(TRAINING_LEVELS)}"
        )
    probs = {lv: _prob("mix", f"{name}[{lv}]", value.get(lv, 0.0)) for lv in TRAINING_LEVELS}
    if abs(sum(probs.values()) - 1.0) > 1e-8:
        raise InputError(f"mix {name} must sum to 1; got {probs} (sum {sum(probs.values()):.6g})")
    return probs


def _resolve_mix(mix: Mapping[str, Any] | None) -> dict[str, Any]:
    out = default_mix()
    if mix is None:
        return out
    if not isinstance(mix, Mapping):
        raise InputError(f"mix must be a mapping of name -> value; got {mix!r}")
    for key, value in mix.items():
        if key not in MIX_NAMES:
            raise InputError(f"unknown mix setting {key!r}; known: {', '.join(MIX_NAMES)}")
        if key in ("training_csw", "training_usual"):
            out[key] = _training_probs(key, value)
        elif key in ("group_csw", "group_usual"):
            if value is not None and value not in GROUP_LEVELS:
                raise InputError(
                    f"mix {key} must be one of {', '.join(GROUP_LEVELS)} or None; got {value!r}"
                )
            out[key] = value
        else:
            out[key] = _prob("mix", key, value)
    if out["p_missing_domain"] >= 1.0:
        raise InputError(f"mix p_missing_domain must be < 1; got {out['p_missing_domain']!r}")
    if out["training_usual"]["programme"] > 0:
        raise InputError(
            "mix training_usual[programme] must be 0: only units led by a CSW on the programme "
            f"have workers on the programme; got {out['training_usual']['programme']!r}"
        )
    return out


# ------------------------------------------------------------------------------------------
# the simulation
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated data set and the truth it was drawn from.

    Attributes
    ----------
    data : pandas.DataFrame
        The canonical observation frame of ``docs/architecture.md`` (ready for
        ``pyramid.validate``): ids ``"A01"``, ``"A01-U02"``, ``"A01-U02-W03"``,
        ``"A01-U02-W03-O1"``; group, training, discussion and clinician (missing where the unit's
        discussion was not observed), the five domain scores (missing at random), ``evocation``
        and ``autonomy`` (not simulated: all missing) and ``skill``.
    truth : Mapping
        Every true value by name: the effects (``intercept``, ``training[mla]``, ...,
        ``zeta[1]``, ``discussion_cutpoints[1]``, ``delta[empathy]``), ``tau[k]``, the group SDs,
        the mix (``p_csw``, ``training_csw[none]``, ...), the latent-scale values the
        ``domains`` model estimates (``latent:training[mla]`` = effect / sigma_domain,
        ``latent:kappa[k]`` = (tau_k - intercept) / sigma_domain, ``latent:sd_unit``, ...) and
        the realised group effects as :class:`pandas.Series` indexed by id (``r_authority``,
        ``r_unit``, ``r_worker``, ``r_observation`` and their ``latent:`` versions).
    layout : Layout
    seed : int
        The seed used (drawn from fresh entropy and recorded when none was given).
    units : pandas.DataFrame
        Unit-level truth, observed or not: ``unit, authority, csw, clinician, discussion,
        observed, r_unit``.
    latent : pandas.DataFrame
        Per observation: ``observation, eta, s`` (linear predictor and latent skill).
    """

    data: pd.DataFrame
    truth: Mapping[str, Any]
    layout: Layout
    seed: int
    units: pd.DataFrame = field(repr=False)
    latent: pd.DataFrame = field(repr=False)

    def __repr__(self) -> str:
        d = self.layout
        return (
            f"Simulation({d.authorities} authorities x {d.units} units x {d.workers_per_unit} workers x "
            f"{d.observations} observations = {len(self.data)} rows, seed={self.seed})"
        )

    def truth_frame(self, realised: bool = True) -> pd.DataFrame:
        """The truth as a tidy table.

        Parameters
        ----------
        realised : bool, default True
            Include the realised group effects (one row per authority, unit, worker and
            observation, on both scales).

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter`` (the name without the ``latent:`` prefix; realised effects as
            ``r_unit[A01-U02]``), ``scale`` (``skill``: skill points on the 1-5 scale;
            ``latent``: the ``domains`` model's probit scale, in units of sigma_domain;
            ``discussion``: the probit scale of the discussion equation; ``simplex``: zeta;
            ``share``: a probability of the mix) and ``value``.

        Examples
        --------
        >>> sim = simulate((2, 2, 2, 1), seed=1)
        >>> tf = sim.truth_frame(realised=False)
        >>> tf.query("parameter == 'kappa[1]'")["scale"].item()
        'latent'
        """
        rows: list[tuple[str, str, float]] = []
        parts: list[pd.DataFrame] = []
        for key, value in self.truth.items():
            latent = key.startswith("latent:")
            name = key.removeprefix("latent:")
            if isinstance(value, pd.Series):
                if realised:
                    parts.append(pd.DataFrame({
                        "parameter": name + "[" + value.index.astype(str) + "]",
                        "scale": "latent" if latent else "skill",
                        "value": value.to_numpy(dtype=float),
                    }))
                continue
            rows.append((name, _scale_of(name, latent), float(value)))
        head = pd.DataFrame(rows, columns=["parameter", "scale", "value"])
        return pd.concat([head, *parts], ignore_index=True)


def _scale_of(name: str, latent: bool) -> str:
    if latent:
        return "latent"
    if name.startswith("zeta"):
        return "simplex"
    if name.startswith(("p_", "training_csw", "training_usual")) or name == "discussion_observed":
        return "share"
    if name.startswith("discussion_"):
        return "discussion"
    return "skill"


def nested_ids(prefix: str, n: int, width: int, parents: np.ndarray | None = None) -> np.ndarray:
    """Ids like ``A01`` (no parent) or ``<parent>-U02`` for a block of ``n`` children each.

    Examples
    --------
    >>> nested_ids("U", 2, 2, nested_ids("A", 2, 2)).tolist()
    ['A01-U01', 'A01-U02', 'A02-U01', 'A02-U02']
    """
    labels = np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
    if parents is None:
        return labels
    return (np.repeat(parents, n) + "-" + np.tile(labels, len(parents))).astype(object)


def simulate(
    layout: Layout | Mapping[str, int] | Sequence[int],
    effects: Mapping[str, Any] | str | None = None,
    group_sds: Mapping[str, Any] | None = None,
    mix: Mapping[str, Any] | None = None,
    seed: int | None = None,
    *,
    preset: str = "report",
) -> Simulation:
    """Simulate a data set from the shared generative model, with its truth.

    Parameters
    ----------
    layout : Layout, mapping or tuple
        ``Layout(authorities, units, workers_per_unit, observations)``: units per authority,
        social workers per unit, observations per worker (each >= 1); also accepted as a dict
        with those keys or a 4-tuple.
    effects : mapping or str, optional
        True effects by name (see the module docstring for the names and aliases), overriding
        the ``preset``; or a preset name (``"report"`` or ``"null"``). Skill points unless the
        name says latent. ``zeta`` and ``discussion_cutpoints`` take two numbers.
    group_sds : mapping, optional
        ``sd_authority, sd_unit, sd_worker, sd_observation`` (>= 0) and ``sigma_domain`` (> 0)
        in skill points; unspecified ones keep :func:`default_group_sds`.
    mix : mapping, optional
        Factor mix overriding :func:`default_mix`: ``p_csw, training_csw, training_usual,
        p_clinician_csw, p_clinician_usual, discussion_observed, p_missing_domain, group_csw,
        group_usual``.
    seed : int, optional
        Seed for :func:`numpy.random.default_rng`; the same seed gives identical data.
    preset : {"report", "null"}, default "report"
        Starting values of the effects: roughly the report's estimates, or all zero.

    Returns
    -------
    Simulation
        ``.data`` (canonical frame), ``.truth``, ``.truth_frame()``, ``.layout``, ``.seed``,
        ``.units``, ``.latent``.

    Raises
    ------
    InputError
        For a bad layout size, an unknown or malformed effect, group SD or mix setting, or a
        bad seed; the message names what was wrong, what is allowed and what was received.

    Examples
    --------
    >>> sim = simulate((3, 4, 2, 2), effects={"clinician": 0.5, "mla": 0.3}, seed=42)
    >>> sim.data.shape[0]
    48
    >>> sim.data["observation"].iloc[0]
    'A01-U01-W1-O1'
    >>> sim.truth["training[mla]"], round(sim.truth["latent:training[mla]"], 3)
    (0.3, 0.5)
    >>> null = simulate((3, 4, 2, 2), effects="null", seed=42)
    >>> null.truth["clinician"]
    0.0
    """
    layout = Layout.coerce(layout)
    eff = _resolve_effects(effects, preset)
    sds = _resolve_group_sds(group_sds)
    mx = _resolve_mix(mix)
    seed = resolve_seed(seed, name="seed")
    rng = np.random.default_rng(seed)
    # the draws in their fixed order (the same seed gives the same data): unit factors,
    # training, group effects, domain scores
    nest = _Nesting.of(layout)
    unit = _draw_units(rng, nest, eff, mx)
    training = _draw_training(rng, nest, unit["csw"], mx)
    draws = _draw_scores(rng, nest, unit, training, eff, sds, mx)
    data = _observations(nest, unit, training, draws, mx)
    units = pd.DataFrame({
        "unit": pd.array(nest.unit_ids, dtype="str"),
        "authority": pd.array(nest.auth_ids[nest.unit_auth], dtype="str"),
        "csw": unit["csw"],
        "clinician": unit["clinician"],
        "discussion": pd.Categorical.from_codes(unit["discussion"],
                                                categories=DISCUSSION_LEVELS, ordered=True),
        "observed": unit["observed"],
        "r_unit": draws["r_u"],
    })
    latent = pd.DataFrame({"observation": pd.array(nest.obs_ids, dtype="str"),
                           "eta": draws["eta"], "s": draws["s"]})
    realised = {
        "r_authority": pd.Series(draws["r_a"], index=pd.Index(nest.auth_ids, dtype="str",
                                                              name="authority")),
        "r_unit": pd.Series(draws["r_u"], index=pd.Index(nest.unit_ids, dtype="str", name="unit")),
        "r_worker": pd.Series(draws["r_w"], index=pd.Index(nest.worker_ids, dtype="str",
                                                           name="worker")),
        "r_observation": pd.Series(
            draws["r_o"], index=pd.Index(nest.obs_ids, dtype="str", name="observation")
        ),
    }
    truth = _truth(eff, sds, mx, realised)
    return Simulation(
        data=data, truth=MappingProxyType(truth), layout=layout, seed=seed, units=units,
        latent=latent,
    )


@dataclass(frozen=True)
class _Nesting:
    """A layout's levels: their sizes, each lower level's parent (balanced, in order) and ids."""

    n_a: int
    n_u: int
    n_w: int
    n_o: int
    unit_auth: np.ndarray
    worker_unit: np.ndarray
    obs_worker: np.ndarray
    o_unit: np.ndarray
    o_auth: np.ndarray
    auth_ids: np.ndarray
    unit_ids: np.ndarray
    worker_ids: np.ndarray
    obs_ids: np.ndarray

    @classmethod
    def of(cls, layout: Layout) -> _Nesting:
        n_a, n_u, n_w, n_o = layout.authorities, layout.n_units, layout.n_workers, (
            layout.n_observations
        )
        unit_auth = np.repeat(np.arange(n_a), layout.units)
        worker_unit = np.repeat(np.arange(n_u), layout.workers_per_unit)
        obs_worker = np.repeat(np.arange(n_w), layout.observations)
        o_unit = worker_unit[obs_worker]
        auth_ids = nested_ids("A", n_a, max(2, len(str(n_a))))
        unit_ids = nested_ids("U", layout.units, max(2, len(str(layout.units))), auth_ids)
        worker_ids = nested_ids("W", layout.workers_per_unit,
                                max(1, len(str(layout.workers_per_unit))), unit_ids)
        obs_ids = nested_ids("O", layout.observations, max(1, len(str(layout.observations))),
                             worker_ids)
        return cls(n_a, n_u, n_w, n_o, unit_auth, worker_unit, obs_worker, o_unit,
                   unit_auth[o_unit], auth_ids, unit_ids, worker_ids, obs_ids)


def _draw_units(rng: np.random.Generator, nest: _Nesting, eff: dict, mx: dict
                ) -> dict[str, np.ndarray]:
    """Unit-level factors: csw, clinician, discussion (its ordinal equation), observed."""
    n_u = nest.n_u
    n_csw = math.floor(mx["p_csw"] * n_u + 0.5)  # round half up
    csw = np.zeros(n_u, dtype=np.int8)
    csw[rng.permutation(n_u)[:n_csw]] = 1
    p_clin = np.where(csw == 1, mx["p_clinician_csw"], mx["p_clinician_usual"])
    clinician = (rng.random(n_u) < p_clin).astype(np.int8)
    lin = eff["discussion_clinician"] * clinician + eff["discussion_csw"] * csw
    latent_disc = lin + rng.standard_normal(n_u)
    discussion = (latent_disc[:, None] > np.asarray(eff["discussion_cutpoints"])).sum(axis=1)
    observed = rng.random(n_u) < mx["discussion_observed"]
    return {"csw": csw, "clinician": clinician, "discussion": discussion, "observed": observed}


def _draw_training(rng: np.random.Generator, nest: _Nesting, csw: np.ndarray,
                   mx: dict) -> np.ndarray:
    """Each worker's training level (codes), from the mix of the unit's csw."""
    levels = np.arange(len(TRAINING_LEVELS))
    p_train = np.array([[mx[g][lv] for lv in TRAINING_LEVELS] for g in ("training_usual",
                                                                         "training_csw")])
    cum = np.cumsum(p_train, axis=1)
    cum[:, -1] = 1.0
    u_train = rng.random(nest.n_w)
    training = (u_train[:, None] >= cum[csw[nest.worker_unit]]).sum(axis=1)
    return np.minimum(training, levels[-1])


def _draw_scores(rng: np.random.Generator, nest: _Nesting, unit: dict, training: np.ndarray,
                 eff: dict, sds: dict, mx: dict) -> dict[str, np.ndarray]:
    """Group effects, the linear predictor, latent skill, the domain ratings (with missing
    ones) and overall skill."""
    r_a = rng.normal(0.0, sds["sd_authority"], nest.n_a)
    r_u = rng.normal(0.0, sds["sd_unit"], nest.n_u)
    r_w = rng.normal(0.0, sds["sd_worker"], nest.n_w)
    r_o = rng.normal(0.0, sds["sd_observation"], nest.n_o)

    b_train = np.array([0.0, *(eff[n] for n in _TRAINING_EFFECTS)])
    mono = eff["discussion"] * D * np.concatenate([[0.0], np.cumsum(eff["zeta"])])
    o_unit, obs_worker = nest.o_unit, nest.obs_worker
    eta = (
        eff["intercept"]
        + b_train[training[obs_worker]]
        + eff["clinician"] * unit["clinician"][o_unit]
        + mono[unit["discussion"][o_unit]]
        + r_a[nest.o_auth]
        + r_u[o_unit]
        + r_w[obs_worker]
    )
    s = eta + r_o
    delta = np.array([eff[n] for n in _DELTA_NAMES])
    z = s[:, None] + delta[None, :] + rng.normal(0.0, sds["sigma_domain"],
                                                 (nest.n_o, len(DOMAINS)))
    y = 1 + (z[:, :, None] > np.asarray(TAU)).sum(axis=2)
    missing = rng.random(y.shape) < mx["p_missing_domain"]
    scores = np.where(missing, np.nan, y.astype(float))
    with np.errstate(invalid="ignore"):
        n_avail = (~missing).sum(axis=1)
        skill = np.where(n_avail > 0, np.nansum(scores, axis=1) / np.maximum(n_avail, 1), np.nan)
    return {"r_a": r_a, "r_u": r_u, "r_w": r_w, "r_o": r_o, "eta": eta, "s": s, "y": y,
            "missing": missing, "skill": skill}


def _observations(nest: _Nesting, unit: dict, training: np.ndarray, draws: dict,
                  mx: dict) -> pd.DataFrame:
    """The canonical observation frame of a simulation."""
    o_unit, obs_worker = nest.o_unit, nest.obs_worker
    y, missing = draws["y"], draws["missing"]
    group_labels = np.array([mx["group_usual"], mx["group_csw"]], dtype=object)
    o_obs = unit["observed"][o_unit]
    data = pd.DataFrame({
        "observation": pd.array(nest.obs_ids, dtype="str"),
        "worker": pd.array(nest.worker_ids[obs_worker], dtype="str"),
        "unit": pd.array(nest.unit_ids[o_unit], dtype="str"),
        "authority": pd.array(nest.auth_ids[nest.o_auth], dtype="str"),
        "group": pd.Categorical(group_labels[unit["csw"][o_unit]], categories=GROUP_LEVELS),
        "training": pd.Categorical.from_codes(
            training[obs_worker], categories=TRAINING_LEVELS, ordered=True
        ),
        "discussion": pd.Categorical.from_codes(
            np.where(o_obs, unit["discussion"][o_unit], -1), categories=DISCUSSION_LEVELS,
            ordered=True
        ),
        "clinician": pd.array(
            np.where(o_obs, unit["clinician"][o_unit], 0), dtype="Int8"
        ),
    })
    data.loc[~o_obs, "clinician"] = pd.NA
    for j, d in enumerate(DOMAINS):
        data[d] = pd.array(np.where(missing[:, j], 0, y[:, j]), dtype="Int8")
        data.loc[missing[:, j], d] = pd.NA
    for d in EXTRA_DOMAINS:
        data[d] = pd.array([pd.NA] * nest.n_o, dtype="Int8")
    data["skill"] = draws["skill"]
    return data[["observation", "worker", "unit", "authority", "group", "training",
                 "discussion", "clinician", *ALL_DOMAINS, "skill"]]

def _truth(eff: dict[str, Any], sds: dict[str, float], mx: dict[str, Any],
           realised: dict[str, pd.Series]) -> dict[str, Any]:
    sigma = sds["sigma_domain"]
    t: dict[str, Any] = {}
    for name in EFFECT_NAMES:
        value = eff[name]
        if name in _VECTOR_EFFECTS:
            for k, v in enumerate(value, start=1):
                t[f"{name}[{k}]"] = float(v)
        else:
            t[name] = float(value)
    for k, tau in enumerate(TAU, start=1):
        t[f"tau[{k}]"] = tau
    t.update(sds)
    t["p_csw"] = mx["p_csw"]
    for g in ("training_csw", "training_usual"):
        for lv in TRAINING_LEVELS:
            t[f"{g}[{lv}]"] = mx[g][lv]
    for name in ("p_clinician_csw", "p_clinician_usual", "discussion_observed",
                 "p_missing_domain"):
        t[name] = mx[name]
    # what the domains model estimates: the latent probit scale, in units of sigma_domain
    for name in (*_TRAINING_EFFECTS, "clinician", "discussion"):
        t[f"latent:{name}"] = eff[name] / sigma
    for k, v in enumerate(eff["zeta"], start=1):
        t[f"latent:zeta[{k}]"] = float(v)
    for k, tau in enumerate(TAU, start=1):
        t[f"latent:kappa[{k}]"] = (tau - eff["intercept"]) / sigma
    for name in _DELTA_NAMES:
        t[f"latent:{name}"] = eff[name] / sigma
    for name in ("sd_authority", "sd_unit", "sd_worker", "sd_observation"):
        t[f"latent:{name}"] = sds[name] / sigma
    t.update(realised)
    for name, series in realised.items():
        t[f"latent:{name}"] = series / sigma
    return t


# ------------------------------------------------------------------------------------------
# expected skill
# ------------------------------------------------------------------------------------------
def _truth_value(truth: Mapping[str, Any], name: str) -> float:
    return float(truth[name])


def _needed_truth() -> tuple[str, ...]:
    return (
        "intercept", *_TRAINING_EFFECTS, "clinician", "discussion",
        *(f"zeta[{k}]" for k in range(1, D + 1)), "discussion_clinician", "discussion_csw",
        *(f"discussion_cutpoints[{k}]" for k in range(1, D + 1)), *_DELTA_NAMES,
        "sd_authority", "sd_unit", "sd_worker", "sd_observation", "sigma_domain",
        "p_clinician_csw", "p_clinician_usual",
    )


def expected_skill(
    truth: Simulation | Mapping[str, Any],
    newdata: pd.DataFrame,
    *,
    integrate_groups: bool = False,
) -> pd.Series:
    """Expected overall skill implied by the generative model for each row of ``newdata``.

    For a linear predictor ``eta`` (group effects at zero) the latent noise ``r_obs + e`` is
    Normal with variance ``sd_observation^2 + sigma_domain^2``, so exactly

    ``E[y_d | eta] = 1 + sum_k Phi((eta + delta_d - tau_k) / sqrt(sd_observation^2 +
    sigma_domain^2))``

    and the expected skill is the mean of that over the five domains (with domain scores
    missing at random, the expected mean of the available domains is the same). Unlike the
    coefficients, the expected skill is attenuated near the ends of the 1-5 scale: its slope in
    ``eta`` is ``mean_d sum_k phi(.)/sqrt(.)``, close to 1 in the middle of the scale and
    smaller towards 1 and 5, so an effect of ``b`` skill points moves the expected score by
    less than ``b`` when ``eta`` is near a bound.

    Parameters
    ----------
    truth : Simulation or mapping
        A :class:`Simulation` or its ``truth``.
    newdata : pandas.DataFrame
        One row per covariate setting: ``training`` (required), and optionally ``clinician``
        (0/1), ``discussion`` and ``group`` or ``csw`` (0/1). A missing ``clinician`` or
        ``discussion`` is integrated out over the mix and the discussion equation given the
        row's CSW status (``csw`` column, else group ``rsw``/``kft`` or training
        ``programme``), as the ``pyramid`` model does: a *total* effect. Given values fix them.
    integrate_groups : bool, default False
        ``False``: group effects at zero (what ``FitResult.expected_skill`` gives).
        ``True``: also integrate the authority, unit and worker effects, which gives the
        population mean of skill for that setting (what a raw mean of simulated skill
        estimates).

    Returns
    -------
    pandas.Series
        ``expected_skill`` for each row, on ``newdata``'s index.

    Examples
    --------
    >>> sim = simulate((2, 2, 2, 1), effects={"programme": 1.0}, seed=3)
    >>> new = pd.DataFrame({"training": ["none", "programme"], "clinician": [0, 0],
    ...                     "discussion": ["non_systemic"] * 2})
    >>> e = expected_skill(sim, new)
    >>> bool(0.9 < e.iloc[1] - e.iloc[0] < 1.0)   # a 1-point effect, slightly attenuated
    True
    """
    if isinstance(truth, Simulation):
        truth = truth.truth
    if not isinstance(truth, Mapping):
        raise InputError(f"truth must be a Simulation or its truth; got {type(truth).__name__}")
    lacking = [name for name in _needed_truth() if name not in truth]
    if lacking:
        raise InputError(
            f"truth lacks {', '.join(lacking)}; pass a Simulation or Simulation.truth"
        )
    if not isinstance(newdata, pd.DataFrame):
        raise InputError(f"newdata must be a pandas DataFrame; got {type(newdata).__name__}")
    if "training" not in newdata.columns:
        raise InputError(
            f"newdata needs a 'training' column; got columns {list(newdata.columns)}"
        )
    n = len(newdata)
    tv = lambda name: _truth_value(truth, name)  # noqa: E731

    def codes(col: str, levels: tuple[str, ...]) -> np.ndarray:
        vals = newdata[col].astype(object)
        bad = sorted({str(v) for v in vals[vals.notna()] if v not in levels})
        if bad:
            raise InputError(
                f"newdata column {col!r}: unknown level(s) {bad}; allowed: {', '.join(levels)}"
            )
        return np.array([levels.index(v) if pd.notna(v) else -1 for v in vals], dtype=int)

    def binary(col: str) -> np.ndarray:
        if col not in newdata.columns:
            return np.full(n, -1)
        vals = newdata[col].astype(object)
        bad = sorted({str(v) for v in vals[vals.notna()] if v not in (0, 1)})
        if bad:
            raise InputError(f"newdata column {col!r} must be 0, 1 or missing; got {bad}")
        return np.array([int(v) if pd.notna(v) else -1 for v in vals], dtype=int)

    training = codes("training", TRAINING_LEVELS)
    if (training < 0).any():
        raise InputError("newdata column 'training' must not be missing")
    disc = (codes("discussion", DISCUSSION_LEVELS) if "discussion" in newdata.columns
            else np.full(n, -1))
    clin = binary("clinician")
    csw = binary("csw")
    if "group" in newdata.columns:
        grp = newdata["group"].astype(object)
        from_group = grp.isin(["rsw", "kft"]).to_numpy()
    else:
        from_group = np.zeros(n, dtype=bool)
    csw = np.where(csw >= 0, csw,
                   (from_group | (training == TRAINING_LEVELS.index("programme"))).astype(int))

    # weights over (clinician, discussion) for each row: P(clinician | csw) P(discussion |
    # clinician, csw), restricted to what the row fixes. A fixed clinician is conditioned on
    # (its own probability drops out); a fixed discussion with a missing clinician weighs the
    # clinician by Bayes' rule, so the result is E[skill | what the row gives].
    p_c1 = np.where(csw == 1, tv("p_clinician_csw"), tv("p_clinician_usual"))
    cuts = np.array([tv(f"discussion_cutpoints[{k}]") for k in range(1, D + 1)])
    g_c, g_s = tv("discussion_clinician"), tv("discussion_csw")
    w = np.empty((n, 2, D + 1))
    for c in (0, 1):
        lin = g_c * c + g_s * csw
        cdf = stats.norm.cdf(cuts[None, :] - lin[:, None])
        p_k = np.diff(np.concatenate([np.zeros((n, 1)), cdf, np.ones((n, 1))], axis=1), axis=1)
        p_c = np.where(clin >= 0, 1.0, p_c1 if c else 1.0 - p_c1)
        w[:, c, :] = p_c[:, None] * p_k
        w[(clin >= 0) & (clin != c), c, :] = 0.0
    for k in range(D + 1):
        w[(disc >= 0) & (disc != k), :, k] = 0.0
    fixed_both = np.flatnonzero((clin >= 0) & (disc >= 0))
    w[fixed_both] = 0.0
    w[fixed_both, clin[fixed_both], disc[fixed_both]] = 1.0
    w /= w.sum(axis=(1, 2))[:, None, None]

    b_train = np.array([0.0, *(tv(nm) for nm in _TRAINING_EFFECTS)])
    zeta = np.array([tv(f"zeta[{k}]") for k in range(1, D + 1)])
    mono = tv("discussion") * D * np.concatenate([[0.0], np.cumsum(zeta)])
    eta = (tv("intercept") + b_train[training][:, None, None]
           + tv("clinician") * np.array([0.0, 1.0])[None, :, None] + mono[None, None, :])
    var = tv("sd_observation") ** 2 + tv("sigma_domain") ** 2
    if integrate_groups:
        var += tv("sd_authority") ** 2 + tv("sd_unit") ** 2 + tv("sd_worker") ** 2
    delta = np.array([tv(nm) for nm in _DELTA_NAMES])
    m = _expected_score(eta, delta, math.sqrt(var))
    return pd.Series((w * m).sum(axis=(1, 2)), index=newdata.index, name="expected_skill")


def _expected_score(eta: np.ndarray, delta: np.ndarray, scale: float) -> np.ndarray:
    """Mean over domains of ``1 + sum_k Phi((eta + delta_d - tau_k) / scale)``."""
    x = eta[..., None, None] + delta[:, None] - np.asarray(TAU)[None, :]
    return 1.0 + stats.norm.cdf(x / scale).sum(axis=-1).mean(axis=-1)


# ------------------------------------------------------------------------------------------
# NAME=VALUE assignments (CLI)
# ------------------------------------------------------------------------------------------
_ASSIGN = re.compile(r"^\s*([A-Za-z_][\w\[\]]*)\s*=\s*(\S.*?)\s*$")


def parse_assignments(items: Sequence[str], what: str = "effect") -> dict[str, Any]:
    """Parse ``NAME=VALUE`` strings as given on the command line.

    A value is a number, a comma-separated list of numbers (``zeta=0.3,0.7``), a list of
    ``level:number`` pairs (``training_csw=none:0.5,programme:0.5``) or, otherwise, a word
    (``group_csw=kft``; ``none`` means ``None``).

    Parameters
    ----------
    items : sequence of str
        The assignments.
    what : str, default "effect"
        What they assign, used in messages (``--effect``, ``--sd``, ``--mix``).

    Returns
    -------
    dict

    Raises
    ------
    InputError
        For an item that is not ``NAME=VALUE`` or names something twice.

    Examples
    --------
    >>> parse_assignments(["mla=0.3", "zeta=0.2,0.8"])
    {'mla': 0.3, 'zeta': [0.2, 0.8]}
    """
    out: dict[str, Any] = {}
    for item in items:
        m = _ASSIGN.match(item)
        if not m:
            raise InputError(
                f"--{what} must look like NAME=VALUE (e.g. --{what} clinician=0.5); got {item!r}"
            )
        name, raw = m.group(1), m.group(2)
        if name in out:
            raise InputError(f"--{what} {name} given twice")
        out[name] = _parse_value(raw)
    return out


def _parse_value(raw: str) -> Any:
    def num(x: str) -> float | str:
        x = x.strip()
        try:
            return float(x)
        except ValueError:
            return x

    parts = raw.split(",")
    if all(":" in p for p in parts):
        return {k.strip(): num(v) for k, v in (p.split(":", 1) for p in parts)}
    if len(parts) > 1:
        return [num(p) for p in parts]
    v = num(raw)
    if isinstance(v, str) and v.lower() == "none":
        return None
    return v
