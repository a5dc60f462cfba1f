"""
Validating a data file
======================

A small file of coded observations, written the way spreadsheets often are: headers in
another case, level names as the report prints them, a blank row, and two mistakes.
:func:`pyramid.read` reads it as it is; :func:`pyramid.validate` reports every problem at once,
with row, column, value and rule, and once the file is fixed returns the canonical frame;
:func:`pyramid.summarise` describes it in one table.

The data here are made up for the example.
"""

# %%
# A file with mistakes
# --------------------
import tempfile
from pathlib import Path

import pyramid as pyr

text = """\
Observation,Worker,Unit,Authority,Training,Discussion,Clinician,Empathy,Child Focus,Clarity
1,w1,u1,A,None,Green shoots,yes,2,3,2
2,w1,u1,A,None,Green shoots,yes,3,3,
3,w2,u1,A,MLA systemic training,Green shoots,yes,4,6,3
,,,,,,,,,
4,w3,u2,A,programme,Systemic,no,4,4,4.5
5,w4,u2,A,other,non-systemic,no,3,2,3
"""
path = Path(tempfile.mkdtemp()) / "observations.csv"
path.write_text(text)
raw = pyr.read(path)
raw.head(10)

# %%
# Every problem, at once
# ----------------------
# A domain score of 6 and one of 4.5 break the rule that scores are whole numbers from 1
# to 5. Nothing is dropped or rounded: validation stops and says where.
try:
    pyr.validate(raw, source=path.name)
except pyr.ValidationError as err:
    print(err)

# %%
# The canonical frame
# -------------------
# With the two scores corrected, the file validates. Headers are renamed to the schema's
# names, level names are mapped to their keys, ``clinician`` becomes 0/1, ``skill`` is
# derived, and the blank row is dropped with a :class:`pyramid.DataWarning`.
fixed = raw.copy()
fixed.loc[fixed["Observation"] == "3", "Child Focus"] = 5
fixed.loc[fixed["Observation"] == "4", "Clarity"] = 4
df = pyr.validate(fixed, source=path.name)
print(*df.attrs["validation"]["notes"], sep="\n")
df[["observation", "worker", "unit", "training", "discussion", "clinician", "skill"]]

# %%
# A one-table summary
# -------------------
pyr.summarise(df)
