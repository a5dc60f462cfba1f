"""pyramid's models as fixed numba kernels: log-density, gradient and expansion of every data set.

Why: PyTensor's numba backend compiles each node of a model's graph as a numba function of
its own (type inference, lowering, an LLVM module and machine code for each), about 0.15-0.2 s
a node on the development machine: 40-130 s for a shipped model on an empty cache, several
seconds on a warm one, and again for every data set of another shape. The three model families
pyramid builds (:mod:`pyramid.models.builder`) are few and fixed, so their log-densities are
written here once, by hand, with analytic gradients, as numba functions that read the model's
*structure* from integer tables and its data from arrays (:mod:`pyramid.models.layout` builds
both from a coded data set and a prior set). Nothing is compiled per model or per data set:
numba compiles these functions once per installation (``cache=True``) and every spec, prior
set and data set of any size uses the same machine code.

The kernels are exposed to nutpie as C callbacks (``numba.cfunc``) that read the tables and
arrays through one table of addresses (``user_data``), so nutpie's chains call them from their
own threads without Python or its lock.

What a model is, in these tables (all ``int64`` unless said otherwise):

* ``blk`` (blocks x 6): one row per free variable of the PyMC model, in its order: offset and
  length in the flat unconstrained vector ``x``, offset and length in the vector of
  constrained values ``theta``, transform (``T_*``) and prior (``P_*``). ``pp`` (float64,
  ``theta`` x 4) holds each element's prior parameters and constant (see :func:`_prior`).
* ``glv`` (levels x 5) and ``glvf`` (float64): the explicitly sampled group levels: form
  (``G_*``), offset of their ``z`` / ``r`` in ``theta``, number of groups, index in ``theta``
  of their scale (an SD or a signed SD), offset in the work array of group effects; ``glvf``
  the partial-centring weight. ``gidx`` (levels x rows): each row's group.
* ``trm`` (terms x 6): equation (``EQ_*``), kind (``K_*``), offset of the coefficient(s) in
  ``theta``, number of levels, offset of a monotonic term's simplex, column in the equation's
  data matrix ``X0`` (rows) or ``X1`` (patterns of the path model's mediator equation).

The Gaussian kernel (:func:`gauss_logp`) serves the ``gaussian`` and ``path`` families: the
rows' Gaussian messages are combined and integrated up the marginal levels (``ops``), exactly
as :func:`pyramid.models.builder.gaussian_marginal_logp`, then either evaluated at the top or,
in the path model, mixed over the unit's possible mediator and exposure values. The probit
kernel (:func:`probit_logp`) uses the fused cumulative-probit kernels of
:mod:`pyramid.models.ordinal_op`. ``tests/test_kernels.py`` compares values and gradients with
the PyMC models to 1e-10.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from pyramid.models.probit_kernels import bounds as _bounds
from pyramid.models.probit_kernels import log1mexp as _log1mexp
from pyramid.models.probit_kernels import log_ndtr as _log_ndtr
from pyramid.models.probit_kernels import scatter_kernel as _scatter_kernel
from pyramid.models.probit_kernels import value_and_partials as _value_and_partials

__all__ = ["gauss_logp", "probit_logp", "cfuncs"]

from pyramid.models.kernel_codes import (  # noqa: F401  (codes used by name below)
    EQ_MAIN,
    EQ_MEDIATOR,
    EQ_SHIFT,
    G_CENTRED,
    G_NONCENTRED,
    G_PARTIAL,
    K_CAT,
    K_MO,
    K_NUM,
    OP_COMBINE,
    OP_INTEGRATE,
    P_BETA,
    P_CAUCHY,
    P_DIRICHLET,
    P_EXPONENTIAL,
    P_GAMMA,
    P_HALF_CAUCHY,
    P_HALF_NORMAL,
    P_HALF_STUDENT_T,
    P_LAPLACE,
    P_LOGNORMAL,
    P_NONE,
    P_NORMAL,
    P_STUDENT_T,
    P_ZSN,
    T_ID,
    T_LOG,
    T_LOGODDS,
    T_ORDERED,
    T_SIMPLEX,
    T_ZEROSUM,
)

# the Gaussian kernel's integer settings (``gi``)
(GI_INTERCEPT, GI_SIGMA, GI_MODE, GI_C, GI_K, GI_MED_TERM, GI_EXPO_SLOPE, GI_M_EXPO,
 GI_MCUTS, GI_RATE, GI_NPAT, GI_SIZE) = range(12)
# the probit kernel's integer settings (``pi``)
PI_CUTS, PI_NCUTS, PI_DELTA, PI_NDOM, PI_SIZE = range(5)

_LOG_2PI = math.log(2.0 * math.pi)
_HALF_LOG_2PI = 0.5 * _LOG_2PI
_OPTS = {"cache": True, "error_model": "numpy", "nogil": True}
#: helpers are inlined into the two C callbacks (numba IR inlining): numba links every
#: callee into its caller's module and optimises and compiles the whole again, so each
#: level of calls would compile the kernel once more
_INLINE = {"cache": True, "error_model": "numpy", "nogil": True}
_THIN = {"inline": "always", "error_model": "numpy"}


# ------------------------------------------------------------------------------------------
# free variables: transforms and priors
# ------------------------------------------------------------------------------------------
@numba.njit(**_INLINE)
def _transform(x, blk, theta):
    """Constrained values of every block into ``theta``; returns the log-Jacobian."""
    lj = 0.0
    for b in range(blk.shape[0]):
        x0, xn, t0, tn, tr = blk[b, 0], blk[b, 1], blk[b, 2], blk[b, 3], blk[b, 4]
        if tr == T_ID:
            for i in range(xn):
                theta[t0 + i] = x[x0 + i]
        elif tr == T_LOG:
            for i in range(xn):
                theta[t0 + i] = math.exp(x[x0 + i])
                lj += x[x0 + i]
        elif tr == T_LOGODDS:
            for i in range(xn):
                s = 1.0 / (1.0 + math.exp(-x[x0 + i]))
                theta[t0 + i] = s
                lj += math.log(s) + math.log1p(-s)
        elif tr == T_ORDERED:
            theta[t0] = x[x0]
            for i in range(1, xn):
                theta[t0 + i] = theta[t0 + i - 1] + math.exp(x[x0 + i])
                lj += x[x0 + i]
        elif tr == T_SIMPLEX:
            # v = [y, -sum(y)], theta = softmax(v); log|J| as PyMC's SimplexTransform
            s = 0.0
            for i in range(xn):
                s += x[x0 + i]
            m = -s
            for i in range(xn):
                m = max(m, x[x0 + i])
            tot = 0.0
            for i in range(xn):
                e = math.exp(x[x0 + i] - m)
                theta[t0 + i] = e
                tot += e
            e = math.exp(-s - m)
            theta[t0 + xn] = e
            tot += e
            for i in range(tn):
                theta[t0 + i] /= tot
            n = float(tn)
            mu = 0.0
            for i in range(xn):
                mu = max(mu, x[x0 + i] + s)
            se = math.exp(-mu)
            for i in range(xn):
                se += math.exp(x[x0 + i] + s - mu)
            lj += math.log(n) + n * s - n * (mu + math.log(se))
        else:  # T_ZEROSUM, one axis (PyMC's extend_axis)
            n = float(tn)
            rn = math.sqrt(n)
            s = 0.0
            for i in range(xn):
                s += x[x0 + i]
            norm = s / (rn + n)
            fill = norm - s / rn
            for i in range(xn):
                theta[t0 + i] = x[x0 + i] - norm
            theta[t0 + xn] = fill - norm
    return lj


@numba.njit(**_INLINE)
def _transform_back(x, blk, theta, gth, gx):
    """The gradient with respect to ``x`` (into ``gx``) from the gradient with respect to
    ``theta`` (``gth``) and the log-Jacobian's own."""
    for b in range(blk.shape[0]):
        x0, xn, t0, tn, tr = blk[b, 0], blk[b, 1], blk[b, 2], blk[b, 3], blk[b, 4]
        if tr == T_ID:
            for i in range(xn):
                gx[x0 + i] = gth[t0 + i]
        elif tr == T_LOG:
            for i in range(xn):
                gx[x0 + i] = gth[t0 + i] * theta[t0 + i] + 1.0
        elif tr == T_LOGODDS:
            for i in range(xn):
                s = theta[t0 + i]
                gx[x0 + i] = gth[t0 + i] * s * (1.0 - s) + (1.0 - 2.0 * s)
        elif tr == T_ORDERED:
            acc = 0.0
            for i in range(xn - 1, 0, -1):
                acc += gth[t0 + i]
                gx[x0 + i] = acc * math.exp(x[x0 + i]) + 1.0
            gx[x0] = acc + gth[t0]
        elif tr == T_SIMPLEX:
            dot = 0.0
            for i in range(tn):
                dot += theta[t0 + i] * gth[t0 + i]
            g_last = theta[t0 + xn] * (gth[t0 + xn] - dot)
            s = 0.0
            for i in range(xn):
                s += x[x0 + i]
            mu = 0.0
            for i in range(xn):
                mu = max(mu, x[x0 + i] + s)
            se = math.exp(-mu)
            for i in range(xn):
                se += math.exp(x[x0 + i] + s - mu)
            sm_last = math.exp(-mu) / se
            n = float(tn)
            for i in range(xn):
                sm = math.exp(x[x0 + i] + s - mu) / se
                gv = theta[t0 + i] * (gth[t0 + i] - dot)
                gx[x0 + i] = gv - g_last + n - n * (sm + 1.0 - sm_last)
        else:  # T_ZEROSUM
            n = float(tn)
            rn = math.sqrt(n)
            tot = 0.0
            for i in range(xn):
                tot += gth[t0 + i]
            gl = gth[t0 + xn]
            for i in range(xn):
                gx[x0 + i] = gth[t0 + i] - tot / (rn + n) - gl / rn


@numba.njit(**_INLINE)
def _prior(kind, v, p0, p1, p2, c):
    """Log-density of one element and its derivative (PyMC's densities; ``c`` the constant
    that does not depend on the value, computed in :mod:`pyramid.models.layout`)."""
    if kind == P_NORMAL or kind == P_LOGNORMAL:  # mu, sigma
        if kind == P_LOGNORMAL:
            lv = math.log(v)
            z = (lv - p0) / p1
            return c - 0.5 * z * z - lv, -z / (p1 * v) - 1.0 / v
        z = (v - p0) / p1
        return c - 0.5 * z * z, -z / p1
    if kind == P_STUDENT_T:  # nu, mu, sigma
        z = (v - p1) / p2
        return (c - 0.5 * (p0 + 1.0) * math.log1p(z * z / p0),
                -(p0 + 1.0) * z / (p2 * (p0 + z * z)))
    if kind == P_CAUCHY:  # alpha, beta
        z = (v - p0) / p1
        return c - math.log1p(z * z), -2.0 * z / (p1 * (1.0 + z * z))
    if kind == P_HALF_NORMAL:  # sigma
        z = v / p0
        return c - 0.5 * z * z, -z / p0
    if kind == P_HALF_STUDENT_T:  # nu, sigma
        z = v / p1
        return (c - 0.5 * (p0 + 1.0) * math.log1p(z * z / p0),
                -(p0 + 1.0) * z / (p1 * (p0 + z * z)))
    if kind == P_HALF_CAUCHY:  # beta
        z = v / p0
        return c - math.log1p(z * z), -2.0 * z / (p0 * (1.0 + z * z))
    if kind == P_EXPONENTIAL:  # lam
        return c - p0 * v, -p0
    if kind == P_GAMMA:  # alpha, beta
        return c + (p0 - 1.0) * math.log(v) - p1 * v, (p0 - 1.0) / v - p1
    if kind == P_BETA:  # alpha, beta
        return (c + (p0 - 1.0) * math.log(v) + (p1 - 1.0) * math.log1p(-v),
                (p0 - 1.0) / v - (p1 - 1.0) / (1.0 - v))
    if kind == P_LAPLACE:  # mu, b
        d = v - p0
        return c - abs(d) / p1, (-1.0 if d > 0 else (1.0 if d < 0 else 0.0)) / p1
    if kind == P_DIRICHLET:  # a (per element)
        return c + (p0 - 1.0) * math.log(v), (p0 - 1.0) / v
    if kind == P_ZSN:  # sigma (the constant carries the degrees of freedom)
        z = v / p0
        return c - 0.5 * z * z, -z / p0
    return 0.0, 0.0


@numba.njit(**_INLINE)
def _priors(blk, pp, theta, gth):
    """Sum of the blocks' prior log-densities; their derivatives into ``gth``."""
    lp = 0.0
    for b in range(blk.shape[0]):
        kind = blk[b, 5]
        if kind == P_NONE:
            continue
        t0, tn = blk[b, 2], blk[b, 3]
        for i in range(t0, t0 + tn):
            v, d = _prior(kind, theta[i], pp[i, 0], pp[i, 1], pp[i, 2], pp[i, 3])
            lp += v
            gth[i] += d
    return lp


# ------------------------------------------------------------------------------------------
# explicitly sampled group effects
# ------------------------------------------------------------------------------------------
@numba.njit(**_INLINE)
def _groups(theta, gth, glv, glvf, reff):
    """Group effects of every explicit level into ``reff`` and the log-density of their
    sampled values given the level's SD (derivatives into ``gth``)."""
    lp = 0.0
    for lv in range(glv.shape[0]):
        kind, t0, n, si, ro = glv[lv, 0], glv[lv, 1], glv[lv, 2], glv[lv, 3], glv[lv, 4]
        s = theta[si]
        if kind == G_CENTRED:  # r ~ Normal(0, sd)
            gs = 0.0
            for g in range(n):
                r = theta[t0 + g]
                reff[ro + g] = r
                z = r / s
                lp += -0.5 * z * z - math.log(s) - _HALF_LOG_2PI
                gth[t0 + g] += -z / s
                gs += (z * z - 1.0) / s
            gth[si] += gs
        elif kind == G_NONCENTRED:  # z ~ Normal(0, 1), r = z * scale
            for g in range(n):
                z = theta[t0 + g]
                reff[ro + g] = z * s
                lp += -0.5 * z * z - _HALF_LOG_2PI
                gth[t0 + g] += -z
        else:  # partial: z ~ Normal(0, sd**w), r = z * sd**(1 - w)
            w = glvf[lv]
            sz = s ** w
            f = s ** (1.0 - w)
            gs = 0.0
            for g in range(n):
                zz = theta[t0 + g]
                reff[ro + g] = zz * f
                z = zz / sz
                lp += -0.5 * z * z - math.log(sz) - _HALF_LOG_2PI
                gth[t0 + g] += -z / sz
                gs += (z * z - 1.0) * w / s
            gth[si] += gs
    return lp


@numba.njit(**_INLINE)
def _groups_back(theta, gth, glv, glvf, greff):
    """Gradients of the group effects (``greff``) into their sampled values and scales."""
    for lv in range(glv.shape[0]):
        kind, t0, n, si, ro = glv[lv, 0], glv[lv, 1], glv[lv, 2], glv[lv, 3], glv[lv, 4]
        s = theta[si]
        if kind == G_CENTRED:
            for g in range(n):
                gth[t0 + g] += greff[ro + g]
        elif kind == G_NONCENTRED:
            gs = 0.0
            for g in range(n):
                gth[t0 + g] += greff[ro + g] * s
                gs += greff[ro + g] * theta[t0 + g]
            gth[si] += gs
        else:
            w = glvf[lv]
            f = s ** (1.0 - w)
            df = (1.0 - w) * s ** (-w)
            gs = 0.0
            for g in range(n):
                gth[t0 + g] += greff[ro + g] * f
                gs += greff[ro + g] * theta[t0 + g] * df
            gth[si] += gs


@numba.njit(**_INLINE)
def _add_groups(glv, gidx, reff, eta):
    for lv in range(glv.shape[0]):
        ro = glv[lv, 4]
        for i in range(eta.shape[0]):
            eta[i] += reff[ro + gidx[lv, i]]


@numba.njit(**_INLINE)
def _groups_grad(glv, gidx, geta, greff):
    for lv in range(glv.shape[0]):
        ro = glv[lv, 4]
        for i in range(geta.shape[0]):
            greff[ro + gidx[lv, i]] += geta[i]


# ------------------------------------------------------------------------------------------
# linear predictors
# ------------------------------------------------------------------------------------------
@numba.njit(**_INLINE)
def _per_level(theta, trm, t):
    """A categorical or monotonic term's effect at each level (the first level 0)."""
    kind, co, nlev, zo = trm[t, 1], trm[t, 2], trm[t, 3], trm[t, 4]
    pl = np.zeros(nlev)
    if kind == K_CAT:
        for j in range(1, nlev):
            pl[j] = theta[co + j - 1]
    else:  # monotonic (brms): b * D * cumsum([0, zeta])
        bd = theta[co] * (nlev - 1)
        cz = 0.0
        for j in range(1, nlev):
            cz += theta[zo + j - 1]
            pl[j] = bd * cz
    return pl


@numba.njit(**_INLINE)
def _per_level_back(theta, trm, t, gpl, gth):
    kind, co, nlev, zo = trm[t, 1], trm[t, 2], trm[t, 3], trm[t, 4]
    if kind == K_CAT:
        for j in range(1, nlev):
            gth[co + j - 1] += gpl[j]
    else:
        d = float(nlev - 1)
        bd = theta[co] * d
        cz = 0.0
        gb = 0.0
        for j in range(1, nlev):
            cz += theta[zo + j - 1]
            gb += gpl[j] * d * cz
        gth[co] += gb
        tail = 0.0
        for m in range(nlev - 1, 0, -1):
            tail += gpl[m]
            gth[zo + m - 1] += bd * tail


@numba.njit(**_INLINE)
def _linpred(theta, trm, eq, X, out):
    """Add the fixed part of equation ``eq`` (its terms on the columns of ``X``) to ``out``."""
    n = out.shape[0]
    for t in range(trm.shape[0]):
        if trm[t, 0] != eq:
            continue
        kind, col = trm[t, 1], trm[t, 5]
        if kind == K_NUM:
            b = theta[trm[t, 2]]
            for i in range(n):
                out[i] += b * X[col, i]
        else:
            pl = _per_level(theta, trm, t)
            for i in range(n):
                out[i] += pl[np.int64(X[col, i])]


@numba.njit(**_INLINE)
def _linpred_back(theta, trm, eq, X, gout, gth):
    n = gout.shape[0]
    for t in range(trm.shape[0]):
        if trm[t, 0] != eq:
            continue
        kind, col = trm[t, 1], trm[t, 5]
        if kind == K_NUM:
            g = 0.0
            for i in range(n):
                g += gout[i] * X[col, i]
            gth[trm[t, 2]] += g
        else:
            gpl = np.zeros(trm[t, 3])
            for i in range(n):
                gpl[np.int64(X[col, i])] += gout[i]
            _per_level_back(theta, trm, t, gpl, gth)


# ------------------------------------------------------------------------------------------
# the Gaussian family (skill, and the path model's skill equation)
# ------------------------------------------------------------------------------------------
@numba.njit(**_INLINE)
def _interval(k, eta, cuts):
    """log P(y = k) of a cumulative probit and its derivatives with respect to the lower and
    upper bound (threshold minus predictor), as :func:`pyramid.models.builder.ordinal_logp`."""
    a, b = _bounds(k, eta, cuts)
    lo, hi = (-b, -a) if a + b > 0.0 else (a, b)
    lb = _log_ndtr(hi)
    lp = lb + _log1mexp(min(_log_ndtr(lo) - lb, -1e-300))
    d_lo = -math.exp(-0.5 * a * a - _HALF_LOG_2PI - lp) if a > -math.inf else 0.0
    d_hi = math.exp(-0.5 * b * b - _HALF_LOG_2PI - lp) if b < math.inf else 0.0
    return lp, d_lo, d_hi


@numba.njit(**_INLINE)
def gauss_logp(x, gx, want_grad, blk, pp, glv, glvf, gidx, trm, X0, X1, gi, ops,
               chain, y, upat, med_obs, expo_obs, cell, cvals):
    """Log-density of a ``gaussian`` or ``path`` model at ``x``; its gradient into ``gx`` when
    ``want_grad``.

    ``gi`` (:data:`GI_SIZE` integers): theta index of the intercept (-1: none) and of sigma,
    mode (0: evaluate the top messages, 1: the path model's mixture), numbers of exposure (C)
    and mediator (K) values, the ``trm`` row of the skill equation's mediator term, theta
    indices of the exposure's skill slope and of its mediator-equation slope, theta offsets
    of the mediator thresholds and of the exposure rates, number of patterns. ``ops`` (ops x
    4): kind, index offset in ``chain`` (combine) or theta index of the SD (integrate),
    messages in, messages out. ``upat``, ``med_obs``, ``expo_obs``: each unit's pattern and
    observed mediator / exposure (-1 missing); ``cell``: each pattern's exposure-rate cell.
    """
    n_theta = pp.shape[0]
    theta = np.empty(n_theta)
    gth = np.zeros(n_theta)
    lp = _transform(x, blk, theta)
    lp += _priors(blk, pp, theta, gth)
    n_reff = 0
    for lv in range(glv.shape[0]):
        n_reff = max(n_reff, glv[lv, 4] + glv[lv, 2])
    reff = np.empty(n_reff)
    lp += _groups(theta, gth, glv, glvf, reff)

    n = y.shape[0]
    eta = np.zeros(n)
    ic = gi[GI_INTERCEPT]
    if ic >= 0:
        for i in range(n):
            eta[i] = theta[ic]
    _linpred(theta, trm, EQ_MAIN, X0, eta)
    _add_groups(glv, gidx, reff, eta)
    sigma = theta[gi[GI_SIGMA]]
    prec = 1.0 / (sigma * sigma)
    a0 = -0.5 * (_LOG_2PI + 2.0 * math.log(sigma))
    resid = np.empty(n)
    P = np.empty(n)  # noqa: N806
    S = np.empty(n)  # noqa: N806
    Q = np.empty(n)  # noqa: N806
    A = np.empty(n)  # noqa: N806
    for i in range(n):
        r = y[i] - eta[i]
        resid[i] = r
        P[i] = prec
        S[i] = r * prec
        Q[i] = r * r * prec
        A[i] = a0

    # up the marginal levels, keeping each operation's input for the gradient
    n_ops = ops.shape[0]
    hoff = np.zeros(n_ops + 1, dtype=np.int64)
    for o in range(n_ops):
        hoff[o + 1] = hoff[o] + 4 * ops[o, 2]
    hist = np.empty(hoff[n_ops])
    for o in range(n_ops):
        m_in, m_out = ops[o, 2], ops[o, 3]
        h = hoff[o]
        for i in range(m_in):
            hist[h + i] = P[i]
            hist[h + m_in + i] = S[i]
            hist[h + 2 * m_in + i] = Q[i]
            hist[h + 3 * m_in + i] = A[i]
        if ops[o, 0] == OP_COMBINE:
            c0 = ops[o, 1]
            P2, S2, Q2, A2 = np.zeros(m_out), np.zeros(m_out), np.zeros(m_out), np.zeros(m_out)  # noqa: N806
            for i in range(m_in):
                g = chain[c0 + i]
                P2[g] += P[i]
                S2[g] += S[i]
                Q2[g] += Q[i]
                A2[g] += A[i]
            P, S, Q, A = P2, S2, Q2, A2  # noqa: N806
        else:
            s = theta[ops[o, 1]]
            s2 = s * s
            for i in range(m_in):
                mg = S[i] / P[i]
                ag = A[i] - 0.5 * (Q[i] - S[i] * mg)
                shrink = 1.0 + P[i] * s2
                A[i] = ag - 0.5 * math.log(shrink)
                P[i] = P[i] / shrink
                S[i] = P[i] * mg
                Q[i] = S[i] * mg
    n_u = P.shape[0]
    gP, gS, gQ, gA = np.zeros(n_u), np.zeros(n_u), np.zeros(n_u), np.zeros(n_u)  # noqa: N806

    if gi[GI_MODE] == 0:
        ll = 0.0
        for u in range(n_u):
            ll += A[u] - 0.5 * Q[u]
            gA[u] = 1.0
            gQ[u] = -0.5
    else:
        ll = _mixture(theta, gth, want_grad, trm, X1, gi, P, S, Q, A, gP, gS, gQ, gA, upat,
                      med_obs, expo_obs, cell, cvals)
    lp += ll
    if not want_grad:
        return lp

    # down again
    for o in range(n_ops - 1, -1, -1):
        m_in = ops[o, 2]
        h = hoff[o]
        if ops[o, 0] == OP_COMBINE:
            c0 = ops[o, 1]
            gP2, gS2, gQ2, gA2 = np.empty(m_in), np.empty(m_in), np.empty(m_in), np.empty(m_in)  # noqa: N806
            for i in range(m_in):
                g = chain[c0 + i]
                gP2[i] = gP[g]
                gS2[i] = gS[g]
                gQ2[i] = gQ[g]
                gA2[i] = gA[g]
            gP, gS, gQ, gA = gP2, gS2, gQ2, gA2  # noqa: N806
        else:
            si = ops[o, 1]
            s = theta[si]
            s2 = s * s
            gs = 0.0
            for i in range(m_in):
                pg = hist[h + i]
                sg = hist[h + m_in + i]
                t = 1.0 + pg * s2
                m = sg / pg
                ga, gp, gss, gq = gA[i], gP[i], gS[i], gQ[i]
                gA[i] = ga
                gQ[i] = -0.5 * ga
                gS[i] = ga * m + gss / t + gq * 2.0 * sg / (t * pg)
                gP[i] = (ga * (-0.5 * m * m - 0.5 * s2 / t) + gp / (t * t)
                         - gss * sg * s2 / (t * t)
                         - gq * sg * sg * (t + pg * s2) / ((t * pg) * (t * pg)))
                gs += (-ga * pg * s / t - gp * 2.0 * pg * pg * s / (t * t)
                       - gss * 2.0 * sg * pg * s / (t * t) - gq * 2.0 * sg * sg * s / (t * t))
            gth[si] += gs
    geta = np.empty(n)
    g_prec = 0.0
    g_a0 = 0.0
    for i in range(n):
        r = resid[i]
        geta[i] = -(gS[i] * prec + gQ[i] * 2.0 * r * prec)
        g_prec += gP[i] + gS[i] * r + gQ[i] * r * r
        g_a0 += gA[i]
    gth[gi[GI_SIGMA]] += g_prec * (-2.0 / (sigma * sigma * sigma)) - g_a0 / sigma
    if ic >= 0:
        tot = 0.0
        for i in range(n):
            tot += geta[i]
        gth[ic] += tot
    _linpred_back(theta, trm, EQ_MAIN, X0, geta, gth)
    greff = np.zeros(n_reff)
    _groups_grad(glv, gidx, geta, greff)
    _groups_back(theta, gth, glv, glvf, greff)
    _transform_back(x, blk, theta, gth, gx)
    return lp


@numba.njit(**_INLINE)
def _mixture(theta, gth, want_grad, trm, X1, gi, P, S, Q, A, gP, gS, gQ, gA, upat,  # noqa: N803
             med_obs, expo_obs, cell, cvals):
    """The path model's units: each unit's message evaluated at the skill shift of every
    (exposure, mediator) value, plus the mediator and exposure equations' log-probabilities,
    mixed over the values the unit's data allow (log-sum-exp); gradients into ``gth`` and
    the messages' gradients."""
    n_c, n_k, n_pat = gi[GI_C], gi[GI_K], gi[GI_NPAT]
    # skill shift of each (c, k): the exposure's slope and the mediator's per-level effect
    mt = gi[GI_MED_TERM]
    med_vec = _per_level(theta, trm, mt)
    es = gi[GI_EXPO_SLOPE]
    b_expo = theta[es] if es >= 0 else 0.0
    shift = np.empty((n_c, n_k))
    for c in range(n_c):
        for k in range(n_k):
            shift[c, k] = b_expo * cvals[c] + med_vec[k]
    # mediator equation per pattern
    m_base = np.zeros(n_pat)
    _linpred(theta, trm, EQ_MEDIATOR, X1, m_base)
    me = gi[GI_M_EXPO]
    g_expo = theta[me] if me >= 0 else 0.0
    mc = gi[GI_MCUTS]
    cuts = theta[mc:mc + n_k - 1]
    ll_med = np.empty((n_pat, n_c, n_k))
    d_lo = np.empty((n_pat, n_c, n_k))
    d_hi = np.empty((n_pat, n_c, n_k))
    for p in range(n_pat):
        for c in range(n_c):
            e = m_base[p] + g_expo * cvals[c]
            for k in range(n_k):
                ll_med[p, c, k], d_lo[p, c, k], d_hi[p, c, k] = _interval(k, e, cuts)
    # exposure equation per pattern
    ro = gi[GI_RATE]
    ll_expo = np.zeros((n_pat, n_c))
    if ro >= 0:
        for p in range(n_pat):
            p1 = theta[ro + cell[p]]
            ll_expo[p, 0] = math.log1p(-p1)
            ll_expo[p, 1] = math.log(p1)

    n_u = P.shape[0]
    ll = 0.0
    L = np.empty((n_c, n_k))  # noqa: N806
    g_shift = np.zeros((n_c, n_k))
    g_med = np.zeros((n_pat, n_c, n_k))
    g_ex = np.zeros((n_pat, n_c))
    for u in range(n_u):
        p = upat[u]
        m = S[u] / P[u]
        base = A[u] - 0.5 * (Q[u] - S[u] * m)
        mx = -math.inf
        for c in range(n_c):
            for k in range(n_k):
                ok = ((med_obs[u] < 0) or (med_obs[u] == k)) and (
                    (expo_obs[u] < 0) or (expo_obs[u] == c))
                if ok:
                    d = shift[c, k] - m
                    v = base - 0.5 * P[u] * d * d + ll_med[p, c, k] + ll_expo[p, c]
                    L[c, k] = v
                    mx = max(mx, v)
                else:
                    L[c, k] = -math.inf
        tot = 0.0
        for c in range(n_c):
            for k in range(n_k):
                tot += math.exp(L[c, k] - mx)
        lse = mx + math.log(tot)
        ll += lse
        if not want_grad:
            continue
        gm = 0.0
        gp = 0.0
        for c in range(n_c):
            for k in range(n_k):
                w = math.exp(L[c, k] - lse)
                if w == 0.0:
                    continue
                d = shift[c, k] - m
                gm += w * P[u] * d
                gp += -0.5 * w * d * d
                g_shift[c, k] += -w * P[u] * d
                g_med[p, c, k] += w
                g_ex[p, c] += w
        gm += 0.5 * S[u]  # base depends on m through + 0.5 S m
        gA[u] = 1.0
        gQ[u] = -0.5
        gS[u] = 0.5 * m + gm / P[u]
        gP[u] = gp - gm * S[u] / (P[u] * P[u])
    if not want_grad:
        return ll
    # shift
    gpl = np.zeros(n_k)
    g_be = 0.0
    for c in range(n_c):
        for k in range(n_k):
            gpl[k] += g_shift[c, k]
            g_be += g_shift[c, k] * cvals[c]
    _per_level_back(theta, trm, mt, gpl, gth)
    if es >= 0:
        gth[es] += g_be
    # mediator equation
    g_mbase = np.zeros(n_pat)
    g_ge = 0.0
    for p in range(n_pat):
        for c in range(n_c):
            for k in range(n_k):
                g = g_med[p, c, k]
                if g == 0.0:
                    continue
                dl, dh = d_lo[p, c, k], d_hi[p, c, k]
                ge = -g * (dl + dh)
                g_mbase[p] += ge
                g_ge += ge * cvals[c]
                if k > 0:
                    gth[mc + k - 1] += g * dl
                if k < n_k - 1:
                    gth[mc + k] += g * dh
    if me >= 0:
        gth[me] += g_ge
    _linpred_back(theta, trm, EQ_MEDIATOR, X1, g_mbase, gth)
    # exposure equation
    if ro >= 0:
        for p in range(n_pat):
            p1 = theta[ro + cell[p]]
            gth[ro + cell[p]] += -g_ex[p, 0] / (1.0 - p1) + g_ex[p, 1] / p1
    return ll


# ------------------------------------------------------------------------------------------
# the cumulative probit (domains)
# ------------------------------------------------------------------------------------------
@numba.njit(**_INLINE)
def probit_logp(x, gx, want_grad, blk, pp, glv, glvf, gidx, trm, X0, pi, ry, rrow,
                rdom, roww, ones):
    """Log-density of a ``cumulative_probit`` model at ``x`` (gradient into ``gx`` when
    ``want_grad``).

    ``pi``: theta offset and number of the thresholds (sampled at the average covariate
    values), theta offset (-1: none) and number of the domain effects. ``ry``, ``rrow``,
    ``rdom``: each rating's category, row and domain; ``roww``: each row's share of the
    ratings; ``ones``: a vector of ones, one per rating.
    """
    n_theta = pp.shape[0]
    theta = np.empty(n_theta)
    gth = np.zeros(n_theta)
    lp = _transform(x, blk, theta)
    lp += _priors(blk, pp, theta, gth)
    n_reff = 0
    for lv in range(glv.shape[0]):
        n_reff = max(n_reff, glv[lv, 4] + glv[lv, 2])
    reff = np.empty(n_reff)
    lp += _groups(theta, gth, glv, glvf, reff)

    n = roww.shape[0]
    fixed = np.zeros(n)
    _linpred(theta, trm, EQ_MAIN, X0, fixed)
    mean_fixed = 0.0
    for i in range(n):
        mean_fixed += roww[i] * fixed[i]
    eta = np.empty(n)
    for i in range(n):
        eta[i] = fixed[i] - mean_fixed
    _add_groups(glv, gidx, reff, eta)
    c0, nc = pi[PI_CUTS], pi[PI_NCUTS]
    cuts = theta[c0:c0 + nc]
    d0, nd = pi[PI_DELTA], pi[PI_NDOM]
    offset = theta[d0:d0 + nd] if d0 >= 0 else np.zeros(1)
    n_r = ry.shape[0]
    logp = np.empty(n_r)
    d_lo = np.empty(n_r)
    d_hi = np.empty(n_r)
    _value_and_partials(ry, eta, cuts, rrow, offset, rdom, logp, d_lo, d_hi)
    ll = 0.0
    for i in range(n_r):
        ll += logp[i]
    lp += ll
    if not want_grad:
        return lp
    d_eta = np.empty(n)
    d_off = np.empty(offset.shape[0])
    d_cuts = np.empty(nc)
    _scatter_kernel(ry, rrow, rdom, d_lo, d_hi, ones, d_eta, d_off, d_cuts)
    for k in range(nc):
        gth[c0 + k] += d_cuts[k]
    if d0 >= 0:
        for k in range(nd):
            gth[d0 + k] += d_off[k]
    tot = 0.0
    for i in range(n):
        tot += d_eta[i]
    g_fixed = np.empty(n)
    for i in range(n):
        g_fixed[i] = d_eta[i] - roww[i] * tot
    _linpred_back(theta, trm, EQ_MAIN, X0, g_fixed, gth)
    greff = np.zeros(n_reff)
    _groups_grad(glv, gidx, d_eta, greff)
    _groups_back(theta, gth, glv, glvf, greff)
    _transform_back(x, blk, theta, gth, gx)
    return lp


# ------------------------------------------------------------------------------------------
# C callbacks for nutpie: the arrays through one table of (address, rows, columns)
# ------------------------------------------------------------------------------------------
@intrinsic
def _f64p(typingctx, addr):
    sig = types.CPointer(types.float64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def _i64p(typingctx, addr):
    sig = types.CPointer(types.int64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@numba.njit(**_THIN)
def _table(ud):
    head = numba.carray(_i64p(ud), (1,))
    return numba.carray(_i64p(ud), (1 + 3 * head[0],))


@numba.njit(**_THIN)
def _f1(tbl, k):
    return numba.carray(_f64p(tbl[1 + 3 * k]), (tbl[2 + 3 * k],))


@numba.njit(**_THIN)
def _f2(tbl, k):
    return numba.carray(_f64p(tbl[1 + 3 * k]), (tbl[2 + 3 * k], tbl[3 + 3 * k]))


@numba.njit(**_THIN)
def _i1(tbl, k):
    return numba.carray(_i64p(tbl[1 + 3 * k]), (tbl[2 + 3 * k],))


@numba.njit(**_THIN)
def _i2(tbl, k):
    return numba.carray(_i64p(tbl[1 + 3 * k]), (tbl[2 + 3 * k], tbl[3 + 3 * k]))


#: Slots of the table, in order, and their kinds (f: float64, i: int64; 1 or 2 dimensions).
COMMON_SLOTS = (("blk", "i2"), ("pp", "f2"), ("glv", "i2"), ("glvf", "f1"), ("gidx", "i2"),
                ("trm", "i2"), ("X0", "f2"))
GAUSS_SLOTS = COMMON_SLOTS + (("X1", "f2"), ("gi", "i1"), ("ops", "i2"), ("chain", "i1"),
                              ("y", "f1"), ("upat", "i1"), ("med_obs", "i1"),
                              ("expo_obs", "i1"), ("cell", "i1"), ("cvals", "f1"))
PROBIT_SLOTS = COMMON_SLOTS + (("pi", "i1"), ("ry", "i1"), ("rrow", "i1"), ("rdom", "i1"),
                               ("roww", "f1"), ("ones", "f1"))


@numba.njit(**_THIN)
def _gauss_call(tbl, x, gx, want_grad):
    return gauss_logp(x, gx, want_grad, _i2(tbl, 0), _f2(tbl, 1), _i2(tbl, 2), _f1(tbl, 3),
                      _i2(tbl, 4), _i2(tbl, 5), _f2(tbl, 6), _f2(tbl, 7), _i1(tbl, 8),
                      _i2(tbl, 9), _i1(tbl, 10), _f1(tbl, 11), _i1(tbl, 12), _i1(tbl, 13),
                      _i1(tbl, 14), _i1(tbl, 15), _f1(tbl, 16))


@numba.njit(**_THIN)
def _probit_call(tbl, x, gx, want_grad):
    return probit_logp(x, gx, want_grad, _i2(tbl, 0), _f2(tbl, 1), _i2(tbl, 2), _f1(tbl, 3),
                       _i2(tbl, 4), _i2(tbl, 5), _f2(tbl, 6), _i1(tbl, 7), _i1(tbl, 8),
                       _i1(tbl, 9), _i1(tbl, 10), _f1(tbl, 11), _f1(tbl, 12))


#: C signatures: log-density (dim, x, gradient out, value out, table) and expansion (dim,
#: values out, x, out, table); 0 is success. With a ``want_grad`` flag in the dimension's top
#: bit the log-density skips its gradient (Python callers, :class:`KernelModel.logp`).
_LOGP_SIG = types.int64(types.uint64, types.CPointer(types.float64),
                        types.CPointer(types.float64), types.CPointer(types.float64), types.int64)
_EXPAND_SIG = types.int64(types.uint64, types.uint64, types.CPointer(types.float64),
                          types.CPointer(types.float64), types.int64)
NO_GRAD = 1 << 62


@numba.njit(**_THIN)
def _finite(v, g):
    if not math.isfinite(v):
        return False
    for i in range(g.shape[0]):
        if not math.isfinite(g[i]):
            return False
    return True


def _gauss_logp_c(dim, x_, g_, lp_, ud):
    tbl = _table(ud)
    d = np.int64(dim)
    want = d < NO_GRAD
    n = d if want else d - NO_GRAD
    x = numba.carray(x_, (n,))
    g = numba.carray(g_, (n,))
    v = _gauss_call(tbl, x, g, want)
    lp_[0] = v
    return 0 if _finite(v, g[:n if want else 0]) else 3


def _probit_logp_c(dim, x_, g_, lp_, ud):
    tbl = _table(ud)
    d = np.int64(dim)
    want = d < NO_GRAD
    n = d if want else d - NO_GRAD
    x = numba.carray(x_, (n,))
    g = numba.carray(g_, (n,))
    v = _probit_call(tbl, x, g, want)
    lp_[0] = v
    return 0 if _finite(v, g[:n if want else 0]) else 3


def _expand_c(dim, n_out, x_, out_, ud):
    """The constrained values of the free variables (the table's first slot holds the blocks:
    both families)."""
    tbl = _table(ud)
    x = numba.carray(x_, (np.int64(dim),))
    out = numba.carray(out_, (np.int64(n_out),))
    _transform(x, _i2(tbl, 0), out)
    return 0


_COMPILED: dict[str, object] = {}


def _cfunc(name: str):
    """The C callback ``name``, compiled (or loaded from numba's disk cache) on first use, so
    that a process compiles only the family it fits."""
    if name not in _COMPILED:
        fn = globals()[name]
        sig = _EXPAND_SIG if name == "_expand_c" else _LOGP_SIG
        _COMPILED[name] = numba.cfunc(sig, cache=True, error_model="numpy")(fn)
    return _COMPILED[name]


def loaded() -> int:
    """How many C callbacks this process has compiled or loaded so far."""
    return len(_COMPILED)


def cfuncs(family: str):
    """The (log-density, expansion) C callbacks and the slot list of a kernel family
    (``gauss`` or ``probit``)."""
    if family == "gauss":
        return _cfunc("_gauss_logp_c"), _cfunc("_expand_c"), GAUSS_SLOTS
    return _cfunc("_probit_logp_c"), _cfunc("_expand_c"), PROBIT_SLOTS


# ------------------------------------------------------------------------------------------
# compiling: once per installation, in parallel processes on an empty cache
# ------------------------------------------------------------------------------------------
_NEEDS = {"gauss": ("_gauss_logp_c", "_expand_c"), "probit": ("_probit_logp_c", "_expand_c")}
#: Environment variable that turns the parallel first compile off (``0``).
PARALLEL_ENV = "PYRAMID_PARALLEL_COMPILE"


def _in_disk_cache(name: str) -> bool:
    """Whether numba's disk cache holds the C callback ``name`` for this machine."""
    try:
        from numba.core.caching import FunctionCache
        from numba.core.registry import cpu_target

        cache = FunctionCache(globals()[name])  # what numba.cfunc(cache=True) uses
        sig = _EXPAND_SIG if name == "_expand_c" else _LOGP_SIG
        key = cache._index_key(sig, cpu_target.target_context.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - numba internals: when unsure, compile here
        return False


def ensure_compiled(families=("gauss", "probit")) -> dict[str, float]:
    """Compile (or load) the C callbacks of ``families``; those missing from numba's disk
    cache are compiled in parallel processes, one per callback, when there are several and
    two or more cores (not in a worker of :mod:`pyramid.executor`, not with
    ``PYRAMID_PARALLEL_COMPILE=0``). Returns seconds per callback compiled or loaded here."""
    import os
    import subprocess
    import sys
    import time

    order = ("_gauss_logp_c", "_probit_logp_c", "_expand_c")  # the largest first
    names = [n for n in order if n in {m for f in families for m in _NEEDS[f]} - set(_COMPILED)]
    missing = [n for n in names if not _in_disk_cache(n)]
    parallel = (len(missing) > 1 and (os.cpu_count() or 1) >= 2
                and not os.environ.get("PYRAMID_WORKER_SLOT")
                and os.environ.get(PARALLEL_ENV, "1").strip().lower() not in ("0", "false", "no", "off"))
    if parallel:
        # the largest here, the others each in a process of its own that writes numba's disk
        # cache, from which this process then loads them
        procs = [subprocess.Popen([sys.executable, "-c",
                                   f"from pyramid.models import kernels; kernels._cfunc({n!r})"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for n in missing[1:]]
        try:
            t = time.perf_counter()
            _cfunc(missing[0])
            out = {missing[0]: time.perf_counter() - t}
            for p in procs:
                p.wait()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        names = [n for n in names if n != missing[0]]
    else:
        out = {}
    for n in names:
        t = time.perf_counter()
        _cfunc(n)
        out[n] = time.perf_counter() - t
    return out
