"""Recovery of known effects from simulated data (slow: many fits).

The simulator (pyramid.data.simulate) draws data from the shared generative model with known
truth; each test fits 20 simulated data sets of one design (20 authorities) and counts, for
every fixed effect, the data sets whose 90 % interval covers the truth.

Issue 3 asks for at least 17 of 20 per effect. For a perfectly calibrated model each effect
passes that with probability P(Binomial(20, 0.9) >= 17) = 0.867, so all five or six effects of
one model pass together only 42-49 % of the time: as a test it would fail about every other
run with nothing wrong. The tests therefore check (a) the pooled coverage over all effects,
at least 85 % (a calibrated model falls below with probability 0.03 for 120 intervals), and
(b) no effect below 15 of 20 (probability 0.011 per effect), and print the per-effect counts
so that the issue's criterion can be read off (``pytest -m slow -s``).

Effects are moderate and the intercept mid-scale (2.5) so that latent skill stays inside
1.5-4.5, where the skill model's coefficients equal the generative model's (checked against
pyramid.data.simulate.expected_skill: the implied skill-scale differences agree to 0.001); the
domains model is checked against the truth on its latent probit scale (``latent:`` names).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pyramid.data.simulate import simulate

pytestmark = pytest.mark.slow

EFFECTS = {"intercept": 2.5, "training[other]": 0.2, "training[mla]": 0.35, "training[programme]": 0.5,
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


def _check(hits: dict[str, int]) -> None:
    pooled = sum(hits.values()) / (N_SETS * len(hits))
    print(f"\ncoverage of 90 % intervals in {N_SETS} data sets: {hits}; pooled {pooled:.3f}; "
          f"issue 3's 17/20 per effect met: {all(h >= 17 for h in hits.values())}")
    assert pooled >= 0.85, hits
    assert all(h >= 15 for h in hits.values()), hits


def test_skill_recovers_fixed_effects():
    hits = _coverage("skill", (20, 3, 2, 2), latent=False)
    assert set(hits) == {n for n in EFFECTS}
    _check(hits)


def test_domains_recovers_fixed_effects():
    hits = _coverage("domains", (20, 3, 2, 2), latent=True)
    assert set(hits) == {f"latent:{n}" for n in EFFECTS if n != "intercept"}
    _check(hits)


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
    effects = {**EFFECTS, "discussion": 0.3, "g_clinician": 1.0, "g_csw": 0.6}
    hits, n_sets, rows = 0, 10, []
    for k in range(n_sets):
        sim = simulate((20, 4, 2, 1), effects=effects, seed=2000 + k,
                       mix={"discussion_observed": 0.6})
        res = _fit(sim.data, "pyramid", seed=k)
        draws = res.posterior["indirect_clinician"].values.ravel()
        lo, hi = np.quantile(draws, [0.05, 0.95])
        truth = _true_indirect(sim)
        hits += int(lo <= truth <= hi)
        rows.append((truth, draws.mean(), draws.std()))
    truth, mean, sd = np.array(rows).T
    print(f"\nindirect effect of clinician: truth {truth.round(3)}, posterior mean "
          f"{mean.round(3)}, sd {sd.round(3)}; 90 % intervals cover {hits} of {n_sets}")
    # P(Binomial(10, 0.9) <= 7) = 0.07
    assert hits >= 8, rows
    # the estimates track the truth, and any pull towards 0 (the proper priors on the two
    # coefficients it multiplies shrink a product) stays well inside the posterior spread
    assert mean.mean() > 0.5 * truth.mean(), rows
    assert abs((mean - truth).mean()) < sd.mean(), rows
