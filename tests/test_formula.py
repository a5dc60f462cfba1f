"""Formulas (issue 19): parsing brms syntax over a study's factors, checks, coding decisions.

No sampling here: these are structural tests of :mod:`pyramid.formula`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pyramid.errors import InputError
from pyramid.formula import check_formula_data, parse_formula
from pyramid.study import load_study

STUDY = Path(__file__).parent / "data" / "formula_study.toml"


@pytest.fixture(scope="module")
def study():
    return load_study(STUDY)


def test_rsw_skill_formula_is_the_skill_spec():
    f = parse_formula("skill ~ training + clinician + mo(discussion) + (1|authority/unit/worker)")
    assert f.outcome == "skill" and f.family == "gaussian"
    assert f.terms == ["training", "clinician", "mo(discussion)"]
    assert f.group_names == ["authority", "unit", "worker"]
    assert f.simple and f.path == "marginal"
    assert f.coefficients == ["training[other]", "training[mla]", "training[programme]",
                              "clinician", "discussion"]


def test_domains_outcome_and_family_inferred():
    f = parse_formula("domains ~ training + (1 | authority/unit/worker/observation)")
    assert f.family == "cumulative_probit" and f.path == "fused_ordinal"
    assert f.group_names == ["authority", "unit", "worker", "observation"]
    f = parse_formula("empathy ~ clinician")
    assert f.family == "cumulative_probit"
    assert parse_formula("empathy ~ clinician", family="gaussian").family == "gaussian"


def test_interaction_coding_categorical_by_categorical(study):
    f = parse_formula("skill ~ wave * model + caseload + (1 | authority/unit/worker)", study)
    assert f.terms == ["wave", "model", "wave:model", "caseload"]
    assert f.coefficients == [
        "wave[follow_up]", "model[signs_of_safety]", "model[systemic]",
        "wave:model[follow_up,signs_of_safety]", "wave:model[follow_up,systemic]", "caseload"]
    inter = f.fixed[2]
    assert inter.kind == "interaction" and inter.coef_labels == ["follow_up,signs_of_safety",
                                                                 "follow_up,systemic"]
    assert f.nested_intercepts and not f.main_effects_only and f.path == "marginal"


def test_interaction_coding_categorical_by_numeric(study):
    # with the numeric main effect: the differences of the slope; without: one slope a level
    # (R's and patsy's rule, as formulae applies it)
    with_main = parse_formula("skill ~ wave * caseload", study)
    assert with_main.coefficients == ["wave[follow_up]", "caseload", "wave:caseload[follow_up]"]
    alone = parse_formula("skill ~ wave:caseload", study)
    assert alone.coefficients == ["wave:caseload[baseline]", "wave:caseload[follow_up]"]
    assert parse_formula("skill ~ caseload * wave", study).coefficients[-1] == \
        "caseload:wave[follow_up]"


def test_group_blocks(study):
    f = parse_formula("skill ~ wave + (1 + wave | worker) + (1 | unit:wave) + (0 + caseload | authority)",
                      study)
    worker, unit_wave, auth = f.groups
    assert (worker.name, worker.intercept, worker.effect_labels) == (
        "worker", True, ["intercept", "wave[follow_up]"])
    assert (unit_wave.name, unit_wave.columns) == ("unit:wave", ("unit", "wave"))
    assert (auth.intercept, auth.effect_labels) == (False, ["caseload"])
    assert f.path == "general" and not f.nested_intercepts
    # a categorical slope without intercept is coded with every level
    f = parse_formula("skill ~ (0 + wave | worker)", study)
    assert f.groups[0].effect_labels == ["wave[baseline]", "wave[follow_up]"]
    # nested chains of roles reduce to the innermost role
    f = parse_formula("skill ~ (1 | authority) + (1 | authority:unit)", study)
    assert f.group_names == ["authority", "unit"] and f.nested_intercepts


@pytest.mark.parametrize("formula, words", [
    ("skill ~ caseloads", ["term 'caseloads'", "no column of study", "wave, model, caseload"]),
    ("skill ~ mo(model)", ["mo() needs an ordered factor", "'model' is categorical"]),
    ("skill ~ log(caseload)", ["function log() is not supported"]),
    ("skill ~ wave[baseline]", ["'wave[baseline]' is not supported"]),
    ("skill ~ model + (1 + model | worker)", ["slope of 'model'", "unit level",
                                              "constant within each group"]),
    ("skill ~ (wave | unit:wave)", ["part of the grouping"]),
    ("skill ~ wave + mo(wave)", ["mo() needs an ordered factor"]),
    ("skill ~ wave:model", ["needs its factors' main effects", "wave * model"]),
    ("skill ~ (1 | worker) + (wave | worker)", ["grouping 'worker' appears in two"]),
    ("skill ~ wave | worker", ["must be in parentheses"]),
    ("skill ~ (wave | worker):caseload", ["must stand on its own"]),
    ("skill ~ wave + (1 | team)", ["grouping 'team'", "no column of the study"]),
    ("skill ~ wave + (1 | caseload)", ["numeric column"]),
    ("skill ~ 0 + wave", ["keeps its intercept"]),
    ("skill ~ worker", ["names the role 'worker'"]),
    ("skill ~ rating", ["an outcome of study"]),
    ("skill ~ (1 | observation)", ["needs several ratings per observation"]),
    ("domains ~ wave ~ model", ["cannot read it"]),
    ("skill ~ wave +", ["cannot read it"]),
    ("skill ~ x %in% g", ["'%in%' is not supported"]),
    ("rating ~ wave", None),
    ("domains ~ wave", None),
])
def test_bad_formulas_name_the_term_and_reason(study, formula, words):
    if words is None:
        parse_formula(formula, study)  # fine
        return
    with pytest.raises(InputError) as err:
        parse_formula(formula, study)
    msg = str(err.value)
    assert msg.startswith(f"formula {' '.join(formula.split())!r}") or "formula" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_outcome_must_suit_family(study):
    with pytest.raises(InputError, match="outcome 'skill' for family 'cumulative_probit'"):
        parse_formula("skill ~ wave", study, family="cumulative_probit")
    with pytest.raises(InputError, match="family must be one of gaussian, cumulative_probit"):
        parse_formula("skill ~ wave", study, family="poisson")
    with pytest.raises(InputError, match="non-empty string"):
        parse_formula("  ", study)


def test_describe_lists_coefficients_and_build(study):
    text = parse_formula("skill ~ wave * model + (1 + wave | worker)", study).describe()
    assert "build: general" in text
    assert "wave:model: wave:model[follow_up,signs_of_safety], wave:model[follow_up,systemic]" in text
    assert "(1 + wave | worker): intercept, wave[follow_up]" in text


def test_aliased_terms_need_data(study):
    f = parse_formula("skill ~ wave + caseload", study)
    wave = np.array([0, 1, 0, 1, 1.0])
    ok = check_formula_data(f, {"wave": wave, "caseload": np.array([1, 2, 3, 4, 2.0])}, {})
    assert ok == []
    with pytest.raises(InputError, match="term 'caseload' is aliased with the intercept and 'wave'"):
        check_formula_data(f, {"wave": wave, "caseload": 2 * wave - 3}, {})
    with pytest.raises(InputError, match="term 'caseload' is aliased with the intercept in"):
        check_formula_data(f, {"wave": wave, "caseload": np.full(5, 2.0)}, {})
    with pytest.raises(InputError, match="term 'caseload' is aliased with 'wave' in"):
        check_formula_data(f, {"wave": wave, "caseload": 2 * wave}, {})


def test_absent_level_is_a_note_not_an_error(study):
    f = parse_formula("skill ~ wave * model", study)
    n = 6
    wave = np.array([0, 1, 0, 1, 0, 1.0])[:, None]
    model = np.array([[0, 0], [0, 0], [1, 0], [1, 0], [0, 1], [0, 1.0]])
    inter = wave * model
    inter[:, 1] = 0  # no follow-up row of the systemic model
    notes = check_formula_data(f, {"wave": wave, "model": model, "wave:model": inter}, {})
    assert notes and "wave:model[follow_up,systemic]" in notes[0] and "prior only" in notes[0]
    assert n == len(wave)


def test_slope_constant_within_groups_is_refused(study):
    f = parse_formula("skill ~ wave + (1 + wave | worker)", study)
    index = np.array([0, 0, 1, 1])
    cols = {"wave": np.array([0, 1, 0, 1.0])}
    assert check_formula_data(f, cols, {"worker": (index, {"wave": cols["wave"]})}) == []
    same = np.array([0, 0, 1, 1.0])
    with pytest.raises(InputError, match="'wave' is constant within every worker"):
        check_formula_data(f, {"wave": same}, {"worker": (index, {"wave": same})})


# ------------------------------------------------------------------------------------------
# formulas in spec files, spec_from_formula and the command line
# ------------------------------------------------------------------------------------------
def test_spec_file_with_a_formula(study):
    from pyramid.specs import spec_from_text

    spec = spec_from_text('name = "did"\nfamily = "gaussian"\n'
                          'formula = "skill ~ wave * model + caseload + (1 | authority/unit)"\n',
                          "did.toml", study)
    assert spec.outcome == "skill" and spec.terms == ["wave", "model", "wave:model", "caseload"]
    assert spec.groups == ["authority", "unit"] and spec.parametrisation["unit"] == "marginal"
    assert spec.columns == ["authority", "unit", "skill", "wave", "model", "caseload"]
    general = spec_from_text('name = "g"\nfamily = "cumulative_probit"\n'
                             'formula = "domains ~ wave + (1 + wave | worker)"\n', "g.toml", study)
    assert general.domain_effects and general.parametrisation == {"worker": "non_centred"}
    with pytest.raises(InputError, match="g.toml: key 'terms': a spec with a 'formula'"):
        spec_from_text('name = "g"\nfamily = "gaussian"\nterms = ["wave"]\n'
                       'formula = "skill ~ wave"\n', "g.toml", study)
    with pytest.raises(InputError, match="g.toml: key 'formula': formula 'skill ~ wav'"):
        spec_from_text('name = "g"\nfamily = "gaussian"\nformula = "skill ~ wav"\n', "g.toml",
                       study)
    with pytest.raises(InputError, match="key 'outcome' is 'rating' but the formula's"):
        spec_from_text('name = "g"\nfamily = "gaussian"\noutcome = "rating"\n'
                       'formula = "skill ~ wave"\n', "g.toml", study)
    with pytest.raises(InputError, match="missing key 'terms' \\(or a 'formula'\\)"):
        spec_from_text('name = "g"\nfamily = "gaussian"\noutcome = "skill"\ngroups = []\n',
                       "g.toml", study)


def test_spec_from_formula_matches_the_shipped_skill_spec():
    from pyramid.specs import load_spec, spec_from_formula

    f = spec_from_formula("skill ~ training + clinician + mo(discussion) + "
                          "(1 | authority/unit/worker)")
    s = load_spec("skill")
    for attr in ("family", "outcome", "terms", "groups", "parametrisation", "drop_aliased",
                 "target_accept", "domain_effects"):
        assert getattr(f, attr) == getattr(s, attr), attr
    with pytest.raises(InputError, match="family must be one of gaussian, cumulative_probit"):
        spec_from_formula("skill ~ training", "path")


def test_cli_refuses_a_bad_formula_with_exit_2(tmp_path, capsys):
    import pandas as pd

    from pyramid.cli import main

    csv = tmp_path / "rows.csv"
    pd.read_csv(STUDY.parent / "formula_reference.csv").drop(columns="skill").to_csv(csv,
                                                                                    index=False)
    code = main(["fit", str(csv), "--out", str(tmp_path / "x.nc"), "--study", str(STUDY),
                 "--formula", "rating ~ wave * modle + (1 | worker)"])
    err = capsys.readouterr().err
    assert code == 2 and "term 'modle' names 'modle', which is no column" in err
    assert "Traceback" not in err
    code = main(["fit", str(csv), "--out", str(tmp_path / "x.nc"), "--study", str(STUDY),
                 "--model", "skill", "--formula", "rating ~ wave"])
    assert code == 2 and "either model" in capsys.readouterr().err


def test_path_spec_with_a_formula_keeps_its_mediator_and_exposure():
    from pyramid.specs import load_spec, spec_from_text

    text = load_spec("pyramid").text
    lines = [ln for ln in text.splitlines()
             if not ln.startswith(("terms =", "groups =", "outcome =", "parametrisation ="))]
    lines.insert(1, 'formula = "skill ~ training + clinician + mo(discussion) + '
                    '(1 | authority/unit/worker)"')
    spec = spec_from_text("\n".join(lines), "pyramid-formula.toml")
    shipped = load_spec("pyramid")
    for attr in ("terms", "groups", "parametrisation", "mediator", "exposure", "path_level"):
        assert getattr(spec, attr) == getattr(shipped, attr), attr
    bad = "\n".join(lines).replace("(1 | authority/unit/worker)", "(1 + clinician | unit)")
    with pytest.raises(InputError, match="the path family takes main effects and nested"):
        spec_from_text(bad, "bad.toml")


def test_a_formula_replaces_the_default_model_only():
    """The entry points keep their default models (pyramid.defaults); a formula replaces the
    default, another model named with a formula or a family without one is refused."""
    from pyramid.specs import model_spec

    spec = model_spec("skill", "skill ~ wave + (1 | unit)", study=STUDY, default="skill")
    assert spec.formula is not None and spec.terms == ["wave"]
    assert model_spec(None, None, default="skill").name == "skill"
    with pytest.raises(InputError, match="either model .* or formula"):
        model_spec("domains", "skill ~ wave", study=STUDY, default="skill")
    with pytest.raises(InputError, match="goes with a formula"):
        model_spec("skill", None, "gaussian", default="pyramid")
