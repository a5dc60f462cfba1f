"""Shared pytest configuration.

Tiers (see docs/architecture.md): structural tests never sample; fitted fixtures use few draws
and a fixed seed; recovery and calibration tests are marked ``slow`` and are deselected by
default (``make test-slow`` runs them).
"""

import os
import signal

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# A suite started as a background job of a non-interactive shell (`cmd &`, `nohup ... &`, as a
# CI runner may start it) inherits SIGINT *ignored*, and so does every process it starts: the
# Ctrl-C tests (test_sampling, test_executor, test_planning, test_interrupt) then see no
# interrupt and fail. Python's own handler is restored for the run; processes the tests start
# get the default action on exec and install Python's handler themselves.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _ar1_chains(seed: int, shape=(2, 301, 4)) -> np.ndarray:
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


@pytest.fixture
def ar1_chains():
    """The function ``ar1_chains(seed, shape=(2, 301, 4))``: test chains for the convergence
    checks (tests of pyramid.mcmc_stats and of the benchmarks' tables)."""
    return _ar1_chains
