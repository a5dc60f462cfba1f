"""Prior densities of contrasts in closed form: the numerator of a Savage-Dickey Bayes factor.

A contrast of the Gaussian models (``skill``, and the skill equation of ``pyramid`` with every
covariate held) is a weighted sum of independent coefficients, ``delta = sum_k w_k beta_k``,
possibly plus a monotonic term ``b * sum_j zeta_j m_j`` (brms's ``mo()``: ``b`` the average
step, ``zeta`` a Dirichlet simplex). Its prior density at a point is then known without
drawing from the prior:

* one coefficient: the prior's own density, ``f(x / w) / |w|``;
* Normal coefficients: a Normal, ``N(sum w mu, sum w^2 sigma^2)``; Cauchy ones: a Cauchy
  with location ``sum w alpha`` and scale ``sum |w| beta``;
* a mix (Student-t among them): the inversion of the characteristic function,
  ``f(x) = (1/pi) int_0^inf cos((M - x) t) prod_k R_k(t) dt``, where ``M = sum w_k mu_k`` and
  ``R_k`` is the modulus of coefficient k's characteristic function (Normal
  ``exp(-(sigma w t)^2 / 2)``, Cauchy ``exp(-beta |w t|)``, Student-t ``2^(1 - nu/2) / Gamma(nu
  / 2) u^(nu/2) K_(nu/2)(u)`` with ``u = sqrt(nu) sigma |w t|``), by adaptive quadrature up to
  where the product falls below ``exp(-46)``;
* a monotonic term whose steps differ (``m_j`` not all equal: green shoots vs non-systemic is
  ``2 b zeta_1``): with two steps, ``zeta_1 ~ Beta(a, a)`` and the density is the average over
  it of the linear density given ``zeta``, ``int_0^1 f(x | z) Beta(z; a, a) dz`` (quadrature).
  Where the rest of the contrast is zero the density at 0 is ``f_b(0) E[1 / |s(zeta)|]``,
  ``s(z) = z m_1 + (1 - z) m_2``: infinite when ``s`` vanishes inside (0, 1), or at an end
  where the Beta density does not vanish (``a <= 1``, the default Dirichlet(1)). Such a
  contrast has no Savage-Dickey Bayes factor: the ratio of two infinite densities at 0 is not
  defined, and a kernel estimate of it grows with the number of prior draws.

Every value here agrees with Monte Carlo and with scipy's own densities in
``tests/test_compare.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import integrate, special, stats

from pyramid.errors import InputError

__all__ = ["prior_pdf", "linear_density", "monotonic_density", "REAL_FAMILIES"]

#: The real-support prior families a coefficient may have (pyramid.specs.DISTRIBUTIONS).
REAL_FAMILIES = ("Normal", "StudentT", "Cauchy")


def _loc_scale(prior) -> tuple[float, float]:
    p = prior.params
    if prior.dist == "Cauchy":
        return float(p["alpha"]), float(p["beta"])
    return float(p["mu"]), float(p["sigma"])


def _check(prior) -> None:
    if prior.dist not in REAL_FAMILIES:
        raise InputError(f"a coefficient's prior must be one of {', '.join(REAL_FAMILIES)} for "
                         f"a closed-form density, got {prior.dist}")


def prior_pdf(prior, x: float | np.ndarray) -> float | np.ndarray:
    """Density of one coefficient's prior (a :class:`pyramid.specs.PriorDist`) at ``x``.

    Examples
    --------
    >>> from pyramid.specs import PriorDist
    >>> round(float(prior_pdf(PriorDist("Normal", {"mu": 0.0, "sigma": 0.5}), 0.0)), 6)
    0.797885
    """
    _check(prior)
    loc, scale = _loc_scale(prior)
    if prior.dist == "Normal":
        return stats.norm.pdf(x, loc, scale)
    if prior.dist == "Cauchy":
        return stats.cauchy.pdf(x, loc, scale)
    return stats.t.pdf(x, float(prior.params["nu"]), loc, scale)


def _log_modulus(prior, w: float, t: np.ndarray) -> np.ndarray:
    """log |characteristic function| of ``w * beta`` at ``t >= 0`` (a real, even function)."""
    _, scale = _loc_scale(prior)
    u = abs(w) * scale * t
    if prior.dist == "Normal":
        return -0.5 * u * u
    if prior.dist == "Cauchy":
        return -u
    nu = float(prior.params["nu"])
    u = math.sqrt(nu) * u
    half = 0.5 * nu
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ((1.0 - half) * math.log(2.0) - special.gammaln(half) + half * np.log(u)
               + np.log(special.kve(half, u)) - u)
    return np.where(u > 1e-300, out, 0.0)


def linear_density(terms: Sequence[tuple[object, float]], x: float = 0.0) -> float:
    """Density at ``x`` of ``sum_k w_k beta_k``, the ``beta_k`` independent with these priors.

    Parameters
    ----------
    terms : sequence of (PriorDist, float)
        Each coefficient's prior (Normal, StudentT or Cauchy) and its weight; zero weights are
        ignored.
    x : float, default 0.0

    Returns
    -------
    float
        The density; ``inf`` at ``x = 0`` when every weight is zero (a point mass at 0).

    Examples
    --------
    Two Normal coefficients: their difference is Normal(0, sqrt(0.5^2 + 0.5^2)).

    >>> from pyramid.specs import PriorDist
    >>> b = PriorDist("Normal", {"mu": 0.0, "sigma": 0.5})
    >>> float(linear_density([(b, 1.0), (b, -1.0)])) == float(stats.norm.pdf(0, 0, 0.5 ** 0.5))
    True
    """
    terms = [(p, float(w)) for p, w in terms if w != 0.0]
    for p, _ in terms:
        _check(p)
    if not terms:
        return math.inf if x == 0.0 else 0.0
    if len(terms) == 1:
        p, w = terms[0]
        return float(prior_pdf(p, x / w)) / abs(w)
    dists = {p.dist for p, _ in terms}
    loc = sum(w * _loc_scale(p)[0] for p, w in terms)
    if dists == {"Normal"}:
        return float(stats.norm.pdf(x, loc, math.sqrt(sum((w * _loc_scale(p)[1]) ** 2
                                                          for p, w in terms))))
    if dists == {"Cauchy"}:
        return float(stats.cauchy.pdf(x, loc, sum(abs(w) * _loc_scale(p)[1] for p, w in terms)))

    def log_modulus(t: float) -> float:
        return sum(float(_log_modulus(p, w, np.asarray(t))) for p, w in terms)

    # the modulus decays at least exponentially (every family's does): integrate up to where
    # it is below exp(-46) ~ 1e-20 of its value at 0, in pieces a few cycles of cos long
    top = 1.0
    while log_modulus(top) > -46.0:
        top *= 2.0
    shift = abs(loc - x)
    n_pieces = max(1, min(200, int(shift * top / math.pi) + 1))
    edges = np.linspace(0.0, top, n_pieces + 1)
    val = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        part, _ = integrate.quad(lambda t: math.exp(log_modulus(t)) * math.cos(shift * t),
                                 lo, hi, epsabs=1e-14, epsrel=1e-12, limit=200)
        val += part
    return val / math.pi


def monotonic_density(terms: Sequence[tuple[object, float]], b_prior, a: float,
                      m: Sequence[float], x: float = 0.0) -> float:
    """Density at ``x`` of ``sum_k w_k beta_k + b * (zeta_1 m_1 + zeta_2 m_2)``.

    ``b`` has prior ``b_prior`` and ``zeta ~ Dirichlet(a, a)``, all independent: a contrast
    of brms's monotonic effect with two steps whose sides differ in both (green shoots vs
    non-systemic: ``m = (2, 0)``). Only two steps are supported (three ordered levels).

    Returns
    -------
    float
        The density, ``inf`` where it is infinite (see the module docstring).

    Examples
    --------
    ``2 b zeta_1`` with ``zeta_1 ~ Uniform(0, 1)``: its density at 0 is infinite.

    >>> from pyramid.specs import PriorDist
    >>> b = PriorDist("Normal", {"mu": 0.0, "sigma": 0.25})
    >>> monotonic_density([], b, 1.0, [2.0, 0.0])
    inf

    With ``a = 2`` it is ``f_b(0) E[1 / (2 zeta_1)]`` and ``E[1 / zeta_1] = (2a - 1) / (a - 1)``:

    >>> exact = float(prior_pdf(b, 0.0)) * 3.0 / 2.0
    >>> bool(abs(monotonic_density([], b, 2.0, [2.0, 0.0]) / exact - 1) < 1e-9)
    True
    """
    if len(m) != 2:
        raise InputError(f"monotonic_density supports two steps, got {len(m)}")
    m1, m2 = float(m[0]), float(m[1])
    terms = [(p, float(w)) for p, w in terms if w != 0.0]
    beta = stats.beta(a, a)
    if not terms and x == 0.0:
        # b * s(zeta): density f_b(0) E[1 / |s|], infinite where s reaches 0 with mass
        if m1 == m2 == 0.0:
            return math.inf
        if m1 * m2 < 0 or (min(abs(m1), abs(m2)) == 0.0 and a <= 1.0):
            return math.inf
        f_b0 = float(prior_pdf(b_prior, 0.0))
        val, _ = integrate.quad(lambda z: beta.pdf(z) / abs(z * m1 + (1 - z) * m2), 0.0, 1.0,
                                epsabs=1e-13, epsrel=1e-11, limit=500)
        return f_b0 * val

    def given(z: float) -> float:
        s = z * m1 + (1.0 - z) * m2
        return linear_density([*terms, (b_prior, s)], x) if (terms or s != 0.0) else 0.0

    pts = [p for p in (m2 / (m2 - m1),) if m1 != m2 and 0.0 < p < 1.0]
    val, _ = integrate.quad(lambda z: given(z) * beta.pdf(z), 0.0, 1.0, points=pts or None,
                            epsabs=1e-12, epsrel=1e-10, limit=200)
    return val
