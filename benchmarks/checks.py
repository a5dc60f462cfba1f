"""Benchmark (issue 7): time and memory of the convergence checks on a national-size variable.

pyramid checks every sampled parameter (``pyramid/mcmc_stats.py``: rank-normalised R-hat,
bulk and tail ESS). The largest variable of a national ``domains`` fit is the 18,000
observation effects; the ESS estimator's FFT takes about 8 times the memory of its input, so
the checks work on blocks of at most ``mcmc_stats._BLOCK`` values. This script runs each
check on random draws of that size, once in blocks (the default) and once all at once, in the
same process, and prints the time and the peak of the memory the check allocates
(``tracemalloc``, which NumPy reports its arrays to) with the ratios; then the three checks
as :func:`pyramid.fit` runs them (``mcmc_stats.checks``: one pass sharing the ranks, blocks
in threads) against the three one after another on one thread. The values must agree
exactly; the script says so or exits 1.

Usage::

    python benchmarks/checks.py                       # 18,000 elements, 2 x 1,000 and 2 x 2,500
    python benchmarks/checks.py --draws 2000          # the national domains fit's draws
    python benchmarks/checks.py --elements 1800 --draws 1000
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc

import numpy as np


def measure(fn, x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``fn(x)``, its wall time in seconds and the peak memory it allocated in GiB."""
    tracemalloc.start()
    t = time.perf_counter()
    out = fn(x)
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    return out, dt, peak


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--elements", type=int, default=18_000)
    p.add_argument("--draws", type=int, nargs="+", default=[1000, 2500])
    p.add_argument("--chains", type=int, default=2)
    args = p.parse_args(argv)
    from pyramid import mcmc_stats as ms

    checks = {"rhat_rank": ms.rhat_rank, "ess_bulk": ms.ess_bulk,
              "ess_tail": lambda a: ms.ess_tail(a, 0.89)}
    block = ms._BLOCK
    ok = True
    for draws in args.draws:
        x = np.random.default_rng(1).normal(size=(args.chains, draws, args.elements))
        print(f"{args.elements} elements x {args.chains} chains x {draws} draws "
              f"(input {x.nbytes / 2**30:.2f} GiB)")
        for name, fn in checks.items():
            ms._BLOCK = block
            a, ta, ma = measure(fn, x)
            ms._BLOCK = 1 << 62  # all at once
            b, tb, mb = measure(fn, x)
            ms._BLOCK = block
            same = np.array_equal(a, b, equal_nan=True)
            ok &= same
            print(f"   {name:9s} in blocks {ta:5.1f} s {ma:5.2f} GiB | all at once {tb:5.1f} s "
                  f"{mb:5.2f} GiB | memory {mb / ma:4.1f}x less, time x{ta / tb:.2f}; "
                  f"{'same values' if same else 'VALUES DIFFER'}", flush=True)
        # what pyramid.fit runs: the three in one pass (checks(): the split chains' ranks
        # shared between R-hat and bulk ESS, the blocks in threads), against the three one
        # after another on one thread
        threads = ms._threads
        try:
            ms._threads = lambda: 1
            t = time.perf_counter()
            one_by_one = [fn(x) for fn in checks.values()]
            t_one = time.perf_counter() - t
        finally:
            ms._threads = threads
        together, t_all, m_all = measure(lambda a: ms.checks(a, 0.89), x)
        same = all(np.array_equal(a, b, equal_nan=True)
                   for a, b in zip(one_by_one, together, strict=True))
        ok &= same
        print(f"   all three: one after another, one thread {t_one:5.1f} s | checks(), "
              f"{threads()} threads {t_all:5.1f} s {m_all:5.2f} GiB | time x{t_one / t_all:.2f}; "
              f"{'same values' if same else 'VALUES DIFFER'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
