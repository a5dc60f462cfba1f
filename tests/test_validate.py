"""Tests of pyramid.validate, check_suitability, summarise and the `pyramid validate` command.

The valid fixture, tests/data/observations_small.csv, is small and realistic: 24 observations
of 12 workers (ids with leading zeros) in 6 units of 3 authorities, discussion and clinician
observed for half the units, one missing domain score, skill given (to 2 dp) on every third
row, and a free-text column outside the schema. Each bad-input test breaks one rule and checks
the row, column, value and rule of the problem reported.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyramid as pyr
from pyramid.cli import main
from pyramid.data import schema
from pyramid.data.validate import (
    CANONICAL_DTYPES,
    canonical_column_name,
    check_suitability,
    suitability_terms,
    summarise,
    validate,
)
from pyramid.errors import DataWarning, InputError, Problem, ValidationError

DATA = Path(__file__).parent / "data" / "observations_small.csv"


@pytest.fixture
def raw() -> pd.DataFrame:
    """The fixture as text cells, exactly as in the file ("" for an empty cell)."""
    return pd.read_csv(DATA, dtype=str, keep_default_na=False)


@pytest.fixture
def good(raw) -> pd.DataFrame:
    return validate(raw)


@contextlib.contextmanager
def recorded() -> Iterator[list[str]]:
    """Record every warning (the suite turns warnings into errors) as a list of messages."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    assert all(issubclass(w.category, DataWarning) for w in caught), [str(w) for w in caught]
    messages.extend(str(w.message) for w in caught)


def problems_of(df: pd.DataFrame, **kwargs) -> list[Problem]:
    with pytest.raises(ValidationError) as info:
        validate(df, **kwargs)
    return info.value.problems


def only_problem(df: pd.DataFrame) -> Problem:
    found = problems_of(df)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# --------------------------------------------------------------------------------------------
# valid data: the canonical frame
# --------------------------------------------------------------------------------------------
def test_canonical_dtypes_and_columns(good, raw):
    assert list(good.columns) == [*schema.COLUMNS, "notes"]
    for c, dtype in CANONICAL_DTYPES.items():
        if dtype == "str":
            assert isinstance(good[c].dtype, pd.StringDtype), c
        else:
            assert good[c].dtype == dtype, c
    assert good["training"].cat.ordered and good["discussion"].cat.ordered
    assert list(good["training"].cat.categories) == list(schema.TRAINING_LEVELS)
    assert len(good) == len(raw) == 24
    # ids keep their leading zeros
    assert good["worker"].iloc[0] == "0111" and good["observation"].iloc[0] == "001"
    # the extra column is kept as it was
    assert good["notes"].iloc[5] == "second visit"
    assert good.attrs["validation"]["extra_columns"] == ["notes"]


def test_skill_given_kept_and_missing_derived(good, raw):
    doms = good[list(schema.DOMAINS)].astype("float64")
    mean = doms.mean(axis=1)  # pandas skips missing scores: the mean of the available ones
    given = pd.to_numeric(raw["skill"].replace("", np.nan))
    np.testing.assert_allclose(good["skill"][given.isna()], mean[given.isna()], rtol=1e-12)
    np.testing.assert_allclose(good["skill"][given.notna()], given[given.notna()], rtol=1e-12)
    # row 4 (index 3) has a missing clarity score: skill is the mean of the four others
    assert good["skill"].iloc[3] == 2.75
    assert good.attrs["validation"]["skill_derived"] == int(given.isna().sum())


def test_input_not_modified(raw):
    before = raw.copy(deep=True)
    validate(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_validated_frame_validates_to_itself(good):
    again = validate(good)
    pd.testing.assert_frame_equal(again, good)


def test_header_variants_are_renamed_and_recorded(raw):
    df = raw.rename(columns={
        "child_focus": "Child Focus", "worker": " Worker ", "training": "TRAINING",
        "observation": "observation-id".replace("-id", ""),
    })
    out = validate(df)
    assert {"child_focus", "worker", "training"} <= set(out.columns)
    assert out.attrs["validation"]["renamed"] == {
        "Child Focus": "child_focus", " Worker ": "worker", "TRAINING": "training",
    }
    assert "'Child Focus' -> child_focus" in " ".join(out.attrs["validation"]["notes"])
    assert canonical_column_name("child-focus") == "child_focus"
    assert canonical_column_name("childfocus") == "child_focus"


def test_level_spellings_accepted(raw):
    df = raw.copy()
    df.loc[0:3, "discussion"] = ["Non systemic", "non-systemic", "NON_SYSTEMIC", "Non-Systemic"]
    df.loc[8:11, "discussion"] = ["Green shoots", "green-shoots", "Systemic", " systemic "]
    df.loc[0:3, "training"] = ["None", "No systemic training", "Programme", "program"]
    df.loc[0:1, "group"] = ["RSW", "Reclaiming Social Work"]
    out = validate(df)
    assert out["discussion"].iloc[:4].tolist() == ["non_systemic"] * 4
    assert out["discussion"].iloc[8:12].tolist() == [
        "green_shoots", "green_shoots", "systemic", "systemic",
    ]
    assert out["training"].iloc[:4].tolist() == ["none", "none", "programme", "programme"]
    assert out["group"].iloc[:2].tolist() == ["rsw", "rsw"]


def test_clinician_words_and_booleans(raw):
    df = raw.astype(object)
    df.loc[0:7, "clinician"] = ["yes", "No", "TRUE", "false", True, 0.0, " 1 ", ""]
    out = validate(df)
    assert out["clinician"].iloc[:8].tolist()[:7] == [1, 0, 1, 0, 1, 0, 1]
    assert out["clinician"].isna().iloc[7]


def test_numbers_as_ids_same_id_whatever_the_type(raw):
    df = raw.astype(object)
    # worker 0111 renamed to the number 5 in four spellings: one worker, one id
    df.loc[0:1, "worker"] = ["5", 5.0]
    df.loc[2:3, "worker"] = [np.int64(5), " 5"]
    out = validate(df, allow="worker-training")  # 0111 and 0112 had different training
    assert out["worker"].iloc[:4].tolist() == ["5"] * 4
    assert out.attrs["validation"]["numeric_ids"] == {"worker": 2}


def test_scores_accept_whole_floats_and_numeric_text(raw):
    df = raw.astype(object)
    df.loc[0, "empathy"] = 2.0
    df.loc[1, "empathy"] = " 3 "
    df.loc[2, "empathy"] = "4.0"
    out = validate(df)
    assert out["empathy"].iloc[:3].tolist() == [2, 3, 4]


def test_missing_discussion_and_clinician_allowed(good):
    assert good["discussion"].isna().sum() == 12
    assert good["clinician"].isna().sum() == 12


def test_optional_columns_absent_are_added(raw):
    out = validate(raw.drop(columns=["group", "evocation", "autonomy", "skill"]))
    assert out["group"].isna().all() and out["evocation"].isna().all()
    assert out.attrs["validation"]["absent_columns"] == ["group", "evocation", "autonomy"]


def test_skill_tolerance_boundary(raw):
    # row 1: domains 1, 2, 2, 1, 5 -> mean 2.2; SKILL_TOLERANCE is 0.0051 (2 dp rounding)
    validate(raw.assign(skill=["2.205"] + [""] * 23))
    p = only_problem(raw.assign(skill=["2.21"] + [""] * 23))
    assert (p.row, p.column, p.value) == (1, "skill", "2.21")
    assert "differs from the mean 2.2" in p.rule


def test_blank_rows_dropped_counted_and_warned(raw):
    blank = pd.DataFrame([[""] * raw.shape[1]], columns=raw.columns)
    df = pd.concat([raw.iloc[:2], blank, raw.iloc[2:], blank], ignore_index=True)
    df.loc[3, "empathy"] = "9"  # the 4th data row: numbering counts the blank row
    with pytest.raises(ValidationError) as info:
        validate(df)
    assert [(p.row, p.column) for p in info.value.problems] == [(4, "empathy")]
    df.loc[3, "empathy"] = "2"
    with pytest.warns(DataWarning, match=r"2 completely blank row\(s\) dropped \(rows 3, 26\)"):
        out = validate(df)
    assert len(out) == 24
    assert out.attrs["validation"]["blank_rows"] == [3, 26]
    assert list(out.index[:3]) == [0, 1, 3]  # the input's index is kept


# --------------------------------------------------------------------------------------------
# bad input: one kind per test, each naming row, column, value and rule
# --------------------------------------------------------------------------------------------
def test_bad_missing_required_column(raw):
    found = problems_of(raw.drop(columns=["training", "unit"]))
    cols = {p.column: p for p in found}
    assert set(cols) == {"training", "unit"}
    assert cols["training"].row is None
    assert "required column 'training' is missing" in cols["training"].rule
    assert "observation, worker, unit, authority, training" in cols["training"].rule


def test_bad_score_not_whole_number(raw):
    p = only_problem(raw.assign(empathy=raw["empathy"].mask(raw.index == 4, "2.5")))
    assert (p.row, p.column, p.value) == (5, "empathy", "2.5")
    assert p.rule.startswith("not a whole number") and "1 to 5" in p.rule


@pytest.mark.parametrize("value", ["0", "6", 6, -1])
def test_bad_score_out_of_range(raw, value):
    df = raw.astype(object)
    df.loc[9, "collaboration"] = value
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (10, "collaboration", value)
    assert p.rule.startswith("out of range") and "whole numbers from 1 to 5" in p.rule


def test_bad_score_not_a_number(raw):
    df = raw.astype(object)
    df.loc[0, "clarity"] = "three"
    df.loc[1, "autonomy"] = True
    found = problems_of(df)
    assert [(p.row, p.column, p.value) for p in found] == [(1, "clarity", "three"),
                                                           (2, "autonomy", True)]
    assert all(p.rule.startswith("not a number") for p in found)


def test_bad_clinician(raw):
    df = raw.astype(object)
    df.loc[2, "clinician"] = "maybe"
    df.loc[3, "clinician"] = 2
    found = problems_of(df)
    assert [(p.row, p.column, p.value) for p in found] == [(3, "clinician", "maybe"),
                                                           (4, "clinician", 2)]
    assert "0 or 1" in found[0].rule and "yes" in found[0].rule


def test_bad_level_lists_allowed(raw):
    df = raw.copy()
    df.loc[6, "training"] = "lots"
    df.loc[7, "group"] = "control"
    found = problems_of(df)
    assert [(p.row, p.column, p.value) for p in found] == [(7, "training", "lots"),
                                                           (8, "group", "control")]
    assert "allowed are none, other, mla, programme" in found[0].rule
    assert "allowed are rsw, usual, kft" in found[1].rule


def test_bad_numeric_level_code(raw):
    df = raw.astype(object)
    df.loc[0, "discussion"] = 2
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (1, "discussion", 2)
    assert "numeric codes are not accepted" in p.rule
    assert "non_systemic, green_shoots, systemic" in p.rule


def test_bad_missing_training(raw):
    df = raw.astype(object)
    df.loc[11, "training"] = None
    df.loc[12, "training"] = "  "
    found = problems_of(df)
    assert [(p.row, p.column) for p in found] == [(12, "training"), (13, "training")]
    assert all("required on every row" in p.rule for p in found)


def test_bad_missing_id(raw):
    df = raw.astype(object)
    df.loc[5, "worker"] = ""
    df.loc[6, "authority"] = np.nan
    found = problems_of(df)
    assert [(p.row, p.column) for p in found] == [(6, "worker"), (7, "authority")]
    assert found[0].rule.startswith("missing worker id")


def test_bad_id_type(raw):
    df = raw.astype(object)
    df.loc[0, "observation"] = True
    df.loc[1, "unit"] = float("inf")
    found = problems_of(df)
    assert [(p.row, p.column) for p in found] == [(1, "observation"), (2, "unit")]
    assert "true/false" in found[0].rule


def test_bad_duplicate_observation_names_both_rows(raw):
    df = raw.copy()
    df.loc[9, "observation"] = "003"
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (10, "observation", "003")
    assert "'003' appears in rows 3, 10" in p.rule


def test_bad_duplicate_observation_number_and_text(raw):
    # the number 3 and the text "3" are one id, so they collide
    df = raw.astype(object)
    df.loc[0, "observation"] = "100"
    df.loc[1, "observation"] = 100.0
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (2, "observation", 100.0)
    assert "'100' appears in rows 1, 2" in p.rule


def test_bad_same_number_spelled_differently(raw):
    # '0111' and the number 111 (a spreadsheet dropped the zero) must not become two workers
    df = raw.astype(object)
    df.loc[1, "worker"] = 111
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (2, "worker", 111)
    assert "'0111' (row 1) and '111' (row 2) are the same number written differently" in p.rule


def test_bad_worker_in_two_units(raw):
    df = raw.copy()
    df.loc[3, "unit"] = "A-U2"  # worker 0112, otherwise in A-U1
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (4, "unit", "A-U2")
    assert "worker '0112' is in more than one unit: 'A-U1' (row 3), 'A-U2' (row 4)" in p.rule


def test_bad_unit_in_two_authorities(raw):
    df = raw.copy()
    df.loc[20:23, "authority"] = "B"  # unit C-U2 now in B; C-U1 stays in C
    df.loc[23, "authority"] = "C"
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (24, "authority", "C")
    assert "unit 'C-U2' is in more than one authority: 'B' (rows 21, 22, 23), 'C' (row 24)" in (
        p.rule
    )


def test_bad_skill_not_a_number_or_out_of_range(raw):
    df = raw.copy()
    df.loc[0, "skill"] = "high"
    df.loc[3, "skill"] = "5.5"
    found = problems_of(df)
    assert [(p.row, p.column, p.value) for p in found] == [(1, "skill", "high"),
                                                           (4, "skill", "5.5")]
    assert "must lie between 1 and 5" in found[1].rule


def test_bad_skill_disagrees_with_domains(raw):
    p = only_problem(raw.assign(skill=raw["skill"].mask(raw.index == 6, "4.2")))
    assert (p.row, p.column, p.value) == (7, "skill", "4.2")
    assert "differs from the mean 3.2 of the 5 analysed domain score(s)" in p.rule


def test_bad_nothing_to_analyse(raw):
    df = raw.copy()
    df.loc[14, list(schema.DOMAINS)] = ""
    df.loc[14, "skill"] = ""
    p = only_problem(df)
    assert (p.row, p.column, p.value) == (15, None, None)
    assert p.rule.startswith("nothing to analyse")
    # with evocation and autonomy only (not analysed) there is still nothing to analyse
    assert df.loc[14, "evocation"] != ""


def test_bad_no_domain_and_no_skill_column(raw):
    p = only_problem(raw.drop(columns=[*schema.DOMAINS, "skill"]))
    assert (p.row, p.column) == (None, None)
    assert "no analysed domain column" in p.rule


def test_bad_empty_frame(raw):
    p = only_problem(raw.iloc[:0])
    assert "empty (no rows)" in p.rule
    p = only_problem(pd.DataFrame())
    assert "empty (no columns)" in p.rule


def test_bad_all_rows_blank(raw):
    p = only_problem(pd.DataFrame("", index=range(3), columns=raw.columns))
    assert "every row (3) is completely blank" in p.rule


def test_bad_two_columns_for_one(raw):
    df = raw.assign(Training=raw["training"])
    p = only_problem(df)
    assert (p.row, p.column) == (None, "Training")
    assert "'training' and 'Training' both stand for 'training'" in p.rule


def test_bad_same_column_name_twice(raw):
    df = pd.concat([raw, raw[["notes", "empathy"]]], axis=1)
    found = problems_of(df)
    assert [(p.row, p.column) for p in found] == [(None, "notes"), (None, "empathy")]
    assert "column name 'notes' appears more than once" in found[0].rule


def test_bad_not_a_frame():
    with pytest.raises(InputError, match="needs a pandas DataFrame.*got list"):
        validate([{"observation": "o1"}])


def test_all_problems_reported_at_once_in_row_order(raw):
    df = raw.astype(object)
    df.loc[20, "empathy"] = 7
    df.loc[2, "training"] = "unknown"
    df.loc[2, "clarity"] = 1.5
    df.loc[5, "observation"] = "001"
    found = problems_of(df.drop(columns=["authority"]), source="broken.csv")
    assert [(p.row, p.column) for p in found] == [
        (None, "authority"), (3, "training"), (3, "clarity"), (6, "observation"),
        (21, "empathy"),
    ]
    with pytest.raises(ValidationError, match=r"^5 problem\(s\) in broken.csv:"):
        validate(df.drop(columns=["authority"]), source="broken.csv")


# --------------------------------------------------------------------------------------------
# enough groups for a model
# --------------------------------------------------------------------------------------------
def test_check_suitability_one_group_is_an_error(good):
    one = good[good["authority"] == "A"]
    with pytest.warns(DataWarning):
        found = check_suitability(one, ["authority", "unit"], ["training"])
    assert [(p.column, p.value) for p in found] == [("authority", 1)]
    assert "needs at least 2 groups among the 8 rows the model uses; found 1 ('A')" in (
        found[0].rule
    )


def test_check_suitability_single_level_of_a_term_among_used_rows(good):
    # clinician is observed on 12 rows; make them all 1: the term has a single level
    df = good.assign(clinician=good["clinician"].where(good["clinician"].isna(), 1))
    with recorded() as messages:
        found = check_suitability(df, ["authority"], ["training", "clinician", "mo(discussion)"])
    assert "the model will use 12 of 24 rows and leave out 12 (clinician missing in 12, " \
        "discussion missing in 12)" in messages
    assert [(p.column, p.value) for p in found] == [("clinician", [1])]
    assert "term 'clinician' needs at least 2 observed levels" in found[0].rule
    assert "among the 12 rows the model uses" in found[0].rule


def test_check_suitability_warnings(good):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = check_suitability(good, ["authority", "unit", "worker"], ["training"])
    assert found == []
    messages = [str(w.message) for w in caught]
    assert all(w.category is DataWarning for w in caught)
    assert any("'authority' has only 3 groups" in m for m in messages)
    assert not any("'unit'" in m for m in messages)  # 6 units: enough
    # one observation per worker: worker effect not identified in a skill model
    single = good.drop_duplicates("worker")
    with pytest.warns(DataWarning, match="every worker has only one observation"):
        check_suitability(single, ["unit", "worker"], ["training"])
    # ... but fine for the domains model (five ratings per observation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_suitability(single, ["unit", "worker"], ["training"], outcome="domains")


def test_check_suitability_missing_ok_keeps_rows(good):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "rows left out" warning
        found = check_suitability(
            good, ["unit"], ["training", "mo(discussion)"], missing_ok=["discussion"]
        )
    assert found == []


def test_check_suitability_unknown_columns(good):
    found = check_suitability(good, ["team"], ["training:staffing"], outcome="quality")
    assert [p.column for p in found] == ["staffing", "team", "quality"]


def test_check_suitability_derives_csw(good):
    # csw (docs/architecture.md): group rsw/kft or any programme worker in the unit.
    # Authorities A and B are rsw; in C only unit C-U1 has no programme worker... and neither
    # does C-U2, so csw varies: no problem. With every row rsw it has one level.
    assert check_suitability(good, ["unit"], ["csw"]) == []
    found = check_suitability(good.assign(group="rsw").astype({"group": good["group"].dtype}),
                         ["unit"], ["csw"])
    assert [(p.column, p.value) for p in found] == [("csw", [1])]


def test_validate_with_model_names(raw):
    with pytest.warns(DataWarning):
        out = validate(raw, model="skill")
    assert len(out) == 24
    # the pyramid path model integrates out missing discussion/clinician: no rows left out
    spec = pyr.specs.load_spec("pyramid")
    design = suitability_terms(spec)
    assert set(design["missing_ok"]) == {"discussion", "clinician"}
    assert "csw" in design["terms"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate(raw, model=spec)
    assert not any("leave out" in str(w.message) for w in caught)


def test_validate_with_model_reports_design_problems(raw):
    # authority A alone: discussion and clinician observed only in its unit A-U1
    df = raw[raw["authority"] == "A"]
    with recorded() as messages, pytest.raises(ValidationError) as info:
        validate(df, model="skill", source="a.csv")
    assert {p.column for p in info.value.problems} == {"authority", "unit", "clinician",
                                                       "discussion"}
    assert "4 problem(s) in a.csv" in str(info.value)
    assert any("leave out 4" in m for m in messages)


def test_validate_bad_model_argument(raw):
    with pytest.raises(InputError, match="model must be a model name"):
        validate(raw, model=42)
    with pytest.raises(InputError):
        validate(raw, model="no_such_model")


def test_validate_model_refuses_what_fit_refuses(raw):
    """Issue 22 (from 21): `validate --model pyramid` passed data whose discussion varies
    within a unit, which fit then refused. Every unit that disagrees is named with its rows."""
    df = raw.copy()
    df.loc[1, "discussion"] = "systemic"  # unit A-U1: non_systemic on rows 1, 3, 4
    df.loc[17, "clinician"] = "0"  # unit C-U1: 1 on rows 17, 19, 20
    validate(df)  # valid data ...
    with recorded(), pytest.raises(ValidationError) as info:
        validate(df, model="pyramid")  # ... but not for the unit-level path model
    found = info.value.problems
    assert [(p.row, p.column, p.value) for p in found] == [
        (2, "discussion", "systemic"), (18, "clinician", 0)]
    assert "discussion differs between the rows of unit 'A-U1': 'non_systemic' (rows 1, 3, 4)" \
        ", 'systemic' (row 2)" in found[0].rule
    assert "[path] level = \"row\"" in found[0].rule
    # the skill model takes discussion per row: the same data pass for it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        validate(df, model="skill")
    # what the models' own coding refuses is refused too (here: an unknown level sneaked into
    # a canonical frame, which only the coding step sees)
    good = validate(raw)
    spec = pyr.specs.load_spec("pyramid")
    from pyramid.models.coding import prepare

    bad = good.assign(csw=[2] * 4 + [1] * 12 + [0] * 8)  # explicit csw: the models take 0, 1
    with pytest.raises(InputError) as fit_says:
        prepare(spec, bad, warn=False)
    with recorded(), pytest.raises(ValidationError) as validate_says:
        validate(bad, model=spec)
    assert str(fit_says.value) in str(validate_says.value)


# --------------------------------------------------------------------------------------------
# judgements and the gaps of issue 22
# --------------------------------------------------------------------------------------------
def test_absent_domain_column_is_the_first_message(raw):
    """Issue 22: without its empathy column a file got one 'skill differs from the mean of 4
    domains' error per row; the first (here the only) message names the missing column."""
    found = problems_of(raw.drop(columns=["empathy"]))
    assert len(found) == 1, [str(p) for p in found]
    p = found[0]
    assert (p.row, p.column) == (None, "empathy")
    assert p.rule.startswith("analysed domain column 'empathy' is missing: skill is the mean")
    assert "Add the column (empty cells = not scored), or leave skill empty" in p.rule
    # a header that is nearly the column's name is an error naming both (issue 18: never a
    # silently unused column), and the absent column's message suggests it
    found = problems_of(raw.rename(columns={"empathy": "Empathy score"}))
    assert found[0].column == "Empathy score"
    assert "looks like 'empathy' (domain 'empathy'), which the data lack" in found[0].rule
    p = next(p for p in found if p.column == "empathy")
    assert "is 'Empathy score' it? Then rename it to 'empathy'" in p.rule
    # without skill, the domains present give it: no problem, and the absence is noted
    out = validate(raw.drop(columns=["empathy", "skill"]))
    assert "empathy" in out.attrs["validation"]["absent_columns"]
    # a missing required column gets the same hint
    found = problems_of(raw.rename(columns={"training": "systemic training"}))
    p = next(p for p in found if p.column == "training")
    assert "required column 'training' is missing; is 'systemic training' it?" in p.rule


def test_ids_in_two_unicode_forms_are_one_id(raw):
    """Issue 22: 'école' typed as one character (NFC) and as e + accent (NFD) became two
    units without a word."""
    import unicodedata

    nfc, nfd = (unicodedata.normalize(f, "école-1") for f in ("NFC", "NFD"))
    assert nfc != nfd
    df = raw.copy()
    df.loc[0:3, "unit"] = [nfc, nfd, nfc, nfd]  # unit A-U1 renamed, typed two ways
    out = validate(df)
    assert out["unit"].iloc[:4].tolist() == [nfc] * 4
    assert out["unit"].nunique() == 6
    assert out.attrs["validation"]["composed_ids"] == {"unit": 2}
    assert any("2 unit id(s) with accents typed as separate marks" in n
               for n in out.attrs["validation"]["notes"])


def test_ids_that_differ_only_in_case_warn_and_can_be_allowed(raw):
    df = raw.copy()
    df.loc[[2, 3], "worker"] = "W0112X"
    df.loc[[0, 1], "worker"] = "w0112x"
    with pytest.warns(DataWarning, match=r"worker ids that differ only in upper and lower case "
                      r"are kept as different workers: 'w0112x' \(rows 1, 2\) and 'W0112X' "
                      r"\(rows 3, 4\).*allow='case-ids'; CLI: --allow case-ids"):
        out = validate(df)
    assert out["worker"].nunique() == 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = validate(df, allow=["case-ids"])
        validate(out)  # the allowance travels with the validated frame
    assert out.attrs["validation"]["allowed"] == ["case-ids"]
    with pytest.raises(InputError, match="allow: unknown judgement.*'cases'.*case-ids"):
        validate(df, allow="cases")


def test_worker_with_two_training_levels_warns_and_can_be_allowed(raw):
    df = raw.copy()
    df.loc[1, "training"] = "programme"  # worker 0111: none on row 1
    with pytest.warns(DataWarning, match=r"1 worker\(s\) with more than one training level: "
                      r"worker '0111': none \(row 1\), programme \(row 2\)\. Each observation "
                      r"keeps its own training.*allow='worker-training'"):
        out = validate(df)
    assert out["training"].iloc[:2].tolist() == ["none", "programme"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate(df, allow="worker-training")


def test_missing_token_in_an_id_column_is_named(raw):
    """Issue 22: an authority literally 'NA' gave 'missing authority id' without the value."""
    df = raw.copy()
    df.loc[0:7, "authority"] = "NA"
    found = problems_of(df)
    assert [(p.row, p.column, p.value) for p in found] == [(r, "authority", "NA")
                                                           for r in range(1, 9)]
    assert found[0].rule.startswith("missing authority id: every row needs one")
    assert "'NA' is read as missing" in found[0].rule
    assert "e.g. 'NA1' or the authority's name" in found[0].rule


@pytest.mark.parametrize(
    "value",
    [pd.Timestamp("2024-03-04"), np.datetime64("2024-03-04"), "2024-03-04 00:00:00"],
    ids=["timestamp", "datetime64", "text"],
)
def test_dates_in_an_id_column_are_refused(raw, value):
    """Issue 22: Excel turns ids such as 3-4 into dates; read as text they became
    '2024-03-04 00:00:00' silently."""
    df = raw.astype(object)
    df.loc[4, "worker"] = value
    p = only_problem(df)
    assert (p.row, p.column) == (5, "worker")
    assert p.rule.startswith("an id that is a date: a spreadsheet turned the id into a date")
    assert "Format the column as Text" in p.rule


def test_fractional_ids_are_refused(raw):
    """Issue 22: ids 0.5 and 1.5 (from a Parquet file) passed, though ids are whole numbers."""
    df = raw.astype(object)
    df.loc[0, "observation"] = 0.5
    df.loc[1, "observation"] = np.float32(1.5)
    found = problems_of(df)
    assert [(p.row, p.column, p.value) for p in found] == [(1, "observation", 0.5),
                                                           (2, "observation", 1.5)]
    assert "got 0.5, which is not a whole number" in found[0].rule
    # numeric text is text: an id such as '1.5' typed in a CSV file is fine
    df.loc[0:1, "observation"] = ["0.5", "1.5"]
    validate(df)


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------
def test_summarise(good):
    s = summarise(good)
    assert list(s.columns) == ["quantity", "level", "n", "percent", "value"]

    def n(quantity, level=""):
        return s.query("quantity == @quantity and level == @level")["n"].item()

    assert (n("rows"), n("authorities"), n("units"), n("workers")) == (24, 3, 6, 12)
    assert n("discussion", "missing") == 12 and n("discussion", "systemic") == 4
    assert n("clinician", "1") == 8 and n("clinician", "missing") == 12
    assert n("group", "usual") == 8 and n("missing score", "clarity") == 1
    counts = s.query("quantity == 'training'")["n"]
    assert counts.sum() == 24
    mean = s.query("quantity == 'skill' and level == 'mean'")["value"].item()
    np.testing.assert_allclose(mean, good["skill"].mean(), rtol=1e-12)
    assert n("extra column", "notes") is pd.NA
    per_worker = s.query("quantity == 'observations per worker'")["value"].tolist()
    assert per_worker == [2.0, 2.0, 2.0]


def test_summarise_validates_raw_input(raw):
    pd.testing.assert_frame_equal(summarise(raw), summarise(validate(raw)))


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def test_cli_validate_ok(capsys):
    assert main(["validate", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("valid")
    assert "observations_small.csv: 24 observations" in out
    assert "columns outside the schema kept as they are: notes" in out


def test_cli_validate_csv_format(capsys):
    assert main(["validate", str(DATA), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("quantity,level,n,percent,value")
    assert captured.err.strip() == "valid"


def _write(raw: pd.DataFrame, tmp_path: Path, name: str = "bad.csv") -> str:
    path = tmp_path / name
    raw.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("empathy", 2, "2.5"), "row 3, column 'empathy': value 2.5: not a whole number"),
        (("training", 0, "lots"), "row 1, column 'training': value 'lots': unknown training"),
        (("observation", 4, "001"), "row 5, column 'observation': value '001': observation ids "
                                    "must be unique: '001' appears in rows 1, 5"),
        (("unit", 3, "A-U2"), "row 4, column 'unit': value 'A-U2': worker '0112' is in more"),
        (("clinician", 8, "perhaps"), "row 9, column 'clinician': value 'perhaps': clinician "
                                      "must be 0 or 1"),
        (("skill", 0, "4.9"), "row 1, column 'skill': value 4.9: skill differs from the mean 2.2"),
    ],
)
def test_cli_validate_bad_rows(raw, tmp_path, capsys, change, expected):
    column, index, value = change
    raw.loc[index, column] = value
    assert main(["validate", _write(raw, tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "1 problem(s) in bad.csv" in captured.err
    assert expected in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_cli_validate_prints_every_problem(raw, tmp_path, capsys):
    raw["empathy"] = "9"  # 24 problems: all printed, with the count
    raw = raw.drop(columns=["unit"])
    assert main(["validate", _write(raw, tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "25 problem(s) in bad.csv" in err
    assert err.count("value 9: out of range") == 24
    assert "required column 'unit' is missing" in err


def test_cli_validate_model_groups(raw, tmp_path, capsys):
    path = _write(raw[raw["authority"] == "A"], tmp_path, "one.csv")
    assert main(["validate", path, "--model", "skill"]) == 2
    err = capsys.readouterr().err
    assert "grouping level 'authority' needs at least 2 groups" in err
    assert "warning: " in err  # the warnings gathered before the error are shown too
    assert main(["validate", str(DATA), "--model", "pyramid"]) == 0
    captured = capsys.readouterr()
    assert "warning: grouping level 'authority' has only 3 groups" in captured.err
    assert captured.out.rstrip().endswith("valid")


def test_cli_validate_bad_files(tmp_path, capsys):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    (tmp_path / "latin1.csv").write_bytes("observation,worker\n1,Jos\xe9\n".encode("latin-1"))
    cases = {
        str(tmp_path / "empty.csv"): "the file is empty (0 bytes)",
        str(tmp_path / "data.txt"): "unsupported file type '.txt'",
        str(tmp_path / "missing.csv"): "no such file",
        str(tmp_path): "is a directory",
        str(tmp_path / "latin1.csv"): "line 2 is not valid utf-8-sig text",
    }
    for path, message in cases.items():
        assert main(["validate", path]) == 2, path
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_cli_validate_help(capsys):
    assert main(["validate", "--help"]) == 0
    assert "--model" in capsys.readouterr().out


def test_cli_validate_model_spec_file(tmp_path, capsys):
    # a user's own spec file: the skill spec with a unit-level term that has a single level
    text = (pyr.specs.specs_dir("models") / "skill.toml").read_text()
    spec = tmp_path / "mine.toml"
    spec.write_text(text.replace('name = "skill"', 'name = "mine"').replace(
        'terms = ["training", "clinician", "mo(discussion)"]', 'terms = ["training"]'))
    assert main(["validate", str(DATA), "--model", str(spec)]) == 0
    capsys.readouterr()
    path = tmp_path / "no_programme.csv"
    pd.read_csv(DATA, dtype=str).assign(training="none").to_csv(path, index=False)
    assert main(["validate", str(path), "--model", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "term 'training' needs at least 2 observed levels of 'training'" in err
