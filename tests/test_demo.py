"""The demo (pyramid.demo, ``pyramid demo``): one short end-to-end run on the reference data,
and the pieces that need no fit (the report's contrasts, the side-by-side table, arguments).

The full demo (4 chains x 1000 draws, extended while a check fails) is what ``make demo`` runs;
its time is measured there. Here the fit is short (4 x 80 draws, extended): enough to check
that every step runs and every file is written, not to estimate anything. The same fit, the
default ``pyramid`` model on the reference data, also serves pyramid.compare's tests of the
path model (its direct, indirect and total effects against the model's own derived quantities,
and ``pyramid compare`` on a saved result), so the default test run fits that model once.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from pyramid.cli import main
from pyramid.compare import COLUMNS_DOC
from pyramid.demo import (
    RECONSTRUCTION_NOTE,
    format_side_by_side,
    report_contrasts,
    run_demo,
    side_by_side,
)
from pyramid.errors import InputError
from pyramid.reanalysis import reanalyse
from pyramid.specs import load_spec

REPORT_ROWS = ["none_vs_others", "other_vs_others", "mla_vs_others", "programme_vs_others",
               "other_vs_none", "mla_vs_none", "programme_vs_none", "clinician_no_vs_yes",
               "green_shoots_vs_non_systemic", "systemic_vs_non_systemic"]


def test_report_contrasts_parse_and_match_the_reanalysis_keys():
    from pyramid.compare import default_contrasts, parse_contrast

    keys = set(reanalyse(["14", "15"])["comparison"])
    for name in ("skill", "domains", "pyramid"):
        spec = load_spec(name)
        parsed = [parse_contrast(c, spec) for c in report_contrasts(spec)]
        defaults = [c.key for c in default_contrasts(spec)[0]]
        covered = {c.key for c in parsed} | set(defaults)
        assert set(REPORT_ROWS) <= covered, name
        assert {c.key for c in parsed} <= keys
    total = parse_contrast(report_contrasts(load_spec("pyramid"))[-1], load_spec("pyramid"))
    assert total.effect == "total"  # the report's raw comparison lets discussion vary


def test_side_by_side_joins_on_the_comparison_key():
    cmp = pd.DataFrame([
        {"key": "programme_vs_none", "effect": "direct", "estimate": 0.6, "ci_lower": 0.2,
         "ci_upper": 1.0, "p_direction": 0.99, "bf10": 8.0, "bf10_bound": ">"},
        {"key": "clinician_no_vs_yes", "effect": "total", "estimate": -0.4, "ci_lower": -0.8,
         "ci_upper": 0.0, "p_direction": 0.97, "bf10": 2.0, "bf10_bound": ""},
        {"key": "not_in_the_report", "effect": "direct", "estimate": 1.0, "ci_lower": 0.0,
         "ci_upper": 2.0, "p_direction": 0.9, "bf10": 1.0, "bf10_bound": ""},
    ])
    re = reanalyse(["14", "15"])
    sbs = side_by_side(cmp, re)
    assert sbs["comparison"].tolist() == re["comparison"].tolist()
    row = sbs.set_index("comparison").loc["clinician_no_vs_yes"]
    assert row.model_estimate == -0.4 and row.model_effect == "total"
    assert row.summaries_estimate == pytest.approx(
        float(re.set_index("comparison").loc["clinician_no_vs_yes", "estimate"]), rel=1e-12)
    assert pd.isna(sbs.set_index("comparison").loc["none_vs_others", "model_estimate"])
    view = format_side_by_side(sbs)
    assert view.set_index("comparison").loc["programme_vs_none", "BF10 (S-D)"] == ">8.00"
    assert view.set_index("comparison").loc["none_vs_others", "model: estimate"] == ""
    with pytest.raises(InputError, match="needs compare"):
        side_by_side(pd.DataFrame({"key": ["a"]}), re)


def test_bad_arguments_fail_before_any_work(tmp_path):
    with pytest.raises(InputError, match="draws must be a whole number >= 1, got 0"):
        run_demo(tmp_path / "x", draws=0)
    with pytest.raises(InputError, match="tune must be a whole number >= 0"):
        run_demo(tmp_path / "x", tune=-1)
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    with warnings.catch_warnings():
        # the validator's DataWarnings are reported by the demo through echo; nothing else may
        # warn (filterwarnings = error)
        res = run_demo(out, draws=80, tune=80, random_seed=7, progressbar=False,
                       echo=lines.append)
    res.echoed = lines
    return res


def test_demo_output(demo):
    text = demo.report()
    # the data are labelled a reconstruction, first and in the progress lines as well
    assert text.startswith(RECONSTRUCTION_NOTE) and demo.echoed[0] == RECONSTRUCTION_NOTE
    assert "Model: 'pyramid' with priors 'default' on 72 rows (0 left out); 4 chains x " in text
    # what the fit says about its convergence checks: the same words as pyramid fit's
    from pyramid.diagnostics import fit_verdict

    assert f"Convergence: {fit_verdict(demo.result)}." in text
    # the comparison table with every default contrast of the pyramid model
    for label in ("worker on CSW programme vs none", "clinician present vs absent: indirect",
                  "trained CSW lead vs not: total", "complete pyramid"):
        assert label in text
    # the report's tests beside it: every row of Tables 14 and 15, each with a model estimate
    side = text.split("beside the model", 1)[1]
    for key in REPORT_ROWS:
        line = next(ln for ln in side.splitlines() if f" {key} " in ln)
        assert ("direct" in line) or ("total" in line), line
    assert "t=-3.17 p=0.002" in side and "NO" in side
    assert demo.side["model_estimate"].notna().all()
    # the files, and where they went
    for name in ("rsw2017.csv", "rsw2017_pyramid.nc", "comparison.csv", "figure4.png"):
        path = demo.out / name
        assert path.is_file() and path.stat().st_size > 1000, name
        assert str(path) in text
    cmp = pd.read_csv(demo.out / "comparison.csv")
    assert set(REPORT_ROWS) <= set(cmp["key"])
    assert np.isfinite(cmp["estimate"]).all()
    assert set(demo.timings) >= {"fit_s", "compare_s", "figure_s", "total_s"}


def test_cli_demo_prints_the_report(demo, monkeypatch, capsys):
    # the command is a thin wrapper: it prints run_demo's report (the run itself is above)
    import pyramid.demo as demo_mod

    seen = {}

    def fake(out, **kwargs):
        seen.update(out=out, **kwargs)
        return demo

    monkeypatch.setattr(demo_mod, "run_demo", fake)
    assert main(["demo", "--out", "somewhere", "--draws", "50", "--tune", "20", "--seed", "3",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == demo.report().strip()
    assert "demo finished in" in captured.err
    assert seen["out"] == "somewhere" and seen["draws"] == 50 and seen["tune"] == 20
    assert seen["random_seed"] == 3 and seen["progressbar"] is False
    monkeypatch.undo()
    assert main(["demo", "--out", str(demo.out / "unused"), "--draws", "0"]) == 2
    assert "draws must be a whole number >= 1" in capsys.readouterr().err


def test_demo_help():
    assert main(["demo", "--help"]) == 0


# ---------------------------------------------------------------------------------------------
# pyramid.compare on the demo's fit of the path model
# ---------------------------------------------------------------------------------------------
def test_path_effects_equal_the_models_derived_quantities(demo):
    # the model's deterministics direct_/indirect_/total_{clinician, csw} average over the
    # rows' patterns exactly as compare's marginal standardisation does: draw by draw equal
    from pyramid.compare import _covariates, _Evaluator, compare, default_contrasts

    path_fit = demo.result
    t = compare(path_fit)
    post = path_fit.posterior
    by_key = dict(zip(t["key"], range(len(t)), strict=True))
    pairs = {"clinician_yes_vs_no": "direct_clinician", "clinician_indirect": "indirect_clinician",
             "clinician_total": "total_clinician", "csw_indirect": "indirect_csw",
             "csw_total": "total_csw"}
    ev = _Evaluator(path_fit, _covariates(path_fit.spec))
    contrasts = {c.key: c for c in default_contrasts(path_fit.spec)[0]}

    def draws(key):
        c = contrasts[key]
        if c.parts:
            return draws(c.parts[0]) - draws(c.parts[1])
        return ev.mean(c.a, "posterior") - ev.mean(c.b, "posterior")

    for key, var in pairs.items():
        ours = draws(key)
        theirs = post[var].transpose("chain", "draw").values
        # PyTensor (log-CDF differences) and numpy (CDF differences) agree to ~1e-8
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8, err_msg=key)
        assert t.loc[by_key[key], "estimate"] == pytest.approx(theirs.mean(), rel=1e-8)
    assert t.loc[by_key["csw_direct"], "estimate"] == 0


def test_cli_compare_on_a_saved_result(demo, capsys):
    path = demo.files["result"]
    assert main(["compare", str(path)]) == 0
    out = capsys.readouterr().out
    assert "model 'pyramid'" in out and "clinician present vs absent: total" in out
    assert "BF10: Savage-Dickey" in out and "note: csw_direct" in out
    # product contrasts: no Bayes factor, and the CLI says why
    assert "note: green_shoots_vs_non_systemic: no BF10: the contrast vanishes" in out
    assert "note: clinician_indirect: no BF10" in out
    assert main(["compare", str(path), "--effect-sizes", "-c",
                 "p: training=programme - training=none"]) == 0
    out = capsys.readouterr().out
    assert "ES" in out and "P(ES>0.2)" in out and "unconditional model" in out
    assert main(["compare", str(path), "--format", "csv", "--rope", "0.2", "--ci-prob", "0.9",
                 "-c", "a: training=programme - training=none", "-c",
                 "b: {clinician=1, discussion=?} - {clinician=0, discussion=?}"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == list(COLUMNS_DOC) and table["key"].tolist() == ["a", "b"]
    assert (table["rope"] == 0.2).all() and (table["ci_prob"] == 0.9).all()
    assert table["effect"].tolist() == ["direct", "total"]
    assert main(["compare", str(path), "-c", "training=prog - training=none"]) == 2
    assert "unknown level 'prog'" in capsys.readouterr().err
    assert main(["compare", str(path), "--rope", "2"]) == 2
    assert "rope must be in [0, 1]" in capsys.readouterr().err
    assert main(["compare", str(demo.out / "missing.nc")]) == 2
    assert "no results file" in capsys.readouterr().err
    assert main(["compare", "--help"]) == 0
    assert "--contrast" in capsys.readouterr().out


def test_path_contrasts_bayes_factors_exact_or_not_defined(demo):
    """On the path model: direct contrasts linear in the skill equation's coefficients have an
    exact prior density at 0; the products (a step of the monotonic discussion effect, 2 b
    zeta_1; the indirect effect of clinician presence, which vanishes with b_discussion and
    with the discussion equation's clinician coefficient) have none: bf10 empty, with the
    reason (a number before the fix, growing with the number of prior draws)."""
    from pyramid.compare import compare

    t = compare(demo.result).set_index("key")
    for key in ("programme_vs_none", "clinician_yes_vs_no", "systemic_vs_non_systemic",
                "pyramid_vs_none"):
        assert t.loc[key, "bf10_prior"] == "exact", key
    for key in ("green_shoots_vs_non_systemic", "systemic_vs_green_shoots",
                "clinician_indirect"):
        assert math.isnan(t.loc[key, "bf10"]), key
        assert t.loc[key, "bf10_note"].startswith("not defined"), key
    assert "discussion_clinician" in t.loc["clinician_indirect", "bf10_note"]
    assert "b_discussion" in t.loc["clinician_indirect", "bf10_note"]
    # a total effect has a finite prior density at 0 but no closed form: a kernel estimate,
    # its error stated
    assert t.loc["clinician_total", "bf10_prior"] == "kernel estimate"
