"""Benchmark: ``pyramid fit`` on a data set it has never seen, on a warm installation.

A user's everyday run: the command line (``pyramid fit NEW.csv --model M --out NEW.nc``, a
fresh process: its start, the imports, reading and validating the file, sampling, the checks
and writing the results file all count), on a data set simulated afresh for every run (a
shape no earlier fit had), after one fit of another data set has warmed the compile caches.
Each model runs with pyramid's defaults (4 chains x 1,000 draws, extended while the checks
fail) and, as the baseline in the same run, with the defaults before them (``--backend
pytensor --chains 2 --no-extend``: PyTensor's numba backend on the PyMC graph, whose compile
depends on the data's shapes). Prints per run the wall time, whether the checks passed, the
chains and draws kept, and the ratio baseline / now.

Usage::

    python benchmarks/new_data.py                       # the three models, 2 data sets each
    python benchmarks/new_data.py --models skill --repeats 3 --no-baseline

The machine is whatever it is: on a shared machine the seconds vary with the load, so the
ratios (both in the same run, one after the other) say more than the seconds alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Designs of the data sets (authorities, units, workers, observations): each run one of
#: these with a new seed, so that no two runs share a shape.
DESIGNS = [(12, 4, 3, 2), (15, 4, 3, 2), (18, 3, 3, 2), (10, 5, 3, 2), (14, 4, 4, 2),
           (16, 3, 4, 2)]

#: The targets of issue 17 (seconds, end to end, 4 chains, checks passed).
TARGETS = {"skill": 8.0, "domains": 15.0, "pyramid": 15.0}


def _write_data(path: Path, design: tuple[int, ...], seed: int) -> None:
    import pyramid as pyr

    sim = pyr.simulate(design, seed=seed, mix={"discussion_observed": 1.0})
    sim.data.to_csv(path, index=False)


def _run(args: list[str], out: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pyramid", *args], capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"wall_s": wall, "ok": False, "error": proc.stderr[-500:]}
    code = ("import json, sys, pyramid as pyr; r = pyr.load(sys.argv[1]); "
            "p = r.idata['posterior']; print(json.dumps({'converged': bool(r.converged), "
            "'chains': int(p.sizes['chain']), 'draws': int(p.sizes['draw']), "
            "'timings': r.info.get('timings', {}), 'extension': r.info.get('extension', {})}))")
    summary = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                             text=True, check=True)
    return {"wall_s": wall, "ok": True, **json.loads(summary.stdout.strip().splitlines()[-1])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="skill,domains,pyramid")
    p.add_argument("--repeats", type=int, default=2, help="new data sets per model")
    p.add_argument("--no-baseline", action="store_true", help="skip the defaults before")
    p.add_argument("--seed", type=int, default=100)
    args = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start")
    folder = Path(tempfile.mkdtemp(prefix="new-data-"))
    variants = {"now": []}
    if not args.no_baseline:
        variants["before"] = ["--backend", "pytensor", "--chains", "2", "--no-extend"]
    seed = args.seed
    rows = []
    for model in args.models.split(","):
        # warm the caches with one data set of a shape not used below
        warm = folder / f"warm-{model}.csv"
        _write_data(warm, (6, 2, 2, 2), seed)
        for extra in variants.values():
            _run(["fit", str(warm), "--model", model, "--out", str(folder / "warm.nc"),
                  "--seed", "1", "--no-progress", *extra], folder / "warm.nc")
        for i in range(args.repeats):
            seed += 1
            design = DESIGNS[(seed + i) % len(DESIGNS)]
            csv = folder / f"{model}-{seed}.csv"
            _write_data(csv, design, seed)
            for name, extra in variants.items():
                out = folder / f"{model}-{seed}-{name}.nc"
                r = _run(["fit", str(csv), "--model", model, "--out", str(out), "--seed",
                          str(seed), "--no-progress", *extra], out)
                r.update(model=model, variant=name, design=design)
                rows.append(r)
                if not r["ok"]:
                    print(f"  {model:8} {name:6} failed: {r['error']}", flush=True)
                    continue
                t = r["timings"]
                print(f"  {model:8} {name:6} design {design}: {r['wall_s']:6.1f} s end to end "
                      f"(compile {t.get('compile_s', float('nan')):5.1f} s, sampling "
                      f"{t.get('sample_s', float('nan')):5.1f} s), {r['chains']} chains x "
                      f"{r['draws']} draws, checks {'passed' if r['converged'] else 'FAILED'}",
                      flush=True)
    print("\nmedian seconds end to end (4 chains, checks passed?):")
    for model in args.models.split(","):
        now = sorted(r["wall_s"] for r in rows if r["model"] == model and r["variant"] == "now"
                     and r["ok"])
        clean = sum(r.get("converged", False) for r in rows
                    if r["model"] == model and r["variant"] == "now")
        before = sorted(r["wall_s"] for r in rows if r["model"] == model
                        and r["variant"] == "before" and r["ok"])
        med = now[len(now) // 2] if now else float("nan")
        line = (f"  {model:8} now {med:6.1f} s (target <= {TARGETS.get(model, 0):.0f} s), "
                f"{clean}/{len(now)} passed their checks")
        if before:
            b = before[len(before) // 2]
            line += f"; before {b:6.1f} s (2 chains): {b / med:4.1f}x"
        print(line)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
