"""
Comparing a new project with RSW 2017
=====================================

An evaluator with a new project coded like the 2017 evaluation (one row per observation of
practice, with training, discussion quality, clinician presence and the five domain scores)
wants to know, factor by factor, whether the good practice pyramid looks the same there.
:func:`pyramid.compare_project` answers three ways: (a) the new project alone with weakly
informative priors, (b) the new project with priors informed by the report, and (c) one
joint model in which RSW 2017 enters through its published Tables 14 and 15 and the new
project through its raw observations, linked by a project level.

The "new project" here is simulated (:func:`pyramid.simulate`) from the report's estimates
with two known changes: the CSW development programme adds 0.5 skill points more than in RSW
2017, and a clinician at the case discussion adds 0.5 less. The models are sampled with
fewer draws than the defaults (2 x 500 instead of 2 x 1000) to keep the gallery quick.
"""

# %%
# A simulated new project
# -----------------------
# Eight authorities of five units with three workers each, one observation per worker, every
# case discussion observed. The comparison uses the default model, ``pyramid``.
import warnings

import pyramid as pyr
from pyramid.data.simulate import default_effects
from pyramid.project import compact

effects = default_effects()  # the report's estimates (pyramid.data.simulate)
effects["training[programme]"] += 0.5
effects["clinician"] -= 0.5
sim = pyr.simulate((8, 5, 3, 1), effects=effects, seed=2017,
                   mix={"discussion_observed": 1.0})
print(sim)

# %%
# The comparison
# --------------
# Each row: a factor's effect (skill points) in the new project and in RSW 2017, the
# difference with its 95 % interval, and the posterior probability that the new project's
# effect is the larger. ``n_new`` counts the new project's rows behind each effect.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", pyr.DataWarning)  # one observation per worker: noted
    cmp = pyr.compare_project(sim.data, draws=500, tune=500, random_seed=1)
compact(cmp.table)

# %%
# What the truth was
# ------------------
# The known differences, beside what the joint model (c) recovered. With 120 observations the
# new project's effects are well estimated; what limits the comparison is RSW 2017's side
# (10 workers on the programme, 10 with a clinician), so a difference of half a point is
# found with moderate rather than overwhelming probability.
joint = cmp.table[cmp.table.analysis == "joint"].set_index("quantity")
truth = {"training[programme]": 0.5, "clinician": -0.5}
for q, d in truth.items():
    r = joint.loc[q]
    print(f"{q:>20}: true difference {d:+.2f}, estimated {r.difference_estimate:+.2f} "
          f"[{r.difference_ci_lower:+.2f}, {r.difference_ci_upper:+.2f}], "
          f"P(new > RSW 2017) = {r.prob_new_greater:.2f}")

# %%
# The figure
# ----------
# Circles: the new project; squares: RSW 2017, by analysis. Analysis (b) uses RSW 2017 as the
# new project's prior, so its differences are pulled towards zero by construction.
fig = pyr.plot_compare_project(cmp)

# %%
# Assumptions
# -----------
# What the published summaries cannot tell, and how the comparison deals with it (see the
# user guide page "Comparing a project with RSW 2017").
for note in cmp.notes:
    print("-", note)
