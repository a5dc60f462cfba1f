"""Study definitions: the built-in rsw2017 study, the checks of a study file, mapping a data
set's columns onto a study, and drafting a study from data (issue 18)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pyramid.data import schema
from pyramid.data.example import FUTURE_DOMAINS, future_project
from pyramid.errors import InputError
from pyramid.study import (
    Study,
    available_studies,
    check_study,
    draft_study,
    level_problems,
    load_study,
    map_columns,
    normalise,
    studies_dir,
    study_from_text,
)

MINIMAL = """
name = "future"
[ids]
observation = "Observation ID"
worker = "Worker ID"
unit = "Team"
authority = "Authority"
[scale]
min = 1
max = 7
domains = ["Empathy", "Collaboration", "Use of Authority"]
[factors.wave]
column = "Wave"
kind = "categorical"
levels = ["baseline", "follow-up"]
[factors.caseload]
column = "Caseload"
kind = "numeric"
[factors.supervision]
column = "Reflective Supervision"
kind = "binary"
at = "unit"
"""


# --------------------------------------------------------------------------------------------
# the built-in study is today's schema, as data
# --------------------------------------------------------------------------------------------
def test_rsw2017_is_the_default_and_shipped():
    assert available_studies() == ["rsw2017"]
    s = load_study()
    assert s is load_study("rsw2017") is load_study(s)
    assert s.is_default()
    assert Path(s.source).parent == studies_dir()
    assert "Reclaiming Social Work" in s.description


def test_rsw2017_matches_the_schema():
    s = load_study("rsw2017")
    assert s.roles == schema.ID_COLUMNS
    assert s.factors["group"].levels == schema.GROUP_LEVELS
    assert s.factors["training"].levels == schema.TRAINING_LEVELS
    assert s.factors["discussion"].levels == schema.DISCUSSION_LEVELS
    assert s.domain_names == schema.DOMAINS
    assert tuple(d.name for d in s.coded) == schema.EXTRA_DOMAINS
    assert (s.scale_min, s.scale_max) == (schema.SCORE_MIN, schema.SCORE_MAX)
    assert s.overall.tolerance == schema.SKILL_TOLERANCE
    assert s.columns == tuple(schema.COLUMNS)
    kinds = {"categorical": "category", "ordered": "ordered", "binary": "binary"}
    for name, col in schema.COLUMNS.items():
        kind = s.kind_of(name)
        want = {"id": "id", "score": "score", "overall": "float"}.get(kind) or kinds[kind]
        assert want == col.kind, name
        if name in s.factors:
            f = s.factors[name]
            assert f.required == col.required, name
            assert f.description == col.description, name
            if f.kind != "binary":
                assert f.levels == col.levels, name
        assert s.description_of(name) == col.description, name
    assert s.required_columns() == tuple(c for c, col in schema.COLUMNS.items() if col.required)


def test_rsw2017_canonical_dtypes_and_spellings_match_validate():
    from pyramid.data import validate as v

    s = load_study("rsw2017")
    assert s.canonical_dtypes() == v.CANONICAL_DTYPES
    for column, col in schema.COLUMNS.items():
        if not col.levels:
            continue
        f = s.factors[column]
        for level in col.levels:
            for sp in (level, *col.spellings.get(level, ())):
                assert f.parse(sp) == (level, None), (column, sp)
    for word, value in {"no": 0, "yes": 1, "false": 0, "true": 1}.items():
        assert s.factors["clinician"].parse(word.upper()) == (value, None)
    assert s.factors["clinician"].parse(2)[1] == (
        "clinician must be 0 or 1 (also accepted: no/yes, false/true in any case; empty = not "
        "observed)")
    # Figure 4's own axis labels are spellings too (the issue's "Other provider")
    assert s.factors["training"].parse("Other provider") == ("other", None)
    assert s.factors["training"].parse("Previous\nMLA") == ("mla", None)
    # the rules read as validate's
    assert s.factors["training"].parse("x")[1] == (
        "unknown training level: allowed are none, other, mla, programme")
    assert s.factors["discussion"].parse(2)[1].endswith(
        "numeric codes are not accepted, use the level names")


def test_rsw2017_csw_is_derive_csw():
    from pyramid.data.schema import derive_csw
    from pyramid.data.simulate import simulate
    from pyramid.datasets import load_rsw2017

    s = load_study()
    for df in (load_rsw2017(), simulate((4, 3, 2, 1), seed=5).data):
        assert (s.derive("csw", df) == derive_csw(df)).all()
    explicit = pd.DataFrame({"unit": ["a"], "group": ["usual"], "training": ["none"],
                             "csw": [1]})
    assert s.derive("csw", explicit).tolist() == [1]
    with pytest.raises(InputError, match="must be 0 or 1"):
        s.derive("csw", explicit.assign(csw=[2]))
    with pytest.raises(InputError, match="no derived indicator 'x'"):
        s.derive("x", explicit)


def test_level_words():
    f = load_study().factors["training"]
    assert f.level_label("mla") == "Previous MLA"
    assert f.level_label("mla", "plot") == "Previous\nMLA"
    assert f.level_label("programme", "contrast") == "worker on CSW programme"
    clin = load_study().factors["clinician"]
    assert clin.level_label(1) == "yes" and clin.level_label(0, "contrast") == "absent"
    assert clin.level_label(None) == "not observed"
    with pytest.raises(InputError, match="style must be"):
        f.level_label("mla", "bold")


# --------------------------------------------------------------------------------------------
# a study of one's own
# --------------------------------------------------------------------------------------------
def test_minimal_study(tmp_path):
    path = tmp_path / "future.toml"
    path.write_text(MINIMAL, encoding="utf-8-sig")  # with a byte-order mark, as Notepad saves
    s = load_study(path)
    assert load_study(str(path)) == s
    assert not s.is_default()
    assert s.roles == ("observation", "worker", "unit", "authority")
    assert s.groups == ("authority", "unit", "worker")
    assert s.domain_names == ("empathy", "collaboration", "use_of_authority")
    assert s.domain("use_of_authority").label == "Use of Authority"
    assert s.categories == (1, 2, 3, 4, 5, 6, 7)
    wave = s.factors["wave"]
    assert wave.levels == ("baseline", "follow_up") and wave.reference == "baseline"
    assert wave.level_label("follow_up") == "follow-up"
    assert wave.parse("Follow Up") == ("follow_up", None)
    cl = s.factors["caseload"]
    assert (cl.kind, cl.centre, cl.scale, cl.at) == ("numeric", "mean", 1.0, "row")
    assert cl.parse("12.5") == (12.5, None) and cl.parse("many")[1] == "caseload must be a number"
    sup = s.factors["supervision"]
    assert sup.parse("Yes") == (1, None) and sup.at == "unit"
    assert s.columns == ("observation", "worker", "unit", "authority", "wave", "caseload",
                         "supervision", "empathy", "collaboration", "use_of_authority", "skill")
    dt = s.canonical_dtypes()
    assert dt["caseload"] == "float64" and dt["wave"].categories.tolist() == [
        "baseline", "follow_up"]
    assert "future" in repr(s) and "1-7" in repr(s)


def test_two_levels_and_options():
    text = """
name = "small"
wave = "time"
unused_columns = ["Notes"]
[ids]
observation = { column = "Obs", synonyms = ["Visit"] }
worker = { column = "Practitioner", label = "practitioner" }
[scale]
min = 0
max = 4
domains = [{ name = "warmth", column = "Warmth (0-4)", label = "Warmth" }, "Focus"]
coded = ["Extra"]
[scale.groups]
relational = ["warmth", "Focus"]
[overall]
name = "quality"
column = "Mean Quality"
tolerance = 0.01
[factors.time]
kind = "ordered"
levels = ["T1", "T2", "T3"]
reference = "T2"
labels = { T1 = "first visit" }
synonyms = { T1 = ["start"], t3 = ["end"] }
[factors.model]
kind = "categorical"
levels = ["Usual", "New"]
versus_rest = ["new"]
contrast_labels = { new = "the new model" }
[factors.hours]
kind = "numeric"
centre = 30
scale = 10
min = 0
max = 80
unit = "hours a week"
[derived.any_new]
when_any = [{ factor = "model", levels = ["New"], over = "worker" }]
[models]
terms = ["mo(time)", "model", "hours", "any_new"]
"""
    s = study_from_text(text, "small.toml")
    assert s.roles == ("observation", "worker") and s.groups == ("worker",)
    assert s.wave == "time" and s.unused_columns == ("Notes",)
    assert [d.name for d in s.domains] == ["warmth", "focus"]
    assert s.domain("warmth").column == "Warmth (0-4)" and s.domain("extra").analysed is False
    assert s.domain_groups == {"relational": ("warmth", "focus")}
    assert s.overall.name == "quality" and s.columns[-1] == "quality"
    t = s.factors["time"]
    assert t.reference == "t2" and t.ordered_levels == ("t2", "t1", "t3")
    assert t.parse("Start") == ("t1", None) and t.parse("end") == ("t3", None)
    assert t.parse("first visit") == ("t1", None)
    assert s.factors["model"].versus_rest == ("new",)
    assert s.factors["model"].level_label("new", "contrast") == "the new model"
    h = s.factors["hours"]
    assert (h.centre, h.scale, h.min, h.max) == (30.0, 10.0, 0.0, 80.0)
    assert h.parse(81)[1] == "out of range: hours must be a number from 0 to 80"
    assert s.model_terms == ("mo(time)", "model", "hours", "any_new")
    df = pd.DataFrame({"worker": ["a", "a", "b"], "model": ["usual", "new", "usual"]})
    assert s.derive("any_new", df).tolist() == [1, 1, 0]
    assert s.label_of("worker") == "practitioner" and s.data_column("quality") == "Mean Quality"


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name = "future"', 'name = "my study"', "key 'name': must be an identifier"),
        ('name = "future"', 'name = "future"\ncolour = "red"',
         "key 'colour': unknown key; allowed keys are name, description, ids"),
        ('worker = "Worker ID"\n', "", "key 'ids.worker': missing (required)"),
        ('observation = "Observation ID"\nworker = "Worker ID"',
         'worker = "Worker ID"\nobservation = "Observation ID"',
         "key 'ids': roles must be listed innermost first (observation, worker, unit, "
         "authority), got worker, observation"),
        ('unit = "Team"\n', "", "key 'ids.authority': needs 'unit'"),
        ('unit = "Team"', 'team = "Team"', "key 'ids.team': unknown key; allowed keys are "
         "observation, worker, unit, authority"),
        ("max = 7", "max = 1", "key 'scale.max': must be greater than scale.min (1), got 1"),
        ("max = 7", "max = 7.5", "key 'scale.max': must be a whole number, got 7.5"),
        ("max = 7", "max = 40", "key 'scale.max': a rating scale of more than 21 points"),
        ('domains = ["Empathy", "Collaboration", "Use of Authority"]', "domains = []",
         "key 'scale.domains': needs at least one domain"),
        ('"Collaboration"', '"empathy"', "key 'scale': domain 'empathy' is given twice"),
        ('"Collaboration"', "3", "key 'scale.domains[1]': must be a domain name or a table"),
        ('"Collaboration"', '"!!"',
         "key 'scale.domains[1]': a domain name must be a lower-case identifier; got ''"),
        ('kind = "categorical"', 'kind = "nominal"',
         "key 'factors.wave.kind': must be one of categorical, ordered, binary, numeric, got "
         "'nominal'"),
        ('kind = "categorical"', 'kind = "categorical"\nshade = 1',
         "key 'factors.wave.shade': unknown key; allowed keys are kind, column, levels"),
        ('levels = ["baseline", "follow-up"]', 'levels = ["baseline"]',
         "key 'factors.wave.levels': needs at least 2 levels, got ['baseline']"),
        ('levels = ["baseline", "follow-up"]', 'levels = ["baseline", "Baseline"]',
         "key 'factors.wave.levels[1]': level 'Baseline' is given twice (as 'baseline')"),
        ('levels = ["baseline", "follow-up"]', "",
         "key 'factors.wave.levels': missing (a categorical factor needs its levels"),
        ('levels = ["baseline", "follow-up"]',
         'levels = ["baseline", "follow-up"]\nreference = "end"',
         "key 'factors.wave.reference': must be one of the levels (baseline, follow_up), got "
         "'end'"),
        ('levels = ["baseline", "follow-up"]',
         'levels = ["baseline", "follow-up"]\nlabels = { end = "the end" }',
         "key 'factors.wave.labels.end': unknown level; the levels are baseline, follow_up"),
        ('levels = ["baseline", "follow-up"]',
         'levels = ["baseline", "follow-up"]\nsynonyms = { baseline = ["T2"], follow-up = '
         '["t2"] }',
         "key 'factors.wave.synonyms.follow_up': the spelling 't2' stands for both 'baseline' "
         "and 'follow_up'"),
        ('levels = ["baseline", "follow-up"]',
         'levels = ["baseline", "follow-up"]\nsynonyms = { baseline = "T1" }',
         "key 'factors.wave.synonyms.baseline': must be a list, got 'T1'"),
        ('levels = ["baseline", "follow-up"]', 'levels = ["baseline", "follow-up"]\nat = "team"',
         "key 'factors.wave.at': must be one of row, worker, unit, got 'team'"),
        ('levels = ["baseline", "follow-up"]', 'levels = ["baseline", "follow-up"]\nscale = 2',
         "key 'factors.wave.scale': is for numeric factors only; 'wave' is categorical"),
        ('kind = "numeric"', 'kind = "numeric"\ncentre = "median"',
         "key 'factors.caseload.centre': must be a number or \"mean\", got 'median'"),
        ('kind = "numeric"', 'kind = "numeric"\nscale = 0',
         "key 'factors.caseload.scale': must be a positive number, got 0"),
        ('kind = "numeric"', 'kind = "numeric"\nmin = 5\nmax = 1',
         "key 'factors.caseload.max': must be greater than min (5), got 1"),
        ('kind = "numeric"', 'kind = "numeric"\nlevels = ["a", "b"]',
         "key 'factors.caseload.levels': a numeric factor has no levels"),
        ('kind = "binary"', 'kind = "binary"\nlevels = ["n", "y"]',
         "key 'factors.supervision.levels': a binary factor's levels are 0 and 1"),
        ("[factors.caseload]", "[factors.intercept]",
         "key 'factors.intercept': 'intercept' is reserved"),
        ("[factors.caseload]", "[factors.unit]", "key 'factors.unit': 'unit' is reserved"),
        ('column = "Caseload"', 'column = "Team"', "the header 'Team' would stand for both "
         "'unit' and 'caseload'"),
        ('name = "future"', 'name = "future"\nwave = "time"',
         "key 'wave': must name a factor of the study (wave, caseload, supervision), got "
         "'time'"),
        ('name = "future"', 'name = "future"\nwave = "caseload"',
         "key 'wave': the wave factor 'caseload' must be categorical or ordered, got numeric"),
        ('name = "future"', 'name = "future"\nunused_columns = ["Team"]',
         "key 'unused_columns[0]': 'Team' is a column of the study ('unit')"),
    ],
)
def test_bad_study_files(tmp_path, old, new, message):
    path = tmp_path / "bad.toml"
    path.write_text(_edit(MINIMAL, old, new))
    with pytest.raises(InputError) as err:
        load_study(path)
    assert str(err.value).startswith(str(path)), str(err.value)
    assert message in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[models]\nterms = [\"model\"]", "key 'models.terms[0]': unknown term 'model'; "
         "allowed are the study's factors (wave, caseload, supervision)"),
        ("[models]\nterms = [\"mo(wave)\"]", "key 'models.terms[0]': mo() needs an ordered "
         "factor; 'wave' is categorical"),
        ("[models]\nterms = [\"wave\", \"wave\"]", "key 'models.terms[1]': 'wave' appears twice"),
        ("[models]\nterms = \"wave\"", "key 'models.terms': must be a list"),
        ("[derived.x]\nwhen_any = [{ factor = \"model\", levels = [\"a\"] }]",
         "key 'derived.x.when_any[0].factor': unknown factor 'model'"),
        ("[derived.x]\nwhen_any = [{ factor = \"wave\", levels = [\"later\"] }]",
         "key 'derived.x.when_any[0].levels[0]': 'later' is not a level of 'wave'"),
        ("[derived.x]\nwhen_any = [{ factor = \"wave\", levels = [\"baseline\"], over = "
         "\"team\" }]", "key 'derived.x.when_any[0].over': must be 'row' or a role above"),
        ("[derived.x]\nwhen_any = [{ factor = \"caseload\", levels = [1] }]",
         "'caseload' is numeric; a condition needs levels"),
        ("[derived.x]\nwhen_any = []", "key 'derived.x.when_any': needs at least one condition"),
        ("[derived.wave]\nwhen_any = [{ factor = \"wave\", levels = [\"baseline\"] }]",
         "key 'derived.wave': 'wave' is also a factor"),
        ("[scale.groups]\nrelational = [\"Warmth\"]",
         "key 'scale.groups.relational[0]': unknown domain 'Warmth'"),
        ("[overall]\ntolerance = -1", "key 'overall.tolerance': must be a number >= 0"),
        ("[overall]\nname = \"empathy\"", "the name 'empathy' is used twice (as domain and as "
         "overall score)"),
    ],
)
def test_bad_study_tables(extra, message):
    with pytest.raises(InputError) as err:
        study_from_text(MINIMAL + "\n" + extra, "mine.toml")
    assert str(err.value).startswith("mine.toml"), str(err.value)
    assert message in str(err.value), str(err.value)


def test_unreadable_or_unknown_study(tmp_path):
    with pytest.raises(InputError, match="unknown study 'future': allowed names are rsw2017"):
        load_study("future")
    with pytest.raises(InputError, match="study file '.*none.toml' does not exist"):
        load_study(tmp_path / "none.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes("name = 'caf\xe9'".encode("latin-1"))
    with pytest.raises(InputError, match="cannot be read"):
        load_study(bad)
    syntax = tmp_path / "syntax.toml"
    syntax.write_text("name = \n")
    with pytest.raises(InputError, match=r"syntax.toml: TOML syntax error: .*line 1"):
        load_study(syntax)
    with pytest.raises(InputError, match="study must be a name or a path"):
        load_study(3)


# --------------------------------------------------------------------------------------------
# a data set's columns against a study
# --------------------------------------------------------------------------------------------
def test_map_columns_reports_every_column():
    s = study_from_text(MINIMAL)
    headers = ["Observation ID", "worker id", "Team", "authority", "wave", "Caseload",
               "Reflective Supervision", "Empathy", "COLLABORATION", "Use of authority",
               "Comments"]
    m = map_columns(s, headers)
    assert not m.problems
    assert dict(m.found) == {c: i for i, c in enumerate(s.columns[:-1])}
    status = m.frame()
    assert status["status"].tolist() == ["mapped", "mapped", "mapped", "used", "used",
                                         "mapped", "mapped", "mapped", "mapped", "mapped",
                                         "unused"]
    assert m.unused == ["Comments"] and m.absent == ("skill",)
    assert m.renamed["Use of authority"] == "use_of_authority"


def test_close_but_unmapped_columns_are_errors():
    # the issue's own example: Case Discussion and Clinician Present kept as unused extra
    # columns while discussion and clinician were 100 % missing
    headers = ["observation", "worker", "unit", "authority", "training", "Case Discussion",
               "Clinician Present", "empathy", "Emphaty score", "notes"]
    m = map_columns(load_study(), headers)
    msgs = [str(p) for p in m.problems]
    assert len(msgs) == 2, msgs
    assert "column 'Case Discussion'" in msgs[0] and "looks like 'discussion'" in msgs[0]
    assert "factor 'discussion', quality of case discussion" in msgs[0]
    assert "looks like 'clinician'" in msgs[1]
    # a column close to one that is present is not an error ("Emphaty score" vs empathy)
    assert m.unused == ["Case Discussion", "Clinician Present", "Emphaty score", "notes"]
    # ... and one the study lists as unused is not either
    s = study_from_text(MINIMAL.replace('name = "future"',
                                        'name = "future"\nunused_columns = ["Wave No"]'))
    m2 = map_columns(s, ["Observation ID", "Worker ID", "Team", "Authority", "Wave No"])
    assert not [p for p in m2.problems if p.column == "Wave No"]
    assert m2.frame().set_index("column").loc["Wave No", "status"] == "ignored"
    # without it, 'Wave No' is close to the absent 'Wave'
    m3 = map_columns(study_from_text(MINIMAL), ["Observation ID", "Worker ID", "Team",
                                                 "Authority", "Wave No"])
    assert "looks like 'Wave' (factor 'wave', wave)" in str(m3.problems[0])


def test_duplicate_headers():
    m = map_columns(load_study(), ["observation", "Observation", "worker", "worker"])
    msgs = [str(p) for p in m.problems]
    assert "columns 'observation' and 'Observation' both stand for 'observation'" in msgs[0]
    assert "column name 'worker' appears more than once" in msgs[1]


def test_level_problems_with_waves():
    s = study_from_text(MINIMAL.replace('name = "future"', 'name = "future"\nwave = "wave"'))
    df = pd.DataFrame({
        "observation": ["1", "2", "3", "4", "5"], "worker": ["a", "b", "a", "b", "c"],
        "unit": ["T1", "T1", "T1", "T1", "T2"],
        "wave": ["baseline", "baseline", "follow_up", "follow_up", "baseline"],
        "supervision": [1, 1, 0, 0, 1],
    })
    # it changed between the waves, not within one: fine
    assert level_problems(s, df) == []
    df.loc[3, "supervision"] = 1
    (p,) = level_problems(s, df, rows=[10, 11, 12, 13, 14])
    assert p.row == 13 and p.column == "Reflective Supervision" and p.value == 1
    assert p.rule == ("factor 'supervision' is declared at unit level (one value per unit and "
                      "wave) but differs within unit 'T1' at wave 'follow_up': 0 (row 12), "
                      "1 (row 13)")


# --------------------------------------------------------------------------------------------
# check_study and draft_study on the made-up project
# --------------------------------------------------------------------------------------------
def test_check_study_with_data():
    df = future_project()
    s = study_from_text(MINIMAL.replace('"Worker ID"', '"Practitioner"')
                        .replace('"Authority"', '"Local Authority"'), "future.toml")
    df = df.rename(columns={"Practice Model": "Model of practice"})
    df["Caseload"] = df["Caseload"].astype(object)
    df.loc[3, "Caseload"] = "lots"
    t = check_study(s, df).set_index("column")
    assert t.loc["observation", "status"] == "mapped"
    assert t.loc["wave", "status"] == "mapped"
    assert "baseline 64, follow_up 42" in t.loc["wave", "detail"]
    assert t.loc["caseload", "problem"] == "values not allowed: lots"
    assert t.loc["Model of practice", "status"] == "unused"
    assert t.loc["skill", "status"] == "absent"
    # the domains this study does not list are unused columns, reported as such
    assert t.loc["Child Focus", "status"] == "unused"
    # the unit-level factor was checked
    assert t.loc["supervision", "problem"] == ""
    df.loc[0, "Reflective Supervision"] = "No" if df.loc[0, "Reflective Supervision"] == \
        "Yes" else "Yes"
    t2 = check_study(s, df).set_index("column")
    assert "declared at unit level" in t2.loc["supervision", "problem"]


def test_draft_study_from_the_made_up_project():
    df = future_project()
    d = draft_study(df, name="future", description="A made-up project")
    s = d.study()
    assert [r.column for r in s.ids] == ["Observation ID", "Practitioner", "Team",
                                         "Local Authority"]
    assert (s.scale_min, s.scale_max) == (1, 7)
    assert [d_.column for d_ in s.domains] == list(FUTURE_DOMAINS)
    assert s.wave == "wave" and s.factors["wave"].levels == ("baseline", "follow_up")
    assert s.factors["practice_model"].kind == "categorical"
    assert s.factors["practice_model"].at == "unit"
    assert s.factors["reflective_supervision"].kind == "binary"
    assert s.factors["reflective_supervision"].at == "unit"
    cl = s.factors["caseload"]
    assert cl.kind == "numeric" and cl.at == "row" and cl.scale == 5.0 and cl.centre == 20.0
    assert s.unused_columns == ("Notes",)
    assert s.model_terms == ("wave", "practice_model", "reflective_supervision", "caseload")
    text = str(d)
    assert "ids, innermost first: observation = 'Observation ID'" in text
    assert "check before use:" in text and "the scale" in text
    # every column of the data is accounted for, none with a problem
    t = check_study(s, df)
    assert set(t["status"]) <= {"mapped", "ignored", "absent", "used"}
    assert (t["problem"] == "").all(), t[t["problem"] != ""]


def test_draft_study_from_rsw2017_data():
    from pyramid.datasets import load_rsw2017

    s = draft_study(load_rsw2017(), name="again").study()
    assert s.roles == schema.ID_COLUMNS
    assert s.domain_names == schema.DOMAINS
    assert s.factors["training"].kind == "ordered"  # the frame's own ordered categories
    assert s.factors["training"].levels == schema.TRAINING_LEVELS
    assert s.overall.column == "skill"
    assert s.unused_columns == ("evocation", "autonomy")  # all missing


def test_draft_study_needs_ids_and_scores():
    with pytest.raises(InputError, match="no columns of scores"):
        draft_study(pd.DataFrame({"id": ["a", "b"], "x": ["u", "v"]}))
    with pytest.raises(InputError, match="no column is unique per row"):
        draft_study(pd.DataFrame({"w": ["a", "a", "b"], "s": [1, 2, 3], "t": [3, 2, 1]}))
    with pytest.raises(InputError, match="no worker id"):
        draft_study(pd.DataFrame({"obs": ["a", "b", "c"], "s": [1, 2, 3], "t": [3, 2, 1]}))
    with pytest.raises(InputError, match="name must be an identifier"):
        draft_study(future_project(), name="my study")
    with pytest.raises(InputError, match="pandas DataFrame"):
        draft_study([1, 2])


def test_draft_text_is_valid_toml_with_awkward_names():
    df = future_project().rename(columns={"Team": 'Team "A"', "Caseload": "Case-load (n)"})
    d = draft_study(df, name="awkward")
    s = d.study()
    assert s.data_column("unit") == 'Team "A"'
    assert "case_load_n" in s.factors
    assert re.search(r'^unit = "Team \\"A\\""$', d.text, re.M)


def test_normalise():
    assert normalise("Case-Discussion ") == normalise("case discussion") == "casediscussion"
    assert isinstance(load_study(), Study)
    assert np.isfinite(load_study().overall.tolerance)


# --------------------------------------------------------------------------------------------
# simulating a study of one's own
# --------------------------------------------------------------------------------------------
def _future_study() -> Study:
    return draft_study(future_project(), name="future").study()


def test_simulate_study_shape_and_truth():
    from pyramid.data.simulate_study import simulate_study, study_expected_skill

    s = _future_study()
    sim = simulate_study(s, (3, 4, 3, 2), effects={
        "practice_model[Signs of Safety]": 0.4, "practice_model[systemic]": 0.8,
        "reflective_supervision": 0.5, "caseload": -0.2, "wave[follow-up]": 0.3},
        mix={"p_missing_domain": 0.05, "caseload": {"mean": 20, "sd": 6}}, seed=11)
    df = sim.data
    assert list(df.columns) == list(s.columns)
    assert len(df) == 3 * 4 * 3 * 2 and df["unit"].nunique() == 12
    assert df["skill"].between(1, 7).all()
    doms = df[list(s.domain_names)]
    assert doms.min().min() >= 1 and doms.max().max() <= 7 and doms.isna().any().any()
    # unit-level factors are constant within units, and pass the study's own check
    assert df.groupby("unit")["practice_model"].nunique().max() == 1
    assert level_problems(s, df) == []
    # with two observations a worker and the wave drawn per row, some workers are seen at both
    both = df.groupby("worker")["wave"].nunique()
    assert 0 < (both == 2).sum() < len(both)
    t = sim.truth
    assert t["practice_model[signs_of_safety]"] == 0.4 and t["caseload"] == -0.2
    assert t["mix:caseload[mean]"] == 20 and t["tau[6]"] == 6.5
    assert t["sigma_domain"] == pytest.approx(0.75)
    assert t["latent:reflective_supervision"] == pytest.approx(0.5 / 0.75)
    # the expected score moves by about the effect in the middle of the scale
    nd = pd.DataFrame({"wave": ["baseline"] * 2, "practice_model": ["usual", "systemic"],
                       "reflective_supervision": [0, 0], "caseload": [20.0, 20.0]})
    e = study_expected_skill(s, sim, nd)
    assert 0.7 < e.iloc[1] - e.iloc[0] < 0.8
    # and the simulated skill's mean is the expected one, group effects integrated
    big = simulate_study(s, (8, 8, 4, 2), seed=3)
    pop = study_expected_skill(s, big, big.data[list(s.factors)], integrate_groups=True)
    assert abs(big.data["skill"].mean() - pop.mean()) < 0.1


def test_simulate_study_ordered_and_errors():
    from pyramid.data.simulate_study import simulate_study, study_effect_names

    s = study_from_text(MINIMAL.replace('kind = "categorical"', 'kind = "ordered"')
                        .replace('levels = ["baseline", "follow-up"]',
                                 'levels = ["t1", "t2", "t3"]'))
    assert study_effect_names(s)[:3] == ["intercept", "wave[t2]", "wave[t3]"]
    sim = simulate_study(s, (2, 2, 2, 1), effects={"wave": 0.2}, seed=1)
    assert sim.truth["wave[t3]"] == pytest.approx(0.4) and sim.truth["wave"] == pytest.approx(0.2)
    assert sim.truth["zeta_wave[1]"] == pytest.approx(0.5)
    with pytest.raises(InputError, match="unknown effect 'model' for study 'future'"):
        simulate_study(s, (2, 2, 2, 1), effects={"model": 1})
    with pytest.raises(InputError, match="both given"):
        simulate_study(s, (2, 2, 2, 1), effects={"wave": 1, "wave[t2]": 1})
    with pytest.raises(InputError, match="must sum to zero"):
        simulate_study(s, (2, 2, 2, 1), effects={"delta[empathy]": 0.2})
    with pytest.raises(InputError, match="mix wave: unknown level 'later'"):
        simulate_study(s, (2, 2, 2, 1), mix={"wave": {"later": 1.0}})
    with pytest.raises(InputError, match="mix supervision must be a probability"):
        simulate_study(s, (2, 2, 2, 1), mix={"supervision": 2})
    with pytest.raises(InputError, match="unknown group SD 'sd_team'"):
        simulate_study(s, (2, 2, 2, 1), group_sds={"sd_team": 1})


# --------------------------------------------------------------------------------------------
# reading and validating data in a study's terms
# --------------------------------------------------------------------------------------------
def _problems(df, study):
    from pyramid.data.validate import validate
    from pyramid.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        validate(df, study=study)
    return err.value.problems


def test_validate_the_made_up_project():
    from pyramid.data.validate import summarise, validate

    raw = future_project()
    s = _future_study()
    df = validate(raw, study=s, source="future.csv")
    assert list(df.columns) == [*s.columns, "Notes"]
    assert df.attrs["study"] is s and df.attrs["validation"]["study"] == "future"
    assert str(df["wave"].dtype) == "category" and df["caseload"].dtype == "float64"
    assert df["wave"].cat.categories.tolist() == ["baseline", "follow_up"]
    status = {h: (st, c) for h, st, c in df.attrs["validation"]["columns"]}
    assert status["Practice Model"] == ("mapped", "practice_model")
    assert status["Notes"] == ("ignored", "")
    assert df["skill"].between(1, 7).all()
    # validating again keeps the study, and so does a copy
    again = validate(df.copy())
    assert again.attrs["study"] == s and list(again.columns) == list(df.columns)
    table = summarise(df).set_index(["quantity", "level"])
    assert table.loc[("workers by waves seen", "2"), "n"] == 42
    assert table.loc[("practice_model", "signs_of_safety"), "n"] == 33
    assert table.loc[("caseload", "max"), "value"] == 35


def test_validate_in_the_study_terms():
    raw = future_project().head(12).copy()
    s = _future_study()
    raw["Empathy"] = raw["Empathy"].astype(object)
    raw.loc[2, "Empathy"] = 8
    raw.loc[3, "Wave"] = "Wave 3"
    raw["Caseload"] = raw["Caseload"].astype(object)
    raw.loc[4, "Caseload"] = "many"
    (p1, p2, p3) = _problems(raw, s)
    assert (p1.row, p1.column, p1.value) == (3, "Empathy", 8)
    assert p1.rule == ("out of range: domain scores must be whole numbers from 1 to 7 (empty = "
                       "not scored)")
    assert (p2.row, p2.column) == (4, "Wave")
    assert p2.rule == "unknown wave level: allowed are baseline, follow_up (empty = not observed)"
    assert (p3.row, p3.column, p3.rule) == (5, "Caseload", "caseload must be a number")


def test_validate_unit_level_factor_that_varies():
    raw = future_project()
    s = _future_study()
    team = raw.loc[0, "Team"]
    rows = raw.index[(raw["Team"] == team) & (raw["Wave"] == "Baseline")]
    was = raw.loc[rows[1], "Reflective Supervision"]
    raw.loc[rows[1], "Reflective Supervision"] = "No" if was == "Yes" else "Yes"
    (p,) = _problems(raw, s)
    assert p.row == rows[1] + 1 and p.column == "Reflective Supervision"
    assert (f"factor 'reflective_supervision' is declared at unit level (one value per unit and "
            f"wave) but differs within unit {team!r} at wave 'baseline'") in p.rule


def test_validate_close_but_unmapped_and_missing_columns():
    raw = future_project().rename(columns={"Wave": "Wave No", "Practitioner": "Staff"})
    problems = _problems(raw, _future_study())
    text = [str(p) for p in problems]
    assert any("required column 'Practitioner' is missing" in t for t in text), text
    # the canonical name of a role is a header the study accepts too
    from pyramid.data.validate import validate

    ok = future_project().rename(columns={"Practitioner": "Worker"})
    assert validate(ok, study=_future_study())["worker"].iloc[0] == "P001"
    assert any("column 'Wave No'" in t and "looks like 'Wave' (factor 'wave', wave)" in t
               for t in text), text


def test_read_with_a_study(tmp_path):
    from pyramid.data.readers import read, write
    from pyramid.data.validate import validate

    raw = future_project().head(10)
    raw = raw.assign(Practitioner=[f"{i:03d}" for i in range(10)])  # ids with leading zeros
    path = tmp_path / "future.csv"
    raw.to_csv(path, index=False)
    back = read(path, study=_future_study())
    assert back["Practitioner"].tolist()[:2] == ["000", "001"]
    df = validate(back, study=_future_study())
    sav = write(df, tmp_path / "future.sav")
    again = read(sav, study=_future_study())
    assert again["wave"].tolist() == df["wave"].astype(str).tolist()
    assert again["practice_model"].tolist() == df["practice_model"].astype(str).tolist()
    assert validate(again, study=_future_study())["worker"].tolist() == df["worker"].tolist()


def test_prior_sets_on_a_study_scale_once():
    from pyramid.specs import load_priors

    s = _future_study()
    scaled = load_priors("default", study=s)
    assert scaled.get("b").params["sigma"] == pytest.approx(0.5 * 1.5)
    assert scaled.get("intercept").params["mu"] == pytest.approx(1 + (2.5 - 1) * 1.5)
    # a prior set object is taken as it is: passing it on (fit, compare_project) never
    # stretches it twice
    assert load_priors(scaled, study=s) is scaled
    assert load_priors("default", study="rsw2017") == load_priors("default")
