"""Benchmark (issue 7): pyramid's models on a national data set, against plain bambi.

Builds the national workload with :func:`pyramid.simulate` -- 150 authorities x 10 units x 4
workers x 3 observations = 18,000 observations and 90,000 domain ratings (every unit's
discussion observed, no missing domain score: the generator call is :func:`national_data`) --
and fits, each in a subprocess of its own so that peak memory is per fit:

* ``skill``: pyramid's ``skill`` model, and bambi's Gaussian ``skill ~ training + clinician +
  discussion + (1|authority) + (1|unit) + (1|worker)`` (the ids are unique across the data
  set, so these are ``(1|authority:unit)`` and ``(1|authority:unit:worker)``);
* ``domains``: pyramid's cumulative-probit ``domains`` model, and bambi's ``cumulative``
  family (logit link: bambi 0.21's probit does not start) on the same 90,000 ratings with
  ``domain`` as a term and the same group levels (authority, unit, worker, observation);
* ``pyramid``: the path model (no bambi analogue);

bambi with its defaults, as a new user would (``bmb.Model(...).fit()``: PyMC's own NUTS
sampler). PyMC decides how many chains run at once from ``os.cpu_count() // 2`` (it takes half
the CPUs to be hyper-threads), so on a 2-CPU machine bambi runs its chains one after the other
while pyramid runs them side by side; ``--bambi-cores 2`` runs bambi's in parallel too, and
the table says how many ran at once for each fit. For each fit it prints the
compile time (pyramid: the PyTensor-numba compilation; bambi: building the model, its sampler
compiles inside ``fit``), the sampling time, the minimum bulk ESS over the fixed effects,
group SDs, residual SD and thresholds (per-group effects left out: pyramid draws its
integrated-out ones exactly, so counting them would flatter it), ESS per second (end to end:
the minimum bulk ESS over the wall time from data to draws), the divergences, the largest
R-hat, the peak memory of the fit (the process's ``ru_maxrss``, or the largest sum of the
proportional set sizes of the process and its children -- PyMC's multiprocess chains -- at a
2 s sample, written every 2 s
so a fit stopped at the cap still has one), the load average, and the pyramid/bambi ratios. bambi runs under a
time cap (``--bambi-cap`` minutes, default 30): a fit that hits it is stopped, and the bound
it implies is printed (bambi's ESS per second is at most its draws -- its minimum bulk ESS
would not exceed the number of draws -- over the cap). Then the recovery check: every fixed
effect's 90 % interval against its true value (``Simulation.truth``; skill points for
``skill`` and ``pyramid``, the probit scale for ``domains``).

Both tools get the same chains (4 by default, pyramid's default), draws and tuning draws. The
draws are 2,000 in all for ``skill`` and ``pyramid`` and 4,000 for ``domains``, shared by the
chains (:data:`TOTAL_DRAWS`; 2,000 for every model with ``--quick``; ``--draws`` sets the
draws a chain for all): with 2,000 in all the largest of ``domains``' 25,668 R-hats is about
1.02 by chance alone, with 4,000 under 1.01. pyramid extends its chains when a check fails
(its default; ``--no-extend`` turns that off). The default of 300 tuning draws is nutpie's
own default; on the ``--quick`` data 300 gave no lower ESS than 500 (see the user guide's
performance page), and PyMC's default of 1,000 would add about half again to pyramid's
national ``domains`` time.

Usage::

    python benchmarks/national.py                   # the national workload, ~1 hour with bambi
    python benchmarks/national.py --quick           # 15 authorities (10x smaller), minutes
    python benchmarks/national.py --models domains --tools pyramid
    python benchmarks/national.py --bambi-cap 20 --json benchmarks/results/national.json
    python benchmarks/national.py --models domains --tools pyramid --backend jax   # on a GPU

``--cold`` gives every fit fresh compile caches (a new user's first run); by default
each tool uses a cache of its own under the system's temporary folder, kept between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NATIONAL = (150, 10, 4, 3)
QUICK = (15, 10, 4, 3)
#: Every unit's discussion observed and every domain scored: all 18,000 rows in every model.
MIX = {"discussion_observed": 1.0, "p_missing_domain": 0.0}
SEED = 2017

#: pyramid's settings per model (what the measurements on the performance page chose): fit()
#: keywords, and ``parametrisation`` (a table {group: "centred" | "non_centred"}) written into
#: a copy of the model's spec. With 600 ratings an authority, 60 a unit and 15 a worker the
#: data pin those effects down and the centred form samples better; the observation level (5
#: ratings each) stays non-centred.
PYRAMID_OPTIONS: dict[str, dict] = {
    "skill": {},
    "domains": {"parametrisation": {"authority": "centred", "unit": "centred",
                                    "worker": "centred", "observation": "non_centred"}},
    "pyramid": {},
}


#: Draws per model at national scale, over all chains together, unless ``--draws`` says
#: otherwise (both tools get the same; 2,000 for every model with ``--quick``): a chain gets
#: its share (4 chains: 1,000 draws a chain for ``domains``). The national ``domains`` model
#: has 25,668 parameters, and with 2,000 draws in all the largest of their R-hats is about
#: 1.02 by chance alone (``rhat_chance.py``); 4,000 bring it under 1.01.
TOTAL_DRAWS = {"skill": 2000, "domains": 4000, "pyramid": 2000}


def draws_for(model: str, draws: int | None, quick: bool = False, chains: int = 4) -> int:
    """The draws a chain for ``model``: ``draws`` (``--draws``) when given, else the model's
    :data:`TOTAL_DRAWS` (2,000 with ``quick``) shared by ``chains``.

    Examples
    --------
    >>> draws_for("domains", None), draws_for("skill", None), draws_for("domains", 500)
    (1000, 500, 500)
    >>> draws_for("domains", None, quick=True), draws_for("domains", None, chains=2)
    (500, 2000)
    """
    if draws is not None:
        return draws
    total = 2000 if quick else TOTAL_DRAWS.get(model, 2000)
    return max(1, total // chains)


def spec_variant(model: str, parametrisation: dict, folder: Path) -> Path:
    """A copy of a shipped model spec with another ``parametrisation`` (a spec file)."""
    import re

    from pyramid.specs import load_spec

    # a form is a string, a centring weight a number (TOML: quoted vs bare)
    table = ", ".join(f"{k} = {v!r}" if isinstance(v, int | float) else f'{k} = "{v}"'
                      for k, v in parametrisation.items())
    text = re.sub(r"^parametrisation = .*$", f"parametrisation = {{ {table} }}",
                  load_spec(model).text, count=1, flags=re.M)
    path = folder / f"{model}-national.toml"
    path.write_text(text)
    return path


def national_data(design=NATIONAL, seed: int = SEED):
    """The national workload: ``pyramid.simulate(design, mix=MIX, seed=seed)``.

    Examples
    --------
    >>> sim = national_data((2, 2, 2, 3), seed=1)
    >>> sim.data.shape[0], int(sim.data["discussion"].isna().sum())
    (24, 0)
    """
    import pyramid as pyr

    return pyr.simulate(design, mix=MIX, seed=seed)


def domains_design(design=NATIONAL, seed: int = SEED):
    """The national data prepared for the ``domains`` model in this benchmark's
    parametrisation (``PYRAMID_OPTIONS``): the :class:`pyramid.models.coding.ModelData` that
    ``pyramid.fit`` would build, for the scripts that look inside a fit (``gradient.py``,
    ``geometry.py``)."""
    from pyramid.data.validate import validate
    from pyramid.models.coding import prepare
    from pyramid.specs import load_spec

    sim = national_data(design, seed)
    par = PYRAMID_OPTIONS["domains"]["parametrisation"]
    spec = load_spec(spec_variant("domains", par, Path(tempfile.mkdtemp())))
    return prepare(spec, validate(sim.data, model=spec), warn=False)


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="15 authorities instead of 150")
    p.add_argument("--models", default="skill,domains,pyramid")
    p.add_argument("--tools", default="pyramid,bambi")
    p.add_argument("--draws", type=int, default=None,
                   help="draws a chain for every model (default: per model, DRAWS)")
    p.add_argument("--tune", type=int, default=300, help="tuning draws per chain (both tools)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--no-extend", action="store_true",
                   help="pyramid: keep exactly the draws asked for (fit(extend=False))")
    p.add_argument("--seed", type=int, default=SEED, help="data and sampler seed")
    p.add_argument("--bambi-cap", type=float, default=None,
                   help="minutes before a bambi fit is stopped (default 30; 3 with --quick)")
    p.add_argument("--bambi-cores", type=int, default=None,
                   help="chains bambi runs at once (default: PyMC's own choice)")
    p.add_argument("--pyramid-options", default=None,
                   help='JSON {"model": {fit keyword: value}} overriding PYRAMID_OPTIONS')
    p.add_argument("--backend", choices=("numba", "jax"), default="numba",
                   help="pyramid's backend (jax: on JAX's default device, a GPU with jax[cuda])")
    p.add_argument("--cold", action="store_true",
                   help="fresh compile caches per fit (PyTensor's; numba's for pyramid's kernels)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--child", nargs=4, metavar=("TOOL", "MODEL", "DATA", "OUT"),
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------
# child: one fit in its own process
# --------------------------------------------------------------------------------------------
class _Heartbeat:
    """Writes the fit's peak memory and the current phase to ``path`` every 2 s.

    The peak memory is the larger of the process's own peak RSS and the largest sum over the
    process and its children seen at a 2 s sample: PyMC's multiprocess sampling (bambi with
    more than one core) runs its chains in child processes, which ``ru_maxrss`` of the process
    alone would leave out. The sum is of each process's proportional set size (PSS, Linux):
    the children are forked, and their RSS counts every page they still share with the
    parent again, so a sum of RSS counted a 21 GiB model three times (61 GiB on a 24 GiB
    machine). Where PSS cannot be read, RSS."""

    def __init__(self, path: Path):
        self.path, self.phase, self.extra = path, "start", {}
        self.tree_peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def peak_gib(self) -> float:
        import psutil

        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += _pss(proc)
            except psutil.Error:  # a child that ended between listing and reading
                pass
        self.tree_peak = max(self.tree_peak, total)
        return max(_maxrss_gib(), self.tree_peak / 2**30)

    def write(self):
        rec = {"phase": self.phase, "peak_rss_gib": self.peak_gib(), **self.extra}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, self.path)

    def _run(self):
        while not self._stop.wait(2.0):
            self.write()

    def stop(self):
        self._stop.set()
        self._t.join()
        self.write()


def _pss(proc) -> int:
    """The proportional set size of a psutil process in bytes (shared pages split between the
    processes sharing them), or its RSS where the platform has no PSS."""
    try:
        return proc.memory_full_info().pss
    except (AttributeError, NotImplementedError):
        return proc.memory_info().rss


def _maxrss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def _keep_pyramid(name: str) -> bool:
    return not (name.startswith(("r_", "z_", "loglik")) or name.endswith(("_signed", "_centred"))
                or name.endswith("_unit"))


def _keep_bambi(name: str) -> bool:
    return "|" not in name or name.endswith("_sigma")


def _summ(post, keep) -> dict:
    """Min bulk ESS and max R-hat over the kept variables of a posterior Dataset."""
    import numpy as np

    from pyramid import mcmc_stats

    ess_min, at, rhat_max = np.inf, "", 0.0
    for name, da in post.data_vars.items():
        if not keep(str(name)):
            continue
        vals = da.transpose("chain", "draw", ...).values
        if np.ptp(vals) == 0:
            continue
        e = mcmc_stats.ess_bulk(vals)
        if np.nanmin(e) < ess_min:
            ess_min, at = float(np.nanmin(e)), str(name)
        rhat_max = max(rhat_max, float(np.nanmax(mcmc_stats.rhat_rank(vals))))
    return {"min_ess": ess_min, "min_ess_at": at, "max_rhat_compared": rhat_max}


def _child_pyramid(model: str, data_path: Path, opts: dict, args, hb: _Heartbeat) -> dict:
    import pandas as pd

    import pyramid as pyr

    payload = pd.read_pickle(data_path)
    data, truth = payload["data"], payload["truth"]
    opts = dict(opts)
    spec = model
    if "parametrisation" in opts:
        spec = spec_variant(model, opts.pop("parametrisation"), data_path.parent)
    hb.phase = "fit"
    t0 = time.perf_counter()
    res = pyr.fit(data, model=spec, draws=draws_for(model, args.draws, chains=args.chains),
                  tune=args.tune, chains=args.chains, random_seed=args.seed, progressbar=False,
                  verbose=False, log_likelihood=False,
                  extend=not getattr(args, "no_extend", False), **opts)
    wall = time.perf_counter() - t0
    t = res.info["timings"]
    out = {"wall_s": wall, "compile_s": t["compile_s"], "sample_s": t["sample_s"],
           "post_s": t["post_s"], "rows": len(res.data), "groups": res.groups_kept,
           "options": opts, "parametrisation": res.info["parametrisation"],
           "cores": res.info.get("cores"),
           "adaptation": res.info["adaptation"], "target_accept": res.info["target_accept"]}
    stats = res.idata["sample_stats"].to_dataset()
    out["divergences"] = int(stats["diverging"].sum())
    if "depth" in stats:
        out["mean_tree_depth"] = float(stats["depth"].mean())
    if "n_steps" in stats:
        out["grad_evals"] = int(stats["n_steps"].sum())
    # the draws a chain kept: more than asked for when the checks failed and the chains were
    # extended (fit's default; --no-extend keeps exactly the draws asked for)
    out["draws_kept"] = int(res.info.get("draws", stats.sizes.get("draw", 0)))
    out["extension"] = res.info.get("extension", {})
    diag = res.diagnostics.set_index("check")
    out["max_rhat_all"] = float(diag.loc["r_hat", "value"])
    out["max_rhat_all_at"] = str(diag.loc["r_hat", "where"])
    out["min_ess_bulk_all"] = float(diag.loc["ess_bulk", "value"])
    out.update(_summ(res.posterior, _keep_pyramid))
    coefs = res.coefs(ci_prob=0.9)
    rec = []
    for _, r in coefs.iterrows():
        if r["name"] in truth:
            v = float(truth[r["name"]])
            rec.append({"name": r["name"], "true": v, "mean": r["mean"], "lower": r["lower"],
                        "upper": r["upper"], "covered": bool(r["lower"] <= v <= r["upper"])})
    out["recovery"] = rec
    return out


def _bambi_frame(data, model: str, groups: list[str]):
    import pandas as pd

    from pyramid.data import schema

    d = data[["observation", "worker", "unit", "authority", "training", "clinician",
              "discussion", "skill", *schema.DOMAINS]].copy()
    for c in ("observation", "worker", "unit", "authority", "training", "discussion"):
        d[c] = d[c].astype(str)
    d["clinician"] = d["clinician"].astype(float)
    re = " + ".join(f"(1|{g})" for g in groups)
    if model == "skill":
        return f"skill ~ training + clinician + discussion + {re}", d, "gaussian"
    long = d.melt(id_vars=["observation", "worker", "unit", "authority", "training", "clinician",
                           "discussion"], value_vars=list(schema.DOMAINS),
                  var_name="domain", value_name="rating").dropna(subset=["rating"])
    long["rating"] = pd.Categorical(long["rating"].astype(int).astype(str),
                                    categories=["1", "2", "3", "4", "5"], ordered=True)
    return f"rating ~ training + clinician + discussion + domain + {re}", long, "cumulative"


def _pymc_cores(cores: int | None, chains: int) -> int:
    """How many chains PyMC's ``pm.sample`` runs at once for ``cores`` (None: its default,
    ``min(4, os.cpu_count() // 2)`` from PyMC's own helper)."""
    if cores is None:
        from pymc.sampling.mcmc import _cpu_count

        cores = min(4, _cpu_count())
    return max(1, min(cores, chains))


def _child_bambi(model: str, data_path: Path, args, hb: _Heartbeat) -> dict:
    import bambi as bmb
    import pandas as pd

    payload = pd.read_pickle(data_path)
    formula, frame, family = _bambi_frame(payload["used"][model], model, payload["groups"][model])
    hb.phase = "build"
    t0 = time.perf_counter()
    m = bmb.Model(formula, frame, family=family)
    m.build()
    t1 = time.perf_counter()
    hb.phase, hb.extra = "fit", {"build_s": t1 - t0, "fit_started": time.time()}
    idata = m.fit(draws=draws_for(model, args.draws, chains=args.chains), tune=args.tune, chains=args.chains, random_seed=args.seed,
                  progressbar=False, cores=args.bambi_cores)
    t2 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    out = {"wall_s": t2 - t0, "compile_s": t1 - t0, "sample_s": t2 - t1,
           "formula": formula, "family": family, "rows": len(frame),
           "cores": _pymc_cores(args.bambi_cores, args.chains),
           "divergences": int(idata["sample_stats"]["diverging"].sum())}
    out.update(_summ(post, _keep_bambi))
    return out


def child_main(args) -> int:
    tool, model, data_path, out_path = args.child
    out_path = Path(out_path)
    hb = _Heartbeat(out_path.with_suffix(".beat"))
    opts = json.loads(os.environ.get("NATIONAL_OPTIONS", "{}"))
    import warnings

    warnings.filterwarnings("ignore")
    if tool == "pyramid":
        out = _child_pyramid(model, Path(data_path), opts, args, hb)
    else:
        out = _child_bambi(model, Path(data_path), args, hb)
    hb.phase = "done"
    hb.stop()
    out["peak_rss_gib"] = hb.peak_gib()
    out_path.write_text(json.dumps(out, default=float))
    return 0


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------
def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _machine() -> dict:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:  # pragma: no cover - not Linux
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory": mem,
            "python": platform.python_version(), "system": platform.platform()}


def _accelerator() -> str:
    """JAX's default device (for ``--backend jax``), e.g. ``cuda: NVIDIA H100 80GB HBM3``."""
    import jax

    dev = jax.devices()[0]
    return f"{dev.platform}: {getattr(dev, 'device_kind', dev)}"


def _stop_group(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """Stop a child started with ``start_new_session=True`` and every process in its group:
    SIGTERM to the group, then SIGKILL to whatever of it is left after ``grace_s`` seconds."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            proc.poll()  # reap the child: a zombie would keep the group alive
            os.killpg(proc.pid, 0)  # ProcessLookupError once the group is empty
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _run_child(tool, model, data_path, work: Path, args, cap_s: float | None, opts: dict) -> dict:
    out = work / f"{tool}-{model}.json"
    beat = out.with_suffix(".beat")
    cmd = [sys.executable, __file__, "--child", tool, model, str(data_path), str(out),
           "--draws", str(draws_for(model, args.draws, args.quick, args.chains)),
           "--tune", str(args.tune), "--chains", str(args.chains),
           "--seed", str(args.seed)]
    if getattr(args, "no_extend", False):
        cmd += ["--no-extend"]
    if args.bambi_cores is not None:
        cmd += ["--bambi-cores", str(args.bambi_cores)]
    env = dict(os.environ, NATIONAL_OPTIONS=json.dumps(opts))
    cache = (tempfile.mkdtemp(prefix=f"pt-national-{tool}-") if args.cold
             else os.path.join(tempfile.gettempdir(), f"pytensor-national-{tool}"))
    env["PYTENSOR_FLAGS"] = f"base_compiledir={cache}"
    if args.cold:
        env["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")
    load0 = _load()
    t0 = time.perf_counter()
    # a session (process group) of its own, so that a fit stopped at the cap is stopped with
    # its children: PyMC's chains run in forked processes, which outlived a terminated parent
    # and went on sampling (seen: two orphaned bambi chains at 90 % CPU each after the cap)
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        rc = proc.wait(timeout=cap_s)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        rc = None
    except BaseException:  # Ctrl-C: in a session of its own, the fit does not get the SIGINT
        _stop_group(proc, grace_s=5.0)
        raise
    wall = time.perf_counter() - t0
    res = {"tool": tool, "model": model, "process_wall_s": wall, "load_before": load0,
           "load_after": _load()}
    if rc is None:
        hb = json.loads(beat.read_text()) if beat.exists() else {}
        res.update({"status": "capped", "cap_s": cap_s, "phase_at_cap": hb.get("phase"),
                    "peak_rss_gib": hb.get("peak_rss_gib"), "compile_s": hb.get("build_s")})
    elif rc != 0 or not out.exists():
        res.update({"status": f"failed (exit {rc})"})
    else:
        res.update({"status": "ok", **json.loads(out.read_text())})
    return res


def _fmt(x, spec=".1f", na="-"):
    if x is None:
        return na
    try:
        return format(x, spec)
    except (TypeError, ValueError):
        return str(x)


#: A fit's recovery check fails when its misses would be this unlikely from 90 % intervals.
RECOVERY_ALPHA = 0.01


def recovery_check(results: list[dict]) -> tuple[list[str], bool]:
    """The recovery check's lines and whether it passed: every pyramid fit ran, and its number
    of fixed effects whose 90 % interval misses the true value is one that calibrated
    intervals give with probability at least ``RECOVERY_ALPHA`` (``P(Binomial(n, 0.1) >=
    misses)``): 4 misses of 10 pass (P = 0.013), 5 fail (P = 0.0016). With 10 fixed effects,
    one miss or more happens in 65 % of runs of a correct model, so "every interval covers" is
    not the test. The ``--quick`` miss of ``discussion_cutpoints[1]`` (seed 2017) was such a
    one: over 74 seeds of the pyramid model 676 of 740 intervals covered (0.914), and that
    threshold's 0.82; over 201 seeds of the discussion equation alone 0.85, the same with
    near-flat priors (``benchmarks/results/recovery-seeds-2026-12-03.txt``, the performance
    page). A fit that failed or has nothing to check fails the check (it is never passed by
    default).

    Examples
    --------
    >>> ok = {"tool": "pyramid", "model": "skill", "status": "ok", "recovery": [
    ...     {"name": "b", "true": 1.0, "mean": 0.9, "lower": 0.5, "upper": 1.3, "covered": True}]}
    >>> recovery_check([ok])[1], recovery_check([ok, {**ok, "status": "failed (exit 1)"}])[1]
    (True, False)
    """
    from scipy import stats

    lines = ["recovery: each fixed effect's 90 % interval against its true value"]
    all_ok, checked = True, 0
    for r in results:
        if r["tool"] != "pyramid":
            continue
        if r["status"] != "ok" or not r.get("recovery"):
            all_ok = False
            lines.append(f"   {r['model']}: not checked (fit {r['status']})")
            continue
        checked += 1
        n = len(r["recovery"])
        n_ok = sum(x["covered"] for x in r["recovery"])
        p = float(stats.binom.sf(n - n_ok - 1, n, 0.1))  # P(misses >= n - n_ok)
        all_ok &= p >= RECOVERY_ALPHA
        lines.append(f"   {r['model']}: {n_ok}/{n} covered ({0.1 * n:.1f} misses expected by "
                     f"chance; P(>= {n - n_ok} misses) = {p:.3f})")
        for x in r["recovery"]:
            lines.append(f"      {'ok  ' if x['covered'] else 'MISS'} {x['name']:28} true "
                         f"{x['true']:+.3f}  mean {x['mean']:+.3f}  90% [{x['lower']:+.3f}, "
                         f"{x['upper']:+.3f}]")
    all_ok &= checked > 0
    lines.append("recovery check: " + (
        f"misses consistent with 90 % intervals (P >= {RECOVERY_ALPHA})" if all_ok
        else f"more misses than 90 % intervals give (P < {RECOVERY_ALPHA}), or fits not "
        "checked"))
    return lines, all_ok


def _draws_text(draws: int | dict) -> str:
    """``2000``, or per model ``2000 (domains), 1000 (skill)``.

    Examples
    --------
    >>> _draws_text(1000), _draws_text({"skill": 1000, "domains": 2000})
    ('1000', '1000 (skill), 2000 (domains)')
    """
    if isinstance(draws, dict):
        return ", ".join(f"{n} ({m})" for m, n in draws.items())
    return str(draws)


def render_rst(run: dict) -> str:
    """The results of a run (the ``--json`` file's content) as reStructuredText tables, which
    the performance page of the user guide includes."""
    m = run["machine"]
    gpu = (f", pyramid on JAX ({m['accelerator']})" if m.get("accelerator") else "")
    lines = [f"Measured {run['date']} on {m['cpu']}, {m['cpus']} CPUs, {m['memory']}{gpu}, "
             f"Python {m['python']}; design {tuple(run['design'])}, {run['chains']} chains x "
             f"{_draws_text(run['draws'])} draws ({run['tune']} tuning), bambi cap "
             f"{run['bambi_cap_min']:g} "
             f"min, compile cache {'fresh' if run['cold_cache'] else 'warm'}. Load average "
             "(1/5/15 min) before and after each fit as shown.", ""]
    head = ["model", "tool", "cores", "status", "compile s", "sampling s", "wall s", "min bulk ESS",
            "ESS/s", "divergences", "max R-hat", "peak GiB", "load before", "load after"]
    rows = []
    for r in run["results"]:
        ok = r["status"] == "ok"
        rows.append([r["model"], r["tool"], _fmt(r.get("cores"), "d"), r["status"], _fmt(r.get("compile_s")),
                     _fmt(r.get("sample_s")) if ok else f">{r.get('cap_s', 0) / 60:.0f} min",
                     _fmt(r.get("wall_s") if ok else r.get("process_wall_s"), ".0f"),
                     _fmt(r.get("min_ess"), ".0f"), _fmt(r.get("ess_per_s"), ".2f"),
                     _fmt(r.get("divergences"), "d"),
                     _fmt(r.get("max_rhat_all", r.get("max_rhat_compared")), ".4f"),
                     _fmt(r.get("peak_rss_gib"), ".2f"), r["load_before"], r["load_after"]])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    rule = " ".join("=" * w for w in widths)
    lines += [rule, " ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), rule]
    lines += [" ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in rows]
    lines += [rule, ""]
    for r in run["results"]:
        if "ratio" in r:
            lines.append(f"* ``{r['model']}``: pyramid / bambi ESS per second "
                         f"**{r['ratio']:.1f}x**.")
        if "ratio_lower_bound" in r:
            lines.append(f"* ``{r['model']}``: bambi stopped at the cap; pyramid's ESS per "
                         f"second is more than **{r['ratio_lower_bound']:.1f}x** bambi's "
                         "(bambi credited with as many effective draws as draws).")
        if "cap_over_wall" in r:
            lines.append(f"* ``{r['model']}``: pyramid finished end to end "
                         f"**{r['cap_over_wall']:.1f}x** inside bambi's cap.")
    lines.append("")
    rec = [r for r in run["results"] if r["tool"] == "pyramid" and r.get("recovery")]
    if rec:
        lines += ["Recovery (90 % intervals against the simulation's true values):", ""]
        for r in rec:
            n = sum(x["covered"] for x in r["recovery"])
            miss = [x["name"] for x in r["recovery"] if not x["covered"]]
            lines.append(f"* ``{r['model']}``: {n} of {len(r['recovery'])} covered"
                         + (f" (missed: {', '.join(miss)})" if miss else ""))
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parse(argv)
    if args.child:
        return child_main(args)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import pandas as pd

    from pyramid.models.coding import prepare
    from pyramid.specs import load_spec

    design = QUICK if args.quick else NATIONAL
    cap_min = args.bambi_cap if args.bambi_cap is not None else (3.0 if args.quick else 30.0)
    opts = {k: dict(v) for k, v in PYRAMID_OPTIONS.items()}
    if args.pyramid_options:
        for k, v in json.loads(args.pyramid_options).items():
            opts.setdefault(k, {}).update(v)
    machine = _machine()
    if args.backend == "jax":
        for v in opts.values():
            v["backend"] = "jax"
        machine["accelerator"] = _accelerator()
    print(f"machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory']}, "
          f"python {machine['python']}; load average (1/5/15 min) {_load()}"
          + (f"; pyramid on JAX, {machine['accelerator']}" if args.backend == "jax" else ""))
    models = [m for m in args.models.split(",") if m]
    draws = (args.draws if args.draws is not None
             else {m: draws_for(m, None, args.quick, args.chains) for m in models})
    print(f"{args.chains} chains x {_draws_text(draws)} draws ({args.tune} tuning); bambi cap "
          f"{cap_min:g} min, bambi cores {args.bambi_cores or 'PyMC default'}; compile cache {'fresh per fit' if args.cold else 'kept per tool'}")

    t0 = time.perf_counter()
    sim = national_data(design, args.seed)
    data = sim.data
    n_ratings = int(data[list(__import__("pyramid").data.schema.DOMAINS)].notna().sum().sum())
    print(f"data: pyramid.simulate({design}, mix={MIX}, seed={args.seed}): {len(data)} "
          f"observations, {n_ratings} domain ratings, {data['worker'].nunique()} workers, "
          f"{data['unit'].nunique()} units, {data['authority'].nunique()} authorities "
          f"({time.perf_counter() - t0:.1f} s)")
    tools = [t for t in args.tools.split(",") if t]
    import pyramid as pyr

    canon = pyr.validate(data)
    used, groups = {}, {}
    for m in models:
        md = prepare(load_spec(m), canon, warn=False)
        used[m], groups[m] = md.frame, [g.name for g in md.groups]
    work = Path(tempfile.mkdtemp(prefix="national-"))
    data_path = work / "data.pkl"
    pd.to_pickle({"data": data, "truth": dict(sim.truth), "used": used, "groups": groups},
                 data_path)

    results = []
    for tool in tools:  # every pyramid fit first, then the (capped) baselines
        for m in models:
            if tool == "bambi" and m == "pyramid":
                continue  # no bambi analogue of the path model
            cap = cap_min * 60 if tool == "bambi" else None
            print(f"\n-- {m} / {tool} (load {_load()}) ...", flush=True)
            r = _run_child(tool, m, data_path, work, args, cap, opts.get(m, {}))
            results.append(r)
            if r["status"] == "ok":
                r["ess_per_s"] = r["min_ess"] / r["wall_s"]
                r["ess_per_s_sampling"] = r["min_ess"] / r["sample_s"]
                print(f"   {tool} {m}: compile {r['compile_s']:.1f} s, sampling "
                      f"{r['sample_s']:.1f} s, wall {r['wall_s']:.1f} s; min bulk ESS "
                      f"{r['min_ess']:.0f} ({r['min_ess_at']}); ESS/s {r['ess_per_s']:.2f} "
                      f"(sampling only {r['ess_per_s_sampling']:.2f}); divergences "
                      f"{r['divergences']}; max R-hat {r['max_rhat_compared']:.4f}"
                      + (f" (all parameters {r['max_rhat_all']:.4f})" if "max_rhat_all" in r
                         else "")
                      + f"; peak memory {r['peak_rss_gib']:.2f} GiB; load after "
                      f"{r['load_after']}", flush=True)
                if "mean_tree_depth" in r:
                    print(f"   sampler: {r['parametrisation']}, adaptation {r['adaptation']}, "
                          f"target_accept {r['target_accept']}, mean tree depth "
                          f"{r['mean_tree_depth']:.2f}, {r.get('grad_evals', 0)} gradient "
                          f"evaluations; draws kept a chain {r.get('draws_kept', '?')} "
                          f"(extension: {r.get('extension', {}).get('stopped', 'n/a')}); "
                          f"post-processing {r['post_s']:.1f} s")
            elif r["status"] == "capped":
                print(f"   {tool} {m}: STOPPED at the cap of {cap_min:g} min (phase "
                      f"{r['phase_at_cap']}; build {_fmt(r.get('compile_s'))} s; peak memory "
                      f"{_fmt(r.get('peak_rss_gib'), '.2f')} GiB)", flush=True)
            else:
                print(f"   {tool} {m}: {r['status']}", flush=True)

    # ratios
    print("\npyramid / bambi (ESS per second end to end; target >= 3 for domains):")
    by = {(r["tool"], r["model"]): r for r in results}
    for m in models:
        p, b = by.get(("pyramid", m)), by.get(("bambi", m))
        if not p or p["status"] != "ok" or not b:
            continue
        if b["status"] == "ok":
            ratio = p["ess_per_s"] / b["ess_per_s"]
            p["ratio"] = ratio
            print(f"   {m}: ESS/s {p['ess_per_s']:.2f} vs {b['ess_per_s']:.2f}: {ratio:.1f}x; "
                  f"wall {p['wall_s']:.0f} s vs {b['wall_s']:.0f} s; peak memory "
                  f"{p['peak_rss_gib']:.2f} vs {b['peak_rss_gib']:.2f} GiB")
        elif b["status"] == "capped":
            n_draws = args.chains * draws_for(m, args.draws, args.quick, args.chains)
            bound_b = n_draws / b["cap_s"]
            p["ratio_lower_bound"] = p["ess_per_s"] / bound_b
            print(f"   {m}: bambi stopped at the {cap_min:g}-minute cap; its ESS/s is below "
                  f"{bound_b:.2f} (at most {n_draws} effective draws in "
                  f"{b['cap_s']:.0f} s), so pyramid ({p['ess_per_s']:.2f} ESS/s, wall "
                  f"{p['wall_s']:.0f} s) is more than {p['ratio_lower_bound']:.1f}x faster")
            # the other reading: pyramid finished this many times inside the cap
            p["cap_over_wall"] = b["cap_s"] / p["wall_s"]
            print(f"   {m}: pyramid finished, end to end, {p['cap_over_wall']:.1f}x inside "
                  f"bambi's cap ({p['wall_s']:.0f} s against {b['cap_s']:.0f} s, at which "
                  f"bambi had not finished)")
        else:
            print(f"   {m}: bambi {b['status']}")

    # recovery
    lines, _ = recovery_check(results)
    print("\n" + "\n".join(lines))
    failed = [f"{r['tool']} {r['model']}" for r in results if r["status"] not in ("ok", "capped")]
    if failed:
        print(f"failed: {', '.join(failed)}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; load average {_load()}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"machine": machine, "design": design, "mix": MIX, "seed": args.seed,
             "draws": draws, "tune": args.tune, "chains": args.chains,
             "bambi_cap_min": cap_min, "cold_cache": args.cold,
             "date": time.strftime("%Y-%m-%d %H:%M %Z"), "results": results},
            indent=1, default=float))
        rst = Path(args.json).with_suffix(".rst")
        rst.write_text(render_rst(json.loads(Path(args.json).read_text())))
        print(f"results written to {args.json} and {rst}")
    # a miss is a statistical outcome (each 90 % interval misses 1 time in 10), not a failure
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
