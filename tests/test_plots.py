"""Figure 4 (pyramid.plots): its numbers, its drawing, the model panel and the CLI."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from pyramid.cli import main  # noqa: E402
from pyramid.data import published  # noqa: E402
from pyramid.data.schema import DISCUSSION_LEVELS, TRAINING_LEVELS  # noqa: E402
from pyramid.errors import InputError  # noqa: E402
from pyramid.plots.figure4 import (  # noqa: E402
    REFERENCE,
    figure4_data,
    figure4_newdata,
    plot_figure4,
    save_figure4,
)
from pyramid.reanalysis import mean_posterior  # noqa: E402

# True effects of the fake result, in skill points against the reference level. The fake
# stands in for a FitResult (docs/architecture.md): Figure 4 may use only expected_skill.
EFFECTS = {
    ("training", "other"): 0.2,
    ("training", "mla"): 0.45,
    ("training", "programme"): 0.95,
    ("discussion", "green_shoots"): 0.35,
    ("discussion", "systemic"): 0.8,
    ("clinician", 1): 0.6,
}
BASE = 2.3


class FakeResult:
    """expected_skill = BASE + the additive effects of the row's levels + Normal(0, 0.05) draws."""

    def __init__(self, seed: int = 0, noise: float = 0.05, chains: int = 2, draws: int = 400):
        self.rng = np.random.default_rng(seed)
        self.noise, self.chains, self.draws = noise, chains, draws
        self.calls: list[pd.DataFrame] = []

    def expected_skill(self, newdata: pd.DataFrame, group: str = "posterior") -> xr.DataArray:
        self.calls.append(newdata.copy())
        mean = np.full(len(newdata), BASE)
        for i, (_, r) in enumerate(newdata.iterrows()):
            mean[i] += EFFECTS.get(("training", r.training), 0.0)
            mean[i] += EFFECTS.get(("discussion", r.discussion), 0.0)
            mean[i] += EFFECTS.get(("clinician", int(r.clinician)), 0.0)
        draws = mean + self.rng.normal(0.0, self.noise, (self.chains, self.draws, len(newdata)))
        return xr.DataArray(draws, dims=("chain", "draw", "row"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# the numbers
# ---------------------------------------------------------------------------------------------
def test_report_rows_are_the_published_summaries():
    d = figure4_data()
    assert len(d) == 4 + 3 + 2 and set(d.source) == {"report"}
    assert d.loc[d.factor == "training", "level"].tolist() == list(TRAINING_LEVELS)
    assert d.loc[d.factor == "discussion", "level"].tolist() == list(DISCUSSION_LEVELS)
    assert d.loc[d.factor == "clinician", "level"].tolist() == [0, 1]
    keys = {
        **{lv: ("14", lv) for lv in TRAINING_LEVELS},
        **{lv: ("15", lv) for lv in DISCUSSION_LEVELS},
        0: ("15", "clinician_no"),
        1: ("15", "clinician_yes"),
    }
    for _, r in d.iterrows():
        tid, key = keys[r.level]
        mean, sd, n = (published.cell(tid, key, s) for s in ("mean", "sd", "n"))
        post = mean_posterior(mean, sd, int(n), 0.95)
        assert (r.estimate, r.ci_lower, r.ci_upper) == pytest.approx(
            (post["estimate"], post["ci_lower"], post["ci_upper"]), rel=1e-12
        )
        assert r.n == n and float(r.printed) == mean


def test_newdata_holds_one_factor_away_from_the_reference():
    nd = figure4_newdata()
    assert nd.loc[0, ["training", "discussion", "clinician"]].tolist() == list(REFERENCE.values())
    assert nd["training"].cat.categories.tolist() == list(TRAINING_LEVELS)
    assert nd["training"].cat.ordered and nd["discussion"].cat.ordered
    assert str(nd["clinician"].dtype) == "Int8"
    changed = (
        nd[["training", "discussion", "clinician"]].astype(str)
        != pd.Series({k: str(v) for k, v in REFERENCE.items()})
    ).sum(axis=1)
    assert changed.tolist() == [0] + [1] * (len(nd) - 1)


def test_model_effects_recover_the_fake_truth():
    fake = FakeResult()
    d = figure4_data(fake, ci_prob=0.9)
    assert len(fake.calls) == 1
    model = d[d.source == "model"]
    assert len(model) == 9 and model.reference.sum() == 3
    assert (model.loc[model.reference, ["estimate", "ci_lower", "ci_upper"]] == 0).all().all()
    for (factor, level), true in EFFECTS.items():
        r = model[(model.factor == factor) & (model.level.astype(str) == str(level))].iloc[0]
        # difference of two draws with noise sd 0.05: posterior sd 0.07, 800 draws; the mean is
        # within 4 Monte Carlo SEs (0.01) and the 90 % interval holds the truth
        assert r.estimate == pytest.approx(true, abs=0.01)
        assert r.ci_lower < true < r.ci_upper
        assert r.ci_upper - r.ci_lower == pytest.approx(2 * 1.645 * 0.05 * np.sqrt(2), rel=0.15)
        assert r.prob_positive == 1.0


def test_a_null_effect_is_centred_on_zero():
    class Null(FakeResult):
        def expected_skill(self, newdata, group="posterior"):
            draws = BASE + self.rng.normal(0, self.noise, (2, 500, len(newdata)))
            return xr.DataArray(draws, dims=("chain", "draw", "row"))

    model = figure4_data(Null(seed=3)).query("source == 'model' and not reference")
    assert model.estimate.abs().max() < 0.02
    assert ((model.ci_lower < 0) & (model.ci_upper > 0)).all()
    assert model.prob_positive.between(0.3, 0.7).all()


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (object(), "result must be a fitted result with an expected_skill"),
        (
            type("R", (), {"expected_skill": lambda self, nd: np.zeros((2, 3, len(nd)))})(),
            "must return an xarray.DataArray with dims \\(chain, draw, row\\)",
        ),
        (
            type(
                "R",
                (),
                {
                    "expected_skill": lambda self, nd: xr.DataArray(
                        np.zeros((2, 3, 4)), dims=("chain", "draw", "row")
                    )
                },
            )(),
            "returned 4 rows for 7 rows of newdata",
        ),
        (
            type(
                "R",
                (),
                {
                    "expected_skill": lambda self, nd: xr.DataArray(
                        np.full((2, 3, len(nd)), np.nan), dims=("chain", "draw", "row")
                    )
                },
            )(),
            "non-finite draws",
        ),
    ],
)
def test_bad_results_are_input_errors(result, message):
    with pytest.raises(InputError, match=message):
        figure4_data(result)


# ---------------------------------------------------------------------------------------------
# the drawing
# ---------------------------------------------------------------------------------------------
def _errorbar_segments(ax) -> list[tuple[float, float, float]]:
    """(x, low, high) of every vertical error-bar segment drawn on ax."""
    out = []
    for coll in ax.collections:
        for seg in getattr(coll, "get_segments", lambda: [])():
            seg = np.asarray(seg)
            if len(seg) == 2 and seg[0, 0] == seg[1, 0] and seg[0, 1] != seg[1, 1]:
                out.append((seg[0, 0], min(seg[:, 1]), max(seg[:, 1])))
    return sorted(out)


def test_plot_without_a_result():
    fig = plot_figure4()
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_ylim() == (1.0, 5.0)
    assert ax.get_ylabel() == "Observed practice skill (1-5)"
    assert fig._suptitle.get_text() == "What factors influence quality of observed practice?"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "None" and labels[-1] == "Yes" and len(labels) == 9
    # the intervals drawn are the posterior intervals of the reanalysis
    d = figure4_data()
    bars = _errorbar_segments(ax)
    assert [lo for _, lo, _ in bars] == pytest.approx(d.ci_lower.tolist(), rel=1e-12)
    assert [hi for _, _, hi in bars] == pytest.approx(d.ci_upper.tolist(), rel=1e-12)
    # every printed value is written beside its point, with its n
    texts = " ".join(t.get_text() for t in ax.texts)
    for _, r in d.iterrows():
        assert f"{r.printed}\n(n = {r.n})" in texts
    # the benchmark band 2-2.5 and the 3.24 line
    bench = published.BENCHMARKS
    band = [p for p in ax.patches if isinstance(p, Polygon | Rectangle)]
    ys = {
        round(y, 6)
        for p in band
        for y in np.asarray(
            p.get_xy()
            if isinstance(p, Polygon)
            else [[0, p.get_y()], [0, p.get_y() + p.get_height()]]
        )[:, 1]
    }
    assert {bench["typical_low"], bench["typical_high"]} <= ys
    assert any(np.allclose(line.get_ydata(), bench["highest_seen"]) for line in ax.lines)
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "computed from the published mean, SD and N" in caption


def test_plot_with_a_result_adds_the_model_panel():
    fig = plot_figure4(FakeResult(), ci_prob=0.8)
    assert len(fig.axes) == 2
    top, bottom = fig.axes
    assert "effect on skill" in bottom.get_ylabel()
    assert "80%" in bottom.get_title(loc="left")
    d = figure4_data(FakeResult(), ci_prob=0.8).query("source == 'model' and not reference")
    bars = _errorbar_segments(bottom)
    assert len(bars) == 6  # one per non-reference level
    # the same seed gives the same draws: the bars are the model's intervals
    assert [lo for _, lo, _ in bars] == pytest.approx(d.ci_lower.tolist(), rel=1e-12)
    assert [t.get_text() for t in bottom.texts].count("reference") == 3


def test_plot_into_given_axes():
    fig, ax = plt.subplots()
    assert plot_figure4(ax=ax, title=None) is fig
    fig2, axes = plt.subplots(2, 1)
    assert plot_figure4(FakeResult(), ax=axes) is fig2
    with pytest.raises(InputError, match="with a result, pass ax as two axes"):
        plot_figure4(FakeResult(), ax=ax)
    with pytest.raises(InputError, match="ax must be a matplotlib Axes"):
        plot_figure4(ax="left")
    with pytest.raises(InputError, match="ci_prob must be in"):
        plot_figure4(ci_prob=2)


def test_save_figure4(tmp_path):
    out = save_figure4(tmp_path / "sub" / "fig4.png", FakeResult(), dpi=60)
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="the suffix must be one of"):
        save_figure4(tmp_path / "fig4.docx")
    with pytest.raises(InputError, match="dpi must be a whole number >= 10"):
        save_figure4(tmp_path / "fig4.png", dpi=1)
    assert not plt.get_fignums()  # no figure left open


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def test_cli_figure4(tmp_path, capsys):
    out = tmp_path / "figure4.png"
    assert main(["figure4", "--out", str(out), "--dpi", "50"]) == 0
    assert out.exists() and "wrote Figure 4 to" in capsys.readouterr().err
    assert main(["figure4", "--out", str(tmp_path / "f.xyz")]) == 2
    assert "the suffix must be one of" in capsys.readouterr().err
    assert main(["figure4", "--out", str(out), "--result", str(tmp_path / "missing.nc")]) == 2
    assert "no results file" in capsys.readouterr().err
    assert main(["figure4", "--help"]) == 0


# ---------------------------------------------------------------------------------------------
# with a real fitted result
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_fit():
    fit_mod = pytest.importorskip("pyramid.fit", reason="pyramid.fit is not in this checkout")
    from pyramid.datasets import load_rsw2017
    from pyramid.errors import DataWarning

    # a tiny fit: enough draws to exercise expected_skill end to end, not to estimate anything.
    # The DataWarnings (rows the skill model leaves out, one observation per worker) are the
    # validator's business, tested there.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fit_mod.fit(
            load_rsw2017(),
            model="skill",
            draws=60,
            tune=60,
            chains=2,
            random_seed=7,
            progressbar=False,
            verbose=False,
        )


def test_figure4_from_a_real_fit(small_fit):
    d = figure4_data(small_fit)
    model = d[d.source == "model"]
    assert len(model) == 9 and np.isfinite(model[["estimate", "ci_lower", "ci_upper"]]).all().all()
    # the model panel is the difference of expected_skill draws, recomputed here directly
    nd = figure4_newdata()
    draws = small_fit.expected_skill(nd[["training", "discussion", "clinician", "csw"]])
    flat = draws.transpose("chain", "draw", "row").values.reshape(-1, len(nd))
    prog = int(np.flatnonzero(nd.level == "programme")[0])
    r = model[model.level == "programme"].iloc[0]
    assert r.estimate == pytest.approx((flat[:, prog] - flat[:, 0]).mean(), rel=1e-12)
    fig = plot_figure4(small_fit)
    assert len(fig.axes) == 2


@pytest.mark.slow
def test_figure4_model_panel_recovers_simulated_effects():
    """A real fit of the skill model to simulated data with known effects (slow: ~1 minute)."""
    fit_mod = pytest.importorskip("pyramid.fit")
    from pyramid.data.simulate import expected_skill, simulate

    effects = {"programme": 0.8, "clinician": 0.5, "discussion": 0.3}
    from pyramid.errors import DataWarning

    sim = simulate((8, 4, 3, 2), effects=effects, seed=11, mix={"discussion_observed": 1.0})
    warnings.simplefilter("ignore", DataWarning)  # design notes, tested in test_validate
    res = fit_mod.fit(
        sim.data,
        model="skill",
        draws=500,
        tune=500,
        random_seed=3,
        progressbar=False,
        verbose=False,
    )
    model = figure4_data(res, ci_prob=0.95).query("source == 'model' and not reference")
    nd = figure4_newdata()
    truth = expected_skill(sim, nd[["training", "discussion", "clinician", "csw"]]).to_numpy()
    for _, r in model.iterrows():
        i = int(np.flatnonzero((nd.factor == r.factor) & (nd.level == str(r.level)))[0])
        assert r.ci_lower < truth[i] - truth[0] < r.ci_upper
