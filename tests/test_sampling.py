"""pyramid.models.sampling: the fast path of many fits (a compiled model reused for every data
set of the same graph), Ctrl-C during sampling, an incomplete trace."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pyramid as pyr
from pyramid.models.builder import build
from pyramid.models.coding import prepare
from pyramid.models.sampling import _cached, compiled_for, fit_compiled


# ------------------------------------------------------------------------------------------
# the compiled-model fast path
# ------------------------------------------------------------------------------------------
def _built(seed, design=(3, 2, 2, 2), priors="default"):
    sim = pyr.simulate(design, seed=seed, mix={"discussion_observed": 1.0})
    return build(prepare(pyr.load_spec("skill"), sim.data, warn=False),
                 pyr.load_priors(priors))


def test_compiled_model_is_reused_with_the_new_data():
    b1, b2 = _built(1), _built(2)
    cm1, _ = compiled_for(b1)  # compiled here or by an earlier test
    cm2, new2 = compiled_for(b2)
    assert not new2
    # the reused model evaluates the second data set exactly as PyMC's own log-density of
    # that model does (compiled separately, in Python mode)
    x = np.random.default_rng(0).normal(size=cm2.n_dim)
    point = {n: x[sl].reshape(shp) for n, sl, shp in
             zip(cm2._free_names, cm2._free_slices, cm2._free_shapes, strict=True)}
    logp = b2.model.compile_logp(mode="FAST_COMPILE")(point)
    dlogp = b2.model.compile_dlogp(mode="FAST_COMPILE")(point)
    assert cm2.logp_dlogp(x)[0] == pytest.approx(float(logp), rel=1e-10)
    np.testing.assert_allclose(cm2.logp_dlogp(x)[1], dlogp, rtol=1e-8, atol=1e-10)
    assert cm1.logp_dlogp(x)[0] != pytest.approx(cm2.logp_dlogp(x)[0])  # not the old data
    # another structure (four authorities: another number of groups) or prior set is not
    # served from the cache
    assert _cached(_built(3, (4, 2, 2, 2)))[0] is None
    assert _cached(_built(2, priors="sceptical"))[0] is None
    _, _, info = fit_compiled(b2, draws=50, tune=50, random_seed=5)
    assert not info["compiled"] and info["compile_s"] < info["sample_s"] + 5


def test_ctrl_c_during_sampling_stops_the_fit(monkeypatch):
    # nutpie.sample catches KeyboardInterrupt and returns the draws made so far; a fit must
    # not pass that off as a finished (short) one. The SIGINT comes from another process,
    # started once nutpie.sample is entered: a timer thread in this process needs the GIL to
    # send it, and could be held off until the whole run had finished (seen on a slow machine)
    import subprocess

    import nutpie

    b = _built(1)
    fit_compiled(b, draws=20, tune=20)  # compiled (or reused) before the signal is armed
    real, killers = nutpie.sample, []

    def sample_then_interrupt(*args, **kwargs):
        killers.append(subprocess.Popen(["sh", "-c", f"sleep 1; kill -INT {os.getpid()}"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(nutpie, "sample", sample_then_interrupt)
    try:
        with pytest.raises(KeyboardInterrupt, match="sampling was interrupted"):
            fit_compiled(b, draws=200_000, tune=100)
    finally:
        for k in killers:
            k.kill()
            k.wait()
    assert len(killers) == 1


def test_an_incomplete_trace_is_an_error(monkeypatch):
    import nutpie

    real = nutpie.sample

    def short(*args, **kwargs):
        return real(*args, **{**kwargs, "draws": 10})

    monkeypatch.setattr(nutpie, "sample", short)
    with pytest.raises(pyr.PyramidError, match="incomplete trace .*asked for 2 chains x 50"):
        fit_compiled(_built(2), draws=50, tune=20)
