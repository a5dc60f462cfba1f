"""Design analysis: defaults, argument checks, the summary table, the compiled-model fast path,
a tiny end-to-end run with resume, the CLI, a killed run, and (slow) the reference design."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyramid as pyr
from pyramid.cli import main
from pyramid.errors import InputError
from pyramid.planning import (
    _parse_sweep,
    _prior_median,
    design_defaults,
    fits_table,
    sd_prior_medians,
    summarise_design,
)
from pyramid.plots.planning import plot_assurance
from pyramid.specs import PriorDist

# one small design for every fitted test, so the model is compiled once per test process and
# then reused (the compiled-model cache of pyramid.models.sampling)
TINY = {"authorities": 3, "units": 2, "workers_per_unit": 2, "observations": 2}
FAST = {"sims": 2, "draws": 100, "tune": 100, "jobs": 0, "progressbar": False}


# ------------------------------------------------------------------------------------------
# defaults
# ------------------------------------------------------------------------------------------
def test_sd_prior_medians_are_medians():
    med = sd_prior_medians("default")
    sigma = pyr.load_priors("default").get("sd", group="unit").params["sigma"]
    # reference: scipy.stats.halfnorm(scale=sigma).cdf(median) == 0.5
    assert set(med) == {"sd_authority", "sd_unit", "sd_worker"}
    assert stats.halfnorm(scale=sigma).cdf(med["sd_unit"]) == pytest.approx(0.5, rel=1e-10)


@pytest.mark.parametrize("prior, cdf", [
    (PriorDist("HalfStudentT", {"nu": 3.0, "sigma": 0.5}),
     lambda m: 2 * stats.t.cdf(m / 0.5, 3) - 1),
    (PriorDist("HalfCauchy", {"beta": 0.3}), lambda m: 2 * stats.cauchy.cdf(m / 0.3) - 1),
    (PriorDist("Exponential", {"lam": 4.0}), lambda m: 1 - math.exp(-4.0 * m)),
    (PriorDist("Gamma", {"alpha": 2.0, "beta": 5.0}),
     lambda m: stats.gamma.cdf(m, 2.0, scale=0.2)),
    (PriorDist("LogNormal", {"mu": -1.0, "sigma": 0.5}),
     lambda m: stats.norm.cdf((math.log(m) + 1.0) / 0.5)),
])
def test_prior_median_of_each_positive_family(prior, cdf):
    assert cdf(_prior_median(prior)) == pytest.approx(0.5, rel=1e-10)


def test_design_defaults_observe_every_discussion():
    d = design_defaults()
    assert d["mix"] == {"discussion_observed": 1.0}
    assert d["group_sds"]["sd_worker"] == pytest.approx(sd_prior_medians()["sd_worker"])
    assert d["group_sds"]["sigma_domain"] == pyr.data.simulate.default_group_sds()["sigma_domain"]


# ------------------------------------------------------------------------------------------
# arguments
# ------------------------------------------------------------------------------------------
def test_parse_sweep():
    assert _parse_sweep("units=2,4,8") == ("units", [2, 4, 8])
    assert _parse_sweep({"workers_per_unit": [1, 3]}) == ("workers_per_unit", [1, 3])
    assert _parse_sweep(None) is None


@pytest.mark.parametrize("sweep, match", [
    ("units", "must look like DIMENSION=V1,V2"),
    ("units=2,x", "whole numbers"),
    ("teams=2,4", "must be one of authorities, units, workers_per_unit, observations; got 'teams'"),
    ({"units": [2], "workers_per_unit": [2]}, "must name one design dimension"),
    ({"units": []}, "non-empty list"),
    ({"units": [2, 2]}, "must differ"),
    ({"units": [0, 2]}, "sweep value of units must be a whole number >= 1, got 0"),
])
def test_bad_sweeps(sweep, match):
    with pytest.raises(InputError, match=match):
        _parse_sweep(sweep)


@pytest.mark.parametrize("kwargs, match", [
    ({"criterion": "power"}, "criterion must be one of direction, rope, width; got 'power'"),
    ({"criterion": "width"}, "needs a target width"),
    ({"level": 1.5}, "level must be in"),
    ({"rope": -0.1}, "rope must be a number >= 0"),
    ({"width": 0}, "width must be a number > 0"),
    ({"sims": 0}, "sims must be a whole number >= 1, got 0"),
    ({"draws": 0}, "draws must be a whole number >= 1"),
    ({"targets": ["clinician", "teamwork"]}, "unknown target effect.*teamwork"),
    ({"effects": {"teamwork": 0.3}}, "teamwork"),
    ({"units": 0}, "units"),
    ({"model": "nosuchmodel"}, "nosuchmodel"),
])
def test_bad_arguments_fail_before_any_fit(tmp_path, kwargs, match):
    args = {**FAST, "out": tmp_path, **kwargs}
    with pytest.raises(InputError, match=match):
        pyr.design(**args)
    assert not (tmp_path / "results.jsonl").exists()


# ------------------------------------------------------------------------------------------
# the summary table (deterministic: hand-made records)
# ------------------------------------------------------------------------------------------
def _record(i, *, point=0, design=(2, 2, 2, 1), effects, div=0, rhat=1.0, ess=500.0):
    return {"key": f"p{point}-s{i:05d}", "status": "ok", "result": {
        "point": point, "design": list(design), "n_rows": math.prod(design), "divergences": div,
        "max_r_hat": rhat, "min_ess_bulk": ess, "compiled": i == 0, "sample_s": 1.0,
        "effects": effects}}


def _eff(truth, mean, lower, upper, p_pos, above=0.0, below=0.0):
    return {"truth": truth, "mean": mean, "sd": 0.1, "median": mean, "lower": lower,
            "upper": upper, "p_positive": p_pos, "p_above_rope": above, "p_below_rope": below}


def test_summary_by_hand():
    recs = [
        _record(0, effects={"clinician": _eff(0.5, 0.45, 0.2, 0.7, 0.99, above=0.97),
                            "discussion": _eff(-0.2, -0.1, -0.3, 0.1, 0.20, below=0.3),
                            "intercept": _eff(2.0, 2.0, 1.9, 2.1, 1.0)}),
        _record(1, effects={"clinician": _eff(0.5, 0.85, 0.6, 1.1, 0.999, above=0.99),
                            "discussion": _eff(-0.2, -0.3, -0.5, -0.1, 0.01, below=0.96),
                            "intercept": _eff(2.0, 2.0, 1.9, 2.1, 1.0)}, div=3),
        _record(2, effects={"clinician": _eff(0.5, 0.2, -0.1, 0.5, 0.90, above=0.6),
                            "discussion": _eff(-0.2, -0.25, -0.45, 0.0, 0.04, below=0.7),
                            "intercept": _eff(2.0, 2.0, 1.9, 2.1, 1.0)}, rhat=1.05),
        {"key": "p0-s00003", "status": "failed", "error": "boom"},
    ]
    t = summarise_design(recs, width=0.45).set_index("effect")
    assert list(t.index) == ["clinician", "discussion"]  # no intercept by default
    c, d = t.loc["clinician"], t.loc["discussion"]
    assert (c["n_fits"], c["n_failed"], c["n_observations"]) == (3, 1, 8)
    # direction: P(true sign) >= 0.95 in fits 0 and 1 (clinician), 1 and 2 (discussion)
    assert c["assurance"] == pytest.approx(2 / 3, rel=1e-10)
    assert c["assurance_mcse"] == pytest.approx(math.sqrt(2 / 3 * 1 / 3 / 3), rel=1e-10)
    assert d["assurance_direction"] == pytest.approx(2 / 3, rel=1e-10)
    # rope: P(beyond 0.1 on the true side) >= 0.95: fits 0, 1 (clinician), 1 (discussion)
    assert c["assurance_rope"] == pytest.approx(2 / 3, rel=1e-10)
    assert d["assurance_rope"] == pytest.approx(1 / 3, rel=1e-10)
    # width <= 0.45: clinician widths 0.5, 0.5, 0.6 -> none; discussion 0.4, 0.4, 0.45 -> all
    assert c["assurance_width"] == 0.0 and d["assurance_width"] == pytest.approx(1.0)
    assert c["mean_width"] == pytest.approx((0.5 + 0.5 + 0.6) / 3, rel=1e-10)
    # coverage: clinician 0.5 in [0.2, 0.7], not in [0.6, 1.1], in [-0.1, 0.5]
    assert c["coverage"] == pytest.approx(2 / 3, rel=1e-10)
    assert d["coverage"] == pytest.approx(1.0)
    err = np.array([0.45, 0.85, 0.2]) - 0.5
    assert c["bias"] == pytest.approx(err.mean(), rel=1e-10)
    assert c["bias_mcse"] == pytest.approx(err.std(ddof=1) / math.sqrt(3), rel=1e-10)
    assert c["rmse"] == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-10)
    assert c["share_divergent"] == pytest.approx(1 / 3) and c["share_unconverged"] == pytest.approx(1 / 3)


def test_summary_of_a_null_effect():
    # truth 0: direction counts a confident sign either way (false detection), rope counts
    # equivalence shown
    recs = [_record(i, effects={"clinician": _eff(0.0, m, m - 0.1, m + 0.1, p, above=a,
                                                  below=b)})
            for i, (m, p, a, b) in enumerate([(0.0, 0.5, 0.01, 0.01), (0.3, 0.99, 0.9, 0.0),
                                              (-0.3, 0.02, 0.0, 0.9), (0.05, 0.7, 0.02, 0.0)])]
    t = summarise_design(recs, criterion="rope").iloc[0]
    assert t["assurance_direction"] == pytest.approx(0.5)  # fits 1 and 2
    assert t["assurance_rope"] == pytest.approx(0.5)  # fits 0 and 3: P(inside) >= 0.95
    assert t["assurance"] == t["assurance_rope"]


def test_summary_targets_and_points():
    recs = [_record(0, point=j, design=(2, u, 2, 1),
                    effects={"clinician": _eff(0.5, 0.5, 0.3, 0.7, 0.99),
                             "training[mla]": _eff(0.3, 0.3, 0.0, 0.6, 0.9)})
            for j, u in enumerate([2, 4])]
    t = summarise_design(recs, sweep="units", targets=["training[mla]"])
    assert list(t["effect"]) == ["training[mla]"] * 2
    assert list(t["units"]) == [2, 4] and set(t["sweep"]) == {"units"}
    with pytest.raises(InputError, match="criterion"):
        summarise_design(recs, criterion="x")


def test_fits_table_skips_failures():
    recs = [_record(0, effects={"clinician": _eff(0.5, 0.4, 0.1, 0.7, 0.98)}),
            {"key": "p0-s00001", "status": "failed", "error": "x"}]
    ft = fits_table(recs)
    assert len(ft) == 1 and ft["compiled"].tolist() == [True]


def test_plot_assurance_curve():
    recs = [_record(i, point=j, design=(2, u, 2, 1),
                    effects={"clinician": _eff(0.5, 0.5, 0.3, 0.7, 0.9 + 0.04 * j)})
            for j, u in enumerate([2, 4, 8]) for i in range(3)]
    t = summarise_design(recs, sweep="units")
    fig = plot_assurance(t)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "units (design)"
    assert [tuple(x) for x in ax.lines[0].get_xydata()] == [(2, 0.0), (4, 0.0), (8, 1.0)]
    with pytest.raises(InputError, match="nothing to plot"):
        plot_assurance(t.iloc[:0])


# ------------------------------------------------------------------------------------------
# a tiny run end to end, resumed
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("design") / "run"
    table = pyr.design(**TINY, effects={"clinician": 0.5}, random_seed=11, out=out, **FAST)
    return out, table


def test_tiny_design_table_and_files(tiny_run):
    out, t = tiny_run
    assert {"summary.csv", "fits.csv", "assurance.png", "manifest.json",
            "results.jsonl"} <= {p.name for p in out.iterdir()}
    assert set(t["effect"]) == {"clinician", "discussion", "training[other]", "training[mla]",
                                "training[programme]"}
    assert (t["n_fits"] == 2).all() and (t["n_failed"] == 0).all()
    truth = pyr.simulate((1, 1, 1, 1), effects={"clinician": 0.5}, seed=0).truth
    for _, r in t.iterrows():
        assert r["truth"] == truth[r["effect"]]
    assert t.loc[t["effect"] == "clinician", "truth"].item() == 0.5
    assert ((t["assurance"] >= 0) & (t["assurance"] <= 1)).all()
    assert (t["mean_width"] > 0).all()
    assert t.attrs["report"]["ok"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identity"]["points"] == [TINY] and manifest["identity"]["sims"] == 2
    ft = pd.read_csv(out / "fits.csv")
    assert len(ft) == 2 * 6 and set(ft["n_rows"]) == {24}  # 5 effects + intercept


def test_tiny_design_resumes_without_refitting(tiny_run):
    out, t = tiny_run
    again = pyr.design(**TINY, effects={"clinician": 0.5}, random_seed=11, out=out, **FAST)
    assert again.attrs["report"]["skipped"] == 2 and again.attrs["report"]["ok"] == 0
    pd.testing.assert_frame_equal(again, t)
    with pytest.raises(InputError, match=r"other arguments \(truth\.clinician: 0\.5 in the "
                       r"folder, 0\.6 now; truth\.latent:clinician"):
        pyr.design(**TINY, effects={"clinician": 0.6}, random_seed=11, out=out, **FAST)


def test_cli_design(tmp_path, capsys):
    code = main(["design", "-A", "3", "-U", "2", "-W", "2", "-O", "2", "--sims", "2",
                 "--draws", "100", "--tune", "100", "--jobs", "0", "--no-progress", "--seed",
                 "3", "--effect", "clinician=0.5", "--target", "clinician", "--out",
                 str(tmp_path / "run")])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "clinician" in cap.out and "assurance" in cap.out and "coverage" in cap.out
    assert "2 fits now" in cap.err and "wrote summary.csv" in cap.err
    code = main(["design", "--sweep", "teams=1,2", "--out", str(tmp_path / "bad")])
    assert code == 2
    assert "sweep dimension must be one of" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# a design run killed mid-way and started again (a subprocess)
# ------------------------------------------------------------------------------------------
def _design_cmd(out: Path, sims: int) -> list[str]:
    return [sys.executable, "-m", "pyramid", "design", "-A", "3", "-U", "2", "-W", "2", "-O",
            "2", "--sims", str(sims), "--draws", "100", "--tune", "100", "--seed", "5",
            "--jobs", "0", "--no-progress", "--out", str(out)]


def _n_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow  # two runs in fresh processes, each compiling (tests/test_executor.py kills
# runs of a cheap task in the default tier)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_design_run_resumes_with_every_fit_once(tmp_path, sig):
    out, sims = tmp_path / "run", 8
    proc = subprocess.Popen(_design_cmd(out, sims), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    while _n_lines(out / "results.jsonl") < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < 300, "no fit finished in time"
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:  # Ctrl-C stops the run (not just the fit in progress)
        assert proc.returncode == 130, err.decode()
    n_before = _n_lines(out / "results.jsonl")
    assert 2 <= n_before < sims
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" for r in recs)  # no fit cut short was recorded
    done = subprocess.run(_design_cmd(out, sims), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{sims - n_before} fits now, {n_before} already in the folder" in done.stderr
    keys = [json.loads(x)["key"] for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(keys) == [f"p0-s{i:05d}" for i in range(sims)]
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["n_fits"] == sims).all()


# ------------------------------------------------------------------------------------------
# slow: the reference design with the report's effects (issue 5, "Done when")
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_reference_design_sweep(tmp_path):
    # the reference design 5 x 4 x 4 x 1 with the report's effects (clinician 0.96 and
    # discussion 0.17 from Table 15 and its crosstab, training from Table 14), units per
    # authority swept over 2, 4, 8; 100 fits per point
    t = pyr.design(5, 4, 4, 1, sims=100, sweep="units=2,4,8", random_seed=2026, ci_prob=0.9,
                   out=tmp_path / "sweep", jobs=None, progressbar=False)
    assert (t["n_fits"] == 100).all()
    for eff, sub in t.groupby("effect"):
        sub = sub.sort_values("units")
        a, se = sub["assurance"].to_numpy(), sub["assurance_mcse"].to_numpy()
        # rising with units: up from 2 to 8 units (or already 1), and never down between
        # neighbours by more than 2 Monte Carlo standard errors
        assert a[-1] > a[0] or a[0] == 1.0, (eff, a)
        assert np.all(np.diff(a) >= -2 * np.hypot(se[1:], se[:-1])), (eff, a)
    # coverage of the 90 % interval on the reference design (4 units), each effect, 100 fits
    # (with 2 units the prior's shrinkage of the large programme effect lowers it to ~0.7;
    # that is reported, not tested)
    ref = t[t["units"] == 4]
    assert len(ref) == 5
    assert ref["coverage"].between(0.80, 0.98).all(), ref[["effect", "coverage", "bias"]]


@pytest.mark.slow  # a design run with two worker processes, each compiling
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_design_run_leaves_no_process(tmp_path, sig):
    # only the parent gets the signal: SIGTERM stops the pool on its way out (exit 143); after
    # SIGKILL each worker sees that its parent is gone and ends (issue 21: they ran on for
    # ever, about 500 MB each, under PID 1)
    out = tmp_path / "run"
    cmd = _design_cmd(out, 40)
    cmd[cmd.index("--jobs") + 1] = "2"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    while _n_lines(out / "results.jsonl") < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < 600, "no fit finished in time"
        time.sleep(0.1)
    workers = _descendants(proc.pid)
    assert len(workers) >= 2
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err.decode()
    t0 = time.time()
    while any(_alive(p) for p in workers) and time.time() - t0 < 30:
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], "design workers left running"


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            out.update(map(int, kids))
            todo.extend(map(int, kids))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
