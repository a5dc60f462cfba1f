"""
Posterior comparisons from the three models
===========================================

The report compared groups of workers with t-tests. :func:`pyramid.compare` replaces each test
with a posterior contrast: the difference in expected overall skill (1-5) between two settings
of the factors, averaged over the rows the model used, with its interval, the probability of
its direction and the probability that it is practically nothing (inside +/- 0.1 skill
points). Here the same contrasts come from the three models fitted to ``rsw2017``, the
reconstruction of the evaluation's data from its published summaries (not the real data):

* ``skill``: Gaussian on overall skill, with authority and unit effects;
* ``domains``: cumulative probit on the five domain ratings;
* ``pyramid``: the path model, in which discussion quality is itself an outcome of clinician
  presence and the unit's CSW lead, and rows with no observed discussion are kept.

``skill`` and ``domains`` can use only the 22 observations whose discussion and clinician were
recorded; ``pyramid`` uses all 72. For illustration each model is sampled with 2 chains x 300
draws (the default is 2 x 1000): enough to show the comparison, with Monte Carlo error in the
last digit.
"""

# %%
# Fit the three models
# --------------------
import warnings

import matplotlib.pyplot as plt
import pandas as pd

import pyramid as pyr

data = pyr.datasets.load_rsw2017()
results = {}
with warnings.catch_warnings():
    # the validator's notes: rows a model leaves out, one observation per worker
    warnings.simplefilter("ignore", pyr.DataWarning)
    for model in ("skill", "domains", "pyramid"):
        results[model] = pyr.fit(data, model=model, draws=300, tune=300, random_seed=2017,
                                 progressbar=False, verbose=False)
# With 600 draws the effective sample sizes fall short of the 400 that pyramid's
# convergence checks ask for: the failed checks are printed, as a reminder that these are
# illustrations, not final numbers.
for model, res in results.items():
    d = res.diagnostics
    failed = ", ".join(d.loc[~d["passed"].astype(bool), "check"]) or "none"
    print(f"{model:>8}: {len(res.data)} rows; failed checks: {failed}")

# %%
# The contrasts side by side
# --------------------------
# One row per contrast and model; ``key`` names the contrast as :func:`pyramid.reanalyse`
# names the report's test of the same thing. The path model's clinician contrast is its
# direct effect (discussion held at the values observed); its total and indirect effects are
# in the next example.
tables = []
for model, res in results.items():
    c = pyr.compare(res)
    tables.append(c[c.effect == "direct"].assign(model=model))
table = pd.concat(tables, ignore_index=True)
keys = ["programme_vs_none", "mla_vs_none", "systemic_vs_non_systemic",
        "green_shoots_vs_non_systemic", "clinician_yes_vs_no", "pyramid_vs_none"]
table = table[table.key.isin(keys)]
wide = table.pivot(index="key", columns="model", values="estimate").loc[keys]
wide.round(2)

# %%
# The figure
# ----------
# Posterior mean and 95 % interval of each contrast, by model. The ordinal ``domains`` model
# and the Gaussian ``skill`` model, fitted to the same 22 rows, agree closely; ``pyramid``,
# using all 72 rows, estimates the training contrasts more precisely.
colours = {"skill": "#4c72b0", "domains": "#dd8452", "pyramid": "#55a868"}
labels = (table.drop_duplicates("key").set_index("key")["contrast"]
          .str.replace(" (CSW lead, systemic discussion, clinician)", "", regex=False))
fig, ax = plt.subplots(figsize=(9, 5.6), layout="constrained")
for i, key in enumerate(keys):
    for j, model in enumerate(colours):
        r = table[(table.key == key) & (table.model == model)]
        if r.empty:
            continue
        r = r.iloc[0]
        y = i + (j - 1) * 0.22
        ax.errorbar(r.estimate, y, xerr=[[r.estimate - r.ci_lower], [r.ci_upper - r.estimate]],
                    fmt="o", color=colours[model], capsize=3, label=model if i == 0 else None)
ax.axvspan(-0.1, 0.1, color="0.9", zorder=0, label="ROPE (+/- 0.1)")
ax.axvline(0, color="0.4", lw=0.8)
ax.set_yticks(range(len(keys)), [labels[k] for k in keys])
ax.invert_yaxis()
ax.set_xlabel("difference in expected skill (points on the 1-5 scale), 95 % interval")
fig.legend(loc="outside lower center", ncols=4, frameon=False)
fig.suptitle("Posterior contrasts on rsw2017 (a reconstruction), by model")
ax.spines[["top", "right"]].set_visible(False)
