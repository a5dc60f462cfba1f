"""pyramid.models.sampling: one compiled model for every data set (the kernels; PyTensor graphs
once per graph), Ctrl-C during sampling, an incomplete trace."""

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


def test_one_compiled_model_serves_every_data_set():
    """A built model of pyramid's families is its family's kernel: data sets of other sizes
    (here another number of authorities) and other prior sets compile nothing, and each is
    evaluated as PyMC's own log-density of its model (compiled separately, in Python mode)."""
    compiled_for(_built(1))  # the kernel compiled or loaded here or by an earlier test
    for b in (_built(2), _built(3, (4, 2, 2, 2)), _built(2, priors="sceptical")):
        cm, new = compiled_for(b)
        assert not new
        model = b.model
        x = cm.layout.initial_point(0)
        ip = model.initial_point()
        point = {model.rvs_to_values[rv].name: x[blk.x].reshape(
            ip[model.rvs_to_values[rv].name].shape)
            for rv, blk in zip(model.free_RVs, cm.layout.blocks, strict=True)}
        logp = model.compile_logp(mode="FAST_COMPILE")(point)
        dlogp = model.compile_dlogp(mode="FAST_COMPILE")(point)
        assert cm.logp_dlogp(x)[0] == pytest.approx(float(logp), rel=1e-10)
        np.testing.assert_allclose(cm.logp_dlogp(x)[1], dlogp, rtol=1e-8, atol=1e-10)
    _, _, info = fit_compiled(_built(4), draws=50, tune=50, random_seed=5)
    assert not info["compiled"]


def test_other_models_are_compiled_once_per_graph():
    """A PyMC model outside the kernels (the reference model of compare_project) is compiled
    by PyTensor once per graph: the same graph with other data comes from the process cache,
    another structure does not."""
    cm2, _ = compiled_for(_built(2).model)
    assert _cached(_built(5).model)[0] is cm2
    assert _cached(_built(3, (4, 2, 2, 2)).model)[0] is None


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
