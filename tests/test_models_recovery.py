"""Recovery of known effects from simulated data (slow: many fits).

The simulator (pyramid.data.simulate) draws data from the shared generative model with known
truth; each test fits many simulated data sets of one design (20 authorities) and checks that
every fixed effect's 90 % interval covers the truth in at least 17 of 20 data sets (the
binomial(20, 0.9) probability of 16 or fewer is 0.13, so a correct model passes 87 % of the
time; a model whose intervals cover 70 % of the time passes 11 %).

Effects are moderate so that latent skill stays inside 1.5-4.5, where the skill model's
coefficients equal the generative model's (docs/architecture.md); the domains model is checked
against the truth on its latent probit scale (``latent:`` names).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pyramid.data.simulate import simulate

pytestmark = pytest.mark.slow

EFFECTS = {"training[other]": 0.2, "training[mla]": 0.35, "training[programme]": 0.5,
           "clinician": 0.3, "discussion": 0.2}
N_SETS = 20
FIT = dict(draws=500, tune=500, progressbar=False, verbose=False, log_likelihood=False,
           prior_draws=50)


def _fit(data, model, seed):
    from pyramid.fit import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fit(data, model=model, random_seed=seed, **FIT)


def _coverage(model: str, design, latent: bool, mix=None):
    hits: dict[str, int] = {}
    for k in range(N_SETS):
        sim = simulate(design, effects=EFFECTS, seed=1000 + k,
                       mix={"discussion_observed": 1.0, **(mix or {})})
        res = _fit(sim.data, model, seed=k)
        table = res.coefs(ci_prob=0.9)
        for _, row in table.iterrows():
            name = row["name"]
            if name.startswith("latent:kappa"):
                continue  # thresholds are not effects
            truth = sim.truth[name]
            hits[name] = hits.get(name, 0) + int(row["lower"] <= truth <= row["upper"])
    return hits


def test_skill_recovers_fixed_effects():
    hits = _coverage("skill", (20, 3, 2, 2), latent=False)
    assert set(hits) == {"intercept", *EFFECTS}
    assert all(h >= 17 for h in hits.values()), hits


def test_domains_recovers_fixed_effects():
    hits = _coverage("domains", (20, 3, 2, 2), latent=True)
    assert set(hits) == {f"latent:{n}" for n in EFFECTS}
    assert all(h >= 17 for h in hits.values()), hits


def _true_indirect(sim) -> float:
    """The generative model's indirect effect of clinician, averaged over the rows' csw."""
    from scipy import stats

    t = sim.truth
    cuts = np.array([t["discussion_cutpoints[1]"], t["discussion_cutpoints[2]"]])
    zeta = np.array([t["zeta[1]"], t["zeta[2]"]])
    mono = t["discussion"] * 2 * np.concatenate([[0.0], np.cumsum(zeta)])
    csw = sim.units.set_index("unit").loc[sim.data["unit"].astype(str), "csw"].to_numpy()

    def expected(c):
        lin = t["discussion_clinician"] * c + t["discussion_csw"] * csw
        cdf = stats.norm.cdf(cuts[None, :] - lin[:, None])
        p = np.diff(np.concatenate([np.zeros((len(csw), 1)), cdf, np.ones((len(csw), 1))], 1), 1)
        return p @ mono

    return float(np.mean(expected(1) - expected(0)))


def test_pyramid_recovers_its_indirect_effect():
    effects = {**EFFECTS, "clinician": 0.3, "discussion": 0.3, "g_clinician": 1.0, "g_csw": 0.6}
    hits, n_sets, errors = 0, 10, []
    for k in range(n_sets):
        sim = simulate((20, 4, 2, 1), effects=effects, seed=2000 + k,
                       mix={"discussion_observed": 0.6})
        res = _fit(sim.data, "pyramid", seed=k)
        draws = res.posterior["indirect_clinician"].values.ravel()
        lo, hi = np.quantile(draws, [0.05, 0.95])
        truth = _true_indirect(sim)
        hits += int(lo <= truth <= hi)
        errors.append(draws.mean() - truth)
    assert hits >= 8, (hits, errors)
    # no systematic bias: the mean error is small against the effect (0.3 x 2 x shift)
    assert abs(np.mean(errors)) < 0.05, errors
