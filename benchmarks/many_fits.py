"""Benchmark: fits per minute of the design analysis, compiled-model reuse against recompiling.

Runs :func:`pyramid.design` for the ``skill`` model on the reference design (5 authorities x
4 units x 4 workers x 1 observation, the report's effects) and prints:

1. fits per minute on local worker processes (``--jobs``, default 2) when each worker compiles
   the model once and swaps data into it (the default), and when it compiles every fit
   (``reuse=False``, what calling ``pyramid.fit`` in a loop does);
2. the speed-up from 1 to 2 Dask workers on a ``LocalCluster``.

Every timed run goes to a fresh output folder; a warm-up run first fills each worker's
PyTensor compile cache (``<base_compiledir>/pyramid-worker-<slot>`` and ``.../pyramid-worker-
dask-<n>``), so the figures are steady-state ones; the cold first compile of a worker is
reported separately. Each figure is wall time from the call to its return (pool start-up,
imports and compiles included) and, in brackets, the fits' own time (the sum of the per-fit
seconds in the store, divided by the workers); ``cpu s/fit`` is the CPU time of a fit in its
worker (compiles included), which other processes on a shared machine do not inflate.

Usage::

    PYTENSOR_FLAGS=base_compiledir=/tmp/pytensor-bench python benchmarks/many_fits.py
    python benchmarks/many_fits.py --sims 40 --recompile-sims 10 --jobs 2

Not a test: it takes a few minutes and its numbers depend on the machine and its load (the
load average is printed with them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path


def _records(folder: Path) -> list[dict]:
    with open(folder / "results.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _run(label: str, root: Path, sims: int, seed: int, **kwargs) -> dict:
    import pyramid as pyr

    out = root / label
    t0 = time.perf_counter()
    table = pyr.design(5, 4, 4, 1, sims=sims, random_seed=seed, out=out, progressbar=False,
                       draws=500, tune=500, chains=2, **kwargs)
    wall = time.perf_counter() - t0
    recs = [r for r in _records(out) if r["status"] == "ok"]
    workers = max(1, table.attrs["report"]["workers"])
    busy = sum(r["seconds"] for r in recs) / workers
    cpu = sum(r["cpu_seconds"] for r in recs)
    compiled = sum(1 for r in recs if r["result"]["compiled"])
    compile_s = [r["result"]["compile_s"] for r in recs if r["result"]["compiled"]]
    return {"label": label, "fits": len(recs), "failed": sims - len(recs), "wall_s": wall,
            "fits_per_min": 60 * len(recs) / wall, "busy_fits_per_min": 60 * len(recs) / busy,
            "cpu_s_per_fit": cpu / len(recs), "compiles": compiled,
            "mean_compile_s": sum(compile_s) / max(1, len(compile_s)), "workers": workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=40, help="fits of each reuse run")
    ap.add_argument("--recompile-sims", type=int, default=10, help="fits of the recompile run")
    ap.add_argument("--jobs", type=int, default=2, help="local worker processes")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--keep", help="keep the output folders here")
    args = ap.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pyramid-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"visible, python {platform.python_version()}; load average before: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    try:
        t0 = time.perf_counter()
        warm = _run("warmup-processes", root, args.jobs, 99, jobs=args.jobs)
        print(f"warm-up ({args.jobs} fits, fills the worker caches): {time.perf_counter() - t0:.0f} s, "
              f"mean compile {warm['mean_compile_s']:.1f} s")
        rows.append(_run("reuse", root, args.sims, 1, jobs=args.jobs))
        rows.append(_run("recompile", root, args.recompile_sims, 2, jobs=args.jobs, reuse=False))
        if not args.skip_dask:
            _run("warmup-dask", root, 2, 98, dask_workers=2)
            rows.append(_run("dask-1-worker", root, args.sims // 2, 3, dask_workers=1))
            rows.append(_run("dask-2-workers", root, args.sims // 2, 3, dask_workers=2))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nskill model, reference design 5x4x4x1, 2 chains x (500 tune + 500 draws) a fit; "
          f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'run':<16}{'workers':>8}{'fits':>6}{'failed':>7}{'wall s':>8}{'fits/min':>10}"
          f"{'(busy)':>9}{'cpu s/fit':>10}{'compiles':>9}{'compile s':>10}")
    for r in rows:
        print(f"{r['label']:<16}{r['workers']:>8}{r['fits']:>6}{r['failed']:>7}{r['wall_s']:>8.0f}"
              f"{r['fits_per_min']:>10.1f}{r['busy_fits_per_min']:>9.1f}"
              f"{r['cpu_s_per_fit']:>10.2f}{r['compiles']:>9}{r['mean_compile_s']:>10.1f}")
    by = {r["label"]: r for r in rows}
    ratio = by["reuse"]["fits_per_min"] / by["recompile"]["fits_per_min"]
    print(f"\nreuse / recompile: {ratio:.1f}x (target >= 3x); reuse: "
          f"{by['reuse']['fits_per_min']:.1f} fits per minute (target >= 20)")
    cpu_ratio = by["recompile"]["cpu_s_per_fit"] / by["reuse"]["cpu_s_per_fit"]
    print(f"by CPU time (what other processes on the machine do not change): reuse "
          f"{by['reuse']['cpu_s_per_fit']:.2f} s a fit, {args.jobs * 60 / by['reuse']['cpu_s_per_fit']:.0f} "
          f"fits per minute on {args.jobs} free cores; recompile {by['recompile']['cpu_s_per_fit']:.2f} s "
          f"a fit; ratio {cpu_ratio:.1f}x")
    if "dask-2-workers" in by:
        sp = by["dask-2-workers"]["fits_per_min"] / by["dask-1-worker"]["fits_per_min"]
        print(f"Dask LocalCluster, 1 -> 2 workers: speed-up {sp:.2f}x")


if __name__ == "__main__":
    main()
