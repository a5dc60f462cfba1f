"""
Direct and indirect effects in the path model
=============================================

The report's good practice pyramid has a direction: a clinician at the case discussion goes
with better discussion, and better discussion with better practice. The ``pyramid`` model
writes that down: the quality of the unit's case discussion is an ordinal outcome of
clinician presence and of whether the unit is led by a CSW on the development programme,
and overall skill depends on discussion, clinician and training. The effect of clinician
presence then splits into a **direct** effect (discussion held where it was) and an
**indirect** one (through the discussion quality a clinician goes with); their sum is the
**total**. For the CSW lead, the model has no direct term: its effect runs through clinician
presence and discussion.

Fitted to ``rsw2017`` (a reconstruction of the evaluation's data from its published
summaries, not the real data) with 2 chains x 300 draws for illustration (the default is
2 x 1000).
"""

# %%
# Fit the path model
# ------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pyramid as pyr

with warnings.catch_warnings():
    warnings.simplefilter("ignore", pyr.DataWarning)  # one observation per worker: noted
    result = pyr.fit(pyr.datasets.load_rsw2017(), model="pyramid", draws=300, tune=300,
                     random_seed=2017, progressbar=False, verbose=False)
post = result.idata["posterior"]

# %%
# The effects
# -----------
# Posterior mean, 95 % interval and the probability that the effect is positive, in skill
# points, from the model's ``direct_``, ``indirect_`` and ``total_`` variables.
rows = []
for exposure in ("clinician", "csw"):
    for part in ("direct", "indirect", "total"):
        v = np.asarray(post[f"{part}_{exposure}"]).ravel()
        lo, hi = np.quantile(v, [0.025, 0.975])
        rows.append({"exposure": exposure, "effect": part, "mean": v.mean(), "ci_lower": lo,
                     "ci_upper": hi, "P(> 0)": np.mean(v > 0)})
effects = pd.DataFrame(rows)
effects.round(2)

# %%
# The figure
# ----------
# Posterior densities of the three parts for clinician presence (left) and the CSW lead
# (right; its direct effect is zero by the model's structure, so it is not drawn).
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=False, layout="constrained")
colours = {"direct": "#4c72b0", "indirect": "#dd8452", "total": "#55a868"}
for ax, exposure in zip(axes, ("clinician", "csw"), strict=True):
    for part, colour in colours.items():
        v = np.asarray(post[f"{part}_{exposure}"]).ravel()
        if np.ptp(v) == 0:
            continue
        ax.hist(v, bins=40, density=True, histtype="step", lw=1.8, color=colour, label=part)
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_xlabel("effect on expected skill (points)")
    ax.set_title({"clinician": "clinician at the case discussion",
                  "csw": "unit led by a CSW on the programme"}[exposure])
    ax.spines[["top", "right"]].set_visible(False)
axes[0].set_ylabel("posterior density")
axes[0].legend(frameon=False)
