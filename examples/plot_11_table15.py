"""
Table 15: case discussions, clinicians and quality of practice
==============================================================

Table 15 of the report gives the mean direct-work skill of the 22 workers whose unit's case
discussion was observed, by the quality of that discussion and by whether a clinician was
present. The table prints no Ns: they are in the text of Part 4, and the tidy frame says so
in its ``note`` column. The text also gives the cross-tabulation of clinician presence by
discussion quality, which pyramid holds as the ``crosstab`` table.
"""

# %%
# The tidy table
# --------------
from pyramid.data import published

t15 = published.table(15)
t15[["row", "column", "printed", "value", "row_key", "stat"]]

# %%
# Where the Ns come from
# ----------------------
# The note attached to every N of Table 15:
print(t15.loc[t15["stat"] == "n", "note"].iloc[0])

# %%
# As printed, with the Ns
# -----------------------
wide = t15.pivot(index="row_key", columns="stat", values="value")
wide = wide.loc[
    ["non_systemic", "green_shoots", "systemic", "clinician_no", "clinician_yes"],
    ["mean", "sd", "n"],
]
wide.round(2)

# %%
# Clinician presence by quality of discussion
# -------------------------------------------
# Quoted in the text of Part 4: none of the 4 non-systemic discussions had a clinician, 3 of
# the 9 "green shoots" discussions and 7 of the 9 systemic ones did.
crosstab = published.table("crosstab")
crosstab.pivot(index="row_key", columns="column", values="value").loc[
    ["non_systemic", "green_shoots", "systemic"]
]
