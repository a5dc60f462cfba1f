"""Is a recovery miss bias or chance? The national ``--quick`` recovery check repeated over seeds.

``benchmarks/national.py --quick`` fits the ``pyramid`` model once (seed 2017) and checks each
fixed effect's 90 % interval against its true value. One run says little: with 15 fixed
effects and 90 % intervals, 1.5 misses are expected by chance alone. This script repeats the
check over many seeds (new data and a new sampler seed each time, the same design:
``national_data(QUICK, seed)``, 15 authorities x 10 units x 4 workers x 3 observations, every
discussion observed) and summarises, per fixed effect,

* the coverage of the 90 % intervals over the seeds, with a binomial test against 0.9;
* the mean of ``z = (posterior mean - truth) / posterior SD``: under a calibrated model and
  no bias, ``z`` has mean about 0 over the seeds (its spread is near 1 where the prior is
  weak); a mean beyond ``2.6 / sqrt(n)`` in absolute value (a two-sided 1 % test of zero
  mean, unit SD) points at bias;
* the mean error ``posterior mean - truth`` in the parameter's units.

Usage::

    python benchmarks/recovery_seeds.py --seeds 1-20 --json benchmarks/results/recovery_seeds.json
    python benchmarks/recovery_seeds.py --seeds 2017 --model pyramid
    python benchmarks/recovery_seeds.py --seeds 1-1000 --discussion-only   # seconds a seed

Each fit runs in this process (one compilation serves every seed: the data have the same
shapes). Prints one line per seed as it goes, then the summary.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from national import QUICK, national_data  # noqa: E402


def _seeds(text: str) -> list[int]:
    """``"1-5,2017"`` -> [1, 2, 3, 4, 5, 2017].

    Examples
    --------
    >>> _seeds("1-3,2017")
    [1, 2, 3, 2017]
    """
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def fit_one(seed: int, model: str, draws: int, tune: int) -> dict:
    """Fit ``model`` to ``national_data(QUICK, seed)`` with sampler seed ``seed``; the fixed
    effects' posterior mean, SD and 90 % interval beside the truth."""
    import pyramid as pyr

    sim = national_data(QUICK, seed=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pyr.fit(sim.data, model=model, draws=draws, tune=tune, chains=2,
                      random_seed=seed, progressbar=False, verbose=False,
                      log_likelihood=False, prior_draws=20)
    wall = time.perf_counter() - t0
    coefs = res.coefs(ci_prob=0.9)
    rows = []
    for _, r in coefs.iterrows():
        name = r["name"]
        key = name if name in sim.truth else f"latent:{name}"
        if key not in sim.truth:
            continue
        v = float(sim.truth[key])
        rows.append({"name": name, "true": v, "mean": float(r["mean"]), "sd": float(r["sd"]),
                     "lower": float(r["lower"]), "upper": float(r["upper"]),
                     "covered": bool(r["lower"] <= v <= r["upper"])})
    diag = res.diagnostics.set_index("check")
    return {"seed": seed, "model": model, "wall_s": wall, "converged": bool(res.converged),
            "max_rhat": float(diag.loc["r_hat", "value"]), "coefs": rows}


def discussion_only(seeds: list[int], draws: int, tune: int,
                    json_path: str | None = None, prior_sd: float | None = None) -> list[dict]:
    """The discussion equation alone, many seeds cheaply: with every unit's discussion and
    clinician observed (``--quick``'s mix) the pyramid model's posterior of the discussion
    equation (cutpoints, clinician and csw coefficients) does not depend on the skill
    equation (the likelihood and the priors factorise), so an ordered probit of the 150
    units' discussions on clinician and csw, with the default prior set's priors, gives the
    same intervals at a fraction of the cost (one compilation, nutpie with new data per seed).
    ``prior_sd`` replaces the SD of the priors of the coefficients and the cutpoints (the
    default prior set's 1.0 and 1.5), to see how much of a miss the priors make.
    """
    import nutpie
    import pymc as pm

    from pyramid.specs import load_priors

    pri = load_priors("default")
    mb = dict(pri.get("mediator_b").params)
    mc = dict(pri.get("mediator_cutpoints").params)
    if prior_sd is not None:
        mb["sigma"] = mc["sigma"] = prior_sd
    first = national_data(QUICK, seed=seeds[0])

    def unit_data(sim):
        from pyramid.data.schema import derive_csw

        d = sim.data.assign(csw=derive_csw(sim.data))
        u = d.groupby("unit").first()
        lev = ["non_systemic", "green_shoots", "systemic"]
        return (np.array([lev.index(str(v)) for v in u["discussion"]]),
                u["clinician"].astype(float).to_numpy(), u["csw"].astype(float).to_numpy())

    y0, c0, w0 = unit_data(first)
    with pm.Model() as model:
        y = pm.Data("y", y0)
        c = pm.Data("c", c0)
        w = pm.Data("w", w0)
        g_c = pm.Normal("discussion_clinician", np.float64(mb["mu"]), np.float64(mb["sigma"]))
        g_w = pm.Normal("discussion_csw", np.float64(mb["mu"]), np.float64(mb["sigma"]))
        cuts = pm.Normal("discussion_cutpoints", np.float64(mc["mu"]), np.float64(mc["sigma"]),
                         shape=2, transform=pm.distributions.transforms.ordered,
                         initval=np.array([-0.5, 0.5]))
        pm.OrderedProbit("d", eta=g_c * c + g_w * w, cutpoints=cuts, observed=y)
    compiled = nutpie.compile_pymc_model(model)
    runs = []
    for seed in seeds:
        sim = national_data(QUICK, seed=seed)
        yv, cv, wv = unit_data(sim)
        trace = nutpie.sample(compiled.with_data(y=yv, c=cv, w=wv), draws=draws, tune=tune,
                              chains=2, seed=seed, progress_bar=False)
        post = trace.posterior
        rows = []
        for name, da in (("discussion_clinician", post["discussion_clinician"]),
                         ("discussion_csw", post["discussion_csw"]),
                         ("discussion_cutpoints[1]", post["discussion_cutpoints"][..., 0]),
                         ("discussion_cutpoints[2]", post["discussion_cutpoints"][..., 1])):
            v = np.asarray(da.values, dtype=float).ravel()
            lo, hi = np.quantile(v, [0.05, 0.95])
            t = float(sim.truth[name])
            rows.append({"name": name, "true": t, "mean": float(v.mean()),
                         "sd": float(v.std(ddof=1)), "lower": float(lo), "upper": float(hi),
                         "covered": bool(lo <= t <= hi)})
        runs.append({"seed": seed, "model": "discussion equation", "coefs": rows})
        if len(runs) % 50 == 0:
            print(f"{len(runs)} seeds done", flush=True)
            if json_path:
                Path(json_path).write_text(json.dumps({"runs": runs}, indent=1))
    return runs


def summarise(runs: list[dict]) -> list[dict]:
    """Per fixed effect over the runs: coverage (with a two-sided binomial p-value against
    0.9), mean z and its standard error, mean error.

    Examples
    --------
    >>> runs = [{"coefs": [{"name": "b", "true": 0.0, "mean": m, "sd": 1.0, "covered": True}]}
    ...         for m in (-0.5, 0.5)]
    >>> s = summarise(runs)[0]
    >>> s["name"], s["n"], s["coverage"], s["mean_z"]
    ('b', 2, 1.0, 0.0)
    """
    from scipy import stats

    names = list(dict.fromkeys(c["name"] for r in runs for c in r["coefs"]))
    out = []
    for name in names:
        cs = [c for r in runs for c in r["coefs"] if c["name"] == name]
        n = len(cs)
        k = sum(c["covered"] for c in cs)
        z = [(c["mean"] - c["true"]) / c["sd"] for c in cs]
        err = [c["mean"] - c["true"] for c in cs]
        mz = sum(z) / n
        sz = math.sqrt(sum((x - mz) ** 2 for x in z) / (n - 1)) if n > 1 else math.nan
        out.append({"name": name, "true": cs[0]["true"], "n": n, "coverage": k / n,
                    "p_coverage": float(stats.binomtest(k, n, 0.9).pvalue),
                    "mean_z": mz, "sd_z": sz, "se_mean_z": sz / math.sqrt(n) if n > 1 else math.nan,
                    "mean_error": sum(err) / n,
                    "flag": abs(mz) > 2.6 / math.sqrt(n)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1-10", help="e.g. 1-20,2017")
    p.add_argument("--model", default="pyramid")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--json", default=None, help="write every run and the summary here")
    p.add_argument("--discussion-only", action="store_true",
                   help="only the discussion equation (see discussion_only): seconds a seed")
    p.add_argument("--prior-sd", type=float, default=None,
                   help="with --discussion-only: the SD of every prior of the discussion "
                   "equation (default: the default prior set's)")
    args = p.parse_args(argv)
    runs = []
    if args.discussion_only:
        runs = discussion_only(_seeds(args.seeds), args.draws, args.tune, args.json,
                               args.prior_sd)
    for seed in [] if args.discussion_only else _seeds(args.seeds):
        r = fit_one(seed, args.model, args.draws, args.tune)
        runs.append(r)
        miss = [c["name"] for c in r["coefs"] if not c["covered"]]
        print(f"seed {seed}: {r['wall_s']:.0f} s, max R-hat {r['max_rhat']:.3f}, "
              f"{len(r['coefs']) - len(miss)}/{len(r['coefs'])} covered"
              + (f" (missed {', '.join(miss)})" if miss else ""), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"runs": runs}, indent=1))
    summary = summarise(runs)
    print(f"\n{'discussion equation' if args.discussion_only else args.model}: {len(runs)} seeds, 90 % intervals; z = (mean - truth) / sd")
    print(f"{'parameter':28} {'true':>7} {'cover':>6} {'p':>6} {'mean z':>7} {'se':>5} "
          f"{'mean err':>9}")
    for s in summary:
        print(f"{s['name']:28} {s['true']:7.3f} {s['coverage']:6.2f} {s['p_coverage']:6.3f} "
              f"{s['mean_z']:7.2f} {s['se_mean_z']:5.2f} {s['mean_error']:9.4f}"
              + ("  <- |mean z| > 2.6/sqrt(n)" if s["flag"] else ""))
    n_cov = sum(c["covered"] for r in runs for c in r["coefs"])
    n_all = sum(len(r["coefs"]) for r in runs)
    print(f"all: {n_cov}/{n_all} intervals covered ({n_cov / n_all:.3f}; nominal 0.90)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
