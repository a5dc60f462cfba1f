"""Bayesian reanalysis of the report's published statistics, and consistency checks.

The report tested its comparisons with small-sample t-tests, a correlation and percentages. This
module recomputes every one of them from the printed summaries (means, SDs, Ns, counts) taken
from :mod:`pyramid.data.published`, says whether the printed statistic, degrees of freedom and
p-value can come from those summaries, and replaces each test with its Bayesian counterpart:

* the JZS Bayes factor of a t statistic (:func:`bayes_factor_t`, the default of
  ``BayesFactor::ttest.tstat``);
* the exact posterior of a mean difference, of Cohen's d and of each group mean under the
  reference prior, from the sufficient statistics;
* beta-binomial posteriors of proportions and of their difference;
* the posterior of a correlation from r and n, by quadrature of its exact likelihood.

Everything is closed form or one-dimensional quadrature (no MCMC): :func:`reanalyse` of the whole
report takes a fraction of a second.

Methods
-------
*Rounding.* Every printed number is taken to stand for the interval of values that round to it
(``.59`` means [0.585, 0.595)). A printed t, r or p is *consistent* with the printed summaries
when the range of the statistic over all those intervals (evaluated at every corner of the box of
rounded inputs) overlaps the printed value's own rounding interval: the rule of statcheck
(Nuijten et al. 2016), applied to summaries rather than to a test statistic alone.

*GRIM* (Brown & Heathers 2017): a mean of ``n`` whole-number scores, each the mean of ``items``
whole-number items, is a multiple of ``1 / (n * items)``; a printed mean that no such multiple
rounds to cannot be right (or ``n`` is not what was printed). Overall skill is the mean of the
five analysed domains, so ``items = 5`` there.

*Posterior of a mean difference* (:func:`reanalyse` ``posterior=``): ``"behrens_fisher"`` (the
default) puts independent reference priors ``p(mu_i, sigma_i) ~ 1 / sigma_i`` on the two groups,
so that ``mu_i | data ~ mean_i + sd_i / sqrt(n_i) * t(n_i - 1)`` and the difference has the
Behrens-Fisher distribution, integrated here by Gauss-Legendre quadrature. It does not assume
equal variances, which several of the report's comparisons plainly lack (Table 11: SDs of 1.22
and 0.48). ``"pooled"`` assumes one common variance, ``p(mu_1, mu_2, sigma) ~ 1 / sigma``, and
gives a scaled Student t with ``n1 + n2 - 2`` degrees of freedom: the Bayesian twin of the
pooled t-test. Cohen's d, ``(mu_1 - mu_2) / sigma``, is defined by a common sigma, so its
posterior is always the pooled one: ``sqrt(n~) * d = t_obs * sqrt(X / nu) + Z`` with
``X ~ chi2(nu)``, ``Z ~ N(0, 1)`` and ``n~ = n1 n2 / (n1 + n2)`` (Lecoutre's lambda-prime
distribution), integrated over ``X`` by quadrature.

*Proportions* get independent ``Beta(1/2, 1/2)`` (Jeffreys) priors by default
(``proportion_prior="uniform"`` for ``Beta(1, 1)``); the difference of two beta posteriors is
integrated by quadrature. Their Bayes factor compares two independent rates against one common
rate under the same prior (closed form in beta functions).

*Correlations*: the likelihood of rho is the exact sampling density of r for a bivariate normal
sample of size n (Hotelling 1953), which as a function of rho equals the likelihood Ly,
Verhagen & Wagenmakers (2016) derive with Jeffreys's priors on the nuisance parameters. With
Jeffreys's uniform prior on rho (the stretched beta with kappa = 1, JASP's default) the
posterior and the Bayes factor follow by quadrature on a grid in Fisher's z.

References
----------
Rouder, Speckman, Sun, Morey & Iverson (2009) Bayesian t tests for accepting and rejecting the
null hypothesis. Psychonomic Bulletin & Review 16, 225-237.
Ly, Verhagen & Wagenmakers (2016) Harold Jeffreys's default Bayes factor hypothesis tests.
Journal of Mathematical Psychology 72, 19-32.
Brown & Heathers (2017) The GRIM test. Social Psychological and Personality Science 8, 363-369.
Lecoutre (1999) Two useful distributions for Bayesian predictive procedures under normal models.
Journal of Statistical Planning and Inference 79, 93-105.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special

from pyramid import defaults, formatting
from pyramid.checks import finite_number, positive_int, positive_number
from pyramid.data import published
from pyramid.errors import InputError

__all__ = [
    "TABLES",
    "COLUMNS",
    "bayes_factor_t",
    "reanalyse",
    "compact",
    "grim",
    "mean_posterior",
    "combine_groups",
    "correlation_posterior",
]

#: Tables :func:`reanalyse` covers, in report order.
TABLES: tuple[str, ...] = ("7", "9", "10", "11", "12", "14", "15", "correlations")

#: Default scale of the Cauchy prior on effect size (BayesFactor's "medium", sqrt(2)/2 = 0.7071).
DEFAULT_R = 0.707


@functools.cache
def _gauss_legendre(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on (0, 1).

    Used to integrate over the quantile u of one of two independent variables: the integrand is
    then bounded even where a density is singular. 256 nodes give about 1e-9 on the report's
    Behrens-Fisher intervals (groups of 4 or more); heavier tails get more (see the callers).
    """
    x, w = special.roots_legendre(k)
    return (x + 1.0) / 2.0, w / 2.0


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# JZS Bayes factor
# ---------------------------------------------------------------------------------------------
def bayes_factor_t(
    t: float, n1: int, n2: int | None = None, r: float = DEFAULT_R, *, log: bool = False
) -> float:
    """JZS Bayes factor BF10 of a one- or two-sample t statistic.

    The Bayes factor of Rouder et al. (2009, eq. 1), the default of R's
    ``BayesFactor::ttest.tstat``: under H1 the standardised effect has a Cauchy(0, r) prior,
    written as a normal with variance ``g`` and ``g ~ inverse-gamma(1/2, r^2/2)``; the integral
    over ``g`` is done with :func:`scipy.integrate.quad` on the log scale (in ``log g``, around
    the integrand's mode), so a large t neither overflows nor hides a narrow peak.

    Parameters
    ----------
    t : float
        The t statistic (its sign does not matter: the test is two-sided).
    n1 : int
        Size of the (first) group; for a one-sample or paired test, the number of observations or
        pairs (at least 2).
    n2 : int, optional
        Size of the second group of an independent-samples test (``None`` or 0: one sample). With
        two groups ``n1 + n2`` must be at least 3.
    r : float, default 0.707
        Scale of the Cauchy prior on effect size. BayesFactor's ``rscale = "medium"`` is
        ``sqrt(2) / 2 = 0.70711``; 0.707 (pingouin's default) differs from it by less than 0.01 %
        in the Bayes factor.
    log : bool, default False
        Return ``log(BF10)`` (natural log): finite even where BF10 exceeds the largest float.

    Returns
    -------
    float
        BF10, the evidence for H1 (effect != 0) over H0 (effect = 0); ``inf`` only where it
        exceeds about 1e308 (use ``log=True`` there).

    Raises
    ------
    InputError
        If ``t`` is not finite, a size is not a whole number or is too small, or ``r <= 0``.

    Notes
    -----
    With ``nu`` degrees of freedom (``n1 - 1``, or ``n1 + n2 - 2``) and effective size ``N``
    (``n1``, or ``n1 n2 / (n1 + n2)``),

    .. math::

        BF_{10} = \\frac{\\int_0^\\infty (1 + N g r^2)^{-1/2}
        \\left(1 + \\frac{t^2}{\\nu (1 + N g r^2)}\\right)^{-(\\nu+1)/2}
        (2\\pi)^{-1/2} g^{-3/2} e^{-1/(2g)} \\, dg}{(1 + t^2/\\nu)^{-(\\nu+1)/2}}

    Examples
    --------
    Student's sleep data, paired (BayesFactor's documentation: ``ttestBF(..., paired = TRUE)``
    gives 17.25888):

    >>> round(bayes_factor_t(-4.062128, 10, r=2 ** 0.5 / 2), 3)
    17.259

    Two independent groups of 20 (pingouin's ``bayesfactor_ttest(3.5, 20, 20)`` gives 26.743):

    >>> round(bayes_factor_t(3.5, 20, 20), 3)
    26.743
    """
    t = finite_number("t", t)
    r = positive_number("r", r)
    n1 = positive_int("n1", n1, 1, whole_floats=True)
    if n2 is None or (not isinstance(n2, str) and n2 == 0):
        if n1 < 2:
            raise InputError(f"a one-sample t needs n1 >= 2 (nu = n1 - 1 >= 1), got n1 = {n1}")
        big_n, nu = float(n1), float(n1 - 1)
    else:
        n2 = positive_int("n2", n2, 1, whole_floats=True)
        if n1 + n2 < 3:
            raise InputError(
                f"a two-sample t needs n1 + n2 >= 3 (nu = n1 + n2 - 2 >= 1), got n1 = {n1}, n2 = {n2}"
            )
        big_n, nu = n1 * n2 / (n1 + n2), float(n1 + n2 - 2)
    log_bf = _log_jzs(t, big_n, nu, r)
    if log:
        return log_bf
    return math.exp(log_bf) if log_bf < 709.0 else math.inf


def _log_jzs(t: float, big_n: float, nu: float, r: float) -> float:
    a = big_n * r * r
    half = (nu + 1.0) / 2.0
    log_null = -half * math.log1p(t * t / nu)
    c = -0.5 * math.log(2.0 * math.pi)

    def h(u: float) -> float:  # log of the integrand in u = log g, Jacobian included
        if abs(u) > 700.0:  # g^(-1/2) e^(-1/(2g)) and (1 + a g)^(-1/2) vanish out there
            return -math.inf
        g = math.exp(u)
        s = 1.0 + a * g
        return (
            -0.5 * math.log(s)
            - half * math.log1p(t * t / (nu * s))
            + c
            - 0.5 * u  # g^{-3/2} * dg/du = g^{-1/2}
            - 0.5 / g
        )

    # the integrand is unimodal in u: locate its mode on a coarse grid, then refine
    grid = np.arange(-60.0, 60.0, 0.5)
    g = np.exp(grid)
    s_ = 1.0 + a * g
    hv = -0.5 * np.log(s_) - half * np.log1p(t * t / (nu * s_)) + c - 0.5 * grid - 0.5 / g
    k = int(np.argmax(hv))
    res = optimize.minimize_scalar(
        lambda u: -h(u),
        bounds=(grid[k] - 0.5, grid[k] + 0.5),
        method="bounded",
        options={"xatol": 1e-6},
    )
    u_star = float(res.x)
    h_star = h(u_star)

    def f(u: float) -> float:
        return math.exp(h(u) - h_star)  # h(u) = -inf gives 0

    left, _ = integrate.quad(f, -np.inf, u_star, epsabs=0.0, epsrel=1e-10, limit=200)
    right, _ = integrate.quad(f, u_star, np.inf, epsabs=0.0, epsrel=1e-10, limit=200)
    return h_star + math.log(left + right) - log_null


# ---------------------------------------------------------------------------------------------
# posteriors from summary statistics
# ---------------------------------------------------------------------------------------------
def _quantile(
    fun: Callable[[float], tuple[float, float]],
    q: float,
    x0: float,
    step: float,
    lo: float = -math.inf,
    hi: float = math.inf,
) -> float:
    """Solve cdf(x) = q, where ``fun(x)`` returns (cdf, pdf): safeguarded Newton steps.

    Newton from a good start (a normal or Welch approximation) needs three or four evaluations;
    every evaluation also narrows a bracket, and a step that would leave the bracket is replaced
    by bisection (or, before both ends are known, by a bounded move of at most ``step``).
    """
    x = x0
    for _ in range(100):
        cdf, pdf = fun(x)
        err = cdf - q
        if abs(err) < 1e-12:
            return float(x)
        if err > 0:
            hi = x
        else:
            lo = x
        new = x - err / pdf if pdf > 0 else math.nan
        if not lo < new < hi:
            if math.isfinite(lo) and math.isfinite(hi):
                new = (lo + hi) / 2
            else:
                new = x - step if err > 0 else x + step
                step *= 2
        if abs(new - x) < 1e-13 * max(1.0, abs(x)):
            return float(new)
        x = new
    return float(x)


def _t_pdf(nu: float, z):
    c = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
    return np.exp(c - (nu + 1) / 2 * np.log1p(z * z / nu))


def mean_posterior(mean: float, sd: float, n: int, ci_prob: float | None = None) -> dict[str, float]:
    """Posterior of a group mean from its printed mean, SD and N (reference prior).

    Under ``p(mu, sigma) ~ 1 / sigma`` and normal scores, ``mu | data`` is
    ``mean + sd / sqrt(n) * t(n - 1)`` exactly.

    Parameters
    ----------
    mean, sd : float
        Sample mean and standard deviation (``ddof = 1``).
    n : int
        Sample size, at least 2.
    ci_prob : float, optional
        Probability of the equal-tailed interval. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).

    Returns
    -------
    dict
        ``estimate`` (posterior mean; the median for ``n = 2``, whose Cauchy posterior has no
        mean), ``ci_lower``, ``ci_upper``.

    Examples
    --------
    >>> post = mean_posterior(3.50, 0.58, 10)
    >>> round(post["ci_lower"], 3), round(post["ci_upper"], 3)
    (3.085, 3.915)
    """
    ci_prob = defaults.ci_prob(ci_prob)
    n = positive_int("n", n, 2, whole_floats=True)
    sd = finite_number("sd", sd)
    mean = finite_number("mean", mean)
    if sd < 0:
        raise InputError(f"sd must be >= 0, got {sd!r}")
    se = sd / math.sqrt(n)
    q = float(special.stdtrit(n - 1, 0.5 + ci_prob / 2))
    return {"estimate": mean, "ci_lower": mean - q * se, "ci_upper": mean + q * se}


def _diff_posterior(m1, s1, n1, m2, s2, n2, ci_prob, method):
    """Posterior of mu1 - mu2: (estimate, lower, upper, P(> 0))."""
    m = m1 - m2
    lo_q, hi_q = 0.5 - ci_prob / 2, 0.5 + ci_prob / 2
    if method == "pooled":
        nu = n1 + n2 - 2
        sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / nu)
        se = sp * math.sqrt(1 / n1 + 1 / n2)
        if se == 0:
            return m, m, m, float(m > 0)
        q = float(special.stdtrit(nu, hi_q))
        return m, m - q * se, m + q * se, float(special.stdtr(nu, m / se))
    # Behrens-Fisher: m + a T1 - b T2
    a, b = s1 / math.sqrt(n1), s2 / math.sqrt(n2)
    nu1, nu2 = n1 - 1, n2 - 1
    if a == 0 or b == 0:  # one group has no spread: a shifted, scaled t
        nu, se = (nu2, b) if a == 0 else (nu1, a)
        if se == 0:
            return m, m, m, float(m > 0)
        q = float(special.stdtrit(nu, hi_q))
        return m, m - q * se, m + q * se, float(special.stdtr(nu, m / se))
    u, w = _gauss_legendre(256 if min(nu1, nu2) >= 3 else 1024)
    # P(D <= x) = E[F_A((x - m + s * T_B) / c)]: integrate over the quantiles of the heavier-
    # tailed group B and put the lighter-tailed group A in the CDF, so that the integrand is
    # smooth at u = 0 and 1 and Gauss-Legendre converges fast.
    if nu1 >= nu2:  # A = group 1, B = group 2: D = m + a T1 - b T2
        nu_a, c, q_b, sign = nu1, a, special.stdtrit(nu2, u) * b, 1.0
    else:  # A = group 2: P(D <= x) = P(T2 >= (m + a T1 - x) / b) = E[F2((x - m - a T1) / b)]
        nu_a, c, q_b, sign = nu2, b, special.stdtrit(nu1, u) * a, -1.0

    def fun(x: float) -> tuple[float, float]:
        z = (x - m + sign * q_b) / c
        return float(w @ special.stdtr(nu_a, z)), float(w @ _t_pdf(nu_a, z)) / c

    # start from Welch's approximation of the Behrens-Fisher distribution
    se = math.hypot(a, b)
    df_w = se**4 / (a**4 / nu1 + b**4 / nu2)
    half = float(special.stdtrit(df_w, hi_q)) * se
    lower = _quantile(fun, lo_q, m - half, se)
    upper = _quantile(fun, hi_q, m + half, se)
    return m, lower, upper, 1.0 - fun(0.0)[0]


def _d_posterior(t_pooled, n1, n2, ci_prob):
    """Posterior of Cohen's d under the pooled reference prior: (mean, lower, upper)."""
    nu = n1 + n2 - 2
    n_eff = n1 * n2 / (n1 + n2)
    root = math.sqrt(n_eff)
    u, w = _gauss_legendre(256)
    sx = np.sqrt(2.0 * special.gammaincinv(nu / 2.0, u) / nu)  # quantiles of sqrt(X / nu)

    def fun(x: float) -> tuple[float, float]:
        z = root * x - t_pooled * sx
        return float(w @ special.ndtr(z)), float(w @ np.exp(-0.5 * z * z)) * root / math.sqrt(
            2 * math.pi
        )

    d_obs = t_pooled / root
    mean = d_obs * math.exp(
        0.5 * math.log(2.0 / nu) + special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
    )
    sd = math.sqrt(1 / n_eff + d_obs**2 / (2 * nu))  # delta-method SD of d
    z = float(special.ndtri(0.5 + ci_prob / 2))
    lower = _quantile(fun, 0.5 - ci_prob / 2, mean - z * sd, sd)
    upper = _quantile(fun, 0.5 + ci_prob / 2, mean + z * sd, sd)
    return mean, lower, upper


_PRIORS = {"jeffreys": (0.5, 0.5), "uniform": (1.0, 1.0)}


def _beta_posterior(x, n, prior, ci_prob):
    a, b = prior[0] + x, prior[1] + n - x
    return (
        a / (a + b),
        float(special.betaincinv(a, b, 0.5 - ci_prob / 2)),
        float(special.betaincinv(a, b, 0.5 + ci_prob / 2)),
    )


def _beta_diff_posterior(x1, n1, x2, n2, prior, ci_prob):
    """Posterior of p1 - p2 for independent beta posteriors: (mean, lower, upper, P(> 0))."""
    a1, b1 = prior[0] + x1, prior[1] + n1 - x1
    a2, b2 = prior[0] + x2, prior[1] + n2 - x2
    u, w = _gauss_legendre(512)
    # Integrate over the quantiles of one rate and put the other in the CDF. The CDF term has a
    # kink where its argument reaches 0 or 1, which costs accuracy unless that CDF is smooth
    # there: so the CDF is the beta with the larger smaller shape (Beta(1/2, n + 1/2), from a
    # count of 0, behaves like sqrt(p) at 0 and goes under the integral as quantiles instead).
    if min(a1, b1) >= min(a2, b2):  # P(p1 <= p2 + d) = E[F1(p2 + d)]
        a, b, q, sign = a1, b1, special.betaincinv(a2, b2, u), 1.0
    else:  # P(p1 - p2 <= d) = P(p2 >= p1 - d) = E[1 - F2(p1 - d)]
        a, b, q, sign = a2, b2, special.betaincinv(a1, b1, u), -1.0
    log_b = special.betaln(a, b)

    def fun(d: float) -> tuple[float, float]:
        y = q + sign * d
        inside = (y > 0) & (y < 1)
        yi = np.where(inside, y, 0.5)
        dens = np.where(inside, np.exp((a - 1) * np.log(yi) + (b - 1) * np.log1p(-yi) - log_b), 0.0)
        cdf = float(w @ special.betainc(a, b, np.clip(y, 0.0, 1.0)))
        return (cdf if sign > 0 else 1.0 - cdf), float(w @ dens)

    mean = a1 / (a1 + b1) - a2 / (a2 + b2)
    sd = math.sqrt(
        a1 * b1 / ((a1 + b1) ** 2 * (a1 + b1 + 1)) + a2 * b2 / ((a2 + b2) ** 2 * (a2 + b2 + 1))
    )
    z = float(special.ndtri(0.5 + ci_prob / 2))
    start = [min(max(mean + s * z * sd, -0.999), 0.999) for s in (-1, 1)]
    lower = _quantile(fun, 0.5 - ci_prob / 2, start[0], sd, -1.0, 1.0)
    upper = _quantile(fun, 0.5 + ci_prob / 2, start[1], sd, -1.0, 1.0)
    return mean, lower, upper, 1.0 - fun(0.0)[0]


def _bf_proportions(x1, n1, x2, n2, prior):
    """BF10 of two independent rates against one common rate, both with the same beta prior."""
    a, b = prior
    lb = special.betaln
    log_bf = (
        lb(a + x1, b + n1 - x1)
        + lb(a + x2, b + n2 - x2)
        - lb(a, b)
        - lb(a + x1 + x2, b + n1 + n2 - x1 - x2)
    )
    return float(math.exp(log_bf))


def _log_cosh(z):
    az = np.abs(z)
    return az + np.log1p(np.exp(-2.0 * az)) - math.log(2.0)


def _corr_loglik(z, r, n):
    """log of Hotelling's exact density of r given rho = tanh(z), up to a constant in rho."""
    rho = np.tanh(z)
    log_1m_rho2 = -2.0 * _log_cosh(z)
    one_m_rho = 2.0 / (1.0 + np.exp(2.0 * z))  # 1 - tanh(z), without cancellation
    one_m_rho_r = one_m_rho + rho * (1.0 - r)  # 1 - rho r
    arg = np.clip((1.0 + rho * r) / 2.0, 0.0, 1.0)
    return (
        (n - 1) / 2.0 * log_1m_rho2
        - (n - 1.5) * np.log(one_m_rho_r)
        + np.log(special.hyp2f1(0.5, 0.5, n - 0.5, arg))
    )


def correlation_posterior(r: float, n: int, ci_prob: float | None = None) -> dict[str, float]:
    """Posterior of a correlation rho from a sample correlation r and sample size n.

    Uniform prior on rho (Jeffreys's choice for his test, the stretched beta with kappa = 1 of
    Ly et al. 2016 and JASP's default) and the exact likelihood of rho given r for a bivariate
    normal sample: Hotelling's (1953) form of Fisher's density,
    ``(1 - rho^2)^((n-1)/2) (1 - rho r)^(3/2 - n) 2F1(1/2, 1/2; n - 1/2; (1 + rho r) / 2)``.
    Integrated by the trapezoid rule on 4001 points of Fisher's z = atanh(rho) spanning 12
    standard errors either side of atanh(r).

    Parameters
    ----------
    r : float
        Sample correlation, in (-1, 1).
    n : int
        Number of pairs, at least 3.
    ci_prob : float, optional
        Probability of the equal-tailed interval. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).

    Returns
    -------
    dict
        ``estimate`` (posterior mean), ``ci_lower``, ``ci_upper``, ``prob_positive``
        (P(rho > 0)) and ``bf10`` (Bayes factor of rho != 0 against rho = 0).

    Examples
    --------
    pingouin's ``bayesfactor_pearson(0.6, 20)`` (Ly et al. 2016, eq. 25; validated against
    JASP) gives 10.634:

    >>> post = correlation_posterior(0.6, 20)
    >>> round(post["bf10"], 3), round(post["ci_lower"], 2), round(post["ci_upper"], 2)
    (10.634, 0.17, 0.79)
    """
    r = finite_number("r", r)
    if not -1 < r < 1:
        raise InputError(f"r must be in (-1, 1), got {r!r}")
    n = positive_int("n", n, 3, whole_floats=True)
    ci_prob = defaults.ci_prob(ci_prob)
    z0 = math.atanh(r)
    se = 1.0 / math.sqrt(max(n - 3, 1))
    z = np.linspace(max(z0 - 12 * se, -19.0), min(z0 + 12 * se, 19.0), 4001)
    # posterior in z: likelihood x uniform prior on rho (1/2) x Jacobian d rho / dz = 1 - rho^2
    logp = _corr_loglik(z, r, n) - 2.0 * _log_cosh(z)
    log_l0 = float(_corr_loglik(np.array([0.0]), r, n)[0])
    top = logp.max()
    dens = np.exp(logp - top)
    mass = integrate.trapezoid(dens, z)
    log_bf = math.log(0.5 * mass) + top - log_l0
    bf10 = math.exp(log_bf) if log_bf < 709.0 else math.inf
    cum = integrate.cumulative_trapezoid(dens, z, initial=0.0) / mass
    rho = np.tanh(z)
    lower = float(np.tanh(np.interp(0.5 - ci_prob / 2, cum, z)))
    upper = float(np.tanh(np.interp(0.5 + ci_prob / 2, cum, z)))
    mean = float(integrate.trapezoid(rho * dens, z) / mass)
    prob_pos = float(1.0 - np.interp(0.0, z, cum)) if z[0] < 0 < z[-1] else float(z[0] >= 0)
    return {
        "estimate": mean,
        "ci_lower": lower,
        "ci_upper": upper,
        "prob_positive": prob_pos,
        "bf10": bf10,
    }


# ---------------------------------------------------------------------------------------------
# GRIM and groups
# ---------------------------------------------------------------------------------------------
def grim(mean: float, n: int, items: int = 1, decimals: int = 2) -> bool:
    """GRIM test: can a mean of ``n`` whole-number scores, printed to ``decimals``, be right?

    Each score may itself be the mean of ``items`` whole-number items (overall skill is the mean
    of 5 domains), so the true mean is a multiple of ``1 / (n * items)``. The test is informative
    only when ``n * items < 10 ** decimals``; otherwise every printed mean passes.

    Parameters
    ----------
    mean : float
        The printed mean.
    n : int
        Number of scores.
    items : int, default 1
        Whole-number items averaged into each score.
    decimals : int, default 2
        Decimal places the mean was printed to (rounded half up or half to even: both pass).

    Returns
    -------
    bool
        True if some whole-number total gives a mean that rounds to the printed one.

    Examples
    --------
    Table 15 prints 3.43 for 9 workers' overall skill (a mean of 5 domains): 154/45 = 3.422 and
    155/45 = 3.444, so 3.43 is impossible.

    >>> grim(3.43, 9, items=5)
    False
    >>> grim(3.50, 10, items=5)
    True
    """
    mean = finite_number("mean", mean)
    n = positive_int("n", n, 1, whole_floats=True)
    items = positive_int("items", items, 1, whole_floats=True)
    decimals = positive_int("decimals", decimals, 0, whole_floats=True)
    k = n * items
    half = 0.5 * 10.0**-decimals
    centre = mean * k
    for total in range(math.floor(centre) - 1, math.ceil(centre) + 2):
        if abs(total / k - mean) <= half + 1e-9:
            return True
    return False


def combine_groups(means, sds, ns) -> tuple[float, float, int]:
    """Mean, SD and N of the union of groups, exactly, from each group's mean, SD and N.

    The SD of the union adds the within-group sums of squares ``(n_j - 1) sd_j^2`` and the
    between-group sum ``n_j (mean_j - mean)^2``: this is how Table 14's "all other workers" are
    rebuilt from the other rows of the table.

    Parameters
    ----------
    means, sds, ns : sequence of float
        One entry per group (SDs with ``ddof = 1``).

    Returns
    -------
    (mean, sd, n)

    Examples
    --------
    >>> m, s, n = combine_groups([1.0, 3.0], [0.0, 0.0], [2, 2])
    >>> m, round(s, 6), n
    (2.0, 1.154701, 4)
    """
    means = np.asarray(means, dtype=float)
    sds = np.asarray(sds, dtype=float)
    ns = np.asarray(ns, dtype=float)
    if not (means.shape == sds.shape == ns.shape) or means.ndim != 1 or len(means) == 0:
        raise InputError(
            f"means, sds and ns must be equal-length non-empty sequences, got lengths "
            f"{means.size}, {sds.size}, {ns.size}"
        )
    if (ns < 1).any() or (sds < 0).any():
        raise InputError(
            f"every n must be >= 1 and every sd >= 0, got ns={ns.tolist()}, sds={sds.tolist()}"
        )
    m, s, n = _combine(means, sds, ns)
    return float(m), float(s), int(n)


def _combine(means, sds, ns):
    """Vectorised over leading axes: the last axis indexes the groups."""
    n = ns.sum(axis=-1)
    m = (ns * means).sum(axis=-1) / n
    ss = ((ns - 1) * sds**2).sum(axis=-1) + (ns * (means - m[..., None]) ** 2).sum(axis=-1)
    return m, np.sqrt(ss / (n - 1)), n


# ---------------------------------------------------------------------------------------------
# classical statistics from summaries (vectorised over corners of the rounding box)
# ---------------------------------------------------------------------------------------------
def _t_stats(m1, s1, n1, m2, s2, n2):
    nu = n1 + n2 - 2
    sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / nu
    t_p = (m1 - m2) / np.sqrt(sp2 * (1 / n1 + 1 / n2))
    v1, v2 = s1**2 / n1, s2**2 / n2
    t_w = (m1 - m2) / np.sqrt(v1 + v2)
    df_w = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return t_p, nu, t_w, df_w


def _p_two_sided(t, df):
    return 2.0 * special.stdtr(df, -np.abs(t))


def _decimals(printed: str) -> int:
    s = printed.strip().lstrip("<>").strip()
    return len(s.split(".")[1]) if "." in s else 0


def _half_ulp(printed: str) -> float:
    return 0.5 * 10.0 ** -_decimals(printed)


def _p_interval(printed: str | None) -> tuple[float, float] | None:
    """The interval of p-values a printed p stands for."""
    if printed is None:
        return None
    s = printed.strip()
    if s.lower() == "ns":
        return (0.05, 1.0)
    if s.startswith("<"):
        return (0.0, float(s[1:]))
    v = float(s)
    h = _half_ulp(s)
    return (max(v - h, 0.0), min(v + h, 1.0))


def _p_number(printed: str | None) -> float | None:
    """A printed p as a number, or None for a bound ("<0.001"), "Ns" or nothing."""
    if not printed:
        return None
    try:
        return float(printed)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# one published comparison
# ---------------------------------------------------------------------------------------------
@dataclass
class _Printed:
    """A printed number and its text (for the rounding interval)."""

    value: float
    text: str

    @property
    def half(self) -> float:
        return _half_ulp(self.text)


@dataclass
class _Row:
    table: str
    comparison: str
    outcome: str
    kind: str  # t_test | proportions | rate | correlation
    group1: str
    group2: str
    published: bool = True
    n1: float = np.nan
    n2: float = np.nan
    n_source: str = ""
    # t-test: the printed inputs (the box of rounding intervals) and how they map to summaries
    inputs: list[_Printed] = field(default_factory=list)
    summaries: Callable | None = None  # inputs array (..., k) -> (m1, s1, m2, s2)
    # proportions / rates
    x1: float = np.nan
    x2: float = np.nan
    percents: list[tuple[float, float, str]] = field(default_factory=list)  # (count, n, printed %)
    # correlation
    r_printed: _Printed | None = None
    r_from_summaries: Callable | None = None  # inputs array -> r
    # printed test
    stat: str = ""  # "t" or "r"
    printed_stat: _Printed | None = None
    printed_df: float = np.nan
    printed_p: str | None = None
    # GRIM
    items: int | None = None
    grim_alt: tuple[str, float, float] | None = None  # (label, n1, n2): another reading of the Ns
    notes: list[str] = field(default_factory=list)


class _Published:
    """Index of the published cells one reanalysis reads (one pass over each table)."""

    def __init__(self, ids):
        self.cells: dict[tuple[str, str, str, str], _Printed] = {}
        self.labels: dict[tuple[str, str], str] = {}
        self.keys: dict[str, list[str]] = {}
        for tid in ids:
            t = published.table(tid)
            cols = [
                t[c].to_numpy() for c in ("row_key", "stat", "group_key", "value", "printed", "row")
            ]
            for row_key, stat, group_key, value, printed, label in zip(*cols, strict=True):
                self.cells[(tid, row_key, stat, group_key)] = _Printed(float(value), str(printed))
                self.labels.setdefault((tid, row_key), str(label))
            self.keys[tid] = list(dict.fromkeys(t["row_key"]))

    def cell(self, tid: str, row_key: str, stat: str, group_key: str = "") -> _Printed | None:
        return self.cells.get((tid, row_key, stat, group_key))

    def value(self, tid: str, row_key: str, stat: str, group_key: str = "") -> float:
        return self.cells[(tid, row_key, stat, group_key)].value

    def label(self, tid: str, row_key: str) -> str:
        return self.labels[(tid, row_key)]


def _simple_summaries(x):
    return x[..., 0], x[..., 1], x[..., 2], x[..., 3]


def _two_group_rows(pub, tid, g1, g2, label1, label2, n1, n2, n_source, items, scale):
    """Rows of a table that prints mean and SD of two groups per row (Tables 7, 10, 11)."""
    rows = []
    for row_key in pub.keys[tid]:
        cells = [
            pub.cell(tid, row_key, s, g)
            for g, s in ((g1, "mean"), (g1, "sd"), (g2, "mean"), (g2, "sd"))
        ]
        stat = pub.cell(tid, row_key, "t")
        p = pub.cell(tid, row_key, "p")
        df = pub.cell(tid, row_key, "df")
        row = _Row(
            table=tid,
            comparison=row_key,
            outcome=f"{pub.label(tid, row_key)} ({scale})",
            kind="t_test",
            group1=label1,
            group2=label2,
            published=stat is not None or p is not None,
            n1=n1,
            n2=n2,
            n_source=n_source,
            inputs=cells,
            summaries=_simple_summaries,
            stat="t" if stat is not None else "",
            printed_stat=stat,
            printed_df=df.value if df is not None else np.nan,
            printed_p=p.text if p is not None else None,
            items=items,
        )
        rows.append(row)
    return rows


def _rows_table7(pub):
    n1 = pub.value("1", "sw_questionnaire", "count", "rsw:subtotal")
    n2 = pub.value("1", "sw_questionnaire", "count", "usual:subtotal")
    src = (
        f"assumed: Table 7 prints no N; Table 1's social worker questionnaires "
        f"({n1:.0f} RSW, {n2:.0f} usual)"
    )
    rows = _two_group_rows(
        pub,
        "7",
        "rsw",
        "usual",
        "RSW unit family",
        "Service as usual family",
        n1,
        n2,
        src,
        1,
        "concern rated 1-4",
    )
    for row in rows:
        if row.printed_p is None:
            row.notes.append(
                "no test printed; the text says only neglect and overall concern differed "
                "significantly, so p > 0.05 is implied"
            )
            row.printed_p = "Ns"
            row.published = True
    return rows


def _rows_table10(pub):
    """Table 10 prints no Ns, only a df per row (63, 65, 65, 65, 64, 62).

    The df give each row's n1 + n2. The split is the one
    :func:`pyramid.data.reconstruct.table10_split` derives jointly for all rows (the only split
    of Table 1's 67 observations under which every printed mean and SD passes GRIM and
    GRIMMER, with the missing scores the df imply), so that the reanalysis and the rsw2017
    reconstruction agree; Table 1's own split is kept for the GRIM note.
    """
    from pyramid.data.reconstruct import table10_split

    r0 = pub.value("1", "observations", "count", "rsw:subtotal")
    u0 = pub.value("1", "observations", "count", "usual:subtotal")
    split = table10_split()
    r_n, u_n = split.n["rsw"], split.n["usual"]
    rows = _two_group_rows(
        pub, "10", "rsw", "usual", "RSW unit", "Service as usual", r_n, u_n, "", 1, "score 1-5"
    )
    moved = (
        f"{abs(split.moved)} of Table 1's {'RSW' if split.moved > 0 else 'usual'} "
        f"observations analysed with the other group"
        if split.moved
        else "Table 1's split"
    )
    for row in rows:
        if row.comparison == "skill":
            row.items = 5
            row.outcome = f"{pub.label('10', 'skill')} (mean of 5 domain scores 1-5)"
            lost = (split.incomplete["rsw"], split.incomplete["usual"])
            why = "observations with a domain missing (complete cases)"
        else:
            lost = split.missing[row.comparison]
            why = "missing scores"
        row.n1, row.n2 = float(r_n - lost[0]), float(u_n - lost[1])
        row.grim_alt = (f"Table 1's {r0:.0f} + {u0:.0f}", r0 - lost[0], u0 - lost[1])
        total = int(row.printed_df) + 2
        row.n_source = (
            f"inferred: Table 10 prints no N; df + 2 = {total} = n1 + n2. Split from "
            f"pyramid.data.reconstruct.table10_split: {r_n} RSW + {u_n} usual ({moved}; Table 1 "
            f"prints {r0:.0f} + {u0:.0f}), the only split under which every Table 10 mean and SD "
            f"is possible, less {lost[0]} + {lost[1]} {why}"
        )
        if row.n1 + row.n2 != total:
            row.notes.append(
                f"the inferred Ns add to {row.n1 + row.n2:.0f}, not the df + 2 = {total} printed"
            )
    return rows


def _rows_table11(pub):
    n1 = pub.value("1", "parent_interview", "count", "rsw:subtotal")
    n2 = pub.value("1", "parent_interview", "count", "usual:subtotal")
    src = (
        f"assumed: Table 11 prints no N; Table 1's parent interviews ({n1:.0f} RSW, {n2:.0f} usual)"
    )
    rows = _two_group_rows(
        pub,
        "11",
        "rsw",
        "usual",
        "RSW unit family",
        "Comparison unit family",
        n1,
        n2,
        src,
        1,
        "parent rating",
    )
    for row in rows:
        if row.comparison == "times_seen":
            row.outcome = f"{pub.label('11', 'times_seen')} (count)"
        elif row.comparison == "observed_meeting":
            row.outcome = "Rating of how well the worker handled the observed meeting (1-7)"
    return rows


def _rows_table9(pub):
    rows = []
    for row_key in pub.keys["9"]:
        n1 = pub.cell("9", row_key, "n", "rsw")
        x1 = pub.cell("9", row_key, "count", "rsw")
        n2 = pub.cell("9", row_key, "n", "usual")
        x2 = pub.cell("9", row_key, "count", "usual")
        pc1 = pub.cell("9", row_key, "percent", "rsw")
        pc2 = pub.cell("9", row_key, "percent", "usual")
        row = _Row(
            table="9",
            comparison=row_key,
            outcome=f"{pub.label('9', row_key)}: worker and carer agree (proportion)",
            kind="proportions",
            group1="RSW family",
            group2="Comparison family",
            n1=n1.value,
            n2=n2.value,
            n_source="printed",
            x1=x1.value,
            x2=x2.value,
            percents=[(x1.value, n1.value, pc1.text), (x2.value, n2.value, pc2.text)],
            stat="t",
            printed_stat=pub.cell("9", row_key, "t"),
            printed_p=pub.cell("9", row_key, "p").text,
        )
        # Table 8 gives the same families pooled: its Ns and agreeing counts must be the sums
        w8 = pub.value("8", row_key, "count", "worker")
        c8 = pub.value("8", row_key, "count", "carer")
        if n1.value + n2.value != w8:
            row.notes.append(
                f"Table 9's Ns add to {n1.value + n2.value:.0f}, Table 8 prints {w8:.0f} families "
                f"for this issue"
            )
        if x1.value + x2.value != c8:
            row.notes.append(
                f"Table 9's agreeing families add to {x1.value + x2.value:.0f}, Table 8 prints "
                f"{c8:.0f}"
            )
        rows.append(row)
    return rows


def _rows_table12(pub):
    keys = [k for k in pub.keys["12"] if k != "total"]
    n = {k: pub.cell("12", k, "count", "at_risk").value for k in keys}
    x = {k: pub.cell("12", k, "count", "in_care").value for k in keys}
    rows = []
    for k in keys:
        others = [o for o in keys if o != k]
        rows.append(
            _Row(
                table="12",
                comparison=f"{k}_vs_others",
                outcome="children at risk of care entry who spent at least 1 week in care (proportion)",
                kind="rate",
                group1=pub.label("12", k),
                group2="the other four authorities",
                published=False,
                n1=n[k],
                n2=sum(n[o] for o in others),
                n_source="printed",
                x1=x[k],
                x2=sum(x[o] for o in others),
                notes=["no test printed; the report gives counts only"],
            )
        )
    return rows


def _rows_table14(pub):
    keys = pub.keys["14"]
    means = [pub.cell("14", k, "mean") for k in keys]
    sds = [pub.cell("14", k, "sd") for k in keys]
    ns = np.array([pub.cell("14", k, "n").value for k in keys])
    n_obs = pub.value("1", "observations", "count", "total")
    rows = []
    for i, k in enumerate(keys):
        others = [j for j in range(len(keys)) if j != i]
        order = [i, *others]

        def summaries(x, order=order, ns=ns):
            # x holds the means then the SDs of [this level, *others]
            k_ = len(order)
            mo, so, _ = _combine(x[..., 1:k_], x[..., k_ + 1 :], ns[order[1:]])
            return x[..., 0], x[..., k_], mo, so

        n2 = float(ns[others].sum())
        row = _Row(
            table="14",
            comparison=f"{k}_vs_others",
            outcome=f"{pub.label('14', k)}: overall skill (mean of 5 domain scores 1-5)",
            kind="t_test",
            group1=pub.label("14", k),
            group2="all other workers",
            n1=float(ns[i]),
            n2=n2,
            n_source=(
                "printed; the 'others' are the other rows of Table 14 combined exactly "
                "(pooled within- and between-level sums of squares)"
            ),
            inputs=[means[j] for j in order] + [sds[j] for j in order],
            summaries=summaries,
            stat="t",
            printed_stat=pub.cell("14", k, "t"),
            printed_p=pub.cell("14", k, "p").text,
            items=5,
        )
        if ns.sum() != n_obs:
            row.notes.append(
                f"Table 14's Ns add to {ns.sum():.0f} workers, but Table 1 counts {n_obs:.0f} "
                f"observations"
            )
        rows.append(row)
    # the contrasts pyramid.compare reports, from the same summaries (not tested in the report)
    for k in keys[1:]:
        i, j = keys.index(k), 0
        rows.append(
            _Row(
                table="14",
                comparison=f"{k}_vs_{keys[0]}",
                outcome=f"{pub.label('14', k)} against {pub.label('14', keys[0])}: overall skill",
                kind="t_test",
                group1=pub.label("14", k),
                group2=pub.label("14", keys[0]),
                published=False,
                n1=float(ns[i]),
                n2=float(ns[j]),
                n_source="printed",
                inputs=[means[i], sds[i], means[j], sds[j]],
                summaries=_simple_summaries,
                items=5,
                notes=["not tested in the report; the contrast pyramid.compare reports"],
            )
        )
    return rows


def _table15_cells(pub, keys):
    return (
        [pub.cell("15", k, "mean") for k in keys],
        [pub.cell("15", k, "sd") for k in keys],
        np.array([pub.cell("15", k, "n").value for k in keys]),
    )


def _rows_table15(pub):
    rows = []
    n_src = "from the text of Part 4 (Table 15 prints no N)"
    means, sds, ns = _table15_cells(pub, ["clinician_no", "clinician_yes"])
    corr_t = pub.cell("correlations", "clinician", "t")
    row = _Row(
        table="15",
        comparison="clinician_no_vs_yes",
        outcome="overall skill (mean of 5 domain scores 1-5) by clinician at the last case discussion",
        kind="t_test",
        group1="no clinician",
        group2="clinician present",
        n1=float(ns[0]),
        n2=float(ns[1]),
        n_source=n_src,
        inputs=[means[0], sds[0], means[1], sds[1]],
        summaries=_simple_summaries,
        stat="t",
        printed_stat=corr_t,
        printed_p=pub.cell("correlations", "clinician", "p").text,
        items=5,
        notes=["t and p printed in the text of Part 4, not in Table 15"],
    )
    rows.append(row)
    levels = ["non_systemic", "green_shoots", "systemic"]
    means, sds, ns = _table15_cells(pub, levels)
    for i in (1, 2):
        rows.append(
            _Row(
                table="15",
                comparison=f"{levels[i]}_vs_{levels[0]}",
                outcome="overall skill (mean of 5 domain scores 1-5) by quality of case discussion",
                kind="t_test",
                group1=pub.label("15", levels[i]).split(": ")[-1],
                group2=pub.label("15", levels[0]).split(": ")[-1],
                published=False,
                n1=float(ns[i]),
                n2=float(ns[0]),
                n_source=n_src,
                inputs=[means[i], sds[i], means[0], sds[0]],
                summaries=_simple_summaries,
                items=5,
                notes=[
                    "not tested in the report (it gives the correlation); the contrast "
                    "pyramid.compare reports"
                ],
            )
        )
    return rows


def _r_from_levels(ns, codes):
    """Pearson r between a level code and the outcome, from each level's mean, SD and N."""

    def r(x):
        k = len(codes)
        means, sds = x[..., :k], x[..., k:]
        n = ns.sum()
        xbar = (ns * codes).sum() / n
        ybar = (ns * means).sum(axis=-1) / n
        sxy = (ns * (codes - xbar) * (means - ybar[..., None])).sum(axis=-1)
        sxx = (ns * (codes - xbar) ** 2).sum()
        syy = ((ns - 1) * sds**2).sum(axis=-1) + (ns * (means - ybar[..., None]) ** 2).sum(axis=-1)
        return sxy / np.sqrt(sxx * syy)

    return r


def _rows_correlations(pub):
    rows = []
    levels = ["non_systemic", "green_shoots", "systemic"]
    means, sds, ns = _table15_cells(pub, levels)
    n = pub.cell("correlations", "discussion", "n").value
    rows.append(
        _Row(
            table="correlations",
            comparison="discussion",
            outcome=pub.label("correlations", "discussion"),
            kind="correlation",
            group1="quality of case discussion (coded 1, 2, 3)",
            group2="overall skill",
            n1=n,
            n_source="assumed: the 22 workers with an observed discussion (n is not printed beside r)",
            inputs=means + sds,
            r_printed=pub.cell("correlations", "discussion", "r"),
            r_from_summaries=_r_from_levels(ns, np.array([1.0, 2.0, 3.0])),
            stat="r",
            printed_stat=pub.cell("correlations", "discussion", "r"),
            printed_p=pub.cell("correlations", "discussion", "p").text,
            notes=[
                "r recomputed from Table 15's level means, SDs and Ns with the levels coded "
                "1, 2, 3 (Pearson r)"
            ],
        )
    )
    means, sds, ns = _table15_cells(pub, ["clinician_no", "clinician_yes"])
    n = pub.cell("correlations", "clinician", "n").value
    rows.append(
        _Row(
            table="correlations",
            comparison="clinician",
            outcome=pub.label("correlations", "clinician"),
            kind="correlation",
            group1="clinician present (0/1)",
            group2="overall skill",
            n1=n,
            n_source="assumed: the 22 workers with an observed discussion (n is not printed beside t)",
            inputs=means + sds,
            r_from_summaries=_r_from_levels(ns, np.array([0.0, 1.0])),
            stat="t",
            printed_stat=pub.cell("correlations", "clinician", "t"),
            printed_p=pub.cell("correlations", "clinician", "p").text,
            notes=[
                "printed as an independent-samples t of no clinician minus clinician (the "
                "order of Table 15's means); converted to the point-biserial r of clinician "
                "presence, r = -t / sqrt(t^2 + n - 2)"
            ],
        )
    )
    return rows


_BUILDERS = {
    "7": _rows_table7,
    "9": _rows_table9,
    "10": _rows_table10,
    "11": _rows_table11,
    "12": _rows_table12,
    "14": _rows_table14,
    "15": _rows_table15,
    "correlations": _rows_correlations,
}


# ---------------------------------------------------------------------------------------------
# the analysis of one row
# ---------------------------------------------------------------------------------------------
#: Columns of :func:`reanalyse`, in order (documented there).
COLUMNS: tuple[str, ...] = (
    "table",
    "comparison",
    "outcome",
    "kind",
    "published",
    "group1",
    "group2",
    "n1",
    "n2",
    "n_source",
    "mean1",
    "sd1",
    "mean2",
    "sd2",
    "printed_stat",
    "printed_value",
    "printed_df",
    "printed_p",
    "df_used",
    "p_from_printed",
    "t_from_p",
    "t_pooled",
    "df_pooled",
    "p_pooled",
    "t_welch",
    "df_welch",
    "p_welch",
    "r_printed",
    "r_recomputed",
    "consistent",
    "consistency_note",
    "grim",
    "grim_note",
    "bf10",
    "bf10_printed",
    "estimand",
    "posterior",
    "estimate",
    "ci_lower",
    "ci_upper",
    "prob_positive",
    "d_estimate",
    "d_ci_lower",
    "d_ci_upper",
    "group1_estimate",
    "group1_ci_lower",
    "group1_ci_upper",
    "group2_estimate",
    "group2_ci_lower",
    "group2_ci_upper",
)


def _corners(inputs: list[_Printed]) -> np.ndarray:
    """Every corner of the box of rounding intervals, shape (2**k, k)."""
    lo = np.array([c.value - c.half for c in inputs])
    hi = np.array([c.value + c.half for c in inputs])
    pick = np.array(list(itertools.product((0, 1), repeat=len(inputs))), dtype=bool)
    return np.where(pick, hi, lo)


def _abs_range(values: np.ndarray) -> tuple[float, float]:
    a = np.abs(values)
    lo = 0.0 if values.min() <= 0 <= values.max() else float(a.min())
    return lo, float(a.max())


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] + 1e-12 and b[0] <= a[1] + 1e-12


def _p_of_abs_range(lo: float, hi: float, df: float) -> tuple[float, float]:
    return float(_p_two_sided(hi, df)), float(_p_two_sided(lo, df))


def _grim_groups(row: _Row, ns: tuple[float, float]) -> tuple[list[bool], list[str]]:
    """GRIM of the row's printed group means at group sizes ``ns``: (verdicts, notes)."""
    checks = [(row.group1, row.inputs[0], ns[0])]
    if row.summaries is _simple_summaries:
        checks.append((row.group2, row.inputs[2], ns[1]))
    results, notes = [], []
    unit = "scores" if row.items == 1 else f"workers x {row.items} domain scores"
    for label, mean, n in checks:
        k = int(n) * row.items
        dec = _decimals(mean.text)
        if k >= 10**dec:
            notes.append(f"{label}: uninformative (n = {n:.0f} {unit})")
            continue
        ok = grim(mean.value, int(n), row.items, dec)
        results.append(ok)
        if ok:
            notes.append(f"{label}: {mean.text} possible with n = {n:.0f} {unit}")
            continue
        step = 1.0 / k
        below = math.floor(mean.value / step) * step
        msg = (
            f"{label}: {mean.text} impossible with n = {n:.0f} {unit} (nearest possible means "
            f"{below:.3f} and {below + step:.3f})"
        )
        if grim(mean.value, int(n), 2 * row.items, dec):
            msg += ", but possible if scores could be half points (e.g. the mean of two coders)"
        notes.append(msg)
    return results, notes


def _grim_checks(row: _Row) -> tuple[object, str]:
    """GRIM of the printed group means of whole-number scores: (verdict, note).

    The verdict is missing where the test cannot decide: no whole-number scores, a group of
    ``n * items >= 100`` (every mean to 2 dp is possible), or an N that was not printed
    (assumed or inferred: a failure would only say the assumption is wrong).
    """
    if row.items is None or not np.isfinite(row.n1):
        return pd.NA, "not applicable"
    results, notes = _grim_groups(row, (row.n1, row.n2))
    decided = row.n_source.startswith(("printed", "Table 1", "from the text"))
    if not decided and results:
        notes.insert(0, "no verdict, as the Ns are not printed (see n_source); with the Ns used")
    if row.grim_alt is not None:
        label, a1, a2 = row.grim_alt
        alt, alt_notes = _grim_groups(row, (a1, a2))
        impossible = [n.split(" (nearest")[0] for n in alt_notes if " impossible " in n]
        verdict = "; ".join(impossible) if impossible else ("possible" if alt else "uninformative")
        notes.append(f"with {label} ({a1:.0f} + {a2:.0f} here): {verdict}")
    grim_ok = bool(all(results)) if results and decided else pd.NA
    return grim_ok, "; ".join(notes)


def _ns_that_fit(row: _Row, p_int: tuple[float, float]) -> str:
    """Which smaller Ns would give the printed p (pooled t, rounding allowed), as a phrase."""
    cm1, cs1, cm2, cs2 = row.summaries(_corners(row.inputs))
    k1 = np.arange(2, int(row.n1) + 1, dtype=float)[:, None, None]
    k2 = np.arange(2, int(row.n2) + 1, dtype=float)[None, :, None]
    t, nu, _, _ = _t_stats(cm1, cs1, k1, cm2, cs2, k2)
    p = _p_two_sided(t, nu)
    straddle = (t.min(axis=-1) <= 0) & (t.max(axis=-1) >= 0)
    p_lo, p_hi = p.min(axis=-1), np.where(straddle, 1.0, p.max(axis=-1))
    ok = (p_lo <= p_int[1]) & (p_hi >= p_int[0])
    if not ok.any():
        return f" (no Ns up to {row.n1:.0f} + {row.n2:.0f} give it)"
    i, j = np.nonzero(ok)
    best = int(np.argmax(i + j))
    return (
        f" (smaller Ns would give it: the largest such are {i[best] + 2} + {j[best] + 2}, "
        f"of {row.n1:.0f} + {row.n2:.0f} assumed)"
    )


def _analyse(
    row: _Row, ci_prob: float, r_scale: float, method: str, prior: tuple[float, float]
) -> dict:
    out = _record(row)
    issues: list[str] = []
    notes: list[str] = list(row.notes)
    p_int = _p_interval(row.printed_p)
    if row.kind == "correlation":
        return _analyse_correlation(row, out, issues, notes, p_int, ci_prob)
    c = _classical(row, out)
    checked = _check_printed_test(row, out, c, p_int, issues, notes)
    _check_percents(row, out)
    _bayesian(row, out, c, ci_prob=ci_prob, r_scale=r_scale, method=method, prior=prior)
    if checked:
        out["consistent"] = not issues
    out["consistency_note"] = "; ".join(issues + notes)
    out["_issues"], out["_notes"] = issues, notes
    return out


def _record(row: _Row) -> dict:
    """A row of :func:`reanalyse`'s table with what the report printed filled in."""
    out = {c: np.nan for c in COLUMNS}
    out.update(
        table=row.table,
        comparison=row.comparison,
        outcome=row.outcome,
        kind=row.kind,
        published=row.published,
        group1=row.group1,
        group2=row.group2,
        n1=row.n1,
        n2=row.n2,
        n_source=row.n_source,
        printed_stat=row.stat,
        printed_value=row.printed_stat.value if row.printed_stat else np.nan,
        printed_df=row.printed_df,
        printed_p=row.printed_p or "",
        consistent=pd.NA,
        grim=pd.NA,
        grim_note="not applicable",
        estimand="",
        posterior="",
        consistency_note="",
    )
    return out


@dataclass(frozen=True)
class _Classical:
    """The classical statistics recomputed from a row's summaries (at their printed values,
    and over the range their rounding allows)."""

    m1: float
    s1: float
    m2: float
    s2: float
    t_p: float
    nu: float
    t_w: float
    df_w: float
    bdf_w: np.ndarray
    pooled_abs: tuple[float, float]
    welch_abs: tuple[float, float]
    fits: str


def _classical(row: _Row, out: dict) -> _Classical:
    """Pooled and Welch t from the printed means and SDs (or counts scored 0/1)."""
    n1, n2 = row.n1, row.n2
    if row.kind == "t_test":
        centre = np.array([c.value for c in row.inputs])
        m1, s1, m2, s2 = (float(v) for v in row.summaries(centre))
        box = _corners(row.inputs)
        cm1, cs1, cm2, cs2 = row.summaries(box)
    else:  # proportions and rates: each family or child scored 0/1
        m1, m2 = row.x1 / n1, row.x2 / n2
        s1 = math.sqrt(m1 * (1 - m1) * n1 / (n1 - 1))
        s2 = math.sqrt(m2 * (1 - m2) * n2 / (n2 - 1))
        cm1, cs1, cm2, cs2 = (np.array([v]) for v in (m1, s1, m2, s2))
    out.update(mean1=m1, sd1=s1, mean2=m2, sd2=s2)
    t_p, nu, t_w, df_w = (float(v) for v in _t_stats(m1, s1, n1, m2, s2, n2))
    bt_p, _, bt_w, bdf_w = _t_stats(cm1, cs1, n1, cm2, cs2, n2)
    out.update(
        t_pooled=t_p,
        df_pooled=nu,
        p_pooled=float(_p_two_sided(t_p, nu)),
        t_welch=t_w,
        df_welch=df_w,
        p_welch=float(_p_two_sided(t_w, df_w)),
    )
    pooled_abs = _abs_range(bt_p)
    welch_abs = _abs_range(bt_w)
    source = "the printed summaries" if row.kind == "t_test" else "the printed counts (scored 0/1)"
    fits = (
        f"{source} give pooled t = {formatting.number(t_p)} ({formatting.p_value(out['p_pooled'])}) and "
        f"Welch t = {formatting.number(t_w)} (df = {formatting.number(df_w, 1)}, {formatting.p_value(out['p_welch'])})"
    )
    return _Classical(m1, s1, m2, s2, t_p, nu, t_w, df_w, bdf_w, pooled_abs, welch_abs, fits)


def _check_printed_test(row: _Row, out: dict, c: _Classical, p_int: tuple | None,
                        issues: list[str], notes: list[str]) -> bool:
    """Whether the printed t, df and p agree with the summaries (issues and notes say how
    not); True when there was a printed test to check."""
    nu, bdf_w, pooled_abs, welch_abs, fits = c.nu, c.bdf_w, c.pooled_abs, c.welch_abs, c.fits
    checked = False
    df_used = row.printed_df if np.isfinite(row.printed_df) else nu
    out["df_used"] = df_used
    p_value = _p_number(row.printed_p)
    if p_value is not None:
        out["t_from_p"] = float(special.stdtrit(df_used, 1 - p_value / 2))
    if row.printed_stat is not None:
        checked = True
        big_t, h = abs(row.printed_stat.value), row.printed_stat.half
        out["p_from_printed"] = float(_p_two_sided(big_t, df_used))
        if not np.isfinite(row.printed_df):
            notes.append(f"df not printed; n1 + n2 - 2 = {nu:.0f} used")
        t_int = (big_t - h, big_t + h)
        if _overlap(t_int, pooled_abs):
            pass
        elif _overlap(t_int, welch_abs):
            notes.append(f"|t| = {row.printed_stat.text} fits only as Welch's t ({fits})")
        else:
            rounding = (
                f" (rounding of the printed summaries allows |t| in {pooled_abs[0]:.3f}-"
                f"{pooled_abs[1]:.3f} pooled)"
                if pooled_abs[1] - pooled_abs[0] > 1e-9
                else ""
            )
            issues.append(f"printed t = {row.printed_stat.text}, but {fits}{rounding}")
        if p_int is not None:
            p_t = _p_of_abs_range(max(big_t - h, 0.0), big_t + h, df_used)
            if not _overlap(p_t, p_int):
                msg = (
                    f"printed p = {row.printed_p} cannot come from the printed t = "
                    f"{row.printed_stat.text} at df = {df_used:.0f} (which gives "
                    f"{formatting.p_value(out['p_from_printed'])})"
                )
                for factor in (10.0, 0.1):
                    shifted = big_t * factor
                    ps = _p_of_abs_range(
                        max(shifted - h * factor, 0), shifted + h * factor, df_used
                    )
                    if _overlap(ps, p_int):
                        msg += (
                            f", whereas |t| = {shifted:g} (the printed digits with the decimal "
                            f"point moved) gives "
                            f"{formatting.p_value(float(_p_two_sided(shifted, df_used)))}, as printed"
                        )
                        break
                issues.append(msg)
    elif p_int is not None:
        checked = True
        p_pool = _p_of_abs_range(*pooled_abs, nu)
        p_welch = (
            float(_p_two_sided(welch_abs[1], bdf_w.min())),
            float(_p_two_sided(welch_abs[0], bdf_w.max())),
        )
        if _overlap(p_pool, p_int):
            pass
        elif _overlap(p_welch, p_int):
            notes.append(f"p = {row.printed_p} fits only Welch's test ({fits})")
        else:
            msg = f"printed p = {row.printed_p}, but {fits}"
            if row.n_source.startswith("assumed"):
                msg += _ns_that_fit(row, p_int)
            issues.append(msg)
    if issues and row.n_source.startswith("assumed") and not any(" Ns " in i for i in issues):
        notes.append("the Ns are assumed (see n_source): other Ns might fit")
    return checked


def _check_percents(row: _Row, out: dict) -> None:
    """Percentages printed beside counts, or GRIM for printed means."""
    if row.percents:
        bad = []
        for c, n, printed in row.percents:
            pc = re.search(r"(\d+(?:\.\d+)?)\s*%", printed).group(1)
            if abs(100 * c / n - float(pc)) > _half_ulp(pc) + 1e-9:
                bad.append(f"{c:.0f}/{n:.0f} = {100 * c / n:.1f}% printed as {pc}%")
        out["grim"] = not bad
        out["grim_note"] = "; ".join(bad) if bad else "printed percentages agree with the counts"
    else:
        out["grim"], out["grim_note"] = _grim_checks(row)


def _bayesian(row: _Row, out: dict, c: _Classical, *, ci_prob: float, r_scale: float,
              method: str, prior: tuple[float, float]) -> None:
    """The JZS Bayes factor and exact posteriors (a t-test), or the beta-binomial ones."""
    n1, n2 = row.n1, row.n2
    m1, s1, m2, s2, t_p = c.m1, c.s1, c.m2, c.s2, c.t_p
    if row.kind == "t_test":
        out["bf10"] = bayes_factor_t(t_p, int(n1), int(n2), r_scale)
        est, lo, hi, pp = _diff_posterior(m1, s1, n1, m2, s2, n2, ci_prob, method)
        out.update(
            estimand="mean difference (group1 - group2)",
            posterior=(
                "Behrens-Fisher: independent reference priors 1/sigma_i"
                if method == "behrens_fisher"
                else "pooled: reference prior 1/sigma, common variance"
            ),
        )
        d = _d_posterior(t_p, n1, n2, ci_prob)
        out.update(d_estimate=d[0], d_ci_lower=d[1], d_ci_upper=d[2])
        g1 = mean_posterior(m1, s1, int(n1), ci_prob)
        g2 = mean_posterior(m2, s2, int(n2), ci_prob)
        g1 = (g1["estimate"], g1["ci_lower"], g1["ci_upper"])
        g2 = (g2["estimate"], g2["ci_lower"], g2["ci_upper"])
    else:
        out["bf10"] = _bf_proportions(row.x1, n1, row.x2, n2, prior)
        est, lo, hi, pp = _beta_diff_posterior(row.x1, n1, row.x2, n2, prior, ci_prob)
        name = "Jeffreys Beta(1/2, 1/2)" if prior == _PRIORS["jeffreys"] else "uniform Beta(1, 1)"
        out.update(
            estimand="difference in proportions (group1 - group2)",
            posterior=f"beta-binomial, {name} priors",
        )
        g1 = _beta_posterior(row.x1, n1, prior, ci_prob)
        g2 = _beta_posterior(row.x2, n2, prior, ci_prob)
    out.update(estimate=est, ci_lower=lo, ci_upper=hi, prob_positive=pp)
    out.update(group1_estimate=g1[0], group1_ci_lower=g1[1], group1_ci_upper=g1[2])
    out.update(group2_estimate=g2[0], group2_ci_lower=g2[1], group2_ci_upper=g2[2])
    if row.printed_stat is not None:
        out["bf10_printed"] = bayes_factor_t(row.printed_stat.value, int(n1), int(n2), r_scale)



def _analyse_correlation(row, out, issues, notes, p_int, ci_prob):
    n = int(row.n1)
    df = n - 2
    centre = np.array([c.value for c in row.inputs])
    r_re = float(row.r_from_summaries(centre))
    r_box = row.r_from_summaries(_corners(row.inputs))
    t_re = r_re * math.sqrt(df / (1 - r_re**2))
    out.update(
        df_used=df,
        r_recomputed=r_re,
        t_pooled=t_re,
        df_pooled=df,
        p_pooled=float(_p_two_sided(t_re, df)),
    )
    if row.stat == "r":
        r_pr = row.r_printed.value
        h = row.r_printed.half
        r_int = (r_pr - h, r_pr + h)
    else:  # a t of group "absent" minus "present": the point-biserial r of presence is -t/...
        t_pr, h = row.printed_stat.value, row.printed_stat.half
        r_pr = -t_pr / math.sqrt(t_pr**2 + df)
        ends = [-t / math.sqrt(t * t + df) for t in (t_pr - h, t_pr + h)]
        r_int = (min(ends), max(ends))
    out["r_printed"] = r_pr
    p_value = _p_number(row.printed_p)
    if p_value is not None:
        out["t_from_p"] = float(special.stdtrit(df, 1 - p_value / 2))
    t_of_r = [r * math.sqrt(df / (1 - r * r)) for r in r_int]
    t_abs = _abs_range(np.array(t_of_r))
    out["p_from_printed"] = float(_p_two_sided(abs(r_pr) * math.sqrt(df / (1 - r_pr**2)), df))
    if not _overlap(r_int, (float(r_box.min()), float(r_box.max()))):
        issues.append(
            f"printed {'r' if row.stat == 'r' else 't'} = {row.printed_stat.text} (r = "
            f"{r_pr:.3f}), but Table 15's means, SDs and Ns give r = {r_re:.3f} (rounding allows "
            f"{r_box.min():.3f}-{r_box.max():.3f}; t = {abs(t_re):.2f})"
        )
    if p_int is not None:
        p_rng = _p_of_abs_range(*t_abs, df)
        if not _overlap(p_rng, p_int):
            msg = (
                f"printed p = {row.printed_p} cannot come from the printed "
                f"{'r' if row.stat == 'r' else 't'} = {row.printed_stat.text} with n = {n} "
                f"(two-sided {formatting.p_value(out['p_from_printed'])})"
            )
            fits = [
                k
                for k in range(4, 200)
                if _overlap(
                    _p_of_abs_range(
                        *_abs_range(
                            np.array([r * math.sqrt((k - 2) / (1 - r * r)) for r in r_int])
                        ),
                        k - 2,
                    ),
                    p_int,
                )
            ]
            if fits:
                msg += f", but fits n = {fits[0]}" + (f"-{fits[-1]}" if len(fits) > 1 else "")
            issues.append(msg)
    post = correlation_posterior(r_pr, n, ci_prob)
    out.update(
        consistent=not issues,
        consistency_note="; ".join(issues + notes),
        bf10=post["bf10"],
        bf10_printed=post["bf10"],
        estimand="correlation rho" + (" (point-biserial)" if row.stat == "t" else ""),
        posterior="exact likelihood of rho given the printed r (Hotelling), uniform prior on rho",
        estimate=post["estimate"],
        ci_lower=post["ci_lower"],
        ci_upper=post["ci_upper"],
        prob_positive=post["prob_positive"],
    )
    out["_issues"], out["_notes"] = issues, notes
    return out


def _sign_conventions(recs: list[dict]) -> None:
    """Check the signs of printed t within each table against the direction of the means."""
    by_table: dict[str, list[dict]] = {}
    for rec in recs:
        if (
            rec["kind"] != "correlation"
            and rec["printed_stat"] == "t"
            and np.isfinite(rec["printed_value"])
        ):
            if rec["printed_value"] != 0 and rec["t_pooled"] != 0:
                by_table.setdefault(rec["table"], []).append(rec)
    for tid, rows in by_table.items():
        agree = [np.sign(r["printed_value"]) == np.sign(r["t_pooled"]) for r in rows]
        if all(agree):
            continue
        if not any(agree):
            for r in rows:
                r["_notes"].append(
                    "the printed t is group2 - group1 throughout this table (sign convention)"
                )
            continue
        n_ok = sum(agree)
        for r, ok in zip(rows, agree, strict=True):
            if ok:
                continue
            above = "above" if r["t_pooled"] > 0 else "below"
            r["_issues"].append(
                f"sign: the printed t is {'negative' if r['printed_value'] < 0 else 'positive'}, "
                f"but the group1 mean ({r['mean1']:.2f}) is {above} the group2 mean "
                f"({r['mean2']:.2f}), and the signs in Table {tid} follow no single convention "
                f"({n_ok} of {len(rows)} rows are group1 - group2)"
            )


def _finish(rec: dict) -> dict:
    issues, notes = rec.pop("_issues", []), rec.pop("_notes", [])
    if rec["consistent"] is not pd.NA:
        rec["consistent"] = not issues
    rec["consistency_note"] = "; ".join(issues + notes)
    return rec


def _check_tables(table) -> list[str]:
    if table is None:
        return list(TABLES)
    items = [table] if isinstance(table, (str, int)) else list(table)
    keys = []
    for item in items:
        key = str(item).strip().lower().removeprefix("table").strip()
        if key not in TABLES:
            raise InputError(
                f"table must be one of {', '.join(TABLES)} (or a list of them), got {item!r}"
            )
        keys.append(key)
    return list(dict.fromkeys(keys))


def reanalyse(
    table: int | str | Iterable[int | str] | None = None,
    *,
    ci_prob: float | None = None,
    r: float = DEFAULT_R,
    posterior: str = "behrens_fisher",
    proportion_prior: str = "jeffreys",
) -> pd.DataFrame:
    """Reanalyse every published comparison of the report from its printed summaries.

    One row per comparison: every t-test of Tables 7, 9, 10, 11, 14 and 15, the two
    correlations of Part 4 (published table ``"correlations"``), the agreement proportions of
    Table 9 and care entry by local authority in Table 12 (each authority against the other
    four). Table 14 and 15 also get the contrasts that :func:`pyramid.compare` reports (each
    training level against none; green shoots and systemic discussions against non-systemic),
    marked ``published = False``. Every input comes from :mod:`pyramid.data.published`. The
    methods are described in the module docstring; nothing is sampled, and the whole report
    takes well under a second.

    Parameters
    ----------
    table : int, str or list of them, optional
        Restrict to these tables: ``7, 9, 10, 11, 12, 14, 15`` or ``"correlations"``. ``None``
        (default): all.
    ci_prob : float, optional
        Probability of every equal-tailed posterior interval. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).
    r : float, default 0.707
        Scale of the Cauchy prior on effect size of the JZS Bayes factors
        (:func:`bayes_factor_t`).
    posterior : {"behrens_fisher", "pooled"}, default "behrens_fisher"
        Posterior of a mean difference: unequal variances (Behrens-Fisher) or one common
        variance (scaled Student t).
    proportion_prior : {"jeffreys", "uniform"}, default "jeffreys"
        Beta prior of each proportion: ``Beta(1/2, 1/2)`` or ``Beta(1, 1)``.

    Returns
    -------
    pandas.DataFrame
        One row per comparison, with columns:

        ================== ====================================================================
        table              ``"7"``, ``"9"``, ``"10"``, ``"11"``, ``"12"``, ``"14"``, ``"15"``,
                           ``"correlations"``
        comparison         machine key of the comparison (the published row key, or
                           ``level_vs_others``, ``level_vs_reference``)
        outcome            what was compared, in words, with its scale
        kind               ``t_test``, ``proportions`` (Table 9), ``rate`` (Table 12) or
                           ``correlation``
        published          True where the report printed (or, Table 7, stated) a test
        group1, group2     the groups; differences are group1 - group2. For correlations,
                           the two variables
        n1, n2             group sizes used (for correlations ``n1`` is the number of pairs)
        n_source           where the Ns come from: ``printed``, from Table 1, inferred from the
                           printed df, or assumed, with the reason
        mean1, sd1,        the group means and SDs used (Table 14's "all others" combined from
        mean2, sd2         the other rows; for proportions the rate and its 0/1 SD)
        printed_stat       ``"t"``, ``"r"`` or ``""`` (no statistic printed)
        printed_value      the printed t or r
        printed_df         the printed df (Table 10 only)
        printed_p          the p-value exactly as printed (``"<0.001"``, ``"Ns"``); ``"Ns"``
                           also where the text says the other rows were not significant
        df_used            df of the checks: the printed df, else ``n1 + n2 - 2`` (``n - 2``)
        p_from_printed     two-sided p of the printed statistic at ``df_used``
        t_from_p           the absolute t that the printed p gives at ``df_used``
        t_pooled           Student's t-test recomputed from the printed summaries (for
                           correlations, the t of the recomputed r); ``df_pooled``,
                           ``p_pooled``: its df and two-sided p
        t_welch            Welch's t-test from the same summaries; ``df_welch``,
                           ``p_welch``: its Welch-Satterthwaite df and two-sided p
        r_printed          correlations: the printed r, or the point-biserial r of the
                           printed t
        r_recomputed       correlations: r recomputed from Table 15's group summaries
        consistent         True if every printed value (t, sign, p) can come from the printed
                           summaries, allowing for rounding; False if not; missing where
                           nothing was printed to check
        consistency_note   why not, and what was assumed (semicolon-separated)
        grim               GRIM test of the printed means of whole-number scores (Table 9:
                           printed percentages against counts); missing where uninformative
                           or not applicable
        grim_note          the GRIM detail per group
        bf10               Bayes factor for a difference (or correlation) against none, from
                           the printed summaries: JZS (Cauchy scale ``r``) for means, beta
                           functions for proportions, uniform prior on rho for correlations
        bf10_printed       the same Bayes factor from the printed statistic as printed
        estimand           what ``estimate`` is the posterior of
        posterior          the prior and model of that posterior
        estimate           posterior mean of the estimand
        ci_lower, ci_upper equal-tailed ``ci_prob`` posterior interval
        prob_positive      posterior probability that the estimand is > 0
        d_estimate         posterior mean of Cohen's d (t-tests; pooled model), with its
                           interval ``d_ci_lower``, ``d_ci_upper``
        group1_estimate    posterior mean of group 1's mean or proportion, with its interval
                           ``group1_ci_lower``, ``group1_ci_upper``; ``group2_*`` the same
                           for group 2
        ================== ====================================================================

    Raises
    ------
    InputError
        For an unknown table, ``ci_prob`` outside (0, 1], ``r <= 0`` or an unknown
        ``posterior`` or ``proportion_prior``.

    Examples
    --------
    >>> res = reanalyse(14)
    >>> res.loc[res.published, ["comparison", "printed_value", "t_pooled", "consistent"]].round(2)
                comparison  printed_value  t_pooled  consistent
    0       none_vs_others          -3.28     -3.34        True
    1      other_vs_others           0.61     -0.36       False
    2        mla_vs_others          -0.68      1.07       False
    3  programme_vs_others          -3.17      4.21       False

    Why the last three are flagged:

    >>> print(res.loc[3, "consistency_note"].split("; ")[1])
    sign: the printed t is negative, but the group1 mean (3.50) is above the group2 mean (2.58), and the signs in Table 14 follow no single convention (1 of 4 rows are group1 - group2)
    """
    keys = _check_tables(table)
    ci_prob = defaults.ci_prob(ci_prob)
    r = positive_number("r", r)
    if posterior not in ("behrens_fisher", "pooled"):
        raise InputError(f"posterior must be 'behrens_fisher' or 'pooled', got {posterior!r}")
    if proportion_prior not in _PRIORS:
        raise InputError(
            f"proportion_prior must be one of {', '.join(_PRIORS)}, got {proportion_prior!r}"
        )
    prior = _PRIORS[proportion_prior]
    pub = _Published(["1", "8", *[k for k in TABLES if k != "correlations"], "correlations"])
    recs = [
        _analyse(row, ci_prob, r, posterior, prior) for key in keys for row in _BUILDERS[key](pub)
    ]
    _sign_conventions(recs)
    df = pd.DataFrame.from_records([_finish(rec) for rec in recs], columns=list(COLUMNS))
    for col in ("consistent", "grim", "published"):
        df[col] = df[col].astype("boolean")
    return df


def compact(result: pd.DataFrame) -> pd.DataFrame:
    """A short, printable view of :func:`reanalyse`'s frame (what ``pyramid reanalyse`` prints).

    Parameters
    ----------
    result : pandas.DataFrame
        The frame :func:`reanalyse` returned (any subset of its rows).

    Returns
    -------
    pandas.DataFrame
        One row per comparison, as strings: ``table``, ``comparison``, ``n`` (``n1/n2``),
        ``printed`` (statistic and p as printed), ``pooled`` and ``welch`` (t and p recomputed
        from the printed summaries; for correlations r and p), ``consistent`` (``yes``, ``NO``
        or ``-``), ``grim``, ``BF10``, ``estimate`` (posterior mean and interval) and ``P(>0)``.

    Examples
    --------
    >>> view = compact(reanalyse(15))
    >>> view.loc[0, ["printed", "pooled", "consistent"]].tolist()
    ['t=-3.69 p=0.002', 't=-3.79 p=0.001', 'NO']
    """
    missing = [
        c for c in ("table", "comparison", "kind", "n1", "n2", "consistent") if c not in result
    ]
    if missing:
        raise InputError(f"compact needs a frame from reanalyse(); missing columns {missing}")

    def flag(v) -> str:
        return (
            "-"
            if v is pd.NA or v is None or (isinstance(v, float) and np.isnan(v))
            else ("yes" if v else "NO")
        )

    def num(v, k=2) -> str:
        return "" if not np.isfinite(v) else f"{v:.{k}f}"

    def pval(p) -> str:
        return "" if not np.isfinite(p) else ("p<0.001" if p < 0.001 else f"p={p:.3f}")

    def printed_p(text: str) -> str:
        return f"p{text}" if text.startswith(("<", ">")) else f"p={text}"

    def bf(v) -> str:
        if not np.isfinite(v):
            return "inf" if v == np.inf else ""
        return f"{v:.3g}" if v < 1e4 else f"{v:.2e}"

    rows = []
    for _, r in result.iterrows():
        corr = r["kind"] == "correlation"
        if r["printed_stat"]:
            pv = r["printed_value"]
            printed = f"{r['printed_stat']}={pv:g}"
            if r["printed_p"]:
                printed += f" {printed_p(r['printed_p'])}"
        else:
            printed = printed_p(r["printed_p"]) if r["printed_p"] else ""
        pooled = (
            f"r={num(r['r_recomputed'], 3)} {pval(r['p_pooled'])}"
            if corr
            else f"t={num(r['t_pooled'])} {pval(r['p_pooled'])}"
        )
        welch = "" if corr else f"t={num(r['t_welch'])} {pval(r['p_welch'])}"
        k = 3 if r["kind"] in ("correlation", "proportions", "rate") else 2
        estimate = f"{num(r['estimate'], k)} [{num(r['ci_lower'], k)}, {num(r['ci_upper'], k)}]"
        n = f"{r['n1']:.0f}" if corr or not np.isfinite(r["n2"]) else f"{r['n1']:.0f}/{r['n2']:.0f}"
        rows.append(
            {
                "table": r["table"],
                "comparison": r["comparison"],
                "n": n,
                "printed": printed,
                "pooled": pooled,
                "welch": welch,
                "consistent": flag(r["consistent"]),
                "grim": flag(r["grim"]),
                "BF10": bf(r["bf10"]),
                "estimate": estimate,
                "P(>0)": num(r["prob_positive"], 3),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "table",
            "comparison",
            "n",
            "printed",
            "pooled",
            "welch",
            "consistent",
            "grim",
            "BF10",
            "estimate",
            "P(>0)",
        ],
    )
