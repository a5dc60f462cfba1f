"""Branch-free ``exp``, ``log`` and normal tail probabilities that numba can vectorise.

The cumulative-probit likelihood (:mod:`pyramid.models.ordinal_op`) evaluates two normal CDFs,
their densities and a logarithm for each of 90,000 ratings on every gradient of a national
``domains`` fit. numba compiles ``math.erfc``, ``math.exp`` and ``math.log`` to calls into the
C library, one value at a time: LLVM can vectorise a loop around them only with a vector math
library (Intel SVML), which the llvmlite wheels on PyPI do not include
(``llvmlite.binding.targets.has_svml()`` is False). No library offers vectorisable versions to
numba, so they are written here in plain arithmetic -- polynomials, rational functions and
bit operations, no calls and no branches -- and LLVM turns a loop over them into AVX2 code
(four float64 values at a time).

* :func:`exp_neg`: ``exp(x)`` for ``x <= 0``: ``2**k * exp(r)`` with ``|r| <= log(2) / 2``
  (a degree-13 Taylor polynomial, truncation below 1e-17) and ``2**k`` built from its bits.
* :func:`log_pos`: ``log(x)`` for a normal positive float: the algorithm of FreeBSD's / musl's
  ``log`` (``log(1 + f)`` from ``s = f / (2 + f)`` and a degree-14 polynomial in ``s``).
* :func:`log1m`: ``log(1 - t)`` for ``0 <= t <= 1/2``, accurate for small ``t`` (Goldberg's
  correction, ``log(u) * t / (1 - u)`` with ``u = 1 - t`` rounded, as in ``log1p``);
  :func:`log_p_or_log1m` chooses per value between it and ``log(p)`` with one logarithm.
* :func:`lower_tail`: ``Phi(-y)`` and ``exp(-y**2 / 2)`` for ``0 <= y <= sqrt(32)`` from W. J.
  Cody's rational Chebyshev approximations (ACM TOMS Algorithm 715, 1993; R's ``pnorm`` uses
  the same), both ranges computed and the right one selected; the density of the gradient
  shares the exponential. Cody's third range (``y > sqrt(32)``, 5.7 SDs) is left to the
  callers' scalar path.

Each agrees with numpy / scipy to a few units in the last place over its range (tests in
``tests/test_national.py``). Outside the stated ranges the values are wrong by design
(``exp_neg`` clamps below at -708, ``lower_tail`` needs ``y <= sqrt(32)``): the callers check the
range and take the scalar library functions there.
"""

from __future__ import annotations

import math

import numba
from numba.core import types
from numba.extending import intrinsic

__all__ = ["TAIL_MAX", "exp_neg", "log1m", "log_p_or_log1m", "log_pos", "lower_tail"]

#: the largest ``y`` for which :func:`lower_tail` is used: the end of the range of Cody's
#: second approximation. Cody's third (beyond) cost the kernel 30 % of its time for the few
#: ratings a bound that far out; the callers take the scalar library functions there.
TAIL_MAX = math.sqrt(32.0)

_FLAGS = {"contract"}  # allow fused multiply-adds; no other fast-math reassociation
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer in the low bits
_SHIFTER_BITS = 4843621399236968448
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SPLIT = 0.67448975  # Cody's first break point (the normal's upper quartile)


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose bits are the int64 ``bits`` (an LLVM bitcast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _as_int(typingctx, x):
    """The int64 holding the bits of the float64 ``x`` (an LLVM bitcast)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@numba.njit(inline="always", fastmath=_FLAGS, error_model="numpy", cache=True)
def exp_neg(x: float) -> float:
    """``exp(x)`` for ``-708 <= x <= 0`` (below -708 the value of ``exp(-708)``).

    Examples
    --------
    >>> abs(exp_neg(-1.5) / math.exp(-1.5) - 1) < 1e-15
    True
    """
    x = max(x, -708.0)
    kd = x * _INV_LN2 + _SHIFTER
    k = kd - _SHIFTER  # round(x / log 2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _as_float((_as_int(kd) - _SHIFTER_BITS + 1023) << 52)


@numba.njit(inline="always", fastmath=_FLAGS, error_model="numpy", cache=True)
def log_pos(x: float) -> float:
    """``log(x)`` for a positive normal float (not zero, subnormal, infinite or NaN).

    Examples
    --------
    >>> abs(log_pos(0.3) / math.log(0.3) - 1) < 1e-15
    True
    """
    # x = 2**k * (1 + f) with sqrt(1/2) <= 1 + f < sqrt(2)
    ix = _as_int(x) + (0x3FF0000000000000 - 0x3FE6A09E667F3BCD)
    k = _as_float((ix >> 52) - 1023 + _SHIFTER_BITS) - _SHIFTER  # int to float, vectorisable
    f = _as_float((ix & 0x000FFFFFFFFFFFFF) + 0x3FE6A09E667F3BCD) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01
                                              + w * 1.531383769920937332e-01))
    t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01
                                              + w * (1.818357216161805012e-01
                                                     + w * 1.479819860511658591e-01)))
    return s * (hfsq + t1 + t2) + k * _LN2_LO - hfsq + f + k * _LN2_HI


@numba.njit(inline="always", fastmath=_FLAGS, error_model="numpy", cache=True)
def log1m(t: float) -> float:
    """``log(1 - t)`` for ``0 <= t <= 1/2``, to a few ulp however small ``t`` is.

    Examples
    --------
    >>> abs(log1m(1e-12) / math.log1p(-1e-12) - 1) < 1e-15
    True
    """
    return log_p_or_log1m(1.0, t, True)


@numba.njit(inline="always", fastmath=_FLAGS, error_model="numpy", cache=True)
def log_p_or_log1m(p: float, t: float, upper: bool) -> float:
    """:func:`log1m` of ``t`` where ``upper``, else :func:`log_pos` of ``p``, with one
    logarithm: in a vectorised loop both branches of a choice made per value are computed,
    and two logarithms cost the cumulative-probit kernel 1.3x its time.

    Examples
    --------
    >>> log_p_or_log1m(0.25, 0.0, False) == log_pos(0.25), log_p_or_log1m(0.0, 1e-3, True)
    (True, -0.0010005003335835335)
    """
    u = 1.0 - t if upper else p
    lu = log_pos(u)
    return (-t if u == 1.0 else lu * (t / (1.0 - u))) if upper else lu


@numba.njit(inline="always", fastmath=_FLAGS, error_model="numpy", cache=True)
def lower_tail(y: float) -> tuple[float, float]:
    """``(Phi(-y), exp(-y**2 / 2))`` for ``0 <= y <= TAIL_MAX`` (``sqrt(32)``); ``(0, 0)``
    for ``y = inf``; wrong in between (the callers check).

    Examples
    --------
    >>> q, e = lower_tail(1.0)
    >>> round(q, 12), round(e, 12)
    (0.158655253931, 0.60653065971)
    """
    e = exp_neg(-0.5 * y * y)
    # |x| <= 0.674: Phi(-y) = 1/2 - y * A(y**2) / B(y**2)
    ysq = y * y
    num = (((0.065682337918207449113 * ysq + 2.2352520354606839287) * ysq
            + 161.02823106855587881) * ysq + 1067.6894854603709582) * ysq + 18154.981253343561249
    den = (((ysq + 47.20258190468824187) * ysq + 976.09855173777669322) * ysq
           + 10260.932208618978205) * ysq + 45507.789335026729956
    central = 0.5 - y * num / den
    # 0.674 < y <= sqrt(32): Phi(-y) = exp(-y**2 / 2) * C(y) / D(y)
    num = (((((((1.0765576773720192317e-8 * y + 0.39894151208813466764) * y
                + 8.8831497943883759412) * y + 93.506656132177855979) * y
              + 597.27027639480026226) * y + 2494.5375852903726711) * y
            + 6848.1904505362823326) * y + 11602.651437647350124) * y + 9842.7148383839780218
    den = (((((((y + 22.266688044328115691) * y + 235.38790178262499861) * y
               + 1519.377599407554805) * y + 6485.558298266760755) * y
             + 18615.571640885098091) * y + 34900.952721145977266) * y
           + 38912.003286093271411) * y + 19685.429676859990727
    q = central if y <= _SPLIT else e * (num / den)
    inf = y == math.inf
    return (0.0 if inf else q), (0.0 if inf else e)
