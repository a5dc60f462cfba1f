"""The cumulative-probit kernels in numba (no PyTensor): log-probabilities of ratings and
their partial derivatives in one vectorised pass, and the scatter-add of the gradient.

Used by the PyTensor operation of :mod:`pyramid.models.ordinal_op` and by pyramid's own
kernels (:mod:`pyramid.models.kernels`); see :mod:`pyramid.models.ordinal_op` for what they
compute and why, and :mod:`pyramid.models.simd` for the vectorised arithmetic.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from pyramid.models.simd import TAIL_MAX, log_p_or_log1m, lower_tail

__all__ = ["log_ndtr", "log1mexp", "bounds", "logp_kernel", "value_and_partials",
           "scatter_kernel"]

_SQRT1_2 = math.sqrt(0.5)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)


@numba.njit(cache=True)
def log_ndtr(x: float) -> float:
    """log Phi(x) for a float, accurate in both tails (the kernel's scalar function)."""
    if x > -1.0:
        return math.log1p(-0.5 * math.erfc(x * _SQRT1_2))
    if x > -37.0:
        return math.log(0.5 * math.erfc(-x * _SQRT1_2))
    if x == -math.inf:
        return -math.inf
    z = 1.0 / (x * x)  # asymptotic series, truncation below 1e-14 relative for x <= -37
    return (-0.5 * x * x - math.log(-x) - _HALF_LOG_2PI
            + math.log1p(z * (-1.0 + z * (3.0 + z * (-15.0 + z * 105.0)))))


@numba.njit(cache=True)
def log1mexp(x: float) -> float:
    """log(1 - exp(x)) for x <= 0."""
    if x > -0.6931471805599453:
        return math.log(-math.expm1(x))
    return math.log1p(-math.exp(x))


@numba.njit(cache=True)
def bounds(yi: int, e: float, cuts) -> tuple[float, float]:
    km1 = cuts.shape[0]
    a = cuts[yi - 1] - e if yi > 0 else -math.inf
    b = cuts[yi] - e if yi < km1 else math.inf
    return a, b


@numba.njit(cache=True)
def logp_kernel(y, eta, cuts, row, offset, domain, out, direct=True):
    """log P(y_i) for every rating into ``out``, at ``eta[row[i]] + offset[domain[i]]``, one
    rating at a time with the C library's ``erfc`` and ``log`` (the kernel before
    :func:`value_and_partials`; ``direct=False`` always takes the log-space form, as the
    kernel before that did). Kept for ``benchmarks/gradient.py``, which times the three."""
    n = y.shape[0]
    for i in range(n):
        a, b = bounds(y[i], eta[row[i]] + offset[domain[i]], cuts)
        if a + b > 0.0:  # take the upper tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
            a, b = -b, -a
        if direct and a > -math.inf and b > -37.0:
            pb = math.erfc(-b * _SQRT1_2)
            pa = math.erfc(-a * _SQRT1_2)
            if pa < 0.5 * pb:
                out[i] = math.log(0.5 * (pb - pa))
                continue
        lb = log_ndtr(b)
        la = log_ndtr(a)
        out[i] = lb + log1mexp(min(la - lb, -1e-300))


@numba.njit(fastmath={"contract"}, error_model="numpy", cache=True)
def value_and_partials(y, eta, cuts, row, offset, domain, logp, d_lo, d_hi):
    """log P(y_i) of every rating into ``logp`` and its derivatives with respect to the
    rating's lower and upper threshold-minus-predictor into ``d_lo`` and ``d_hi``, at
    ``eta[row[i]] + offset[domain[i]]`` (the gather done here, not by a graph node on 90,000
    values).

    Three passes. The first gathers each rating's bounds (threshold minus predictor) into the
    partials' arrays. The second is branch-free arithmetic on them (:mod:`pyramid.models.simd`), which
    LLVM vectorises: the interval is turned so that its smaller tail is below (``a + b <=
    0``, so ``Phi(a) < Phi(b)`` and ``Phi(a) <= 1/2``), both tails come from Cody's
    approximations with the exponential shared by the density, and the probability is the
    direct difference ``Phi(b) - Phi(a)``. That difference is exact to a few ulp unless it
    cancels (``Phi(a) >= Phi(b) / 2``) or a finite bound lies more than ``TAIL_MAX`` =
    ``sqrt(32)`` SDs out (beyond the range of the vectorised tails); such ratings
    (rare: narrow intervals far in a tail) are marked with NaN, and the third pass redoes
    them one at a time in log space with the C library (``log Phi(b) + log1mexp(log Phi(a)
    - log Phi(b))``, ``log Phi`` by ``erfc`` and, below -37, its asymptotic series). Above
    1/2 the logarithm is taken of one minus the two tails (``log1m``), which keeps its
    relative accuracy when the probability is close to 1.
    """
    n = y.shape[0]
    km1 = cuts.shape[0]
    c = np.empty(km1 + 2)  # thresholds with the open ends: c[y] and c[y + 1] bound rating y
    c[0] = -math.inf
    c[1:km1 + 1] = cuts
    c[km1 + 1] = math.inf
    # the gather, one rating at a time (indexed loads stop vectorising); the indices are
    # read as unsigned, which spares numba's negative-index wraparound (3x faster on int32)
    for i in range(n):
        k = np.uint64(y[i])
        e = eta[np.uint64(row[i])] + offset[np.uint64(domain[i])]
        d_lo[i] = c[k] - e
        d_hi[i] = c[k + np.uint64(1)] - e
    for i in range(n):  # vectorised: plain arithmetic on the bounds, in place
        a0 = d_lo[i]
        b0 = d_hi[i]
        flip = a0 + b0 > 0.0
        a = -b0 if flip else a0  # a <= 0: Phi(a) is a lower tail
        b = -a0 if flip else b0
        qa, ea = lower_tail(-a)  # (0, 0) at an open end
        qb, eb = lower_tail(abs(b))
        upper = b > 0.0
        pb = 1.0 - qb if upper else qb
        p = pb - qa
        ok = (qa < 0.5 * pb) & (abs(b) <= TAIL_MAX) & ((a >= -TAIL_MAX) | (a == -math.inf))
        # above 1/2 the probability's complement, the two tails, is the accurate quantity
        lp = log_p_or_log1m(p, qa + qb, upper)
        logp[i] = lp if ok else math.nan
        w = _INV_SQRT_2PI / p
        ga = ea * w  # phi(a) / P
        gb = eb * w
        d_lo[i] = -(gb if flip else ga)  # d log P / d lower bound = -phi(lower) / P
        d_hi[i] = ga if flip else gb  # d log P / d upper bound = phi(upper) / P
    for i in range(n):
        if logp[i] == logp[i]:
            continue
        a, b = bounds(y[i], eta[row[i]] + offset[domain[i]], cuts)
        lo, hi = (-b, -a) if a + b > 0.0 else (a, b)
        lb = log_ndtr(hi)
        lp = lb + log1mexp(min(log_ndtr(lo) - lb, -1e-300))
        logp[i] = lp
        d_lo[i] = -math.exp(-0.5 * a * a - _HALF_LOG_2PI - lp) if a > -math.inf else 0.0
        d_hi[i] = math.exp(-0.5 * b * b - _HALF_LOG_2PI - lp) if b < math.inf else 0.0


@numba.njit(cache=True)
def scatter_kernel(y, row, domain, d_lo, d_hi, g, d_eta, d_offset, d_cuts):
    """The gradient of ``sum(g * logp)`` with respect to eta, offset and cuts, from the
    per-rating partials of :func:`value_and_partials` (the scatter-add of its gather; the
    indices read as unsigned, as there).

    Adding into the same element over and over makes each addition wait for the one before
    (through memory), and most ratings add into a threshold shared with the rating before
    and into the row before's predictor. So a row's sum is kept in a register while its
    ratings follow one another (rows are stored together, though any order gives the same
    result), and the thresholds' sums in four interleaved copies added up at the end, with
    no branch on the rating's category (the open ends' partial derivatives are zero and go
    to two unused columns).

    The partial derivative at an open end must be zero, as :func:`value_and_partials` and
    :func:`_numpy_partials` give it."""
    km1 = d_cuts.shape[0]
    d_eta[:] = 0.0
    d_offset[:] = 0.0
    cut_parts = np.zeros((4, km1 + 2))
    current = np.uint64(0)
    acc = 0.0
    for i in range(y.shape[0]):
        yi = y[i]
        gi = g[i]
        t = -gi * (d_lo[i] + d_hi[i])  # the bounds are thresholds minus the predictor
        r = np.uint64(row[i])
        if r != current:
            d_eta[current] += acc
            current = r
            acc = 0.0
        acc += t
        d_offset[np.uint64(domain[i])] += t
        # column k + 1 holds threshold k; columns 0 and km1 + 1 take the open ends' partial
        # derivatives (zero), so that no branch depends on the rating
        lane = i & 3
        k = np.uint64(yi)
        cut_parts[lane, k] += gi * d_lo[i]
        cut_parts[lane, k + np.uint64(1)] += gi * d_hi[i]
    if y.shape[0]:
        d_eta[current] += acc
    for k in range(km1):
        d_cuts[k] = ((cut_parts[0, k + 1] + cut_parts[1, k + 1])
                     + (cut_parts[2, k + 1] + cut_parts[3, k + 1]))
