"""Study definitions: how one project's data are shaped, as plain data (TOML).

A **study** names a project's identifier columns and their nesting, its rating scale and
domains, its factors (categorical, ordered, binary, numeric; the level each is measured at;
their levels, reference level, words and other spellings), an optional wave and the derived
indicators its models use. RSW 2017 is the built-in study ``rsw2017`` and the default of every
stage; a new project writes its own file (``pyramid study init DATA --out study.toml`` drafts
one from the data) and passes it as ``study=`` / ``--study FILE``.

Files are found by name in the source checkout (top-level ``studies/``) or, in an installed
wheel, in ``pyramid/_specs/studies``. Every problem in a file raises
:class:`~pyramid.errors.InputError` naming the file, the key and the problem.

Study file keys
---------------
=================== ===========================================================================
key                 meaning
=================== ===========================================================================
name                short name, an identifier (required)
description         one paragraph
[ids]               role = the data's column, innermost first: ``observation`` (required,
                    unique per row), ``worker`` (required), ``unit``, ``authority`` (needs
                    ``unit``): 2 to 4 nesting levels. A role may be a table ``{column, label,
                    synonyms, description}``
[scale]             ``min``, ``max`` (whole numbers, min < max), ``domains`` (the analysed
                    domains: names or tables ``{name, column, label, synonyms}``), ``coded``
                    (coded and checked, not analysed), optional ``[scale.groups]`` (group name
                    = list of domains)
[overall]           the overall score: ``name`` (default ``skill``), ``column`` (a data column
                    that may give it; default the name), ``label``, ``description``,
                    ``tolerance`` (a given score may differ from the mean of the analysed
                    domains by this much; default 0.0051)
wave                the factor that is the wave or time point (categorical or ordered)
[factors.NAME]      ``kind`` (``categorical``, ``ordered``, ``binary``, ``numeric``; required),
                    ``column`` (default NAME), ``levels`` (categorical and ordered, in order),
                    ``reference`` (default the first level), ``at`` (``row``, ``worker`` or
                    ``unit``: the level the factor is measured at, checked by validation),
                    ``required`` (every row must have it), ``label``, ``description``,
                    ``missing`` (the word for a missing value), ``labels`` / ``plot_labels`` /
                    ``constant_within`` (a role within which a change is warned about, a
                    judgement), ``contrast_labels`` (level = words), ``contrast_prefix`` (put before a
                    default contrast's levels; default the label), ``synonyms`` (level = list
                    of other spellings), ``column_synonyms`` (other headers), ``versus_rest``
                    (levels also compared against all the others), numeric only: ``centre``
                    (a number or ``"mean"``), ``scale`` (a slope is per this many units;
                    default 1), ``min``, ``max``, ``unit``
[derived.NAME]      a 0/1 indicator computed from factors: ``when_any`` (a list of
                    ``{factor, levels, over}``: 1 when the row's value, or with ``over =
                    "unit"`` / ``"worker"`` any value of its unit / worker, is one of
                    ``levels``), ``at``, ``label``, ``description``. A data column of that
                    name (0/1) wins
[models]            ``terms``: the terms the shipped model specs (skill, domains) use for this
                    study (factor names, derived names, ``mo(ordered factor)``)
unused_columns      headers the study knowingly leaves unused (no close-name check for them)
[[contrasts]]       default contrasts the study adds to every model that has their columns:
                    ``key``, ``label``, ``a`` and ``b`` (tables column = value), ``what`` (its
                    name in a note), ``optional`` (columns dropped from both sides when a model
                    lacks them), ``note``, ``note_without``, ``note_not_in_outcome``
=================== ===========================================================================

Names
-----
Factor names, roles and domain names are the column names of the canonical frame, so they are
identifiers. A domain or level written as text (``"Use of Authority"``, ``"follow-up"``) gets
the name of that text made an identifier (``use_of_authority``, ``follow_up``: lower case, runs
of other characters as ``_``) and keeps the text as its label. Every spelling of a level (its
name, labels, synonyms) is accepted in data and in contrasts, compared after lower-casing and
dropping everything but letters and digits; so is every spelling of a header.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from pyramid.errors import InputError, Problem

__all__ = [
    "ROLES",
    "KINDS",
    "LEVELS_AT",
    "DEFAULT_STUDY",
    "Study",
    "Factor",
    "Domain",
    "IdRole",
    "Overall",
    "Derived",
    "StudyContrast",
    "ColumnMap",
    "Draft",
    "load_study",
    "study_from_text",
    "available_studies",
    "studies_dir",
    "check_study",
    "draft_study",
    "map_columns",
    "level_problems",
    "normalise",
    "header_key",
    "identifier",
]

#: Identifier roles, innermost first. ``observation`` and ``worker`` are required.
ROLES: tuple[str, ...] = ("observation", "worker", "unit", "authority")

#: Kinds of factor.
KINDS: tuple[str, ...] = ("categorical", "ordered", "binary", "numeric")

#: Levels a factor can be measured at (``row``: may differ between any two rows).
LEVELS_AT: tuple[str, ...] = ("row", "worker", "unit")

#: The study every stage uses when it is given none.
DEFAULT_STUDY = "rsw2017"

_BINARY_WORDS = {"0": 0, "1": 1, "no": 0, "yes": 1, "false": 0, "true": 1}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LEVEL_NAME = re.compile(r"[a-z0-9_]+")
#: Names a factor or domain may not take: they have a meaning of their own in specs.
_RESERVED = frozenset({"domains", "intercept", "sigma", "cutpoints", "delta", "mo"})


def normalise(text: Any) -> str:
    """The form in which spellings are compared: lower case, letters and digits only.

    Examples
    --------
    >>> normalise(" Child Focus "), normalise("green-shoots"), normalise("Observation ID")
    ('childfocus', 'greenshoots', 'observationid')
    """
    return re.sub(r"[^0-9a-z]+", "", str(text).strip().lower())


def header_key(text: Any) -> str:
    """The form in which headers are compared: lower case without spaces, dots, hyphens and
    underscores (nothing else dropped: ``=empathy`` is not ``empathy``, so a formula in a
    header is never silently read as a column).

    Examples
    --------
    >>> header_key(" Observation ID "), header_key("case_discussion"), header_key("=empathy")
    ('observationid', 'casediscussion', '=empathy')
    """
    return re.sub(r"[\s._-]+", "", str(text).strip().lower())


def identifier(text: str) -> str:
    """Text made a name: lower case, runs of anything but letters and digits as ``_``.

    Examples
    --------
    >>> identifier("Use of Authority"), identifier("follow-up"), identifier("child_focus")
    ('use_of_authority', 'follow_up', 'child_focus')
    """
    return re.sub(r"[^0-9a-z]+", "_", str(text).strip().lower()).strip("_")


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^0-9a-z]+", str(text).lower()) if w]


# --------------------------------------------------------------------------------------------
# the objects
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdRole:
    """One identifier column: its ``role`` (``observation``, ``worker``, ...) and the data's
    ``column``, with ``label`` (words) and ``synonyms`` (other headers)."""

    role: str
    column: str
    label: str
    synonyms: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Domain:
    """One rated domain: canonical ``name``, the data's ``column``, ``label`` and synonyms."""

    name: str
    column: str
    label: str
    synonyms: tuple[str, ...] = ()
    analysed: bool = True


@dataclass(frozen=True)
class Overall:
    """The overall score: ``name`` in the canonical frame (``skill``), the data ``column``
    that may give it, ``label``, ``description`` and the ``tolerance`` of a given value."""

    name: str = "skill"
    column: str = "skill"
    label: str = "skill"
    description: str = "mean of the available analysed domain scores"
    tolerance: float = 0.0051
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Factor:
    """One factor of a study.

    Attributes
    ----------
    name : str
        Its name in the canonical frame, in model terms and in contrasts.
    column : str
        The data's column.
    kind : str
        ``categorical``, ``ordered``, ``binary`` or ``numeric``.
    levels : tuple of str
        Level names in order (categorical, ordered); ``("0", "1")`` for binary; empty for
        numeric.
    reference : str or None
        The reference level (the first level unless the file says otherwise).
    at : str
        ``row``, ``worker`` or ``unit``: the level it is measured at.
    required : bool
        Every row must have a value.
    label, description, missing : str
        The factor in words, one sentence, and the word for a missing value.
    labels, plot_labels, contrast_labels : mapping
        Level -> words (tables and reports; figure axes; contrast labels).
    contrast_prefix : str
        Put before a default contrast's levels (``"wave: follow-up vs baseline"``); the
        label unless the file says otherwise (``""``: the contrast labels say it all).
    spellings : mapping
        Normalised spelling -> level (names, labels, plot labels and synonyms).
    column_synonyms : tuple of str
        Other headers of the column.
    versus_rest : tuple of str
        Levels also compared against all the others (mixed as in the data).
    centre : float, "mean" or None
        Numeric: the value subtracted before the slope applies.
    scale : float
        Numeric: a slope is per this many units.
    min, max : float or None
        Numeric: bounds checked by validation.
    unit : str
        Numeric: what one unit is, in words.
    constant_within : str or None
        A role within whose rows the value is expected to stay the same: a judgement (a
        warning that ``allow="<role>-<name>"`` silences), unlike ``at``, which is a rule.
    """

    name: str
    column: str
    kind: str
    levels: tuple[str, ...] = ()
    reference: str | None = None
    at: str = "row"
    required: bool = False
    label: str = ""
    description: str = ""
    missing: str = "missing"
    labels: Mapping[str, str] = field(default_factory=dict)
    plot_labels: Mapping[str, str] = field(default_factory=dict)
    contrast_labels: Mapping[str, str] = field(default_factory=dict)
    contrast_prefix: str = ""
    spellings: Mapping[str, str] = field(default_factory=dict, repr=False)
    column_synonyms: tuple[str, ...] = ()
    versus_rest: tuple[str, ...] = ()
    centre: float | str | None = None
    scale: float = 1.0
    min: float | None = None
    max: float | None = None
    unit: str = ""
    constant_within: str | None = None

    @property
    def ordered_levels(self) -> tuple[str, ...]:
        """Levels with the reference first (the coding order of a categorical term).

        Examples
        --------
        >>> load_study("rsw2017").factors["training"].ordered_levels
        ('none', 'other', 'mla', 'programme')
        """
        if self.reference is None or not self.levels or self.levels[0] == self.reference:
            return self.levels
        return (self.reference, *[lv for lv in self.levels if lv != self.reference])

    def level_label(self, level: Any, style: str = "label") -> str:
        """Words for a level (``style``: ``label``, ``plot`` or ``contrast``); a missing value
        gets :attr:`missing`.

        Examples
        --------
        >>> f = load_study("rsw2017").factors["discussion"]
        >>> f.level_label("green_shoots"), f.level_label(None), f.level_label("systemic", "contrast")
        ('Green shoots', 'not observed', 'systemic')
        """
        if level is None or (not isinstance(level, str) and pd.isna(level)):
            return self.missing
        key = str(int(level)) if self.kind == "binary" and not isinstance(level, str) else str(level)
        table = {"label": self.labels, "plot": self.plot_labels,
                 "contrast": self.contrast_labels}.get(style)
        if table is None:
            raise InputError(f"style must be label, plot or contrast, got {style!r}")
        return table.get(key) or self.labels.get(key) or key

    def parse(self, value: Any) -> tuple[Any, str | None]:
        """A data cell as this factor's value: ``(value, None)``, ``(None, rule)`` when it
        breaks a rule, ``(None, None)`` when missing.

        Categorical and ordered factors give the level name, binary 0 or 1, numeric a float.

        Examples
        --------
        >>> f = load_study("rsw2017").factors["training"]
        >>> f.parse("Previous MLA"), f.parse(""), f.parse("some")[1][:40]
        (('mla', None), (None, None), 'unknown training level: allowed are none')
        """
        if _is_missing(value):
            return None, None
        if self.kind == "numeric":
            f = _as_number(value)
            if f is None:
                return None, f"{self.name} must be a number{self._bounds_text()}"
            if (self.min is not None and f < self.min) or (self.max is not None and f > self.max):
                return None, f"out of range: {self.name} must be a number{self._bounds_text()}"
            return f, None
        if self.kind == "binary":
            if isinstance(value, bool | np.bool_):
                return int(value), None
            if isinstance(value, str):
                key = normalise(value)
                if key in self.spellings:
                    return int(self.spellings[key]), None
            f = _as_number(value)
            if f in (0.0, 1.0):
                return int(f), None
            return None, self.rule()
        if isinstance(value, str) and normalise(value) in self.spellings:
            return self.spellings[normalise(value)], None
        if _as_number(value) is not None:
            key = normalise(str(value).strip())
            if isinstance(value, float) and float(value).is_integer():
                key = str(int(value))
            if key in self.spellings:
                return self.spellings[key], None
            return None, f"{self.rule()}; numeric codes are not accepted, use the level names"
        return None, self.rule()

    def rule(self) -> str:
        """The rule a value of this factor must follow, in words."""
        empty = "" if self.required else " (empty = not observed)"
        if self.kind == "binary":
            words = [f"{w0}/{w1}" for w0, w1 in (("no", "yes"), ("false", "true"))]
            more = sorted(k for k, v in self.spellings.items()
                          if not k.isdigit() and k not in _BINARY_WORDS)
            words += [f"{k} ({self.spellings[k]})" for k in more]
            tail = "; empty = not observed" if not self.required else ""
            return (f"{self.name} must be 0 or 1 (also accepted: {', '.join(words)} in any "
                    f"case{tail})")
        if self.kind == "numeric":
            return f"{self.name} must be a number{self._bounds_text()}{empty}"
        return f"unknown {self.name} level: allowed are {', '.join(self.levels)}{empty}"

    def _bounds_text(self) -> str:
        if self.min is not None and self.max is not None:
            return f" from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.min is not None:
            return f" >= {_fmt(self.min)}"
        if self.max is not None:
            return f" <= {_fmt(self.max)}"
        return ""


@dataclass(frozen=True)
class Condition:
    """One condition of a derived indicator: ``factor`` in ``levels``, of the row itself
    (``over = "row"``) or of any row of its worker or unit."""

    factor: str
    levels: tuple[Any, ...]
    over: str = "row"


@dataclass(frozen=True)
class Derived:
    """A 0/1 indicator computed from factors (RSW 2017's ``csw``)."""

    name: str
    when_any: tuple[Condition, ...]
    at: str = "row"
    label: str = ""
    description: str = ""


@dataclass(frozen=True)
class StudyContrast:
    """A default contrast a study adds (``[[contrasts]]``): two settings ``a`` and ``b``
    (column -> value); ``optional`` columns are dropped from both when a model lacks them
    (``note_without`` says so), and ``note_not_in_outcome`` is the note when one is a model's
    covariate but not a term of its outcome equation. ``what`` names it in the note when a
    model lacks a column it needs."""

    key: str
    label: str
    a: Mapping[str, Any]
    b: Mapping[str, Any]
    what: str = ""
    optional: tuple[str, ...] = ()
    note: str = ""
    note_without: str = ""
    note_not_in_outcome: str = ""


@dataclass(frozen=True)
class Study:
    """A study: identifiers, scale, domains and factors of one project's data.

    Attributes
    ----------
    name, description : str
    ids : tuple of IdRole
        Innermost first (``observation``, ``worker``, then ``unit`` and ``authority`` where
        the study has them).
    scale_min, scale_max : int
        The rating scale.
    domains : tuple of Domain
        The analysed domains.
    coded : tuple of Domain
        Domains coded and checked but not analysed.
    domain_groups : mapping
        Group name -> domain names.
    overall : Overall
        The overall score.
    factors : mapping of str to Factor
        In file order.
    derived : mapping of str to Derived
    wave : str or None
        The factor that is the wave.
    model_terms : tuple of str or None
        ``[models] terms``: the terms of the shipped specs for this study.
    unused_columns : tuple of str
    contrasts : tuple of StudyContrast
        ``[[contrasts]]``: contrasts added to the default ones of every model that has their
        columns.
    text, source : str
        The file's text and where it came from (stored in results files).
    """

    name: str
    description: str
    ids: tuple[IdRole, ...]
    scale_min: int
    scale_max: int
    domains: tuple[Domain, ...]
    coded: tuple[Domain, ...] = ()
    domain_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    overall: Overall = field(default_factory=Overall)
    factors: Mapping[str, Factor] = field(default_factory=dict)
    derived: Mapping[str, Derived] = field(default_factory=dict)
    wave: str | None = None
    model_terms: tuple[str, ...] | None = None
    unused_columns: tuple[str, ...] = ()
    contrasts: tuple[StudyContrast, ...] = ()
    text: str = field(default="", repr=False, compare=False)
    source: str = field(default="", repr=False, compare=False)

    # a study is immutable: copies are the study itself, and it pickles as its text (its
    # read-only mappings do not pickle), so it can ride in a frame's attrs and to workers
    def __copy__(self) -> Study:
        return self

    def __deepcopy__(self, memo: dict) -> Study:
        return self

    def __reduce__(self):
        return (_from_text, (self.text, self.source))

    def __repr__(self) -> str:
        return (f"Study({self.name!r}: {' < '.join(self.roles)}; scale {self.scale_min}-"
                f"{self.scale_max}, {len(self.domains)} domains; factors "
                f"{', '.join(self.factors) or 'none'})")

    # ---- names -------------------------------------------------------------------------
    @property
    def roles(self) -> tuple[str, ...]:
        """Identifier roles, innermost first.

        Examples
        --------
        >>> load_study("rsw2017").roles
        ('observation', 'worker', 'unit', 'authority')
        """
        return tuple(r.role for r in self.ids)

    @property
    def groups(self) -> tuple[str, ...]:
        """Roles above the observation, outermost first (the group levels a model may use).

        Examples
        --------
        >>> load_study("rsw2017").groups
        ('authority', 'unit', 'worker')
        """
        return tuple(reversed(self.roles[1:]))

    @property
    def domain_names(self) -> tuple[str, ...]:
        """Names of the analysed domains."""
        return tuple(d.name for d in self.domains)

    @property
    def all_domains(self) -> tuple[Domain, ...]:
        """Analysed, then coded domains."""
        return (*self.domains, *self.coded)

    @property
    def categories(self) -> tuple[int, ...]:
        """The scores of the scale, ``min..max``.

        Examples
        --------
        >>> load_study("rsw2017").categories
        (1, 2, 3, 4, 5)
        """
        return tuple(range(self.scale_min, self.scale_max + 1))

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the canonical frame, in order: ids (innermost first), factors, analysed
        domains, coded domains, the overall score.

        Examples
        --------
        >>> load_study("rsw2017").columns[:8]
        ('observation', 'worker', 'unit', 'authority', 'group', 'training', 'discussion', 'clinician')
        """
        return (*self.roles, *self.factors, *(d.name for d in self.all_domains),
                self.overall.name)

    def is_default(self) -> bool:
        """Whether this is the built-in RSW 2017 study."""
        return self.name == DEFAULT_STUDY and Path(self.source).parent == studies_dir()

    def kind_of(self, name: str) -> str | None:
        """What a canonical column is: ``id``, a factor kind, ``derived``, ``score``
        (a domain), ``overall``; None when the study has no such column."""
        if name in self.roles:
            return "id"
        if name in self.factors:
            return self.factors[name].kind
        if name in self.derived:
            return "derived"
        if name in {d.name for d in self.all_domains}:
            return "score"
        if name == self.overall.name:
            return "overall"
        return None

    def domain(self, name: str) -> Domain:
        """The domain called ``name`` (analysed or coded)."""
        for d in self.all_domains:
            if d.name == name:
                return d
        raise InputError(f"study {self.name!r} has no domain {name!r}; its domains are "
                         f"{', '.join(d.name for d in self.all_domains)}")

    def label_of(self, name: str) -> str:
        """Words for a canonical column (a role, factor, derived indicator, domain, overall).

        Examples
        --------
        >>> load_study("rsw2017").label_of("discussion")
        'quality of case discussion'
        """
        for r in self.ids:
            if r.role == name:
                return r.label
        if name in self.factors:
            return self.factors[name].label
        if name in self.derived:
            return self.derived[name].label or name
        for d in self.all_domains:
            if d.name == name:
                return d.label
        if name == self.overall.name:
            return self.overall.label
        return name

    def description_of(self, name: str) -> str:
        """One sentence on a canonical column (a variable label).

        Examples
        --------
        >>> s = load_study()
        >>> s.description_of("training"), s.description_of("empathy")
        ('systemic training (Table 14)', 'empathy score, whole number 1-5')
        """
        for r in self.ids:
            if r.role == name:
                return r.description or f"{r.label} id"
        if name in self.factors:
            f = self.factors[name]
            return f.description or f.label
        for d in self.all_domains:
            if d.name == name:
                return (f"{d.name} score, whole number {self.scale_min}-{self.scale_max}"
                        if d.analysed else f"{d.name} score, coded but not analysed")
        if name == self.overall.name:
            return self.overall.description
        return ""

    def data_column(self, name: str) -> str:
        """The data's column (its header in the study) for a canonical column."""
        for r in self.ids:
            if r.role == name:
                return r.column
        if name in self.factors:
            return self.factors[name].column
        for d in self.all_domains:
            if d.name == name:
                return d.column
        if name == self.overall.name:
            return self.overall.column
        raise InputError(f"study {self.name!r} has no column {name!r}")

    # ---- the canonical frame -----------------------------------------------------------
    def canonical_dtypes(self) -> dict[str, Any]:
        """The dtype of each column of the canonical frame (see :attr:`columns`).

        Examples
        --------
        >>> dt = load_study("rsw2017").canonical_dtypes()
        >>> dt["training"], dt["clinician"], dt["empathy"], dt["skill"]
        (CategoricalDtype(categories=['none', 'other', 'mla', 'programme'], ordered=True, categories_dtype=str), 'Int8', 'Int8', 'float64')
        """
        out: dict[str, Any] = {r: "str" for r in self.roles}
        for f in self.factors.values():
            if f.kind in ("categorical", "ordered"):
                out[f.name] = pd.CategoricalDtype(list(f.levels), ordered=f.kind == "ordered")
            elif f.kind == "binary":
                out[f.name] = "Int8"
            else:
                out[f.name] = "float64"
        for d in self.all_domains:
            out[d.name] = "Int8"
        out[self.overall.name] = "float64"
        return out

    def headers(self) -> dict[str, tuple[str, ...]]:
        """Every canonical column with the headers that stand for it (its column, its
        synonyms and the canonical name itself), in canonical order."""
        out: dict[str, tuple[str, ...]] = {}
        for r in self.ids:
            out[r.role] = _unique((r.column, *r.synonyms, r.role))
        for f in self.factors.values():
            out[f.name] = _unique((f.column, *f.column_synonyms, f.name))
        for d in self.all_domains:
            out[d.name] = _unique((d.column, *d.synonyms, d.label, d.name))
        o = self.overall
        out[o.name] = _unique((o.column, *o.synonyms, o.name))
        return out

    def required_columns(self) -> tuple[str, ...]:
        """Canonical columns the data must have: every id role and every required factor."""
        return (*self.roles, *[f.name for f in self.factors.values() if f.required])

    def judgements(self) -> dict[str, str]:
        """Judgement rules of validation (findings allowed but probably a mistake), by the
        name ``validate(allow=...)`` takes: ``case-ids`` and one ``<role>-<factor>`` per
        factor with ``constant_within``.

        Examples
        --------
        >>> list(load_study().judgements())
        ['case-ids', 'worker-training']
        """
        out = {"case-ids": "ids of one column that differ only in upper and lower case (kept "
                           "as different ids)"}
        for f in self.factors.values():
            if f.constant_within:
                out[f"{f.constant_within}-{f.name}"] = (
                    f"a {f.constant_within} with more than one {f.name} value (each "
                    "observation keeps its own)")
        return out

    def derive(self, name: str, frame: pd.DataFrame) -> np.ndarray:
        """Values (0/1, one per row) of a derived indicator on a canonical frame.

        A column of that name in ``frame`` (0 or 1 on every row) wins.

        Examples
        --------
        >>> df = pd.DataFrame({"unit": ["u1", "u1", "u2"], "group": ["usual"] * 3,
        ...                    "training": ["none", "programme", "mla"]})
        >>> load_study("rsw2017").derive("csw", df).tolist()
        [1, 1, 0]
        """
        if name not in self.derived:
            raise InputError(f"study {self.name!r} has no derived indicator {name!r}; it has "
                             f"{', '.join(self.derived) or 'none'}")
        n = len(frame)
        if name in frame.columns:
            vals = pd.to_numeric(frame[name], errors="coerce")
            bad = vals.notna() & ~vals.isin([0, 1])
            if bad.any() or vals.isna().any():
                shown = sorted(set(frame[name][bad | vals.isna()].astype(str)))
                raise InputError(f"column {name!r} must be 0 or 1 on every row, got {shown}")
            return vals.to_numpy(dtype=int)
        out = np.zeros(n, dtype=bool)
        for cond in self.derived[name].when_any:
            if cond.factor not in frame.columns:
                continue
            hit = frame[cond.factor].astype(object).isin(list(cond.levels)).fillna(False)
            hit = hit.astype(bool)
            if cond.over != "row" and cond.over in frame.columns:
                hit = hit.groupby(frame[cond.over].to_numpy()).transform("any").astype(bool)
            out |= hit.to_numpy()
        return out.astype(int)


# --------------------------------------------------------------------------------------------
# where files live, loading
# --------------------------------------------------------------------------------------------
def studies_dir() -> Path:
    """Folder holding the shipped study files.

    The source checkout's top-level ``studies/`` wins; an installed wheel has them in
    ``pyramid/_specs/studies``.

    Examples
    --------
    >>> studies_dir().name
    'studies'
    """
    here = Path(__file__).resolve().parent
    candidates = [here / "_specs" / "studies"]
    if (here.parent / "pyproject.toml").is_file():
        candidates.append(here.parent / "studies")
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    raise InputError(
        f"no studies folder found (looked in {here.parent / 'studies'} and "
        f"{here / '_specs' / 'studies'}); the installation is incomplete"
    )


def available_studies() -> list[str]:
    """Names of the shipped studies.

    Examples
    --------
    >>> available_studies()
    ['rsw2017']
    """
    return sorted(p.stem for p in studies_dir().glob("*.toml"))


def load_study(study: str | Path | Study | None = None) -> Study:
    """Load a study by name (``rsw2017``) or from a TOML file.

    Parameters
    ----------
    study : str, Path, Study or None
        A shipped name, a path to a ``.toml`` file, or a study (returned as is). ``None`` is
        the default study, ``rsw2017``.

    Returns
    -------
    Study

    Raises
    ------
    InputError
        Unknown name, missing or unreadable file, or a problem in the file (naming the key).

    Examples
    --------
    >>> s = load_study()
    >>> s.name, s.roles[:2], s.scale_max, s.domain_names[0]
    ('rsw2017', ('observation', 'worker'), 5, 'collaboration')
    >>> load_study("nonesuch")
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: unknown study 'nonesuch': allowed names are rsw2017, or a path to a .toml file
    """
    if isinstance(study, Study):
        return study
    if study is None:
        study = DEFAULT_STUDY
    if not isinstance(study, str | Path):
        raise InputError(
            f"study must be a name or a path to a .toml file, got {type(study).__name__}"
        )
    raw = str(study)
    path = Path(raw).expanduser()
    looks_like_path = isinstance(study, Path) or raw.endswith(".toml") or "/" in raw or "\\" in raw
    if not looks_like_path:
        shipped = studies_dir() / f"{raw}.toml"
        if shipped.is_file():
            return _cached(str(shipped))
        if not path.is_file():
            raise InputError(
                f"unknown study {raw!r}: allowed names are {', '.join(available_studies())}, "
                "or a path to a .toml file"
            )
    if not path.is_file():
        raise InputError(f"study file {raw!r} does not exist (or is not a file)")
    try:  # utf-8-sig: a file saved with a byte-order mark (Notepad, Excel) reads as written
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"study file {raw!r} cannot be read: {exc}") from None
    return study_from_text(text, str(path))


_SHIPPED: dict[str, Study] = {}


def _from_text(text: str, source: str) -> Study:
    """A study from its text (how a study unpickles); the shipped one when it is that."""
    path = Path(source)
    if path.parent == studies_dir() and path.is_file() and path.read_text(
            encoding="utf-8-sig") == text:
        return _cached(str(path))
    return study_from_text(text, source)


def _cached(path: str) -> Study:
    if path not in _SHIPPED:
        _SHIPPED[path] = study_from_text(Path(path).read_text(encoding="utf-8-sig"), path)
    return _SHIPPED[path]


# --------------------------------------------------------------------------------------------
# parsing a study file
# --------------------------------------------------------------------------------------------
_TOP = {"name": str, "description": str, "ids": dict, "scale": dict, "overall": dict,
        "wave": str, "factors": dict, "derived": dict, "models": dict, "unused_columns": list,
        "contrasts": list}
_ROLE_KEYS = {"column": str, "label": str, "synonyms": list, "description": str}
_SCALE_KEYS = {"min": int, "max": int, "domains": list, "coded": list, "groups": dict}
_DOMAIN_KEYS = {"name": str, "column": str, "label": str, "synonyms": list}
_OVERALL_KEYS = {"name": str, "column": str, "label": str, "description": str,
                 "tolerance": float, "synonyms": list}
_FACTOR_KEYS = {
    "kind": str, "column": str, "levels": list, "reference": str, "at": str, "required": bool,
    "label": str, "description": str, "missing": str, "labels": dict, "plot_labels": dict,
    "contrast_labels": dict, "contrast_prefix": str, "synonyms": dict, "column_synonyms": list,
    "versus_rest": list,
    "centre": (float, str), "scale": float, "min": float, "max": float, "unit": str,
    "constant_within": str,
}
_NUMERIC_ONLY = ("centre", "scale", "min", "max", "unit")
_DERIVED_KEYS = {"when_any": list, "at": str, "label": str, "description": str}
_CONDITION_KEYS = {"factor": str, "levels": list, "over": str}
_MODELS_KEYS = {"terms": list}
_CONTRAST_KEYS = {"key": str, "label": str, "what": str, "a": dict, "b": dict, "optional": list,
                  "note": str, "note_without": str, "note_not_in_outcome": str}

_TYPE_WORDS = {str: "a string", list: "a list", dict: "a table", bool: "true/false",
               float: "a number", int: "a whole number"}


class _File:
    """Error messages that name the file and the key."""

    def __init__(self, source: str):
        self.source = source

    def error(self, key: str | None, problem: str) -> InputError:
        where = f"{self.source}: key '{key}'" if key else self.source
        return InputError(f"{where}: {problem}")

    def check_type(self, key: str, value: Any, expected: type | tuple) -> None:
        types = expected if isinstance(expected, tuple) else (expected,)
        ok = any(
            (isinstance(value, t) and not (t in (int, float) and isinstance(value, bool)))
            or (t is float and isinstance(value, int) and not isinstance(value, bool))
            for t in types
        )
        if not ok:
            names = " or ".join(_TYPE_WORDS[t] for t in types)
            raise self.error(key, f"must be {names}, got {value!r}")

    def table(self, key: str, raw: Any, allowed: Mapping[str, Any],
              required: Sequence[str] = ()) -> dict:
        """Check a table's keys and the types of their values."""
        self.check_type(key, raw, dict)
        prefix = f"{key}." if key else ""
        extra = [k for k in raw if k not in allowed]
        if extra:
            raise self.error(f"{prefix}{extra[0]}", f"unknown key; allowed keys are "
                             f"{', '.join(allowed)}")
        for k in required:
            if k not in raw:
                raise self.error(f"{prefix}{k}", "missing (required)")
        for k, v in raw.items():
            self.check_type(f"{prefix}{k}", v, allowed[k])
        return raw

    def strings(self, key: str, values: list, *, allow_empty: bool = True) -> tuple[str, ...]:
        for i, v in enumerate(values):
            if not isinstance(v, str) or (not allow_empty and not v.strip()):
                raise self.error(f"{key}[{i}]", f"must be a non-empty string, got {v!r}")
        return tuple(values)


def study_from_text(text: str, source: str = "<string>") -> Study:
    """Parse and check a study from TOML text.

    Parameters
    ----------
    text : str
        The TOML text.
    source : str
        Where it came from, used in error messages.

    Returns
    -------
    Study

    Raises
    ------
    InputError
        Naming the source, the key and the problem.

    Examples
    --------
    >>> s = study_from_text('''
    ... name = "future"
    ... [ids]
    ... observation = "Observation ID"
    ... worker = "Worker ID"
    ... unit = "Team"
    ... [scale]
    ... min = 1
    ... max = 7
    ... domains = ["Empathy", "Use of Authority"]
    ... [factors.wave]
    ... kind = "categorical"
    ... levels = ["baseline", "follow-up"]
    ... ''')
    >>> s.roles, s.domain_names, s.factors["wave"].levels
    (('observation', 'worker', 'unit'), ('empathy', 'use_of_authority'), ('baseline', 'follow_up'))
    >>> study_from_text(s.text.replace('kind = "categorical"', 'kind = "nominal"'), "bad.toml")
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: bad.toml: key 'factors.wave.kind': must be one of categorical, ordered, binary, numeric, got 'nominal'
    """
    f = _File(source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise f.error(None, f"TOML syntax error: {exc}") from None
    f.table("", raw, _TOP, required=("name", "ids", "scale"))
    name = raw["name"]
    if not _IDENT.fullmatch(name):
        raise f.error("name", f"must be an identifier (letters, digits, _), got {name!r}")

    ids = _parse_ids(f, raw["ids"])
    scale = f.table("scale", raw["scale"], _SCALE_KEYS, required=("min", "max", "domains"))
    lo, hi = scale["min"], scale["max"]
    if hi <= lo:
        raise f.error("scale.max", f"must be greater than scale.min ({lo}), got {hi}")
    if hi - lo > 20:
        raise f.error("scale.max", f"a rating scale of more than 21 points ({lo}-{hi}) is not "
                      "an ordinal rating; give the factor as numeric instead")
    domains = _parse_domains(f, "scale.domains", scale["domains"], analysed=True)
    if not domains:
        raise f.error("scale.domains", "needs at least one domain")
    coded = _parse_domains(f, "scale.coded", scale.get("coded", []), analysed=False)
    by_name: dict[str, Domain] = {}
    for d in (*domains, *coded):
        if d.name in by_name:
            raise f.error("scale", f"domain {d.name!r} is given twice")
        by_name[d.name] = d
    groups: dict[str, tuple[str, ...]] = {}
    for gname, members in scale.get("groups", {}).items():
        key = f"scale.groups.{gname}"
        f.check_type(key, members, list)
        names = []
        for i, m in enumerate(f.strings(key, members, allow_empty=False)):
            dn = m if m in by_name else identifier(m)
            if dn not in by_name or not by_name[dn].analysed:
                raise f.error(f"{key}[{i}]", f"unknown domain {m!r}; the analysed domains are "
                              f"{', '.join(d.name for d in domains)}")
            names.append(dn)
        groups[gname] = tuple(names)

    overall = _parse_overall(f, raw.get("overall", {}))
    factors: dict[str, Factor] = {}
    for fname, table in raw.get("factors", {}).items():
        factors[fname] = _parse_factor(f, fname, table)
    for fname, fac in factors.items():
        if fac.constant_within is not None and fac.constant_within not in [r.role for r in ids][1:]:
            raise f.error(f"factors.{fname}.constant_within", "must be a role above the "
                          f"observation ({', '.join(r.role for r in ids[1:])}), got "
                          f"{fac.constant_within!r}")
    derived: dict[str, Derived] = {}
    for dname, table in raw.get("derived", {}).items():
        derived[dname] = _parse_derived(f, dname, table, factors, ids)

    # one canonical name, one column
    seen: dict[str, str] = {}
    for what, nm in [*[("id role", r.role) for r in ids], *[("factor", n) for n in factors],
                     *[("derived indicator", n) for n in derived],
                     *[("domain", d.name) for d in (*domains, *coded)],
                     ("overall score", overall.name)]:
        if nm in seen:
            raise f.error(None, f"the name {nm!r} is used twice (as {seen[nm]} and as {what})")
        seen[nm] = what
    study = Study(
        name=name,
        description=" ".join(raw.get("description", "").split()),
        ids=ids, scale_min=int(lo), scale_max=int(hi), domains=domains, coded=coded,
        domain_groups=MappingProxyType(groups), overall=overall,
        factors=MappingProxyType(factors), derived=MappingProxyType(derived),
        unused_columns=f.strings("unused_columns", raw.get("unused_columns", [])),
        text=text, source=source,
    )
    _check_headers(f, study)
    wave = raw.get("wave")
    if wave is not None:
        if wave not in factors:
            raise f.error("wave", f"must name a factor of the study ({', '.join(factors) or 'none'}), "
                          f"got {wave!r}")
        if factors[wave].kind not in ("categorical", "ordered"):
            raise f.error("wave", f"the wave factor {wave!r} must be categorical or ordered, "
                          f"got {factors[wave].kind}")
    terms = None
    if "models" in raw:
        models = f.table("models", raw["models"], _MODELS_KEYS, required=("terms",))
        terms = _parse_terms(f, "models.terms", models["terms"], factors, derived)
    contrasts = _parse_contrasts(f, raw.get("contrasts", []), factors, derived)
    return Study(**{**study.__dict__, "wave": wave, "model_terms": terms,
                    "contrasts": contrasts})


def _parse_contrasts(f: _File, raw: list, factors: Mapping[str, Factor],
                     derived: Mapping[str, Derived]) -> tuple[StudyContrast, ...]:
    out: list[StudyContrast] = []
    for i, c in enumerate(raw):
        key = f"contrasts[{i}]"
        f.table(key, c, _CONTRAST_KEYS, required=("key", "label", "a", "b"))
        if not _IDENT.fullmatch(c["key"]):
            raise f.error(f"{key}.key", f"must be an identifier, got {c['key']!r}")
        if c["key"] in [o.key for o in out]:
            raise f.error(f"{key}.key", f"{c['key']!r} is given twice")
        sides = []
        for side in ("a", "b"):
            setting = {}
            for col, v in c[side].items():
                k = f"{key}.{side}.{col}"
                if col in derived:
                    if v not in (0, 1) or isinstance(v, bool):
                        raise f.error(k, f"a derived indicator is 0 or 1, got {v!r}")
                    setting[col] = int(v)
                    continue
                if col not in factors:
                    raise f.error(k, f"unknown column; the factors are {', '.join(factors)}"
                                  + (f" and derived {', '.join(derived)}" if derived else ""))
                fac = factors[col]
                got, rule = fac.parse(v) if fac.kind != "numeric" else (
                    (float(v), None) if isinstance(v, int | float) and not isinstance(v, bool)
                    else (None, "must be a number"))
                if got is None:
                    raise f.error(k, f"{v!r}: {rule or 'missing'}")
                setting[col] = got
            if not setting:
                raise f.error(f"{key}.{side}", "sets nothing")
            sides.append(setting)
        if set(sides[0]) != set(sides[1]):
            raise f.error(key, f"a and b must set the same columns, got {sorted(sides[0])} and "
                          f"{sorted(sides[1])}")
        optional = f.strings(f"{key}.optional", c.get("optional", []))
        for j, o in enumerate(optional):
            if o not in sides[0]:
                raise f.error(f"{key}.optional[{j}]", f"{o!r} is not set by a and b")
        out.append(StudyContrast(
            key=c["key"], label=c["label"], a=MappingProxyType(sides[0]),
            b=MappingProxyType(sides[1]), what=c.get("what", f"the contrast {c['key']}"),
            optional=optional, note=c.get("note", ""), note_without=c.get("note_without", ""),
            note_not_in_outcome=c.get("note_not_in_outcome", "")))
    return tuple(out)


def _parse_ids(f: _File, raw: Any) -> tuple[IdRole, ...]:
    f.table("ids", raw, dict.fromkeys(ROLES, (str, dict)), required=("observation", "worker"))
    order = [r for r in raw]
    expected = [r for r in ROLES if r in raw]
    if order != expected:
        raise f.error("ids", f"roles must be listed innermost first ({', '.join(expected)}), "
                      f"got {', '.join(order)}")
    if "authority" in raw and "unit" not in raw:
        raise f.error("ids.authority", "needs 'unit' (an authority holds units)")
    out = []
    for role, value in raw.items():
        key = f"ids.{role}"
        if isinstance(value, str):
            value = {"column": value}
        f.table(key, value, _ROLE_KEYS)
        column = value.get("column", role)
        if not column.strip():
            raise f.error(f"{key}.column" if "column" in value else key, "must not be empty")
        syn = f.strings(f"{key}.synonyms", value.get("synonyms", []), allow_empty=False)
        out.append(IdRole(role, column, value.get("label", role), syn,
                          " ".join(value.get("description", "").split())))
    return tuple(out)


def _parse_domains(f: _File, key: str, raw: list, analysed: bool) -> tuple[Domain, ...]:
    out = []
    for i, item in enumerate(raw):
        k = f"{key}[{i}]"
        if isinstance(item, str):
            item = {"column": item}
        if not isinstance(item, dict):
            raise f.error(k, f"must be a domain name or a table {{name, column, label}}, got "
                          f"{item!r}")
        f.table(k, item, _DOMAIN_KEYS)
        if "column" not in item and "name" not in item:
            raise f.error(k, "needs 'name' or 'column'")
        column = item.get("column", item.get("name"))
        name = item.get("name") or identifier(column)
        if not name or not _IDENT.fullmatch(name) or name != name.lower():
            raise f.error(f"{k}.name" if "name" in item else k,
                          f"a domain name must be a lower-case identifier; got {name!r} "
                          f"(from {column!r})")
        if name in _RESERVED:
            raise f.error(k, f"{name!r} is reserved (a name with its own meaning in models)")
        label = item.get("label", column)
        out.append(Domain(name, column, label,
                          f.strings(f"{k}.synonyms", item.get("synonyms", []), allow_empty=False),
                          analysed))
    return tuple(out)


def _parse_overall(f: _File, raw: Any) -> Overall:
    f.table("overall", raw, _OVERALL_KEYS)
    name = raw.get("name", "skill")
    if not _IDENT.fullmatch(name):
        raise f.error("overall.name", f"must be an identifier, got {name!r}")
    tol = float(raw.get("tolerance", 0.0051))
    if not math.isfinite(tol) or tol < 0:
        raise f.error("overall.tolerance", f"must be a number >= 0, got {raw['tolerance']!r}")
    return Overall(
        name=name, column=raw.get("column", name), label=raw.get("label", name),
        description=" ".join(raw.get("description",
                                     "mean of the available analysed domain scores").split()),
        tolerance=tol,
        synonyms=f.strings("overall.synonyms", raw.get("synonyms", []), allow_empty=False),
    )


def _level_map(f: _File, key: str, raw: dict, levels: tuple[str, ...],
               written: Mapping[str, str]) -> dict[str, Any]:
    """Check a table keyed by level (levels may be written as in the file, e.g. "follow-up")."""
    out = {}
    for k, v in raw.items():
        level = written.get(k, written.get(identifier(k)))
        if level is None:
            raise f.error(f"{key}.{k}", f"unknown level; the levels are {', '.join(levels)}")
        if level in out:
            raise f.error(f"{key}.{k}", f"level {level!r} is given twice")
        out[level] = v
    return out


def _parse_factor(f: _File, name: str, raw: Any) -> Factor:
    key = f"factors.{name}"
    if not _IDENT.fullmatch(name):
        raise f.error(key, "a factor name must be an identifier (letters, digits, _ and not "
                      "starting with a digit)")
    if name in _RESERVED or name in ROLES:
        raise f.error(key, f"{name!r} is reserved (a role or a name with its own meaning in "
                      "models)")
    f.table(key, raw, _FACTOR_KEYS, required=("kind",))
    kind = raw["kind"]
    if kind not in KINDS:
        raise f.error(f"{key}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    at = raw.get("at", "row")
    if at not in LEVELS_AT:
        raise f.error(f"{key}.at", f"must be one of {', '.join(LEVELS_AT)}, got {at!r}")
    if kind != "numeric":
        for k in _NUMERIC_ONLY:
            if k in raw:
                raise f.error(f"{key}.{k}", f"is for numeric factors only; {name!r} is {kind}")
    written: dict[str, str] = {}
    if kind in ("categorical", "ordered"):
        if "levels" not in raw:
            raise f.error(f"{key}.levels", f"missing (a {kind} factor needs its levels, in "
                          "order)")
        given = f.strings(f"{key}.levels", raw["levels"], allow_empty=False)
        if len(given) < 2:
            raise f.error(f"{key}.levels", f"needs at least 2 levels, got {list(given)}")
        levels = []
        for i, g in enumerate(given):
            lv = identifier(g)
            if not _LEVEL_NAME.fullmatch(lv or "-"):
                raise f.error(f"{key}.levels[{i}]", f"{g!r} has no letters or digits")
            if lv in levels:
                raise f.error(f"{key}.levels[{i}]", f"level {g!r} is given twice (as {lv!r})")
            levels.append(lv)
            written[g] = lv
            written[lv] = lv
        levels_t = tuple(levels)
        auto_labels = {lv: g for g, lv in zip(given, levels, strict=True) if g != lv}
    elif kind == "binary":
        if "levels" in raw:
            raise f.error(f"{key}.levels", "a binary factor's levels are 0 and 1; give their "
                          "words in 'labels'")
        levels_t = ("0", "1")
        written = {"0": "0", "1": "1"}
        auto_labels = {}
    else:
        if "levels" in raw:
            raise f.error(f"{key}.levels", "a numeric factor has no levels")
        levels_t = ()
        auto_labels = {}
    reference = None
    if levels_t:
        ref_raw = raw.get("reference", levels_t[0] if kind != "binary" else "0")
        reference = written.get(ref_raw, written.get(identifier(ref_raw)))
        if reference is None:
            raise f.error(f"{key}.reference", f"must be one of the levels "
                          f"({', '.join(levels_t)}), got {ref_raw!r}")
    elif "reference" in raw:
        raise f.error(f"{key}.reference", "a numeric factor has no reference level")
    tables: dict[str, dict[str, str]] = {}
    for t in ("labels", "plot_labels", "contrast_labels"):
        m = _level_map(f, f"{key}.{t}", raw.get(t, {}), levels_t, written)
        for lv, v in m.items():
            f.check_type(f"{key}.{t}.{lv}", v, str)
        tables[t] = m
    if kind == "binary":
        auto_labels = {"0": "no", "1": "yes"}
    labels = {**auto_labels, **tables["labels"]}
    synonyms = _level_map(f, f"{key}.synonyms", raw.get("synonyms", {}), levels_t, written)
    spellings: dict[str, str] = {}

    def claim(spelling: str, level: str, what: str) -> None:
        k = normalise(spelling)
        if not k:
            return
        if k in spellings and spellings[k] != level:
            raise f.error(f"{key}.{what}", f"the spelling {spelling!r} stands for both "
                          f"{spellings[k]!r} and {level!r}")
        spellings[k] = level

    if kind == "binary":
        for word, v in _BINARY_WORDS.items():
            spellings[word] = str(v)
    for g, lv in written.items():
        claim(g, lv, "levels")
    for t in ("labels", "plot_labels"):
        src = labels if t == "labels" else tables[t]
        for lv, words in src.items():
            claim(words, lv, t)
    for lv, words in synonyms.items():
        f.check_type(f"{key}.synonyms.{lv}", words, list)
        for s in f.strings(f"{key}.synonyms.{lv}", words, allow_empty=False):
            claim(s, lv, f"synonyms.{lv}")
    versus = []
    for i, v in enumerate(f.strings(f"{key}.versus_rest", raw.get("versus_rest", []))):
        lv = written.get(v, written.get(identifier(v)))
        if lv is None:
            raise f.error(f"{key}.versus_rest[{i}]", f"unknown level {v!r}; the levels are "
                          f"{', '.join(levels_t)}")
        versus.append(lv)
    centre: float | str | None = None
    scale = 1.0
    lo = hi = None
    if kind == "numeric":
        centre = raw.get("centre", "mean")
        if isinstance(centre, str):
            if centre != "mean":
                raise f.error(f"{key}.centre", f"must be a number or \"mean\", got {centre!r}")
        elif not math.isfinite(centre):
            raise f.error(f"{key}.centre", f"must be finite, got {centre!r}")
        else:
            centre = float(centre)
        scale = float(raw.get("scale", 1.0))
        if not math.isfinite(scale) or scale <= 0:
            raise f.error(f"{key}.scale", f"must be a positive number, got {raw['scale']!r}")
        lo = float(raw["min"]) if "min" in raw else None
        hi = float(raw["max"]) if "max" in raw else None
        if lo is not None and hi is not None and hi <= lo:
            raise f.error(f"{key}.max", f"must be greater than min ({_fmt(lo)}), got {_fmt(hi)}")
    return Factor(
        name=name, column=raw.get("column", name), kind=kind, levels=levels_t,
        reference=reference, at=at, required=raw.get("required", False),
        label=raw.get("label", name), description=" ".join(raw.get("description", "").split()),
        missing=raw.get("missing", "missing"),
        labels=MappingProxyType(labels), plot_labels=MappingProxyType(tables["plot_labels"]),
        contrast_labels=MappingProxyType(tables["contrast_labels"]),
        contrast_prefix=raw.get("contrast_prefix", raw.get("label", name)),
        spellings=MappingProxyType(spellings),
        column_synonyms=f.strings(f"{key}.column_synonyms", raw.get("column_synonyms", []),
                                  allow_empty=False),
        versus_rest=tuple(versus), centre=centre, scale=scale, min=lo, max=hi,
        unit=raw.get("unit", ""), constant_within=raw.get("constant_within"),
    )


def _parse_derived(f: _File, name: str, raw: Any, factors: Mapping[str, Factor],
                   ids: tuple[IdRole, ...]) -> Derived:
    key = f"derived.{name}"
    if not _IDENT.fullmatch(name) or name in _RESERVED:
        raise f.error(key, "a derived indicator's name must be an identifier and not reserved")
    if name in factors:
        raise f.error(key, f"{name!r} is also a factor")
    f.table(key, raw, _DERIVED_KEYS, required=("when_any",))
    at = raw.get("at", "row")
    if at not in LEVELS_AT:
        raise f.error(f"{key}.at", f"must be one of {', '.join(LEVELS_AT)}, got {at!r}")
    roles = [r.role for r in ids]
    conds = []
    if not raw["when_any"]:
        raise f.error(f"{key}.when_any", "needs at least one condition")
    for i, c in enumerate(raw["when_any"]):
        k = f"{key}.when_any[{i}]"
        f.table(k, c, _CONDITION_KEYS, required=("factor", "levels"))
        fac = factors.get(c["factor"])
        if fac is None:
            raise f.error(f"{k}.factor", f"unknown factor {c['factor']!r}; the factors are "
                          f"{', '.join(factors) or 'none'}")
        if fac.kind == "numeric":
            raise f.error(f"{k}.factor", f"{fac.name!r} is numeric; a condition needs levels")
        levels = []
        for j, lv in enumerate(c["levels"]):
            got, rule = fac.parse(lv)
            if got is None:
                raise f.error(f"{k}.levels[{j}]", f"{lv!r} is not a level of {fac.name!r} "
                              f"({', '.join(fac.levels)})")
            levels.append(got)
        over = c.get("over", "row")
        if over != "row" and over not in roles[1:]:
            raise f.error(f"{k}.over", f"must be 'row' or a role above the observation "
                          f"({', '.join(roles[1:])}), got {over!r}")
        conds.append(Condition(fac.name, tuple(levels), over))
    return Derived(name, tuple(conds), at, raw.get("label", name),
                   " ".join(raw.get("description", "").split()))


def _check_headers(f: _File, study: Study) -> None:
    """No header may stand for two canonical columns."""
    claimed: dict[str, str] = {}
    for canon, headers in study.headers().items():
        for h in headers:
            k = normalise(h)
            if not k:
                raise f.error(None, f"column {h!r} (for {canon!r}) has no letters or digits")
            if k in claimed and claimed[k] != canon:
                raise f.error(None, f"the header {h!r} would stand for both {claimed[k]!r} and "
                              f"{canon!r}; give them different columns")
            claimed[k] = canon
    for i, h in enumerate(study.unused_columns):
        if normalise(h) in claimed:
            raise f.error(f"unused_columns[{i}]", f"{h!r} is a column of the study "
                          f"({claimed[normalise(h)]!r})")


def _term_column(term: str) -> tuple[str, bool]:
    t = term.strip()
    if t.startswith("mo(") and t.endswith(")"):
        return t[3:-1].strip(), True
    return t, False


def _parse_terms(f: _File, key: str, raw: list, factors: Mapping[str, Factor],
                 derived: Mapping[str, Derived]) -> tuple[str, ...]:
    out: list[str] = []
    cols: list[str] = []
    for i, term in enumerate(raw):
        if not isinstance(term, str):
            raise f.error(f"{key}[{i}]", f"must be a string, got {term!r}")
        col, mo = _term_column(term)
        if col in derived:
            if mo:
                raise f.error(f"{key}[{i}]", f"mo() needs an ordered factor; {col!r} is a "
                              "derived 0/1 indicator")
        elif col not in factors:
            raise f.error(f"{key}[{i}]", f"unknown term {term!r}; allowed are the study's "
                          f"factors ({', '.join(factors) or 'none'}), derived indicators "
                          f"({', '.join(derived) or 'none'}) and mo(<ordered factor>)")
        elif mo and factors[col].kind != "ordered":
            raise f.error(f"{key}[{i}]", f"mo() needs an ordered factor; {col!r} is "
                          f"{factors[col].kind}")
        if col in cols:
            raise f.error(f"{key}[{i}]", f"{col!r} appears twice")
        cols.append(col)
        out.append(f"mo({col})" if mo else col)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# columns of a data set against a study
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnMap:
    """How a data set's headers stand for a study's columns.

    Attributes
    ----------
    found : mapping
        Canonical column -> position of its header in the data.
    status : list of tuple
        ``(header, status, canonical)`` for every header in order: ``used`` (the header is the
        canonical name), ``mapped`` (renamed to ``canonical``), ``unused`` (kept as it is;
        ``canonical`` empty) or ``ignored`` (named in the study's ``unused_columns``).
    absent : tuple of str
        Canonical columns the data lack.
    problems : list of Problem
        Duplicate headers, two headers for one column, and headers close to an absent column
        that are not mapped to it.
    """

    found: Mapping[str, int]
    status: tuple[tuple[str, str, str], ...]
    absent: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def renamed(self) -> dict[str, str]:
        """Header -> canonical column, for the headers that were renamed."""
        return {h: c for h, s, c in self.status if s == "mapped"}

    @property
    def unused(self) -> list[str]:
        """Headers kept as they are (not a column of the study)."""
        return [h for h, s, _ in self.status if s in ("unused", "ignored")]

    def frame(self) -> pd.DataFrame:
        """The status table: ``column`` (header), ``status``, ``as`` (canonical column)."""
        return pd.DataFrame(list(self.status), columns=["column", "status", "as"])


def _close(header: str, candidates: Iterable[str]) -> bool:
    """Whether a header looks like one of a column's names."""
    hk, hw = normalise(header), set(_words(header))
    for c in candidates:
        ck, cw = normalise(c), set(_words(c))
        if not ck or not hk:
            continue
        if cw and cw <= hw:
            return True
        if len(ck) >= 4 and len(hk) >= 4 and (ck in hk or hk in ck):
            return True
        if difflib.SequenceMatcher(None, hk, ck).ratio() >= 0.8:
            return True
    return False


def map_columns(study: Study, headers: Sequence[Any]) -> ColumnMap:
    """Match a data set's headers to a study's columns.

    A header stands for a column when it equals, after :func:`header_key`, the column's header
    in the study, one of its synonyms or its canonical name. A header that stands for nothing
    but looks like a column the data lack (the column's words are among the header's, one
    contains the other, or they differ in a letter or two) is a problem naming both: a
    silently unused column would leave that factor missing on every row.

    Parameters
    ----------
    study : Study
    headers : sequence
        The data's column headers, in order.

    Returns
    -------
    ColumnMap

    Examples
    --------
    >>> m = map_columns(load_study(), ["Observation ID", "worker", "Team", "authority",
    ...                                "training", "Case Discussion", "notes"])
    >>> m.renamed
    {'Observation ID': 'observation', 'Team': 'unit'}
    >>> print(m.problems[0])
    column 'Case Discussion': column 'Case Discussion' is not a column of study 'rsw2017' but looks like 'discussion' (factor 'discussion', quality of case discussion), which the data lack: rename it to 'discussion', add it to the study's column_synonyms of 'discussion', or list it in unused_columns
    >>> m.unused
    ['Case Discussion', 'notes']
    """
    lookup: dict[str, str] = {}
    for canon, hs in study.headers().items():
        for h in hs:
            lookup[header_key(h)] = canon
    ignored = {header_key(h) for h in study.unused_columns}
    found: dict[str, int] = {}
    status: list[tuple[str, str, str]] = []
    problems: list[Problem] = []
    names: set[str] = set()
    unmapped: list[tuple[int, str]] = []
    for pos, h in enumerate(headers):
        hs = str(h)
        canon = lookup.get(header_key(hs))
        if hs in names:
            problems.append(Problem(None, hs, None, (
                f"column name {hs!r} appears more than once; column names must be unique")))
            status.append((hs, "unused", ""))
            continue
        names.add(hs)
        if canon is None:
            kind = "ignored" if header_key(hs) in ignored else "unused"
            status.append((hs, kind, ""))
            if kind == "unused":
                unmapped.append((pos, hs))
        elif canon in found:
            first = str(headers[found[canon]])
            problems.append(Problem(None, hs, None, (
                f"columns {first!r} and {hs!r} both stand for '{canon}'; keep one")))
            status.append((hs, "unused", ""))
        else:
            found[canon] = pos
            status.append((hs, "used" if hs == canon else "mapped", canon))
    absent = tuple(c for c in study.columns if c not in found)
    all_headers = study.headers()
    for _pos, hs in unmapped:
        close = [c for c in absent if _close(hs, (c, *all_headers[c]))]
        if close:
            c = close[0]
            what = _describe(study, c)
            key = "column_synonyms" if c in study.factors else "synonyms"
            problems.append(Problem(None, hs, None, (
                f"column {hs!r} is not a column of study {study.name!r} but looks like "
                f"'{study.data_column(c)}' ({what}), which the data lack: rename it to "
                f"'{study.data_column(c)}', add it to the study's {key} of {c!r}, or list it "
                "in unused_columns")))
    return ColumnMap(MappingProxyType(found), tuple(status), absent, tuple(problems))


def _describe(study: Study, canon: str) -> str:
    kind = study.kind_of(canon)
    if kind == "id":
        return f"the {canon} id"
    if kind == "score":
        return f"domain '{canon}'"
    if kind == "overall":
        return "the overall score"
    return f"factor '{canon}', {study.label_of(canon)}"


def level_problems(study: Study, frame: pd.DataFrame,
                   rows: Sequence[int] | None = None) -> list[Problem]:
    """Factors declared at worker or unit level that differ within a worker or unit.

    With a wave factor, a factor only has to be constant within a worker (unit) at one wave.

    Parameters
    ----------
    study : Study
    frame : pandas.DataFrame
        A canonical frame (columns by their canonical names).
    rows : sequence of int, optional
        The row number of each row as the user counts them (default 1, 2, ...).

    Returns
    -------
    list of Problem
        One per factor and group where it differs, naming the rows and values.

    Examples
    --------
    >>> s = study_from_text('''
    ... name = "x"
    ... [ids]
    ... observation = "o"
    ... worker = "w"
    ... unit = "u"
    ... [scale]
    ... min = 1
    ... max = 7
    ... domains = ["a"]
    ... [factors.sup]
    ... kind = "binary"
    ... at = "unit"
    ... ''')
    >>> df = pd.DataFrame({"o": [1, 2, 3], "w": [1, 2, 3], "u": ["T1", "T1", "T2"],
    ...                    "sup": [1, 0, 1]})
    >>> print(level_problems(s, df.rename(columns={"o": "observation", "w": "worker", "u": "unit"}))[0])
    row 2, column 'sup': value 0: factor 'sup' is declared at unit level (one value per unit) but differs within unit 'T1': 1 (row 1), 0 (row 2)
    """
    rows_arr = np.arange(1, len(frame) + 1) if rows is None else np.asarray(rows)
    out: list[Problem] = []
    for fac in study.factors.values():
        if fac.at == "row" or fac.at not in frame.columns or fac.name not in frame.columns:
            continue
        keys = [frame[fac.at].astype(object).to_numpy()]
        if study.wave and study.wave != fac.name and study.wave in frame.columns:
            keys.append(frame[study.wave].astype(object).to_numpy())
        vals = frame[fac.name].astype(object)
        ok = vals.notna().to_numpy()
        sub = pd.DataFrame({"v": vals.to_numpy()[ok], "r": rows_arr[ok],
                            **{f"k{i}": k[ok] for i, k in enumerate(keys)}})
        kcols = [c for c in sub.columns if c.startswith("k")]
        for key, grp in sub.groupby(kcols, sort=False):
            distinct = list(dict.fromkeys(grp["v"]))
            if len(distinct) < 2:
                continue
            first_rows = {v: int(grp.loc[grp["v"] == v, "r"].iloc[0]) for v in distinct}
            where = ", ".join(f"{_plain(v)} (row {r})" for v, r in first_rows.items())
            gid = key[0] if isinstance(key, tuple) else key
            wave = (f" at {study.wave} {key[1]!r}" if isinstance(key, tuple) and len(key) > 1
                    else "")
            second = distinct[1]
            out.append(Problem(first_rows[second], fac.column, _plain(second), (
                f"factor '{fac.name}' is declared at {fac.at} level (one value per {fac.at}"
                f"{' and wave' if wave else ''}) but differs within {fac.at} {str(gid)!r}"
                f"{wave}: {where}")))
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


# --------------------------------------------------------------------------------------------
# check_study
# --------------------------------------------------------------------------------------------
def check_study(study: str | Path | Study | None = None,
                data: pd.DataFrame | None = None) -> pd.DataFrame:
    """What a study says, and with data, how the data's columns and values fit it.

    Loading a study checks the file itself (every problem an :class:`InputError` naming the
    file, key and problem). This table is for reading the result: one row per column of the
    study, and with ``data`` one row per column of the data, each ``used``, ``mapped`` or
    ``unused``, with the levels seen and the problems found. Validating the data is
    :func:`pyramid.validate` with ``study=``; this function never raises for data problems,
    it lists them.

    Parameters
    ----------
    study : str, Path or Study, optional
        Default ``rsw2017``.
    data : pandas.DataFrame, optional
        Raw data (as read).

    Returns
    -------
    pandas.DataFrame
        Columns ``column`` (the canonical name, or the data's header for an unused column),
        ``what`` (``id``, the factor's kind, ``domain``, ``coded domain``, ``overall``,
        ``derived``), ``data_column`` (the header in the data; empty when absent),
        ``status`` (without data: ``expected``; with data: ``used``, ``mapped``,
        ``unused``, ``ignored`` or ``absent``), ``detail`` (levels, scale, level measured
        at, or what was seen) and ``problem`` (empty when none).

    Examples
    --------
    >>> t = check_study("rsw2017")
    >>> t.loc[t["column"] == "training", "detail"].item()
    'ordered: none < other < mla < programme; reference none; at row; required'
    """
    study = load_study(study)
    rows: list[dict[str, str]] = []
    cmap = map_columns(study, list(data.columns)) if data is not None else None
    problems_by: dict[str, list[str]] = {}
    if cmap is not None:
        for p in cmap.problems:
            problems_by.setdefault(p.column or "", []).append(p.rule)
    for canon in study.columns:
        kind = study.kind_of(canon)
        what = kind
        if kind == "score":
            what = "domain" if study.domain(canon).analysed else "coded domain"
        detail = _detail(study, canon)
        status, header, problem = "expected", study.data_column(canon), ""
        if cmap is not None:
            if canon in cmap.found:
                header = str(data.columns[cmap.found[canon]])
                status = "used" if header == canon else "mapped"
                seen, bad = _seen(study, canon, data.iloc[:, cmap.found[canon]])
                detail = f"{detail}; seen: {seen}" if seen else detail
                problem = bad
            else:
                status, header = "absent", ""
                if canon in study.required_columns():
                    problem = "required column missing"
        rows.append({"column": canon, "what": what, "data_column": header, "status": status,
                     "detail": detail, "problem": problem})
    for name, d in study.derived.items():
        conds = "; ".join(f"{c.factor} in {'|'.join(map(str, c.levels))}"
                          + (f" (any row of the {c.over})" if c.over != "row" else "")
                          for c in d.when_any)
        rows.append({"column": name, "what": "derived", "data_column": "",
                     "status": "derived" if cmap is None else
                     ("used" if name in (data.columns if data is not None else []) else "derived"),
                     "detail": f"1 when any of: {conds}", "problem": ""})
    if cmap is not None:
        for h, s, _ in cmap.status:
            if s in ("unused", "ignored"):
                rows.append({"column": h, "what": "", "data_column": h, "status": s,
                             "detail": "kept as it is, not used by the study",
                             "problem": "; ".join(problems_by.get(h, []))})
        canonical = _canonical_for_levels(study, data, cmap)
        for p in level_problems(study, canonical):
            for r in rows:
                if r["data_column"] == p.column:
                    r["problem"] = "; ".join(x for x in (r["problem"], p.rule) if x)
                    break
    return pd.DataFrame(rows, columns=["column", "what", "data_column", "status", "detail",
                                       "problem"])


def _detail(study: Study, canon: str) -> str:
    text = _detail_kind(study, canon)
    headers = [h for h in study.headers().get(canon, ())
               if h not in (study.data_column(canon), canon)]
    return f"{text}; also read from: {', '.join(headers)}" if headers else text


def _detail_kind(study: Study, canon: str) -> str:
    kind = study.kind_of(canon)
    if kind == "id":
        pos = study.roles.index(canon)
        inner = "unique per row" if pos == 0 else f"holds {study.roles[pos - 1]}s"
        return f"id ({inner})"
    if kind in ("categorical", "ordered"):
        f = study.factors[canon]
        sep = " < " if kind == "ordered" else ", "
        req = "; required" if f.required else ""
        return f"{kind}: {sep.join(f.levels)}; reference {f.reference}; at {f.at}{req}"
    if kind == "binary":
        f = study.factors[canon]
        words = ", ".join(f"{lv} = {f.level_label(lv)}" for lv in f.levels)
        return f"binary: {words}; at {f.at}" + ("; required" if f.required else "")
    if kind == "numeric":
        f = study.factors[canon]
        centre = f.centre if isinstance(f.centre, str) else _fmt(f.centre)
        bounds = f._bounds_text().strip()
        return (f"numeric{' ' + bounds if bounds else ''}; centred at {centre}, slope per "
                f"{_fmt(f.scale)}{' ' + f.unit if f.unit else ''}; at {f.at}")
    if kind == "score":
        return f"whole numbers {study.scale_min}-{study.scale_max}"
    if kind == "overall":
        return (f"{study.overall.description}; given or derived (tolerance "
                f"{study.overall.tolerance:g})")
    return ""


def _seen(study: Study, canon: str, col: pd.Series) -> tuple[str, str]:
    """What a data column holds, in words, and the first rule its values break."""
    kind = study.kind_of(canon)
    vals = col.to_numpy(dtype=object)
    present = [v for v in vals if not _is_missing(v)]
    missing = len(vals) - len(present)
    miss = f"{missing} missing" if missing else ""
    if kind == "id":
        return ", ".join(x for x in (f"{len(set(map(str, present)))} distinct", miss) if x), ""
    if kind in ("categorical", "ordered", "binary", "numeric"):
        f = study.factors[canon]
        parsed = [f.parse(v) for v in present]
        bad = sorted({str(v) for v, (_, r) in zip(present, parsed, strict=True) if r})
        if kind == "numeric":
            nums = [p for p, r in parsed if r is None]
            seen = (f"{_fmt(min(nums))} to {_fmt(max(nums))}" if nums else "no numbers")
        else:
            counts = pd.Series([str(p) for p, r in parsed if r is None],
                               dtype=object).value_counts()
            seen = ", ".join(f"{lv} {int(counts.get(lv, 0))}" for lv in f.levels)
        problem = (f"values not allowed: {', '.join(bad[:5])}"
                   + (f" ... ({len(bad)} in all)" if len(bad) > 5 else "") if bad else "")
        return ", ".join(x for x in (seen, miss) if x), problem
    if kind in ("score", "overall"):
        nums = [_as_number(v) for v in present]
        bad = sorted({str(v) for v, x in zip(present, nums, strict=True)
                      if x is None or (kind == "score" and (not x.is_integer() or not
                                       study.scale_min <= x <= study.scale_max))})
        good = [x for x in nums if x is not None]
        seen = f"{_fmt(min(good))} to {_fmt(max(good))}" if good else "no numbers"
        problem = ""
        if bad:
            problem = (f"not whole numbers {study.scale_min}-{study.scale_max}: "
                       f"{', '.join(bad[:5])}" if kind == "score" else
                       f"not numbers: {', '.join(bad[:5])}")
        return ", ".join(x for x in (seen, miss) if x), problem
    return "", ""


def _canonical_for_levels(study: Study, data: pd.DataFrame, cmap: ColumnMap) -> pd.DataFrame:
    """A frame of the ids and worker/unit-level factors, parsed, for :func:`level_problems`."""
    out = {}
    for role in study.roles:
        if role in cmap.found:
            out[role] = data.iloc[:, cmap.found[role]].astype(str).to_numpy()
    for f in study.factors.values():
        if f.name in cmap.found and (f.at != "row" or f.name == study.wave):
            col = data.iloc[:, cmap.found[f.name]].to_numpy(dtype=object)
            out[f.name] = [f.parse(v)[0] for v in col]
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# draft_study
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Draft:
    """A drafted study file: ``text`` (TOML), ``guesses`` (what was guessed, one line each)
    and ``to_check`` (what a person must look at before using it)."""

    text: str
    guesses: tuple[str, ...]
    to_check: tuple[str, ...]

    def study(self) -> Study:
        """The draft parsed as a study (it always parses)."""
        return study_from_text(self.text, "<draft>")

    def __str__(self) -> str:
        lines = ["guessed:", *[f"  - {g}" for g in self.guesses]]
        if self.to_check:
            lines += ["check before use:", *[f"  - {c}" for c in self.to_check]]
        return "\n".join(lines)


_ROLE_HINTS = {
    "observation": ("observation", "obs", "visit", "session", "record", "episode", "case"),
    "worker": ("worker", "practitioner", "staff", "socialworker", "sw", "clinician", "employee"),
    "unit": ("unit", "team", "pod", "hub"),
    "authority": ("authority", "la", "council", "site", "region", "area", "trust", "agency"),
}
_WAVE_HINTS = ("wave", "time", "timepoint", "period", "round", "phase", "visit", "year")
_OVERALL_HINTS = ("skill", "overall", "total", "mean", "average", "score")


def _is_id_header(header: str) -> bool:
    """A header that is just a role's name (``Team``, ``Local Authority``, ``Worker ID``)."""
    words = [w for w in _words(header) if w not in ("id", "no", "number", "code", "ref",
                                                     "name", "local", "social")]
    return len(words) == 1 and _role_hint(words[0]) is not None


def _role_hint(header: str) -> str | None:
    words = set(_words(header)) | {normalise(header)}
    for role, hints in _ROLE_HINTS.items():
        if words & set(hints):
            return role
    return None


def _is_missing(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in {"", "na", "n/a", "nan", "null", "#n/a", "<na>"}
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float | np.floating):
        return math.isnan(v)
    return False


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool | np.bool_):
        return None
    if isinstance(v, int | np.integer | float | np.floating):
        f = float(v)
    elif isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
        f = float(v.strip())
    else:
        return None
    return f if math.isfinite(f) else None


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else '"nan"'
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")  # pragma: no cover - internal


def _nests(inner: pd.Series, outer: pd.Series) -> bool:
    """Each value of ``inner`` lies in one value of ``outer`` (missing rows ignored)."""
    pairs = pd.DataFrame({"i": inner.astype(str), "o": outer.astype(str)})[
        inner.notna().to_numpy() & outer.notna().to_numpy()].drop_duplicates()
    return not pairs["i"].duplicated().any()


def _round_nice(x: float) -> float:
    """A round number near ``x`` (1, 2 or 5 times a power of ten)."""
    if not math.isfinite(x) or x <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(x))
    return float(min((1, 2, 5, 10), key=lambda m: abs(math.log(m * p / x))) * p)


def draft_study(data: pd.DataFrame, *, name: str = "my_study",
                description: str = "") -> Draft:
    """Draft a study file from a data set: a starting point to read and edit, not a verdict.

    Guesses, each printed with what to check:

    * **ids**: the columns whose values repeat in a nested way. The observation is a column
      unique per row (a header like "Observation ID" preferred); above it, columns whose
      values nest, fewest distinct values outermost; roles from the headers where they say
      (``team`` -> unit, ``authority``/``council``/``site`` -> authority), else by depth.
    * **scale and domains**: the columns holding whole numbers in one small common range;
      the scale's ends are the smallest and largest scores seen (check them: a scale whose
      top score nobody got looks shorter than it is).
    * **overall score**: a column equal to the mean of the domains on every row.
    * **factors**: two values (0/1, yes/no, true/false or any two words) -> binary; numbers
      with many values -> numeric (centred at a round number near the mean, slope per a round
      number near the SD); a few texts -> categorical, levels in order of appearance (make it
      ``ordered`` and order the levels if they are); ``at``: the outermost id level within
      which it never varies.
    * **wave**: a categorical factor whose header says wave, time, period or round.

    Parameters
    ----------
    data : pandas.DataFrame
        Raw data as read (:func:`pyramid.read`).
    name : str, default "my_study"
        The study's name (an identifier).
    description : str, optional

    Returns
    -------
    Draft
        ``.text`` (the TOML file), ``.guesses`` and ``.to_check``; ``str(draft)`` lists both.

    Raises
    ------
    InputError
        No rows, no id-like column unique per row, or no columns of scores.

    Examples
    --------
    >>> df = pd.DataFrame({
    ...     "Obs": ["o1", "o2", "o3", "o4"], "Worker ID": ["w1", "w1", "w2", "w3"],
    ...     "Team": ["t1", "t1", "t1", "t2"], "Empathy": [3, 5, 6, 2],
    ...     "Collaboration": [4, 4, 7, 1], "Autonomy": [2, 6, 5, 3], "Wave": ["1", "2", "1", "1"],
    ...     "Supervision": ["yes", "yes", "yes", "no"]})
    >>> d = draft_study(df, name="future")
    >>> s = d.study()
    >>> s.roles, [r.column for r in s.ids], s.scale_min, s.scale_max
    (('observation', 'worker', 'unit'), ['Obs', 'Worker ID', 'Team'], 1, 7)
    >>> s.wave, s.factors["supervision"].kind, s.factors["supervision"].at
    ('wave', 'binary', 'unit')
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not _IDENT.fullmatch(name):
        raise InputError(f"name must be an identifier (letters, digits, _), got {name!r}")
    df = data.loc[:, list(data.columns)]
    df = df.loc[~df.apply(lambda col: col.map(_is_missing)).all(axis=1)]
    if len(df) == 0:
        raise InputError("the data have no rows with any value: nothing to draft from")
    st = _DraftState(df)
    score_cols, scale = _draft_scale(st)
    rest = [h for h in st.headers if h not in score_cols]
    chain, roles = _draft_ids(st, rest)
    overall_col = _draft_overall(st, rest, chain, score_cols)
    factors = _draft_factors(st, [h for h in rest if h not in chain and h != overall_col],
                             chain, roles, score_cols)
    used = {f.column for f in factors}
    unused = [h for h in rest if h not in chain and h != overall_col and h not in used]
    wave = next((f.name for f in factors if f.wave), None)
    lines = [f"# drafted by pyramid study init from {st.n} rows: read every line, then run",
             "# pyramid study check THIS_FILE DATA", f"name = {_toml_value(name)}"]
    if description:
        lines.append(f"description = {_toml_value(description)}")
    if wave:
        lines.append(f"wave = {_toml_value(wave)}")
    if unused:
        lines.append(f"unused_columns = {_toml_value(unused)}")
    lines += ["", "[ids]  # innermost first"]
    lines += [f"{r} = {_toml_value(h)}" for r, h in zip(roles, chain, strict=True)]
    lines += ["", "[scale]", f"min = {scale[0]}", f"max = {scale[1]}",
              f"domains = {_toml_value(score_cols)}"]
    if overall_col:
        lines += ["", "[overall]", f"column = {_toml_value(overall_col)}"]
    for f in factors:
        lines.append(f"\n[factors.{_toml_key(f.name)}]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in f.table.items()]
    if factors:
        lines += ["", "[models]  # the terms of the shipped specs (skill, domains) for this study",
                  f"terms = {_toml_value([f.name for f in factors])}"]
    text = "\n".join(lines) + "\n"
    study_from_text(text, "<draft>")  # the draft must always parse
    return Draft(text, tuple(st.guesses), tuple(st.check))


class _DraftState:
    """What the stages of :func:`draft_study` read (the rows, their columns) and say."""

    def __init__(self, df: pd.DataFrame):
        self.headers = [str(c) for c in df.columns]
        self.cols = {str(c): df[c] for c in df.columns}
        self.n = len(df)
        self.guesses: list[str] = []
        self.check: list[str] = []

    def numbers(self, h: str) -> list[float | None]:
        return [_as_number(v) for v in self.cols[h].to_numpy(dtype=object)
                if not _is_missing(v)]


def _draft_scale(st: _DraftState) -> tuple[list[str], tuple[int, int]]:
    """The columns of scores (whole numbers in one small range) and the scale they share."""
    score_cols: list[str] = []
    rng: dict[str, tuple[int, int]] = {}
    for h in st.headers:
        nums = st.numbers(h)
        if not nums or any(x is None or not x.is_integer() for x in nums):
            continue
        lo, hi = int(min(nums)), int(max(nums))
        if 0 <= lo <= 3 and hi - lo >= 2 and hi <= 10 and len(set(nums)) >= 3 \
                and not _is_id_header(h):
            score_cols.append(h)
            rng[h] = (lo, hi)
    if not score_cols:
        raise InputError(
            "no columns of scores found (whole numbers in a small range, e.g. 1-5 or 1-7, "
            "with at least 3 different values); a study needs its rated domains"
        )
    # one scale for all of them: from the lowest to the highest score seen (a scale whose
    # lowest score nobody got starts at 1 all the same)
    top = max(rng[h][1] for h in score_cols)
    seen_lo = min(rng[h][0] for h in score_cols)
    lo = 1 if seen_lo == 2 else seen_lo
    st.guesses.append(f"scale {lo}-{top} from the scores seen in {len(score_cols)} column(s)")
    st.check.append(f"the scale: the smallest and largest scores seen are {seen_lo} and {top}; "
                    "if the scale is longer (no one got its top or bottom score), set [scale] "
                    "min and max")
    return score_cols, (lo, top)


def _draft_ids(st: _DraftState, rest: list[str]) -> tuple[list[str], list[str]]:
    """The id columns (unique per row, then nesting), innermost first, and their roles."""
    n, cols = st.n, st.cols
    distinct = {h: cols[h].dropna().astype(str).nunique() for h in rest}
    unique = [h for h in rest if distinct[h] == n and cols[h].notna().all()
              and not all(x is not None and not float(x).is_integer() for x in st.numbers(h))]
    if not unique:
        raise InputError("no column is unique per row, so there is no observation id; add "
                         "one (e.g. a running number) and try again")
    obs = sorted(unique, key=lambda h: (_role_hint(h) != "observation", st.headers.index(h)))[0]

    def id_like(h: str) -> bool:
        # an id column: its header says so, or it has many values, or values such as "T3"
        if _role_hint(h) in ("worker", "unit", "authority") or distinct[h] > 12:
            return True
        vals = cols[h].dropna().astype(str)
        return bool(len(vals)) and bool(vals.str.contains(r"[A-Za-z]").all()) and bool(
            vals.str.contains(r"\d").all())

    candidates = sorted(
        [h for h in rest if h != obs and cols[h].notna().all() and 1 < distinct[h]
         and (distinct[h] < n or _role_hint(h) == "worker") and id_like(h)],
        key=lambda h: (-distinct[h], _role_hint(h) != "worker", st.headers.index(h)))
    chain = [obs]
    for h in candidates:
        if len(chain) == 4:
            break
        if _nests(cols[chain[-1]], cols[h]) and (distinct[h] < distinct[chain[-1]]
                                                 or len(chain) == 1):
            chain.append(h)
    if len(chain) < 2:
        raise InputError(
            f"found the observation id {obs!r} but no worker id: no other column holds "
            "groups of rows that nest (each value in one group of the next column up)")
    roles = _draft_roles(st, chain)
    st.guesses.append("ids, innermost first: " + ", ".join(
        f"{r} = {h!r} ({distinct.get(h, n)} values)" for r, h in zip(roles, chain, strict=True)))
    if len(chain) < 4:
        st.check.append(f"the nesting: found {len(chain)} id levels ({', '.join(roles)}); a "
                        "column of teams or authorities with values repeated over rows would "
                        "add one")
    return chain, roles


def _draft_roles(st: _DraftState, chain: list[str]) -> list[str]:
    """Roles by nesting depth, or as the headers name them where they name them in order."""
    roles = list(ROLES[: len(chain)])
    hinted = [_role_hint(h) for h in chain]
    named = [r for r in hinted if r is not None]
    if named and hinted[0] in (None, "observation") and hinted[1] in (None, "worker") \
            and [ROLES.index(r) for r in named] == sorted({ROLES.index(r) for r in named}):
        # the headers name roles in nesting order: follow them (e.g. no unit, an authority)
        pos, by_name = 0, []
        for r in hinted:
            pos = ROLES.index(r) if r is not None and ROLES.index(r) >= pos else pos
            by_name.append(ROLES[pos])
            pos += 1
        if len(set(by_name)) == len(by_name) and ("authority" not in by_name
                                                  or "unit" in by_name):
            roles = by_name
    if roles != [r if r is not None else roles[i] for i, r in enumerate(hinted)]:
        st.check.append("the id roles: the headers suggest " + ", ".join(
            f"{h} = {r}" for h, r in zip(chain, hinted, strict=True) if r) + "; the draft "
            "follows the nesting")
    return roles


def _draft_overall(st: _DraftState, rest: list[str], chain: list[str],
                   score_cols: list[str]) -> str | None:
    """A column equal to the mean of the scores on every row (the overall score)."""
    scores = pd.DataFrame({h: pd.to_numeric(st.cols[h], errors="coerce") for h in score_cols})
    mean = scores.mean(axis=1)
    for h in rest:
        if h in chain:
            continue
        v = pd.to_numeric(st.cols[h], errors="coerce")
        if v.notna().sum() and ((v - mean).abs() <= 0.0051)[v.notna()].all():
            st.guesses.append(f"overall score: {h!r} (the mean of the domains on every row)")
            return h
    return None


@dataclass
class _DraftFactor:
    name: str
    column: str
    table: dict[str, Any]
    wave: bool = False


def _draft_factors(st: _DraftState, columns: list[str], chain: list[str], roles: list[str],
                   score_cols: list[str]) -> list[_DraftFactor]:
    """One factor per column that looks like one (binary, numeric, categorical)."""
    out: list[_DraftFactor] = []
    used = set(ROLES) | {identifier(h) for h in score_cols} | {"skill"}
    for h in columns:
        present = [v for v in st.cols[h].to_numpy(dtype=object) if not _is_missing(v)]
        if not present:
            st.check.append(f"column {h!r} is empty: left out of the draft")
            continue
        fname = identifier(h) or "factor"
        if not _IDENT.fullmatch(fname):
            fname = f"f_{fname}"
        while fname in used or fname in _RESERVED:
            fname = f"{fname}_"
        table = _draft_factor(st, h, fname, present)
        if table is None:
            continue
        used.add(fname)
        at = _draft_at(st, h, chain, roles)
        if at != "row":
            table["at"] = at
        kind = table["kind"]
        wave = (kind in ("categorical", "ordered") and not any(f.wave for f in out)
                and bool(set(_words(h)) & set(_WAVE_HINTS)))
        if wave:
            st.guesses.append(f"wave: factor {fname!r} (column {h!r})")
        st.guesses.append(f"factor {fname!r}: {kind}" + (f", measured at {at} level (never "
                          f"varies within a {at})" if at != "row" else "") + f" (column {h!r})")
        out.append(_DraftFactor(fname, h, table, wave))
    return out


def _draft_factor(st: _DraftState, h: str, fname: str, present: list) -> dict | None:
    """The table of one factor (kind, levels or centring), or None (not a factor)."""
    col = st.cols[h]
    values = list(dict.fromkeys(str(v).strip() for v in present))
    nums = [_as_number(v) for v in present]
    words = {normalise(v) for v in values}
    table: dict[str, Any] = {} if h == fname else {"column": h}
    if len(values) == 2 and (words <= set(_BINARY_WORDS)
                             or set(values) <= {"0", "1", "0.0", "1.0"}):
        table["kind"] = "binary"
        return table
    if all(x is not None for x in nums) and len(values) > 5:
        x = np.array(nums, dtype=float)
        scale = _round_nice(float(np.std(x))) if np.std(x) > 0 else 1.0
        table.update(kind="numeric", centre=float(round(float(np.mean(x)) / scale) * scale),
                     scale=scale)
        st.check.append(f"factor {fname!r}: numeric, centred at {_fmt(table['centre'])} and a "
                        f"slope per {_fmt(scale)} (about one SD in these data); say what a unit "
                        "is with unit = \"...\"")
        return table
    if len(values) > max(12, st.n // 10):
        st.check.append(f"column {h!r} has {len(values)} different texts: not a factor; left "
                        "out of the draft (listed in unused_columns)")
        return None
    levels = values if not all(x is not None for x in nums) else sorted(values, key=float)
    table["kind"] = "categorical"
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in col.cat.categories if str(c) in values]
        table["kind"] = "ordered" if col.cat.ordered else "categorical"
    names = [identifier(v) for v in levels]
    if len(levels) < 2:
        st.check.append(f"column {h!r} has one value ({levels[0]!r}): not a factor; left out "
                        "of the draft")
        return None
    if len(set(names)) < len(names) or not all(names):
        st.check.append(f"column {h!r}: levels {levels} do not make distinct names; left out "
                        "of the draft")
        return None
    table["levels"] = levels
    if not isinstance(col.dtype, pd.CategoricalDtype):
        st.check.append(f"factor {fname!r}: levels {', '.join(levels)} in order of appearance; "
                        "put the reference level first, and if the levels are ordered, set "
                        "kind = \"ordered\" and order them")
    return table


def _draft_at(st: _DraftState, h: str, chain: list[str], roles: list[str]) -> str:
    """The outermost of unit and worker within which a column never varies (with some group
    holding two rows); else ``row``."""
    col = st.cols[h]
    ok = col.notna().to_numpy()
    for role, idcol in reversed(list(zip(roles, chain, strict=True))[1:]):
        if role not in LEVELS_AT:
            continue
        keys = st.cols[idcol].astype(str)
        per = pd.DataFrame({"k": keys[ok], "v": col[ok].astype(str)}).groupby("k")["v"]
        if per.nunique().max() <= 1 and per.size().max() > 1:
            return role
    return "row"


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
