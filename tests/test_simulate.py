"""Tests of the simulator (pyramid.data.simulate) and `pyramid simulate`.

Tiers: argument checking and structure (tiny designs); moment checks on large simulated data
(each a fraction of a second: the simulator is vectorised); nothing here fits a model. Monte
Carlo checks use fixed seeds and tolerances of about 4 standard errors, each derived from the
sample size in the test, so a correct simulator fails them with probability ~1e-4 per seed
while a wrong mechanism (an effect on the wrong scale, a mis-indexed group effect) fails them.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy import optimize, stats

from pyramid.cli import main
from pyramid.data import published
from pyramid.data.schema import DISCUSSION_LEVELS, DOMAINS, EXTRA_DOMAINS, TRAINING_LEVELS
from pyramid.data.simulate import (
    EFFECT_NAMES,
    TAU,
    Layout,
    Simulation,
    default_effects,
    default_group_sds,
    default_mix,
    expected_skill,
    parse_assignments,
    simulate,
)
from pyramid.errors import InputError

TAU_A = np.asarray(TAU)


# ------------------------------------------------------------------------------------------
# helpers: the model's probabilities, written out independently of the module
# ------------------------------------------------------------------------------------------
def category_probs(x: np.ndarray, scale: float) -> np.ndarray:
    """P(y = 1..5) when y = 1 + #{k: x + noise > tau_k}, noise ~ N(0, scale)."""
    cdf = stats.norm.cdf((TAU_A[None, :] - np.asarray(x)[:, None]) / scale)  # P(y <= k)
    cdf = np.concatenate([np.zeros((len(cdf), 1)), cdf, np.ones((len(cdf), 1))], axis=1)
    return np.diff(cdf, axis=1)


def ordinal_probs(lin: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    cdf = stats.norm.cdf(cuts[None, :] - np.asarray(lin, dtype=float)[:, None])
    cdf = np.concatenate([np.zeros((len(cdf), 1)), cdf, np.ones((len(cdf), 1))], axis=1)
    return np.diff(cdf, axis=1)


def chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    keep = expected > 0
    chi2 = float((((observed - expected) ** 2)[keep] / expected[keep]).sum())
    return float(stats.chi2.sf(chi2, df=keep.sum() - 1))


# ------------------------------------------------------------------------------------------
# design and argument checking
# ------------------------------------------------------------------------------------------
def test_design_accepts_dataclass_dict_and_tuple():
    d = Layout(2, 3, 4, 5)
    assert Layout.coerce((2, 3, 4, 5)) == d
    assert Layout.coerce({"authorities": 2, "units": 3, "workers_per_unit": 4, "observations": 5}) == d
    assert (d.n_units, d.n_workers, d.n_observations) == (6, 24, 120)
    assert Layout(2.0, 1, 1, 1).authorities == 2  # a whole float is a whole number


@pytest.mark.parametrize(
    ("design", "needle"),
    [
        ((0, 1, 1, 1), "authorities must be a whole number >= 1, got 0"),
        ((1, -2, 1, 1), "units must be a whole number >= 1, got -2"),
        ((1, 1, 2.5, 1), "workers_per_unit must be a whole number >= 1, got 2.5"),
        ((1, 1, 1, "3"), "observations must be a whole number >= 1, got '3'"),
        ((1, 1, True, 1), "workers_per_unit must be a whole number >= 1, got True"),
        ({"authorities": 1, "units": 1, "workers_per_unit": 1}, "missing: ['observations']"),
        ({"authorities": 1, "units": 1, "workers_per_unit": 1, "observations": 1, "x": 2},
         "unknown: ['x']"),
        ((1, 2, 3), "a tuple of those four numbers"),
    ],
)
def test_design_errors_name_the_field(design, needle):
    with pytest.raises(InputError, match=None) as err:
        simulate(design, seed=1)
    assert needle in str(err.value)


def test_unknown_effect_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        simulate((1, 1, 1, 1), effects={"traning[mla]": 0.3}, seed=1)
    msg = str(err.value)
    assert "unknown effect 'traning[mla]'" in msg
    for name in EFFECT_NAMES:
        assert name in msg
    assert "mla=training[mla]" in msg


def test_aliases_give_the_same_simulation_as_canonical_names():
    a = simulate((3, 2, 2, 1), effects={"mla": 0.3, "programme": 0.9, "alpha": 2.0}, seed=5)
    b = simulate(
        (3, 2, 2, 1),
        effects={"training[mla]": 0.3, "training[programme]": 0.9, "intercept": 2.0},
        seed=5,
    )
    pd.testing.assert_frame_equal(a.data, b.data)
    assert a.truth["training[mla]"] == 0.3
    with pytest.raises(InputError, match="given twice"):
        simulate((1, 1, 1, 1), effects={"mla": 0.3, "training[mla]": 0.3}, seed=1)


@pytest.mark.parametrize(
    ("effects", "needle"),
    [
        ({"clinician": "big"}, "effect clinician must be a number; got 'big'"),
        ({"clinician": float("nan")}, "must be a finite number"),
        ({"zeta": (0.7, 0.7)}, "zeta must be a simplex"),
        ({"zeta": (1.2, -0.2)}, "zeta must be a simplex"),
        ({"zeta": 0.5}, "zeta must be 2 numbers"),
        ({"discussion_cutpoints": (1.0, 0.5)}, "discussion_cutpoints must be increasing"),
        ({"delta[empathy]": 0.2}, "must sum to zero"),
    ],
)
def test_bad_effect_values(effects, needle):
    with pytest.raises(InputError) as err:
        simulate((1, 1, 1, 1), effects=effects, seed=1)
    assert needle in str(err.value)


def test_effects_preset_names():
    with pytest.raises(InputError, match="preset must be one of report, null; got 'zero'"):
        simulate((1, 1, 1, 1), effects="zero", seed=1)
    with pytest.raises(InputError, match="effects must be a mapping"):
        simulate((1, 1, 1, 1), effects=[("clinician", 1.0)], seed=1)


@pytest.mark.parametrize(
    ("kind", "value", "needle"),
    [
        ("group_sds", {"sd_team": 0.1}, "unknown group SD 'sd_team'; known: sd_authority"),
        ("group_sds", {"sd_unit": -0.1}, "sd_unit must be >= 0; got -0.1"),
        ("group_sds", {"sigma_domain": 0}, "sigma_domain must be > 0; got 0"),
        ("mix", {"p_rsw": 0.5}, "unknown mix setting 'p_rsw'; known: p_csw"),
        ("mix", {"p_csw": 1.5}, "p_csw must be a probability in [0, 1]; got 1.5"),
        ("mix", {"p_missing_domain": 1.0}, "p_missing_domain must be < 1"),
        ("mix", {"training_usual": {"none": 0.5, "programme": 0.5}},
         "training_usual[programme] must be 0"),
        ("mix", {"training_csw": {"none": 0.5, "mla": 0.4}}, "training_csw must sum to 1"),
        ("mix", {"training_csw": {"nothing": 1.0}}, "unknown training level(s) ['nothing']"),
        ("mix", {"group_csw": "RSW"}, "group_csw must be one of rsw, usual, kft or None"),
    ],
)
def test_bad_group_sds_and_mix(kind, value, needle):
    with pytest.raises(InputError) as err:
        simulate((1, 1, 1, 1), seed=1, **{kind: value})
    assert needle in str(err.value)


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_bad_seed(seed):
    with pytest.raises(InputError, match="seed must be a whole number >= 0 or None"):
        simulate((1, 1, 1, 1), seed=seed)


# ------------------------------------------------------------------------------------------
# structure of the result
# ------------------------------------------------------------------------------------------
def test_same_seed_same_data_and_different_seed_different_data():
    a = simulate((4, 3, 2, 2), seed=11)
    b = simulate((4, 3, 2, 2), seed=11)
    c = simulate((4, 3, 2, 2), seed=12)
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.truth_frame(), b.truth_frame())
    assert not a.data["skill"].equals(c.data["skill"])
    fresh = simulate((4, 3, 2, 2))  # a seed is drawn, recorded and reproduces the data
    assert isinstance(fresh.seed, int)
    pd.testing.assert_frame_equal(fresh.data, simulate((4, 3, 2, 2), seed=fresh.seed).data)


def test_ids_nest_and_are_zero_padded():
    sim = simulate((12, 3, 2, 11), seed=1)
    d = sim.data
    assert len(d) == 12 * 3 * 2 * 11
    assert d["observation"].iloc[0] == "A01-U01-W1-O01"
    assert d["observation"].iloc[-1] == "A12-U03-W2-O11"
    assert d["observation"].is_unique
    assert (d["worker"] + "-" + d["observation"].str.rsplit("-", n=1).str[1]).equals(
        d["observation"]
    )
    assert all(u.startswith(a + "-") for u, a in zip(d["unit"], d["authority"], strict=True))
    assert all(w.startswith(u + "-") for w, u in zip(d["worker"], d["unit"], strict=True))
    assert d.groupby("authority")["unit"].nunique().eq(3).all()
    assert d.groupby("unit")["worker"].nunique().eq(2).all()
    assert simulate((150, 1, 1, 1), seed=1).data["authority"].iloc[-1] == "A150"


def test_data_is_canonical_and_passes_validate():
    from pyramid.data.validate import validate

    sim = simulate((5, 3, 2, 2), mix={"p_missing_domain": 0.3}, seed=2)
    v = validate(sim.data)
    pd.testing.assert_frame_equal(v.reset_index(drop=True), sim.data)


def test_data_agrees_with_the_unit_truth():
    sim = simulate((30, 4, 3, 2), mix={"discussion_observed": 0.5, "p_missing_domain": 0.2},
                   seed=3)
    d, units = sim.data, sim.units.set_index("unit")
    u = units.loc[d["unit"]]
    obs = u["observed"].to_numpy()
    assert obs.any() and (~obs).any()
    # observed units show their true discussion and clinician; the others are missing
    assert (d["discussion"].astype(object)[obs].to_numpy()
            == u["discussion"].astype(object)[obs].to_numpy()).all()
    assert (d["clinician"][obs].to_numpy() == u["clinician"][obs].to_numpy()).all()
    assert d["discussion"][~obs].isna().all() and d["clinician"][~obs].isna().all()
    # group labels follow the CSW status; programme only in CSW units
    assert ((d["group"] == "rsw").to_numpy() == (u["csw"] == 1).to_numpy()).all()
    assert not ((d["training"] == "programme").to_numpy() & (u["csw"] == 0).to_numpy()).any()
    # skill is the mean of the available analysed domains; the extra domains are not simulated
    scores = d[list(DOMAINS)].astype("float64")
    np.testing.assert_allclose(d["skill"], scores.mean(axis=1, skipna=True), rtol=1e-12)
    assert d[list(EXTRA_DOMAINS)].isna().all().all()
    assert scores.stack().dropna().isin([1, 2, 3, 4, 5]).all()


def test_group_labels_can_be_changed():
    sim = simulate((3, 4, 1, 1), mix={"group_csw": "kft", "group_usual": None, "p_csw": 0.5},
                   seed=4)
    assert set(sim.data["group"].dropna()) == {"kft"}
    assert sim.data["group"].isna().sum() == 6


def test_latent_values_are_built_from_the_realised_effects():
    """eta and s are the model's sums of the fixed part and the right group effects."""
    eff = {"intercept": 2.2, "mla": 0.4, "other": 0.1, "programme": 0.8, "clinician": 0.5,
           "discussion": 0.3, "zeta": (0.25, 0.75)}
    sim = simulate((6, 4, 3, 2), effects=eff, mix={"discussion_observed": 1.0}, seed=8)
    d, t, lat = sim.data, sim.truth, sim.latent
    b_train = d["training"].map({"none": 0.0, "other": 0.1, "mla": 0.4, "programme": 0.8})
    mono = d["discussion"].map({"non_systemic": 0.0, "green_shoots": 0.3 * 2 * 0.25,
                                "systemic": 0.3 * 2})
    fixed = 2.2 + b_train.astype(float) + 0.5 * d["clinician"].astype(float) + mono.astype(float)
    groups = (t["r_authority"].loc[d["authority"]].to_numpy()
              + t["r_unit"].loc[d["unit"]].to_numpy()
              + t["r_worker"].loc[d["worker"]].to_numpy())
    np.testing.assert_allclose(lat["eta"], fixed + groups, rtol=1e-10)
    np.testing.assert_allclose(lat["s"] - lat["eta"], t["r_observation"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(sim.units["r_unit"], t["r_unit"].to_numpy(), rtol=1e-12)


def test_truth_holds_both_scales():
    sds = {"sigma_domain": 0.8, "sd_unit": 0.4}
    sim = simulate((3, 2, 2, 2), effects={"mla": 0.6, "alpha": 2.9,
                                          "delta[empathy]": 0.2, "delta[clarity]": -0.2},
                   group_sds=sds, seed=1)
    t = sim.truth
    assert math.isclose(t["latent:training[mla]"], 0.6 / 0.8, rel_tol=1e-10)
    assert math.isclose(t["latent:delta[empathy]"], 0.2 / 0.8, rel_tol=1e-10)
    assert math.isclose(t["latent:sd_unit"], 0.4 / 0.8, rel_tol=1e-10)
    for k, tau in enumerate(TAU, start=1):
        assert math.isclose(t[f"latent:kappa[{k}]"], (tau - 2.9) / 0.8, rel_tol=1e-10)
        assert t[f"tau[{k}]"] == tau
    np.testing.assert_allclose(t["latent:r_worker"], t["r_worker"] / 0.8, rtol=1e-12)
    assert len(t["r_authority"]) == 3 and len(t["r_observation"]) == 24
    for name in ("zeta[1]", "zeta[2]", "discussion_cutpoints[1]", "p_csw", "sd_worker",
                 "training_csw[programme]", "p_clinician_usual", "discussion_observed"):
        assert name in t

    tf = sim.truth_frame()
    assert list(tf.columns) == ["parameter", "scale", "value"]
    assert not tf["parameter"].str.startswith("latent:").any()
    assert set(tf["scale"]) == {"skill", "latent", "discussion", "simplex", "share"}
    row = tf[(tf.parameter == "training[mla]") & (tf.scale == "latent")]
    assert math.isclose(row["value"].item(), 0.75, rel_tol=1e-10)
    assert tf.query("parameter == 'discussion_observed'")["scale"].item() == "share"
    n_realised = 2 * (3 + 6 + 12 + 24)
    assert len(tf) - len(sim.truth_frame(realised=False)) == n_realised
    assert "Simulation(3 authorities" in repr(sim) and isinstance(sim, Simulation)


def test_null_preset_zeroes_every_effect():
    sim = simulate((2, 2, 1, 1), effects="null", seed=1)
    for name in ("training[other]", "training[mla]", "training[programme]", "clinician",
                 "discussion", "discussion_clinician", "discussion_csw", "delta[empathy]"):
        assert sim.truth[name] == 0.0
    # overrides apply on top of the preset
    on_null = simulate((2, 2, 1, 1), effects={"clinician": 0.4}, preset="null", seed=1)
    assert on_null.truth["clinician"] == 0.4 and on_null.truth["training[mla]"] == 0.0


def test_simulation_is_fast():
    t0 = time.perf_counter()
    sim = simulate((150, 10, 4, 3), seed=0)
    elapsed = time.perf_counter() - t0
    assert len(sim.data) == 18_000
    assert elapsed < 2.0, f"150 x 10 x 4 x 3 took {elapsed:.2f} s"


# ------------------------------------------------------------------------------------------
# defaults: taken from the published tables
# ------------------------------------------------------------------------------------------
def test_default_effects_come_from_the_published_tables():
    eff = default_effects()
    none = published.cell(14, "none", "mean")
    for lv in TRAINING_LEVELS[1:]:
        assert eff[f"training[{lv}]"] == round(published.cell(14, lv, "mean") - none, 2)
    assert eff["zeta"] == (0.5, 0.5)
    # adjusted for each other, the clinician and discussion effects are smaller than the
    # report's separate differences (1.12 and 0.54 a step)
    assert 0.5 < eff["clinician"] < published.cell(15, "clinician_yes", "mean") - published.cell(
        15, "clinician_no", "mean")
    assert 0.0 < eff["discussion"] < 0.54
    mix = default_mix()
    assert mix["p_csw"] == 27 / 67 and mix["discussion_observed"] == 22 / 67
    assert math.isclose(mix["training_csw"]["programme"], 10 / 27, rel_tol=1e-12)
    assert mix["training_usual"]["programme"] == 0.0
    # the overall clinician share is the crosstab's 10 of 22
    share = mix["p_csw"] * mix["p_clinician_csw"] + (1 - mix["p_csw"]) * mix["p_clinician_usual"]
    assert math.isclose(share, 10 / 22, rel_tol=1e-12)
    assert set(default_group_sds()) == {"sd_authority", "sd_unit", "sd_worker",
                                        "sd_observation", "sigma_domain"}


def test_default_discussion_equation_is_the_crosstab_mle():
    """The defaults' (c1, c2, g) maximise an independently written crosstab likelihood."""
    from pyramid.data.simulate import _discussion_equation_mle

    # Part 4: non-systemic 4 (0 with clinician), green shoots 9 (3), systemic 9 (7)
    ct = published.table("crosstab")
    n = ct[ct.stat == "n"]["value"].to_numpy()
    with_c = ct[ct.stat == "count"]["value"].to_numpy()

    def loglik(theta):
        c1, c2, g = theta
        p0 = ordinal_probs(np.array([0.0]), np.array([c1, c2]))[0]
        p1 = ordinal_probs(np.array([g]), np.array([c1, c2]))[0]
        return float(((n - with_c) * np.log(p0)).sum() + (with_c * np.log(p1)).sum())

    theta = np.array(_discussion_equation_mle())
    grad = optimize.approx_fprime(theta, loglik, 1e-7)
    np.testing.assert_allclose(grad, 0.0, atol=1e-4)
    rng = np.random.default_rng(0)
    for _ in range(20):  # and it is a maximum
        assert loglik(theta + rng.normal(0, 0.05, 3)) < loglik(theta)
    eff = default_effects()
    assert eff["discussion_cutpoints"] == (round(theta[0], 2), round(theta[1], 2))


def test_defaults_give_data_like_the_report():
    """With the defaults the group means and spread are near Table 10.

    The intercept is chosen so that the comparison group's expected mean is Table 10's 2.50;
    the RSW mean (3.24) and the SDs are not targets, so they are checked loosely: within 0.2
    of the mean, 0.15 of the SDs. The usual-group mean is checked at 4 standard errors of a
    mean over 300 authorities (SE from the authority means of this simulation).
    """
    sim = simulate((300, 10, 4, 3), seed=2024)
    d = sim.data
    usual = d[d["group"] == "usual"]
    by_auth = usual.groupby("authority")["skill"].mean()
    se = by_auth.std() / math.sqrt(len(by_auth))
    t10 = lambda stat, group, row="skill": published.cell(10, row, stat, group)  # noqa: E731
    assert abs(usual["skill"].mean() - t10("mean", "usual")) < 4 * se + 0.005  # 0.005: rounding
    rsw = d[d["group"] == "rsw"]
    assert abs(rsw["skill"].mean() - t10("mean", "rsw")) < 0.2
    assert abs(usual["skill"].std() - t10("sd", "usual")) < 0.15
    assert abs(rsw["skill"].std() - t10("sd", "rsw")) < 0.15
    for dom in DOMAINS:
        assert abs(usual[dom].astype(float).std() - t10("sd", "usual", dom)) < 0.2


# ------------------------------------------------------------------------------------------
# expected skill
# ------------------------------------------------------------------------------------------
def test_expected_skill_integrates_the_latent_noise_exactly():
    """The closed form against Monte Carlo of the generative model's last two lines.

    For each eta, 200,000 draws of r_obs + e and the rounding to 1-5: the mean score has a
    standard error below 0.003; the check is at 4 standard errors.
    """
    sds = {"sd_observation": 0.3, "sigma_domain": 0.7}
    deltas = {"delta[collaboration]": 0.4, "delta[empathy]": -0.4}
    rng = np.random.default_rng(1)
    for alpha in (0.5, 1.6, 3.0, 4.4, 5.6):
        sim = simulate((1, 1, 1, 1), effects={"alpha": alpha, **deltas}, group_sds=sds, seed=1)
        new = pd.DataFrame({"training": ["none"], "clinician": [0],
                            "discussion": ["non_systemic"]})
        e = expected_skill(sim, new).item()
        n = 200_000
        delta = np.array([sim.truth[f"delta[{d}]"] for d in DOMAINS])
        z = (alpha + rng.normal(0, 0.3, (n, 1)) + delta[None, :]
             + rng.normal(0, 0.7, (n, len(DOMAINS))))
        skill = (1 + (z[:, :, None] > TAU_A).sum(axis=2)).mean(axis=1)
        se = skill.std() / math.sqrt(n)
        assert abs(e - skill.mean()) < 4 * se, (alpha, e, skill.mean(), se)


def test_expected_skill_is_attenuated_near_the_ends_of_the_scale():
    def effect_at(alpha):
        sim = simulate((1, 1, 1, 1), effects={"alpha": alpha, "mla": 0.5}, seed=1)
        new = pd.DataFrame({"training": ["none", "mla"], "clinician": 0,
                            "discussion": "non_systemic"})
        e = expected_skill(sim, new)
        return e.iloc[1] - e.iloc[0]

    middle = effect_at(2.75)  # none at 2.75, mla at 3.25: around the middle of the scale
    assert abs(middle - 0.5) < 0.01
    # a half-point effect near the ceiling (4.7 -> 5.2) or the floor (0.8 -> 1.3) moves the
    # expected score by much less
    assert effect_at(4.7) < 0.3 and effect_at(0.8) < 0.3


def test_expected_skill_integrates_missing_discussion_and_clinician():
    eff = {"clinician": 0.6, "discussion": 0.4, "zeta": (0.3, 0.7), "g_clinician": 0.9,
           "g_csw": 0.5, "discussion_cutpoints": (-0.2, 0.9), "mla": 0.3}
    mix = {"p_clinician_csw": 0.7, "p_clinician_usual": 0.2}
    sim = simulate((1, 1, 1, 1), effects=eff, mix=mix, seed=1)
    cuts = np.array([-0.2, 0.9])
    levels = list(DISCUSSION_LEVELS)

    def fixed(csw, clin, disc, training="mla"):
        new = pd.DataFrame({"training": [training], "csw": [csw], "clinician": [clin],
                            "discussion": [disc]})
        return expected_skill(sim, new).item()

    for csw in (0, 1):
        p_c = {1: mix["p_clinician_csw"] if csw else mix["p_clinician_usual"]}
        p_c[0] = 1 - p_c[1]
        p_k = {c: ordinal_probs(np.array([0.9 * c + 0.5 * csw]), cuts)[0] for c in (0, 1)}
        # discussion missing, clinician fixed: average over P(discussion | clinician, csw)
        for c in (0, 1):
            want = sum(p_k[c][k] * fixed(csw, c, levels[k]) for k in range(3))
            got = fixed(csw, c, None)
            assert math.isclose(got, want, rel_tol=1e-10)
        # both missing: over P(clinician | csw) P(discussion | clinician, csw)
        want = sum(p_c[c] * p_k[c][k] * fixed(csw, c, levels[k]) for c in (0, 1)
                   for k in range(3))
        assert math.isclose(fixed(csw, None, None), want, rel_tol=1e-10)
        # clinician missing, discussion fixed: Bayes
        for k in range(3):
            post = np.array([p_c[c] * p_k[c][k] for c in (0, 1)])
            post /= post.sum()
            want = sum(post[c] * fixed(csw, c, levels[k]) for c in (0, 1))
            assert math.isclose(fixed(csw, None, levels[k]), want, rel_tol=1e-10)
    # csw comes from the group or from programme training when no csw column is given
    a = expected_skill(sim, pd.DataFrame({"training": ["none"], "group": ["rsw"]})).item()
    assert math.isclose(a, fixed(1, None, None, "none"), rel_tol=1e-12)
    b = expected_skill(sim, pd.DataFrame({"training": ["programme"]})).item()
    assert math.isclose(b, fixed(1, None, None, "programme"), rel_tol=1e-12)


@pytest.mark.parametrize(
    ("newdata", "needle"),
    [
        (pd.DataFrame({"clinician": [1]}), "needs a 'training' column"),
        (pd.DataFrame({"training": ["lots"]}), "unknown level(s) ['lots']"),
        (pd.DataFrame({"training": [None]}), "'training' must not be missing"),
        (pd.DataFrame({"training": ["none"], "clinician": [2]}), "must be 0, 1 or missing"),
        (pd.DataFrame({"training": ["none"], "discussion": ["great"]}), "allowed: non_systemic"),
    ],
)
def test_expected_skill_errors(newdata, needle):
    sim = simulate((1, 1, 1, 1), seed=1)
    with pytest.raises(InputError) as err:
        expected_skill(sim, newdata)
    assert needle in str(err.value)
    with pytest.raises(InputError, match="truth lacks intercept, training"):
        expected_skill({}, pd.DataFrame({"training": ["none"]}))


# ------------------------------------------------------------------------------------------
# moments of large simulated data sets
# ------------------------------------------------------------------------------------------
def test_mean_skill_differences_match_the_expected_skill():
    """Raw mean differences between training levels estimate the model's expected-skill
    differences (group effects, clinician and discussion integrated out).

    Within each authority, mean skill of a level minus mean skill of ``none`` (usual units for
    other/mla, CSW units for programme); the authority differences are independent, so their SE
    is their SD / sqrt(number of authorities). Checked at 4 SE.
    """
    eff = {"other": 0.3, "mla": 0.6, "programme": 1.2, "alpha": 2.2}
    sim = simulate((400, 10, 5, 1), effects=eff, seed=7)
    d = sim.data
    truth_rows = pd.DataFrame({
        "training": ["none", "other", "mla", "none", "programme"],
        "csw": [0, 0, 0, 1, 1],
    })
    e = expected_skill(sim, truth_rows, integrate_groups=True).to_numpy()
    cases = [("usual", "other", e[1] - e[0]), ("usual", "mla", e[2] - e[0]),
             ("rsw", "programme", e[4] - e[3])]
    for group, level, want in cases:
        sub = d[d["group"] == group]
        means = sub.groupby(["authority", "training"], observed=True)["skill"].mean().unstack()
        diff = (means[level] - means["none"]).dropna()
        se = diff.std() / math.sqrt(len(diff))
        assert len(diff) > 300
        assert abs(diff.mean() - want) < 4 * se, (level, diff.mean(), want, se)
    # and the expected differences are the coefficients, slightly attenuated (alpha 2.2)
    assert 0.25 < e[1] - e[0] < 0.3 and 1.0 < e[4] - e[3] < 1.2


def nested_anova(values: np.ndarray, design: Layout) -> dict[str, tuple[float, float]]:
    """Method-of-moments variance components of a balanced 4-level nested design.

    Returns, per level, (estimate, approximate SE) with the normal-theory variance of a mean
    square, var(MS) = 2 E[MS]^2 / df, and the observed MS in place of E[MS].
    """
    a, u, w, o = design.authorities, design.units, design.workers_per_unit, design.observations
    y = values.reshape(a, u, w, o)
    m_w = y.mean(axis=3)
    m_u = m_w.mean(axis=2)
    m_a = m_u.mean(axis=1)
    grand = m_a.mean()
    ms = {
        "a": u * w * o * ((m_a - grand) ** 2).sum() / (a - 1),
        "u": w * o * ((m_u - m_a[:, None]) ** 2).sum() / (a * (u - 1)),
        "w": o * ((m_w - m_u[..., None]) ** 2).sum() / (a * u * (w - 1)),
        "e": ((y - m_w[..., None]) ** 2).sum() / (a * u * w * (o - 1)),
    }
    df = {"a": a - 1, "u": a * (u - 1), "w": a * u * (w - 1), "e": a * u * w * (o - 1)}
    coef = {"a": u * w * o, "u": w * o, "w": o, "e": 1}
    below = {"a": "u", "u": "w", "w": "e"}
    out = {}
    for k in ("a", "u", "w"):
        est = (ms[k] - ms[below[k]]) / coef[k]
        var = 2 * ms[k] ** 2 / df[k] + 2 * ms[below[k]] ** 2 / df[below[k]]
        out[k] = (est, math.sqrt(var) / coef[k])
    out["e"] = (ms["e"], ms["e"] * math.sqrt(2 / df["e"]))
    return out


NULL_SDS = {"sd_authority": 0.3, "sd_unit": 0.25, "sd_worker": 0.35, "sd_observation": 0.3,
            "sigma_domain": 0.6}


def test_latent_variance_components_are_the_group_sds():
    """Nested ANOVA of the latent s (null effects) recovers the four SDs' squares at 4 SE."""
    design = Layout(200, 5, 4, 3)
    sim = simulate(design, effects="null", group_sds=NULL_SDS, seed=21)
    comps = nested_anova(sim.latent["s"].to_numpy(), design)
    for k, name in zip("auwe", ("sd_authority", "sd_unit", "sd_worker", "sd_observation"),
                       strict=True):
        est, se = comps[k]
        assert abs(est - NULL_SDS[name] ** 2) < 4 * se, (name, est, NULL_SDS[name] ** 2, se)


def test_skill_variance_components_match_the_model():
    """Nested ANOVA of the observed skill against the components the model implies.

    Skill is a nonlinear (rounded, bounded) function of s, so its variance components are not
    the SDs' squares. They are computed here exactly by Gauss-Hermite quadrature: with
    g(x; v) = 1 + mean_d sum_k Phi((x + delta_d - tau_k) / sqrt(v + sigma^2)), E[skill | a] =
    g(alpha + r_a; sd_u^2 + sd_w^2 + sd_obs^2), and so on down the levels; the residual is
    Var(skill) minus the three (skill's variance from the five conditionally independent
    domains). Checked at 4 SE of the method-of-moments estimates.
    """
    design = Layout(200, 5, 4, 3)
    alpha = 2.8
    sim = simulate(design, effects={"alpha": alpha, "delta[empathy]": 0.3,
                                    "delta[clarity]": -0.3},
                   preset="null", group_sds=NULL_SDS, mix={"p_missing_domain": 0.0}, seed=22)
    sd = NULL_SDS
    sig = sd["sigma_domain"]
    delta = np.array([sim.truth[f"delta[{d}]"] for d in DOMAINS])
    nodes, weights = hermegauss(80)
    weights = weights / weights.sum()

    def g(x, v):
        z = (x[:, None, None] + delta[None, :, None] - TAU_A[None, None, :]) / math.sqrt(v + sig**2)
        return 1 + stats.norm.cdf(z).sum(axis=2).mean(axis=1)

    def var_of(sd_above, v_below):
        vals = g(alpha + sd_above * nodes, v_below)
        mean = (weights * vals).sum()
        return (weights * (vals - mean) ** 2).sum()

    va = var_of(sd["sd_authority"], sd["sd_unit"] ** 2 + sd["sd_worker"] ** 2
                + sd["sd_observation"] ** 2)
    vau = var_of(math.hypot(sd["sd_authority"], sd["sd_unit"]),
                 sd["sd_worker"] ** 2 + sd["sd_observation"] ** 2)
    vauw = var_of(math.sqrt(sd["sd_authority"] ** 2 + sd["sd_unit"] ** 2 + sd["sd_worker"] ** 2),
                  sd["sd_observation"] ** 2)
    # total variance of skill: s ~ N(alpha, total^2), domains independent given s
    total = math.sqrt(sum(sd[k] ** 2 for k in ("sd_authority", "sd_unit", "sd_worker",
                                               "sd_observation")))
    s = alpha + total * nodes
    p = category_probs(np.repeat(s, len(DOMAINS)) + np.tile(delta, len(s)), sig)
    k = np.arange(1, 6)
    m_d = (p * k).sum(axis=1).reshape(len(s), len(DOMAINS))
    v_d = (p * k**2).sum(axis=1).reshape(len(s), len(DOMAINS)) - m_d**2
    e_skill = m_d.mean(axis=1)
    var_total = ((weights * v_d.sum(axis=1) / len(DOMAINS) ** 2).sum()
                 + (weights * (e_skill - (weights * e_skill).sum()) ** 2).sum())
    want = {"a": va, "u": vau - va, "w": vauw - vau, "e": var_total - vauw}

    comps = nested_anova(sim.data["skill"].to_numpy(), design)
    for key in "auwe":
        est, se = comps[key]
        assert abs(est - want[key]) < 4 * se, (key, est, want[key], se)


def test_domain_scores_follow_the_probit_given_s():
    """Counts of each score in each domain against sum_i P(y_id = k | s_i): chi-square.

    A fixed seed; the check fails at p < 0.001 (a wrong threshold, delta sign or noise SD
    moves thousands of the 100,000 ratings and gives p ~ 0).
    """
    deltas = {"delta[collaboration]": 0.3, "delta[empathy]": -0.1, "delta[clarity]": -0.2}
    sim = simulate((200, 5, 4, 5), effects=deltas, group_sds={"sigma_domain": 0.7},
                   mix={"p_missing_domain": 0.0}, seed=31)
    s = sim.latent["s"].to_numpy()
    means = {}
    for dom in DOMAINS:
        y = sim.data[dom].astype(int).to_numpy()
        probs = category_probs(s + sim.truth[f"delta[{dom}]"], 0.7)
        observed = np.bincount(y, minlength=6)[1:]
        assert chi2_pvalue(observed, probs.sum(axis=0)) > 1e-3, dom
        means[dom] = y.mean()
    assert means["collaboration"] > means["purposefulness"] > means["clarity"]


def test_factor_mix_and_discussion_equation():
    """Unit-level draws: exact CSW count, clinician ~ Bernoulli(p | csw), discussion ~ the
    ordinal probit given (clinician, csw) (chi-square per cell, p > 0.001), observation and
    domain missingness shares and the training mix (binomial / chi-square, 4 SE)."""
    eff = {"g_clinician": 1.0, "g_csw": 0.7, "discussion_cutpoints": (-0.3, 0.8)}
    mix = {"p_csw": 0.35, "p_clinician_csw": 0.65, "p_clinician_usual": 0.25,
           "discussion_observed": 0.4, "p_missing_domain": 0.1,
           "training_csw": {"none": 0.2, "other": 0.1, "mla": 0.3, "programme": 0.4},
           "training_usual": {"none": 0.5, "other": 0.3, "mla": 0.2}}
    sim = simulate((2000, 5, 2, 1), effects=eff, mix=mix, seed=41)
    u = sim.units
    n_units = len(u)
    assert u["csw"].sum() == round(0.35 * n_units)

    def near(share, p, n):
        return abs(share - p) < 4 * math.sqrt(p * (1 - p) / n)

    for csw, p in ((1, 0.65), (0, 0.25)):
        sel = u[u["csw"] == csw]
        assert near(sel["clinician"].mean(), p, len(sel))
        for clin in (0, 1):
            cell = sel[sel["clinician"] == clin]
            observed = cell["discussion"].value_counts().reindex(DISCUSSION_LEVELS).to_numpy()
            probs = ordinal_probs(np.array([1.0 * clin + 0.7 * csw]), np.array([-0.3, 0.8]))[0]
            assert chi2_pvalue(observed, probs * len(cell)) > 1e-3, (csw, clin)
    assert near(u["observed"].mean(), 0.4, n_units)
    scores = sim.data[list(DOMAINS)]
    assert near(scores.isna().to_numpy().mean(), 0.1, scores.size)
    workers = sim.data.drop_duplicates("worker")
    for group, key in (("rsw", "training_csw"), ("usual", "training_usual")):
        sel = workers[workers["group"] == group]
        observed = sel["training"].value_counts().reindex(TRAINING_LEVELS).to_numpy()
        probs = np.array([mix[key].get(lv, 0.0) for lv in TRAINING_LEVELS])
        assert chi2_pvalue(observed, probs * len(sel)) > 1e-3, group
        assert observed[probs == 0].sum() == 0


# ------------------------------------------------------------------------------------------
# NAME=VALUE parsing and the CLI
# ------------------------------------------------------------------------------------------
def test_parse_assignments():
    got = parse_assignments(["mla=0.3", "zeta=0.2,0.8", " clinician = -1 ",
                             "training_csw=none:0.5,programme:0.5", "group_usual=none",
                             "delta[empathy]=0.1"])
    assert got == {"mla": 0.3, "zeta": [0.2, 0.8], "clinician": -1.0,
                   "training_csw": {"none": 0.5, "programme": 0.5}, "group_usual": None,
                   "delta[empathy]": 0.1}
    with pytest.raises(InputError, match="must look like NAME=VALUE"):
        parse_assignments(["mla"])
    with pytest.raises(InputError, match="given twice"):
        parse_assignments(["mla=1", "mla=2"])


def test_cli_simulate_writes_data_and_truth(tmp_path, capsys):
    out, truth = tmp_path / "sim.csv", tmp_path / "truth.csv"
    code = main(["simulate", "--authorities", "3", "--units", "2", "--workers-per-unit", "2",
                 "--observations", "2", "--effect", "mla=0.3", "--effect", "zeta=0.2,0.8",
                 "--sd", "sd_unit=0.1", "--mix", "p_csw=0.5", "--seed", "9",
                 "--out", str(out), "--truth", str(truth)])
    assert code == 0
    err = capsys.readouterr().err
    assert "wrote 24 observations" in err and str(out) in err and str(truth) in err
    data = pd.read_csv(out)
    assert len(data) == 24 and data["observation"].iloc[0] == "A01-U01-W1-O1"
    tf = pd.read_csv(truth)
    assert list(tf.columns) == ["parameter", "scale", "value"]
    values = tf[tf.scale != "latent"].set_index("parameter")["value"]
    assert values["training[mla]"] == 0.3 and values["zeta[1]"] == 0.2
    assert values["sd_unit"] == 0.1 and values["p_csw"] == 0.5
    # the same call from Python gives the same data
    py = simulate((3, 2, 2, 2), effects={"mla": 0.3, "zeta": (0.2, 0.8)},
                  group_sds={"sd_unit": 0.1}, mix={"p_csw": 0.5}, seed=9)
    np.testing.assert_allclose(data["skill"], py.data["skill"], rtol=1e-12)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--effect", "mla"], "--effect must look like NAME=VALUE"),
        (["--effect", "bogus=1"], "unknown effect 'bogus'"),
        (["--effect", "zeta=1"], "zeta must be 2 numbers"),
        (["--sd", "sd_unit=-1"], "sd_unit must be >= 0"),
        (["--preset", "zero"], "preset must be one of report, null"),
    ],
)
def test_cli_simulate_bad_input_exits_2(tmp_path, capsys, extra, needle):
    code = main(["simulate", "-A", "2", "-U", "1", "-W", "1", "-O", "1",
                 "--out", str(tmp_path / "x.csv"), *extra])
    assert code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_cli_simulate_help(capsys):
    assert main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--effect" in out and "training[other|mla|programme]" in out
