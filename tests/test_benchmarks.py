"""The benchmark scripts' own logic (benchmarks/*.py, loaded by path): recovery check, peak
memory, caps and Ctrl-C, tables."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import xarray as xr

from pyramid import mcmc_stats


def _bench(name: str = "national"):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_recovery_check_fails_without_a_checked_fit():
    bench = _bench()
    rec = [{"name": "b", "true": 1.0, "mean": 0.9, "lower": 0.5, "upper": 1.3, "covered": True}]
    ok = {"tool": "pyramid", "model": "domains", "status": "ok", "recovery": rec}
    assert bench.recovery_check([ok])[1]
    # a failed fit, an empty check and no pyramid fit at all are not passes
    lines, passed = bench.recovery_check([ok, {"tool": "pyramid", "model": "skill",
                                               "status": "failed (exit 1)"}])
    assert not passed and any("skill: not checked (fit failed (exit 1))" in s for s in lines)
    assert not bench.recovery_check([{**ok, "recovery": []}])[1]
    assert not bench.recovery_check([])[1]
    # one miss among 10 90 % intervals is chance (P(>= 1 miss) = 0.65); 5 are not (0.0016)
    miss = [{**rec[0], "true": 2.0, "covered": False}]
    lines, passed = bench.recovery_check([{**ok, "recovery": miss + rec * 9}])
    assert passed and any(s.strip().startswith("MISS b") for s in lines)
    assert any("P(>= 1 misses) = 0.651" in s for s in lines)
    lines, passed = bench.recovery_check([{**ok, "recovery": miss * 5 + rec * 5}])
    assert not passed and "more misses than 90 % intervals give" in lines[-1]


def test_recovery_over_seeds_summary():
    """benchmarks/recovery_seeds.py: coverage, its binomial test against 0.9, and the mean of
    z = (mean - truth) / sd with the flag for a mean beyond 2.6 / sqrt(n)."""
    rs = _bench("recovery_seeds")
    assert rs._seeds("1-3,2017") == [1, 2, 3, 2017]
    runs = [{"coefs": [{"name": "a", "true": 0.0, "mean": m, "sd": 1.0, "covered": cov},
                       {"name": "b", "true": 1.0, "mean": 1.0 + m, "sd": 0.1, "covered": True}]}
            for m, cov in [(0.1, True), (-0.1, True), (0.2, False), (-0.2, True)]]
    a, b = rs.summarise(runs)
    assert (a["name"], a["n"], a["coverage"]) == ("a", 4, 0.75)
    assert a["mean_z"] == pytest.approx(0.0, abs=1e-12) and not a["flag"]
    assert a["p_coverage"] == pytest.approx(0.3439, abs=1e-4)  # binomtest(3, 4, 0.9)
    assert b["mean_z"] == pytest.approx(0.0, abs=1e-9) and b["coverage"] == 1.0
    biased = [{"coefs": [{"name": "c", "true": 0.0, "mean": 0.5 + 0.01 * i, "sd": 0.5,
                          "covered": True}]} for i in range(9)]
    (c,) = rs.summarise(biased)
    assert c["mean_z"] == pytest.approx(1.08) and c["flag"]  # 1.08 > 2.6 / 3


def test_benchmark_spec_variant_writes_centring_weights_as_numbers(tmp_path):
    from pyramid.specs import load_spec

    bench = _bench()
    path = bench.spec_variant("domains", {"authority": "centred", "observation": 0.4}, tmp_path)
    spec = load_spec(path)
    forms = {g: spec.parametrisation[g] for g in ("authority", "observation")}
    assert forms == {"authority": "centred", "observation": "partial:0.4"}


def test_benchmark_peak_memory_counts_child_processes(tmp_path):
    """PyMC's multiprocess chains run in child processes: the benchmark's peak memory must
    include them (a child holding 300 MB raises it by about that much)."""
    import subprocess
    import sys
    import time

    bench = _bench()
    hb = bench._Heartbeat(tmp_path / "fit.beat")
    try:
        alone = hb.peak_gib()
        code = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); " \
               "print('ready', flush=True); time.sleep(30)"
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            with_child = hb.peak_gib()
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        time.sleep(0.1)
        # 300 MiB is 0.29 GiB; the parent's own use moves by tens of MB between samples
        # (0.2496 seen on a loaded machine), so the bound asks for most of it, not all
        assert with_child - alone > 0.2
        assert hb.peak_gib() >= with_child  # a peak, not the current use
    finally:
        hb.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS and fork: Linux")
def test_benchmark_peak_memory_counts_shared_pages_once(tmp_path):
    """A forked child (PyMC's chains are) shares its parent's pages: summing the processes'
    RSS would count a 300 MB buffer twice; the benchmark sums their PSS and counts it once."""
    import multiprocessing as mp

    bench = _bench()
    buf = bytearray(300 * 2**20)
    buf[::4096] = b"x" * len(buf[::4096])  # touch every page
    hb = bench._Heartbeat(tmp_path / "fit.beat")
    try:
        before = hb.peak_gib()
        ctx = mp.get_context("fork")
        ready, done = ctx.Event(), ctx.Event()
        child = ctx.Process(target=_hold, args=(ready, done))
        child.start()
        try:
            assert ready.wait(30)
            with_child = hb.peak_gib()
        finally:
            done.set()
            child.join(30)
        assert with_child - before < 0.15  # the shared 0.29 GiB not counted again
    finally:
        hb.stop()
    del buf


def _hold(ready, done):
    ready.set()
    done.wait(30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups: POSIX")
def test_benchmark_cap_stops_the_fit_and_its_children():
    """A fit stopped at the cap is stopped with the processes it forked (PyMC's chains): the
    child runs in a session of its own and the whole group is signalled."""
    import os
    import subprocess

    bench = _bench()
    code = ("import os, time\nif os.fork() == 0:\n    time.sleep(120)\n    os._exit(0)\n"
            "print('ready', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        bench._stop_group(proc, grace_s=5)
        with pytest.raises(ProcessLookupError):  # nothing left in the group
            os.killpg(proc.pid, 0)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("stop", ["cap", "ctrl-c"])
def test_benchmark_cap_and_ctrl_c_stop_the_fits_group(monkeypatch, tmp_path, stop):
    """Each fit runs in a session of its own (so the terminal's SIGINT does not reach it);
    at the cap it is reported as capped, on Ctrl-C the exception goes on, and either way the
    benchmark stops the fit's whole process group itself."""
    import argparse
    import subprocess

    bench = _bench()
    stopped = []

    class Proc:
        pid = 12345

        def __init__(self, *a, **k):
            assert k.get("start_new_session") is True

        def wait(self, timeout=None):
            if stop == "cap":
                raise subprocess.TimeoutExpired("fit", timeout)
            raise KeyboardInterrupt

    monkeypatch.setattr(subprocess, "Popen", Proc)
    monkeypatch.setattr(bench, "_stop_group", lambda proc, grace_s=30.0: stopped.append(proc))
    args = argparse.Namespace(draws=10, tune=10, chains=1, seed=1, bambi_cores=None, cold=False,
                              quick=False)
    run = lambda: bench._run_child("bambi", "domains", tmp_path / "d.pkl", tmp_path, args,  # noqa: E731
                                   60.0, {})
    if stop == "cap":
        assert run()["status"] == "capped"
    else:
        with pytest.raises(KeyboardInterrupt):
            run()
    assert len(stopped) == 1


def test_benchmark_bambi_cores_follow_pymc(monkeypatch):
    """The cores column for bambi: PyMC's own default (half the CPUs, at most 4) unless set,
    never more than the chains."""
    import pymc.sampling.mcmc as mcmc

    bench = _bench()
    monkeypatch.setattr(mcmc, "_cpu_count", lambda: 1)
    assert bench._pymc_cores(None, 2) == 1
    monkeypatch.setattr(mcmc, "_cpu_count", lambda: 8)
    assert bench._pymc_cores(None, 2) == 2 and bench._pymc_cores(None, 8) == 4
    assert bench._pymc_cores(3, 2) == 2 and bench._pymc_cores(1, 4) == 1


def test_benchmark_mixing_table_agrees_with_the_checks(ar1_chains):
    """benchmarks/mixing.py splits R-hat into its bulk and folded parts: their larger is
    pyramid's R-hat, and the bulk ESS quantiles are those of ``ess_bulk``. A chain whose
    spread changes halfway fails the folded R-hat but not the bulk one."""
    mixing = _bench("mixing")
    rng = np.random.default_rng(4)
    x = ar1_chains(5, shape=(2, 400, 6))[..., 1:]  # no constant element (NaN, warns)
    x = np.ascontiguousarray(x)
    x[1, :, 2] *= 3.0  # the same centre, a different scale: only the folded part sees it
    x[:, :, 3] = rng.normal(size=(2, 400))
    row = mixing.mixing_table(xr.Dataset({"v": (("chain", "draw", "i"), x)}))[0]
    assert row["n"] == 5
    assert max(row["rhat_bulk"], row["rhat_folded"]) == pytest.approx(
        float(np.nanmax(mcmc_stats.rhat_rank(x))), abs=1e-12)
    ess = mcmc_stats.ess_bulk(x)
    assert row["ess_bulk"] == pytest.approx(np.nanquantile(ess, mixing.QUANTILES).tolist())
    scale_only = mixing.mixing_table(xr.Dataset({"v": (("chain", "draw"), x[..., 2])}))[0]
    assert scale_only["rhat_folded"] > 1.1 and scale_only["rhat_bulk"] < 1.05


def test_benchmark_checks_runs_both_ways_and_compares(capsys, monkeypatch):
    """benchmarks/checks.py on a small variable split into blocks of 7 elements: exit 0
    (blocked and all-at-once values equal, and the three checks at once in threads equal to
    one after another), and the block size is restored."""
    checks = _bench("checks")
    monkeypatch.setattr(mcmc_stats, "_BLOCK", 7 * 2 * 100)
    threads = mcmc_stats._threads
    assert checks.main(["--elements", "50", "--draws", "100"]) == 0
    assert mcmc_stats._BLOCK == 7 * 2 * 100 and mcmc_stats._threads is threads  # restored
    out = capsys.readouterr().out
    assert out.count("same values") == 4 and "DIFFER" not in out
    assert "all three: one after another" in out


def test_benchmark_malloc_child_measures_the_gradient(monkeypatch):
    """benchmarks/malloc.py's per-process measurement on the quick data: a time per call and
    the page faults, with the setting in force or off as the environment says."""
    from pyramid.models.malloc import glibc

    malloc = _bench("malloc")
    monkeypatch.setenv("PYRAMID_MALLOC_TUNING", "0")
    off = malloc.child("gradient", True, 3, 0, 0)
    assert off["on"] is False and off["ms"] > 0 and off["evaluations"] == 3
    monkeypatch.setenv("PYRAMID_MALLOC_TUNING", "1")
    on = malloc.child("gradient", True, 3, 0, 0)
    assert on["on"] is (glibc() is not None)
    assert on["faults_per_evaluation"] >= 0
