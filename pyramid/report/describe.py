"""The model, its priors and the data's origin in words, for the report.

:func:`model_description` and :func:`prior_table` are generated from the spec and the prior
set (:func:`describe_prior` puts one prior in words); :func:`data_origin` tells the
reconstruction, simulated data and other data apart (:data:`ORIGINS` says what each means).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pyramid.data import schema
from pyramid.errors import InputError

__all__ = ["describe_prior", "prior_table", "model_description", "data_origin", "ORIGINS"]

#: What the data behind a result can be (``data_label`` of :func:`pyramid.report`).
ORIGINS: dict[str, str] = {
    "reconstructed": "a RECONSTRUCTION: rsw2017, observation-level scores rebuilt to be "
    "consistent with the published summaries of DFE-RR588, not the evaluation's data, which "
    "are not public. Any result below illustrates the method; it is not a finding about the "
    "services that were evaluated.",
    "simulated": "SIMULATED data (pyramid.simulate or similar), drawn from a model with known "
    "effects. Any result below describes the simulation, not real practice.",
    "observed": "the data as supplied to pyramid.fit, reported as real observations of "
    "practice (pyramid cannot check this: pass data_label='simulated' or 'reconstructed' "
    "when they are not).",
}

#: Observation ids as :func:`pyramid.simulate` writes them (``A01-U02-W3-O1``).
_SIMULATED_ID = re.compile(r"^A\d+-U\d+-W\d+-O\d+$")


def _q(x: float) -> str:
    return f"{x:.3g}"


def describe_prior(prior: Any, unit: str = "") -> str:
    """A prior distribution in words: its name, parameters and where most of its mass lies.

    Parameters
    ----------
    prior : PriorDist
        From a prior set (:func:`pyramid.load_priors`).
    unit : str, optional
        Unit of the values (``"skill points"``), appended to the interval.

    Returns
    -------
    str

    Examples
    --------
    >>> from pyramid.specs import PriorDist
    >>> describe_prior(PriorDist("Normal", {"mu": 0.0, "sigma": 0.5}), "skill points")
    'Normal(mu=0, sigma=0.5): 95 % between -0.98 and 0.98 skill points'
    >>> describe_prior(PriorDist("HalfNormal", {"sigma": 0.4}))
    'HalfNormal(sigma=0.4): 95 % below 0.784, median 0.27'
    """
    from scipy import stats

    p = dict(prior.params)
    head = f"{prior.dist}(" + ", ".join(f"{k}={v:g}" for k, v in p.items()) + ")"
    u = f" {unit}" if unit else ""
    real = {
        "Normal": lambda: stats.norm(p["mu"], p["sigma"]),
        "StudentT": lambda: stats.t(p["nu"], p["mu"], p["sigma"]),
        "Cauchy": lambda: stats.cauchy(p["alpha"], p["beta"]),
    }
    positive = {
        "HalfNormal": lambda: stats.halfnorm(scale=p["sigma"]),
        "HalfStudentT": lambda: stats.t(p["nu"], 0, p["sigma"]),
        "HalfCauchy": lambda: stats.halfcauchy(scale=p["beta"]),
        "Exponential": lambda: stats.expon(scale=1 / p["lam"]),
        "Gamma": lambda: stats.gamma(p["alpha"], scale=1 / p["beta"]),
        "LogNormal": lambda: stats.lognorm(p["sigma"], scale=math.exp(p["mu"])),
    }
    if prior.dist in real:
        d = real[prior.dist]()
        lo, hi = d.ppf([0.025, 0.975])
        return f"{head}: 95 % between {lo:.2f} and {hi:.2f}{u}"
    if prior.dist in positive:
        d = positive[prior.dist]()
        if prior.dist == "HalfStudentT":  # |t|: quantile q of |t| is the (1+q)/2 of t
            hi, med = d.ppf((1 + 0.95) / 2), d.ppf(0.75)
        else:
            hi, med = d.ppf(0.95), d.median()
        return f"{head}: 95 % below {_q(hi)}{u}, median {_q(med)}{u}"
    if prior.dist == "Beta":
        d = stats.beta(p["alpha"], p["beta"])
        if p["alpha"] == 1 and p["beta"] == 1:
            return f"{head}: uniform on 0 to 1 (every probability equally likely)"
        lo, hi = d.ppf([0.025, 0.975])
        return f"{head}: 95 % between {lo:.2f} and {hi:.2f}"
    if prior.dist == "Dirichlet":
        a = p["a"]
        if a == 1:
            return f"{head}: every split between the steps equally likely"
        lean = "towards equal steps" if a > 1 else "towards one step taking most of the effect"
        return f"{head}: leaning {lean}"
    return head  # pragma: no cover - specs.DISTRIBUTIONS lists no other


def _term_column(term: str) -> str:
    return term[3:-1] if term.startswith("mo(") else term


def _term_words(term: str, study: Any = None) -> str:
    from pyramid.study import load_study

    study = load_study(study)
    col = _term_column(term)
    if col in study.derived:
        d = study.derived[col]
        return f"{col} (derived: {d.description or d.label})"
    f = study.factors.get(col)
    desc = (f.description or f.label) if f is not None else "a numeric column"
    if f is not None and not study.is_default():
        desc = f"{f.label}, column '{f.column}'"
    if term.startswith("mo("):
        levels = " < ".join(f.levels) if f is not None else ""
        return (f"{col} as a monotonic effect ({levels}): one coefficient, the average step "
                f"between adjacent levels, split between the steps by a simplex, so the "
                f"effect can only move one way as the level rises ({desc})")
    if f is not None and f.kind in ("categorical", "ordered"):
        sep = " < " if f.kind == "ordered" else ", "
        return (f"{col} ({sep.join(f.levels)}): one effect for each level against "
                f"{f.reference} ({desc})")
    if f is not None and f.kind == "binary":
        return f"{col} (0/1: one effect of 1 against 0; {desc})"
    if f is not None and f.kind == "numeric" and not study.is_default():
        unit = f" {f.unit}" if f.unit else ""
        return f"{col} (a slope per {f.scale:g}{unit}, centred; {desc})"
    return f"{col} (a slope; {desc})"


def model_description(spec: Any, info: Mapping[str, Any] | None = None) -> list[str]:
    """The model in words, one sentence per item, generated from the spec.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`pyramid.load_spec` or ``result.spec``.
    info : mapping, optional
        ``result.info`` of a fit: adds which group levels the fit kept and its notes.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> model_description(load_spec("skill"))[0][:60]
    'Outcome: skill (mean of the available analysed domain scores'
    """
    info = dict(info or {})
    out: list[str] = []
    fam = spec.family
    study = spec.the_study
    lo, hi = study.scale_min, study.scale_max
    n_dom = len(study.domains)
    n_words = {5: "five", 7: "seven"}.get(n_dom, str(n_dom))
    if fam == "cumulative_probit":
        what = (f"the {n_words} analysed domain ratings (whole numbers {lo}-{hi}) in long "
                "format, one row per rating" if spec.outcome == "domains"
                else f"the rating {spec.outcome}")
        out.append(f"Outcome: {what}, as a cumulative probit (ordinal) model: each rating "
                   f"falls in the category whose thresholds bracket a latent normal score, so "
                   f"effects are on the probit scale of a rating (one unit = the residual SD "
                   f"of the latent score).")
    else:
        desc = study.description_of(spec.outcome) or spec.outcome
        out.append(f"Outcome: {spec.outcome} ({desc}, {lo}-{hi}), normal (Gaussian) around its "
                   f"expected value, with a residual SD sigma; effects are in skill points.")
    out.append("Terms: " + "; ".join(_term_words(t, study) for t in spec.terms) + ".")
    if spec.domain_effects:
        out.append("Domain effects: each domain shifts its ratings by a sum-to-zero effect "
                   "(some domains are rated higher than others).")
    kept = info.get("groups_kept")
    par = info.get("parametrisation") or spec.parametrisation
    words = {"marginal": "integrated out exactly (the sampler sees only their SD; the effects "
             "are drawn afterwards)", "non_centred": "sampled, non-centred",
             "centred": "sampled, centred"}
    gl = []
    for g in spec.groups:
        if kept is not None and g not in kept:
            gl.append(f"{g} (left out: it cannot be told apart from another level in these "
                      f"data)")
        else:
            how = par.get(g, "")
            if how.startswith("partial:"):
                how = ("sampled, partially non-centred with centring weight "
                       f"{how.split(':', 1)[1]}")
            gl.append(f"{g} ({words.get(how, how or 'sampled')})")
    out.append("Group effects, normal with one SD per level, outermost first: "
               + "; ".join(gl) + ".")
    if fam == "path" and spec.mediator is not None:
        med = spec.mediator
        out.append(
            f"Path: {med.outcome} is itself a cumulative probit outcome of "
            f"{', '.join(_term_column(t) for t in med.terms)}"
            + (f"; {spec.exposure.outcome} is Bernoulli with a probability for each value of "
               f"{', '.join(spec.exposure.terms)}" if spec.exposure is not None else "")
            + f". {med.outcome.capitalize()} and "
            + (spec.exposure.outcome if spec.exposure is not None else "")
            + f" are {'unit' if spec.path_level != 'row' else 'row'}-level: "
            + ("one value per unit, shared by its rows" if spec.path_level != "row" else
               "one value per row")
            + "; where one was not observed it is integrated out over its equation, so no row "
              "is left out for it. The effect of clinician presence splits into a direct "
              "effect (discussion held) and an indirect one (through discussion quality).")
    else:
        need = [c for c in spec.term_columns]
        out.append("Rows missing any of " + ", ".join(need) + " or the outcome are left out "
                   "of this model.")
    for note in info.get("notes", []) or []:
        out.append(f"Note from the fit: {note}.")
    return out


def _prior_class_rows(spec: Any, priors: Any, info: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(parameter, class, PriorDist) for every parameter the built model gives a prior.

    Mirrors :mod:`pyramid.models.builder`: the skill equation's classes (``b``, ``b_mo``,
    ``sd``) or the latent ones (``latent_*``) of the cumulative probit, the mediator's
    ``mediator_*``; per-coefficient and per-group overrides through ``PriorSet.get``.
    """
    fam = spec.family
    latent = fam == "cumulative_probit"
    b_cls, mo_cls, sd_cls = ("latent_b", "latent_b_mo", "latent_sd") if latent else (
        "b", "b_mo", "sd")
    med = spec.mediator.outcome if spec.mediator is not None else None
    coefs = info.get("coefs")
    coefs = json.loads(coefs) if isinstance(coefs, str) else (coefs or {})
    mono = set(spec.monotonic)
    rows: list[tuple[str, str, Any]] = []
    for name in coefs:
        if name == "intercept":
            rows.append((name, "intercept", priors.get("intercept", coef=name)))
        elif name.startswith("kappa["):
            continue  # one row for the thresholds below
        elif med and name.startswith(f"{med}_cutpoints"):
            continue
        elif med and name.startswith(f"{med}_"):
            rows.append((name, "mediator_b", priors.get("mediator_b", coef=name)))
        else:
            col = name.split("[", 1)[0]
            cls = mo_cls if col in mono else b_cls
            rows.append((name, cls, priors.get(cls, coef=name)))
            if col in mono:
                rows.append((f"zeta_{col}", "zeta", priors.get("zeta")))
    if not coefs and not latent:  # a spec without a fit: no coefficient names to list
        rows.append(("intercept", "intercept", priors.get("intercept")))
    if latent:
        rows.append(("thresholds (4)", "cutpoints", priors.get("cutpoints")))
        if spec.domain_effects:
            rows.append(("domain effects", "domain", priors.get("domain")))
    else:
        rows.append(("sigma", "sigma", priors.get("sigma")))
    kept = info.get("groups_kept")
    for g in spec.groups:
        if kept is None or g in kept:
            rows.append((f"sd_{g}", sd_cls, priors.get(sd_cls, group=g)))
    if fam == "path" and med:
        rows.append((f"{med} thresholds", "mediator_cutpoints", priors.get("mediator_cutpoints")))
        if spec.exposure is not None:
            rows.append((f"{spec.exposure.outcome}_rate", "exposure_rate",
                         priors.get("exposure_rate")))
    return rows


def prior_table(spec: Any, priors: Any, info: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every prior a model uses, in words, from its spec and prior set.

    Parameters
    ----------
    spec : ModelSpec
    priors : PriorSet
    info : mapping, optional
        ``result.info`` of a fit (its ``coefs`` and ``groups_kept`` name the parameters
        exactly as fitted). Without it only the parameter classes are listed.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter``, ``class`` (of :data:`pyramid.specs.PRIOR_CLASSES`), ``what``
        (the class's meaning), ``prior`` (the distribution and where 95 % of it lies).

    Examples
    --------
    >>> from pyramid.specs import load_priors, load_spec
    >>> t = prior_table(load_spec("skill"), load_priors("default"),
    ...                 {"coefs": {"intercept": 0, "clinician": 0}, "groups_kept": ["unit"]})
    >>> t["parameter"].tolist()
    ['intercept', 'clinician', 'sigma', 'sd_unit']
    >>> t.loc[1, "prior"]
    'Normal(mu=0, sigma=0.5): 95 % between -0.98 and 0.98 skill points'
    """
    from pyramid.specs import PRIOR_CLASSES

    info = dict(info or {})
    unit_of = {"intercept": "skill points", "b": "skill points", "b_mo": "skill points",
               "sd": "skill points", "sigma": "skill points", "latent_b": "probit units",
               "latent_b_mo": "probit units", "latent_sd": "probit units",
               "cutpoints": "probit units", "domain": "probit units",
               "mediator_b": "probit units", "mediator_cutpoints": "probit units"}
    rows = []
    for param, cls, dist in _prior_class_rows(spec, priors, info):
        rows.append({"parameter": param, "class": cls, "what": PRIOR_CLASSES[cls][1],
                     "prior": describe_prior(dist, unit_of.get(cls, ""))})
    return pd.DataFrame(rows, columns=["parameter", "class", "what", "prior"])


# --------------------------------------------------------------------------------------------
# what the data are
# --------------------------------------------------------------------------------------------
def data_origin(data: pd.DataFrame) -> str:
    """Whether observation data are the ``rsw2017`` reconstruction, simulated, or neither.

    ``reconstructed`` when every row is a row of :func:`pyramid.datasets.load_rsw2017` (same
    observation id, worker, unit, authority and domain scores): the reconstruction or a
    subset of it; ``simulated`` when every observation id has the form
    :func:`pyramid.simulate` gives (``A01-U02-W3-O1``); otherwise ``observed`` (as supplied:
    pyramid cannot tell real observations from others).

    Parameters
    ----------
    data : pandas.DataFrame
        Observations (e.g. ``result.data``).

    Returns
    -------
    str
        A key of :data:`ORIGINS`.

    Examples
    --------
    >>> import pyramid as pyr
    >>> data_origin(pyr.datasets.load_rsw2017().head(10))
    'reconstructed'
    >>> data_origin(pyr.simulate((2, 2, 2, 1), seed=1).data)
    'simulated'
    """
    from pyramid.datasets import load_rsw2017

    if not isinstance(data, pd.DataFrame) or "observation" not in data.columns or not len(data):
        raise InputError("data_origin needs a frame of observations with an 'observation' column")
    ref = load_rsw2017()
    cols = ["observation", "worker", "unit", "authority", *schema.DOMAINS]
    if all(c in data.columns for c in cols) and all(c in ref.columns for c in cols):
        def key(frame: pd.DataFrame) -> pd.Series:
            parts = [frame[c].astype("string").fillna("") for c in cols]
            out = parts[0]
            for p in parts[1:]:
                out = out + "|" + p
            return out

        if key(data).isin(set(key(ref))).all():
            return "reconstructed"
    ids = data["observation"].astype(str)
    if ids.map(lambda s: bool(_SIMULATED_ID.match(s))).all():
        return "simulated"
    return "observed"


