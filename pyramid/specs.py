"""Declarative model specs and prior sets (TOML files), loaded and checked in one place.

A **model spec** (``models/<name>.toml``) says what a model *is*: the outcome, the terms
(``training``, ``clinician``, ``mo(discussion)``, ...), the group levels, the family and how
each group level is parametrised. A **prior set** (``priors/<name>.toml``) gives each parameter
class a distribution. Both are plain data: :mod:`pyramid.models` turns spec + priors + data into
a PyMC model; nothing here imports PyMC.

Files are found by name in the source checkout (top-level ``models/`` and ``priors/``) or, in an
installed wheel, in ``pyramid/_specs/{models,priors}``. A user may pass a path to a file of their
own. Every problem in a file raises :class:`~pyramid.errors.InputError` naming the file and the
key (unknown key, missing key, wrong type, unknown distribution, bad parameter value, unknown
term or group column, TOML syntax error with its line).

Spec file keys
--------------
=============== ================================================================================
key             meaning
=============== ================================================================================
name            short name (str)
description     one paragraph (str)
family          ``gaussian`` | ``cumulative_probit`` | ``path``
outcome         ``skill`` or a score column (gaussian, path); ``domains`` (the five analysed
                domain ratings in long format) or one score column (cumulative_probit)
terms           list of terms: a schema column (categorical columns get one coefficient per
                level after the first; binary and numeric columns a slope), the derived ``csw``,
                or ``mo(col)`` for a monotonic effect of an ordered categorical column
groups          list of identifier columns (``authority``, ``unit``, ``worker``, ``observation``)
formula         a brms-style formula in place of ``outcome``, ``terms`` and ``groups``
                (:mod:`pyramid.formula`): ``skill ~ wave * model + (1 | authority/unit/worker)``;
                nested group intercepts keep the fast paths (``marginal`` by default for
                gaussian), other group terms are sampled non-centred
parametrisation ``marginal`` (gaussian, and path at or inside the mediator's level: group
                effects integrated out exactly),
                ``non_centred``, ``centred`` or a centring weight between 0 (non-centred) and 1
                (centred), e.g. ``0.5``; one value, or a table ``{group = value}``
drop_aliased    bool (default true): leave out a group level whose every group holds exactly one
                member of the next level below (it cannot be told apart from it); reported
domain_effects  bool (cumulative_probit with ``outcome = "domains"`` only): sum-to-zero domain
                effects
[path]          path family only: ``mediator`` (ordered column, cumulative probit, must appear
                in ``terms`` as ``mo(...)``), ``mediator_terms``, ``exposure`` (binary column in
                both ``terms`` and ``mediator_terms``; Bernoulli, integrated out where missing),
                ``exposure_terms``, ``level`` (``unit``, the default: one discussion and
                clinician value per unit, shared by its rows; or ``row``)
[sampling]      optional sampler hints: ``target_accept`` in (0, 1), ``adaptation``
                (nutpie's mass matrix: ``diag``, ``low_rank`` or ``draw_diag``),
                ``max_tree_depth`` (1-20: the longest NUTS trajectory is 2**depth steps)
=============== ================================================================================

Prior set keys
--------------
``name``, ``description``, optional ``extends`` (another prior set whose classes fill those not
given), then one table per parameter class with ``dist`` and its parameters, e.g.
``[b] dist = "Normal", mu = 0, sigma = 0.5``. Optional ``[coef."training[programme]"]`` tables
override the prior of one coefficient (named as in :data:`pyramid.models.TRUTH_NAMES`). The
classes (:data:`PRIOR_CLASSES`) are on the 1-5 skill scale, except those prefixed ``latent_``
and ``mediator_`` which are on the probit scale of a domain rating or of the discussion
equation (one unit = the residual SD of that latent variable).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from pyramid.data import schema
from pyramid.data.published import cell, crosstab_counts, report_regression
from pyramid.errors import InputError

__all__ = [
    "formula_roles",
    "spec_from_formula",
    "ModelSpec",
    "PathPart",
    "PriorSet",
    "PriorDist",
    "PRIOR_CLASSES",
    "DISTRIBUTIONS",
    "FAMILIES",
    "DERIVED_TERMS",
    "COEF_SUPPORT",
    "coef_name",
    "load_spec",
    "model_spec",
    "load_priors",
    "spec_from_text",
    "priors_from_text",
    "priors_to_dict",
    "priors_from_dict",
    "available_specs",
    "available_priors",
    "specs_dir",
    "rsw2017_prior_values",
    "LATENT_PREFIX",
    "RSW2017_LATENT_UNIT",
    "for_scale",
    "SKILL_SCALE_CLASSES",
    "coef_support",
]

#: Model families pyramid can build.
FAMILIES: tuple[str, ...] = ("gaussian", "cumulative_probit", "path")

#: Group-level parametrisations.
PARAMETRISATIONS: tuple[str, ...] = ("marginal", "non_centred", "centred")

#: Prefix of a ``[coef."latent:name"]`` prior: the coefficient on the probit scale of a domain
#: rating (the ``domains`` model; the simulator's truth uses the same prefix). A plain
#: ``[coef."name"]`` entry is in skill points and never applies on the probit scale.
LATENT_PREFIX = "latent:"

#: Skill points one probit unit of a domain rating stands for in the ``rsw2017`` prior set's
#: latent entries: the simulator's ``sigma_domain`` (pyramid.data.simulate.default_group_sds),
#: calibrated to the report's domain-score SDs.
RSW2017_LATENT_UNIT = 0.5

#: Terms computed by the models from other columns (see docs/architecture.md): ``csw`` = 1 when
#: the unit is led by a consultant social worker on the MLA development programme.
DERIVED_TERMS: tuple[str, ...] = ("csw",)

_REAL, _POS, _UNIT = "real", "positive", "unit interval"

#: Distributions a prior set may use: name -> (parameter -> constraint, support).
DISTRIBUTIONS: dict[str, tuple[dict[str, str], str]] = {
    "Normal": ({"mu": _REAL, "sigma": _POS}, _REAL),
    "StudentT": ({"nu": _POS, "mu": _REAL, "sigma": _POS}, _REAL),
    "Cauchy": ({"alpha": _REAL, "beta": _POS}, _REAL),
    "HalfNormal": ({"sigma": _POS}, _POS),
    "HalfStudentT": ({"nu": _POS, "sigma": _POS}, _POS),
    "HalfCauchy": ({"beta": _POS}, _POS),
    "Exponential": ({"lam": _POS}, _POS),
    "Gamma": ({"alpha": _POS, "beta": _POS}, _POS),
    "LogNormal": ({"mu": _REAL, "sigma": _POS}, _POS),
    "Beta": ({"alpha": _POS, "beta": _POS}, _UNIT),
    "Dirichlet": ({"a": _POS}, "simplex"),
    "LKJ": ({"eta": _POS}, "correlation"),
}

#: Parameter classes of a prior set: class -> (support it needs, what it is).
PRIOR_CLASSES: dict[str, tuple[str, str]] = {
    "intercept": (_REAL, "intercept of skill (skill points; the expected score at reference levels)"),
    "b": (_REAL, "a fixed effect on skill (skill points)"),
    "b_mo": (_REAL, "a monotonic effect on skill: the average step between adjacent levels"),
    "zeta": ("simplex", "split of a monotonic effect between its steps (Dirichlet)"),
    "sd": (_POS, "standard deviation of a group level's effects on skill"),
    "sigma": (_POS, "residual standard deviation of skill"),
    "latent_b": (_REAL, "a fixed effect on the probit scale of a domain rating"),
    "latent_b_mo": (_REAL, "a monotonic effect (average step) on the probit scale of a rating"),
    "latent_sd": (_POS, "standard deviation of a group level's effects on the probit scale"),
    "cutpoints": (_REAL, "each threshold of the rating's cumulative probit"),
    "domain": (_REAL, "the sum-to-zero domain effects on the probit scale"),
    "mediator_b": (_REAL, "an effect in the discussion equation (its probit scale)"),
    "mediator_cutpoints": (_REAL, "each threshold of the discussion equation"),
    "exposure_rate": (_UNIT, "probability of the exposure (clinician present) given csw"),
    # formulas (pyramid.formula)
    "b_interaction": (_REAL, "an interaction coefficient on skill (skill points)"),
    "b_numeric": (_REAL, "the slope of a numeric factor on skill (skill points per its scale "
                         "units)"),
    "sd_slope": (_POS, "standard deviation of a varying slope between groups (skill points)"),
    "latent_b_interaction": (_REAL, "an interaction coefficient on the probit scale"),
    "latent_b_numeric": (_REAL, "the slope of a numeric factor on the probit scale"),
    "latent_sd_slope": (_POS, "standard deviation of a varying slope on the probit scale"),
    "cor": ("correlation", "the correlations of a group's varying intercept and slopes "
                           "(LKJ; eta = 1 uniform, larger eta pulls them towards 0)"),
}

#: Classes a prior set written before formulas may lack: the class each falls back on (and
#: ``cor``: LKJ(eta = 2)). The shipped sets give every one.
OPTIONAL_CLASSES: dict[str, str | None] = {
    "b_interaction": "b", "b_numeric": "b", "sd_slope": "sd",
    "latent_b_interaction": "latent_b", "latent_b_numeric": "latent_b",
    "latent_sd_slope": "latent_sd", "cor": None,
    "mediator_b_numeric": "mediator_b", "mediator_b_interaction": "mediator_b",
}


def coef_name(column: str, level: str | None = None) -> str:
    """Truth-style name of one coefficient: ``training[mla]``, ``clinician``.

    Examples
    --------
    >>> coef_name("training", "mla"), coef_name("clinician")
    ('training[mla]', 'clinician')
    """
    return column if level is None else f"{column}[{level}]"


def coef_support(study: Any = None) -> dict[str, str]:
    """Coefficient names a prior set may override in ``[coef."<name>"]`` for a study, with
    their support (:data:`COEF_SUPPORT` for rsw2017).

    Examples
    --------
    >>> "training[mla]" in coef_support()
    True
    """
    from pyramid.study import load_study

    study = load_study(study)
    names: dict[str, str] = {"intercept": "real"}
    single = list(study.derived)
    for f in study.factors.values():
        if f.kind in ("ordered", "categorical"):
            names.update({coef_name(f.name, lvl): "real" for lvl in f.ordered_levels[1:]})
        single.append(f.name)  # categorical and ordered: as mo(col)
    single += [d.name for d in study.all_domains] + [study.overall.name]
    for s in single:
        names[s] = "real"
    for med in [f.name for f in study.factors.values() if f.kind == "ordered"]:
        for s in single:
            if s != med:
                names[f"{med}_{s}"] = "real"
    return names


#: Coefficient names a prior set may override in ``[coef."<name>"]``, with their support.
COEF_SUPPORT: dict[str, str] = coef_support()


_GROUPS_WITH_OVERRIDES = ("authority", "unit", "worker", "observation")
#: per-level overrides of the group standard deviations, e.g. ``sd_worker``, ``latent_sd_unit``
_SD_OVERRIDES = {
    f"{base}_{g}": base for base in ("sd", "latent_sd") for g in _GROUPS_WITH_OVERRIDES
}

_SPEC_KEYS = {
    "name": str,
    "description": str,
    "family": str,
    "outcome": str,
    "terms": list,
    "groups": list,
    "parametrisation": (str, dict, float, int),
    "drop_aliased": bool,
    "domain_effects": bool,
    "path": dict,
    "sampling": dict,
    "formula": str,
}
_SPEC_REQUIRED = ("name", "family", "outcome", "terms", "groups")
#: with ``formula``, which gives the outcome, the terms and the groups
_SPEC_REQUIRED_FORMULA = ("name", "family")
_PATH_KEYS = {"mediator": str, "mediator_terms": list, "exposure": str, "exposure_terms": list,
              "level": str}
#: Levels at which the path model's mediator and exposure can live.
PATH_LEVELS = ("unit", "row")
_SAMPLING_KEYS = {"target_accept": float, "adaptation": str, "max_tree_depth": int}

#: nutpie mass-matrix adaptations a spec may ask for (``[sampling] adaptation``).
ADAPTATIONS: tuple[str, ...] = ("diag", "low_rank", "draw_diag")


# --------------------------------------------------------------------------------------------
# where files live
# --------------------------------------------------------------------------------------------
def specs_dir(kind: str) -> Path:
    """Folder holding the shipped files of ``kind`` (``"models"`` or ``"priors"``).

    The source checkout's top-level folder wins; an installed wheel has them in
    ``pyramid/_specs/<kind>``.

    Examples
    --------
    >>> specs_dir("models").name
    'models'
    """
    if kind not in ("models", "priors"):
        raise InputError(f"kind must be 'models' or 'priors', got {kind!r}")
    here = Path(__file__).resolve().parent
    candidates = [here / "_specs" / kind]  # an installed wheel
    if (here.parent / "pyproject.toml").is_file():  # a source checkout, not site-packages
        candidates.append(here.parent / kind)
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    raise InputError(
        f"no {kind} folder found (looked in {here.parent / kind} and {here / '_specs' / kind}); "
        "the installation is incomplete"
    )


def available_specs() -> list[str]:
    """Names of the shipped model specs.

    Examples
    --------
    >>> available_specs()
    ['domains', 'pyramid', 'skill']
    """
    return sorted(p.stem for p in specs_dir("models").glob("*.toml"))


def available_priors() -> list[str]:
    """Names of the shipped prior sets.

    Examples
    --------
    >>> available_priors()
    ['default', 'rsw2017', 'sceptical']
    """
    return sorted(p.stem for p in specs_dir("priors").glob("*.toml"))


def _resolve(name_or_path: str | Path, kind: str) -> tuple[str, str]:
    """Return (text, source) for a shipped name or a path to a file."""
    what = "model spec" if kind == "models" else "prior set"
    if not isinstance(name_or_path, str | Path):
        raise InputError(
            f"{what} must be a name or a path to a .toml file, got {type(name_or_path).__name__}"
        )
    raw = str(name_or_path)
    path = Path(raw).expanduser()
    looks_like_path = isinstance(name_or_path, Path) or raw.endswith(".toml") or "/" in raw or "\\" in raw
    if not looks_like_path:
        shipped = specs_dir(kind) / f"{raw}.toml"
        if shipped.is_file():
            return shipped.read_text(encoding="utf-8"), str(shipped)
        if not path.is_file():
            names = available_specs() if kind == "models" else available_priors()
            raise InputError(
                f"unknown {what} {raw!r}: allowed names are {', '.join(names)}, "
                "or a path to a .toml file"
            )
    if not path.is_file():
        raise InputError(f"{what} file {raw!r} does not exist (or is not a file)")
    try:
        # utf-8-sig: Notepad and Excel save UTF-8 with a byte-order mark, which TOML forbids
        return path.read_text(encoding="utf-8-sig"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} file {raw!r} cannot be read: {exc}") from None


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # the message carries "(at line L, column C)"
        raise InputError(f"{source}: TOML syntax error: {exc}") from None


def _check_type(source: str, key: str, value: Any, expected: type | tuple) -> None:
    types = expected if isinstance(expected, tuple) else (expected,)
    ok = any(
        (isinstance(value, t) and not (t in (int, float) and isinstance(value, bool)))
        or (t is float and isinstance(value, int) and not isinstance(value, bool))
        for t in types
    )
    if not ok:
        names = " or ".join(
            {str: "a string", list: "a list", dict: "a table", bool: "true/false",
             float: "a number", int: "an integer"}[t]
            for t in types
        )
        raise InputError(f"{source}: key '{key}' must be {names}, got {value!r}")


def _partial_centring(value, source: str, group: str):
    """A centring weight (a number, or ``"partial:W"``) as a parametrisation string.

    ``0`` is ``non_centred``, ``1`` is ``centred``; a weight ``w`` in between is the partially
    non-centred form ``r = sd**(1 - w) * z, z ~ Normal(0, sd**w)`` (Papaspiliopoulos, Roberts
    and Skold 2007), ``"partial:w"``. Other values are returned unchanged.
    """
    if isinstance(value, str) and value.startswith("partial:"):
        raw = value.split(":", 1)[1]
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"{source}: key 'parametrisation' ({group}): {value!r} needs a "
                             "number after 'partial:'") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not 0.0 <= float(value) <= 1.0:
        raise InputError(f"{source}: key 'parametrisation' ({group}): a centring weight must "
                         f"be between 0 (non-centred) and 1 (centred), got {value!r}")
    if float(value) == 0.0:
        return "non_centred"
    if float(value) == 1.0:
        return "centred"
    return f"partial:{float(value):g}"


def _unknown(source: str, prefix: str, keys: set[str], allowed: set[str] | dict) -> None:
    extra = sorted(set(keys) - set(allowed))
    if extra:
        raise InputError(
            f"{source}: unknown key '{prefix}{extra[0]}'; allowed keys are "
            f"{', '.join(sorted(allowed))}"
        )


# --------------------------------------------------------------------------------------------
# model specs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PathPart:
    """One extra equation of the path model: an ``outcome`` column modelled on ``terms``."""

    outcome: str
    family: str
    terms: list[str]


@dataclass(frozen=True)
class ModelSpec:
    """A model spec: what a model is, independent of data and backend.

    Attributes
    ----------
    name, description : str
        Short name and one paragraph.
    family : str
        ``gaussian``, ``cumulative_probit`` or ``path``.
    outcome : str
        ``skill``, ``domains`` (five ratings in long format) or a score column.
    terms : list of str
        Terms as written in the file, e.g. ``["training", "clinician", "mo(discussion)"]``.
    groups : list of str
        Identifier columns with group effects, outermost first.
    parametrisation : dict
        Group -> ``marginal``, ``non_centred``, ``centred`` or ``partial:W`` (a centring
        weight W strictly between 0 and 1).
    drop_aliased : bool
        Leave out a group level that cannot be told apart from the level below it.
    domain_effects : bool
        Sum-to-zero domain effects (cumulative probit on ``domains``).
    mediator, exposure : PathPart or None
        The discussion and clinician equations of the ``path`` family.
    path_level : str or None
        ``unit`` (one mediator and exposure value per unit: the unit's case discussion) or
        ``row`` (one per row), path family only.
    target_accept : float or None
        Sampler hint.
    adaptation : str or None
        Sampler hint: nutpie's mass-matrix adaptation (``diag``, ``low_rank``, ``draw_diag``).
    max_tree_depth : int or None
        Sampler hint: the longest NUTS trajectory is ``2**max_tree_depth`` steps.
    text, source : str
        The file's text and where it came from (stored in results files).
    formula : pyramid.formula.Formula or None
        The spec's ``formula`` (its outcome, ``terms`` and ``groups`` come from it; the
        interactions and group blocks are read from it).
    study : Study or None
        The study the spec was checked against (:func:`load_spec`'s ``study``); ``None``
        means the default, ``rsw2017`` (:attr:`the_study` resolves it).
    """

    name: str
    description: str
    family: str
    outcome: str
    terms: list[str]
    groups: list[str]
    parametrisation: dict[str, str] = field(default_factory=dict)
    drop_aliased: bool = True
    domain_effects: bool = False
    mediator: PathPart | None = None
    exposure: PathPart | None = None
    path_level: str | None = None
    target_accept: float | None = None
    adaptation: str | None = None
    max_tree_depth: int | None = None
    text: str = field(default="", repr=False, compare=False)
    source: str = field(default="", repr=False, compare=False)
    study: Any = field(default=None, repr=False, compare=False)
    formula: Any = field(default=None, repr=False)

    @property
    def the_study(self) -> Any:
        """The study of the spec (``rsw2017`` when it was loaded without one).

        Examples
        --------
        >>> load_spec("skill").the_study.name
        'rsw2017'
        """
        from pyramid.study import load_study

        return load_study(self.study)

    @property
    def derived_terms(self) -> tuple[str, ...]:
        """Terms computed from other columns: the study's derived indicators (``csw``)."""
        return tuple(self.the_study.derived)

    @property
    def monotonic(self) -> list[str]:
        """Columns entered as monotonic effects ``mo(col)``.

        Examples
        --------
        >>> load_spec("skill").monotonic
        ['discussion']
        """
        return [c for t in self.terms if (c := _term_column(t)) != t]

    @property
    def term_columns(self) -> list[str]:
        """Data columns the outcome equation's terms use (derived terms such as ``csw`` left out).

        Examples
        --------
        >>> load_spec("skill").term_columns
        ['training', 'clinician', 'discussion']
        """
        derived = self.derived_terms
        if self.formula is not None:  # every factor of its terms, slopes and groupings
            grouped = [c for g in self.formula.groups for c in g.columns
                       if c not in self.the_study.roles]
            return [c for c in dict.fromkeys([*self.formula.factors, *grouped])
                    if c not in derived]
        return [_term_column(t) for t in self.terms if _term_column(t) not in derived]

    @property
    def outcome_columns(self) -> list[str]:
        """Data columns of the outcome (the five domains for ``outcome = "domains"``).

        Examples
        --------
        >>> load_spec("domains").outcome_columns
        ['collaboration', 'empathy', 'purposefulness', 'clarity', 'child_focus']
        """
        if self.outcome == "domains":
            return list(self.the_study.domain_names)
        return [self.outcome]

    @property
    def marginalised_columns(self) -> list[str]:
        """Predictor columns whose missing values the model integrates out (path family).

        Examples
        --------
        >>> load_spec("pyramid").marginalised_columns
        ['discussion', 'clinician']
        """
        return [p.outcome for p in (self.mediator, self.exposure) if p is not None]

    @property
    def marginalised(self) -> list[str]:
        """Alias of :attr:`marginalised_columns` (read by :func:`pyramid.validate`)."""
        return self.marginalised_columns

    @property
    def mediator_terms(self) -> list[str]:
        """Terms of the mediator (discussion) equation; empty outside the path family.

        Examples
        --------
        >>> load_spec("pyramid").mediator_terms
        ['clinician', 'csw']
        """
        return list(self.mediator.terms) if self.mediator else []

    @property
    def required_columns(self) -> list[str]:
        """Columns a row needs (non-missing) to be used; rows missing one are left out.

        Examples
        --------
        >>> load_spec("pyramid").required_columns
        ['training']
        """
        cols: list[str] = []
        derived = self.derived_terms
        for t in self.term_columns:
            if t not in cols and t not in self.marginalised_columns:
                cols.append(t)
        for part in (self.mediator, self.exposure):
            for t in part.terms if part else []:
                c = _term_column(t)
                if c not in cols and c not in derived and c not in self.marginalised_columns:
                    cols.append(c)
        return cols

    @property
    def columns(self) -> list[str]:
        """Every data column the model reads: groups, outcome columns and term columns.

        Examples
        --------
        >>> load_spec("skill").columns
        ['authority', 'unit', 'worker', 'skill', 'training', 'clinician', 'discussion']
        """
        out: list[str] = []
        parts = [self.mediator, self.exposure]
        extra = [_term_column(t) for p in parts if p for t in p.terms]
        derived = self.derived_terms
        for c in [*self.groups, *self.outcome_columns, *self.term_columns, *extra]:
            if c not in out and c not in derived:
                out.append(c)
        return out


def _term_column(term: str) -> str:
    t = term.strip()
    if t.startswith("mo(") and t.endswith(")"):
        return t[3:-1].strip()
    return t


def _check_terms(source: str, key: str, terms: list, outcome_cols: list[str],
                 study: Any) -> list[str]:
    out = []
    derived = list(study.derived)
    allowed_cols = [*study.factors, *(d.name for d in study.all_domains), study.overall.name]
    ordered = [f.name for f in study.factors.values() if f.kind == "ordered"]
    for i, term in enumerate(terms):
        if not isinstance(term, str):
            raise InputError(f"{source}: key '{key}[{i}]' must be a string, got {term!r}")
        col = _term_column(term)
        is_mo = col != term.strip()
        if col in derived:
            if is_mo:
                raise InputError(
                    f"{source}: key '{key}': mo() needs an ordered categorical column, "
                    f"got derived binary term {col!r}"
                )
        elif col not in allowed_cols:
            where = "" if study.is_default() else f" of study {study.name!r}"
            raise InputError(
                f"{source}: key '{key}': unknown term {term!r}; allowed are columns{where} "
                f"{', '.join(allowed_cols)}, derived terms {', '.join(derived) or 'none'}, "
                "or mo(<ordered column>)"
            )
        if is_mo and col not in ordered:
            raise InputError(
                f"{source}: key '{key}': mo() needs an ordered categorical column "
                f"({', '.join(ordered) or 'the study has none'}), got {term!r}"
            )
        if col in outcome_cols:
            raise InputError(f"{source}: key '{key}': term {term!r} is also the outcome")
        if term.strip() in out or col in [_term_column(o) for o in out]:
            raise InputError(f"{source}: key '{key}': column {col!r} appears twice")
        out.append(("mo(" + col + ")") if is_mo else col)
    return out


def spec_from_text(text: str, source: str = "<string>", study: Any = None) -> ModelSpec:
    """Parse and check a model spec from TOML text.

    Parameters
    ----------
    text : str
        The TOML text.
    source : str
        Where it came from, used in error messages.
    study : str, path or Study, optional
        The study whose columns the terms, outcome and groups name; default ``rsw2017``.

    Returns
    -------
    ModelSpec

    Raises
    ------
    InputError
        Naming the source and the key for any problem.

    Examples
    --------
    >>> s = spec_from_text('''
    ... name = "mine"
    ... family = "gaussian"
    ... outcome = "skill"
    ... terms = ["training"]
    ... groups = ["authority"]
    ... ''')
    >>> s.terms, s.parametrisation
    (['training'], {'authority': 'non_centred'})
    """
    from pyramid.study import load_study

    the_study = load_study(study)
    raw = _parse_toml(text, source)
    _unknown(source, "", set(raw), _SPEC_KEYS)
    for key in _SPEC_REQUIRED_FORMULA if "formula" in raw else _SPEC_REQUIRED:
        if key not in raw:
            raise InputError(f"{source}: missing key '{key}'"
                             + (" (or a 'formula')" if key in ("outcome", "terms", "groups")
                                else ""))
    for key, typ in _SPEC_KEYS.items():
        if key in raw:
            _check_type(source, key, raw[key], typ)
    formula = None
    if "formula" in raw:
        formula = _spec_formula(source, raw, raw["family"], the_study)
        raw = {**raw, "outcome": formula.outcome, "terms": list(formula.terms),
               "groups": formula_roles(formula, the_study)}
        raw.setdefault("parametrisation", _formula_parametrisation(formula, raw["family"]))
        if formula.outcome == "domains":
            raw.setdefault("domain_effects", True)
    family, outcome, outcome_cols = _spec_outcome(raw, source, the_study)
    if formula is None:
        terms = _check_terms(source, "terms", raw["terms"], outcome_cols, the_study)
    else:  # checked by the formula's parser
        terms = list(raw["terms"])
    groups = _spec_groups(raw, source, outcome, the_study)
    par = _spec_parametrisation(raw, source, groups, family)
    domain_effects = raw.get("domain_effects", False)
    if domain_effects and outcome != "domains":
        raise InputError(
            f"{source}: key 'domain_effects' needs outcome = \"domains\", got {outcome!r}"
        )
    mediator, exposure, path_level = _spec_path(raw, source, family, terms, par, the_study)
    target_accept, adaptation, max_tree_depth = _spec_sampling(raw, source)
    return ModelSpec(
        name=raw["name"],
        description=" ".join(raw.get("description", "").split()),
        family=family,
        outcome=outcome,
        terms=terms,
        groups=groups,
        parametrisation=par,
        drop_aliased=raw.get("drop_aliased", True),
        domain_effects=domain_effects,
        mediator=mediator,
        exposure=exposure,
        path_level=path_level,
        target_accept=target_accept,
        adaptation=adaptation,
        max_tree_depth=max_tree_depth,
        text=text,
        source=source,
        study=None if the_study.is_default() else the_study,
        formula=formula,
    )


def _spec_formula(source: str, raw: dict, family: str, study: Any):
    """The ``formula`` of a spec file, parsed against the study (the outcome, terms and groups
    it gives replace those keys)."""
    from pyramid.formula import parse_formula

    for key in ("terms", "groups"):
        if key in raw:
            raise InputError(f"{source}: key '{key}': a spec with a 'formula' takes its terms "
                             "and groups from it; remove one or the other")
    try:
        formula = parse_formula(raw["formula"], study,
                                family="gaussian" if family == "path" else family)
    except InputError as exc:
        raise InputError(f"{source}: key 'formula': {exc}") from None
    if "outcome" in raw and raw["outcome"] != formula.outcome:
        raise InputError(f"{source}: key 'outcome' is {raw['outcome']!r} but the formula's "
                         f"outcome is {formula.outcome!r}; remove 'outcome' or make them agree")
    if family == "path" and not formula.simple:
        raise InputError(
            f"{source}: key 'formula': the path family takes main effects and nested group "
            f"intercepts only (its mediator and exposure equations are the [path] table's); "
            f"got {formula.text!r}")
    return formula


def spec_from_formula(formula: str, family: str | None = None, study: Any = None, *,
                      name: str = "formula") -> ModelSpec:
    """A model spec from a formula alone (what ``fit(data, formula=...)`` uses).

    Parameters
    ----------
    formula : str
        A brms-style formula (:mod:`pyramid.formula`).
    family : {"gaussian", "cumulative_probit"}, optional
        Default: ``gaussian`` for the study's overall score, ``cumulative_probit`` for
        ``domains`` or one domain.
    study : str, Path or Study, optional
        Default ``rsw2017``.
    name : str, default "formula"

    Returns
    -------
    ModelSpec
        Its ``text`` is a spec file holding the formula (stored with a fit, so a results file
        rebuilds the same model). With ``outcome = "domains"`` the model has sum-to-zero
        domain effects, and every model the sampler hint ``target_accept = 0.9``, as the
        shipped ``skill`` and ``domains`` specs.

    Examples
    --------
    >>> s = spec_from_formula("skill ~ training + (1 | authority/unit)")
    >>> s.family, s.terms, s.groups, s.parametrisation["unit"]
    ('gaussian', ['training'], ['authority', 'unit'], 'marginal')
    """
    import json

    from pyramid.formula import FORMULA_FAMILIES, parse_formula
    from pyramid.study import load_study

    if not isinstance(formula, str) or not formula.strip():
        raise InputError(f"formula must be a non-empty string, got {formula!r}")
    if family is not None and family not in FORMULA_FAMILIES:
        raise InputError(f"family must be one of {', '.join(FORMULA_FAMILIES)}, got "
                         f"{family!r}")
    the_study = load_study(study)
    parsed = parse_formula(formula, the_study, family=family)
    text = (f"# a model from a formula (pyramid.formula), study {the_study.name}\n"
            f"name = {json.dumps(name)}\n"
            f"description = {json.dumps(f'{parsed.family} model {parsed.text}')}\n"
            f"family = {json.dumps(parsed.family)}\n"
            f"formula = {json.dumps(parsed.text)}\n"
            "[sampling]\n"
            "# as the shipped specs: 0 divergences at 0.9 on the reference data\n"
            "target_accept = 0.9\n")
    return spec_from_text(text, "<formula>", the_study)


def formula_roles(formula: Any, study: Any) -> list[str]:
    """The roles a formula's group terms use, outermost first (a spec's ``groups``).

    Examples
    --------
    >>> from pyramid.formula import parse_formula
    >>> formula_roles(parse_formula("skill ~ (1 | worker) + (1 | authority/unit)"), None)
    ['authority', 'unit', 'worker']
    """
    from pyramid.study import load_study

    roles = load_study(study).roles
    used = {c for g in formula.groups for c in g.columns if c in roles}
    return sorted(used, key=lambda r: -roles.index(r))


def _formula_parametrisation(formula: Any, family: str) -> str | dict:
    """Nested group intercepts of a gaussian (or path) model are integrated out (the marginal
    fast path); every other group term is sampled, non-centred."""
    if formula.nested_intercepts and family == "gaussian":
        return "marginal"
    if family == "path":  # as the shipped pyramid spec: unit and worker integrated out
        return {g.name: "non_centred" if g.name == "authority" else "marginal"
                for g in formula.groups}
    return "non_centred"


def _spec_outcome(raw: dict, source: str, the_study: Any) -> tuple[str, str, list[str]]:
    """The family, the outcome (allowed for the family) and the outcome's columns."""
    family = raw["family"]
    if family not in FAMILIES:
        raise InputError(
            f"{source}: key 'family' must be one of {', '.join(FAMILIES)}, got {family!r}"
        )
    outcome = raw["outcome"]
    scores = [d.name for d in the_study.all_domains]
    overall = the_study.overall.name
    allowed_outcomes = {
        "gaussian": [overall, *scores],
        "cumulative_probit": ["domains", *scores],
        "path": [overall, *scores],
    }[family]
    if outcome not in allowed_outcomes:
        raise InputError(
            f"{source}: key 'outcome' for family {family!r} must be one of "
            f"{', '.join(allowed_outcomes)}, got {outcome!r}"
        )
    outcome_cols = list(the_study.domain_names) if outcome == "domains" else [outcome]
    return family, outcome, outcome_cols


def _spec_groups(raw: dict, source: str, outcome: str, the_study: Any) -> list[str]:
    """The group levels, outermost first."""
    groups = []
    roles = the_study.roles
    for i, g in enumerate(raw["groups"]):
        if g not in roles:
            raise InputError(
                f"{source}: key 'groups[{i}]': unknown group column {g!r}; allowed are "
                f"{', '.join(roles)}"
            )
        if g in groups:
            raise InputError(f"{source}: key 'groups': {g!r} appears twice")
        groups.append(g)
    # outermost first, whatever order the file used
    order = {c: i for i, c in enumerate(reversed(roles))}
    groups.sort(key=order.__getitem__)
    if "observation" in groups and outcome != "domains":
        raise InputError(
            f"{source}: key 'groups': 'observation' effects need several ratings per "
            f"observation (outcome = \"domains\"), got outcome {outcome!r}"
        )
    return groups


def _spec_parametrisation(raw: dict, source: str, groups: list[str],
                          family: str) -> dict[str, str]:
    """Each group level's parametrisation (a name, or ``partial:W``)."""
    default_param = "non_centred"
    par = raw.get("parametrisation", default_param)
    if isinstance(par, int | float) and not isinstance(par, bool):
        par = _partial_centring(par, source, "all")
    if isinstance(par, str):
        par = dict.fromkeys(groups, par)
    else:
        _unknown(source, "parametrisation.", set(par), set(groups))
        par = {g: par.get(g, default_param) for g in groups}
    for g, p in list(par.items()):
        p = par[g] = _partial_centring(p, source, g)
        if p not in PARAMETRISATIONS and not p.startswith("partial:"):
            raise InputError(
                f"{source}: key 'parametrisation' ({g}) must be one of "
                f"{', '.join(PARAMETRISATIONS)} or a centring weight between 0 and 1, "
                f"got {p!r}"
            )
        if p == "marginal" and family not in ("gaussian", "path"):
            raise InputError(
                f"{source}: key 'parametrisation' ({g}): 'marginal' (group effects integrated "
                f"out exactly) needs family 'gaussian' or 'path', got {family!r}"
            )
    if family == "gaussian":
        kinds = set(par.values())
        if "marginal" in kinds and len(kinds) > 1:
            raise InputError(
                f"{source}: key 'parametrisation': 'marginal' must be used for every group "
                f"level or none, got {par}"
            )
    return par


def _spec_path(raw: dict, source: str, family: str, terms: list[str], par: dict[str, str],
               the_study: Any) -> tuple[PathPart | None, PathPart | None, str | None]:
    """The path model's mediator and exposure equations and its level (None otherwise)."""
    mediator = exposure = None
    path_level = None
    if family == "path":
        if "path" not in raw:
            raise InputError(f"{source}: missing key 'path' (the path family needs it)")
        p = raw["path"]
        _unknown(source, "path.", set(p), _PATH_KEYS)
        for key in ("mediator", "mediator_terms"):
            if key not in p:
                raise InputError(f"{source}: missing key 'path.{key}'")
        for key, typ in _PATH_KEYS.items():
            if key in p:
                _check_type(source, f"path.{key}", p[key], typ)
        path_level = p.get("level", "unit")
        if path_level not in PATH_LEVELS:
            raise InputError(
                f"{source}: key 'path.level' must be one of {', '.join(PATH_LEVELS)}, got "
                f"{path_level!r}"
            )
        inside = {"unit": ("unit", "worker"), "row": ()}[path_level]
        for g, pg in par.items():
            if pg == "marginal" and g not in inside:
                raise InputError(
                    f"{source}: key 'parametrisation' ({g}): in a path model only group levels "
                    f"at or inside the level of the mediator ({path_level}: "
                    f"{', '.join(inside) or 'none'}) can be 'marginal', got {par}"
                )
        med = p["mediator"]
        if f"mo({med})" not in terms and med not in terms:
            raise InputError(
                f"{source}: key 'path.mediator': {med!r} must appear in 'terms' "
                f"(as mo({med}) or {med}), got terms {terms}"
            )
        if the_study.kind_of(med) != "ordered":
            raise InputError(
                f"{source}: key 'path.mediator' must be an ordered categorical column, got {med!r}"
            )
        mterms = _check_terms(source, "path.mediator_terms", p["mediator_terms"], [med],
                              the_study)
        mediator = PathPart(med, "cumulative_probit", mterms)
        if "exposure" in p:
            exp = p["exposure"]
            if the_study.kind_of(exp) != "binary":
                raise InputError(
                    f"{source}: key 'path.exposure' must be a binary (0/1) column, got {exp!r}"
                )
            if exp not in terms or exp not in mterms:
                raise InputError(
                    f"{source}: key 'path.exposure': {exp!r} must appear in both 'terms' and "
                    "'path.mediator_terms'"
                )
            eterms = _check_terms(source, "path.exposure_terms", p.get("exposure_terms", []),
                                  [exp], the_study)
            for t in eterms:
                if the_study.kind_of(_term_column(t)) not in ("derived", "binary"):
                    raise InputError(
                        f"{source}: key 'path.exposure_terms': only binary terms are supported "
                        f"(one probability per combination), got {t!r}"
                    )
            exposure = PathPart(exp, "bernoulli", eterms)
        elif "exposure_terms" in p:
            raise InputError(f"{source}: key 'path.exposure_terms' needs 'path.exposure'")
    elif "path" in raw:
        raise InputError(f"{source}: key 'path' is only for family 'path', got {family!r}")
    return mediator, exposure, path_level


def _spec_sampling(raw: dict, source: str) -> tuple[float | None, str | None, int | None]:
    """The spec's ``[sampling]`` settings: target_accept, adaptation, max_tree_depth."""
    target_accept = None
    adaptation = None
    max_tree_depth = None
    if "sampling" in raw:
        _unknown(source, "sampling.", set(raw["sampling"]), _SAMPLING_KEYS)
        if "target_accept" in raw["sampling"]:
            ta = raw["sampling"]["target_accept"]
            _check_type(source, "sampling.target_accept", ta, float)
            if not 0 < ta < 1:
                raise InputError(
                    f"{source}: key 'sampling.target_accept' must be in (0, 1), got {ta!r}"
                )
            target_accept = float(ta)
        if "adaptation" in raw["sampling"]:
            adaptation = raw["sampling"]["adaptation"]
            if adaptation not in ADAPTATIONS:
                raise InputError(
                    f"{source}: key 'sampling.adaptation' must be one of "
                    f"{', '.join(ADAPTATIONS)}, got {adaptation!r}"
                )
        if "max_tree_depth" in raw["sampling"]:
            depth = raw["sampling"]["max_tree_depth"]
            _check_type(source, "sampling.max_tree_depth", depth, int)
            if not 1 <= depth <= 20:
                raise InputError(
                    f"{source}: key 'sampling.max_tree_depth' must be a whole number from 1 "
                    f"to 20, got {depth!r}"
                )
            max_tree_depth = int(depth)
    return target_accept, adaptation, max_tree_depth

def model_spec(model: Any, formula: str | None = None, family: str | None = None,
               study: Any = None, *, default: str) -> ModelSpec:
    """The spec a call names: a model, or a formula in place of one.

    ``model`` at its ``default`` (or ``None``) gives way to a ``formula``; any other model
    named with a formula is refused, as is a ``family`` without one (a spec names its own).

    Parameters
    ----------
    model : str, Path, ModelSpec or None
        As :func:`load_spec`; ``None`` is ``default``.
    formula : str, optional
        A brms-style formula (:func:`spec_from_formula`).
    family : str, optional
        With ``formula`` only.
    study : str, Path or Study, optional
    default : str
        The caller's default model (:data:`pyramid.defaults.DEFAULT_MODEL` or
        ``PLANNING_MODEL``).

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> model_spec("pyramid", "skill ~ training + (1 | unit)", default="pyramid").terms
    ['training']
    >>> model_spec("skill", "skill ~ training", default="pyramid")
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: give either model (a spec) or formula, not both; got model='skill' and formula='skill ~ training'
    """
    if formula is not None:
        if model is not None and not (isinstance(model, str) and model == default):
            raise InputError(f"give either model (a spec) or formula, not both; got "
                             f"model={model!r} and formula={formula!r}")
        return spec_from_formula(formula, family, study)
    if family is not None:
        raise InputError(f"family={family!r} goes with a formula; a model spec names its own "
                         "family")
    return load_spec(default if model is None else model, study=study)


def load_spec(name_or_path: str | Path | ModelSpec, study: Any = None) -> ModelSpec:
    """Load a model spec by name (``skill``, ``domains``, ``pyramid``) or from a TOML file.

    Parameters
    ----------
    name_or_path : str, Path or ModelSpec
        A shipped name, a path to a ``.toml`` file, or a spec (returned as is when it was
        checked against the same study, else checked again against ``study``).
    study : str, path or Study, optional
        The study whose columns the spec names (:func:`pyramid.study.load_study`); default
        ``rsw2017``. A shipped ``gaussian`` or ``cumulative_probit`` spec takes its terms from
        the study's ``[models] terms`` where the study gives them (so ``skill`` and ``domains``
        fit any study), and keeps only the group levels the study has.

    Returns
    -------
    ModelSpec

    Raises
    ------
    InputError
        Unknown name, missing file, or a problem in the file (naming the key).

    Examples
    --------
    >>> spec = load_spec("skill")
    >>> spec.family, spec.terms, spec.groups
    ('gaussian', ['training', 'clinician', 'mo(discussion)'], ['authority', 'unit', 'worker'])
    """
    from pyramid.study import load_study

    if isinstance(name_or_path, ModelSpec):
        if study is None or load_study(study) == name_or_path.the_study:
            return name_or_path
        return spec_from_text(name_or_path.text, name_or_path.source, study)
    text, source = _resolve(name_or_path, "models")
    the_study = load_study(study)
    if Path(source).parent == specs_dir("models") and not the_study.is_default():
        text = _for_study(text, source, the_study)
        try:
            return spec_from_text(text, source, the_study)
        except InputError as exc:  # the path model: RSW 2017's own structure
            raise InputError(
                f"{exc}. The shipped model {Path(source).stem!r} is built on RSW 2017's "
                f"columns; for study {the_study.name!r} use the model skill or domains (they "
                "take the study's [models] terms; --model skill on the command line) or a "
                "spec file of your own") from None
    return spec_from_text(text, source, the_study)


def _for_study(text: str, source: str, study: Any) -> str:
    """A shipped spec's text for another study: its terms from the study's ``[models]
    terms``, its groups the study's roles, its description saying so."""
    raw = _parse_toml(text, source)
    if raw.get("family") not in ("gaussian", "cumulative_probit"):
        return text
    lines = []
    groups = [g for g in raw.get("groups", []) if g in study.roles]
    terms = list(study.model_terms) if study.model_terms is not None else raw["terms"]
    what = (f"the {len(study.domains)} analysed domain ratings ({study.scale_min}-"
            f"{study.scale_max}) in long format" if raw.get("outcome") == "domains"
            else f"{study.overall.label} ({study.scale_min}-{study.scale_max})")
    kind = {"gaussian": "Gaussian", "cumulative_probit": "Cumulative-probit"}[raw["family"]]
    description = (f"{kind} model of {what} on {', '.join(terms) or 'no terms'} (the terms "
                   f"of study {study.name}), with group effects for {', '.join(groups)}.")
    skip = False
    for line in text.splitlines():
        if skip:
            skip = not line.rstrip().endswith('"""')
            continue
        if line.startswith("description"):
            lines.append(f"description = {_toml_string(description)}")
            skip = line.count('"""') == 1
        elif line.startswith("terms ="):
            lines.append(f"terms = [{', '.join(_toml_string(t) for t in terms)}]")
        elif line.startswith("groups ="):
            lines.append(f"groups = [{', '.join(_toml_string(g) for g in groups)}]")
        else:
            lines.append(line)
    return (f"# {Path(source).name}, shipped with pyramid, for study {study.name} "
            "(its [models] terms and roles)\n" + "\n".join(lines) + "\n")


def _toml_string(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# prior sets
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriorDist:
    """One prior: a distribution name and its parameters.

    Examples
    --------
    >>> PriorDist("Normal", {"mu": 0.0, "sigma": 0.5})
    Normal(mu=0.0, sigma=0.5)
    """

    dist: str
    params: dict[str, float]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.dist}({args})"


@dataclass(frozen=True)
class PriorSet:
    """A named set of priors, one per parameter class (see :data:`PRIOR_CLASSES`).

    Attributes
    ----------
    name, description : str
    classes : mapping of str to PriorDist
        Class (and per-level override such as ``sd_worker``) -> prior.
    coef : mapping of str to PriorDist
        Per-coefficient overrides keyed by truth name (``training[programme]``, ``clinician``).
    text, source : str
        The file's text (with the text of any set it extends) and where it came from.
    """

    name: str
    description: str
    classes: MappingProxyType
    coef: MappingProxyType
    text: str = field(default="", repr=False, compare=False)
    source: str = field(default="", repr=False, compare=False)

    def get(self, cls: str, *, group: str | None = None, coef: str | None = None) -> PriorDist:
        """The prior for a class, a group level's SD, or one coefficient.

        Parameters
        ----------
        cls : str
            A class of :data:`PRIOR_CLASSES`.
        group : str, optional
            For ``sd`` / ``latent_sd``: the group level (a ``sd_<group>`` entry wins).
        coef : str, optional
            A coefficient's truth name. A ``[coef."name"]`` entry (skill points) wins for the
            skill-scale classes; for the probit-scale classes of the ``domains`` model
            (``latent_b``, ``latent_b_mo``) only a ``[coef."latent:name"]`` entry does, so a
            prior in skill points is never read as one on the probit scale.

        Examples
        --------
        >>> load_priors("default").get("sd", group="worker")
        HalfNormal(sigma=0.4)
        >>> p = load_priors("rsw2017")
        >>> p.get("b", coef="training[programme]"), p.get("latent_b", coef="training[programme]")
        (Normal(mu=1.06, sigma=0.418), Normal(mu=2.12, sigma=0.835))
        """
        if coef is not None:
            key = f"{LATENT_PREFIX}{coef}" if cls.startswith("latent_") else coef
            if key in self.coef:
                return self.coef[key]
        if group is not None and f"{cls}_{group}" in self.classes:
            return self.classes[f"{cls}_{group}"]
        if cls not in self.classes and cls in OPTIONAL_CLASSES:
            base = OPTIONAL_CLASSES[cls]
            if base is None:
                return PriorDist("LKJ", {"eta": 2.0})
            return self.get(base, group=group, coef=coef)
        if cls not in self.classes:
            raise InputError(
                f"prior set {self.name!r} ({self.source}) has no prior for class {cls!r}; "
                f"it defines {', '.join(sorted(self.classes))}"
            )
        return self.classes[cls]



def priors_to_dict(priors: PriorSet) -> dict:
    """A prior set as plain data (JSON-ready): name, description, classes and coefficient
    overrides as ``[dist, params]`` pairs. :func:`priors_from_dict` turns it back.

    Examples
    --------
    >>> d = priors_to_dict(load_priors("default"))
    >>> d["classes"]["sd"]
    ['HalfNormal', {'sigma': 0.4}]
    >>> priors_from_dict(d).get("sd") == load_priors("default").get("sd")
    True
    """
    return {
        "name": priors.name, "description": priors.description,
        "classes": {k: [v.dist, v.params] for k, v in priors.classes.items()},
        "coef": {k: [v.dist, v.params] for k, v in priors.coef.items()},
    }


def priors_from_dict(d: dict, text: str = "", source: str = "") -> PriorSet:
    """The prior set of :func:`priors_to_dict`'s plain data (``text`` and ``source`` as the
    original set's, which the plain data do not hold).

    Examples
    --------
    >>> d = priors_to_dict(load_priors("sceptical"))
    >>> priors_from_dict(d).name
    'sceptical'
    """
    return PriorSet(
        name=d["name"], description=d["description"],
        classes=MappingProxyType({k: PriorDist(v[0], dict(v[1])) for k, v in d["classes"].items()}),
        coef=MappingProxyType({k: PriorDist(v[0], dict(v[1])) for k, v in d["coef"].items()}),
        text=text, source=source,
    )

def _parse_dist(source: str, key: str, table: Any, support: str) -> PriorDist:
    if not isinstance(table, dict):
        raise InputError(f"{source}: key '{key}' must be a table with 'dist' and parameters, got {table!r}")
    if "dist" not in table:
        raise InputError(f"{source}: missing key '{key}.dist'")
    dist = table["dist"]
    if dist not in DISTRIBUTIONS:
        raise InputError(
            f"{source}: key '{key}.dist': unknown distribution {dist!r}; allowed are "
            f"{', '.join(DISTRIBUTIONS)}"
        )
    params_spec, dist_support = DISTRIBUTIONS[dist]
    if dist_support != support:
        fitting = [d for d, (_, s) in DISTRIBUTIONS.items() if s == support]
        raise InputError(
            f"{source}: key '{key}.dist': {dist} has {dist_support} support but this class "
            f"needs {support} support; allowed are {', '.join(fitting)}"
        )
    _unknown(source, f"{key}.", set(table) - {"dist"}, params_spec)
    params = {}
    for p, constraint in params_spec.items():
        if p not in table:
            raise InputError(f"{source}: missing key '{key}.{p}' ({dist} needs {', '.join(params_spec)})")
        v = table[p]
        _check_type(source, f"{key}.{p}", v, float)
        v = float(v)
        if not math.isfinite(v) or (constraint == _POS and v <= 0):
            raise InputError(
                f"{source}: key '{key}.{p}' must be a finite"
                f"{' positive' if constraint == _POS else ''} number, got {table[p]!r}"
            )
        params[p] = v
    return PriorDist(dist, params)


def priors_from_text(text: str, source: str = "<string>", *, _seen: tuple = (),
                     study: Any = None) -> PriorSet:
    """Parse and check a prior set from TOML text.

    Parameters
    ----------
    text : str
        The TOML text.
    source : str
        Where it came from, used in error messages.
    study : str, path or Study, optional
        The study whose coefficient names ``[coef."<name>"]`` may use; default ``rsw2017``.

    Returns
    -------
    PriorSet

    Examples
    --------
    >>> p = priors_from_text('''
    ... name = "tight"
    ... extends = "default"
    ... [b]
    ... dist = "Normal"
    ... mu = 0
    ... sigma = 0.2
    ... ''')
    >>> p.get("b"), p.get("intercept")
    (Normal(mu=0.0, sigma=0.2), Normal(mu=2.5, sigma=0.75))
    """
    raw = _parse_toml(text, source)
    meta = {"name": str, "description": str, "extends": str, "coef": dict}
    allowed = set(meta) | set(PRIOR_CLASSES) | set(_SD_OVERRIDES)
    _unknown(source, "", set(raw), allowed)
    if "name" not in raw:
        raise InputError(f"{source}: missing key 'name'")
    for key, typ in meta.items():
        if key in raw:
            _check_type(source, key, raw[key], typ)

    classes: dict[str, PriorDist] = {}
    coef: dict[str, PriorDist] = {}
    full_text = text
    if "extends" in raw:
        if raw["extends"] in _seen:
            raise InputError(f"{source}: key 'extends': circular extension via {raw['extends']!r}")
        btext, bsource = _resolve(raw["extends"], "priors")
        base = priors_from_text(btext, bsource, _seen=(*_seen, raw["extends"]), study=study)
        classes.update(base.classes)
        coef.update(base.coef)
        full_text = f"{text}\n\n# ---- extends {bsource} ----\n{base.text}"

    for key, value in raw.items():
        if key in meta:
            continue
        support = PRIOR_CLASSES[_SD_OVERRIDES.get(key, key)][0]
        classes[key] = _parse_dist(source, key, value, support)
        if key == "domain" and (classes[key].dist != "Normal" or classes[key].params["mu"] != 0):
            raise InputError(
                f"{source}: key 'domain': the sum-to-zero domain effects need a Normal prior "
                f"with mu = 0, got {classes[key]!r}"
            )
    missing = [c for c in PRIOR_CLASSES if c not in classes and c not in OPTIONAL_CLASSES]
    if missing:
        raise InputError(
            f"{source}: missing key '{missing[0]}' (every class needs a prior: "
            f"{', '.join(missing)} missing; or add extends = \"default\")"
        )
    support = coef_support(study)
    rsw = COEF_SUPPORT if study is not None else support
    left_out = []
    for name, table in raw.get("coef", {}).items():
        base_name = name.removeprefix(LATENT_PREFIX)
        if base_name not in support and base_name in rsw:
            # a coefficient of RSW 2017 (the rsw2017 set's) that this study lacks: it informs
            # only the terms the study has, and says which it left out
            _parse_dist(source, f"coef.{name}", table, rsw[base_name])
            left_out.append(name)
            continue
        if base_name not in support or name == LATENT_PREFIX + "intercept":
            raise InputError(
                f"{source}: unknown key 'coef.{name}'; allowed coefficient names are "
                f"{', '.join(support)} (skill points) and each of them but intercept "
                f"with the prefix {LATENT_PREFIX!r} (the domains model's probit scale)"
            )
        coef[name] = _parse_dist(source, f"coef.{name}", table, support[base_name])
    for name in left_out:
        coef.pop(name, None)  # also one inherited through 'extends'
    description = " ".join(raw.get("description", "").split())
    if left_out:
        description += (f" (coefficients of RSW 2017 that this study lacks left out: "
                        f"{', '.join(left_out)})")

    return PriorSet(
        name=raw["name"],
        description=description,
        classes=MappingProxyType(classes),
        coef=MappingProxyType(coef),
        text=full_text,
        source=source,
    )


def load_priors(name_or_path: str | Path | PriorSet, study: Any = None) -> PriorSet:
    """Load a prior set by name (``default``, ``sceptical``, ``rsw2017``) or from a TOML file.

    Parameters
    ----------
    name_or_path : str, Path or PriorSet
        A shipped name, a path to a ``.toml`` file, or a prior set (returned as is: a prior
        set object is taken to be on the study's scale already).
    study : str, path or Study, optional
        The study whose coefficients a ``[coef."<name>"]`` table may name, and whose rating
        scale the skill-scale classes of a set loaded by name or path are put on
        (:func:`for_scale`); default ``rsw2017``.

    Returns
    -------
    PriorSet

    Raises
    ------
    InputError
        Unknown name, missing file, or a problem in the file (naming the key).

    Examples
    --------
    >>> p = load_priors("default")
    >>> p.get("intercept")
    Normal(mu=2.5, sigma=0.75)
    """
    if isinstance(name_or_path, PriorSet):
        return name_or_path  # a prior set object is taken as it is (on the study's scale)
    text, source = _resolve(name_or_path, "priors")
    return for_scale(priors_from_text(text, source, study=study), study)


#: Prior classes in skill points (on the study's rating scale), which :func:`for_scale` maps.
SKILL_SCALE_CLASSES: tuple[str, ...] = ("intercept", "b", "b_mo", "sd", "sigma", "b_interaction",
                                         "b_numeric", "sd_slope")

# how each distribution's parameters move when the scale is multiplied by k (location m -> the
# new location): scale parameters times k, rates over k, a log-normal's mu plus log k
_SCALE_PARAMS = {"sigma": "scale", "beta": "scale", "lam": "rate"}


def _scaled(prior: PriorDist, k: float, location) -> PriorDist:
    params = dict(prior.params)
    for p, v in prior.params.items():
        role = _SCALE_PARAMS.get(p)
        if prior.dist == "Gamma" and p == "beta":
            params[p] = v / k
        elif prior.dist == "LogNormal" and p == "mu":
            params[p] = v + math.log(k)
        elif prior.dist == "LogNormal" and p == "sigma":
            continue
        elif role == "scale":
            params[p] = v * k
        elif role == "rate":
            params[p] = v / k
        elif (p == "mu" and prior.dist in ("Normal", "StudentT")) or (
                p == "alpha" and prior.dist == "Cauchy"):
            params[p] = location(v)
    return PriorDist(prior.dist, params)


def for_scale(priors: PriorSet, study: Any = None) -> PriorSet:
    """A prior set written for the 1-5 scale, put on a study's rating scale.

    Prior sets are written in skill points of RSW 2017's 1-5 scale. For a study rated
    ``min``-``max`` the classes in skill points (:data:`SKILL_SCALE_CLASSES`, their per-level
    overrides and the coefficients' overrides) are mapped linearly by ``k = (max - min) / 4``:
    a location ``m`` of the intercept becomes ``min + (m - 1) k``, of an effect ``m k``, and
    every scale parameter is multiplied by ``k`` (a rate divided). Classes on a probit scale
    (``latent_*``, ``cutpoints``, ``domain``, ``mediator_*``) and probabilities are left as
    they are. On a 1-5 scale the set is returned unchanged.

    Examples
    --------
    >>> from pyramid.study import load_study
    >>> p = for_scale(load_priors("default"), load_study())
    >>> p is load_priors("default") or p == load_priors("default")
    True
    """
    from pyramid.study import load_study

    study = load_study(study)
    lo, hi = study.scale_min, study.scale_max
    if (lo, hi) == (1, 5):
        return priors
    k = (hi - lo) / 4.0

    def effect(m: float) -> float:
        return m * k

    def intercept(m: float) -> float:
        return lo + (m - 1.0) * k

    classes = {}
    for name, prior in priors.classes.items():
        base = _SD_OVERRIDES.get(name, name)
        if base in SKILL_SCALE_CLASSES:
            classes[name] = _scaled(prior, k, intercept if base == "intercept" else effect)
        else:
            classes[name] = prior
    coef = {}
    for name, prior in priors.coef.items():
        latent = name.startswith(tuple(f"{f}_" for f in study.factors
                                       if study.factors[f].kind == "ordered"))
        coef[name] = prior if latent else _scaled(
            prior, k, intercept if name == "intercept" else effect)
    note = (f"(put on the {lo}-{hi} scale of study {study.name}: skill-point classes "
            f"times {k:g}, the intercept's location moved to match)")
    return PriorSet(
        name=priors.name,
        description=f"{priors.description} {note}".strip(),
        classes=MappingProxyType(classes),
        coef=MappingProxyType(coef),
        text=f"# {note}\n{priors.text}",
        source=priors.source,
    )


def rsw2017_prior_values(inflate: float = 2.0, *, adjusted: bool = True,
                         scale: str = "skill") -> dict[str, tuple[float, float]]:
    """The (mean, SD) of the ``rsw2017`` prior set's informed priors, from the published tables.

    The report compares each factor on its own (Tables 14 and 15), but its factors came
    together: clinicians sat mostly in the systemic discussions (the Part 4 crosstab), so the
    raw clinician and discussion differences share most of their variation and adding them, as
    the model does, counts the same difference twice. With ``adjusted=True`` (the shipped set)
    the values are those of the simulator's ``"report"`` preset
    (:func:`pyramid.data.simulate.default_effects`), the one generative model the package
    simulates from:

    * ``clinician`` and ``discussion``: the least-squares coefficients of ``skill ~ clinician +
      discussion level`` computed from Table 15's group means and the crosstab (the function
      the simulator uses); SD ``inflate`` x the raw difference's standard error x ``sqrt(VIF)``,
      where ``VIF = 1 / (1 - r^2)`` and ``r`` is the correlation of clinician presence and
      discussion level in the crosstab: the standard error of a coefficient adjusted for a
      correlated factor (exact for a pooled residual SD equal to the groups' SD);
    * ``training[level]``: Table 14's difference from no systemic training, SD ``inflate`` x
      its standard error. Not adjusted: the report gives no crosstab of training by clinician
      or discussion;
    * ``intercept`` (expected skill with no training, no clinician, a non-systemic discussion):
      the simulator's intercept, calibrated so that the comparison group's expected mean is
      Table 10's; its SD is ``inflate`` x the standard error of Table 14's no-training mean,
      widened to put that raw mean (2.44) two SDs away: ``sqrt((inflate * se)^2 + ((2.44 -
      intercept) / 2)^2)``. The raw mean averages over the untrained workers' clinicians and
      discussions, so the reference cell lies below it, not around it.

    With ``scale="latent"`` the effects (not the intercept) are on the ``domains`` model's
    probit scale of a rating: divided by :data:`RSW2017_LATENT_UNIT`, the skill points one
    probit unit stands for (the simulator's ``sigma_domain``, 0.5, calibrated to the report's
    domain-score SDs; the generative model's ``latent:effect = effect / sigma_domain``).

    ``inflate`` (2 by default) allows for the clustering the report's standard errors ignore.
    With ``adjusted=False`` every value is the report's raw difference with ``inflate`` x its
    standard error (the set as first shipped, kept for comparison: its prior predictive puts
    most draws of the complete pyramid's expected skill above 5).
    ``priors/rsw2017.toml`` holds the adjusted values rounded to 3 decimals; a test checks
    them against this function.

    Parameters
    ----------
    inflate : float, default 2.0
        Factor on every standard error (positive).
    adjusted : bool, default True
        Adjusted values (above) or the raw differences.
    scale : {"skill", "latent"}, default "skill"
        Skill points, or the probit scale of a domain rating (effects only; the names then
        carry the ``latent:`` prefix of the prior set's entries).

    Returns
    -------
    dict
        truth name (``intercept``, ``training[other]``, ``training[mla]``,
        ``training[programme]``, ``clinician``, ``discussion``) -> (mean, sd). ``discussion``
        is brms's average step: half the systemic vs non-systemic difference.

    Raises
    ------
    InputError
        ``inflate`` not a positive number.

    Examples
    --------
    >>> v = rsw2017_prior_values()
    >>> [round(v[k][0], 2) for k in ("training[programme]", "clinician", "discussion")]
    [1.06, 0.96, 0.17]
    >>> raw = rsw2017_prior_values(adjusted=False)
    >>> round(raw["clinician"][0], 2), round(raw["discussion"][0], 2)
    (1.12, 0.54)
    """
    # here, not at the top: the simulator imports scipy.optimize, and every command imports specs
    from pyramid.data.simulate import default_effects

    if (isinstance(inflate, bool) or not isinstance(inflate, int | float)
            or not math.isfinite(inflate) or inflate <= 0):
        raise InputError(f"inflate must be a positive number (a factor on the standard "
                         f"errors); got {inflate!r}")
    if scale not in ("skill", "latent"):
        raise InputError(f"scale must be 'skill' or 'latent', got {scale!r}")
    if scale == "latent":
        skill = rsw2017_prior_values(inflate, adjusted=adjusted)
        return {f"{LATENT_PREFIX}{k}": (m / RSW2017_LATENT_UNIT, sd / RSW2017_LATENT_UNIT)
                for k, (m, sd) in skill.items() if k != "intercept"}

    def stats(tab: int, row_key: str) -> tuple[float, float, float]:
        return tuple(cell(tab, row_key, stat) for stat in ("mean", "sd", "n"))

    def diff(lo: tuple, hi: tuple) -> tuple[float, float]:
        return hi[0] - lo[0], math.sqrt(lo[1] ** 2 / lo[2] + hi[1] ** 2 / hi[2])

    levels = schema.TRAINING_LEVELS  # Table 14's row keys are the level names
    none = stats(14, levels[0])
    se_none = none[1] / math.sqrt(none[2])
    out = {"intercept": (none[0], inflate * se_none)}
    for level in levels[1:]:
        m, se = diff(none, stats(14, level))
        out[f"training[{level}]"] = (m, inflate * se)
    d = len(schema.DISCUSSION_LEVELS) - 1
    m_clin, se_clin = diff(stats(15, "clinician_no"), stats(15, "clinician_yes"))
    m_disc, se_disc = diff(stats(15, schema.DISCUSSION_LEVELS[0]),
                           stats(15, schema.DISCUSSION_LEVELS[-1]))
    m_disc, se_disc = m_disc / d, se_disc / d
    if not adjusted:
        out["clinician"] = (m_clin, inflate * se_clin)
        out["discussion"] = (m_disc, inflate * se_disc)
        return out
    # the correlation of clinician presence (0/1) and discussion level (0, 1, 2) over the
    # crosstab's discussions: the variance inflation of each coefficient adjusted for the other
    n, nc = crosstab_counts()
    k = np.arange(len(n), dtype=float)
    p_clin, mean_k = nc.sum() / n.sum(), (n * k).sum() / n.sum()
    cov = (nc * k).sum() / n.sum() - p_clin * mean_k
    var_k = (n * k * k).sum() / n.sum() - mean_k**2
    r2 = cov**2 / (p_clin * (1.0 - p_clin) * var_k)
    widen = inflate / math.sqrt(1.0 - r2)
    b_clin, b_disc = report_regression()
    out["clinician"] = (b_clin, widen * se_clin)
    out["discussion"] = (b_disc, widen * se_disc)
    alpha = float(default_effects("report")["intercept"])
    out["intercept"] = (alpha, math.hypot(inflate * se_none, (none[0] - alpha) / 2.0))
    return out
