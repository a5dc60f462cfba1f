"""The cumulative-probit log-likelihood as one fused operation (log-probabilities and gradient).

:func:`pyramid.models.builder.ordinal_logp` writes the stable log-CDF difference as a PyTensor
graph: every rating evaluates both branches of each ``switch`` (``erfc`` and ``erfcx``, two
logs, ``log1mexp``), and the gradient graph does it again. On the national workload (90,000
ratings) that was 44 ms a gradient on the development machine, nearly all of the sampling
time. :func:`ordinal_logp_fused` computes the same quantity in one loop over the ratings
(numba; one ``erfc`` or asymptotic series per log-CDF, only the branch needed; an interior
category's probability as the direct difference of two ``erfc`` values wherever that cannot
cancel, which is nearly every rating; each rating's predictor gathered from its row and
domain inside the loop), and its gradient with respect to the row predictors, the domain
offsets and the thresholds in a second loop that reuses the
log-probabilities. The numerics are those of ``ordinal_logp``: the difference is taken on the
tail with the larger mass, ``log(Phi(b) - Phi(a)) = log Phi(b) + log1mexp(log Phi(a) - log
Phi(b))``, with ``log Phi`` accurate in both tails (``log1p(-erfc(-x/sqrt2)/2)`` above -1,
``log(erfc(-x/sqrt2)/2)`` down to -37, the asymptotic series below, where ``erfc``
underflows); ``tests/test_national.py`` checks values and gradients against ``ordinal_logp``
and :func:`scipy.special.log_ndtr` to 1e-10. Python mode (prior draws, FAST_COMPILE) uses
:mod:`scipy.special`; the JAX backend ``jax.scipy.special.log_ndtr``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from scipy import special

__all__ = ["ordinal_logp_fused"]

_SQRT1_2 = math.sqrt(0.5)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@numba.njit(cache=True)
def _log_ndtr(x: float) -> float:
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
def _log1mexp(x: float) -> float:
    """log(1 - exp(x)) for x <= 0."""
    if x > -0.6931471805599453:
        return math.log(-math.expm1(x))
    return math.log1p(-math.exp(x))


@numba.njit(cache=True)
def _bounds(yi: int, e: float, cuts) -> tuple[float, float]:
    km1 = cuts.shape[0]
    a = cuts[yi - 1] - e if yi > 0 else -math.inf
    b = cuts[yi] - e if yi < km1 else math.inf
    return a, b


@numba.njit(cache=True)
def _logp_kernel(y, eta, cuts, row, offset, domain, out, direct=True):
    """log P(y_i) for every rating into ``out``, at ``eta[row[i]] + offset[domain[i]]`` (the
    gather done here, not by a graph node on 90,000 values). ``direct=False`` always takes the
    log-space form (the kernel before the direct difference; kept for benchmarks/gradient.py)."""
    n = y.shape[0]
    for i in range(n):
        a, b = _bounds(y[i], eta[row[i]] + offset[domain[i]], cuts)
        if a + b > 0.0:  # take the upper tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
            a, b = -b, -a
        # now a + b <= 0, so Phi(a) < Phi(b) <= 1/2 at an interior category: the direct
        # difference of the two erfc values is exact to a few ulp unless Phi(a) is close to
        # Phi(b) (cancellation) or Phi(b) underflows; only then the log-space form below
        if direct and a > -math.inf and b > -37.0:
            pb = math.erfc(-b * _SQRT1_2)
            pa = math.erfc(-a * _SQRT1_2)
            if pa < 0.5 * pb:
                out[i] = math.log(0.5 * (pb - pa))
                continue
        lb = _log_ndtr(b)
        la = _log_ndtr(a)
        out[i] = lb + _log1mexp(min(la - lb, -1e-300))


@numba.njit(cache=True)
def _grad_kernel(y, eta, cuts, row, offset, domain, logp, g, d_eta, d_offset, d_cuts):
    """The gradient of ``sum(g * logp)`` with respect to eta, offset and cuts (the scatter-add
    of the gather in :func:`_logp_kernel` done here too)."""
    n = y.shape[0]
    km1 = cuts.shape[0]
    d_eta[:] = 0.0
    d_offset[:] = 0.0
    d_cuts[:] = 0.0
    for i in range(n):
        yi = y[i]
        a, b = _bounds(yi, eta[row[i]] + offset[domain[i]], cuts)
        lp = logp[i]
        # d log P / d b = phi(b) / P, d log P / d a = -phi(a) / P (0 at an open end)
        da = -math.exp(-0.5 * a * a - _HALF_LOG_2PI - lp) if a > -math.inf else 0.0
        db = math.exp(-0.5 * b * b - _HALF_LOG_2PI - lp) if b < math.inf else 0.0
        gi = g[i]
        t = -gi * (da + db)
        d_eta[row[i]] += t
        d_offset[domain[i]] += t
        if yi > 0:
            d_cuts[yi - 1] += gi * da
        if yi < km1:
            d_cuts[yi] += gi * db


def _numpy_logp(y, eta, cuts, row, offset, domain):
    c = np.concatenate([[-np.inf], cuts, [np.inf]])
    e = eta[row] + offset[domain]
    a = c[y] - e
    b = c[y + 1] - e
    flip = a + b > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        lhi, llo = special.log_ndtr(hi), special.log_ndtr(lo)
        d = np.minimum(llo - lhi, -1e-300)
        return lhi + np.where(d > -np.log(2), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


def _numpy_grad(y, eta, cuts, row, offset, domain, logp, g):
    c = np.concatenate([[-np.inf], cuts, [np.inf]])
    e = eta[row] + offset[domain]
    a = c[y] - e
    b = c[y + 1] - e
    with np.errstate(over="ignore", invalid="ignore"):
        da = np.where(np.isfinite(a), -np.exp(-0.5 * a * a - _HALF_LOG_2PI - logp), 0.0)
        db = np.where(np.isfinite(b), np.exp(-0.5 * b * b - _HALF_LOG_2PI - logp), 0.0)
    t = -g * (da + db)
    d_eta = np.bincount(row, weights=t, minlength=len(eta))[: len(eta)]
    d_offset = np.bincount(domain, weights=t, minlength=len(offset))[: len(offset)]
    km1 = len(cuts)
    d_cuts = (np.bincount(np.maximum(y - 1, 0), weights=g * da * (y > 0), minlength=km1)[:km1]
              + np.bincount(np.minimum(y, km1), weights=g * db * (y < km1),
                            minlength=km1 + 1)[:km1])
    return d_eta, d_offset, d_cuts


class OrdinalProbitLogp(Op):
    """log P(y_i) of a cumulative probit, per rating, at ``eta[row[i]] + offset[domain[i]]``:
    inputs y, eta, cuts, row, offset, domain (int64 for y, row, domain; float64 otherwise)."""

    __props__ = ()

    def make_node(self, y, eta, cuts, row, offset, domain):
        y, row, domain = (pt.as_tensor_variable(v).astype("int64") for v in (y, row, domain))
        eta, cuts, offset = (pt.as_tensor_variable(v).astype("float64")
                             for v in (eta, cuts, offset))
        return Apply(self, [y, eta, cuts, row, offset, domain], [pt.dvector()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.asarray(_numpy_logp(*inputs), dtype="float64")

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        y, eta, cuts, row, offset, domain = inputs
        d_eta, d_offset, d_cuts = OrdinalProbitGrad()(y, eta, cuts, row, offset, domain,
                                                      outputs[0], cotangents[0])
        return [disconnected_type(), d_eta, d_cuts, disconnected_type(), d_offset,
                disconnected_type()]

    def connection_pattern(self, node):
        return [[False], [True], [True], [False], [True], [False]]


class OrdinalProbitGrad(Op):
    """Gradient of :class:`OrdinalProbitLogp` (times the output gradient) w.r.t. eta, offset
    and cuts."""

    __props__ = ()

    def make_node(self, y, eta, cuts, row, offset, domain, logp, g):
        ins = [pt.as_tensor_variable(v) for v in (y, eta, cuts, row, offset, domain, logp, g)]
        return Apply(self, ins, [pt.dvector(), pt.dvector(), pt.dvector()])

    def perform(self, node, inputs, outputs):
        for out, v in zip(outputs, _numpy_grad(*inputs), strict=True):
            out[0] = np.asarray(v, dtype="float64")

    def infer_shape(self, node, shapes):
        return [shapes[1], shapes[4], shapes[2]]


def ordinal_logp_fused(y, eta, cuts, row=None, offset=None, domain=None):
    """Cumulative-probit log-probability of category ``y`` (0..K-1), one fused operation.

    The same values as :func:`pyramid.models.builder.ordinal_logp` (stable in both tails),
    computed in one pass; for 1-d ``y`` and 1-d ``cuts``. The linear predictor of rating ``i``
    is ``eta[row[i]] + offset[domain[i]]`` (``row`` defaults to ``i``, the offset to 0): the
    per-row predictor and per-domain effects are gathered, and their gradients summed, inside
    the operation rather than by graph nodes over every rating.

    Examples
    --------
    >>> import pytensor
    >>> f = pytensor.function([], ordinal_logp_fused(np.array([0, 2]), np.array([0.0, 0.5]),
    ...                                              np.array([-1.0, 0.0, 1.0])))
    >>> np.round(np.exp(f()), 4)
    array([0.1587, 0.3829])
    >>> g = pytensor.function([], ordinal_logp_fused(
    ...     np.array([0, 2]), np.array([0.5]), np.array([-1.0, 0.0, 1.0]), row=np.array([0, 0]),
    ...     offset=np.array([-0.5, 0.0]), domain=np.array([0, 1])))
    >>> np.round(np.exp(g()), 4)
    array([0.1587, 0.3829])
    """
    y = pt.as_tensor_variable(y)
    if row is None:
        row = pt.arange(y.shape[0])
    if offset is None:
        offset, domain = pt.zeros(1), pt.zeros_like(y)
    return OrdinalProbitLogp()(y, eta, cuts, row, offset, domain)


# ---- numba (the default backend) ----------------------------------------------------------
def _register_numba() -> None:
    try:
        from pytensor.link.numba.dispatch.basic import (
            numba_njit,
            register_funcify_and_cache_key,
        )
    except ImportError:  # pragma: no cover - a PyTensor without numba
        return
    logp_k, grad_k = _logp_kernel, _grad_kernel

    @register_funcify_and_cache_key(OrdinalProbitLogp)
    def _funcify_logp(op, node=None, **kwargs):
        @numba_njit
        def f(y, eta, cuts, row, offset, domain):
            out = np.empty(y.shape[0])
            logp_k(y, eta, cuts, row, offset, domain, out, True)
            return out

        return f, "pyramid-ordinal-probit-logp-v4"

    @register_funcify_and_cache_key(OrdinalProbitGrad)
    def _funcify_grad(op, node=None, **kwargs):
        @numba_njit
        def f(y, eta, cuts, row, offset, domain, logp, g):
            d_eta = np.empty(eta.shape[0])
            d_offset = np.empty(offset.shape[0])
            d_cuts = np.empty(cuts.shape[0])
            grad_k(y, eta, cuts, row, offset, domain, logp, g, d_eta, d_offset, d_cuts)
            return d_eta, d_offset, d_cuts

        return f, "pyramid-ordinal-probit-grad-v2"


# ---- JAX (backend="jax"; JAX differentiates the log-probabilities itself) ------------------
_JAX_DONE: list[bool] = []


def register_jax() -> bool:
    """Register the JAX implementation (for ``backend="jax"``); False when JAX is missing.

    Called on import and again by :func:`pyramid.fit` before a JAX compilation (JAX may have
    been installed, or made importable, after this module was imported).
    """
    if _JAX_DONE:
        return True
    try:
        from pytensor.link.jax.dispatch import jax_funcify
    except ImportError:  # JAX not installed: the optional extra
        return False

    @jax_funcify.register(OrdinalProbitLogp)
    def _jax_logp(op, **kwargs):
        import jax.numpy as jnp
        from jax.scipy.special import log_ndtr

        def f(y, eta, cuts, row, offset, domain):
            # open ends 40 SDs out, as ordinal_logp: no infinities in JAX's gradient
            c = jnp.concatenate([cuts[:1] - 40.0, cuts, cuts[-1:] + 40.0])
            e = eta[row] + offset[domain]
            a = c[y] - e
            b = c[y + 1] - e
            flip = a + b > 0
            lo = jnp.where(flip, -b, a)
            hi = jnp.where(flip, -a, b)
            lhi, llo = log_ndtr(hi), log_ndtr(lo)
            d = jnp.minimum(llo - lhi, -1e-300)
            return lhi + jnp.where(d > -jnp.log(2.0), jnp.log(-jnp.expm1(d)),
                                   jnp.log1p(-jnp.exp(d)))

        return f

    _JAX_DONE.append(True)
    return True


_register_numba()
register_jax()
