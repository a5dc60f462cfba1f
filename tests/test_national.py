"""National scale (issue 7): vectorised convergence checks, sampler options, the JAX switch.

Structural tests only (no sampling beyond one tiny fit); the national benchmark itself is
``benchmarks/national.py``.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import xarray as xr

from pyramid import _mcmc_stats
from pyramid.data.simulate import simulate
from pyramid.errors import InputError


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
    monkeypatch.setattr(_mcmc_stats, "_BLOCK", 7 * 600)  # ranked 7 elements at a time
    got = _mcmc_stats._z_scale(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    assert np.isnan(got[5]).all()


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


def test_diagnostics_in_blocks_equal_all_at_once(monkeypatch):
    """The checks work on blocks of elements (bounded memory), in threads; the split must not
    change a value: blocks of 3 elements, 7 elements in all, so the last block is partial.
    ``checks`` (all three at once) gives the same values."""
    x = _chains(8, (2, 200, 7))
    x[0, :, 4] = np.round(x[0, :, 4], 1)  # ties
    with np.errstate(all="ignore"):
        whole = [f(x) for f in (_mcmc_stats.rhat_rank, _mcmc_stats.ess_bulk,
                                _mcmc_stats.ess_tail)]
        monkeypatch.setattr(_mcmc_stats, "_BLOCK", 3 * 2 * 200)
        monkeypatch.setattr(_mcmc_stats, "_threads", lambda: 2)  # blocks in two threads
        blocked = [f(x) for f in (_mcmc_stats.rhat_rank, _mcmc_stats.ess_bulk,
                                  _mcmc_stats.ess_tail)]
        together = _mcmc_stats.checks(x)  # the three at once, sharing the ranks
    for w, b, t in zip(whole, blocked, together, strict=True):
        np.testing.assert_array_equal(w, b)
        np.testing.assert_array_equal(w, t)


def test_checks_use_the_cores_but_one_thread_in_an_executor_worker(monkeypatch):
    """The blocks run in as many threads as the process's cores (at most 4), and in one
    thread inside a worker of pyramid.executor, whose workers already fill the cores."""
    from pyramid.executor import default_jobs

    monkeypatch.delenv("PYRAMID_WORKER_SLOT", raising=False)
    assert _mcmc_stats._threads() == min(4, default_jobs())
    monkeypatch.setenv("PYRAMID_WORKER_SLOT", "0")
    assert _mcmc_stats._threads() == 1


def test_vectorised_diagnostics_shapes_and_short_chains():
    x = np.random.default_rng(3).normal(size=(2, 50, 3, 2))
    assert _mcmc_stats.rhat_rank(x).shape == (3, 2)
    assert _mcmc_stats.ess_bulk(x[:, :, 0, 0]).shape == ()
    assert np.isnan(_mcmc_stats.rhat_rank(x[:1])).all()  # one chain: no R-hat
    assert np.isnan(_mcmc_stats.ess_bulk(x[:, :3])).all()
    with pytest.raises(ValueError, match="chain, draw"):
        _mcmc_stats.ess_bulk(np.zeros(5))


# --------------------------------------------------------------------------------------------
# sampler options: spec [sampling] adaptation, fit(backend=...)
# --------------------------------------------------------------------------------------------
def test_spec_sampling_adaptation_is_read_and_checked():
    from pyramid.errors import InputError
    from pyramid.specs import load_spec, spec_from_text

    text = load_spec("skill").text
    assert spec_from_text(text).adaptation in (None, "diag", "low_rank")
    spec = spec_from_text(text.replace("[sampling]", '[sampling]\nadaptation = "low_rank"'))
    assert spec.adaptation == "low_rank"
    with pytest.raises(InputError, match="sampling.adaptation.*diag, low_rank, draw_diag.*'full'"):
        spec_from_text(text.replace("[sampling]", '[sampling]\nadaptation = "full"'))


def test_fit_rejects_unknown_backend_and_jax_with_pymc():
    import pyramid as pyr
    from pyramid.errors import InputError

    sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    with pytest.raises(InputError, match="backend must be 'numba' or 'jax', got 'cuda'"):
        pyr.fit(sim.data, model="skill", backend="cuda", verbose=False)
    with pytest.raises(InputError, match="backend 'jax' is nutpie's"):
        pyr.fit(sim.data, model="skill", backend="jax", sampler="pymc", verbose=False)


def test_jax_backend_says_how_to_install_when_jax_is_absent(monkeypatch):
    import sys

    import pyramid as pyr
    from pyramid.errors import InputError

    monkeypatch.setitem(sys.modules, "jax", None)  # import jax now fails
    sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    with pytest.raises(InputError, match=r"pip install 'rsw-pyramid\[jax\]'"):
        pyr.fit(sim.data, model="skill", backend="jax", draws=10, tune=10, progressbar=False,
                verbose=False)


@pytest.mark.slow  # two fits and a JAX compilation: about 2 minutes on 2 busy cores
def test_jax_backend_matches_numba_posterior():
    # skipped where JAX is not installed (it is an optional extra, never needed by default)
    pytest.importorskip("jax")
    import pyramid as pyr

    sim = pyr.simulate((6, 2, 2, 2), seed=3, mix={"discussion_observed": 1.0,
                                                 "p_missing_domain": 0.0})
    kw = {"model": "domains", "draws": 300, "tune": 300, "random_seed": 5, "progressbar": False,
          "verbose": False, "log_likelihood": False, "prior_draws": 20}
    jx = pyr.fit(sim.data, backend="jax", **kw)
    nb = pyr.fit(sim.data, **kw)
    assert jx.info["backend"] == "jax" and nb.info["backend"] == "numba"
    # nutpie 0.16's JAX path cannot store loglik_total (see pyramid.fit._compile_jax)
    assert set(nb.posterior.data_vars) - {"loglik_total"} <= set(jx.posterior.data_vars)
    # the same posterior by two compilations: means agree within Monte Carlo error (600
    # draws each; 5 posterior SDs of the difference of two means with ESS >= 100 is ~0.7 SD)
    cj, cn = jx.coefs().set_index("name"), nb.coefs().set_index("name")
    diff = (cj["mean"] - cn["mean"]).abs() / cn["sd"]
    assert (diff < 0.7).all(), diff


def test_cli_fit_backend_option(tmp_path, capsys):
    import pyramid as pyr
    from pyramid import cli

    assert cli.main(["fit", "--help"]) == 0
    assert "--backend" in capsys.readouterr().out
    sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    path = tmp_path / "d.csv"
    sim.data.to_csv(path, index=False)
    code = cli.main(["fit", str(path), "-o", str(tmp_path / "r.nc"), "-m", "skill",
                     "--backend", "cuda", "--no-progress"])
    assert code == 2
    assert "backend must be 'numba' or 'jax', got 'cuda'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# the fused cumulative-probit likelihood
# --------------------------------------------------------------------------------------------
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


def test_simd_functions_match_the_libraries():
    """pyramid.models._simd's branch-free exp, log, log(1 - t) and normal tail agree with
    numpy / scipy to a few ulp over their ranges, across Cody's break points and at the
    open end (y = inf)."""
    import numba
    from scipy import special

    from pyramid.models import _simd

    @numba.njit(fastmath={"contract"}, error_model="numpy")
    def run(x, t, y, out):
        for i in range(x.shape[0]):
            out[0, i] = _simd.exp_neg(-x[i])
            out[1, i] = _simd.log_pos(x[i])
            out[2, i] = _simd.log1m(t[i])
            out[3, i], out[4, i] = _simd.lower_tail(y[i])

    # lower_tail's range ends at TAIL_MAX = sqrt(32) (beyond, the kernel's scalar path)
    assert _simd.TAIL_MAX == np.sqrt(32.0)
    y = np.concatenate([np.linspace(0.0, _simd.TAIL_MAX, 20001),
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


def test_partial_centring_weights_in_a_spec(tmp_path):
    """A centring weight between 0 and 1 per level: 0 and 1 are the named forms, anything
    else 'partial:W'; out-of-range or malformed weights name the key."""
    import re

    from pyramid.specs import load_spec

    text = load_spec("domains").text

    def spec_with(value):
        path = tmp_path / "d.toml"
        path.write_text(re.sub(r"^parametrisation = .*$", f"parametrisation = {value}", text,
                               count=1, flags=re.M))
        return load_spec(path)

    par = spec_with('{ authority = 0.5, unit = "partial:0.25", worker = 1, observation = 0 }')
    assert par.parametrisation == {"authority": "partial:0.5", "unit": "partial:0.25",
                                   "worker": "centred", "observation": "non_centred"}
    assert set(spec_with("0.7").parametrisation.values()) == {"partial:0.7"}
    for bad, says in [("{ worker = 1.5 }", "between 0 (non-centred) and 1"),
                      ('{ worker = "partial:x" }', "needs a number"),
                      ("-0.1", "between 0")]:
        with pytest.raises(InputError, match=re.escape(says)):
            spec_with(bad)


def test_partially_centred_effects_have_the_level_sd():
    """r = sd**(1-w) * z with z ~ Normal(0, sd**w): r ~ Normal(0, sd) whatever w (prior
    draws of the built model, 4,000 of them)."""
    import pymc as pm

    from pyramid.models.builder import build
    from pyramid.models.design import prepare
    from pyramid.specs import load_priors, load_spec

    sim = simulate((3, 2, 2, 2), seed=4, mix={"discussion_observed": 1.0})
    spec = load_spec("domains")
    spec = dataclasses.replace(spec, parametrisation=dict.fromkeys(spec.groups, "partial:0.3"))
    built = build(prepare(spec, sim.data, warn=False), load_priors("default"))
    with built.model:
        draws = pm.draw([built.model["r_worker"][0], built.model["sd_worker"]], draws=4000,
                        random_seed=1)
    ratio = draws[0] / draws[1]
    assert abs(ratio.mean()) < 0.06 and abs(ratio.std() - 1.0) < 0.05


def test_max_tree_depth_from_spec_and_fit():
    """[sampling] max_tree_depth and fit(max_tree_depth=...) cap NUTS trajectories at
    2**depth steps; bad values name the key or argument."""
    from pyramid.fit import fit
    from pyramid.specs import load_spec, spec_from_text

    text = load_spec("domains").text
    assert spec_from_text(text).max_tree_depth is None
    spec = spec_from_text(text.replace("[sampling]", "[sampling]\nmax_tree_depth = 5"))
    assert spec.max_tree_depth == 5
    for bad in ("0", "21", '"deep"'):
        with pytest.raises(InputError, match="sampling.max_tree_depth"):
            spec_from_text(text.replace("[sampling]", f"[sampling]\nmax_tree_depth = {bad}"))
    sim = simulate((6, 2, 2, 2), seed=4, mix={"discussion_observed": 1.0})
    for bad in (0, 2.5, True):
        with pytest.raises(InputError, match="max_tree_depth must be a whole number"):
            fit(sim.data, model="domains", max_tree_depth=bad)
    res = fit(sim.data, model="domains", draws=60, tune=60, progressbar=False, verbose=False,
              random_seed=3, max_tree_depth=2, log_likelihood=False)
    assert int(res.idata["sample_stats"]["depth"].max()) <= 2
    assert res.info["max_tree_depth"] == 2



# ------------------------------------------------------------------------------------------
# the benchmark script's own logic (benchmarks/national.py, loaded by path)
# ------------------------------------------------------------------------------------------
def _bench(name: str = "national"):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_recovery_check_fails_without_a_checked_fit():
    bench = _bench()
    rec = [{"name": "b", "true": 1.0, "mean": 0.9, "lower": 0.5, "upper": 1.3, "covered": True}]
    ok = {"tool": "pyramid", "model": "domains", "status": "ok", "recovery": rec}
    assert bench.recovery_check([ok])[1]
    # a failed fit, an empty check and no pyramid fit at all are not passes
    lines, passed = bench.recovery_check([ok, {"tool": "pyramid", "model": "skill",
                                               "status": "failed (exit 1)"}])
    assert not passed and any("skill: not checked (fit failed (exit 1))" in s for s in lines)
    assert not bench.recovery_check([{**ok, "recovery": []}])[1]
    assert not bench.recovery_check([])[1]
    miss = [{**rec[0], "true": 2.0, "covered": False}]
    lines, passed = bench.recovery_check([{**ok, "recovery": miss}])
    assert not passed and any(s.strip().startswith("MISS b") for s in lines)


def test_benchmark_spec_variant_writes_centring_weights_as_numbers(tmp_path):
    from pyramid.specs import load_spec

    bench = _bench()
    path = bench.spec_variant("domains", {"authority": "centred", "observation": 0.4}, tmp_path)
    spec = load_spec(path)
    forms = {g: spec.parametrisation[g] for g in ("authority", "observation")}
    assert forms == {"authority": "centred", "observation": "partial:0.4"}


def test_benchmark_peak_memory_counts_child_processes(tmp_path):
    """PyMC's multiprocess chains run in child processes: the benchmark's peak memory must
    include them (a child holding 300 MB raises it by about that much)."""
    import subprocess
    import sys
    import time

    bench = _bench()
    hb = bench._Heartbeat(tmp_path / "fit.beat")
    try:
        alone = hb.peak_gib()
        code = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); " \
               "print('ready', flush=True); time.sleep(30)"
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            with_child = hb.peak_gib()
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        time.sleep(0.1)
        assert with_child - alone > 0.25
        assert hb.peak_gib() >= with_child  # a peak, not the current use
    finally:
        hb.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS and fork: Linux")
def test_benchmark_peak_memory_counts_shared_pages_once(tmp_path):
    """A forked child (PyMC's chains are) shares its parent's pages: summing the processes'
    RSS would count a 300 MB buffer twice; the benchmark sums their PSS and counts it once."""
    import multiprocessing as mp

    bench = _bench()
    buf = bytearray(300 * 2**20)
    buf[::4096] = b"x" * len(buf[::4096])  # touch every page
    hb = bench._Heartbeat(tmp_path / "fit.beat")
    try:
        before = hb.peak_gib()
        ctx = mp.get_context("fork")
        ready, done = ctx.Event(), ctx.Event()
        child = ctx.Process(target=_hold, args=(ready, done))
        child.start()
        try:
            assert ready.wait(30)
            with_child = hb.peak_gib()
        finally:
            done.set()
            child.join(30)
        assert with_child - before < 0.15  # the shared 0.29 GiB not counted again
    finally:
        hb.stop()
    del buf


def _hold(ready, done):
    ready.set()
    done.wait(30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups: POSIX")
def test_benchmark_cap_stops_the_fit_and_its_children():
    """A fit stopped at the cap is stopped with the processes it forked (PyMC's chains): the
    child runs in a session of its own and the whole group is signalled."""
    import os
    import subprocess

    bench = _bench()
    code = ("import os, time\nif os.fork() == 0:\n    time.sleep(120)\n    os._exit(0)\n"
            "print('ready', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        bench._stop_group(proc, grace_s=5)
        with pytest.raises(ProcessLookupError):  # nothing left in the group
            os.killpg(proc.pid, 0)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("stop", ["cap", "ctrl-c"])
def test_benchmark_cap_and_ctrl_c_stop_the_fits_group(monkeypatch, tmp_path, stop):
    """Each fit runs in a session of its own (so the terminal's SIGINT does not reach it);
    at the cap it is reported as capped, on Ctrl-C the exception goes on, and either way the
    benchmark stops the fit's whole process group itself."""
    import argparse
    import subprocess

    bench = _bench()
    stopped = []

    class Proc:
        pid = 12345

        def __init__(self, *a, **k):
            assert k.get("start_new_session") is True

        def wait(self, timeout=None):
            if stop == "cap":
                raise subprocess.TimeoutExpired("fit", timeout)
            raise KeyboardInterrupt

    monkeypatch.setattr(subprocess, "Popen", Proc)
    monkeypatch.setattr(bench, "_stop_group", lambda proc, grace_s=30.0: stopped.append(proc))
    args = argparse.Namespace(draws=10, tune=10, chains=1, seed=1, bambi_cores=None, cold=False,
                              quick=False)
    run = lambda: bench._run_child("bambi", "domains", tmp_path / "d.pkl", tmp_path, args,  # noqa: E731
                                   60.0, {})
    if stop == "cap":
        assert run()["status"] == "capped"
    else:
        with pytest.raises(KeyboardInterrupt):
            run()
    assert len(stopped) == 1


def test_benchmark_bambi_cores_follow_pymc(monkeypatch):
    """The cores column for bambi: PyMC's own default (half the CPUs, at most 4) unless set,
    never more than the chains."""
    import pymc.sampling.mcmc as mcmc

    bench = _bench()
    monkeypatch.setattr(mcmc, "_cpu_count", lambda: 1)
    assert bench._pymc_cores(None, 2) == 1
    monkeypatch.setattr(mcmc, "_cpu_count", lambda: 8)
    assert bench._pymc_cores(None, 2) == 2 and bench._pymc_cores(None, 8) == 4
    assert bench._pymc_cores(3, 2) == 2 and bench._pymc_cores(1, 4) == 1


def test_benchmark_mixing_table_agrees_with_the_checks():
    """benchmarks/mixing.py splits R-hat into its bulk and folded parts: their larger is
    pyramid's R-hat, and the bulk ESS quantiles are those of ``ess_bulk``. A chain whose
    spread changes halfway fails the folded R-hat but not the bulk one."""
    mixing = _bench("mixing")
    rng = np.random.default_rng(4)
    x = _chains(5, shape=(2, 400, 6))[..., 1:]  # no constant element (NaN, warns)
    x = np.ascontiguousarray(x)
    x[1, :, 2] *= 3.0  # the same centre, a different scale: only the folded part sees it
    x[:, :, 3] = rng.normal(size=(2, 400))
    row = mixing.mixing_table(xr.Dataset({"v": (("chain", "draw", "i"), x)}))[0]
    assert row["n"] == 5
    assert max(row["rhat_bulk"], row["rhat_folded"]) == pytest.approx(
        float(np.nanmax(_mcmc_stats.rhat_rank(x))), abs=1e-12)
    ess = _mcmc_stats.ess_bulk(x)
    assert row["ess_bulk"] == pytest.approx(np.nanquantile(ess, mixing.QUANTILES).tolist())
    scale_only = mixing.mixing_table(xr.Dataset({"v": (("chain", "draw"), x[..., 2])}))[0]
    assert scale_only["rhat_folded"] > 1.1 and scale_only["rhat_bulk"] < 1.05


def test_benchmark_checks_runs_both_ways_and_compares(capsys, monkeypatch):
    """benchmarks/checks.py on a small variable split into blocks of 7 elements: exit 0
    (blocked and all-at-once values equal, and the three checks at once in threads equal to
    one after another), and the block size is restored."""
    checks = _bench("checks")
    monkeypatch.setattr(_mcmc_stats, "_BLOCK", 7 * 2 * 100)
    threads = _mcmc_stats._threads
    assert checks.main(["--elements", "50", "--draws", "100"]) == 0
    assert _mcmc_stats._BLOCK == 7 * 2 * 100 and _mcmc_stats._threads is threads  # restored
    out = capsys.readouterr().out
    assert out.count("same values") == 4 and "DIFFER" not in out
    assert "all three: one after another" in out


def test_benchmark_malloc_child_measures_the_gradient(monkeypatch):
    """benchmarks/malloc.py's per-process measurement on the quick data: a time per call and
    the page faults, with the setting in force or off as the environment says."""
    from pyramid import _malloc

    malloc = _bench("malloc")
    monkeypatch.setenv("PYRAMID_MALLOC_TUNING", "0")
    off = malloc.child("gradient", True, 3, 0, 0)
    assert off["on"] is False and off["ms"] > 0 and off["evaluations"] == 3
    monkeypatch.setenv("PYRAMID_MALLOC_TUNING", "1")
    on = malloc.child("gradient", True, 3, 0, 0)
    assert on["on"] is (_malloc._glibc() is not None)
    assert on["faults_per_evaluation"] >= 0
