"""Spec + canonical frame -> the integer-coded arrays a model needs (no PyMC here).

Everything a model reads from the data is prepared once, as numpy arrays: the outcome, one
integer code or number per term and row, and for each group level an integer index per row
plus the index of each group's parent group (group effects are indexed, never dense
indicator matrices). Rows the model cannot use are left out here, counted per column, with a
:class:`~pyramid.data.validate.DataWarning` naming the column.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pyramid.data.schema import derive_csw
from pyramid.errors import DataWarning, InputError
from pyramid.formula import check_formula_data
from pyramid.models.names import step_labels
from pyramid.specs import ModelSpec
from pyramid.study import load_study

__all__ = ["GroupLevel", "GroupBlock", "Term", "ModelData", "prepare", "term_values",
           "main_coords"]

@dataclass
class GroupLevel:
    """One level of group effects.

    Attributes
    ----------
    name : str
        Identifier column (``authority``, ``unit``, ``worker``, ``observation``).
    levels : numpy.ndarray of str
        The group ids, in order of first appearance.
    index : numpy.ndarray of int
        For each row of the model's data, the index of its group.
    parent : numpy.ndarray of int or None
        For each group, the index of its group at the next kept level outwards (None for the
        outermost).
    parametrisation : str
        ``marginal``, ``non_centred``, ``centred`` or ``partial:W`` (centring weight W).
    """

    name: str
    levels: np.ndarray
    index: np.ndarray
    parent: np.ndarray | None
    parametrisation: str

    @property
    def n(self) -> int:
        """Number of groups."""
        return len(self.levels)


@dataclass
class Term:
    """One term of an equation, coded for the model.

    ``kind`` is ``categorical`` (integer codes 0..L-1, one coefficient per level after the
    first, the reference level), ``mo`` (monotonic: integer codes, brms parametrisation) or
    ``numeric`` (a slope on a float value). Missing values are -1 (codes) or NaN (numeric).
    A numeric factor of the study is coded as ``(x - centre) / scale`` (its slope is per
    ``scale`` units); ``centre`` and ``scale`` record what was used (0 and 1 otherwise).
    """

    column: str
    kind: str
    levels: tuple = ()
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    centre: float = 0.0
    scale: float = 1.0
    parts: tuple = ()

    @property
    def coef_levels(self) -> list[str]:
        """Levels that get a coefficient: all but the first of a categorical term; every
        column label of an interaction (``follow_up,sos``)."""
        if self.kind == "interaction":
            return [str(v) for v in self.levels]
        return [str(v) for v in self.levels[1:]]

    @property
    def missing(self) -> np.ndarray:
        """Boolean mask of missing values (per row)."""
        if self.kind == "interaction":
            return np.isnan(self.values).any(axis=1)
        if self.kind == "numeric":
            return np.isnan(self.values)
        return self.values < 0

    @property
    def columns(self) -> np.ndarray:
        """The term's coded columns, ``(N, n_coefs)``: one-hot for a categorical term (its
        reference left out), the value of a numeric one, the product columns of an
        interaction, the level code of a monotonic one (for the aliasing check)."""
        if self.kind == "interaction":
            return np.asarray(self.values, dtype=float)
        if self.kind == "categorical":
            codes = np.asarray(self.values)
            out = (codes[:, None] == np.arange(1, len(self.levels))[None, :]).astype(float)
            out[codes < 0] = np.nan
            return out
        v = np.asarray(self.values, dtype=float)
        if self.kind == "mo":
            v = np.where(v < 0, np.nan, v)
        return v[:, None]


@dataclass
class GroupBlock:
    """One group term of a formula sampled as it stands: ``(1 + x | g)``.

    Attributes
    ----------
    name : str
        The grouping (``worker``, ``unit:wave``).
    levels : numpy.ndarray of str
        The groups (ids, or ids and levels joined by ``:``), in order of first appearance.
    index : numpy.ndarray of int
        Each row's group.
    intercept : bool
        Varying intercepts.
    slopes : list of Term
        The varying slopes' terms, coded on the model's rows.
    labels : list of str
        The effects of a group: ``intercept`` and each slope coefficient.
    """

    name: str
    levels: np.ndarray
    index: np.ndarray
    intercept: bool
    slopes: list[Term]
    labels: list[str]

    @property
    def n(self) -> int:
        """Number of groups."""
        return len(self.levels)

    @property
    def design(self) -> np.ndarray:
        """``(N, q)``: the columns each row's group effects multiply (1 for the intercept)."""
        n = len(self.index)
        cols = [np.ones((n, 1))] if self.intercept else []
        cols += [np.nan_to_num(t.columns) for t in self.slopes]
        return np.column_stack(cols) if cols else np.zeros((n, 0))


@dataclass
class ModelData:
    """The data of one model, coded.

    Attributes
    ----------
    spec : ModelSpec
    frame : pandas.DataFrame
        The canonical rows the model uses (index reset; ``csw`` added when a term needs it).
    y : numpy.ndarray
        Outcome: skill (float) per row, or for the cumulative probit the rating code 0..K-1
        per rating (long format).
    categories : tuple
        Outcome categories of the cumulative probit (1..5).
    rating_row, rating_domain : numpy.ndarray of int
        For each rating: its row and its domain (index into ``domains``).
    domains : list of str
        Domain names of the long format.
    terms : list of Term
        Terms of the outcome equation (rows of ``frame``).
    groups : list of GroupLevel
        Kept group levels, outermost first.
    mediator, exposure : Term or None
        The path model's mediator (discussion codes, -1 missing) and exposure (0/1, -1
        missing).
    mediator_terms, exposure_terms : list of Term
    dropped : dict
        Column -> number of input rows left out because that column was missing (a row can be
        counted under several columns).
    n_input : int
        Rows in the input.
    notes : list of str
        What was decided (levels dropped as aliased, rows left out), in words.
    """

    spec: ModelSpec
    frame: pd.DataFrame
    y: np.ndarray
    terms: list[Term]
    groups: list[GroupLevel]
    categories: tuple = ()
    rating_row: np.ndarray | None = None
    rating_domain: np.ndarray | None = None
    domains: list[str] = field(default_factory=list)
    mediator: Term | None = None
    mediator_terms: list[Term] = field(default_factory=list)
    exposure: Term | None = None
    exposure_terms: list[Term] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    n_input: int = 0
    notes: list[str] = field(default_factory=list)
    # path model with the mediator at unit level
    unit_index: np.ndarray | None = None
    unit_ids: np.ndarray | None = None
    unit_mediator: np.ndarray | None = None
    unit_exposure: np.ndarray | None = None
    unit_terms: list[Term] = field(default_factory=list)
    # group terms of a formula outside the fast paths (varying slopes, crossed groupings)
    blocks: list[GroupBlock] = field(default_factory=list)

    @property
    def build(self) -> str:
        """The build this model takes: ``marginal`` (group effects integrated out),
        ``fused_ordinal`` (nested group effects sampled, the fused ordinal likelihood),
        ``general`` (a formula's group blocks sampled non-centred, LKJ correlations),
        ``path`` or ``sampled`` (a spec's nested groups sampled)."""
        if self.blocks or (self.spec.formula is not None and self.spec.formula.path == "general"):
            return "general"
        if self.spec.family == "path":
            return "path"
        if self.spec.family == "cumulative_probit":
            return "fused_ordinal"
        if self.groups and self.groups[0].parametrisation == "marginal":
            return "marginal"
        return "sampled"

    @property
    def n_rows(self) -> int:
        """Rows (observations) used."""
        return len(self.frame)

    @property
    def centring(self) -> dict[str, tuple[float, float]]:
        """Numeric factor -> ``(centre, scale)`` used to code it (new data are coded the same
        way: stored with a fit as ``info["centring"]``)."""
        out = {}
        slopes = [s for b in self.blocks for s in b.slopes]
        for t in [*self.terms, *self.mediator_terms, *self.exposure_terms, *slopes]:
            for part in (t, *t.parts):
                if part.kind == "numeric" and (part.centre != 0.0 or part.scale != 1.0):
                    out[part.column] = (float(part.centre), float(part.scale))
        return out

    @property
    def n_dropped(self) -> int:
        """Rows of the input left out."""
        return self.n_input - self.n_rows

    def path_patterns(self) -> tuple[np.ndarray, list[Term]]:
        """Distinct combinations of the mediator's and exposure's terms (exposure left out).

        Returns
        -------
        index : numpy.ndarray of int
            Pattern of each row (of each unit when the mediator is at unit level).
        terms : list of Term
            The terms with one value per pattern.
        """
        expo = self.exposure.column if self.exposure is not None else None
        terms: list[Term] = []
        source = self.unit_terms if self.unit_index is not None else (
            self.mediator_terms + self.exposure_terms)
        n = len(self.unit_ids) if self.unit_index is not None else self.n_rows
        for t in source:
            if t.column != expo and t.column not in [u.column for u in terms]:
                terms.append(t)
        if not terms:
            return np.zeros(n, dtype=np.int64), []
        mat = np.column_stack([np.asarray(t.values, dtype=float) for t in terms])
        uniq, inv = np.unique(mat, axis=0, return_inverse=True)
        out = [replace(t, values=uniq[:, j].astype(np.asarray(t.values).dtype))
               for j, t in enumerate(terms)]
        return inv.ravel().astype(np.int64), out

    def group(self, name: str) -> GroupLevel | None:
        """The kept group level called ``name``, or None."""
        return next((g for g in self.groups if g.name == name), None)


# --------------------------------------------------------------------------------------------
def _codes(frame: pd.DataFrame, column: str, levels: tuple) -> np.ndarray:
    """Integer codes of a categorical column against ``levels`` (-1 missing)."""
    vals = frame[column]
    if isinstance(vals.dtype, pd.CategoricalDtype) and tuple(vals.cat.categories) == tuple(levels):
        return vals.cat.codes.to_numpy(dtype=int)
    obj = vals.astype(object)
    lookup = {v: i for i, v in enumerate(levels)}
    out = np.full(len(obj), -1, dtype=int)
    bad = set()
    for i, v in enumerate(obj):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        if v in lookup:
            out[i] = lookup[v]
        else:
            bad.add(str(v))
    if bad:
        raise InputError(
            f"column {column!r}: unknown level(s) {sorted(bad)}; allowed: {', '.join(map(str, levels))}"
        )
    return out


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    vals = pd.to_numeric(frame[column], errors="coerce")
    return vals.astype("float64").to_numpy(dtype=float, na_value=np.nan)


def _interaction(term: str, frame: pd.DataFrame, csw, study, centring, coding) -> Term:
    """Code an interaction ``a:b``: the row-wise product of its factors' coded columns,
    categorical factors one-hot over their coded levels (``coding``, a
    :class:`pyramid.formula.FixedTerm`, says which: all levels or all but the reference;
    without it, all but the reference)."""
    names = term.split(":")
    full = {}
    if coding is not None:
        full = {c.name: c.full for c in coding.components}
    parts = [term_values(n, frame, csw if n in study.derived else None, study=study,
                         centring=centring) for n in names]
    n_rows = len(frame)
    cat_cols, labels, numeric = [], [], np.ones(n_rows)
    for name, part in zip(names, parts, strict=True):
        if part.kind == "categorical":
            levels = list(part.levels) if full.get(name, False) else list(part.levels[1:])
            start = 0 if full.get(name, False) else 1
            codes = np.asarray(part.values)
            cols = (codes[:, None] == np.arange(start, len(part.levels))[None, :]).astype(float)
            cols[codes < 0] = np.nan
            cat_cols.append(cols)
            labels.append(levels)
        else:
            numeric = numeric * np.asarray(part.values, dtype=float)
    if not cat_cols:  # numeric x numeric: one slope on the product
        return Term(term, "numeric", (), numeric, parts=tuple(parts))
    combos = list(itertools.product(*labels))
    values = np.ones((n_rows, len(combos)))
    for j, idx in enumerate(itertools.product(*[range(len(x)) for x in labels])):
        for cols, i in zip(cat_cols, idx, strict=True):
            values[:, j] *= cols[:, i]
    values *= numeric[:, None]
    return Term(term, "interaction", tuple(",".join(c) for c in combos), values,
                parts=tuple(parts))


def main_coords(md: ModelData) -> dict[str, list]:
    """Coordinates of a coded model's main-effect terms (the coefficients' levels of
    categorical terms and the steps of monotonic ones, in the outcome's, mediator's and
    exposure's equations) and of its nested group levels.

    What the kernels' layout and the PyMC build share; the build adds the coordinates of
    interaction terms and of the other group terms.

    Parameters
    ----------
    md : ModelData

    Returns
    -------
    dict of str to list
        Dimension name -> coordinate values.
    """
    coords: dict[str, list] = {}
    for t in md.terms + md.mediator_terms + md.exposure_terms:
        if t.kind == "categorical":
            coords[t.column] = t.coef_levels
        elif t.kind == "mo":
            coords[f"{t.column}_step"] = step_labels([str(v) for v in t.levels])
    for g in md.groups:
        coords[g.name] = [str(v) for v in g.levels]
    return coords


def term_values(term: str, frame: pd.DataFrame, csw: np.ndarray | None = None, *,
                study=None, centring: dict | None = None, coding=None) -> Term:
    """Code one term (``training``, ``clinician``, ``mo(discussion)``, ``csw``) on a frame.

    Parameters
    ----------
    term : str
        The term as written in a spec.
    frame : pandas.DataFrame
        Canonical rows (or new data with the term's column).
    csw : numpy.ndarray, optional
        The values of a derived term (``csw``), when already computed on a larger frame.
    study : str, path or Study, optional
        The study whose factor the term is (its kind, levels, reference, centring and
        scaling); default ``rsw2017``.
    centring : dict, optional
        Numeric factor -> ``(centre, scale)`` to use (those of a fit, for new data); else the
        study's centre (its number, or the mean of ``frame`` for ``"mean"``) and scale.
    coding : pyramid.formula.FixedTerm, optional
        How a formula codes the term (an interaction's categorical factors with all their
        levels or all but the reference); default all but the reference.

    Returns
    -------
    Term

    Examples
    --------
    >>> df = pd.DataFrame({"discussion": ["systemic", None], "clinician": [1, 0]})
    >>> t = term_values("mo(discussion)", df)
    >>> t.kind, t.values.tolist()
    ('mo', [2, -1])
    >>> t = term_values("clinician:discussion", df)
    >>> t.kind, t.coef_levels, t.values[0].tolist()
    ('interaction', ['green_shoots', 'systemic'], [0.0, 1.0])
    """
    study = load_study(study)
    if ":" in term:
        return _interaction(term, frame, csw, study, centring, coding)
    if coding is not None and coding.kind == "interaction":  # one factor, every level coded
        return _interaction(term, frame, csw, study, centring, coding)
    col = term[3:-1] if term.startswith("mo(") else term
    if col in study.derived:
        if csw is not None:
            values = np.asarray(csw, dtype=int)
        elif study.is_default() and col == "csw":
            values = derive_csw(frame)
        else:
            values = study.derive(col, frame)
        return Term(col, "numeric", (), values.astype(float))
    if col not in frame.columns:
        raise InputError(
            f"the data have no column {col!r}, which the model's term {term!r} needs; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    info = study.factors.get(col)
    kind = info.kind if info else "float"
    if term.startswith("mo("):
        return Term(col, "mo", tuple(info.levels), _codes(frame, col, info.levels))
    if kind in ("ordered", "categorical"):
        levels = info.ordered_levels  # the reference level first
        return Term(col, "categorical", tuple(levels), _codes(frame, col, levels))
    values = _numeric(frame, col)
    if kind == "binary":
        ok = np.isnan(values) | np.isin(values, [0.0, 1.0])
        if not ok.all():
            raise InputError(f"column {col!r} must be 0, 1 or missing, got {sorted(set(values[~ok]))}")
    if kind == "numeric":
        if centring and col in centring:
            centre, scale = (float(v) for v in centring[col])
        else:
            scale = float(info.scale)
            if isinstance(info.centre, int | float):
                centre = float(info.centre)
            else:  # "mean": of the rows coded (recorded, so new data are coded the same way)
                ok = ~np.isnan(values)
                centre = float(values[ok].mean()) if ok.any() else 0.0
        return Term(col, "numeric", (), (values - centre) / scale, centre=centre, scale=scale)
    return Term(col, "numeric", (), values)


# --------------------------------------------------------------------------------------------
def _group_levels(spec: ModelSpec, frame: pd.DataFrame, n_units_below: np.ndarray | None,
                  notes: list[str]) -> list[GroupLevel]:
    """Index the group levels, leaving out those that cannot be estimated.

    A level with a single group is aliased with the intercept; the innermost level is aliased
    with the residual when each of its groups holds one row (``n_units_below`` says how many
    outcome values a row has: 5 ratings in the domains model); and of two adjacent levels where
    every outer group holds exactly one inner group, the inner one is left out (its effects are
    the outer level's). Each decision is written to ``notes``.
    """
    names = list(spec.groups)
    ids = {g: frame[g].astype(str).to_numpy() for g in names}
    # nesting: each inner id lies in one outer id
    for inner, outer in zip(names[1:], names[:-1], strict=False):
        pairs = pd.DataFrame({"i": ids[inner], "o": ids[outer]}).drop_duplicates()
        multi = pairs["i"][pairs["i"].duplicated()]
        if len(multi):
            bad = multi.iloc[0]
            raise InputError(
                f"{inner} {bad!r} lies in more than one {outer} "
                f"({', '.join(sorted(pairs.loc[pairs['i'] == bad, 'o']))}); each {inner} must "
                f"be in one {outer} (give {inner}s ids that are unique across {outer}s)"
            )
    kept = list(names)
    if spec.drop_aliased:
        for g in list(kept):
            n_groups = len(pd.unique(ids[g]))
            if n_groups < 2:
                kept.remove(g)
                notes.append(
                    f"{g} effects left out: the data have {n_groups} {g} (the intercept "
                    "stands for it)"
                )
        # innermost level vs the residual
        while kept:
            g = kept[-1]
            per_row = np.ones(len(frame)) if n_units_below is None else n_units_below
            per_group = pd.Series(per_row).groupby(ids[g]).sum()
            if (per_group.to_numpy() <= 1).all():
                kept.pop()
                notes.append(
                    f"{g} effects left out: every {g} has one "
                    f"{'rating' if n_units_below is not None else 'row'}, so they cannot be "
                    "told apart from the residual"
                )
            else:
                break
        # adjacent levels: every outer group holds exactly one inner group
        i = len(kept) - 1
        while i >= 1:
            inner, outer = kept[i], kept[i - 1]
            n_inner = pd.DataFrame({"i": ids[inner], "o": ids[outer]}).drop_duplicates().groupby("o").size()
            if (n_inner.to_numpy() == 1).all():
                kept.pop(i)
                notes.append(
                    f"{inner} effects left out: every {outer} has one {inner}, so {inner} and "
                    f"{outer} effects cannot be told apart ({outer} effects kept)"
                )
            i -= 1
    levels: list[GroupLevel] = []
    for j, g in enumerate(kept):
        codes, uniques = pd.factorize(ids[g])
        parent = None
        if j > 0:
            outer = levels[-1]
            first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
            parent = outer.index[first]
        levels.append(GroupLevel(g, np.asarray(uniques, dtype=object), codes.astype(np.int64),
                                 parent, spec.parametrisation[g]))
    return levels


def prepare(spec: ModelSpec, data: pd.DataFrame, *, warn: bool = True) -> ModelData:
    """Code a canonical frame for a model spec.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame
        A canonical frame (see :func:`pyramid.validate`).
    warn : bool, default True
        Emit a :class:`DataWarning` naming each column that made rows be left out.

    Returns
    -------
    ModelData

    Raises
    ------
    InputError
        A column the model needs is absent, or no row is left.

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> from pyramid.data.simulate import simulate
    >>> sim = simulate((4, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    >>> md = prepare(load_spec("skill"), sim.data)
    >>> md.n_rows, [g.name for g in md.groups]
    (32, ['authority', 'unit', 'worker'])
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing_cols = [c for c in spec.columns if c not in data.columns]
    if missing_cols:
        raise InputError(
            f"the data have no column(s) {', '.join(missing_cols)}, which model "
            f"{spec.name!r} needs; columns given: {', '.join(map(str, data.columns))}"
        )
    n_input = len(data)
    frame = data.reset_index(drop=True)
    study = spec.the_study
    derived_used = [
        t for part in (spec.terms, spec.mediator_terms, spec.exposure.terms if spec.exposure else [])
        for t in part if t in study.derived
    ]
    if len(set(derived_used)) > 1:  # pragma: no cover - one derived term is all path models use
        raise InputError(f"model {spec.name!r}: at most one derived term is supported, got "
                         f"{sorted(set(derived_used))}")
    derived_name = derived_used[0] if derived_used else None
    csw = None
    if derived_name is not None:
        csw = (derive_csw(frame) if study.is_default() and derived_name == "csw"
               else study.derive(derived_name, frame))

    keep = np.ones(n_input, dtype=bool)
    dropped: dict[str, int] = {}
    notes: list[str] = []

    def leave_out(mask: np.ndarray, column: str) -> None:
        n = int(mask.sum())
        if n:
            dropped[column] = n
        keep[mask] = False

    for g in spec.groups:
        leave_out(frame[g].isna().to_numpy(), g)
    if spec.outcome == "domains":
        ratings = frame[list(study.domain_names)]
        leave_out(ratings.isna().all(axis=1).to_numpy(), "domains")
    else:
        leave_out(pd.to_numeric(frame[spec.outcome], errors="coerce").isna().to_numpy(), spec.outcome)
    for col in spec.required_columns:
        leave_out(frame[col].isna().to_numpy(), col)
    if not keep.any():
        raise InputError(
            f"model {spec.name!r} can use none of the {n_input} rows: rows missing "
            + ", ".join(f"{c} ({n})" for c, n in dropped.items())
        )
    if warn and dropped:
        n_out = int((~keep).sum())
        what = ", ".join(f"{c} missing on {n}" for c, n in dropped.items())
        msg = f"model {spec.name!r} leaves out {n_out} of {n_input} rows ({what})"
        notes.append(msg)
        warnings.warn(msg, DataWarning, stacklevel=3)
    frame = frame.loc[keep].reset_index(drop=True)
    if csw is not None:
        csw = csw[keep]
        frame[derived_name] = csw

    fixed = {t.name: t for t in spec.formula.fixed} if spec.formula is not None else {}

    def code(t: str) -> Term:
        col = t[3:-1] if t.startswith("mo(") else t
        return term_values(t, frame, csw if col == derived_name else None, study=study,
                           coding=fixed.get(t))

    terms = [code(t) for t in spec.terms]
    md = ModelData(spec=spec, frame=frame, y=np.zeros(0), terms=terms, groups=[],
                   dropped=dropped, n_input=n_input, notes=notes)

    n_below = None
    if spec.family == "cumulative_probit":
        lo, hi = study.scale_min, study.scale_max
        md.categories = study.categories
        cols = list(study.domain_names) if spec.outcome == "domains" else [spec.outcome]
        scores = np.column_stack([_numeric(frame, c) for c in cols])
        observed = ~np.isnan(scores)
        rows, dom = np.nonzero(observed)
        y = scores[rows, dom]
        bad = (y < lo) | (y > hi) | (y != np.round(y))
        if bad.any():
            raise InputError(
                f"ratings must be whole numbers {lo}-{hi}, got "
                f"{sorted(set(y[bad].tolist()))[:5]}"
            )
        md.y = (y - lo).astype(np.int64)
        md.rating_row = rows.astype(np.int64)
        md.rating_domain = dom.astype(np.int64)
        md.domains = cols
        n_below = observed.sum(axis=1)
    else:
        md.y = _numeric(frame, spec.outcome)

    if spec.mediator is not None:
        md.mediator = term_values(f"mo({spec.mediator.outcome})", frame, study=study)
        md.mediator.kind = "categorical"
        md.mediator_terms = [code(t) for t in spec.mediator.terms]
    if spec.exposure is not None:
        md.exposure = term_values(spec.exposure.outcome, frame, study=study)
        md.exposure_terms = [code(t) for t in spec.exposure.terms]
        for t in md.mediator_terms + md.exposure_terms:
            if t.column != spec.exposure.outcome and t.missing.any():
                raise InputError(f"column {t.column!r} has missing values the model cannot use")

    if spec.formula is not None and spec.formula.path == "general":
        md.blocks = _group_blocks(spec, frame, study, n_below, notes)
    else:
        md.groups = _group_levels(spec, frame, n_below, notes)
    if spec.family == "path" and spec.path_level == "unit":
        _unit_level(md)
    if spec.formula is not None:
        _check_formula(md)
    return md


def _check_formula(md: ModelData) -> None:
    """The formula's checks that need the data (:func:`pyramid.formula.check_formula_data`):
    aliased terms and slopes constant within every group raise; absent levels are noted."""
    columns = {t.column if t.kind != "mo" else f"mo({t.column})": t.columns for t in md.terms}
    groups = {b.name: (b.index, {s.column: s.columns for s in b.slopes}) for b in md.blocks}
    formula = md.spec.formula
    kept = [g for g in formula.groups if g.name in groups]
    check = replace(formula, groups=tuple(kept))
    md.notes.extend(check_formula_data(check, columns, groups))


def _group_blocks(spec: ModelSpec, frame: pd.DataFrame, study, n_below: np.ndarray | None,
                  notes: list[str]) -> list[GroupBlock]:
    """Code a formula's group terms as sampled blocks; a grouping with one group, and
    intercepts whose every group has one outcome value, are left out (noted)."""
    out = []
    per_row = np.ones(len(frame)) if n_below is None else n_below
    for g in spec.formula.groups:
        ids = frame[list(g.columns)].astype(str).agg(":".join, axis=1).to_numpy()
        codes, uniques = pd.factorize(ids)
        if len(uniques) < 2:
            notes.append(f"{g.text} left out: the data have {len(uniques)} {g.name} (the "
                         "intercept stands for it)")
            continue
        if not g.slopes and (pd.Series(per_row).groupby(codes).sum().to_numpy() <= 1).all():
            notes.append(f"{g.text} left out: every {g.name} has one "
                         f"{'rating' if n_below is not None else 'row'}, so its effects cannot "
                         "be told apart from the residual")
            continue
        slopes = [term_values(s.name, frame, study=study, coding=s) for s in g.slopes]
        out.append(GroupBlock(g.name, np.asarray(uniques, dtype=object),
                              codes.astype(np.int64), g.intercept, slopes, g.effect_labels))
    return out


def _per_unit(codes: np.ndarray, n_units: int, values: np.ndarray, column: str,
              unit_ids: np.ndarray, missing_ok: bool) -> np.ndarray:
    """One value per unit of a unit-level column (NaN where no row of the unit gives it)."""
    v = np.asarray(values, dtype=float)  # NaN = missing
    df = pd.DataFrame({"u": codes, "v": v}).dropna()
    nun = df.groupby("u")["v"].nunique()
    if (nun > 1).any():
        u = int(nun.index[nun.to_numpy() > 1][0])
        raise InputError(
            f"column {column!r} differs between the rows of unit {unit_ids[u]!r}, but the "
            "model's [path] level is 'unit' (one value per unit); give it one value per unit "
            "or use a spec with [path] level = \"row\""
        )
    out = np.full(n_units, np.nan)
    first = df.groupby("u")["v"].first()
    out[first.index.to_numpy()] = first.to_numpy()
    if not missing_ok and np.isnan(out).any():
        u = int(np.flatnonzero(np.isnan(out))[0])
        raise InputError(f"column {column!r} is missing for every row of unit {unit_ids[u]!r}")
    return out


def _unit_level(md: ModelData) -> None:
    """Unit-level mediator and exposure of the path model (one value per unit)."""
    codes, ids = pd.factorize(md.frame["unit"].astype(str))
    n_u = len(ids)
    md.unit_index = codes.astype(np.int64)
    md.unit_ids = np.asarray(ids, dtype=object)
    med = md.mediator
    mv = np.where(med.values < 0, np.nan, med.values)
    md.unit_mediator = np.nan_to_num(
        _per_unit(codes, n_u, mv, med.column, md.unit_ids, True), nan=-1).astype(np.int64)
    if md.exposure is not None:
        ev = md.exposure.values.astype(float)
        md.unit_exposure = np.nan_to_num(
            _per_unit(codes, n_u, ev, md.exposure.column, md.unit_ids, True), nan=-1
        ).astype(np.int64)
    expo = md.exposure.column if md.exposure is not None else None
    for t in md.mediator_terms + md.exposure_terms:
        if t.column == expo or t.column in [u.column for u in md.unit_terms]:
            continue
        vals = t.values.astype(float) if t.kind == "numeric" else np.where(t.values < 0, np.nan, t.values)
        per = _per_unit(codes, n_u, vals, t.column, md.unit_ids, False)
        md.unit_terms.append(replace(t, values=per if t.kind == "numeric" else per.astype(np.int64)))
    for g in md.groups:
        if g.parametrisation == "marginal" and g.name not in ("unit", "worker"):
            raise InputError(  # pragma: no cover - specs checks it
                f"group level {g.name!r} cannot be 'marginal' in a unit-level path model"
            )


#: Sample the SDs of non-centred levels signed too (``r = u * z``, see
#: :func:`pyramid.models.builder._sd_rv`); read by the PyMC build and the kernels' layout
#: (here, so that the layout does not import the builder, and with it PyMC).
SIGNED_NONCENTRED = True


def empirical_cuts(y: np.ndarray, k: int, shift: float = 0.0) -> np.ndarray:
    """Starting thresholds of an ordinal outcome: the normal quantiles of its empirical
    cumulative proportions (each of the ``k`` categories counted +0.5, so none is empty),
    plus ``shift``, kept strictly increasing (at least 0.1 apart).

    One definition for the PyMC build and the kernels' layout (scipy.special is imported here,
    not at the top, so that reading and validating data stay quick to start; its ``ndtri``
    is ``scipy.stats.norm.ppf`` to the last bit, without the 0.7 s import of scipy.stats).

    Parameters
    ----------
    y : numpy.ndarray
        Categories 0 .. k-1; negative values (missing) are left out.
    k : int
        Number of categories.
    shift : float, default 0.0
        Added to every threshold.

    Returns
    -------
    numpy.ndarray
        ``k - 1`` increasing thresholds.
    """
    from scipy.special import ndtri

    counts = np.bincount(y[y >= 0], minlength=k).astype(float) + 0.5  # +0.5: no empty class
    cum = np.cumsum(counts)[:-1] / counts.sum()
    cuts = ndtri(cum) + shift
    for i in range(1, len(cuts)):
        cuts[i] = max(cuts[i], cuts[i - 1] + 0.1)
    return cuts
