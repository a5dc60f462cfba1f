"""Benchmark: the first-ever compile of the shipped models, by backend, on empty caches.

Each backend runs in a fresh process of its own with empty compile caches (numba's and
PyTensor's in new temporary folders), as a new user's first session: it builds ``skill``,
``domains`` and ``pyramid`` for one simulated data set (480 rows by default) one after the
other and times, per model, the wall and CPU seconds from the built model to the first
log-density and gradient, then the time a gradient takes (median of many calls). Backends:

* ``kernels``: pyramid's fixed numba kernels (:mod:`pyramid.models.kernels`, the default);
* ``pytensor-numba``: PyTensor's numba backend on the PyMC graph (the default before);
* ``pytensor-c``: PyTensor's C backend on the PyMC graph;
* ``jax``: nutpie's JAX backend on the PyMC graph (needs JAX: ``--jax-path`` puts a folder
  holding it on the path; it is no dependency of pyramid).

The backends' processes run one after the other, so a run on a shared machine is comparable
within itself only: the ratio column is each backend's total against ``kernels`` in the same
run.

Usage::

    python benchmarks/first_compile.py
    python benchmarks/first_compile.py --backends kernels --design 20,4,3,2
    python benchmarks/first_compile.py --jax-path /tmp/jaxsite
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

MODELS = ("skill", "domains", "pyramid")
BACKENDS = ("kernels", "pytensor-numba", "pytensor-c", "jax")


def _child(backend: str, design: tuple[int, ...], models: list[str]) -> list[dict]:
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np

    import pyramid as pyr
    from pyramid.specs import load_priors, load_spec

    try:
        from pyramid.models.coding import prepare
    except ImportError:  # before the move of models/design.py
        from pyramid.models.design import prepare

    sim = pyr.simulate(design, seed=1, mix={"discussion_observed": 1.0})
    data = pyr.validate(sim.data)
    out = []
    for name in models:
        md = prepare(load_spec(name), data, warn=False)
        priors = load_priors("default")
        w0, c0 = time.perf_counter(), time.process_time()
        if backend == "kernels":
            from pyramid.models.compiled import KernelModel
            from pyramid.models.layout import build_layout

            km = KernelModel(build_layout(md, priors))
            x = km.initial_point(0)

            def grad(x=x, km=km):
                return km.logp_dlogp(x)
        else:
            from pyramid.models.builder import build

            built = build(md, priors)
            if backend == "jax":
                import nutpie

                m = built.model
                keep = [v.name for v in m.free_RVs] + [
                    d.name for d in m.deterministics if d.name != "loglik_total"]
                cm = nutpie.compile_pymc_model(m, backend="jax", gradient_backend="jax",
                                               var_names=keep)
                fn = cm._make_logp_func()
                x = np.zeros(cm.n_dim)

                def grad(x=x, fn=fn, cm=cm):
                    return fn(x, **cm._shared_data)
            else:
                from pyramid.models.compiled import compile_model

                mode = "NUMBA" if backend == "pytensor-numba" else "FAST_RUN"
                cm = compile_model(built.model, initvals=built.initvals, mode=mode)
                x = cm.initial_point(0)

                def grad(x=x, cm=cm):
                    return cm.logp_dlogp(x)
        grad()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        times = []
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(200):
                grad()
            times.append((time.perf_counter() - t) / 200)
        out.append({"backend": backend, "model": name, "compile_s": wall, "compile_cpu_s": cpu,
                    "grad_us": 1e6 * float(np.median(times))})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default="kernels,pytensor-numba,pytensor-c,jax")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--design", default="20,4,3,2", help="authorities,units,workers,observations")
    p.add_argument("--jax-path", default="", help="a folder holding JAX (added to the path)")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    design = tuple(int(v) for v in args.design.split(","))
    models = args.models.split(",")
    if args.child:
        print(json.dumps(_child(args.child, design, models)))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start; "
          f"design {design}; each backend in a fresh process with empty caches")
    rows = []
    for backend in args.backends.split(","):
        env = dict(os.environ)
        tmp = tempfile.mkdtemp(prefix=f"first-compile-{backend}-")
        env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")
        env["PYTENSOR_FLAGS"] = f"base_compiledir={os.path.join(tmp, 'pytensor')}"
        env["PYRAMID_PARALLEL_COMPILE"] = "0"
        if backend == "jax":
            if not args.jax_path:
                print("  jax: skipped (no --jax-path)")
                continue
            env["PYTHONPATH"] = args.jax_path + os.pathsep + env.get("PYTHONPATH", "")
        res = subprocess.run([sys.executable, __file__, "--child", backend, "--design",
                              args.design, "--models", args.models], env=env,
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"  {backend}: failed\n{res.stderr[-2000:]}")
            continue
        for r in json.loads(res.stdout.strip().splitlines()[-1]):
            rows.append(r)
            print(f"  {backend:15} {r['model']:8} first compile {r['compile_s']:7.1f} s wall "
                  f"({r['compile_cpu_s']:6.1f} s CPU)   gradient {r['grad_us']:8.1f} us",
                  flush=True)
    totals = {}
    for r in rows:
        totals[r["backend"]] = totals.get(r["backend"], 0.0) + r["compile_s"]
    base = totals.get("kernels")
    print("\nfirst-ever compile of the models together (wall seconds):")
    for b, t in totals.items():
        ratio = f"   {t / base:5.1f}x the kernels'" if base else ""
        print(f"  {b:15} {t:7.1f} s{ratio}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
