"""Benchmark: pyramid's ``skill`` and ``domains`` models against plain bambi, end to end.

For each data set, fits on the same rows

* ``skill``: pyramid's ``skill`` model (nutpie over PyTensor-numba functions; group effects
  integrated out) and bambi's ``skill ~ training + clinician + discussion + (1|authority) +
  (1|unit) [+ (1|worker)]`` with ``model.fit()`` (PyMC's default NUTS);
* ``domains``: pyramid's ``domains`` model (cumulative probit) and bambi's ``rating ~ training
  + clinician + discussion + domain + (1|authority) + (1|unit) + (1|worker) [+
  (1|observation)]`` with family ``cumulative`` (logit link: bambi 0.21's probit fails to
  start) and ``model.fit()``;

in one run, and prints per fit the wall time from model construction to draws (compilation
included), the minimum bulk ESS over the fixed effects, group SDs, residual SD and thresholds
(per-group effects left out: pyramid draws its integrated-out ones exactly, so counting them
would flatter it), ESS per second, the divergences and the pyramid/bambi ratio of ESS per
second. bambi has no monotonic effects, so ``discussion`` enters it as a categorical term
(two coefficients) where pyramid uses ``mo(discussion)``; the group levels are the ones
pyramid keeps (a level aliased with the one below it is left out of both).

Usage::

    python benchmarks/models_vs_bambi.py                # reference data and a simulated set
    python benchmarks/models_vs_bambi.py --data rsw2017 --cold

``--cold`` gives each tool fresh compile caches (PyTensor's, and numba's for pyramid's
kernels): a new user's first run. Both tools get the same chains (4 by default), tuning and
draws; pyramid runs with its defaults otherwise, so a fit whose checks fail after the draws
asked for is extended (its wall time and ESS count the draws it kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=["rsw2017", "sim", "both"], default="both")
    p.add_argument("--models", default="skill,domains")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4,
                   help="chains of both tools (4: pyramid's default and PyMC's advice)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sim-design", default="20,4,3,2",
                   help="authorities,units,workers,observations of the simulated set")
    p.add_argument("--cold", action="store_true",
                   help="fresh compile caches (PyTensor's and numba's): a new user's first run")
    return p.parse_args()


ARGS = _parse()
if ARGS.cold:
    os.environ["PYTENSOR_FLAGS"] = f"base_compiledir={tempfile.mkdtemp(prefix='pt-bench-')}"
    # pyramid's kernels live in numba's cache: fresh too (set before numba is imported)
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-bench-")
os.environ.setdefault("MPLBACKEND", "Agg")

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import pyramid as pyr  # noqa: E402
from pyramid.data import schema  # noqa: E402
from pyramid.models.coding import prepare  # noqa: E402
from pyramid.specs import load_spec  # noqa: E402

warnings.filterwarnings("ignore")


def _min_ess(post, keep) -> tuple[float, str]:
    ess = az.ess(post[[v for v in post.data_vars if keep(v)]], method="bulk")
    best, at = np.inf, ""
    for name, da in ess.data_vars.items():
        v = float(np.nanmin(da.values))
        if v < best:
            best, at = v, name
    return best, at


def _pyramid_keep(name: str) -> bool:
    return not (name.startswith(("r_", "z_", "loglik")) or name.endswith(("_signed", "_centred")))


def _bambi_keep(name: str) -> bool:
    return "|" not in name or name.endswith("_sigma")


def run_pyramid(data: pd.DataFrame, model: str) -> dict:
    t0 = time.perf_counter()
    res = pyr.fit(data, model=model, draws=ARGS.draws, tune=ARGS.tune, chains=ARGS.chains,
                  random_seed=ARGS.seed, progressbar=False, verbose=False, validate=False,
                  log_likelihood=False)
    wall = time.perf_counter() - t0
    ess, at = _min_ess(res.posterior, _pyramid_keep)
    div = int(res.idata["sample_stats"]["diverging"].sum())
    return {"tool": "pyramid", "wall_s": wall, "min_ess": ess, "at": at, "div": div,
            "groups": res.groups_kept, "rows": len(res.data)}


def run_bambi(data: pd.DataFrame, model: str, groups: list[str]) -> dict:
    import bambi as bmb

    t0 = time.perf_counter()
    d = data.copy()
    for c in ("training", "discussion"):
        d[c] = d[c].astype(str)
    d["clinician"] = d["clinician"].astype(float)
    re = " + ".join(f"(1|{g})" for g in groups)
    if model == "skill":
        formula = f"skill ~ training + clinician + discussion + {re}"
        m = bmb.Model(formula, d, family="gaussian")
    else:
        long = d.melt(id_vars=["observation", "worker", "unit", "authority", "training",
                               "clinician", "discussion"], value_vars=list(schema.DOMAINS),
                      var_name="domain", value_name="rating").dropna(subset=["rating"])
        long["rating"] = pd.Categorical(long["rating"].astype(int).astype(str),
                                        categories=["1", "2", "3", "4", "5"], ordered=True)
        formula = f"rating ~ training + clinician + discussion + domain + {re}"
        m = bmb.Model(formula, long, family="cumulative")
    idata = m.fit(draws=ARGS.draws, tune=ARGS.tune, chains=ARGS.chains,
                  random_seed=ARGS.seed, progressbar=False)
    wall = time.perf_counter() - t0
    ess, at = _min_ess(idata["posterior"].to_dataset(), _bambi_keep)
    div = int(idata["sample_stats"]["diverging"].sum())
    return {"tool": "bambi", "wall_s": wall, "min_ess": ess, "at": at, "div": div,
            "groups": groups, "rows": len(d)}


def datasets() -> dict[str, pd.DataFrame]:
    out = {}
    if ARGS.data in ("rsw2017", "both"):
        out["rsw2017"] = pyr.validate(pyr.datasets.load_rsw2017())
    if ARGS.data in ("sim", "both"):
        design = tuple(int(x) for x in ARGS.sim_design.split(","))
        sim = pyr.simulate(design, seed=ARGS.seed, mix={"discussion_observed": 1.0})
        out[f"sim{design}"] = pyr.validate(sim.data)
    return out


def main() -> int:
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}; {ARGS.chains} chains x {ARGS.draws} draws "
          f"({ARGS.tune} tuning); compile cache {'fresh' if ARGS.cold else 'as found'}")
    rows = []
    for label, data in datasets().items():
        for model in ARGS.models.split(","):
            spec = load_spec(model)
            md = prepare(spec, data, warn=False)
            used = md.frame  # the rows pyramid uses: bambi gets the same ones
            groups = [g.name for g in md.groups]
            for runner in (run_pyramid, run_bambi):
                args = (used, model) if runner is run_pyramid else (used, model, groups)
                try:
                    r = runner(*args)
                except Exception as exc:  # a failed baseline is a result to report
                    r = {"tool": runner.__name__[4:], "wall_s": np.nan, "min_ess": np.nan,
                         "at": f"failed: {type(exc).__name__}: {exc}"[:80], "div": -1,
                         "groups": groups, "rows": len(used)}
                r.update({"data": label, "model": model})
                r["ess_per_s"] = r["min_ess"] / r["wall_s"]
                rows.append(r)
                print(f"  {label:>16} {model:8} {r['tool']:8} wall {r['wall_s']:7.1f} s  "
                      f"min bulk ESS {r['min_ess']:7.0f} ({r['at']})  ESS/s {r['ess_per_s']:7.1f}"
                      f"  divergences {r['div']}", flush=True)
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["data", "model"], columns="tool",
                             values=["wall_s", "min_ess", "ess_per_s"])
    wide[("ratio", "ess_per_s")] = wide[("ess_per_s", "pyramid")] / wide[("ess_per_s", "bambi")]
    wide[("ratio", "wall_s")] = wide[("wall_s", "pyramid")] / wide[("wall_s", "bambi")]
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.precision", 2):
        print("\npyramid / bambi, ESS per second end to end (target >= 3; pyramid's wall time "
              "<= bambi's):")
        print(wide.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
