"""Benchmark (issue 19): a model from a formula against the same model from its spec.

``skill ~ training + clinician + mo(discussion) + (1 | authority/unit/worker)`` is the shipped
``skill`` model: the formula is parsed and checked (:mod:`pyramid.formula`) and builds the same
PyMC graph, so a fit must take the same time and give the same draws. This script fits both on
one simulated data set with the same seed, in one process: each once to warm the compile
caches, then ``--repeats`` times each, alternating, and prints the median times of the whole
fit (:func:`pyramid.fit`, validation to results) and of sampling alone, their ratios (formula /
spec), the time to parse the formula into a spec, and whether the draws are identical (exit
1 if not).

Usage::

    python benchmarks/formula_vs_spec.py                    # 20 x 6 x 4 x 2 = 960 rows
    python benchmarks/formula_vs_spec.py --layout 5 4 4 1 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np

FORMULA = "skill ~ training + clinician + mo(discussion) + (1 | authority/unit/worker)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layout", type=int, nargs=4, default=[20, 6, 4, 2],
                   metavar=("A", "U", "W", "O"))
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=19)
    args = p.parse_args(argv)

    import pyramid as pyr
    from pyramid.specs import spec_from_formula

    sim = pyr.simulate(tuple(args.layout), seed=args.seed, mix={"discussion_observed": 1.0})
    data = pyr.validate(sim.data)
    kw = dict(draws=args.draws, tune=args.draws, random_seed=args.seed, progressbar=False,
              verbose=False, validate=False)
    ways = {"spec": dict(model="skill"), "formula": dict(formula=FORMULA)}

    t = time.perf_counter()
    for _ in range(20):
        spec_from_formula(FORMULA)
    parse_ms = (time.perf_counter() - t) / 20 * 1000

    results, total, sample = {}, {k: [] for k in ways}, {k: [] for k in ways}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, way in ways.items():  # warm the compile caches
            results[name] = pyr.fit(data, **kw, **way)
        for _ in range(args.repeats):
            for name, way in ways.items():
                t = time.perf_counter()
                res = pyr.fit(data, **kw, **way)
                total[name].append(time.perf_counter() - t)
                sample[name].append(res.info["timings"]["sample_s"])
    a = results["spec"].idata["posterior"]
    b = results["formula"].idata["posterior"]
    same = sorted(a.data_vars) == sorted(b.data_vars) and all(
        np.array_equal(a[v].values, b[v].values) for v in a.data_vars)

    n = len(data)
    chains = results["spec"].idata["posterior"].sizes["chain"]
    print(f"skill model, {n} rows (layout {' x '.join(map(str, args.layout))}), {chains} chains "
          f"x {args.draws} draws, {args.repeats} timed fits each after a warm-up fit")
    print(f"  formula -> spec: {parse_ms:.1f} ms (parse, check, spec)")
    print(f"  {'':8s} {'fit (median s)':>15s} {'sampling (median s)':>20s}")
    for name in ways:
        print(f"  {name:8s} {statistics.median(total[name]):15.2f} "
              f"{statistics.median(sample[name]):20.2f}")
    r_total = statistics.median(total["formula"]) / statistics.median(total["spec"])
    r_sample = statistics.median(sample["formula"]) / statistics.median(sample["spec"])
    print(f"  ratio formula / spec: fit {r_total:.3f}, sampling {r_sample:.3f}")
    print(f"  build: spec {results['spec'].info['build']}, formula "
          f"{results['formula'].info['build']}; draws identical: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
