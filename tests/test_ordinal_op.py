"""pyramid.models.ordinal_op: the fused cumulative-probit likelihood against the graph version,
scipy and its scalar kernel."""

from __future__ import annotations

import numpy as np
import pytest


def _fused_fns(mode):
    import pytensor
    import pytensor.tensor as pt

    from pyramid.models.builder import ordinal_logp
    from pyramid.models.ordinal_op import ordinal_logp_fused

    y, e, c = pt.lvector("y"), pt.dvector("e"), pt.dvector("c")
    out = []
    for fn in (ordinal_logp_fused, ordinal_logp):
        lp = fn(y, e, c)
        w = pt.dvector("w")  # a weighted sum: the gradient of sum(w * logp) tests the pullback
        out.append(pytensor.function([y, e, c, w], [lp, *pytensor.grad((w * lp).sum(), [e, c])],
                                     mode=mode))
    return out


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_fused_ordinal_matches_graph_version_and_scipy(mode):
    from scipy import special

    fused, graph = _fused_fns(mode)
    rng = np.random.default_rng(4)
    cuts = np.array([-1.5, -0.2, 0.7, 2.0])
    y = rng.integers(0, 5, 400)
    eta = rng.normal(0, 4, 400)  # |c - eta| up to ~15: inside the graph version's exact range
    w = rng.uniform(0.5, 2.0, 400)
    got, ref = fused(y, eta, cuts, w), graph(y, eta, cuts, w)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-300)
    # reference: log(scipy.special.ndtr(c_k - eta) - ndtr(c_{k-1} - eta)) where no cancellation
    c = np.concatenate([[-np.inf], cuts, [np.inf]])
    p = special.ndtr(c[y + 1] - eta) - special.ndtr(c[y] - eta)
    ok = (p > 1e-6) & (p < 0.5)
    np.testing.assert_allclose(got[0][ok], np.log(p[ok]), rtol=1e-10)


def test_fused_ordinal_is_exact_far_in_the_tails():
    from scipy import special

    fused, _ = _fused_fns("NUMBA")
    cuts = np.array([-1.5, -0.2, 0.7, 2.0])
    # reference values: scipy.special.log_ndtr of the one finite bound (edge categories), and
    # log Phi(b) + log1p(-exp(log Phi(a) - log Phi(b))) for an interior one
    y = np.array([4, 0, 4, 0, 2, 2])
    eta = np.array([-40.0, 40.0, 38.0, -45.0, -30.0, 55.0])
    lp, d_eta, d_cuts = fused(y, eta, cuts, np.ones(6))
    np.testing.assert_allclose(lp[:4], special.log_ndtr([-42.0, -41.5, 36.0, 43.5]), rtol=1e-10)
    la, lb = special.log_ndtr(-(0.7 + 30.0)), special.log_ndtr(-(-0.2 + 30.0))
    assert lp[4] == pytest.approx(lb + np.log1p(-np.exp(la - lb)), rel=1e-10)
    assert np.isfinite(lp).all() and np.isfinite(d_eta).all() and np.isfinite(d_cuts).all()
    # gradient against central finite differences of the log-probabilities
    e0 = np.array([-0.3, 0.4, 1.7, -2.2, 0.1])
    y0 = np.array([0, 1, 2, 3, 4])
    _, g, gc = fused(y0, e0, cuts, np.ones(5))
    h = 1e-6
    num = (fused(y0, e0 + h, cuts, np.ones(5))[0] - fused(y0, e0 - h, cuts, np.ones(5))[0]) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-6)
    numc = [(fused(y0, e0, cuts + h * np.eye(4)[k], np.ones(5))[0].sum()
             - fused(y0, e0, cuts - h * np.eye(4)[k], np.ones(5))[0].sum()) / (2 * h)
            for k in range(4)]
    np.testing.assert_allclose(gc, numc, rtol=1e-6)


def test_jax_ordinal_kernel_is_exact_deep_inside_the_open_categories():
    """The JAX twin of the fused operation put the open ends 40 units beyond the outer
    thresholds, as builder.ordinal_logp did: log P(first category) at eta = -45 was -8.37
    (exact about -1e-413) and its gradient 3.75 (exact 0). Failed before the fix (run with JAX
    installed); skipped where JAX is absent (an optional extra)."""
    pytest.importorskip("jax")
    import jax
    import jax.numpy as jnp
    import pytensor.tensor as pt
    from pytensor.link.jax.dispatch import jax_funcify

    from pyramid.models.ordinal_op import ordinal_logp_fused

    jax.config.update("jax_enable_x64", True)
    fused, _ = _fused_fns("NUMBA")
    node = ordinal_logp_fused(pt.lvector("y"), pt.dvector("e"), pt.dvector("c")).owner
    while type(node.op).__name__ != "OrdinalProbitLogp":
        node = node.inputs[0].owner
    f = jax_funcify(node.op)
    cuts = np.array([-1.5, -0.5, 0.5, 1.5])
    y = np.array([0, 0, 0, 4, 4, 4, 2, 1, 3, 0, 4])
    eta = np.array([-38.0, -40, -45, 38, 40, 45, 0.3, -8, 8, 1e3, -1e3])
    n = len(y)

    def logp(e):
        return f(jnp.asarray(y), e, jnp.asarray(cuts), jnp.arange(n), jnp.zeros(1),
                 jnp.zeros(n, dtype=jnp.int64))[0]

    ref, g_ref, _ = fused(y, eta, cuts, np.ones(n))
    np.testing.assert_allclose(np.asarray(logp(jnp.asarray(eta))), ref, rtol=1e-12, atol=1e-300)
    g = np.asarray(jax.grad(lambda e: logp(e).sum())(jnp.asarray(eta)))
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-280)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
@pytest.mark.parametrize(("index_dtype", "rows_sorted"),
                         [("int64", False), ("int32", False), ("int32", True)])
def test_fused_ordinal_gathers_rows_and_domains_itself(mode, index_dtype, rows_sorted):
    """With row and domain indices the operation equals gathering first (values and the
    gradients with respect to the per-row predictor, the domain offsets and the thresholds),
    for int32 indices (as PyMC stores them: no cast) and int64, rows in any order or stored
    together (the scatter keeps a row's sum in a register while its ratings follow)."""
    import pytensor
    import pytensor.tensor as pt

    from pyramid.models.ordinal_op import OrdinalProbitLogp, ordinal_logp_fused

    rng = np.random.default_rng(5)
    n_rows, n = 40, 200
    row, dom = rng.integers(0, n_rows, n), rng.integers(0, 5, n)
    if rows_sorted:
        row = np.sort(row)
    row, dom = row.astype(index_dtype), dom.astype(index_dtype)
    yv = rng.integers(0, 5, n).astype(index_dtype)
    y = pt.vector("y", dtype=index_dtype)
    e, o, c = pt.dvector("e"), pt.dvector("o"), pt.dvector("c")
    node = ordinal_logp_fused(y, e, c, row=row, offset=o, domain=dom).owner
    assert isinstance(node.op, OrdinalProbitLogp)
    assert [node.inputs[k].dtype for k in (0, 3, 5)] == [index_dtype] * 3  # no cast
    w = pt.dvector("w")
    fns = []
    for lp in (ordinal_logp_fused(y, e, c, row=row, offset=o, domain=dom),
               ordinal_logp_fused(y, e[row] + o[dom], c)):
        fns.append(pytensor.function([y, e, o, c, w], [lp, *pytensor.grad((w * lp).sum(),
                                                                           [e, o, c])],
                                     mode=mode))
    args = (yv, rng.normal(0, 2, n_rows), rng.normal(0, 0.5, 5),
            np.array([-1.5, -0.2, 0.7, 2.0]), rng.uniform(0.5, 2.0, n))
    for a, b in zip(fns[0](*args), fns[1](*args), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_fused_ordinal_exact_for_narrow_and_wide_intervals(mode):
    """The kernel takes the direct erfc difference unless it would cancel; across interval
    widths from 1e-5 to 6 and locations from -30 to 30 it agrees with the log-space form
    (scipy.special.log_ndtr, log(-expm1) near 0) to 1e-9. (Narrower intervals are
    ill-conditioned in any form: a relative error of 1e-16 in Phi becomes 1e-16 / width.)"""
    from scipy import special

    fused, _ = _fused_fns(mode)
    rng = np.random.default_rng(11)
    n = 3000
    lo = rng.uniform(-30.0, 30.0, n)
    width = 10.0 ** rng.uniform(-5.0, np.log10(6.0), n)
    got = []
    ref = []
    for lo_i, w_i in zip(lo, width, strict=True):
        cuts = np.array([lo_i, lo_i + w_i])
        lp = fused(np.array([1]), np.array([0.0]), cuts, np.ones(1))[0][0]
        a, b = special.log_ndtr(cuts[0]), special.log_ndtr(cuts[1])
        if cuts[0] + cuts[1] > 0:  # the upper tail, as the kernel takes it
            a, b = special.log_ndtr(-cuts[1]), special.log_ndtr(-cuts[0])
        d = a - b
        got.append(lp)
        ref.append(b + (np.log(-np.expm1(d)) if d > -np.log(2) else np.log1p(-np.exp(d))))
    np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_vectorised_kernel_agrees_with_the_scalar_forms():
    """The vectorised value-and-partials pass gives the scalar C-library kernel's
    log-probabilities and the numpy path's partial derivatives on ratings of every kind:
    each category, probabilities near 1, bounds just inside and outside the sqrt(32)-SD
    range of the vectorised pass (the scalar fallback), bounds beyond 37 SDs (the asymptotic
    series), cancelling narrow intervals, and NaN."""
    from pyramid.models import ordinal_op as oo

    rng = np.random.default_rng(21)
    cuts = np.array([-1.5, -0.2, 0.7, 2.0])
    n = 20000
    y = rng.integers(0, 5, n)
    e = np.concatenate([rng.normal(0, 3, n - 16),
                        [-3.6, -3.7, 4.1, 4.2,  # top / bottom bound 5.6 and 5.7 SDs out
                         -36.5, -37.5, 38.2, 36.9, 39.0, -40.0, 45.0, -45.0, 12.0, -12.0,
                         np.nan, 0.3]])
    y[-16:] = [4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 0, 4, 2, 2]
    row, domain, offset = np.arange(n), np.zeros(n, dtype=np.int64), np.zeros(1)
    lp, d_lo, d_hi = np.empty(n), np.empty(n), np.empty(n)
    oo._value_and_partials(y, e, cuts, row, offset, domain, lp, d_lo, d_hi)
    ref = np.empty(n)
    oo._logp_kernel(y, e, cuts, row, offset, domain, ref, True)
    assert np.isnan(lp[-2]) and np.isnan(ref[-2])
    fin = np.isfinite(ref)
    np.testing.assert_allclose(lp[fin], ref[fin], rtol=1e-12, atol=1e-300)
    ref_lo, ref_hi = oo._numpy_partials(y, e, cuts, row, offset, domain, ref)
    np.testing.assert_allclose(d_lo[fin], ref_lo[fin], rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(d_hi[fin], ref_hi[fin], rtol=1e-10, atol=1e-300)
    # a narrow interval whose two CDFs nearly cancel goes to the log-space form
    narrow = np.array([5.0, 5.0 + 1e-6])
    out = np.empty((3, 1))
    oo._value_and_partials(np.array([1]), np.array([0.0]), narrow, np.array([0]), offset,
                           np.array([0]), out[0], out[1], out[2])
    from scipy import special
    la, lb = special.log_ndtr(-narrow[1]), special.log_ndtr(-narrow[0])
    assert out[0, 0] == pytest.approx(lb + np.log(-np.expm1(la - lb)), rel=1e-9)
