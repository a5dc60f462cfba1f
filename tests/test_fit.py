"""Fitting, results and results files: small fitted fixtures with a fixed seed."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pyramid.cli import main
from pyramid.data.simulate import simulate
from pyramid.errors import InputError

pytest.importorskip("nutpie")

from pyramid.diagnostics import diagnose, loo_table  # noqa: E402
from pyramid.fit import fit, prior_check  # noqa: E402
from pyramid.results import FitResult, load  # noqa: E402

DRAWS = dict(draws=300, tune=300, progressbar=False, verbose=False, extend=False)


def _quiet_fit(data, **kw):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="pyramid")
        return fit(data, **{**DRAWS, **kw})


@pytest.fixture(scope="module")
def reference():
    from pyramid.datasets import load_rsw2017

    return load_rsw2017()


@pytest.fixture(scope="module")
def sim():
    # the same design as tests/test_models.py: the compiled graph is reused from the cache
    return simulate((6, 3, 2, 2), seed=5, mix={"discussion_observed": 0.6})


@pytest.fixture(scope="module")
def skill_fit(reference):
    return _quiet_fit(reference, model="skill", random_seed=11, posterior_predictive=True,
                      prior_predictive=True)


@pytest.fixture(scope="module")
def pyramid_fit(sim):
    return _quiet_fit(sim.data, model="pyramid", random_seed=12)


def test_result_holds_every_group(skill_fit, pyramid_fit):
    for res in (skill_fit, pyramid_fit):
        assert isinstance(res, FitResult)
        for group in ("posterior", "prior", "sample_stats", "observed_data", "log_likelihood",
                      "constant_data"):
            assert group in res.idata.children, group
        post = res.idata["posterior"]
        assert post.sizes["chain"] == 4 and post.sizes["draw"] == 300
        # only the model's quantities: no signed SDs or standardised effects (sampling
        # devices whose sign or scale is arbitrary), no discrete per-unit imputations
        assert not [v for v in post.data_vars if v.endswith("_signed") or v.startswith("z_")
                    or v in ("discussion_unit", "clinician_unit")]
        prior = res.idata["prior"]
        assert prior.sizes["chain"] == 1 and prior.sizes["draw"] == 500
        # the data's log-likelihood is kept per posterior draw, not computed for prior draws
        assert "loglik_total" in post and "loglik_total" not in prior
        # one value per row, or per unit for the unit-level pyramid model
        left_out = "unit" if res is pyramid_fit else "row"
        assert res.idata["log_likelihood"]["obs"].dims == ("chain", "draw", left_out)
        assert res.info["sampler"] == "nutpie"
        assert len(res.info["data_sha256"]) == 64
    for group in ("posterior_predictive", "prior_predictive"):
        assert skill_fit.idata[group]["skill"].shape[-1] == len(skill_fit.data)
    # the integrated-out effects are drawn afterwards and named by their ids
    post = skill_fit.posterior
    assert list(post["r_unit"].coords["unit"].values) == list(
        pd.unique(skill_fit.data["unit"].astype(str)))
    post = pyramid_fit.posterior
    for name in ("r_unit", "r_worker", "r_authority", "indirect_clinician", "total_csw"):
        assert name in post, name
    # the per-unit discussion and clinician drawn after sampling: a group of their own
    imputed = pyramid_fit.idata["imputed"]
    assert set(imputed.data_vars) == {"discussion_unit", "clinician_unit"}
    # a unit whose discussion was observed keeps it in every draw
    codes = imputed["discussion_unit"].values
    frame = pyramid_fit.data
    observed = frame.dropna(subset=["discussion"]).groupby("unit")["discussion"].first()
    units = list(imputed["discussion_unit"].coords["path_unit"].values)
    for unit, level in observed.items():
        j = units.index(str(unit))
        assert np.all(codes[..., j] == list(frame["discussion"].cat.categories).index(level))


def test_rows_left_out_are_counted(skill_fit, pyramid_fit, reference):
    assert skill_fit.dropped == {"clinician": 50, "discussion": 50}
    assert skill_fit.n_dropped == 50 and len(skill_fit.data) == 22
    assert pyramid_fit.dropped == {} and pyramid_fit.n_dropped == 0
    assert any("worker effects left out" in n for n in skill_fit.info["notes"])


def test_same_seed_same_draws(skill_fit, reference):
    again = _quiet_fit(reference, model="skill", random_seed=11, posterior_predictive=True,
                       prior_predictive=True)
    for group in ("posterior", "prior", "posterior_predictive", "log_likelihood"):
        a, b = skill_fit.idata[group].to_dataset(), again.idata[group].to_dataset()
        for v in a.data_vars:
            np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=f"{group}/{v}")
    other = _quiet_fit(reference, model="skill", random_seed=12)
    assert not np.array_equal(other.posterior["sigma"].values, skill_fit.posterior["sigma"].values)


def test_diagnostics_table(skill_fit):
    diag = skill_fit.diagnostics
    assert list(diag.columns) == ["check", "value", "where", "threshold", "passed", "advice"]
    assert list(diag["check"]) == ["divergences", "r_hat", "ess_bulk", "ess_tail", "e_bfmi"]
    assert diag.loc[diag.check == "r_hat", "value"].item() < 1.05
    # a failing check says what to do
    bad = skill_fit.idata.copy()
    stats = bad["sample_stats"].to_dataset()
    stats["diverging"] = stats["diverging"] | True
    bad["sample_stats"] = xr.DataTree(stats)
    d2 = diagnose(bad)
    row = d2[d2.check == "divergences"].iloc[0]
    assert not row.passed and "target_accept" in row.advice


def test_expected_skill_skill_model_is_the_linear_predictor(skill_fit):
    new = pd.DataFrame({"training": ["none", "programme"], "clinician": [0, 1],
                        "discussion": ["non_systemic", "systemic"]})
    e = skill_fit.expected_skill(new)
    assert e.dims == ("chain", "draw", "row") and e.shape == (4, 300, 2)
    post = skill_fit.posterior
    np.testing.assert_allclose(e.isel(row=0).values, post["intercept"].values, rtol=1e-12)
    full = (post["intercept"] + post["b_training"].sel(training="programme")
            + post["b_clinician"] + 2 * post["b_discussion"])
    np.testing.assert_allclose(e.isel(row=1).values, full.values, rtol=1e-12)
    prior = skill_fit.expected_skill(new, group="prior")
    assert prior.shape == (1, 500, 2)
    with pytest.raises(InputError, match="missing on 1 row"):
        skill_fit.expected_skill(new.assign(discussion=["systemic", None]))
    with pytest.raises(InputError, match="group must be"):
        skill_fit.expected_skill(new, group="likelihood")


def test_expected_skill_pyramid_integrates_a_missing_discussion(pyramid_fit):
    levels = ["non_systemic", "green_shoots", "systemic"]
    fixed = pd.DataFrame({"training": "none", "clinician": 1, "csw": 1, "discussion": levels})
    missing = pd.DataFrame({"training": ["none"], "clinician": [1], "csw": [1],
                            "discussion": [None]})
    e_fixed = pyramid_fit.expected_skill(fixed).values
    e_miss = pyramid_fit.expected_skill(missing).values[..., 0]
    # a weighted average of the three conditional values, draw by draw
    assert np.all(e_miss >= e_fixed.min(axis=-1) - 1e-12)
    assert np.all(e_miss <= e_fixed.max(axis=-1) + 1e-12)
    # the derived total effect of clinician equals the expected-skill difference averaged
    # over the rows' csw, with discussion integrated out (a total effect)
    rows = pyramid_fit.data
    from pyramid.data.schema import derive_csw

    csw = derive_csw(rows)
    both = pd.concat([pd.DataFrame({"training": "none", "clinician": c, "csw": csw,
                                    "discussion": None}) for c in (0, 1)], ignore_index=True)
    e = pyramid_fit.expected_skill(both).values
    n = len(csw)
    total = (e[..., n:] - e[..., :n]).mean(axis=-1)
    np.testing.assert_allclose(total, pyramid_fit.posterior["total_clinician"].values, rtol=1e-6)


def test_coefs_use_truth_names(skill_fit):
    table = skill_fit.coefs()
    assert list(table["name"]) == ["intercept", "training[other]", "training[mla]",
                                   "training[programme]", "clinician", "discussion"]
    assert (table["lower"] < table["mean"]).all() and (table["mean"] < table["upper"]).all()


def test_save_and_load_round_trip(pyramid_fit, tmp_path):
    path = pyramid_fit.save(tmp_path / "fit.nc")
    res = load(path)
    assert res.spec == pyramid_fit.spec and res.spec.text == pyramid_fit.spec.text
    assert res.priors.classes == pyramid_fit.priors.classes
    assert res.info["seed"] == 12 and res.info["sampler"] == "nutpie"
    # chains run side by side, up to the cores this process may use (recorded, and kept)
    from pyramid.executor import default_jobs

    assert res.info["cores"] == pyramid_fit.info["cores"] == min(4, default_jobs())
    assert "imputed" in res.idata.children
    assert res.info["extension"] == pyramid_fit.info["extension"]
    assert res.info["data_sha256"] == pyramid_fit.info["data_sha256"]
    assert "pymc" in res.info["versions"]
    pd.testing.assert_frame_equal(res.data, pyramid_fit.data, check_dtype=True)
    new = pd.DataFrame({"training": ["mla"], "clinician": [None], "csw": [0],
                        "discussion": [None]})
    np.testing.assert_array_equal(res.expected_skill(new).values,
                                  pyramid_fit.expected_skill(new).values)
    pd.testing.assert_frame_equal(res.coefs(), pyramid_fit.coefs())
    assert res.diagnostics["check"].tolist() == pyramid_fit.diagnostics["check"].tolist()
    with pytest.raises(InputError, match=r"must end in \.nc"):
        pyramid_fit.save(tmp_path / "fit.csv")


def test_load_refuses_other_files(pyramid_fit, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load(tmp_path / "nothing.nc")
    plain = tmp_path / "plain.nc"
    xr.DataTree.from_dict({"posterior": pyramid_fit.posterior}).to_netcdf(plain, engine="h5netcdf")
    with pytest.raises(InputError, match="not a pyramid results file"):
        load(plain)
    good = pyramid_fit.save(tmp_path / "good.nc")
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="damaged, truncated"):
        load(truncated)
    text = tmp_path / "text.nc"
    text.write_text("not a netcdf file")
    with pytest.raises(InputError, match="cannot read"):
        load(text)


def test_loo_table(skill_fit, pyramid_fit):
    table, notes = loo_table({"skill": skill_fit})
    assert table.loc[0, "model"] == "skill" and np.isfinite(table.loc[0, "elpd"])
    table, notes = loo_table({"skill": skill_fit, "pyramid": pyramid_fit})
    assert any("not comparable" in n for n in notes)
    assert table["rank"].isna().all()
    assert table.set_index("model").loc["pyramid", "left_out"] == "unit"


def test_loo_values_are_not_rounded(skill_fit, tmp_path, capsys):
    """pyramid loo printed elpd to two significant figures (-47.81 and -49.8 both as -50.0)
    in text, CSV and loo_table (arviz's compare rounds by default). Failed before; now the
    table and the CSV keep every digit and the text shows two decimals."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = az.loo(skill_fit.idata, pointwise=True)
    table, _ = loo_table({"a": skill_fit, "b": skill_fit})
    assert list(table["rank"]) == [0, 1]
    assert table["elpd"].tolist() == pytest.approx([float(exact.elpd)] * 2, rel=1e-12)
    assert table["se"].tolist() == pytest.approx([float(exact.se)] * 2, rel=1e-12)
    path, other = tmp_path / "s.nc", tmp_path / "t.nc"
    skill_fit.save(path)
    skill_fit.save(other)
    assert main(["loo", str(path), str(other), "--format", "csv"]) == 0
    csv = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert csv["elpd"].tolist() == pytest.approx([float(exact.elpd)] * 2, rel=1e-12)
    assert main(["loo", str(path)]) == 0
    assert f"{float(exact.elpd):.2f}" in capsys.readouterr().out


def test_pyramid_pointwise_loglik_is_per_unit_and_sums_to_the_models(pyramid_fit):
    """The unit-level path model's log_likelihood group has one value per unit, and their
    sum is the model's own log-likelihood (loglik_total) draw by draw (before the fix: one
    value per row, leaving out the discussion and clinician equations)."""
    ll = pyramid_fit.idata["log_likelihood"]["obs"]
    assert ll.dims == ("chain", "draw", "unit")
    assert ll.sizes["unit"] == pyramid_fit.data["unit"].nunique()
    total = pyramid_fit.posterior["loglik_total"].transpose("chain", "draw").values
    np.testing.assert_allclose(ll.sum("unit").transpose("chain", "draw").values, total,
                               rtol=1e-10)


def test_bad_arguments(reference):
    for kwargs, match in [
        ({"draws": 0}, "draws"),
        ({"chains": 1.5}, "chains"),
        ({"random_seed": -1}, "random_seed"),
        ({"sampler": "stan"}, "sampler"),
        ({"target_accept": 1.2}, "target_accept"),
        ({"model": "nonsense"}, "unknown model spec"),
        ({"priors": "vague"}, "unknown prior set"),
    ]:
        with pytest.raises(InputError, match=match):
            fit(reference, **{**DRAWS, **kwargs})
    with pytest.raises(InputError, match="DataFrame"):
        fit([1, 2], **DRAWS)


def test_prior_check_table():
    table, draws_ = prior_check("sceptical", "skill", draws=200, random_seed=3)
    assert list(table.columns) == ["quantity", "q01", "q05", "q25", "q50", "q75", "q95", "q99",
                                   "outside_1_5"]
    row = table.set_index("quantity").loc["full pyramid minus reference"]
    wide, _ = prior_check("default", "skill", draws=200, random_seed=3)
    wrow = wide.set_index("quantity").loc["full pyramid minus reference"]
    # the sceptical set implies a much narrower effect of the whole pyramid
    assert row["q95"] - row["q05"] < 0.5 * (wrow["q95"] - wrow["q05"])
    assert draws_["skill"].shape[0] == 200


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
def test_cli_fit_loo_and_priors_check(reference, tmp_path, capsys):
    csv = tmp_path / "rsw.csv"
    reference.to_csv(csv, index=False)
    out = tmp_path / "skill.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        code = main(["fit", str(csv), "--model", "skill", "--out", str(out), "--draws", "150",
                     "--tune", "150", "--seed", "3", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.is_file()
    assert "training[programme]" in captured.out
    assert "variance partition" in captured.out and "residual" in captured.out
    assert "convergence checks" in captured.err and "min bulk ESS" in captured.err
    assert main(["loo", str(out)]) == 0
    assert "elpd" in capsys.readouterr().out
    png = tmp_path / "prior.png"
    code = main(["priors", "check", "sceptical", "--model", "skill", "--draws", "100",
                 "--seed", "1", "--plot", str(png)])
    assert code == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "skill of an observation" in captured.out and png.is_file()


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x.nc")]) == 2
    assert main(["loo", str(tmp_path / "none.nc")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["priors", "check", "vague"]) == 2
    assert "unknown prior set" in capsys.readouterr().err
    for cmd in (["fit", "--help"], ["loo", "--help"], ["priors", "check", "--help"]):
        assert main(cmd) == 0


@pytest.mark.slow
def test_pymc_fallback_when_nutpie_fails(reference, monkeypatch):
    """PyMC's NUTS takes over (with a warning saying why) when nutpie fails."""
    import pyramid.fit as fit_module

    def broken(*args, **kwargs):
        raise RuntimeError("simulated nutpie failure")

    monkeypatch.setattr(fit_module.sampling, "sample_nutpie", broken)
    with pytest.warns(RuntimeWarning, match="simulated nutpie failure"):
        res = _quiet_fit(reference, model="skill", random_seed=4, draws=200, tune=200)
    assert res.info["sampler"] == "pymc"
    assert "simulated nutpie failure" in res.info["sampler_fallback_reason"]
    assert res.idata["posterior"].sizes["draw"] == 200
    with pytest.raises(RuntimeError, match="simulated"):
        _quiet_fit(reference, model="skill", sampler="nutpie")


_REPRO_SCRIPT = """
import numpy as np, pyramid as pyr
sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
res = pyr.fit(sim.data, model="skill", draws=100, tune=100, random_seed=5,
              progressbar=False, verbose=False)
print(repr(float(res.idata["posterior"]["intercept"].values.sum())))
"""


@pytest.mark.slow
def test_same_seed_same_draws_cold_and_warm_compile_cache(tmp_path):
    """Kernels freshly compiled (in parallel processes or in one) and loaded from numba's
    disk cache give the same draws."""
    import os
    import subprocess
    import sys

    def run(cache, parallel="1"):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / cache), "MPLBACKEND": "Agg",
               "PYRAMID_PARALLEL_COMPILE": parallel}
        return subprocess.run([sys.executable, "-c", _REPRO_SCRIPT], env=env,
                              capture_output=True, text=True,
                              check=True).stdout.strip().splitlines()[-1]

    runs = [run("cache"), run("cache"), run("cache-serial", parallel="0")]
    assert runs[0] == runs[1] == runs[2]


def test_cold_compile_helper_fills_the_disk_cache():
    """The helper process of a cold compile writes numba's disk cache for its graph, which
    this process then finds (pyramid.models.compiled._start_helper)."""
    import pytensor
    import pytensor.tensor as pt
    from pymc.pytensorf import compile as compile_pymc

    from pyramid.models import compiled

    x = pt.vector("x", shape=(3,), dtype="float64")
    salt = float(np.random.default_rng().uniform(1, 2))  # a graph no earlier run has cached
    y = pt.exp(x * salt).sum() + pt.log1p(x ** 2).sum()
    with pytensor.config.change_flags(**compiled.NUMBA_FLAGS):
        fn = compile_pymc([x], [y], mode=compiled._mode("NUMBA"))
    assert not compiled._in_disk_cache(fn)
    proc = compiled._start_helper([x], [y], "NUMBA")
    assert proc is not None
    compiled._wait_helper(proc)
    assert proc.returncode == 0
    assert compiled._in_disk_cache(fn)
    expected = np.exp(np.arange(3.0) * salt).sum() + np.log1p(np.arange(3.0) ** 2).sum()
    assert np.isclose(fn(np.arange(3.0))[0], expected)


def test_parallel_compile_switch(monkeypatch):
    from pyramid.models import compiled

    monkeypatch.delenv("PYRAMID_WORKER_SLOT", raising=False)
    monkeypatch.setenv("PYRAMID_PARALLEL_COMPILE", "0")
    assert not compiled._parallel_wanted()
    monkeypatch.setenv("PYRAMID_PARALLEL_COMPILE", "1")
    monkeypatch.setenv("PYRAMID_WORKER_SLOT", "0")
    assert not compiled._parallel_wanted()  # executor workers already fill the cores


def _fake_domains_result(level: str, sd: np.ndarray) -> FitResult:
    """A domains result whose innermost kept level is ``level`` (worker or observation) with
    the given SD draws, on data with one observation per worker (the two are aliased)."""
    from pyramid.specs import load_priors, load_spec

    rng = np.random.default_rng(0)
    n = sd.size
    data = simulate((3, 2, 2, 1), seed=2, mix={"discussion_observed": 1.0}).data
    post = xr.Dataset({
        "b_training": (("chain", "draw", "training"), rng.normal(0.3, 0.2, (1, n, 3))),
        "b_clinician": (("chain", "draw"), rng.normal(0.5, 0.2, (1, n))),
        "b_discussion": (("chain", "draw"), rng.normal(0.3, 0.1, (1, n))),
        "zeta_discussion": (("chain", "draw", "discussion_step"),
                            rng.dirichlet([1.0, 1.0], (1, n))),
        "cutpoints": (("chain", "draw", "threshold"),
                      np.sort(rng.normal(0, 1.5, (1, n, 4)), axis=-1)),
        f"sd_{level}": (("chain", "draw"), sd[None, :]),
    }, coords={"training": ["other", "mla", "programme"],
               "discussion_step": ["green_shoots", "systemic"],
               "threshold": ["1|2", "2|3", "3|4", "4|5"]})
    idata = xr.DataTree.from_dict({"posterior": post})
    return FitResult(idata=idata, spec=load_spec("domains"), priors=load_priors("default"),
                     data=data, dropped={}, diagnostics=pd.DataFrame(),
                     info={"groups_kept": ["authority", "unit", level],
                           "domains": ["collaboration", "empathy", "purposefulness", "clarity",
                                       "child_focus"]})


def test_domains_expected_skill_does_not_depend_on_which_aliased_level_survives():
    """The audit's finding 5: with one observation per worker the worker and observation
    effects are one row-level effect; expected_skill integrated it as the occasion effect when
    it was named observation and held it at 0 when named worker (the clinician contrast 0.530
    against 0.574 with the same SD). Failed before the fix; now both integrate it."""
    sd = np.full(40, 0.8)
    new = pd.DataFrame({"training": pd.Categorical(["none", "programme"],
                                                   ["none", "other", "mla", "programme"]),
                        "clinician": pd.array([0, 1], dtype="Int8"),
                        "discussion": pd.Categorical(["green_shoots", "systemic"],
                                                     ["non_systemic", "green_shoots", "systemic"])})
    as_worker = _fake_domains_result("worker", sd).expected_skill(new).values
    as_obs = _fake_domains_result("observation", sd).expected_skill(new).values
    np.testing.assert_allclose(as_worker, as_obs, rtol=1e-12)
    # and it is the occasion-integrated one: not the value with the effect held at 0
    held = _fake_domains_result("worker", np.zeros(40)).expected_skill(new).values
    assert np.abs(as_worker - held).max() > 1e-3


# --------------------------------------------------------------------------------------------
# four chains, extended until clean
# --------------------------------------------------------------------------------------------
def test_extension_continues_the_same_chains(sim):
    """Checks that fail after ``draws`` draws make the fit draw blocks of ``draws`` more from
    the same adapted chains; the draws are those of one longer run with the same seed."""
    short = _quiet_fit(sim.data, model="skill", draws=40, tune=200, random_seed=21, extend=True)
    ext = short.info["extension"]
    # 4 x 40 draws cannot reach a bulk ESS of 400: three blocks, then the limit
    assert ext["asked"] == 40 and ext["blocks"] == 3 and ext["draws"] == 160
    assert ext["stopped"] == "limit" and ext["passed"] is False
    assert short.idata["posterior"].sizes["draw"] == 160 and short.info["draws"] == 160
    long = _quiet_fit(sim.data, model="skill", draws=160, tune=200, random_seed=21)
    np.testing.assert_array_equal(short.posterior["sigma"].values, long.posterior["sigma"].values)
    assert long.info["extension"]["stopped"] == "off"
    from pyramid.diagnostics import fit_verdict

    v = fit_verdict(short)
    assert v.startswith("NOT CLEAN") and "extended by 3 blocks of 40 draws" in v
    assert fit_verdict(long).startswith("NOT CLEAN") and "turned off" in fit_verdict(long)


def test_extension_stops_as_soon_as_the_checks_pass(sim):
    res = _quiet_fit(sim.data, model="skill", draws=400, tune=300, random_seed=3, extend=True)
    ext = res.info["extension"]
    assert ext["passed"] and ext["stopped"] == "passed" and ext["blocks"] == 0
    assert res.converged
    from pyramid.diagnostics import fit_verdict

    assert fit_verdict(res) == "clean: every convergence check passed with 4 chains x 400 draws"


@pytest.mark.parametrize("model", ["domains", "skill"])
def test_the_final_diagnosis_is_the_diagnosis_of_the_result(sim, model):
    """fit reuses the extension check's diagnosis when the posterior is the draws it checked
    (domains: nothing is drawn after sampling) and diagnoses again otherwise (skill: the
    integrated-out effects are drawn afterwards): either way it is the result's diagnosis."""
    import pandas as pd

    import pyramid.diagnostics as diagnostics
    from pyramid.diagnostics import diagnose

    computed: list[str] = []
    real = diagnostics.per_element

    def counting(post, fn, n_out=1):
        computed.extend(str(v) for v in post.data_vars)
        return real(post, fn, n_out)

    diagnostics.per_element = counting
    try:
        res = _quiet_fit(sim.data, model=model, draws=150, tune=150, random_seed=4,
                         extend=True)
    finally:
        diagnostics.per_element = real
    pd.testing.assert_frame_equal(res.diagnostics.reset_index(drop=True),
                                  diagnose(res.idata).reset_index(drop=True))
    # and it was reused: a sampled quantity's R-hat and ESS were computed once per block
    # checked, not once more for the final diagnosis; loglik_total, drawn after sampling, once
    checks = 1 + res.info["extension"]["blocks"]
    assert computed.count("b_clinician") == checks
    assert computed.count("loglik_total") == 1


@pytest.mark.parametrize("which", ["skill", "pyramid"])
def test_arviz_summary_agrees_with_the_checks(which, skill_fit, pyramid_fit):
    """The posterior holds only identified quantities: arviz's own summary of it finds the
    same worst R-hat and bulk ESS as pyramid's checks (the signed SDs and standardised effects
    gave R-hat 1.5 before), so it is clean exactly when they pass."""
    import arviz as az

    res = skill_fit if which == "skill" else pyramid_fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.summary(res.idata["posterior"].to_dataset(), kind="diagnostics")
    diag = res.diagnostics.set_index("check")["value"]
    assert table["r_hat"].max() == pytest.approx(diag["r_hat"], abs=1e-6)
    assert table["ess_bulk"].min() == pytest.approx(diag["ess_bulk"], rel=1e-6)


def test_a_domains_result_saves_and_loads(tmp_path):
    """The domains model's observed data name each rating's domain (text): load reads them."""
    sim = simulate((3, 2, 2, 1), seed=5, mix={"discussion_observed": 1.0})
    res = _quiet_fit(sim.data, model="domains", draws=50, tune=50, chains=2, random_seed=2)
    back = load(res.save(tmp_path / "d.nc"))
    obs = back.idata["observed_data"]
    assert list(obs["rating_domain"].values) == list(
        res.idata["observed_data"]["rating_domain"].values)
