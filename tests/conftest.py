"""Shared pytest configuration.

Tiers (see docs/architecture.md): structural tests never sample; fitted fixtures use few draws
and a fixed seed; recovery and calibration tests are marked ``slow`` and are deselected by
default (``make test-slow`` runs them).
"""

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


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
