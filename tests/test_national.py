"""National scale (issue 7): vectorised convergence checks, sampler options, the JAX switch.

Structural tests only (no sampling beyond one tiny fit); the national benchmark itself is
``benchmarks/national.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from pyramid import _mcmc_stats


def _chains(seed: int, shape=(2, 301, 4)) -> np.ndarray:
    """AR(1) chains with different autocorrelations per element, one element constant, one
    chain shifted (so R-hat is far from 1 somewhere)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    phi = np.linspace(0.0, 0.9, shape[-1])
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + x[:, t]
    x[..., 0] = 3.0  # constant
    x[1, :, 1] += 0.5  # chains disagree
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_draw", [301, 40])
def test_vectorised_diagnostics_match_arviz(seed, n_draw):
    # reference: arviz.rhat(ds) / arviz.ess(ds, method="bulk"|"tail") (arviz 1.3, arviz_stats
    # 1.3.3), element by element, on the same draws
    import arviz as az

    x = _chains(seed, (2, n_draw, 5))
    ds = xr.Dataset({"v": (("chain", "draw", "k"), x)})
    with np.errstate(all="ignore"):
        ref_r = az.rhat(ds)["v"].values
        ref_b = az.ess(ds, method="bulk")["v"].values
        ref_t = az.ess(ds, method="tail")["v"].values
        got_r = _mcmc_stats.rhat_rank(x)
    np.testing.assert_allclose(got_r[1:], ref_r[1:], rtol=1e-10)
    np.testing.assert_allclose(_mcmc_stats.ess_bulk(x), ref_b, rtol=1e-10)
    np.testing.assert_allclose(_mcmc_stats.ess_tail(x), ref_t, rtol=1e-10)
    assert got_r[1] > 1.01  # the shifted chain is caught


def test_vectorised_diagnostics_shapes_and_short_chains():
    x = np.random.default_rng(3).normal(size=(2, 50, 3, 2))
    assert _mcmc_stats.rhat_rank(x).shape == (3, 2)
    assert _mcmc_stats.ess_bulk(x[:, :, 0, 0]).shape == ()
    assert np.isnan(_mcmc_stats.rhat_rank(x[:1])).all()  # one chain: no R-hat
    assert np.isnan(_mcmc_stats.ess_bulk(x[:, :3])).all()
    with pytest.raises(ValueError, match="chain, draw"):
        _mcmc_stats.ess_bulk(np.zeros(5))
