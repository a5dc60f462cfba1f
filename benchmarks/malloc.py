"""Benchmark (issue 7): the national ``domains`` gradient with and without pyramid's malloc setting.

:func:`pyramid.fit` samples inside :func:`pyramid.models.malloc.reuse_freed_memory` (glibc only):
freed blocks stay in ``malloc``'s heap instead of being unmapped, so the next gradient call
does not fault its arrays' pages in again. Whether that helps depends on what the process
allocated before (glibc raises its ``mmap`` threshold by itself after some frees), so each
measurement runs in a fresh process, as a fit does: ``--rounds`` rounds, each a process with
the setting off (``PYRAMID_MALLOC_TUNING=0``) and one with it on, one after the other so that
the machine's drift falls on both. Two kinds of process:

* ``gradient``: builds the national (or ``--quick``) model, compiles it (from the PyTensor
  cache after the first) and times ``--calls`` calls of the log density and gradient on one
  thread, with the minor page faults a call;
* ``sampling``: the same model sampled by nutpie as :func:`pyramid.fit` does (2 chains on two
  threads, ``--tune`` + ``--draws`` draws each, seed 1, so the same trajectory both ways),
  timed per gradient evaluation per chain.

The medians over the rounds and the off/on ratios are printed.

Usage::

    python benchmarks/malloc.py
    python benchmarks/malloc.py --quick --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def child(kind: str, quick: bool, calls: int, tune: int, draws: int) -> dict:
    """One process's measurement, as a dict (``ms``: per call, or per gradient per chain)."""
    import resource

    sys.path.insert(0, str(Path(__file__).parent))
    import national

    from pyramid.models.builder import build
    from pyramid.models.compiled import compile_model
    from pyramid.models.malloc import reuse_freed_memory
    from pyramid.specs import load_priors

    md = national.domains_design(national.QUICK if quick else national.NATIONAL)
    built = build(md, load_priors("default"))
    cm = compile_model(built.model, initvals=built.initvals)
    with reuse_freed_memory() as on:
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        if kind == "gradient":
            x = cm.initial_point(1)
            cm.logp_dlogp(x)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.perf_counter()
            for _ in range(calls):
                cm.logp_dlogp(x)
            ms, n = (time.perf_counter() - t) / calls * 1e3, calls
        else:
            import nutpie

            t = time.perf_counter()
            dt = nutpie.sample(cm.to_nutpie(), draws=draws, tune=tune, chains=2, cores=2, seed=1,
                               progress_bar=False, save_warmup=True)
            s = time.perf_counter() - t
            n = sum(int(dt[g]["n_steps"].sum()) for g in ("warmup_sample_stats", "sample_stats"))
            ms = s / (n / 2) * 1e3
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return {"on": on, "ms": ms, "evaluations": n, "faults_per_evaluation": faults / n}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="15 authorities instead of 150")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=300, help="gradient calls a process")
    p.add_argument("--tune", type=int, default=20, help="tuning draws a chain (sampling)")
    p.add_argument("--draws", type=int, default=20, help="draws a chain (sampling)")
    p.add_argument("--child", choices=("gradient", "sampling"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.quick, args.calls, args.tune, args.draws)))
        return 0
    from pyramid.models.malloc import glibc

    if glibc() is None:
        print("not glibc: pyramid's malloc setting does nothing here")
        return 0
    res: dict[tuple[str, str], list[dict]] = {}
    for kind in ("gradient", "sampling"):
        cmd = [sys.executable, __file__, "--child", kind, "--calls", str(args.calls),
               "--tune", str(args.tune), "--draws", str(args.draws)]
        cmd += ["--quick"] if args.quick else []
        for r in range(args.rounds):
            for setting in ("off", "on"):
                env = {**os.environ, "PYRAMID_MALLOC_TUNING": "0" if setting == "off" else "1"}
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(done.stderr[-2000:], file=sys.stderr)
                    return 1
                rec = json.loads(done.stdout.strip().splitlines()[-1])
                res.setdefault((kind, setting), []).append(rec)
                print(f"{kind}, round {r + 1}, setting {setting}: {rec['ms']:.2f} ms, "
                      f"{rec['faults_per_evaluation']:.0f} page faults an evaluation "
                      f"({rec['evaluations']} evaluations)", flush=True)
    print(f"{'quick' if args.quick else 'national'} domains, median of {args.rounds} fresh "
          f"processes each:")
    for kind, label in (("gradient", f"one thread, {args.calls} calls, ms a call"),
                        ("sampling", f"nutpie, 2 chains x ({args.tune} + {args.draws}) draws, "
                                     "ms a gradient a chain")):
        off = float(np.median([r["ms"] for r in res[kind, "off"]]))
        on = float(np.median([r["ms"] for r in res[kind, "on"]]))
        print(f"  {label}: off {off:.2f}, on {on:.2f}: {off / on:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
