"""
Reanalysis of Tables 10, 14 and 15
==================================

The report tested its Part 2 and Part 4 comparisons with t-tests and a correlation, printing
the means, SDs and (some of) the Ns beside each t and p. :func:`pyramid.reanalyse` recomputes
every test from those printed summaries, checks whether the printed t, df and p can come from
them (allowing for rounding), GRIM-checks the means of whole-number scores, and replaces each
test with a JZS Bayes factor and the exact posterior of the difference. Nothing is sampled:
the whole report takes well under a second.

Rows with ``published = False`` are contrasts the report did not print but that the models
report (each training level against none; each discussion level against non-systemic).
"""

# %%
# The reanalysis, as ``pyramid reanalyse`` prints it
# --------------------------------------------------
# ``printed`` is the test as printed; ``pooled`` and ``welch`` are Student's and Welch's
# t-tests recomputed from the printed means, SDs and Ns; ``consistent`` says whether the
# printed values can come from the printed summaries (``NO`` where they cannot, ``-`` where
# nothing was printed to check); ``grim`` whether the printed means are possible means of
# whole-number scores; ``BF10`` the Bayes factor for a difference; ``estimate`` the posterior
# mean difference with its 95% interval; ``P(>0)`` the posterior probability that it is
# positive.
import pyramid as pyr
from pyramid.reanalysis import compact

res = pyr.reanalyse([10, 14, 15])
compact(res)

# %%
# Why a row is flagged
# --------------------
# The reason for every inconsistency, and the details of every GRIM failure, as
# :func:`pyramid.reanalyse` records them.
bad_test = res["consistent"].eq(False).fillna(False)  # nullable: missing = nothing to check
bad_grim = res["grim"].eq(False).fillna(False)
for i in res.index[bad_test | bad_grim]:
    row = res.loc[i]
    print(f"Table {row['table']}, {row['comparison']}:")
    if bad_test[i]:
        for note in row["consistency_note"].split("; "):
            print(f"  - {note}")
    if bad_grim[i]:
        print(f"  - GRIM: {row['grim_note']}")
