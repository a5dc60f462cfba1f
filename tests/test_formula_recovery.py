"""Recovery and calibration of models from formulas (issue 19).

The default tier checks the simulator of a formula's model (``simulate_formula``); the slow
tier checks that fits recover known coefficients (90 % intervals cover them in 80-98 % of 50
fits) and simulation-based calibration of a gaussian and a cumulative-probit formula with 100
simulations each.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyramid as pyr
from pyramid.errors import InputError
from pyramid.models.builder import build
from pyramid.models.coding import prepare
from pyramid.models.generated import stack_draws
from pyramid.models.sampling import fit_compiled
from pyramid.models.simulate_formula import simulate_formula
from pyramid.specs import load_priors, spec_from_formula

STUDY = Path(__file__).parent / "data" / "formula_study.toml"
#: caseload drawn with the spread of the reference rows (the study's scale is 1 case)
MIX = {"caseload": {"mean": 18.0, "sd": 6.0}}

GAUSSIAN = "skill ~ wave * model + caseload + (1 + wave | worker) + (1 | unit)"
GAUSSIAN_TRUTH = {"intercept": 3.8, "wave[follow_up]": 0.15, "model[signs_of_safety]": 0.2,
                  "model[systemic]": 0.35, "wave:model[follow_up,signs_of_safety]": 0.25,
                  "wave:model[follow_up,systemic]": 0.4, "caseload": -0.02}
ORDINAL = "rating ~ wave * model + caseload + (1 + wave | worker) + (1 | unit)"
ORDINAL_TRUTH = {"wave[follow_up]": 0.25, "model[signs_of_safety]": 0.3, "model[systemic]": 0.5,
                 "wave:model[follow_up,signs_of_safety]": 0.4,
                 "wave:model[follow_up,systemic]": 0.6, "caseload": -0.03}


def test_simulate_formula_truth_and_data():
    sim = simulate_formula(GAUSSIAN, (3, 3, 3, 2), GAUSSIAN_TRUTH, study=STUDY, mix=MIX,
                           group_sds={"sd_worker[wave[follow_up]]": 0.25},
                           correlations={"cor_worker[intercept~wave[follow_up]]": 0.4}, seed=5)
    t = sim.truth
    assert t["wave:model[follow_up,systemic]"] == 0.4 and t["sd_worker[wave[follow_up]]"] == 0.25
    assert t["cor_worker[intercept~wave[follow_up]]"] == 0.4 and "sigma" in t
    assert list(t["r_worker"].columns) == ["intercept", "wave[follow_up]"]
    assert sim.data["rating"].isna().all() and sim.data["skill"].notna().all()
    # the truth's names are the fit's coefficient names
    spec = spec_from_formula(GAUSSIAN, None, STUDY)
    md = prepare(spec, sim.data, warn=False)
    built = build(md, load_priors("default", study=STUDY))
    assert set(GAUSSIAN_TRUTH) <= set(built.coefs)
    ordinal = simulate_formula(ORDINAL, (3, 3, 3, 2), ORDINAL_TRUTH, study=STUDY, mix=MIX,
                               seed=5)
    assert ordinal.truth["latent:caseload"] == -0.03
    assert set(ordinal.data["rating"].dropna().unique()) <= set(range(1, 8))
    assert (ordinal.data["skill"] == ordinal.data["rating"].astype(float)).all()


def test_simulate_formula_refuses_unknown_parameters():
    with pytest.raises(InputError, match="'wave:model\\[follow_up,usual\\]' is not a parameter"):
        simulate_formula(GAUSSIAN, (2, 2, 2, 2), {"wave:model[follow_up,usual]": 1.0},
                         study=STUDY, seed=1)
    with pytest.raises(InputError, match="positive definite"):
        simulate_formula(GAUSSIAN, (2, 2, 2, 2), study=STUDY, seed=1,
                         correlations={"cor_worker[intercept~wave[follow_up]]": 1.5})


def _coverage(formula: str, truth: dict, n_fits: int, seed: int) -> pd.DataFrame:
    """Fit ``n_fits`` data sets simulated from ``formula`` with ``truth``; one row per fit and
    parameter with its true value and 90 % interval."""
    spec = spec_from_formula(formula, None, STUDY)
    priors = load_priors("default", study=STUDY)
    rows = []
    for i in range(n_fits):
        sim = simulate_formula(formula, (6, 4, 4, 2), truth, study=STUDY, mix=MIX,
                               group_sds={"sd_worker[wave[follow_up]]": 0.2}, seed=seed + i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            md = prepare(spec, sim.data, warn=False)
            built = build(md, priors)
            post, _, _ = fit_compiled(built, draws=500, tune=500, chains=2,
                                      random_seed=seed + i, target_accept=0.9)
        draws, _ = stack_draws(post)
        for name, (var, sel) in built.coefs.items():
            key = ("latent:" + name) if spec.family == "cumulative_probit" else name
            if key not in sim.truth or name.startswith("kappa"):
                continue
            x = post[var].sel(**sel).values.ravel() if sel else post[var].values.ravel()
            lo, hi = np.quantile(x, [0.05, 0.95])
            rows.append({"fit": i, "parameter": name, "truth": sim.truth[key], "lo": lo,
                         "hi": hi})
        assert draws  # the fit returned draws
    out = pd.DataFrame(rows)
    out["covered"] = (out["lo"] <= out["truth"]) & (out["truth"] <= out["hi"])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("formula, truth", [(GAUSSIAN, GAUSSIAN_TRUTH),
                                            (ORDINAL, ORDINAL_TRUTH)])
def test_fits_cover_known_coefficients(formula, truth):
    # 50 fits of an interaction, a numeric covariate and varying slopes (general build);
    # the fixed effects' 90 % intervals pooled over the fits
    table = _coverage(formula, truth, n_fits=50, seed=1900)
    share = table["covered"].mean()
    per = table.groupby("parameter")["covered"].mean()
    print(f"{formula}: coverage {share:.3f} over {len(table)} intervals\n{per.round(2)}")
    assert 0.80 <= share <= 0.98, per


@pytest.mark.slow
@pytest.mark.parametrize("formula", [
    "skill ~ wave * model + caseload + (1 + wave | worker) + (1 | unit)",
    "rating ~ wave * model + caseload + (1 | authority/unit/worker)",
])
def test_calibration_of_formulas(formula):
    table = pyr.calibrate(formula=formula, study=STUDY, sims=100, authorities=4, units=3,
                          workers_per_unit=3, observations=2, draws=400, tune=400,
                          thin_to=99, random_seed=19, jobs=2, progressbar=False)
    print(table[["parameter", "n_sims", "p_value", "pass"]].to_string())
    assert (table["n_sims"] >= 100).all()
    fixed = table[table["fixed_effect"]]
    assert fixed["pass"].all(), fixed.loc[~fixed["pass"], ["parameter", "p_value"]]
    # every parameter (SDs, correlations, sigma too) at the 1 % level over all of them
    assert (table["p_value"] >= 0.01 / len(table)).all(), table[["parameter", "p_value"]]
