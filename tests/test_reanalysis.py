"""The reanalysis of the report's published statistics (pyramid.reanalysis) and its CLI."""

from __future__ import annotations

import io
import itertools
import math
import re
import time

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from pyramid import reanalysis as ra
from pyramid.cli import main
from pyramid.data import published
from pyramid.errors import InputError
from pyramid.reanalysis import (
    COLUMNS,
    bayes_factor_t,
    combine_groups,
    compact,
    correlation_posterior,
    grim,
    mean_posterior,
    reanalyse,
)

SQRT2_2 = math.sqrt(2) / 2


@pytest.fixture(scope="module")
def res() -> pd.DataFrame:
    return reanalyse()


def row(res: pd.DataFrame, table: str, comparison: str) -> pd.Series:
    hit = res[(res.table == table) & (res.comparison == comparison)]
    assert len(hit) == 1, (table, comparison)
    return hit.iloc[0]


# ---------------------------------------------------------------------------------------------
# bayes_factor_t
# ---------------------------------------------------------------------------------------------
# Reference values of Rouder et al. (2009) eq. 1 computed independently, by mpmath quadrature at
# 40 significant digits of the integral over g (mpmath 1.4.1):
#   mp.quad(f, [0, 0.01, 1, 10, 100, 1e4, mp.inf]) / (1 + t**2/nu)**(-(nu+1)/2)
# with f(g) = (1+N g r^2)^(-1/2) (1 + t^2/((1+N g r^2) nu))^(-(nu+1)/2) (2 pi)^(-1/2)
#             g^(-3/2) exp(-1/(2g)),
# N = n1 (one sample) or n1 n2/(n1+n2), nu = n1 - 1 or n1 + n2 - 2.
MPMATH = [
    # (t, n1, n2, r, BF10)
    (3.5, 20, 20, 0.707, 26.7426592317),
    (3.5, 20, None, 0.707, 17.1847489516),
    (-4.062128, 10, None, SQRT2_2, 17.258887),
    (0.0, 10, None, 0.707, 0.308829826966),
    (2.0, 30, 30, 0.707, 1.37169008253),
    (4.307, 27, 40, 0.707, 361.399817733),
    (-3.28, 35, 37, 0.707, 20.3761113876),
    (1.0, 50, None, 1.0, 0.180093039283),
    (10.0, 15, 12, 0.707, 18429636.5858),
    (2.5, 1, 9, 0.707, 1.98263719887),
    (30.0, 100, 100, 0.707, 4.56936181519e71),
]


@pytest.mark.parametrize(("t", "n1", "n2", "r", "expected"), MPMATH)
def test_bayes_factor_t_matches_high_precision_quadrature(t, n1, n2, r, expected):
    # two independent routes to the same integral: tight tolerance
    assert bayes_factor_t(t, n1, n2, r) == pytest.approx(expected, rel=1e-6)


# Values printed by BayesFactor itself or by tools validated against it; the bar is 1 %.
PUBLISHED = [
    # BayesFactor's ?ttestBF example, Student's sleep data, paired, rscale "medium":
    #   ttestBF(sleep$extra[1:10], sleep$extra[11:20], paired = TRUE) -> 17.25888 (t is computed
    #   from the data below, as ttest.tstat would receive it)
    ("sleep_paired", None, 10, None, SQRT2_2, 17.25888),
    # pingouin's tests (raphaelvallat/pingouin, pingouin/tests/test_bayesian.py, validated there
    # against JASP and BayesFactor): bayesfactor_ttest(3.5, 20, 20) == 26.743 and
    # bayesfactor_ttest(3.5, 20) == 17.185, both with r = 0.707
    ("pingouin_two_sample", 3.5, 20, 20, 0.707, 26.743),
    ("pingouin_one_sample", 3.5, 20, None, 0.707, 17.185),
]

SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


@pytest.mark.parametrize(("name", "t", "n1", "n2", "r", "expected"), PUBLISHED)
def test_bayes_factor_t_agrees_with_bayesfactor_to_one_percent(name, t, n1, n2, r, expected):
    if t is None:
        t = stats.ttest_rel(SLEEP_1, SLEEP_2).statistic
        assert t == pytest.approx(-4.0621, abs=1e-4)
    assert bayes_factor_t(t, n1, n2, r) == pytest.approx(expected, rel=0.01)
    # and to the printed precision
    assert bayes_factor_t(t, n1, n2, r) == pytest.approx(expected, rel=2e-5)


def _bf_over_delta(t, n1, n2=None, r=0.707):
    """BF10 by a different route: the noncentral-t likelihood of t integrated against the
    Cauchy(0, r) prior on the standardised effect delta (scipy.stats.nct, scipy.integrate.quad)."""
    big_n, nu = (n1, n1 - 1) if n2 is None else (n1 * n2 / (n1 + n2), n1 + n2 - 2)

    def f(d):
        return stats.nct.pdf(t, nu, d * math.sqrt(big_n)) * stats.cauchy.pdf(d, 0, r)

    num = integrate.quad(f, -np.inf, np.inf, limit=200, epsabs=0, epsrel=1e-10)[0]
    return num / stats.t.pdf(t, nu)


@pytest.mark.parametrize(("t", "n1", "n2"), [(2.2, 29, 44), (-1.8, 17, 15), (3.69, 12, 10)])
def test_bayes_factor_t_matches_the_noncentral_t_route(t, n1, n2):
    assert bayes_factor_t(t, n1, n2) == pytest.approx(_bf_over_delta(t, n1, n2), rel=1e-6)


def test_bayes_factor_t_edge_cases():
    # symmetric in t; t = 0 favours H0; grows with |t|
    assert bayes_factor_t(-2.5, 12, 14) == pytest.approx(bayes_factor_t(2.5, 12, 14), rel=1e-12)
    assert bayes_factor_t(0, 10) < 1
    bfs = [bayes_factor_t(t, 20, 20) for t in (0, 1, 2, 3, 5, 8)]
    assert all(a < b for a, b in zip(bfs, bfs[1:], strict=False))
    # n2 = 0 means one sample, as in BayesFactor (n2 = 0 default)
    assert bayes_factor_t(2.0, 15, 0) == bayes_factor_t(2.0, 15)
    # n1 = 1 is fine with a second group (nu = n1 + n2 - 2 >= 1), not alone
    assert bayes_factor_t(2.5, 1, 9) == pytest.approx(1.98263719887, rel=1e-6)
    with pytest.raises(InputError, match="one-sample t needs n1 >= 2"):
        bayes_factor_t(2.0, 1)
    with pytest.raises(InputError, match="n1 \\+ n2 >= 3"):
        bayes_factor_t(2.0, 1, 1)
    # huge t: no overflow inside; log scale stays finite and keeps growing
    log_a = bayes_factor_t(1e3, 10_000, log=True)
    log_b = bayes_factor_t(2e3, 10_000, log=True)
    assert math.isfinite(log_a) and log_b > log_a > 700
    assert bayes_factor_t(1e3, 10_000) == math.inf
    assert bayes_factor_t(30, 100, 100, log=True) == pytest.approx(
        math.log(4.56936181519e71), rel=1e-8
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(t=2.0, n1=0), "n1 must be a whole number >= 1, got 0"),
        (dict(t=2.0, n1=10.5), "n1 must be a whole number >= 1, got 10.5"),
        (dict(t=2.0, n1=-3), "n1 must be a whole number >= 1"),
        (dict(t=2.0, n1="ten"), "n1 must be a whole number >= 1, got 'ten'"),
        (dict(t=2.0, n1=10, n2=2.5), "n2 must be a whole number >= 1, got 2.5"),
        (dict(t=float("nan"), n1=10), "t must be a finite number, got nan"),
        (dict(t=float("inf"), n1=10), "t must be a finite number"),
        (dict(t=2.0, n1=10, r=0), "r must be a finite number > 0, got 0"),
        (dict(t=2.0, n1=10, r=-1), "r must be a finite number > 0"),
    ],
)
def test_bayes_factor_t_rejects_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message.replace("+", "\\+")):
        bayes_factor_t(**kwargs)


# ---------------------------------------------------------------------------------------------
# posteriors
# ---------------------------------------------------------------------------------------------
def test_mean_posterior_is_the_scaled_student_t():
    post = mean_posterior(3.5, 0.58, 10, ci_prob=0.9)
    # reference: scipy.stats.t.interval(0.9, 9, loc=3.5, scale=0.58 / sqrt(10))
    lo, hi = stats.t.interval(0.9, 9, loc=3.5, scale=0.58 / math.sqrt(10))
    assert (post["ci_lower"], post["ci_upper"]) == pytest.approx((lo, hi), rel=1e-10)
    with pytest.raises(InputError, match="n must be a whole number >= 2, got 1"):
        mean_posterior(3.5, 0.58, 1)
    with pytest.raises(InputError, match="ci_prob must be in \\(0, 1\\], got 1.5"):
        mean_posterior(3.5, 0.58, 10, ci_prob=1.5)
    with pytest.raises(InputError, match="sd must be >= 0"):
        mean_posterior(3.5, -0.1, 10)


def _bf_cdf_by_quad(x, m1, s1, n1, m2, s2, n2):
    """P(mu1 - mu2 <= x) = E[F1(x + mu2)] by adaptive scipy quad over the quantile u of mu2
    (an independent check of the fixed Gauss-Legendre rule and of its choice of order)."""
    a, b = s1 / math.sqrt(n1), s2 / math.sqrt(n2)

    def f(u):
        mu2 = m2 + b * special.stdtrit(n2 - 1, u)
        return special.stdtr(n1 - 1, (x + mu2 - m1) / a)

    return integrate.quad(f, 0, 1, epsabs=1e-9, epsrel=1e-9, limit=500)[0]


@pytest.mark.parametrize(
    "case",
    [
        (2.98, 0.95, 9, 2.35, 0.30, 4),  # Table 15: green shoots vs non-systemic
        (1.71, 0.90, 29, 2.33, 1.32, 44),  # Table 7: neglect
        (2.35, 0.30, 4, 2.98, 0.95, 9),  # the same, groups swapped (the other integration order)
        (2.0, 1.0, 2, 1.0, 1.0, 3),  # Cauchy tails: the finer quadrature
    ],
)
def test_behrens_fisher_quantiles_and_direction(case):
    est, lo, hi, pp = ra._diff_posterior(*case, 0.95, "behrens_fisher")
    assert est == pytest.approx(case[0] - case[3], rel=1e-12)
    assert _bf_cdf_by_quad(lo, *case) == pytest.approx(0.025, abs=2e-6)
    assert _bf_cdf_by_quad(hi, *case) == pytest.approx(0.975, abs=2e-6)
    assert pp == pytest.approx(1 - _bf_cdf_by_quad(0.0, *case), abs=2e-6)


def test_behrens_fisher_against_monte_carlo():
    # seeded Monte Carlo with 400k draws: the MC error of a 2.5 % quantile here is about 0.005
    rng = np.random.default_rng(11)
    m1, s1, n1, m2, s2, n2 = 2.98, 0.95, 9, 2.35, 0.30, 4
    k = 400_000
    d = (m1 + s1 / math.sqrt(n1) * rng.standard_t(n1 - 1, k)) - (
        m2 + s2 / math.sqrt(n2) * rng.standard_t(n2 - 1, k)
    )
    _, lo, hi, pp = ra._diff_posterior(m1, s1, n1, m2, s2, n2, 0.95, "behrens_fisher")
    assert (lo, hi) == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])), abs=0.02)
    assert pp == pytest.approx((d > 0).mean(), abs=0.003)


def test_pooled_posterior_is_the_pooled_t_interval():
    m1, s1, n1, m2, s2, n2 = 3.64, 0.61, 10, 2.52, 0.75, 12
    est, lo, hi, pp = ra._diff_posterior(m1, s1, n1, m2, s2, n2, 0.95, "pooled")
    nu = n1 + n2 - 2
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / nu)
    se = sp * math.sqrt(1 / n1 + 1 / n2)
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, nu, loc=m1 - m2, scale=se), rel=1e-10)
    t = stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2).statistic
    assert pp == pytest.approx(stats.t.cdf(t, nu), rel=1e-10)
    # with equal SDs and large groups, Behrens-Fisher and pooled agree
    bf = ra._diff_posterior(1.0, 1.0, 400, 0.8, 1.0, 400, 0.95, "behrens_fisher")
    pooled = ra._diff_posterior(1.0, 1.0, 400, 0.8, 1.0, 400, 0.95, "pooled")
    assert bf == pytest.approx(pooled, abs=1e-3)


def test_cohens_d_posterior_against_monte_carlo():
    # d = (mu1 - mu2) / sigma under p(mu1, mu2, sigma) ~ 1/sigma: seeded MC with 400k draws
    rng = np.random.default_rng(5)
    m1, s1, n1, m2, s2, n2 = 3.64, 0.61, 10, 2.52, 0.75, 12
    nu = n1 + n2 - 2
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / nu)
    k = 400_000
    sigma = sp * np.sqrt(nu / rng.chisquare(nu, k))
    mu = (m1 - m2) + sigma * math.sqrt(1 / n1 + 1 / n2) * rng.standard_normal(k)
    d = mu / sigma
    t = (m1 - m2) / (sp * math.sqrt(1 / n1 + 1 / n2))
    mean, lo, hi = ra._d_posterior(t, n1, n2, 0.95)
    assert mean == pytest.approx(d.mean(), abs=0.005)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])), abs=0.02)


def test_beta_difference_posterior():
    prior = (0.5, 0.5)
    x1, n1, x2, n2 = 0, 30, 25, 89  # Table 12: no child of LA 3 entered care

    a1, b1, a2, b2 = x1 + 0.5, n1 - x1 + 0.5, x2 + 0.5, n2 - x2 + 0.5
    log_b2 = special.betaln(a2, b2)

    def cdf(d):  # independent route: quad over p2 of f2(p2) F1(p2 + d)
        def f(p):
            dens = math.exp((a2 - 1) * math.log(p) + (b2 - 1) * math.log1p(-p) - log_b2)
            return dens * special.betainc(a1, b1, min(max(p + d, 0.0), 1.0))

        return integrate.quad(f, 0, 1, epsabs=1e-12, limit=200, points=[max(-d, 0.0)])[0]

    mean, lo, hi, pp = ra._beta_diff_posterior(x1, n1, x2, n2, prior, 0.95)
    assert mean == pytest.approx(0.5 / 31 - 25.5 / 90, rel=1e-12)
    assert cdf(lo) == pytest.approx(0.025, abs=1e-6)
    assert cdf(hi) == pytest.approx(0.975, abs=1e-6)
    # the other order of the groups (the other branch of the quadrature) mirrors it
    mirror = ra._beta_diff_posterior(x2, n2, x1, n1, prior, 0.95)
    assert mirror == pytest.approx((-mean, -hi, -lo, 1 - pp), abs=1e-6)
    assert pp == pytest.approx(1 - cdf(0.0), abs=1e-6)  # about 4e-5
    # symmetric case: P(p1 > p2) = 1/2 exactly
    assert ra._beta_diff_posterior(4, 10, 4, 10, prior, 0.95)[3] == pytest.approx(0.5, abs=1e-9)


def test_bayes_factor_of_two_proportions():
    # independent route: the marginal likelihoods as integrals over the rates (binomial
    # coefficients cancel between H1 and H0)
    x1, n1, x2, n2, a, b = 12, 17, 8, 15, 0.5, 0.5

    def marg(x, n):
        return integrate.quad(lambda p: stats.beta.pdf(p, a, b) * p**x * (1 - p) ** (n - x), 0, 1)[
            0
        ]

    expected = marg(x1, n1) * marg(x2, n2) / marg(x1 + x2, n1 + n2)
    assert ra._bf_proportions(x1, n1, x2, n2, (a, b)) == pytest.approx(expected, rel=1e-7)


def _ly_bf(r, n):
    """Ly, Verhagen & Wagenmakers (2016) eq. 25, kappa = 1 (pingouin's bayesfactor_pearson)."""
    return math.exp(
        -math.log(2)
        + 0.5 * math.log(math.pi)
        - special.betaln(1, 1)
        + special.gammaln((n + 1) / 2)
        - special.gammaln((n + 2) / 2)
        + math.log(special.hyp2f1((n - 1) / 2, (n - 1) / 2, (n + 2) / 2, r * r))
    )


@pytest.mark.parametrize(("r", "n"), [(0.6, 20), (0.456, 22), (-0.3, 40), (0.05, 200), (0.9, 6)])
def test_correlation_bayes_factor_matches_ly_closed_form(r, n):
    # the grid quadrature of the exact likelihood against Ly et al.'s hypergeometric closed form
    assert correlation_posterior(r, n)["bf10"] == pytest.approx(_ly_bf(r, n), rel=1e-5)


def test_correlation_posterior_published_values():
    post = correlation_posterior(0.6, 20)
    # pingouin.bayesfactor_pearson(0.6, 20) -> 10.634 and, one-sided,
    # bayesfactor_pearson(0.6, 20, tail="greater") -> 21.185 (pingouin's docstring, validated
    # there against JASP). BF+0 = BF10 * P(rho > 0 | data) / P(rho > 0) with P(rho > 0) = 1/2.
    assert post["bf10"] == pytest.approx(10.634, abs=5e-4)
    assert 2 * post["bf10"] * post["prob_positive"] == pytest.approx(21.185, abs=5e-4)
    # symmetry, and the large-n limit: rho ~ N(r, (1 - r^2)^2 / n)
    zero = correlation_posterior(0.0, 15)
    assert zero["estimate"] == pytest.approx(0.0, abs=1e-12)
    assert zero["prob_positive"] == pytest.approx(0.5, abs=1e-9)
    big = correlation_posterior(0.4, 5000)
    half = 1.96 * (1 - 0.4**2) / math.sqrt(5000)
    assert (big["ci_lower"], big["ci_upper"]) == pytest.approx((0.4 - half, 0.4 + half), abs=2e-3)
    assert correlation_posterior(0.99, 10_000)["bf10"] == math.inf  # no overflow error
    with pytest.raises(InputError, match="r must be in \\(-1, 1\\), got 1.0"):
        correlation_posterior(1.0, 20)
    with pytest.raises(InputError, match="n must be a whole number >= 3, got 2"):
        correlation_posterior(0.5, 2)


def test_grim():
    # Table 15: 3.43 for 9 workers x 5 domains is impossible; 3.50 for 10 is fine
    assert grim(3.43, 9, items=5) is False
    assert grim(3.50, 10, items=5) is True
    assert grim(2.91, 12, items=5) is False  # Table 14, MLA training
    assert grim(2.91, 12, items=10) is True  # half points would allow it
    # Brown & Heathers (2017)-style example: 5.19 cannot be a mean of 28 integers (5.18, 5.21)
    assert grim(5.19, 28) is False
    assert grim(5.18, 28) is True
    # half-way totals pass under either rounding rule: 1/8 = 0.125 prints as 0.12 or 0.13
    assert grim(0.12, 8) and grim(0.13, 8)
    # large n: every mean is possible
    assert grim(2.517, 200, decimals=2)
    with pytest.raises(InputError, match="n must be a whole number >= 1, got 0"):
        grim(2.0, 0)


def test_combine_groups_is_exact():
    rng = np.random.default_rng(2)
    groups = [rng.normal(m, s, n) for m, s, n in ((2.4, 0.6, 35), (2.7, 0.7, 15), (3.5, 0.6, 10))]
    means = [g.mean() for g in groups]
    sds = [g.std(ddof=1) for g in groups]
    m, s, n = combine_groups(means, sds, [len(g) for g in groups])
    allv = np.concatenate(groups)
    assert (m, s, n) == (
        pytest.approx(allv.mean(), rel=1e-12),
        pytest.approx(allv.std(ddof=1), rel=1e-12),
        60,
    )
    with pytest.raises(InputError, match="equal-length"):
        combine_groups([1.0], [0.1, 0.2], [3])


# ---------------------------------------------------------------------------------------------
# reanalyse: coverage
# ---------------------------------------------------------------------------------------------
def test_columns_and_types(res):
    assert list(res.columns) == list(COLUMNS)
    assert res["consistent"].dtype == "boolean" and res["grim"].dtype == "boolean"
    assert res.table.tolist() == sorted(res.table.tolist(), key=list(ra.TABLES).index)
    assert not res.duplicated(["table", "comparison"]).any()


def test_every_published_comparison_is_covered(res):
    def keys(tid):
        return list(dict.fromkeys(published.table(tid)["row_key"]))

    for tid in ("7", "9", "10", "11"):
        assert set(res.loc[res.table == tid, "comparison"]) == set(keys(tid))
    la = [k for k in keys("12") if k != "total"]
    assert set(res.loc[res.table == "12", "comparison"]) == {f"{k}_vs_others" for k in la}
    pub14 = res[(res.table == "14") & res.published]
    assert set(pub14.comparison) == {f"{k}_vs_others" for k in keys("14")}
    assert set(res.loc[res.table == "correlations", "comparison"]) == set(keys("correlations"))
    assert row(res, "15", "clinician_no_vs_yes")["printed_value"] == published.cell(
        "correlations", "clinician", "t"
    )
    # every printed t and p of the report is in the frame
    for tid in ("7", "9", "10", "14"):
        t = published.table(tid)
        for _, cell in t[t.stat == "t"].iterrows():
            r = row(res, tid, cell.row_key if tid != "14" else f"{cell.row_key}_vs_others")
            assert r.printed_value == cell.value
        for _, cell in t[t.stat == "p"].iterrows():
            r = row(res, tid, cell.row_key if tid != "14" else f"{cell.row_key}_vs_others")
            assert r.printed_p == cell.printed


def test_whole_report_in_under_a_second():
    reanalyse()  # first call: imports and caches of pyramid.data.published
    best = min(_timed(reanalyse) for _ in range(3))
    assert best < 1.0, f"reanalyse() took {best:.2f} s"


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# reanalyse: recomputation
# ---------------------------------------------------------------------------------------------
def test_recomputed_tests_match_scipy(res):
    tt = res[res.kind.isin(["t_test", "proportions", "rate"])]
    for _, r in tt.iterrows():
        # reference: scipy.stats.ttest_ind_from_stats(..., equal_var=True / False)
        pooled = stats.ttest_ind_from_stats(r.mean1, r.sd1, r.n1, r.mean2, r.sd2, r.n2)
        welch = stats.ttest_ind_from_stats(
            r.mean1, r.sd1, r.n1, r.mean2, r.sd2, r.n2, equal_var=False
        )
        assert r.t_pooled == pytest.approx(pooled.statistic, rel=1e-10)
        assert r.p_pooled == pytest.approx(pooled.pvalue, rel=1e-8)
        assert r.t_welch == pytest.approx(welch.statistic, rel=1e-10)
        assert r.p_welch == pytest.approx(welch.pvalue, rel=1e-8)
        assert r.bf10 == pytest.approx(
            bayes_factor_t(r.t_pooled, int(r.n1), int(r.n2)) if r.kind == "t_test" else r.bf10,
            rel=1e-12,
        )


def test_inputs_come_from_the_published_tables(res):
    r = row(res, "10", "skill")
    assert (r.mean1, r.sd1, r.mean2, r.sd2) == (
        published.cell(10, "skill", "mean", "rsw"),
        published.cell(10, "skill", "sd", "rsw"),
        published.cell(10, "skill", "mean", "usual"),
        published.cell(10, "skill", "sd", "usual"),
    )
    r = row(res, "9", "mental_health")
    assert (r.n1, r.mean1) == (published.cell(9, "mental_health", "n", "rsw"), 9 / 14)
    r = row(res, "12", "la3_vs_others")
    assert (r.n1, r.mean1, r.n2) == (30, 0.0, published.cell(12, "total", "count", "at_risk") - 30)


def test_table14_others_are_the_other_rows_combined(res):
    keys = ["none", "other", "mla", "programme"]
    stat = {k: [published.cell(14, k, s) for s in ("mean", "sd", "n")] for k in keys}
    for k in keys:
        others = [stat[o] for o in keys if o != k]
        m, s, n = combine_groups(*zip(*others, strict=True))
        r = row(res, "14", f"{k}_vs_others")
        assert (r.mean2, r.sd2, r.n2) == (
            pytest.approx(m, rel=1e-12),
            pytest.approx(s, rel=1e-12),
            n,
        )
        assert r.n1 == stat[k][2]


def test_table10_ns_from_df_and_the_reconstruction_split(res):
    from pyramid.data.reconstruct import table10_split

    design = table10_split()
    t10 = res[res.table == "10"]
    for _, r in t10.iterrows():
        assert r.n1 + r.n2 - 2 == r.printed_df  # the df fix each row's total
        assert r.n_source.startswith("inferred")
        lost = design.missing.get(r.comparison, tuple(design.incomplete.values()))
        assert (r.n1 + lost[0], r.n2 + lost[1]) == (design.n["rsw"], design.n["usual"])
    assert t10.consistent.all()
    # with those Ns the pooled t of overall skill is the printed one to its three decimals
    skill = row(res, "10", "skill")
    assert round(skill.t_pooled, 3) == skill.printed_value
    # Table 1's own split appears in the GRIM note, where it makes means impossible
    assert (
        "with Table 1's 27 + 40 (27 + 40 here): RSW unit: 3.08 impossible"
        in row(res, "10", "empathy").grim_note
    )


# ---------------------------------------------------------------------------------------------
# reanalyse: consistency flags
# ---------------------------------------------------------------------------------------------
def test_table7_t_values_are_flagged_with_the_decimal_point_reading(res):
    for key in ("neglect", "overall"):
        r = row(res, "7", key)
        assert r.consistent is False or r.consistent == False  # noqa: E712 (pandas NA-aware)
        assert "cannot come from the printed t" in r.consistency_note
        assert "decimal point moved" in r.consistency_note
        assert r.n_source.startswith("assumed")
    # the four unprinted tests: the text says only neglect and overall differed
    assert res[(res.table == "7") & res.printed_value.isna()].consistent.all()


def test_table14_signs_and_magnitudes(res):
    flags = {
        k: bool(row(res, "14", f"{k}_vs_others").consistent)
        for k in ("none", "other", "mla", "programme")
    }
    assert flags == {"none": True, "other": False, "mla": False, "programme": False}
    for k in ("other", "mla", "programme"):
        assert "follow no single convention" in row(res, "14", f"{k}_vs_others").consistency_note
    assert "add to 72 workers" in row(res, "14", "none_vs_others").consistency_note


def test_table9_ts_cannot_come_from_the_counts(res):
    t9 = res[res.table == "9"]
    assert (~t9.consistent).all()
    assert t9.grim.all()  # but the printed percentages agree with the counts
    assert "Table 8 prints 19" in row(res, "9", "drugs_alcohol").consistency_note
    assert "group2 - group1 throughout" in row(res, "9", "mental_health").consistency_note


def test_correlations(res):
    d = row(res, "correlations", "discussion")
    assert d.r_printed == 0.456 and d.r_recomputed == pytest.approx(0.458, abs=1e-3)
    assert not d.consistent and "fits n = 20-21" in d.consistency_note
    c = row(res, "correlations", "clinician")
    t = published.cell("correlations", "clinician", "t")
    assert c.r_printed == pytest.approx(-t / math.sqrt(t * t + 20), rel=1e-12)
    assert c.estimate > 0 and c.prob_positive > 0.99


def test_grim_flags(res):
    assert row(res, "14", "mla_vs_others").grim == False  # noqa: E712
    assert row(res, "15", "systemic_vs_non_systemic").grim == False  # noqa: E712
    assert pd.isna(row(res, "10", "empathy").grim)  # Ns inferred: no verdict
    assert row(res, "14", "programme_vs_others").grim == True  # noqa: E712
    assert pd.isna(row(res, "11", "on_time").grim)  # Ns assumed: no verdict
    assert "half points" in row(res, "15", "systemic_vs_non_systemic").grim_note


def _synthetic(printed_t: str, printed_p: str, n=(20, 22)):
    def p(v):
        return ra._Printed(float(v), v)

    return ra._Row(
        table="x",
        comparison="x",
        outcome="x",
        kind="t_test",
        group1="a",
        group2="b",
        n1=float(n[0]),
        n2=float(n[1]),
        n_source="printed",
        inputs=[p("3.10"), p(".80"), p("2.50"), p(".70")],
        summaries=ra._simple_summaries,
        stat="t",
        printed_stat=p(printed_t),
        printed_p=printed_p,
        items=None,
    )


def test_consistency_check_can_fail():
    truth = stats.ttest_ind_from_stats(3.10, 0.80, 20, 2.50, 0.70, 22)
    t_txt, p_txt = f"{truth.statistic:.2f}", f"{truth.pvalue:.3f}"
    good = ra._finish(
        ra._analyse(_synthetic(t_txt, p_txt), 0.95, 0.707, "behrens_fisher", (0.5, 0.5))
    )
    assert good["consistent"] is True, good["consistency_note"]
    bad_t = ra._finish(
        ra._analyse(_synthetic("2.90", p_txt), 0.95, 0.707, "behrens_fisher", (0.5, 0.5))
    )
    assert bad_t["consistent"] is False and "printed t = 2.90" in bad_t["consistency_note"]
    bad_p = ra._finish(
        ra._analyse(_synthetic(t_txt, "0.001"), 0.95, 0.707, "behrens_fisher", (0.5, 0.5))
    )
    assert (
        bad_p["consistent"] is False
        and "printed p = 0.001 cannot come" in bad_p["consistency_note"]
    )


# ---------------------------------------------------------------------------------------------
# reanalyse: options and errors
# ---------------------------------------------------------------------------------------------
def test_table_selection_and_options():
    t14 = reanalyse(14)
    assert set(t14.table) == {"14"}
    assert set(reanalyse(["Table 15", "correlations"]).table) == {"15", "correlations"}
    narrow = reanalyse("15", ci_prob=0.5)
    wide = reanalyse("15", ci_prob=0.99)
    assert ((narrow.ci_upper - narrow.ci_lower) < (wide.ci_upper - wide.ci_lower)).all()
    pooled = reanalyse("15", posterior="pooled")
    r = pooled.iloc[0]
    se = (r.mean1 - r.mean2) / r.t_pooled
    assert (r.ci_lower, r.ci_upper) == pytest.approx(
        stats.t.interval(0.95, r.df_pooled, loc=r.mean1 - r.mean2, scale=se), rel=1e-10
    )
    uni = reanalyse(12, proportion_prior="uniform")
    assert uni.iloc[0].group1_estimate == pytest.approx((11 + 1) / (27 + 2), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(table=99), "table must be one of 7, 9, 10, 11, 12, 14, 15, correlations"),
        (dict(table=[14, "8"]), "got '8'"),
        (dict(ci_prob=0), "ci_prob must be in \\(0, 1\\], got 0"),
        (dict(r=-0.5), "r must be a finite number > 0"),
        (dict(posterior="bayes"), "posterior must be 'behrens_fisher' or 'pooled', got 'bayes'"),
        (dict(proportion_prior="haldane"), "proportion_prior must be one of jeffreys, uniform"),
    ],
)
def test_reanalyse_rejects_bad_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        reanalyse(**kwargs)


def test_compact_view(res):
    view = compact(res)
    assert len(view) == len(res)
    r = view[(view.table == "7") & (view.comparison == "neglect")].iloc[0]
    assert r.printed == "t=0.234 p=0.022" and r.consistent == "NO"
    with pytest.raises(InputError, match="compact needs a frame from reanalyse"):
        compact(pd.DataFrame({"x": [1]}))


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def test_cli_reanalyse_text(capsys):
    assert main(["reanalyse", "--table", "14", "--table", "correlations"]) == 0
    out = capsys.readouterr().out
    assert "Table 14" in out and "Correlations" in out and "Table 7" not in out
    assert "programme_vs_others" in out and "follow no single convention" in out
    assert "GRIM mla_vs_others" in out


def test_cli_reanalyse_csv_round_trips(capsys):
    assert main(["reanalyse", "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"table": str})
    assert list(back.columns) == list(COLUMNS)
    assert len(back) == len(reanalyse())


def test_cli_reanalyse_bad_input(capsys):
    assert main(["reanalyse", "--table", "99"]) == 2
    err = capsys.readouterr().err
    assert "table must be one of" in err and "Traceback" not in err
    assert main(["reanalyse", "--posterior", "nope"]) == 2
    assert "posterior must be" in capsys.readouterr().err


def test_cli_reanalyse_help(capsys):
    assert main(["reanalyse", "--help"]) == 0
    assert "--table" in capsys.readouterr().out


def test_assumed_ns_that_cannot_give_the_printed_p_are_searched(res):
    r = row(res, "11", "included")
    assert not r.consistent
    m = re.search(r"the largest such are (\d+) \+ (\d+), of 32 \+ 38 assumed", r.consistency_note)
    assert m, r.consistency_note
    k1, k2 = int(m.group(1)), int(m.group(2))

    # those Ns give the printed p (.752) from means and SDs that round to the printed ones
    # (scipy.stats.ttest_ind_from_stats at every corner of the rounding box); the assumed Ns
    # do not, and neither does one more observation in group 1
    def p_range(n1, n2):
        ps = [
            stats.ttest_ind_from_stats(
                r.mean1 + a, r.sd1 + b, n1, r.mean2 + c, r.sd2 + d, n2
            ).pvalue
            for a, b, c, d in itertools.product((-0.005, 0.005), repeat=4)
        ]
        return min(ps), max(ps)

    lo, hi = p_range(k1, k2)
    assert lo <= 0.7525 and hi >= 0.7515
    assert p_range(32, 38)[1] < 0.7515
    assert p_range(k1 + 1, k2)[1] < 0.7515


def test_t_implied_by_the_printed_p(res):
    for _, r in res[res.t_from_p.notna()].iterrows():
        # reference: scipy.stats.t.isf(p / 2, df)
        assert r.t_from_p == pytest.approx(stats.t.isf(float(r.printed_p) / 2, r.df_used), rel=1e-9)
    assert row(res, "7", "neglect").t_from_p == pytest.approx(2.342, abs=1e-3)
