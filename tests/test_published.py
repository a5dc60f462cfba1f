"""The published tables: typed in once, totals checked against rows."""

import numpy as np
import pytest

from pyramid.data import published
from pyramid.errors import InputError

REQUIRED = ["1", "5", "6", "7", "9", "10", "11", "12", "14", "15", "17", "23", "crosstab", "correlations"]


def test_required_tables_present():
    assert set(REQUIRED) <= set(published.table_ids())


@pytest.mark.parametrize("tid", REQUIRED)
def test_table_is_tidy_with_provenance(tid):
    t = published.table(tid)
    assert list(t.columns) == [
        "table", "title", "row", "group", "column", "printed", "value",
        "row_key", "group_key", "stat", "note",
    ]
    assert len(t) > 0
    assert (t["printed"].str.len() > 0).all()
    # one cell per (row, group, stat): the machine keys identify every number
    assert not t.duplicated(["row_key", "group_key", "stat"]).any()
    # every cell is numeric unless the report printed something non-numeric ("Ns")
    blank = t["value"].isna()
    assert t.loc[blank, "note"].str.len().gt(0).all()


def test_printed_totals_agree_with_rows():
    chk = published.check_totals()
    assert len(chk) >= 40
    # every total agrees, except the ones the report itself gets wrong, which are flagged
    bad = chk[~chk["ok"]]
    assert bad["known_inconsistency"].all(), bad.to_string()
    assert not chk.loc[chk["ok"], "known_inconsistency"].any()
    assert set(bad["table"]) == {"9"}


def test_cells_read_as_printed():
    assert published.cell(14, "programme", "mean") == 3.5
    assert published.cell(10, "collaboration", "sd", "usual") == 0.93
    assert published.cell(10, "skill", "df") == 62
    assert published.cell(9, "mental_health", "count", "rsw") == 9
    assert published.cell(9, "mental_health", "percent", "rsw") == 64
    assert published.cell("crosstab", "systemic", "count") == 7
    assert published.cell(1, "sw_questionnaire", "count", "usual:la2") == 10  # printed "1 0"
    assert np.isnan(published.cell(14, "other", "p"))  # printed "Ns"


def test_unknown_table_is_a_clear_error():
    with pytest.raises(InputError, match="no published table '99'"):
        published.table(99)
    assert len(published.table("Table 14")) == 20
