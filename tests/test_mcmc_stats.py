"""pyramid.mcmc_stats: vectorised rank-normalised R-hat and bulk/tail ESS (the same values
as arviz), in blocks, in threads."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from pyramid import mcmc_stats


def test_rank_normal_scores_equal_rankdata_with_ties_and_nans(monkeypatch):
    """The argsort-based normal scores equal scipy's average ranks through norm.ppf exactly:
    a repeated draw (ties in every element), heavy rounding, a constant, a NaN; and across
    the boundary of the blocks it ranks at a time."""
    from scipy import stats

    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 2, 300))
    x[:, :, 10] = x[:, :, 9]  # an MCMC chain staying put: a tie in every element
    x[3] = np.round(x[3], 1)
    x[4] = 2.0
    x[5, 0, 7] = np.nan
    r = stats.rankdata(x.reshape(50, -1), method="average", axis=1)
    want = stats.norm.ppf((r - 0.375) / (600 + 0.25)).reshape(x.shape)
    monkeypatch.setattr(mcmc_stats, "_BLOCK", 7 * 600)  # ranked 7 elements at a time
    got = mcmc_stats._z_scale(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    assert np.isnan(got[5]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_draw", [301, 40])
def test_vectorised_diagnostics_match_arviz(seed, n_draw, ar1_chains):
    # reference: arviz.rhat(ds) / arviz.ess(ds, method="bulk"|"tail") (arviz 1.3, arviz_stats
    # 1.3.3), element by element, on the same draws
    import arviz as az

    x = ar1_chains(seed, (2, n_draw, 5))
    ds = xr.Dataset({"v": (("chain", "draw", "k"), x)})
    with np.errstate(all="ignore"):
        ref_r = az.rhat(ds)["v"].values
        ref_b = az.ess(ds, method="bulk")["v"].values
        ref_t = az.ess(ds, method="tail")["v"].values
        got_r = mcmc_stats.rhat_rank(x)
    np.testing.assert_allclose(got_r[1:], ref_r[1:], rtol=1e-10)
    np.testing.assert_allclose(mcmc_stats.ess_bulk(x), ref_b, rtol=1e-10)
    np.testing.assert_allclose(mcmc_stats.ess_tail(x), ref_t, rtol=1e-10)
    assert got_r[1] > 1.01  # the shifted chain is caught


def test_diagnostics_in_blocks_equal_all_at_once(monkeypatch, ar1_chains):
    """The checks work on blocks of elements (bounded memory), in threads; the split must not
    change a value: blocks of 3 elements, 7 elements in all, so the last block is partial.
    ``checks`` (all three at once) gives the same values."""
    x = ar1_chains(8, (2, 200, 7))
    x[0, :, 4] = np.round(x[0, :, 4], 1)  # ties
    with np.errstate(all="ignore"):
        whole = [f(x) for f in (mcmc_stats.rhat_rank, mcmc_stats.ess_bulk,
                                mcmc_stats.ess_tail)]
        monkeypatch.setattr(mcmc_stats, "_BLOCK", 3 * 2 * 200)
        monkeypatch.setattr(mcmc_stats, "_threads", lambda: 2)  # blocks in two threads
        blocked = [f(x) for f in (mcmc_stats.rhat_rank, mcmc_stats.ess_bulk,
                                  mcmc_stats.ess_tail)]
        together = mcmc_stats.checks(x)  # the three at once, sharing the ranks
    for w, b, t in zip(whole, blocked, together, strict=True):
        np.testing.assert_array_equal(w, b)
        np.testing.assert_array_equal(w, t)


def test_checks_use_the_cores_but_one_thread_in_an_executor_worker(monkeypatch):
    """The blocks run in as many threads as the process's cores (at most 4), and in one
    thread inside a worker of pyramid.executor, whose workers already fill the cores."""
    from pyramid.executor import default_jobs

    monkeypatch.delenv("PYRAMID_WORKER_SLOT", raising=False)
    assert mcmc_stats._threads() == min(4, default_jobs())
    monkeypatch.setenv("PYRAMID_WORKER_SLOT", "0")
    assert mcmc_stats._threads() == 1


def test_vectorised_diagnostics_shapes_and_short_chains():
    x = np.random.default_rng(3).normal(size=(2, 50, 3, 2))
    assert mcmc_stats.rhat_rank(x).shape == (3, 2)
    assert mcmc_stats.ess_bulk(x[:, :, 0, 0]).shape == ()
    assert np.isnan(mcmc_stats.rhat_rank(x[:1])).all()  # one chain: no R-hat
    assert np.isnan(mcmc_stats.ess_bulk(x[:, :3])).all()
    with pytest.raises(ValueError, match="chain, draw"):
        mcmc_stats.ess_bulk(np.zeros(5))
