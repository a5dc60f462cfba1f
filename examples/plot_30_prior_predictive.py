"""
Prior predictive checks of the three prior sets
===============================================

Before a model sees data, its priors already say what skill scores it expects. A prior
predictive check draws parameters from the priors, then replicated scores for the rows of the
reference data, and asks whether they look like scores on a 1-5 scale
(:func:`pyramid.fit.prior_check`, ``pyramid priors check`` on the command line). pyramid ships
three prior sets:

* ``default``: weakly informative, skill around 2.5, a factor rarely moving skill by more than
  a point;
* ``sceptical``: effects near zero;
* ``rsw2017``: informed by the report's printed differences, for analysing a new project.

Each check uses the ``skill`` model and 1000 prior draws (no sampling: the draws are exact).
"""

# %%
# The checks
# ----------
# Quantiles of each quantity under each prior set; ``outside_1_5`` is the share of draws
# outside the scale (a Gaussian model of skill can leave it; a large share means the priors
# expect implausible scores).
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pyramid.fit import prior_check

checks = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # the validator's notes on the reference data
    for name in ("default", "sceptical", "rsw2017"):
        checks[name] = prior_check(name, "skill", draws=1000, random_seed=2017)
table = pd.concat({name: t.set_index("quantity") for name, (t, _) in checks.items()},
                  names=["priors"])
table.loc[(slice(None), ["skill of an observation", "expected skill at the reference levels",
                         "full pyramid minus reference"]), :].round(2)

# %%
# The figure
# ----------
# Left: the replicated skill of an observation; right: what each set expects the complete
# pyramid (CSW programme, systemic discussion, clinician) to add to expected skill. The
# ``rsw2017`` set centres each factor on the report's raw difference; added together they
# imply a large combined effect, which is worth seeing before using the set as a prior.
colours = {"default": "#4c72b0", "sceptical": "#dd8452", "rsw2017": "#55a868"}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
bins_skill = np.linspace(-1, 7, 81)
bins_diff = np.linspace(-3, 5, 81)


def density(ax, v, bins, **kw):
    """Histogram as a density of all draws: those outside the window are not drawn."""
    w = np.full(v.size, 1 / (v.size * (bins[1] - bins[0])))
    ax.hist(v, bins=bins, weights=w, histtype="step", lw=1.8, **kw)


for name, (_, draws_) in checks.items():
    density(axes[0], draws_["skill"].ravel(), bins_skill, color=colours[name], label=name)
    density(axes[1], draws_["expected"][:, 1] - draws_["expected"][:, 0], bins_diff,
            color=colours[name], label=name)
axes[0].axvspan(1, 5, color="0.92", zorder=0, label="the 1-5 scale")
axes[0].set_xlabel("replicated skill of an observation")
axes[1].axvline(0, color="0.4", lw=0.8)
axes[1].set_xlabel("expected skill: full pyramid minus reference (points)")
axes[0].set_ylabel("density")
axes[0].legend(frameon=False, loc="upper left")
for ax in axes:
    ax.spines[["top", "right"]].set_visible(False)
