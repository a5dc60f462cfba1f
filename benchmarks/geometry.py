"""Benchmark aid (issue 7): what sets the length of the national ``domains`` fit's trajectories.

NUTS takes about sqrt(largest / smallest eigenvalue) leapfrog steps a draw, the eigenvalues
being those of the posterior's Hessian (of minus the log density) in the sampler's scaled
coordinates: the stiffest direction caps the step size, the softest sets how far a trajectory
must go. This script samples the national benchmark's ``domains`` model (its parametrisation,
``--quick`` data by default) with nutpie, keeping the unconstrained draws and the adapted
diagonal mass matrix, then at the last draw of each chain computes the Hessian by central
differences of pyramid's compiled gradient, scales it by the mass matrix and prints the
extreme eigenvalues with the parameters that make up their directions. ``--dense-globals``
also prints the spectrum had the small block of model-wide parameters (fixed effects,
thresholds, SDs, domain effects) a dense mass matrix, estimated from the draws' correlations
scaled to nutpie's variances.

Usage::

    python benchmarks/geometry.py                       # quick data, 2 x (300 + 300)
    python benchmarks/geometry.py --dense-globals
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def scaled_hessian(logp_dlogp, x0: np.ndarray, scale: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """``S H S`` with ``H`` minus the Hessian of the log density at ``x0`` (central differences
    of the gradient along the scaled axes) and ``S = diag(scale)``; symmetrised.

    Examples
    --------
    >>> f = lambda x: (-0.5 * x @ np.diag([4.0, 1.0]) @ x, -np.diag([4.0, 1.0]) @ x)
    >>> np.round(scaled_hessian(f, np.zeros(2), np.array([0.5, 1.0])), 6)
    array([[1., 0.],
           [0., 1.]])
    """
    n = len(x0)
    rows = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h * scale[i]
        rows[i] = -(logp_dlogp(x0 + e)[1] - logp_dlogp(x0 - e)[1]) / (2 * h)
    a = rows * scale[None, :]
    return 0.5 * (a + a.T)


def _describe(label: str, w: np.ndarray, v: np.ndarray, names: np.ndarray, k: int = 6) -> str:
    top = np.argsort(-np.abs(v))[:k]
    parts = ", ".join(f"{names[t]} {v[t]:+.2f}" for t in top)
    return f"   {label} {w:9.3g}: {parts} (these {k}: {np.sum(v[top] ** 2):.0%} of it)"


def _flat_names(cm) -> np.ndarray:
    names = []
    for n, sl in zip(cm._free_names, cm._free_slices, strict=True):
        k = sl.stop - sl.start
        names += [f"{n}[{i}]" if k > 1 else n for i in range(k)]
    return np.array(names)


def _last_mass_matrix(dt) -> np.ndarray:
    """nutpie's last adapted inverse mass matrix per chain (it is stored at updates only)."""
    mm = np.concatenate([np.asarray(dt["warmup_sample_stats"]["mass_matrix_inv"]),
                         np.asarray(dt["sample_stats"]["mass_matrix_inv"])], axis=1)
    ok = ~np.isnan(mm).any(-1)
    return np.stack([mm[c, np.where(ok[c])[0][-1]] for c in range(mm.shape[0])])


def main(argv=None) -> int:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import national
    import nutpie

    from pyramid.models.builder import build
    from pyramid.models.compiled import compile_model
    from pyramid.specs import load_priors

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--national", action="store_true", help="the full data (slow: 25,668 dims)")
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dense-globals", action="store_true")
    args = p.parse_args(argv)

    md = national.domains_design(national.NATIONAL if args.national else national.QUICK)
    cm = compile_model(build(md, load_priors("default")).model)
    t0 = time.perf_counter()
    dt = nutpie.sample(cm.to_nutpie(), draws=args.draws, tune=args.tune, chains=2,
                       seed=args.seed, progress_bar=False, target_accept=0.9,
                       store_unconstrained=True, store_mass_matrix=True)
    ss = dt["sample_stats"].to_dataset()
    print(f"data {md.n_rows} observations; {cm.n_dim} unconstrained parameters; "
          f"sampled in {time.perf_counter() - t0:.0f} s; step size "
          f"{float(ss['step_size'].mean()):.3f}, {float(ss['n_steps'].mean()):.1f} gradients a "
          f"draw (tree depth {float(ss['depth'].mean()):.2f})")
    names = _flat_names(cm)
    minv = _last_mass_matrix(dt)
    draws = np.asarray(ss["unconstrained_draw"])
    flat = draws.reshape(-1, draws.shape[-1])
    model_wide = np.array([not (n.startswith("r_") or n.startswith("z_")) for n in names])
    for c in range(draws.shape[0]):
        scale = np.sqrt(minv[c])
        a = scaled_hessian(cm.logp_dlogp, draws[c, -1], scale)
        w, v = np.linalg.eigh(a)
        print(f"chain {c}, last draw: scaled Hessian eigenvalues, 5 largest "
              f"{np.round(w[-5:][::-1], 1)}, 5 smallest {np.round(w[:5], 3)}")
        for label, j in (("largest    ", -1), ("2nd largest", -2), ("smallest   ", 0)):
            print(_describe(label, w[j], v[:, j], names))
        if args.dense_globals:
            gi = np.where(model_wide)[0]
            t = np.diag(scale)
            corr = np.corrcoef(flat[:, gi].T)
            t[np.ix_(gi, gi)] = np.linalg.cholesky(corr * np.outer(scale[gi], scale[gi]))
            h = a / np.outer(scale, scale)
            w2, v2 = np.linalg.eigh(0.5 * (t.T @ h @ t + (t.T @ h @ t).T))
            print(f"   with a dense mass matrix for the {gi.size} model-wide parameters: 5 "
                  f"largest {np.round(w2[-5:][::-1], 1)}")
            print(_describe("largest    ", w2[-1], v2[:, -1], names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
