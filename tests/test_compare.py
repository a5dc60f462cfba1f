"""Posterior comparisons (pyramid.compare): syntax, defaults, marginal standardisation,
Savage-Dickey Bayes factors, real fits and the CLI.

Tiers: the parser, the defaults, the arithmetic of settings and the Bayes factors are checked
without sampling (a fake result whose ``expected_skill`` is known exactly); two small real fits
(few draws, fixed seeds) check the behaviour the issue asks for and that the path model's
direct, indirect and total effects agree with the model's own derived quantities.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from pyramid.compare import (
    COLUMNS_DOC,
    SD_MIN_DRAWS,
    compact,
    compare,
    default_contrasts,
    parse_contrast,
    savage_dickey,
)
from pyramid.data.schema import DISCUSSION_LEVELS, TRAINING_LEVELS
from pyramid.errors import InputError
from pyramid.specs import load_spec

SKILL = load_spec("skill")
PYRAMID = load_spec("pyramid")


# ---------------------------------------------------------------------------------------------
# a fake fitted result: expected_skill known exactly
# ---------------------------------------------------------------------------------------------
class _Named:
    def __init__(self, name):
        self.name = name


class FakeResult:
    """Stands in for a FitResult (compare may use only expected_skill, spec, study, data,
    priors and whether idata has a prior group). ``expected_skill = scale_s * f(row)`` for each draw s,
    with ``f`` given, so every contrast is ``scale_s`` times a number computed by hand."""

    def __init__(self, spec, data, f, *, prior=True, seed=0, chains=2, draws=300):
        rng = np.random.default_rng(seed)
        self.spec, self.data, self.f = spec, data, f
        self.study = spec.the_study
        self.priors = _Named("fake")
        groups = {"posterior": xr.Dataset(
            {"scale": (("chain", "draw"), rng.normal(1.0, 0.1, (chains, draws)))})}
        if prior:
            groups["prior"] = xr.Dataset(
                {"scale": (("chain", "draw"), rng.normal(0.0, 1.0, (1, 2000)))})
        self.idata = xr.DataTree.from_dict(groups)
        self.calls: list[pd.DataFrame] = []
        self.converged = True

    def scale(self, group="posterior"):
        return self.idata[group]["scale"].values

    def expected_skill(self, newdata, group="posterior"):
        self.calls.append(newdata.copy())
        vals = np.array([self.f(r) for _, r in newdata.iterrows()], dtype=float)
        s = self.scale(group)
        return xr.DataArray(s[:, :, None] * vals[None, None, :], dims=("chain", "draw", "row"))


def _skill_data():
    rows = [("none", 0, "non_systemic"), ("none", 1, "systemic"), ("none", 0, "green_shoots"),
            ("other", 0, "non_systemic"), ("other", 1, "systemic"), ("mla", 1, "green_shoots"),
            ("programme", 1, "systemic"), ("programme", 0, "green_shoots")]
    df = pd.DataFrame(rows, columns=["training", "clinician", "discussion"])
    df["training"] = pd.Categorical(df["training"], TRAINING_LEVELS, ordered=True)
    df["discussion"] = pd.Categorical(df["discussion"], DISCUSSION_LEVELS, ordered=True)
    df["clinician"] = df["clinician"].astype("Int8")
    return df


COEF = {"other": 0.2, "mla": 0.45, "programme": 0.9, "clinician": 0.6,
        "green_shoots": 0.3, "systemic": 0.7}


def _linear(r):
    return (2.0 + COEF.get(r["training"], 0.0) + COEF["clinician"] * int(r["clinician"])
            + COEF.get(r["discussion"], 0.0))


def _path_data():
    """Seven rows of five units; csw is 1 for the rsw units u1 and u4 (docs/architecture.md)."""
    df = pd.DataFrame({
        "unit": ["u1", "u1", "u2", "u2", "u3", "u4", "u5"],
        "group": ["rsw", "rsw", "usual", "usual", "usual", "rsw", "usual"],
        "training": ["none", "programme", "none", "other", "mla", "none", "none"],
        "discussion": ["systemic", None, "non_systemic", None, "green_shoots", None, None],
        "clinician": [1, None, 0, None, 0, None, None],
    })
    df["training"] = pd.Categorical(df["training"], TRAINING_LEVELS, ordered=True)
    df["discussion"] = pd.Categorical(df["discussion"], DISCUSSION_LEVELS, ordered=True)
    df["clinician"] = pd.array(df["clinician"], dtype="Int8")
    return df


def _path_f(r):
    """Not additive, so how unnamed covariates are held shows in the numbers. A missing
    discussion (integrated out, '?') counts as 7."""
    disc = 7.0 if pd.isna(r["discussion"]) else float(DISCUSSION_LEVELS.index(r["discussion"]))
    clin = 0.0 if pd.isna(r["clinician"]) else float(r["clinician"])
    return (disc * (1.0 + clin) + 1000.0 * (r["training"] == "programme")
            + 100.0 * (r["training"] == "other") + 10000.0 * r["csw"])


# ---------------------------------------------------------------------------------------------
# the contrast syntax
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, definition, label, effect",
    [
        ("training=programme - training=none", "training=programme - training=none",
         "training=programme - training=none", "direct"),
        ("  my label :  training = programme-training=none ", "training=programme - training=none",
         "my label", "direct"),
        ("{training=programme, discussion=systemic, clinician=1} - {clinician=0, "
         "discussion=non_systemic, training=none}",
         "{training=programme, clinician=1, discussion=systemic} - "
         "{training=none, clinician=0, discussion=non_systemic}", None, "direct"),
        ("training=programme - training=none|other|mla",
         "training=programme - training=none|other|mla", None, "direct"),
        ("clinician=yes - clinician=No", "clinician=1 - clinician=0", None, "direct"),
        ("discussion=Green Shoots - discussion=non_systemic",
         "discussion=green_shoots - discussion=non_systemic", None, "direct"),
    ],
)
def test_parse_valid(text, definition, label, effect):
    c = parse_contrast(text, SKILL)
    assert c.definition == definition
    assert c.label == (label or definition) and c.key == c.label
    assert c.effect == effect


def test_parse_question_mark_gives_a_total_effect_in_the_path_model():
    c = parse_contrast("{clinician=1, discussion=?} - {clinician=0, discussion=?}", PYRAMID)
    assert c.effect == "total"
    assert c.definition == "{clinician=1, discussion=?} - {clinician=0, discussion=?}"
    assert parse_contrast("csw=1 - csw=0", PYRAMID).definition == "csw=1 - csw=0"


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("", ["non-empty string"]),
        ("training=programme", ["exactly one '-'", "found 0"]),
        ("training=programme - training=none - training=mla", ["found 2"]),
        ("{training=programme - training=none", ["unbalanced braces"]),
        ("training programme - training=none", ["bad token 'training programme'",
                                                 "column=value", "training, clinician"]),
        ("trainin=programme - training=none", ["unknown column 'trainin'",
                                               "training, clinician, discussion"]),
        ("training=prog - training=none", ["unknown level 'prog'", "none, other, mla, programme"]),
        ("clinician=2 - clinician=0", ["'clinician' must be 0, 1", "got '2'"]),
        ("clinician=? - clinician=0", ["'clinician=?'", "integrate out",
                                       "this model allows 0, 1"]),
        ("{training=mla, training=none} - training=none", ["set twice"]),
        ("training= - training=none", ["has no value", "allowed: none"]),
        ("training=none|none - training=mla", ["named twice"]),
        ("training=mla - training=mla", ["the two sides are the same"]),
        (": training=mla - training=none", ["empty label"]),
        ("{} - training=none", ["sets nothing"]),
        ("training=mla - ", ["a side of '-' is empty"]),
        ("training=mla} - {training=none", ["misplaced brace"]),
        ("csw=1 - csw=0", ["unknown column 'csw'"]),  # the skill model does not use csw
    ],
)
def test_parse_errors_name_the_bad_token(text, fragments):
    with pytest.raises(InputError) as err:
        parse_contrast(text, SKILL)
    for frag in fragments:
        assert frag in str(err.value), (frag, str(err.value))


# ---------------------------------------------------------------------------------------------
# default contrasts
# ---------------------------------------------------------------------------------------------
def test_default_contrasts_of_the_shipped_models():
    keys = {name: [c.key for c in default_contrasts(load_spec(name))[0]]
            for name in ("skill", "domains", "pyramid")}
    common = ["other_vs_none", "mla_vs_none", "programme_vs_none", "programme_vs_others",
              "green_shoots_vs_non_systemic", "systemic_vs_non_systemic",
              "systemic_vs_green_shoots", "clinician_yes_vs_no"]
    assert keys["skill"] == [*common, "pyramid_vs_none"]
    assert keys["domains"] == keys["skill"]
    assert keys["pyramid"] == [*common, "clinician_indirect", "clinician_total", "csw_direct",
                               "csw_indirect", "csw_total", "pyramid_vs_none"]
    cs = {c.key: c for c in default_contrasts(PYRAMID)[0]}
    assert cs["clinician_total"].definition == (
        "{clinician=1, discussion=?} - {clinician=0, discussion=?}")
    assert cs["csw_total"].definition == (
        "{csw=1, discussion=?, clinician=?} - {csw=0, discussion=?, clinician=?}")
    assert cs["clinician_indirect"].definition == "clinician_total - clinician_yes_vs_no"
    assert cs["pyramid_vs_none"].definition == (
        "{csw=1, discussion=systemic, clinician=1} - {csw=0, discussion=non_systemic, "
        "clinician=0}")
    assert "0 by construction" in cs["csw_direct"].note
    assert default_contrasts(SKILL)[1] == []


def test_default_contrasts_leave_out_terms_the_model_lacks(tmp_path):
    text = (load_spec("skill").text.replace('terms = ["training", "clinician", "mo(discussion)"]',
                                            'terms = ["training", "mo(discussion)"]')
            .replace('name = "skill"', 'name = "no_clinician"'))
    path = tmp_path / "no_clinician.toml"
    path.write_text(text)
    spec = load_spec(str(path))
    contrasts, notes = default_contrasts(spec)
    keys = [c.key for c in contrasts]
    assert "clinician_yes_vs_no" not in keys and "pyramid_vs_none" not in keys
    assert "programme_vs_none" in keys and "systemic_vs_non_systemic" in keys
    assert any("clinician contrast" in n and "'clinician'" in n for n in notes)
    assert any("complete pyramid" in n for n in notes)


# ---------------------------------------------------------------------------------------------
# marginal standardisation, exactly
# ---------------------------------------------------------------------------------------------
def test_gaussian_contrasts_are_the_coefficients():
    res = FakeResult(SKILL, _skill_data(), _linear)
    t = compare(res).set_index("key")
    s = res.scale().ravel()
    assert ["key", *t.columns] == ["key", *(c for c in COLUMNS_DOC if c != "key")]
    expected = {
        "other_vs_none": COEF["other"], "mla_vs_none": COEF["mla"],
        "programme_vs_none": COEF["programme"], "clinician_yes_vs_no": COEF["clinician"],
        "green_shoots_vs_non_systemic": COEF["green_shoots"],
        "systemic_vs_non_systemic": COEF["systemic"],
        "systemic_vs_green_shoots": COEF["systemic"] - COEF["green_shoots"],
        "pyramid_vs_none": COEF["systemic"] + COEF["clinician"],
        # the rest (3 none, 2 other, 1 mla in the data) weighted as in the data
        "programme_vs_others": COEF["programme"] - (2 * COEF["other"] + COEF["mla"]) / 6,
    }
    for key, c in expected.items():
        draws = s * c
        r = t.loc[key]
        assert r.estimate == pytest.approx(draws.mean(), rel=1e-10), key
        assert r.sd == pytest.approx(draws.std(ddof=1), rel=1e-10), key
        lo, hi = np.quantile(draws, [0.025, 0.975])
        assert (r.ci_lower, r.ci_upper) == pytest.approx((lo, hi), rel=1e-10), key
        assert r.p_rope == pytest.approx(float((np.abs(draws) < 0.1).mean()), abs=0)
        assert r.effect == "direct" and r.model == "skill" and r.priors == "fake"
    assert (t["n_draws"] == s.size).all() and (t["prior_draws"] == 2000).all()
    assert "marginal standardisation" in t.attrs["notes"][-1]


def test_every_setting_covers_every_row_of_the_data_once():
    # rows with the same covariates are evaluated once (their weights summed)
    data = pd.concat([_skill_data(), _skill_data().iloc[:3]], ignore_index=True)
    res = FakeResult(SKILL, data, _linear)
    compare(res, "training=programme - training=none")
    nd = res.calls[0]
    assert (nd["training"] == "programme").all()
    seen = set(zip(nd["clinician"].astype(int), nd["discussion"].astype(str), strict=True))
    want = set(zip(data["clinician"].astype(int), data["discussion"].astype(str), strict=True))
    assert seen == want and len(nd) == len(want) == 4


def test_path_model_holds_unobserved_covariates_at_observed_values():
    res = FakeResult(PYRAMID, _path_data(), _path_f)
    t = compare(res, [
        "clin: clinician=1 - clinician=0",
        "disc: discussion=systemic - discussion=non_systemic",
        "prog: training=programme - training=none",
        "mix: training=programme - training=none|other|mla",
        "total: {clinician=1, discussion=?} - {clinician=0, discussion=?}",
        "csw: csw=1 - csw=0",
    ]).set_index("key")
    mean_scale = res.scale().mean()
    # a row whose discussion is missing is held at the discussions observed in rows with the
    # same csw: u1/u4 (csw 1) at systemic (2); u2/u5 (csw 0) at non-systemic or green shoots
    # (0 or 1, half each). Held codes 2, 2, 0, 0.5, 1, 2, 0.5: mean 8/7.
    assert t.loc["clin", "estimate"] == pytest.approx(mean_scale * 8 / 7, rel=1e-10)
    # clinician held the same way (1 where csw 1, else 0): mean (1 + clinician) = 10/7
    assert t.loc["disc", "estimate"] == pytest.approx(mean_scale * 2 * 10 / 7, rel=1e-10)
    assert t.loc["prog", "estimate"] == pytest.approx(mean_scale * 1000, rel=1e-10)
    # the rest: 4 none, 1 other, 1 mla in the data
    assert t.loc["mix", "estimate"] == pytest.approx(mean_scale * (1000 - 100 / 6), rel=1e-10)
    # '?' leaves discussion missing for expected_skill to integrate out (7 in the fake)
    assert t.loc["total", "estimate"] == pytest.approx(mean_scale * 7, rel=1e-10)
    assert t.loc["total", "effect"] == "total"
    assert t.loc["csw", "estimate"] == pytest.approx(mean_scale * 10000, rel=1e-10)
    for nd in res.calls:
        assert "csw" in nd.columns and nd["csw"].notna().all()


def test_path_indirect_is_total_minus_direct_draw_by_draw():
    res = FakeResult(PYRAMID, _path_data(), _path_f)
    t = compare(res).set_index("key")
    s = res.scale().ravel()
    direct = s * 8 / 7
    total = s * 7
    assert t.loc["clinician_indirect", "estimate"] == pytest.approx((total - direct).mean(),
                                                                   rel=1e-10)
    assert t.loc["clinician_indirect", "sd"] == pytest.approx((total - direct).std(ddof=1),
                                                             rel=1e-10)
    assert t.loc["clinician_indirect", "definition"] == "clinician_total - clinician_yes_vs_no"


def test_a_contrast_that_is_zero_by_construction_says_so():
    res = FakeResult(SKILL, _skill_data(), lambda r: 2.0 + COEF.get(r["training"], 0.0))
    r = compare(res, "clinician=1 - clinician=0").iloc[0]
    assert r.estimate == 0 and r.sd == 0 and r.p_rope == 1
    assert math.isnan(r.p_direction) and r.direction == "" and math.isnan(r.bf10)
    assert "by construction" in r.bf10_note


def test_a_contrast_that_is_zero_by_construction_has_no_effect_size(monkeypatch):
    # an effect size of a contrast with nothing to test would print P(es > 0) = 0
    import sys

    cmp = sys.modules["pyramid.compare"]  # the module (pyramid.compare is the function)
    monkeypatch.setattr(cmp, "_total_sd", lambda result, es: (np.full(600, 2.0), "es note"))
    res = FakeResult(SKILL, _skill_data(), lambda r: 2.0 + COEF.get(r["training"], 0.0))
    t = compare(res, ["zero: clinician=1 - clinician=0",
                      "prog: training=programme - training=none"],
                effect_sizes=True).set_index("key")
    assert t.loc["zero", "sd"] == 0
    assert t.loc[["zero"], ["es", "es_lower", "es_upper", "es_p_gt_0"]].isna().all(axis=None)
    assert t.loc["prog", "es"] == pytest.approx(t.loc["prog", "estimate"] / 2.0, rel=1e-12)


def test_without_prior_draws_bf10_is_empty_with_the_reason():
    res = FakeResult(SKILL, _skill_data(), _linear, prior=False)
    t = compare(res)
    assert t["bf10"].isna().all() and (t["prior_draws"] == 0).all()
    assert t["bf10_note"].str.contains("no prior draws").all()
    assert t["p_direction"].notna().all()


def test_argument_checks():
    res = FakeResult(SKILL, _skill_data(), _linear)
    with pytest.raises(InputError, match=r"rope must be in \[0, 1\], got 1.5"):
        compare(res, rope=1.5)
    with pytest.raises(InputError, match=r"ci_prob must be in \(0, 1\], got 0"):
        compare(res, ci_prob=0)
    with pytest.raises(InputError, match="contrasts is empty"):
        compare(res, [])
    with pytest.raises(InputError, match="named twice: a"):
        compare(res, ["a: training=mla - training=none", "a: training=other - training=none"])
    with pytest.raises(InputError, match="must be a string, a list"):
        compare(res, 3)
    with pytest.raises(InputError, match="without expected_skill, spec, data"):
        compare(object())
    t = compare(res, ["default", "mine: training=mla|other - training=none"], rope=0,
                ci_prob=0.5)
    assert t["key"].iloc[-1] == "mine" and (t["p_rope"] == 0).all()
    assert (t["ci_prob"] == 0.5).all() and len(t) == 10


# ---------------------------------------------------------------------------------------------
# Savage-Dickey
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("z", [0.0, 1.0, 1.8])
def test_savage_dickey_matches_the_exact_normal_ratio(z):
    # prior N(0, 0.5), posterior N(z * 0.2, 0.2): the exact BF10 is the ratio of the two normal
    # densities at 0. Over 40 replications the log error is unbiased within its reported
    # Monte Carlo SE (kernel smoothing bias is ~h^2 f''/2f: < 7 % at 1.8 SD, measured), and
    # each replication is within 4 reported SEs.
    rng = np.random.default_rng(int(z * 10))
    exact = stats.norm.pdf(0, 0, 0.5) / stats.norm.pdf(0, 0.2 * z, 0.2)
    errs, ses = [], []
    for _ in range(40):
        res = savage_dickey(rng.normal(0.2 * z, 0.2, (2, 1000)), rng.normal(0, 0.5, 500),
                            ess=2000)
        assert res["bound"] == ""
        errs.append(math.log(res["bf10"] / exact))
        ses.append(res["log_se"])
        assert abs(errs[-1]) < 4 * res["log_se"]
    assert abs(np.mean(errs)) < 0.08
    assert 0.5 < np.std(errs) / np.mean(ses) < 1.5  # the reported SE is about right


@pytest.mark.parametrize("mu, sd, skewed", [(1.0, 0.25, False), (0.9, 0.07, False),
                                            (1.0, 0.3, True)])
def test_savage_dickey_far_from_zero_is_a_valid_lower_bound(mu, sd, skewed):
    rng = np.random.default_rng(3)
    for _ in range(30):
        if skewed:  # a mirrored gamma: long tail towards 0
            a, sc = 4.0, sd / 2.0
            post = mu + a * sc - rng.gamma(a, sc, (2, 1000))
            exact = stats.norm.pdf(0, 0, 0.5) / stats.gamma.pdf(mu + a * sc, a, scale=sc)
        else:
            post = rng.normal(mu, sd, (2, 1000))
            exact = stats.norm.pdf(0, 0, 0.5) / stats.norm.pdf(0, mu, sd)
        res = savage_dickey(post, rng.normal(0, 0.5, 500), ess=2000)
        assert res["bound"] == ">" and "lower bound" in res["note"]
        assert 1.0 < res["bf10"] < exact
        assert math.isnan(res["log_se"])


def test_savage_dickey_bound_says_what_the_draws_can_support():
    # 13 SDs from 0: the exact BF10 is astronomically large; 2000 independent draws support
    # about a hundred, and more draws support more
    rng = np.random.default_rng(5)
    prior = rng.normal(0, 0.5, 500)
    small = savage_dickey(rng.normal(0.9, 0.07, (2, 1000)), prior, ess=2000)
    big = savage_dickey(rng.normal(0.9, 0.07, (2, 10000)), prior, ess=20000)
    assert 50 < small["bf10"] < big["bf10"]


def test_savage_dickey_unusable_priors():
    rng = np.random.default_rng(6)
    post = rng.normal(0, 1, (2, 500))
    assert "no usable prior draws" in savage_dickey(post, np.array([]))["note"]
    assert "point mass" in savage_dickey(post, np.zeros(100))["note"]
    far = savage_dickey(post, rng.normal(10, 0.1, 500))
    assert math.isnan(far["bf10"]) and "too little mass near 0" in far["note"]
    assert SD_MIN_DRAWS == 20


def test_evidence_ratio_and_direction():
    res = FakeResult(SKILL, _skill_data(), _linear)
    t = compare(res, ["training=programme - training=none", "training=none - training=programme"])
    up, down = t.iloc[0], t.iloc[1]
    assert (up.direction, down.direction) == ("+", "-")
    assert up.p_direction == 1.0 and up.evidence_ratio_bound == ">"
    # no draw below 0 out of ESS ~ 600: the other side's probability is below 1 - 0.05^(1/ESS)
    assert up.evidence_ratio == pytest.approx((0.05 ** (1 / up.ess)) / (1 - 0.05 ** (1 / up.ess)))
    assert up.bf10_bound == ">" and up.bf10 > 1


def test_compact_view():
    res = FakeResult(SKILL, _skill_data(), _linear)
    view = compact(compare(res))
    assert list(view.columns) == ["contrast", "effect", "estimate", "P(dir)", "P(ROPE)", "BF10",
                                  "odds(dir)"]
    assert view["BF10"].str.startswith(">").all()
    with pytest.raises(InputError, match="needs a frame from compare"):
        compact(pd.DataFrame({"a": [1]}))


# ---------------------------------------------------------------------------------------------
# real fits
# ---------------------------------------------------------------------------------------------
def _quiet_fit(data, **kwargs):
    from pyramid.errors import DataWarning
    from pyramid.fit import fit

    with warnings.catch_warnings():
        # the validator's design notes (rows left out, one observation per worker) and
        # arviz's R-hat of a quantity that is constant within a chain in a short run are not
        # what these tests check
        warnings.simplefilter("ignore", DataWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        return fit(data, progressbar=False, verbose=False, **kwargs)


@pytest.fixture(scope="module")
def simulated_fit():
    """The skill model on 480 simulated observations (20 authorities x 4 units x 3 workers x 2):
    clinician presence has no effect at all, the CSW programme a large one (1 point)."""
    from pyramid.data.simulate import simulate

    sim = simulate((20, 4, 3, 2), effects={"clinician": 0.0, "programme": 1.0}, seed=4,
                   mix={"discussion_observed": 1.0})
    return _quiet_fit(sim.data, model="skill", draws=250, tune=250, random_seed=5)


def test_a_true_zero_effect_is_practically_equivalent_and_a_large_one_certain(simulated_fit):
    # Clinician presence is a unit-level factor: with 80 units its effect has a posterior SD
    # of 0.06-0.09 (seeds 4-6 measured), so the ROPE is set to +/- 0.2 skill points, a
    # difference this design can resolve (with +/- 0.1, P(ROPE) was 0.64-0.90 over 3 seeds).
    t = compare(simulated_fit, rope=0.2).set_index("key")
    zero, large = t.loc["clinician_yes_vs_no"], t.loc["programme_vs_none"]
    assert zero.p_rope > 0.9 and zero.ci_lower < 0 < zero.ci_upper
    assert zero.bf10 < 1 and zero.bf10_bound == ""  # evidence for no effect
    assert large.p_direction > 0.999 and large.direction == "+"
    assert large.ci_lower > 0.6 and large.p_rope == 0
    assert large.bf10_bound == ">" and large.bf10 > 10


# ---------------------------------------------------------------------------------------------
# prior densities of contrasts at 0 in closed form (pyramid.prior_density)
# ---------------------------------------------------------------------------------------------
def _pd(dist, **params):
    from pyramid.specs import PriorDist

    return PriorDist(dist, {k: float(v) for k, v in params.items()})


def test_linear_prior_densities_match_scipy():
    from scipy import integrate, special

    from pyramid.prior_density import linear_density

    n = _pd("Normal", mu=0.3, sigma=0.5)
    t = _pd("StudentT", nu=3, mu=0.1, sigma=0.4)
    c = _pd("Cauchy", alpha=-0.2, beta=0.3)
    # one coefficient, scaled
    assert linear_density([(t, -2.0)], 0.4) == pytest.approx(
        stats.t.pdf(-0.2, 3, 0.1, 0.4) / 2, rel=1e-12)
    # Normal +- Normal and Cauchy + Cauchy: closed forms
    assert linear_density([(n, 1.0), (n, -1.0)]) == pytest.approx(
        stats.norm.pdf(0, 0, 0.5 * math.sqrt(2)), rel=1e-12)
    assert linear_density([(c, 1.0), (c, 2.0)], 0.5) == pytest.approx(
        stats.cauchy.pdf(0.5, -0.6, 0.9), rel=1e-12)
    # Normal + Cauchy is a Voigt profile: scipy.special.voigt_profile(x - loc, sigma, gamma)
    assert linear_density([(n, 1.0), (c, 0.5)]) == pytest.approx(
        special.voigt_profile(-(0.3 - 0.1), 0.5, 0.15), rel=1e-10)
    # Normal - StudentT: the convolution integral by quadrature
    for x in (0.0, 0.7):
        ref = integrate.quad(lambda u, x=x: stats.norm.pdf(x + u, 0.3, 0.5)
                             * stats.t.pdf(u, 3, 0.1, 0.4), -200, 200, epsabs=1e-14,
                             limit=1000)[0]
        assert linear_density([(n, 1.0), (t, -1.0)], x) == pytest.approx(ref, rel=1e-9)
    assert linear_density([], 0.0) == math.inf


def test_monotonic_prior_densities():
    from scipy import integrate

    from pyramid.prior_density import monotonic_density

    b = _pd("Normal", mu=0.0, sigma=0.25)
    # 2 b zeta_1, zeta_1 ~ Beta(a, a): infinite at 0 for a <= 1, else f_b(0) E[1/zeta_1] / 2
    # with E[1/zeta_1] = (2a - 1) / (a - 1)
    assert monotonic_density([], b, 1.0, [2.0, 0.0]) == math.inf
    assert monotonic_density([], b, 0.5, [0.0, 2.0]) == math.inf
    assert monotonic_density([], b, 3.0, [2.0, -1.0]) == math.inf  # s(zeta) = 0 inside
    for a in (2.0, 3.5):
        assert monotonic_density([], b, a, [2.0, 0.0]) == pytest.approx(
            stats.norm.pdf(0, 0, 0.25) * (2 * a - 1) / (a - 1) / 2, rel=1e-9)
    # with a Normal coefficient beside it: finite for any a; the reference integrates the
    # joint density over b and zeta_1 (scipy dblquad)
    n = _pd("Normal", mu=0.3, sigma=0.5)

    def joint(bv, z):
        return (stats.norm.pdf(-(2 * z) * bv, 0.3, 0.5) * stats.norm.pdf(bv, 0, 0.25)
                * stats.beta.pdf(z, 1.0, 1.0))

    ref = integrate.dblquad(joint, 0.0, 1.0, -3.0, 3.0, epsabs=1e-12)[0]
    assert monotonic_density([(n, 1.0)], b, 1.0, [2.0, 0.0]) == pytest.approx(ref, rel=1e-8)


@pytest.fixture(scope="module")
def studentt_fit():
    """The skill model with Student-t coefficients and a Dirichlet(2) split of the monotonic
    discussion effect: the contrasts' prior densities at 0 by quadrature."""
    from pyramid.data.simulate import simulate
    from pyramid.specs import priors_from_text

    priors = priors_from_text(
        'name = "t2"\nextends = "default"\n[b]\ndist = "StudentT"\nnu = 3.0\nmu = 0.0\n'
        'sigma = 0.5\n[zeta]\ndist = "Dirichlet"\na = 2.0\n', "<t2>")
    sim = simulate((8, 3, 2, 2), seed=6, mix={"discussion_observed": 1.0})
    return _quiet_fit(sim.data, model="skill", priors=priors, draws=250, tune=250,
                      random_seed=3)


def _posterior_density(post):
    return savage_dickey(post, None, prior_density=1.0)["posterior_density"]


def test_savage_dickey_prior_density_is_exact_where_known(simulated_fit, studentt_fit):
    """The audit's finding 6: the prior density at 0 came from a 500-draw kernel estimate
    (about 7 % error) even for a contrast whose prior is known in closed form. Failed before
    the fix; now bf10 is the exact prior density over the posterior's kernel estimate."""
    from pyramid.prior_density import linear_density

    t = compare(simulated_fit).set_index("key")
    post = simulated_fit.posterior
    clin = post["b_clinician"].transpose("chain", "draw").values
    r = t.loc["clinician_yes_vs_no"]
    assert r.bf10_prior == "exact" and r.bf10_bound == ""
    assert r.bf10 == pytest.approx(stats.norm.pdf(0, 0, 0.5) / _posterior_density(clin),
                                   rel=1e-9)
    assert "kernel" not in r.bf10_note
    # Student-t coefficients: other and MLA training against none and the programme, each
    # side as mixed in the data: a sum of three Student-t coefficients (characteristic-
    # function inversion)
    t2 = compare(studentt_fit, ["default", "om: training=other|mla - training=none|programme"])
    t2 = t2.set_index("key")
    n = studentt_fit.data["training"].value_counts()
    w_o, w_m = n["other"] / (n["other"] + n["mla"]), n["mla"] / (n["other"] + n["mla"])
    w_p = n["programme"] / (n["none"] + n["programme"])
    bt = studentt_fit.posterior["b_training"].transpose("chain", "draw", "training")
    post = (w_o * bt.sel(training="other").values + w_m * bt.sel(training="mla").values
            - w_p * bt.sel(training="programme").values)
    tp = studentt_fit.priors.get("b")
    assert tp.dist == "StudentT"
    r = t2.loc["om"]
    assert r.bf10_prior == "exact" and r.bf10_bound == ""
    assert r.estimate == pytest.approx(post.mean(), rel=1e-9)
    exact = linear_density([(tp, w_o), (tp, w_m), (tp, -w_p)])
    assert r.bf10 == pytest.approx(exact / _posterior_density(post), rel=1e-9)
    # a monotonic step with Dirichlet(2): 2 b zeta_1 has a finite prior density at 0
    b = studentt_fit.posterior["b_discussion"].transpose("chain", "draw").values
    z = studentt_fit.posterior["zeta_discussion"].transpose("chain", "draw", ...).values
    post = 2 * b * z[..., 0]
    r = t2.loc["green_shoots_vs_non_systemic"]
    assert r.bf10_prior == "exact" and r.bf10_bound == ""
    f0 = stats.norm.pdf(0, 0, 0.25) * 3.0 / 2.0  # f_b(0) E[1 / (2 zeta_1)], a = 2
    assert r.bf10 == pytest.approx(f0 / _posterior_density(post), rel=1e-9)


def test_product_contrasts_have_no_savage_dickey_bayes_factor(simulated_fit):
    """The audit's finding 2: green shoots vs non-systemic is 2 b zeta_1 (zeta ~ Dirichlet(1)),
    whose prior density at 0 is infinite; its printed BF grew with the number of prior draws.
    Failed before the fix (a number); now bf10 is empty and says why."""
    t = compare(simulated_fit).set_index("key")
    for key in ("green_shoots_vs_non_systemic", "systemic_vs_green_shoots"):
        r = t.loc[key]
        assert math.isnan(r.bf10) and r.bf10_prior == "" and r.bf10_bound == ""
        assert r.bf10_note.startswith("not defined") and "zeta_discussion" in r.bf10_note
        assert np.isfinite(r.p_rope) and np.isfinite(r.p_direction)
    # systemic vs non-systemic is 2 b: exact
    assert t.loc["systemic_vs_non_systemic", "bf10_prior"] == "exact"
    assert compact(t.reset_index()).set_index("contrast").loc[
        "discussion: green shoots vs non-systemic", "BF10"] == ""


def test_a_level_absent_from_the_data_is_said_to_show_the_prior():
    """A contrast naming a level no row has showed the prior without a note (only the HTML
    report said so). Failed before; now the note column says it, and the CLI prints it."""
    data = _skill_data()
    data = data[data["training"] != "mla"].reset_index(drop=True)
    res = FakeResult(SKILL, data, _linear)
    t = compare(res).set_index("key")
    assert "training=mla: no row of the data has it" in t.loc["mla_vs_none", "note"]
    assert "shows the prior" in t.loc["mla_vs_none", "note"]
    assert t.loc["other_vs_none", "note"] == ""
    # a mix with one level present is evidence from the data
    assert t.loc["programme_vs_others", "note"] == ""


def test_cli_compare_prints_the_absent_level_note(monkeypatch, capsys):
    """The CLI's table of a contrast naming a level no row has must say so (the issue saw the
    prior printed without a note there, only the HTML report said it)."""
    import pyramid.cli as cli

    data = _skill_data()
    data = data[data["training"] != "mla"].reset_index(drop=True)
    monkeypatch.setattr(cli, "_load_fit_result", lambda path: FakeResult(SKILL, data, _linear))
    assert cli.main(["compare", "fake.nc", "-c", "training=mla - training=none",
                     "-c", "training=other - training=none"]) == 0
    out = capsys.readouterr().out
    notes = [s for s in out.splitlines() if s.startswith("note: ")]
    assert any("training=mla: no row of the data has it" in s and "shows the prior" in s
               for s in notes), out
    assert not any("training=other" in s for s in notes)

# The path model's real fit (direct / indirect / total effects against the model's own derived
# quantities, and the CLI on a saved result) is tested in tests/test_demo.py on the demo's fit:
# one pyramid fit serves both, to keep the default test run short.


def test_pyramid_compare_stays_the_function_after_its_module_is_imported():
    # Python sets pyramid.compare to the submodule when it is imported; pyramid/__init__.py
    # keeps the public function there (a fresh interpreter, so the import order is known)
    import subprocess
    import sys

    code = ("from pyramid.compare import compact\nimport pyramid.fit\nimport pyramid as pyr\n"
            "assert callable(pyr.compare) and pyr.compare.__name__ == 'compare'\n"
            "assert callable(pyr.fit) and pyr.fit.__name__ == 'fit'\n"
            "from pyramid.results import load\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
