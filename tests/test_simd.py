"""pyramid.models.simd: branch-free exp, log, log(1 - t) and normal tails against numpy and
scipy."""

from __future__ import annotations

import numpy as np


def test_simd_functions_match_the_libraries():
    """pyramid.models.simd's branch-free exp, log, log(1 - t) and normal tail agree with
    numpy / scipy to a few ulp over their ranges, across Cody's break points and at the
    open end (y = inf)."""
    import numba
    from scipy import special

    from pyramid.models import simd

    @numba.njit(fastmath={"contract"}, error_model="numpy")
    def run(x, t, y, out):
        for i in range(x.shape[0]):
            out[0, i] = simd.exp_neg(-x[i])
            out[1, i] = simd.log_pos(x[i])
            out[2, i] = simd.log1m(t[i])
            out[3, i], out[4, i] = simd.lower_tail(y[i])

    # lower_tail's range ends at TAIL_MAX = sqrt(32) (beyond, the kernel's scalar path)
    assert simd.TAIL_MAX == np.sqrt(32.0)
    y = np.concatenate([np.linspace(0.0, simd.TAIL_MAX, 20001),
                        [0.67448975, np.nextafter(0.67448975, 1.0), np.inf]])
    n = len(y)
    x = np.geomspace(1e-300, 700.0, n)
    t = np.concatenate([np.geomspace(1e-300, 0.5, n - 2), [0.0, 0.5]])
    out = np.empty((5, n))
    run(x, t, y, out)
    ok = x <= 708.0
    np.testing.assert_allclose(out[0][ok], np.exp(-x[ok]), rtol=1e-15)
    np.testing.assert_allclose(out[1], np.log(x), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(out[2], np.log1p(-t), rtol=1e-15, atol=1e-300)
    # Cody's approximations: relative error below 1e-12 over their range
    np.testing.assert_allclose(out[3], special.ndtr(-y), rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(out[4], np.exp(-0.5 * y * y), rtol=1e-12, atol=0.0)
    assert out[3, -1] == 0.0 and out[4, -1] == 0.0
