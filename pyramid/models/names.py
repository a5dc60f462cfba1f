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
"""

from __future__ import annotations

__all__ = [
    "coef_name",
    "COEF_SUPPORT",
    "step_labels",
    "threshold_labels",
]


def coef_name(column: str, level: str | None = None) -> str:
    """Truth-style name of one coefficient: ``training[mla]``, ``clinician``.

    Examples
    --------
    >>> coef_name("training", "mla"), coef_name("clinician")
    ('training[mla]', 'clinician')
    """
    return column if level is None else f"{column}[{level}]"


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


def _coef_support() -> dict[str, str]:
    from pyramid.data import schema

    names: dict[str, str] = {"intercept": "real"}
    single = ["csw"]
    for c in schema.COLUMNS.values():
        if c.kind in ("ordered", "category"):
            names.update({coef_name(c.name, lvl): "real" for lvl in c.levels[1:]})
            single.append(c.name)  # as mo(col)
        elif c.kind in ("binary", "score", "float"):
            single.append(c.name)
    for s in single:
        names[s] = "real"
    for med in [c.name for c in schema.COLUMNS.values() if c.kind == "ordered"]:
        for s in single:
            if s != med:
                names[f"{med}_{s}"] = "real"
    return names


#: Coefficient names a prior set may override in ``[coef."<name>"]``, with their support.
COEF_SUPPORT: dict[str, str] = _coef_support()
