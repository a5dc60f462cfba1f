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
public); nothing here is sampled.
"""

# %%
# The figure
# ----------
import pyramid as pyr
from pyramid.plots import figure4_data

fig = pyr.plot_figure4()

# %%
# Beside the report's printed values
# ----------------------------------
# The numbers the figure draws (:func:`pyramid.plots.figure4_data`). ``printed`` is the mean
# exactly as the report prints it and ``n`` the number of workers (Table 14 prints its Ns; for
# Table 15 they come from the text of Part 4). ``estimate`` is the posterior mean of the
# group's mean skill, which under the reference prior is the printed mean itself: the column
# ``agrees`` checks that the figure draws exactly the printed values.
d = figure4_data()
d["agrees"] = (d["estimate"] - d["printed"].astype(float)).abs() < 1e-9
d[["factor", "label", "n", "printed", "estimate", "ci_lower", "ci_upper", "agrees"]].round(2)
