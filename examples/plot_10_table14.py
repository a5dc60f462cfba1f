"""
Table 14: training and quality of practice
==========================================

The report's Table 14 gives the mean overall skill of the observed workers by their systemic
training, each level's t-test against all other observations, and the number of workers.
:mod:`pyramid.data.published` holds it as a tidy frame: one row per printed cell, with the
cell exactly as printed and where it came from.
"""

# %%
# The tidy table
# --------------
# Every printed cell is one row. ``printed`` keeps the text of the report (``"Ns"``, ``".59"``),
# ``value`` is the number, and ``note`` records how a cell was read where that needed a
# decision.
from pyramid.data import published

t14 = published.table(14)
t14[["row", "column", "printed", "value", "row_key", "stat", "note"]]

# %%
# As printed
# ----------
# Pivoting the tidy frame gives back the table's layout. The rows are in the report's order
# (no training, other, MLA, programme); the p-values printed ``Ns`` have no number.
wide = t14.pivot(index="row_key", columns="stat", values="value")
wide = wide.loc[["none", "other", "mla", "programme"], ["mean", "sd", "n", "t", "p"]]
wide.round(2)

# %%
# The total the text gives
# ------------------------
# Part 4 lists 35 + 15 + 12 + 10 workers. :func:`pyramid.data.published.check_totals` checks
# that total, and every other total the report prints, against the rows.
checks = published.check_totals()
checks[checks["table"] == "14"]
