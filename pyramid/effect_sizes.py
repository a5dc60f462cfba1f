"""Standardised effect sizes in the convention evaluators report (and the unconditional model).

The variance partition of a fit (each level's share, the ICCs) is
:meth:`pyramid.results.FitResult.variance_partition`; of the unconditional model,
``unadjusted_fit(result).variance_partition()``.

Effect sizes (the Education Endowment Foundation's convention)
---------------------------------------------------------------
The EEF's evaluation guidance and its analysis package for education trials (``eefAnalytics``,
Kasim, Xiao and Higgins; Hedges 2007) standardise an adjusted effect by the *total* standard
deviation of the outcome from an *unconditional* multilevel model -- one with an intercept as
its only fixed effect and the same group levels -- and report the posterior probability that
the effect size exceeds thresholds (0, 0.05, 0.1, 0.2, ...). Here, for a contrast ``delta``
(adjusted: the model's other factors held, see :mod:`pyramid.compare`)::

    ES = delta / sqrt(sigma_u^2 + sum_levels sd_u,level^2)

where ``sigma_u`` and ``sd_u,level`` are the residual and group SDs of the unconditional
Gaussian model of overall skill fitted to the same rows (:func:`unadjusted_fit`), draw by draw:
draw ``s`` of the contrast with draw ``s mod S_u`` of the unconditional fit (both flattened
chain by chain). The two posteriors come from separate fits, so the pairing treats them as
independent. The denominator is in skill points for every model, because every contrast is a
difference of expected skill on the 1-5 scale. EEF reports no Bayes factor for effect sizes;
the thresholds' probabilities are its posterior summaries.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pyramid.errors import DataWarning, InputError
from pyramid.results import variance_components

__all__ = ["unadjusted_fit", "total_sd", "effect_size_columns", "ES_THRESHOLDS"]

#: Thresholds of the posterior probabilities P(ES > t) reported with an effect size.
ES_THRESHOLDS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2)


def unadjusted_fit(result: Any, *, draws: int | None = None, tune: int | None = None,
                   random_seed: int | None = None) -> Any:
    """The unconditional model of a fitted result's rows: overall skill on an intercept
    alone, with the result's group levels (Gaussian, effects integrated out exactly).

    Parameters
    ----------
    result : FitResult
    draws, tune : int, optional
        Default: the result's own.
    random_seed : int, optional
        Default: the result's seed.

    Returns
    -------
    FitResult
        Its ``sigma`` and ``sd_<level>`` are the unconditional variance components that the
        EEF convention standardises by (:func:`total_sd`).

    Examples
    --------
    Fitting takes a while, so not run here (tests/test_effect_sizes.py runs it):

    >>> import pyramid as pyr
    >>> res = pyr.fit(pyr.datasets.load_rsw2017(), random_seed=1)     # doctest: +SKIP
    >>> un = pyr.unadjusted_fit(res)                                    # doctest: +SKIP
    >>> un.spec.terms, un.groups_kept == res.groups_kept                # doctest: +SKIP
    ([], True)
    """
    from pyramid.fit import fit
    from pyramid.specs import spec_from_text

    spec = result.spec
    study = spec.the_study
    overall = study.overall.name
    groups = ", ".join(f'"{g}"' for g in spec.groups if g != "observation")
    text = (f'name = "unadjusted"\ndescription = "Overall skill on an intercept alone, with the '
            f'group levels of {spec.name}: the unconditional model of the EEF convention."\n'
            f'family = "gaussian"\noutcome = "{overall}"\nterms = []\ngroups = [{groups}]\n'
            'parametrisation = "marginal"\ndrop_aliased = true\n')
    info = result.info
    post = result.idata["posterior"]
    kw = {"draws": draws or int(post.sizes["draw"]),
          "tune": tune or int(info.get("tune", 1000)),
          "chains": int(post.sizes["chain"]),
          "random_seed": random_seed if random_seed is not None else info.get("seed"),
          "progressbar": False, "verbose": False, "log_likelihood": False}
    data = result.data.copy()
    if data[overall].isna().any():
        raise InputError("the unconditional model needs the skill score on every row the "
                         f"model used; {int(data[overall].isna().sum())} rows lack it")
    with warnings.catch_warnings():
        # the data's design notes (few groups, one observation per worker) were said when the
        # result was fitted; the same rows say them again here
        warnings.simplefilter("ignore", DataWarning)
        return fit(data, model=spec_from_text(text, "<unadjusted>", study), priors=result.priors,
                   study=study, **kw)


def total_sd(unadjusted: Any) -> np.ndarray:
    """Draws (flattened) of the total SD of skill from an unconditional fit:
    ``sqrt(sigma^2 + sum_level sd_level^2)``.

    Examples
    --------
    >>> import pyramid as pyr
    >>> un = pyr.unadjusted_fit(pyr.fit(pyr.datasets.load_rsw2017()))  # doctest: +SKIP
    >>> float(total_sd(un).mean())                                      # doctest: +SKIP
    0.78
    """
    if unadjusted.spec.family != "gaussian" or unadjusted.spec.terms:
        raise InputError("effect sizes need the unconditional Gaussian model of skill "
                         "(pyramid.effect_sizes.unadjusted_fit), got model "
                         f"{unadjusted.spec.name!r} with terms {list(unadjusted.spec.terms)}")
    return np.sqrt(sum(variance_components(unadjusted).values()))


def effect_size_columns(delta: np.ndarray, sd_total: np.ndarray,
                        ci_prob: float) -> dict[str, float]:
    """The effect-size columns of :func:`pyramid.compare`: ``es`` (posterior mean of
    ``delta / sd_total``), ``es_lower``, ``es_upper`` and ``es_p_gt_<t>`` for each threshold
    of :data:`ES_THRESHOLDS`. Draw ``s`` of ``delta`` (flattened) is paired with draw
    ``s mod len(sd_total)``.

    Examples
    --------
    >>> cols = effect_size_columns(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 2.0]), 0.5)
    >>> cols["es"], cols["es_p_gt_0.1"]
    (0.175, 0.5)
    """
    d = np.asarray(delta, dtype=float).ravel()
    s = np.asarray(sd_total, dtype=float).ravel()
    es = d / s[np.arange(d.size) % s.size]
    lo, hi = np.quantile(es, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    out = {"es": float(es.mean()), "es_lower": float(lo), "es_upper": float(hi)}
    for t in ES_THRESHOLDS:
        out[f"es_p_gt_{t:g}"] = float((es > t).mean())
    return out
