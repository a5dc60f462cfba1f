"""
Figure 4 reproduced
===================

Figure 4 of the report, "What factors influence quality of observed practice?", summarises
Part 4: mean overall skill (1-5) of the observed workers at each level of systemic training,
of the quality of the unit's case discussion and of clinician presence at that discussion. Its
numbers are those of Tables 14 and 15, so :func:`pyramid.plot_figure4` redraws it from
:mod:`pyramid.data.published`, and adds what the report did not show: how uncertain each mean
is, as the exact posterior interval of the group mean computed from its printed mean, SD and
N.

The intervals come from the published summaries, not from the evaluation's data (which are not
public): nothing in the first figure is sampled. The last section adds a lower panel from a
model fitted to the reconstructed observation-level data.
"""

# %%
# The figure
# ----------
import warnings

import pyramid as pyr
from pyramid.plots.figure4 import figure4_data

fig = pyr.plot_figure4()

# %%
# Beside the report's printed values
# ----------------------------------
# The numbers the figure draws (:func:`pyramid.plots.figure4.figure4_data`). ``printed`` is the mean
# exactly as the report prints it and ``n`` the number of workers (Table 14 prints its Ns; for
# Table 15 they come from the text of Part 4). ``estimate`` is the posterior mean of the
# group's mean skill, which under the reference prior is the printed mean itself: the column
# ``agrees`` checks that the figure draws exactly the printed values.
d = figure4_data()
d["agrees"] = (d["estimate"] - d["printed"].astype(float)).abs() < 1e-9
d[["factor", "label", "n", "printed", "estimate", "ci_lower", "ci_upper", "agrees"]].round(2)

# %%
# With a fitted model
# -------------------
# The same figure with a lower panel from a model fitted to observation-level data: the
# default ``pyramid`` path model on ``rsw2017``, the reconstruction of the evaluation's data
# from its published summaries (not the real data, which are not public). Each point is the
# posterior effect of a level against the reference level (no systemic training,
# non-systemic discussion, no clinician), the other factors held there. For illustration the
# model is sampled with 2 chains x 300 draws (the default is 2 x 1000), so the last digit of
# each number carries Monte Carlo error.
with warnings.catch_warnings():
    # the validator notes that every worker has one observation (the report's design)
    warnings.simplefilter("ignore", pyr.DataWarning)
    result = pyr.fit(pyr.datasets.load_rsw2017(), draws=300, tune=300, random_seed=2017,
                     progressbar=False, verbose=False)
fig = pyr.plot_figure4(result)

# %%
# The model panel's numbers
# -------------------------
# Beside the report's printed means for the same levels: the model's effects are differences
# from the reference level, adjusted for the other factors and for the nesting of workers in
# units and authorities, so they are smaller than the raw differences of the printed means.
m = figure4_data(result)
m = m[m.source == "model"][["factor", "label", "estimate", "ci_lower", "ci_upper",
                             "prob_positive"]]
printed = d[["factor", "label", "printed"]].copy()
printed["printed difference"] = printed["printed"].astype(float) - printed.groupby(
    "factor")["printed"].transform(lambda s: float(s.iloc[0]))
m.merge(printed, on=["factor", "label"], how="left").round(2)
