"""Benchmark: do pyramid's default fits pass their own convergence checks?

Simulates ``--datasets`` data sets (20 by default) of varied shapes -- 50 to 2,000
observations, few or many authorities, one to three observations a worker, a share of units
whose discussion was not observed -- and fits every shipped model to each with
:func:`pyramid.fit`'s defaults (4 chains x 1,000 draws, extended while the checks fail), then
prints, per fit, whether every check passed (divergences, R-hat, bulk and tail ESS,
E-BFMI), the draws kept, the worst value and the seconds; and the count of clean fits per
model. Every fit runs in this one process (the kernels are compiled once).

Usage::

    python benchmarks/clean_by_default.py
    python benchmarks/clean_by_default.py --datasets 5 --models skill
    python benchmarks/clean_by_default.py --first 15   # data sets 15-19 only
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings


def designs(n: int, seed: int) -> list[tuple[tuple[int, int, int, int], float]]:
    """``n`` designs (authorities, units, workers, observations) with 50 to 2,000 rows, and
    the share of units whose discussion is observed.

    Examples
    --------
    >>> ds = designs(20, 1)
    >>> len(ds), all(50 <= a * u * w * o <= 2000 for (a, u, w, o), _ in ds)
    (20, True)
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    targets = np.exp(np.linspace(np.log(50), np.log(2000), n))
    for target in targets:
        while True:
            o = int(rng.integers(1, 4))
            w = int(rng.integers(1, 5))
            u = int(rng.integers(2, 7))
            a = max(3, int(round(target / (o * w * u))))
            if 50 <= a * u * w * o <= 2000:
                break
        out.append(((a, u, w, o), float(rng.choice([1.0, 0.8, 0.6]))))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", type=int, default=20)
    p.add_argument("--models", default="skill,domains,pyramid")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--first", type=int, default=0,
                   help="start at this data set (another process can run the rest)")
    p.add_argument("--only", default=None,
                   help="comma-separated numbers of the data sets to fit (e.g. 12,13)")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    import pyramid as pyr
    from pyramid.data.simulate import simulate

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start; "
          f"pyramid.fit's defaults")
    counts: dict[str, list[bool]] = {}
    t_all = time.perf_counter()
    for i, (design, observed) in enumerate(designs(args.datasets, args.seed)):
        if i < args.first or (args.only and i not in {int(x) for x in args.only.split(",")}):
            continue
        sim = simulate(design, seed=args.seed + i, mix={"discussion_observed": observed})
        for model in args.models.split(","):
            t0 = time.perf_counter()
            try:
                res = pyr.fit(sim.data, model=model, random_seed=args.seed + i,
                              progressbar=False, verbose=False)
            except pyr.InputError as exc:  # a design the model cannot use (e.g. too few groups)
                print(f"  {i:2} {str(design):16} {model:8} not fitted: {exc}")
                continue
            secs = time.perf_counter() - t0
            ok = bool(res.converged)
            counts.setdefault(model, []).append(ok)
            d = res.diagnostics.set_index("check")
            ext = res.info["extension"]
            failed = ", ".join(d.index[~d["passed"].astype(bool)])
            print(f"  {i:2} {str(design):16} {len(res.data):5} rows {model:8} "
                  f"{'clean' if ok else 'NOT clean (' + failed + ')':24} "
                  f"{ext['draws']:5} draws ({ext['blocks']} more blocks)  R-hat "
                  f"{d.loc['r_hat', 'value']:.3f}  bulk ESS {d.loc['ess_bulk', 'value']:5.0f}  "
                  f"{secs:6.1f} s", flush=True)
    print("\nfits passing every check with the defaults:")
    for model, oks in counts.items():
        print(f"  {model:8} {sum(oks)} of {len(oks)}")
    print(f"all: {sum(sum(v) for v in counts.values())} of "
          f"{sum(len(v) for v in counts.values())} in {time.perf_counter() - t_all:.0f} s; "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
