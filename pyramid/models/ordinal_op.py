"""The cumulative-probit log-likelihood as one fused operation (log-probabilities and gradient).

:func:`pyramid.models.builder.ordinal_logp` writes the stable log-CDF difference as a PyTensor
graph: every rating evaluates both branches of each ``switch`` (``erfc`` and ``erfcx``, two
logs, ``log1mexp``), and the gradient graph does it again. On the national workload (90,000
ratings) that was 44 ms a gradient on the development machine, nearly all of the sampling
time. :func:`ordinal_logp_fused` computes the same quantity in one operation whose kernel,
:func:`_value_and_partials`, gathers each rating's predictor from its row and domain, then
computes the log-probabilities *and* their derivatives with respect to each rating's two
bounds in one vectorised pass (:mod:`pyramid.models.simd`: Cody's rational approximations
of the normal tails with the exponential shared by the density, a branch-free ``log``; AVX2
code, four ratings at a time). The interval is turned so that its smaller tail is below and
its probability is the direct difference of the two CDFs, which cannot cancel for nearly
every rating; the few ratings where it would (narrow intervals far out) or where a bound is
more than ``sqrt(32)`` (5.7) SDs out are redone one at a time in log space, as
``ordinal_logp`` does:
``log(Phi(b) - Phi(a)) = log Phi(b) + log1mexp(log Phi(a) - log Phi(b))``, with ``log Phi``
from the C library's ``erfc`` and, below -37, its asymptotic series. The gradient with
respect to the row predictors, the domain offsets and the thresholds is then a scatter-add of
those partial derivatives (:func:`_scatter_kernel`). ``tests/test_national.py`` checks values
and gradients against ``ordinal_logp``, the one-rating-at-a-time kernel and
:func:`scipy.special.log_ndtr` to 1e-10 or better. Python mode (prior draws, FAST_COMPILE)
uses :mod:`scipy.special`; the JAX backend ``jax.scipy.special.log_ndtr``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.tensor.type import integer_dtypes
from scipy import special

from pyramid.models import probit_kernels, simd

__all__ = ["ordinal_logp_fused"]

# the kernels (pyramid.models.probit_kernels, free of PyTensor) under their names of before
_log_ndtr = probit_kernels.log_ndtr
_log1mexp = probit_kernels.log1mexp
_bounds = probit_kernels.bounds
_logp_kernel = probit_kernels.logp_kernel
_value_and_partials = probit_kernels.value_and_partials
_scatter_kernel = probit_kernels.scatter_kernel
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


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


def _numpy_partials(y, eta, cuts, row, offset, domain, logp):
    c = np.concatenate([[-np.inf], cuts, [np.inf]])
    e = eta[row] + offset[domain]
    a = c[y] - e
    b = c[y + 1] - e
    with np.errstate(over="ignore", invalid="ignore"):
        d_lo = np.where(np.isfinite(a), -np.exp(-0.5 * a * a - _HALF_LOG_2PI - logp), 0.0)
        d_hi = np.where(np.isfinite(b), np.exp(-0.5 * b * b - _HALF_LOG_2PI - logp), 0.0)
    return d_lo, d_hi


def _numpy_scatter(y, eta, cuts, row, offset, domain, d_lo, d_hi, g):
    t = -g * (d_lo + d_hi)
    d_eta = np.bincount(row, weights=t, minlength=len(eta))[: len(eta)]
    d_offset = np.bincount(domain, weights=t, minlength=len(offset))[: len(offset)]
    km1 = len(cuts)
    d_cuts = (np.bincount(np.maximum(y - 1, 0), weights=g * d_lo * (y > 0), minlength=km1)[:km1]
              + np.bincount(np.minimum(y, km1), weights=g * d_hi * (y < km1),
                            minlength=km1 + 1)[:km1])
    return d_eta, d_offset, d_cuts


def _as_index(v):
    """An integer tensor as it is, any other cast to int64. PyMC stores integer data as
    int32; casting the three rating-length index arrays to int64 on every call took about a
    tenth of a national gradient."""
    v = pt.as_tensor_variable(v)
    return v if v.dtype in integer_dtypes else v.astype("int64")


class OrdinalProbitLogp(Op):
    """log P(y_i) of a cumulative probit, per rating, at ``eta[row[i]] + offset[domain[i]]``:
    inputs y, eta, cuts, row, offset, domain (integers for y, row, domain, which must be in
    range: they index without checks; float64 otherwise).

    Three outputs: the log-probabilities and, for the gradient, their derivatives with respect
    to each rating's lower and upper bound (threshold minus predictor; 0 at an open end),
    computed in the same pass because they share its exponentials. Only the first is
    differentiable; the other two are the gradient's inputs."""

    __props__ = ()

    def make_node(self, y, eta, cuts, row, offset, domain):
        y, row, domain = (_as_index(v) for v in (y, row, domain))
        eta, cuts, offset = (pt.as_tensor_variable(v).astype("float64")
                             for v in (eta, cuts, offset))
        return Apply(self, [y, eta, cuts, row, offset, domain],
                     [pt.dvector(), pt.dvector(), pt.dvector()])

    def perform(self, node, inputs, outputs):
        logp = np.asarray(_numpy_logp(*inputs), dtype="float64")
        outputs[0][0] = logp
        for out, v in zip(outputs[1:], _numpy_partials(*inputs, logp), strict=True):
            out[0] = np.asarray(v, dtype="float64")

    def infer_shape(self, node, shapes):
        return [shapes[0]] * 3

    def pullback(self, inputs, outputs, cotangents):
        if not all(isinstance(c.type, DisconnectedType) for c in cotangents[1:]):
            raise NotImplementedError("the partial-derivative outputs of OrdinalProbitLogp "
                                      "are the gradient's inputs; they have no gradient")
        y, eta, cuts, row, offset, domain = inputs
        d_eta, d_offset, d_cuts = OrdinalProbitGrad()(y, eta, cuts, row, offset, domain,
                                                      outputs[1], outputs[2], cotangents[0])
        return [disconnected_type(), d_eta, d_cuts, disconnected_type(), d_offset,
                disconnected_type()]

    def connection_pattern(self, node):
        on = [True, True, True]
        return [[False] * 3, on, on, [False] * 3, on, [False] * 3]


class OrdinalProbitGrad(Op):
    """Gradient of :class:`OrdinalProbitLogp` (times the output gradient) w.r.t. eta, offset
    and cuts, from its per-rating partial derivatives: inputs y, eta, cuts, row, offset,
    domain, d_lo, d_hi, g."""

    __props__ = ()

    def make_node(self, y, eta, cuts, row, offset, domain, d_lo, d_hi, g):
        ins = [pt.as_tensor_variable(v)
               for v in (y, eta, cuts, row, offset, domain, d_lo, d_hi, g)]
        return Apply(self, ins, [pt.dvector(), pt.dvector(), pt.dvector()])

    def perform(self, node, inputs, outputs):
        for out, v in zip(outputs, _numpy_scatter(*inputs), strict=True):
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
    return OrdinalProbitLogp()(y, eta, cuts, row, offset, domain)[0]


# ---- numba (the default backend) ----------------------------------------------------------
def _source_hash() -> str:
    """A digest of this module's and :mod:`pyramid.models.simd`'s source: PyTensor caches
    the compiled operation under its key, so any change to the kernels must change the key."""
    import hashlib

    h = hashlib.sha256()
    for mod in (sys.modules[__name__], simd, probit_kernels):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()[:16]


_SOURCE_HASH = _source_hash()


def _register_numba() -> None:
    try:
        from pytensor.link.numba.dispatch.basic import (
            numba_njit,
            register_funcify_and_cache_key,
        )
    except ImportError:  # pragma: no cover - a PyTensor without numba
        return
    value_k, scatter_k = _value_and_partials, _scatter_kernel

    @register_funcify_and_cache_key(OrdinalProbitLogp)
    def _funcify_logp(op, node=None, **kwargs):
        @numba_njit
        def f(y, eta, cuts, row, offset, domain):
            n = y.shape[0]
            logp, d_lo, d_hi = np.empty(n), np.empty(n), np.empty(n)
            value_k(y, eta, cuts, row, offset, domain, logp, d_lo, d_hi)
            return logp, d_lo, d_hi

        return f, f"pyramid-ordinal-probit-logp-{_SOURCE_HASH}"

    @register_funcify_and_cache_key(OrdinalProbitGrad)
    def _funcify_grad(op, node=None, **kwargs):
        @numba_njit
        def f(y, eta, cuts, row, offset, domain, d_lo, d_hi, g):
            d_eta = np.empty(eta.shape[0])
            d_offset = np.empty(offset.shape[0])
            d_cuts = np.empty(cuts.shape[0])
            scatter_k(y, row, domain, d_lo, d_hi, g, d_eta, d_offset, d_cuts)
            return d_eta, d_offset, d_cuts

        return f, f"pyramid-ordinal-probit-grad-{_SOURCE_HASH}"


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
            # the first and last categories are one log-CDF each; every branch a ``where``
            # does not select is evaluated at finite arguments (a finite stand-in interval
            # for the interior formula), so no infinity reaches JAX's gradient
            km1 = cuts.shape[0]
            e = eta[row] + offset[domain]
            a = cuts[jnp.clip(y - 1, 0, km1 - 1)] - e
            b = cuts[jnp.clip(y, 0, km1 - 1)] - e
            first, last = y == 0, y == km1
            a_in = jnp.where(first, b - 1.0, a)
            b_in = jnp.where(last, a + 1.0, b)
            flip = a_in + b_in > 0
            lo = jnp.where(flip, -b_in, a_in)
            hi = jnp.where(flip, -a_in, b_in)
            lhi, llo = log_ndtr(hi), log_ndtr(lo)
            d = jnp.minimum(llo - lhi, -1e-300)
            inner = lhi + jnp.where(d > -jnp.log(2.0), jnp.log(-jnp.expm1(d)),
                                    jnp.log1p(-jnp.exp(d)))
            logp = jnp.where(first, log_ndtr(b), jnp.where(last, log_ndtr(-a), inner))
            # the partial-derivative outputs (JAX differentiates logp itself; these are
            # unused there and removed by XLA, but kept equal to the numba ones)
            d_lo = jnp.where(y > 0, -jnp.exp(-0.5 * a * a - _HALF_LOG_2PI - logp), 0.0)
            d_hi = jnp.where(y < cuts.shape[0], jnp.exp(-0.5 * b * b - _HALF_LOG_2PI - logp),
                             0.0)
            return logp, d_lo, d_hi

        return f

    _JAX_DONE.append(True)
    return True


_register_numba()
register_jax()
