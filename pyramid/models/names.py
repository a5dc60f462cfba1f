"""Names of model parameters and their mapping to the simulator's truth names (plain data).

This module imports neither PyMC nor pandas so that :mod:`pyramid.specs` can check prior files
against it cheaply.

Posterior variable names (all models)
-------------------------------------
================================ ===========================================================
variable                         meaning
================================ ===========================================================
``intercept``                    expected skill at the reference levels (gaussian, path)
``b_<col>`` dims ``(<col>,)``    categorical term: one effect per level after the first,
                                 coordinate values the level names (``b_training``)
``b_<col>``                      binary or numeric term, or the monotonic coefficient of
                                 ``mo(<col>)`` (brms's average step between adjacent levels)
``zeta_<col>`` dims ``(<col>_step,)`` simplex splitting a monotonic effect between its steps;
                                 coordinates name the level each step leads to
``sd_<group>``                   SD of a group level's effects
``r_<group>`` dims ``(<group>,)`` group effects (coordinates: the ids)
``sigma``                        residual SD of skill (gaussian, path)
``cutpoints`` dims ``(threshold,)`` ordered thresholds (cumulative probit), ``"1|2"`` ...,
                                 at the reference levels; ``cutpoints_centred`` the same at
                                 the average covariate values (sampled; its prior is the
                                 prior set's ``cutpoints``)
``delta`` dims ``(domain,)``     sum-to-zero domain effects (cumulative probit on domains)
``<mediator>_<term>``            effects in the discussion equation (``discussion_clinician``)
``<mediator>_cutpoints``         its thresholds, dims ``(<mediator>_threshold,)``
``<exposure>_rate`` dims ``(<exposure>_given,)`` P(exposure = 1) per combination of its terms
``direct_<x>``, ``indirect_<x>``, derived effects on skill (path family, see
``total_<x>``                    :mod:`pyramid.models`)
================================ ===========================================================

In the ``domains`` model every effect is on the probit scale of a domain rating; the
simulator's truth names for that scale carry the prefix ``latent:``.

:data:`TRUTH_NAMES` (model -> truth name -> (variable, coordinates)) is the one map between the
simulator's truth (:mod:`pyramid.data.simulate`) and the posterior of each shipped model; the
recovery tests, the calibration and the design analysis use it (:func:`truth_names` for a spec
of one's own).
"""

from __future__ import annotations

from pyramid.specs import COEF_SUPPORT, available_specs, coef_name, coef_support, load_spec

__all__ = [
    "truth_names",
    "TRUTH_NAMES",  # noqa: F822 - built on first use by the module __getattr__
    "coef_name",
    "COEF_SUPPORT",
    "coef_support",
    "step_labels",
    "threshold_labels",
]


def step_labels(levels: tuple[str, ...] | list[str]) -> list[str]:
    """Coordinate labels of the monotonic steps: the level each step leads to.

    Examples
    --------
    >>> step_labels(["non_systemic", "green_shoots", "systemic"])
    ['green_shoots', 'systemic']
    """
    return list(levels[1:])


def threshold_labels(levels: tuple | list) -> list[str]:
    """Coordinate labels of the thresholds between adjacent categories (``"1|2"``).

    Examples
    --------
    >>> threshold_labels([1, 2, 3])
    ['1|2', '2|3']
    """
    return [f"{a}|{b}" for a, b in zip(levels[:-1], levels[1:], strict=True)]


def truth_names(spec) -> dict[str, tuple[str, dict]]:
    """Map the simulator's truth names to posterior variables for a model spec.

    Parameters
    ----------
    spec : pyramid.specs.ModelSpec

    Returns
    -------
    dict
        Truth name (as in :attr:`pyramid.data.simulate.Simulation.truth`; ``latent:`` prefixed
        for the probit scale of the ``domains`` model) -> ``(variable, {dim: coordinate})``.
        Group SDs are included for every level of the spec; a level the data make a fit leave
        out (see ``FitResult.groups_kept``) is absent from that fit's posterior.

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> truth_names(load_spec("skill"))["training[mla]"]
    ('b_training', {'training': 'mla'})
    >>> truth_names(load_spec("domains"))["latent:kappa[2]"]
    ('cutpoints', {'threshold': '2|3'})
    >>> truth_names(load_spec("pyramid"))["p_clinician_csw"]
    ('clinician_rate', {'clinician_given': 'csw=1'})
    """
    study = spec.the_study
    latent = spec.family == "cumulative_probit"
    pre = "latent:" if latent else ""
    out: dict[str, tuple[str, dict]] = {}
    if not latent:
        out["intercept"] = ("intercept", {})
    coding = {t.name: t for t in spec.formula.fixed} if spec.formula is not None else {}
    for term in spec.terms:
        col = term[3:-1] if term.startswith("mo(") else term
        info = study.factors.get(col)
        if term in coding and coding[term].kind == "interaction":
            ft = coding[term]
            for name, lab in zip(ft.coef_names, ft.coef_labels, strict=True):
                out[pre + name] = (f"b_{term}", {term: lab})
        elif ":" in term:  # numeric x numeric: one slope
            out[pre + term] = (f"b_{term}", {})
        elif term.startswith("mo("):
            out[pre + col] = (f"b_{col}", {})
            rsw = study.is_default() and col == "discussion"  # the simulator's own name
            for k, lvl in enumerate(step_labels(list(info.levels)), start=1):
                out[f"{pre}zeta[{k}]" if rsw else f"{pre}zeta_{col}[{k}]"] = (
                    f"zeta_{col}", {f"{col}_step": lvl})
        elif info is not None and info.kind in ("ordered", "categorical"):
            for lvl in info.ordered_levels[1:]:
                out[pre + coef_name(col, lvl)] = (f"b_{col}", {col: lvl})
        else:
            out[pre + col] = (f"b_{col}", {})
    if latent:
        labels = threshold_labels(list(study.categories))
        for k, lab in enumerate(labels, start=1):
            out[f"latent:kappa[{k}]"] = ("cutpoints", {"threshold": lab})
        if spec.domain_effects:
            for d in study.domain_names:
                out[f"latent:delta[{d}]"] = ("delta", {"domain": d})
    if spec.formula is not None and spec.formula.path == "general":
        for g in spec.formula.groups:
            slopes = g.effect_labels[1:] if g.intercept else g.effect_labels
            if g.intercept:
                out[f"{pre}sd_{g.name}"] = (f"sd_{g.name}", {})
            for lab in slopes:
                out[f"{pre}sd_{g.name}[{lab}]"] = (f"sd_{g.name}_slope",
                                                   {f"{g.name}_slope": lab})
            labels = g.effect_labels
            for i in range(len(labels)):
                for j in range(i + 1, len(labels)):
                    pair = f"{labels[i]}~{labels[j]}"
                    out[f"cor_{g.name}[{pair}]"] = (f"cor_{g.name}", {f"{g.name}_pair": pair})
    else:
        for g in spec.groups:
            out[f"{pre}sd_{g}"] = (f"sd_{g}", {})
    if spec.mediator is not None:
        med = spec.mediator.outcome
        for t in spec.mediator.terms:
            out[f"{med}_{t}"] = (f"{med}_{t}", {})
        levels = list(study.factors[med].levels)
        for k, lab in enumerate(threshold_labels(levels), start=1):
            out[f"{med}_cutpoints[{k}]"] = (f"{med}_cutpoints", {f"{med}_threshold": lab})
    if spec.exposure is not None and spec.exposure.terms == ["csw"]:
        expo = spec.exposure.outcome
        out[f"p_{expo}_csw"] = (f"{expo}_rate", {f"{expo}_given": "csw=1"})
        out[f"p_{expo}_usual"] = (f"{expo}_rate", {f"{expo}_given": "csw=0"})
    return out


def _shipped_truth_names() -> dict[str, dict[str, tuple[str, dict]]]:
    return {name: truth_names(load_spec(name)) for name in available_specs()}


def __getattr__(name: str):
    # TRUTH_NAMES reads the shipped spec files, so it is built on first use
    if name == "TRUTH_NAMES":
        value = _shipped_truth_names()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
