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
* ``rsw2017``: informed by the report's tables, for analysing a new project
  (:func:`pyramid.specs.rsw2017_prior_values`).

For comparison the checks also show ``rsw2017 raw``, the set centred on the report's raw
differences: the report tests training, clinician presence and discussion quality one at a
time, but clinicians sat mostly in the systemic discussions, so adding the raw clinician and
discussion differences counts the same difference twice. The shipped ``rsw2017`` set uses
the two adjusted for each other instead (as the simulator does).

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
from pyramid.specs import load_priors, priors_from_text, rsw2017_prior_values

# the raw set, written as a prior file from the report's raw differences
raw_lines = ['name = "rsw2017_raw"', 'extends = "default"']
for coef, (mu, sd) in rsw2017_prior_values(adjusted=False).items():
    raw_lines += ["[intercept]" if coef == "intercept" else f'[coef."{coef}"]',
                  'dist = "Normal"', f"mu = {mu!r}", f"sigma = {sd!r}"]
prior_sets = {name: load_priors(name) for name in ("default", "sceptical", "rsw2017")}
prior_sets["rsw2017 raw"] = priors_from_text("\n".join(raw_lines))

checks = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # the validator's notes on the reference data
    for name, prior_set in prior_sets.items():
        checks[name] = prior_check(prior_set, "skill", draws=1000, random_seed=2017)
table = pd.concat({name: t.set_index("quantity") for name, (t, _) in checks.items()},
                  names=["priors"])
table.loc[(slice(None), ["skill of an observation", "expected skill at the reference levels",
                         "expected skill, full pyramid", "full pyramid minus reference"]),
          :].round(2)

# %%
# The figure
# ----------
# Left: the replicated skill of an observation; right: the expected skill each set implies
# for the complete pyramid (CSW programme, systemic discussion, clinician). The raw
# set's factors, added together, put the complete pyramid about 3.2 points above none and
# most of its expected skill above 5; the shipped ``rsw2017`` set, with clinician and
# discussion adjusted for each other, about 2.3 points (the simulator's own values), and its
# complete pyramid mostly on the scale (``tests/test_specs.py`` requires at least 70 % of the
# draws inside 1-5; the training effect cannot be adjusted from the published tables, and the
# prior SDs are wide, so a quarter remains above 5).
colours = {"default": "#4c72b0", "sceptical": "#dd8452", "rsw2017": "#55a868",
           "rsw2017 raw": "#8c8c8c"}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
bins_skill = np.linspace(-1, 7, 81)
bins_full = np.linspace(-1, 9, 41)


def density(ax, v, bins, **kw):
    """Histogram as a density of all draws: those outside the window are not drawn."""
    w = np.full(v.size, 1 / (v.size * (bins[1] - bins[0])))
    ax.hist(v, bins=bins, weights=w, histtype="step", lw=1.8, **kw)


for name, (_, draws_) in checks.items():
    style = {"ls": ":"} if name.endswith("raw") else {}
    density(axes[0], draws_["skill"].ravel(), bins_skill, color=colours[name], label=name,
            **style)
    density(axes[1], draws_["expected"][:, 1], bins_full, color=colours[name], label=name,
            **style)
for ax in axes:
    ax.axvspan(1, 5, color="0.92", zorder=0, label="the 1-5 scale")
axes[0].set_xlabel("replicated skill of an observation")
axes[1].set_xlabel("expected skill of the complete pyramid")
axes[0].set_ylabel("density")
axes[0].legend(frameon=False, loc="upper left")
for ax in axes:
    ax.spines[["top", "right"]].set_visible(False)
