"""
Design analysis: an assurance curve
===================================

Before the next evaluation: how likely is a study of a given size to show each factor's
effect, if the effects are what the 2017 report suggests? :func:`pyramid.design` simulates
data sets of a planned design from the shared generative model (:func:`pyramid.simulate`),
fits each with the analysis model, and counts the fits that show each effect (the
*assurance*); a sweep over one design dimension gives an assurance curve.

Here: the reference design (5 authorities, 4 workers per unit, one observation each) swept
over 2, 4 and 8 units per authority, the report's effects (the simulator's ``report``
preset), the ``skill`` model with the ``default`` priors, and the default criterion (the
posterior probability of the true sign at least 0.95).

**This is an illustration, not a study plan.** To keep the gallery quick each design point
gets only 8 simulated data sets, each fitted with 2 chains of 150 draws after 150 tuning
steps, so every assurance here carries a Monte Carlo standard error of up to 0.18 (the error
bars show +/- 2 of them). A real plan wants ``sims=100`` or more per point and the default
draws, on worker processes or Dask (:doc:`../user_guide/design`):
``pyramid design --sweep units=2,4,8 --sims 100``.
"""

# %%
# The design analysis
# -------------------
# One row per design point and effect: the true value, the assurance with its Monte Carlo
# standard error, the mean width of the 95 % interval, its coverage of the true value, and
# the bias of the posterior mean. The fits run in this process (``jobs=0``) so that the
# gallery build does not start worker processes.
import warnings

import matplotlib.pyplot as plt

import pyramid as pyr
from pyramid.plots.planning import plot_assurance

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # sampler notes on a few short fits
    table = pyr.design(5, 4, 4, 1, sweep={"units": [2, 4, 8]}, sims=8, draws=150, tune=150,
                       chains=2, random_seed=2026, jobs=0, progressbar=False)
table[["units", "effect", "truth", "assurance", "assurance_mcse", "mean_width", "coverage",
       "bias"]].round(2)

# %%
# The assurance curve
# -------------------
# Left: the assurance of each effect against the number of units per authority; right: the
# coverage of the true value by the 95 % interval (nominally 0.95, the dashed line). The
# programme effect (1.06 skill points) is shown at every size, a clinician at the discussion
# (0.96) from 4 units per authority; the small discussion effect (0.17 a step) in no more
# than about half the fits at any size. With 8 fits a point the curves are rough (a step of
# one fit is 0.125) and their wiggles are noise: the table in the user guide
# (:doc:`../user_guide/design`) has 100 fits a point.
fig = plot_assurance(table)  # a matplotlib Figure (the file 'assurance.png' of an out folder)
plt.figure(fig)  # handed to pyplot, which the gallery's image scraper reads
