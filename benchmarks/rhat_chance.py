"""Benchmark aid (issue 7): how large the largest R-hat of many parameters is by chance alone.

The national ``domains`` target asks for every R-hat <= 1.01 over all 25,668 sampled
parameters. R-hat (pyramid's rank-normalised split R-hat, the larger of bulk and folded, the
same estimator as arviz) is itself an estimate: even for chains that mix perfectly it exceeds 1
by a random amount that shrinks with the effective sample size, and the largest of 25,668 such
values is far out in that distribution's tail. This script draws chains with a known
autocorrelation -- AR(1) with coefficient ``rho``, whose effective sample size per draw is
(1 - rho) / (1 + rho) -- for as many parameters as the national fit has, and prints the
largest R-hat per setting (median over ``--reps`` repetitions).

Usage::

    python benchmarks/rhat_chance.py                    # 25,668 parameters, 2 x 1000 draws
    python benchmarks/rhat_chance.py --params 25668 --chains 2 4 --draws 1000 2000
"""

from __future__ import annotations

import argparse

import numpy as np

from pyramid.mcmc_stats import rhat_rank


def ar1_chains(rng: np.random.Generator, chains: int, draws: int, params: int,
               rho: float) -> np.ndarray:
    """Stationary AR(1) chains, shape (chain, draw, param), unit marginal variance."""
    x = np.empty((chains, draws, params))
    x[:, 0] = rng.standard_normal((chains, params))
    scale = np.sqrt(1.0 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + scale * rng.standard_normal((chains, params))
    return x


def max_rhat(chains: int, draws: int, params: int, rho: float, reps: int, seed: int) -> list[float]:
    """The largest R-hat over ``params`` independent parameters, once per repetition.

    Examples
    --------
    >>> m = max_rhat(2, 200, 50, 0.0, reps=2, seed=1)
    >>> len(m), all(1.0 < v < 1.1 for v in m)
    (2, True)
    """
    rng = np.random.default_rng(seed)
    return [float(np.max(rhat_rank(ar1_chains(rng, chains, draws, params, rho))))
            for _ in range(reps)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--params", type=int, default=25668, help="parameters (national domains)")
    p.add_argument("--chains", type=int, nargs="+", default=[2, 4])
    p.add_argument("--draws", type=int, nargs="+", default=[1000, 2000])
    p.add_argument("--rho", type=float, nargs="+", default=[0.0, 0.5, 0.8])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=2017)
    args = p.parse_args(argv)
    print(f"largest rank-normalised split R-hat over {args.params} parameters, AR(1) chains "
          f"(median of {args.reps} repetitions)")
    print(f"{'chains':>6} {'draws':>6} {'rho':>5} {'ESS/draw':>9} {'ESS':>7} {'max R-hat':>10}")
    for chains in args.chains:
        for draws in args.draws:
            for rho in args.rho:
                m = max_rhat(chains, draws, args.params, rho, args.reps, args.seed)
                per = (1 - rho) / (1 + rho)
                print(f"{chains:>6} {draws:>6} {rho:>5.2f} {per:>9.2f} {chains * draws * per:>7.0f} "
                      f"{np.median(m):>10.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
