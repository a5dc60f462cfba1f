"""Model formulas in brms syntax over a study's factors: parsed, checked, represented.

A formula names what a model is in one line, as in brms and bambi::

    skill ~ wave * model + caseload + mo(discussion) + (1 | authority/unit/worker)

The text is read by `formulae <https://github.com/bambinos/formulae>`_ (bambi's parser), so
its operators mean what they mean there; :func:`parse_formula` then turns formulae's terms into
pyramid's own description (:class:`Formula`), checks every name against the study, and decides
how each term is coded. Nothing here needs data; :func:`check_formula_data` makes the checks
that do (aliased terms, slopes on a factor constant within its groups), before any sampling.

What a formula may hold
-----------------------
=============================== ============================================================
written                         meaning
=============================== ============================================================
``y ~ ...``                     the outcome: the study's overall score (``skill``; family
                                ``gaussian``), ``domains`` (every analysed domain rating in
                                long format; ``cumulative_probit``) or one domain's column
                                (``cumulative_probit``, or ``gaussian`` on the score)
``a``                           a factor: categorical and ordered factors get one coefficient
                                per level after the reference (``b_a[level]``); binary
                                factors, derived 0/1 indicators and numeric factors one slope
                                (numeric ones centred and scaled as the study says)
``a:b``                         interaction: the product of the two factors' coded columns,
                                ``b_a:b[level_a,level_b]`` (categorical x categorical),
                                ``b_a:x[level_a]`` (categorical x numeric)
``a * b``                       ``a + b + a:b``
``mo(a)``                       monotonic effect of an ordered factor (brms's ``mo()``)
``(1 | g)``                     group intercepts; ``g`` a role of the study (``worker``,
                                ``unit``, ...) or an interaction of roles and categorical
                                factors (``unit:wave``)
``(1 | a/b/c)``                 nested: ``(1 | a) + (1 | a:b) + (1 | a:b:c)``; since each
                                role lies in one group of the role above, ``a:b`` is ``b``
``(1 | a) + (1 | b)``           crossed (or nested, when the study nests them)
``(1 + x | g)``                 varying intercepts and slopes of ``x`` (one factor, no
                                ``mo()``), correlated (LKJ prior); ``(0 + x | g)`` slopes
                                only; separate parentheses are uncorrelated blocks
=============================== ============================================================

pyramid's own extensions of the formula language: ``mo()`` (brms has it, bambi has not) and
the outcome ``domains``. Not supported (each an :class:`~pyramid.errors.InputError` naming the
term): functions other than ``mo()`` (``log(x)``, ``C(x)``, ``I(x)``: centring and scaling of a
numeric factor are the study's), ``x[level]``, ``||``, ``%in%``, ``mo()`` inside an interaction
or a group term, interactions as varying slopes, a formula without an intercept for a
``gaussian`` model, and an interaction whose factors are not main effects where the coding
would need extra terms (write ``a * b``).

Coding follows R's and patsy's rule (formulae's :func:`formulae.contrasts.pick_contrasts`): a
categorical factor in a term is coded with all its levels only where the terms before it do not
already span its reference level: ``wave * caseload`` gives ``b_wave:caseload[follow_up]``
(the difference in the caseload slope), ``wave:caseload`` alone one slope per wave
(``b_wave:caseload[baseline]``, ``b_wave:caseload[follow_up]``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pyramid.errors import InputError

__all__ = [
    "Component",
    "FixedTerm",
    "GroupTerm",
    "Formula",
    "parse_formula",
    "check_formula_data",
    "FORMULA_FAMILIES",
]

#: Families a formula can describe on its own (the path family takes a formula in a spec
#: file, with its ``[path]`` table).
FORMULA_FAMILIES: tuple[str, ...] = ("gaussian", "cumulative_probit")

_OUTCOME_DOMAINS = "domains"


# --------------------------------------------------------------------------------------------
# the representation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Component:
    """One factor inside a term, with how it is coded.

    Attributes
    ----------
    name : str
        The study's factor (or derived indicator).
    kind : str
        ``categorical`` (a categorical or ordered factor: one column per coded level),
        ``binary`` (a binary factor or derived 0/1 indicator: its value) or ``numeric`` (its
        value centred and scaled as the study says).
    levels : tuple of str
        Categorical: the levels, reference first.
    full : bool
        Categorical: every level coded (True) or the reference left out (False).
    """

    name: str
    kind: str
    levels: tuple[str, ...] = ()
    full: bool = False

    @property
    def coded_levels(self) -> tuple[str, ...]:
        """Levels that get a column (categorical); empty otherwise."""
        if self.kind != "categorical":
            return ()
        return self.levels if self.full else self.levels[1:]


@dataclass(frozen=True)
class FixedTerm:
    """One population-level term: a main effect, an interaction or ``mo(x)``.

    Attributes
    ----------
    components : tuple of Component
        Its factors, in the order written.
    monotonic : bool
        ``mo(x)`` of one ordered factor (brms's monotonic effect).
    """

    components: tuple[Component, ...]
    monotonic: bool = False

    @property
    def name(self) -> str:
        """As written in a spec: ``wave``, ``wave:model``, ``mo(discussion)``."""
        if self.monotonic:
            return f"mo({self.components[0].name})"
        return ":".join(c.name for c in self.components)

    @property
    def factors(self) -> tuple[str, ...]:
        """The factors it uses."""
        return tuple(c.name for c in self.components)

    @property
    def kind(self) -> str:
        """``categorical`` (one categorical factor, reference left out), ``mo``, ``numeric``
        (one binary or numeric factor) or ``interaction`` (anything else, including a
        categorical factor coded with all its levels)."""
        if self.monotonic:
            return "mo"
        if len(self.components) == 1:
            c = self.components[0]
            if c.kind == "categorical":
                return "categorical" if not c.full else "interaction"
            return "numeric"
        return "interaction"

    @property
    def coef_labels(self) -> list[str]:
        """Coordinate labels of its coefficients: ``["follow_up,sos", ...]`` for an
        interaction of categorical factors, the levels for one categorical factor, ``[]``
        for a term with one coefficient (numeric, binary, ``mo()``, numeric x numeric)."""
        if self.monotonic:
            return []
        cats = [c.coded_levels for c in self.components if c.kind == "categorical"]
        if not cats:
            return []
        return [",".join(combo) for combo in itertools.product(*cats)]

    @property
    def coef_names(self) -> list[str]:
        """Truth-style names of its coefficients: ``wave[follow_up]``,
        ``wave:model[follow_up,sos]``, ``caseload``, ``mo(discussion)`` -> ``discussion``."""
        if self.monotonic:
            return [self.components[0].name]
        labels = self.coef_labels
        return [f"{self.name}[{lab}]" for lab in labels] if labels else [self.name]

    @property
    def n_coefs(self) -> int:
        """Number of coefficients."""
        return max(1, len(self.coef_labels))


@dataclass(frozen=True)
class GroupTerm:
    """One block of group effects: ``(1 + x | g)``.

    Attributes
    ----------
    name : str
        The grouping: a role (``worker``) or an interaction of columns (``unit:wave``).
    columns : tuple of str
        The data columns whose combination defines a group.
    intercept : bool
        Varying intercepts.
    slopes : tuple of FixedTerm
        Varying slopes (one factor each).
    """

    name: str
    columns: tuple[str, ...]
    intercept: bool = True
    slopes: tuple[FixedTerm, ...] = ()

    @property
    def effect_labels(self) -> list[str]:
        """Labels of a group's effects: ``intercept`` then each slope coefficient
        (``wave[follow_up]``, ``caseload``)."""
        out = ["intercept"] if self.intercept else []
        for s in self.slopes:
            out += s.coef_names
        return out

    @property
    def text(self) -> str:
        """As a brms group term: ``(1 + wave | worker)``."""
        parts = ["1" if self.intercept else "0"] + [s.name for s in self.slopes]
        return f"({' + '.join(parts)} | {self.name})"


@dataclass(frozen=True)
class Formula:
    """A parsed, checked formula over a study's factors.

    Attributes
    ----------
    text : str
        The formula as given.
    outcome : str
        ``skill`` (the study's overall score), ``domains`` or a domain name.
    family : str
        ``gaussian`` or ``cumulative_probit``.
    fixed : tuple of FixedTerm
        Population-level terms in formulae's order (main effects, then interactions as
        written).
    groups : tuple of GroupTerm
        Group-level blocks.
    study : str
        The study's name.
    """

    text: str
    outcome: str
    family: str
    fixed: tuple[FixedTerm, ...]
    groups: tuple[GroupTerm, ...]
    study: str = "rsw2017"

    @property
    def nested_intercepts(self) -> bool:
        """Every group term is intercepts only, grouped by a role of the study (so the groups
        nest): the structure of the fast paths (group effects integrated out; the fused
        ordinal likelihood with nested levels)."""
        return all(g.intercept and not g.slopes and len(g.columns) == 1 for g in self.groups)

    @property
    def main_effects_only(self) -> bool:
        """No interaction (every term is one factor coded against its reference, or mo())."""
        return all(t.kind != "interaction" for t in self.fixed)

    @property
    def simple(self) -> bool:
        """Main effects and nested intercepts only: the model a spec's ``terms`` and
        ``groups`` describe (the same PyMC model as a spec listing them)."""
        return self.nested_intercepts and self.main_effects_only

    @property
    def terms(self) -> list[str]:
        """The fixed terms as a spec lists them (``wave``, ``wave:model``, ``mo(x)``)."""
        return [t.name for t in self.fixed]

    @property
    def group_names(self) -> list[str]:
        """The groupings, in order."""
        return [g.name for g in self.groups]

    @property
    def factors(self) -> list[str]:
        """Every factor the formula uses (fixed terms and slopes), each once."""
        out: list[str] = []
        for t in [*self.fixed, *(s for g in self.groups for s in g.slopes)]:
            for f in t.factors:
                if f not in out:
                    out.append(f)
        return out

    @property
    def coefficients(self) -> list[str]:
        """Truth-style names of every population-level coefficient but the intercept."""
        return [n for t in self.fixed for n in t.coef_names]

    @property
    def path(self) -> str:
        """Which build a model of this formula takes: ``marginal`` (gaussian with nested
        intercepts: group effects integrated out), ``fused_ordinal`` (cumulative probit with
        nested intercepts) or ``general`` (sampled non-centred group effects, varying slopes
        with an LKJ prior on their correlations, crossed groupings)."""
        if self.nested_intercepts:
            return "marginal" if self.family == "gaussian" else "fused_ordinal"
        return "general"

    def describe(self) -> str:
        """The formula in words: outcome, family, each term with its coefficients, each group
        block and the build it takes.

        Examples
        --------
        >>> print(parse_formula("skill ~ training + (1 | unit)").describe())
        skill ~ training + (1 | unit)  [gaussian, build: marginal]
          training: training[other], training[mla], training[programme]
          (1 | unit): intercept
        """
        lines = [f"{self.text}  [{self.family}, build: {self.path}]"]
        for t in self.fixed:
            lines.append(f"  {t.name}: {', '.join(t.coef_names)}")
        for g in self.groups:
            lines.append(f"  {g.text}: {', '.join(g.effect_labels)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------
def _where(text: str) -> str:
    return f"formula {text!r}"


def _syntax(text: str):
    """formulae's syntax tree of ``text`` and its model description, or an InputError."""
    from formulae import model_description
    from formulae.parser import ParseError, Parser
    from formulae.scanner import ScanError, Scanner

    try:
        tokens = Scanner(text).scan()
        tree = Parser(list(tokens)).parse()
        desc = model_description(text)
    except (ParseError, ScanError) as exc:
        raise InputError(f"{_where(text)}: cannot read it ({exc}); write it as in brms, e.g. "
                         "'skill ~ wave * model + (1 | authority/unit/worker)'") from None
    except (ValueError, TypeError, AttributeError) as exc:  # formulae's own checks
        raise InputError(f"{_where(text)}: {exc}") from None
    _check_tokens(text, tokens, tree)
    return tree, desc


def _op(node) -> str | None:
    return node.operator.lexeme if type(node).__name__ in ("Binary", "Unary") else None


def _summands(node, out: list) -> list:
    """The items of a top-level sum (``+`` and ``-``) of the right-hand side."""
    if type(node).__name__ == "Binary" and _op(node) in ("+", "-"):
        _summands(node.left, out)
        _summands(node.right, out)
    elif type(node).__name__ == "Unary" and _op(node) in ("+", "-"):
        _summands(node.right, out)
    else:
        out.append(node)
    return out


def _contains(node, pred) -> bool:
    if pred(node):
        return True
    kind = type(node).__name__
    if kind == "Binary":
        return _contains(node.left, pred) or _contains(node.right, pred)
    if kind == "Unary":
        return _contains(node.right, pred)
    if kind == "Grouping":
        return _contains(node.expression, pred)
    if kind == "Call":
        return any(_contains(a, pred) for a in node.args)
    return False


def _is_bar(node) -> bool:
    return type(node).__name__ == "Binary" and _op(node) == "|"


def _check_tokens(text: str, tokens, tree) -> None:
    """Refuse what formulae's parser drops without a word: a bar outside parentheses
    (``y ~ x | g`` reads as ``y ~ x``) and any name that does not reach the syntax tree."""
    depth = 0
    for tok in tokens:
        depth += (tok.kind == "LEFT_PAREN") - (tok.kind == "RIGHT_PAREN")
        if tok.kind == "PIPE" and depth == 0:
            raise InputError(
                f"{_where(text)}: a group term must be in parentheses, e.g. '(1 | worker)'")
    names = {t.lexeme for t in tokens if t.kind == "IDENTIFIER"}
    found: set[str] = set()

    def collect(node) -> None:
        kind = type(node).__name__
        if kind == "Variable":
            found.add(node.name.lexeme if hasattr(node.name, "lexeme") else str(node.name))
            if getattr(node, "level", None) is not None:  # x[level]: refused later, by name
                level = node.level
                found.add(str(getattr(level, "value", getattr(level, "lexeme", level))))
        elif kind == "QuotedName":
            found.add(str(node.expression.lexeme))
        elif kind == "Binary":
            collect(node.left)
            collect(node.right)
        elif kind == "Unary":
            collect(node.right)
        elif kind == "Grouping":
            collect(node.expression)
        elif kind == "Call":
            collect(node.callee)
            for a in node.args:
                collect(a)

    collect(tree)
    lost = sorted(names - found)
    if lost:
        raise InputError(f"{_where(text)}: cannot read it: {', '.join(map(repr, lost))} would be "
                         "left out; write it as in brms, e.g. 'skill ~ wave * model + "
                         "(1 | authority/unit/worker)'")


def _check_tree(text: str, tree) -> list:
    """Refuse what formulae would read silently differently from brms; return the group
    blocks (Grouping nodes with a bar) of the right-hand side."""
    if type(tree).__name__ != "Binary" or _op(tree) != "~":
        raise InputError(f"{_where(text)}: needs an outcome and '~', e.g. 'skill ~ wave'")
    blocks = []
    for item in _summands(tree.right, []):
        if type(item).__name__ == "Grouping" and _is_bar(item.expression):
            inner = item.expression
            if _contains(inner.left, _is_bar) or _contains(inner.right, _is_bar):
                raise InputError(f"{_where(text)}: '||' and nested bars are not supported; "
                                 "write one '|' per group term, e.g. '(1 + wave | worker)'")
            blocks.append(item)
        elif _contains(item, _is_bar):
            raise InputError(
                f"{_where(text)}: a group term must stand on its own in parentheses and be "
                "added to the others, as in '... + (1 | worker)'; a bar outside parentheses, or "
                "a group term inside an interaction, is not a model pyramid (or brms) fits")
    return blocks


def _study(study: Any):
    from pyramid.study import load_study

    return load_study(study)


def _names_doc(study) -> str:
    facs = [*study.factors, *study.derived]
    return (f"the factors of study {study.name!r} are {', '.join(facs) or 'none'}; its roles "
            f"{', '.join(study.groups)}")


def _component(text: str, name: str, study, *, where: str) -> Component:
    """The component of one study name (without its coding, decided later)."""
    if name in study.factors:
        f = study.factors[name]
        if f.kind in ("categorical", "ordered"):
            return Component(name, "categorical", tuple(f.ordered_levels))
        return Component(name, "binary" if f.kind == "binary" else "numeric")
    if name in study.derived:
        return Component(name, "binary")
    if name in study.roles:
        raise InputError(f"{_where(text)}: {where} names the role {name!r}, which is an "
                         f"identifier, not a factor; group effects are written '(1 | {name})'")
    outcomes = {study.overall.name, _OUTCOME_DOMAINS, *study.domain_names}
    if name in outcomes:
        raise InputError(f"{_where(text)}: {where} names {name!r}, an outcome of study "
                         f"{study.name!r}, as a predictor")
    raise InputError(f"{_where(text)}: {where} names {name!r}, which is no column of study "
                     f"{study.name!r}: {_names_doc(study)}")


def _variables(text: str, term, *, where: str) -> list[tuple[str, bool]]:
    """``(name, monotonic)`` of each component of a formulae term; refuses calls other than
    ``mo(x)`` and ``x[level]``."""
    out = []
    for c in term.components:
        kind = type(c).__name__
        if kind == "Call":
            call = c.call
            callee = getattr(call, "callee", "?")
            args = list(getattr(call, "args", []))
            if callee != "mo":
                raise InputError(
                    f"{_where(text)}: {where}: function {callee}() is not supported; pyramid's "
                    "formulas allow mo(x) only (a numeric factor is centred and scaled as the "
                    "study says; a categorical one is coded from its levels)")
            if len(args) != 1 or type(args[0]).__name__ != "LazyVariable" \
                    or getattr(call, "kwargs", {}):
                raise InputError(f"{_where(text)}: {where}: mo() takes one factor, e.g. "
                                 f"'mo(discussion)'; got {c.name}")
            out.append((args[0].name, True))
        elif kind == "Variable":
            if getattr(c, "reference", None) is not None:
                raise InputError(
                    f"{_where(text)}: {where}: '{c.name}[{c.reference}]' is not supported; the "
                    "reference level is the study's (its 'reference' key)")
            out.append((c.name, False))
        else:  # pragma: no cover - formulae's terms hold variables and calls only
            raise InputError(f"{_where(text)}: {where}: cannot use {c!r}")
    return out


def _fixed_terms(text: str, desc, study) -> tuple[list[tuple[tuple[Component, ...], bool]], bool]:
    """The population-level terms (components, monotonic) and whether there is an intercept."""
    from formulae.terms.terms import Intercept, Term

    intercept = False
    terms = []
    seen_main: dict[str, str] = {}
    for t in desc.common_terms:
        if isinstance(t, Intercept):
            intercept = True
            continue
        if not isinstance(t, Term):  # pragma: no cover - formulae gives Intercept and Term
            raise InputError(f"{_where(text)}: cannot use the term {t!r}")
        written = t.name if hasattr(t, "name") else repr(t)
        variables = _variables(text, t, where=f"term {written!r}")
        comps = []
        mono = False
        for name, is_mo in variables:
            comp = _component(text, name, study, where=f"term {written!r}")
            if is_mo:
                if len(variables) > 1:
                    raise InputError(f"{_where(text)}: term {written!r}: mo() inside an "
                                     "interaction is not supported")
                f = study.factors.get(name)
                if f is None or f.kind != "ordered":
                    kind = f.kind if f is not None else "a derived 0/1 indicator"
                    ordered = [n for n, x in study.factors.items() if x.kind == "ordered"]
                    raise InputError(
                        f"{_where(text)}: term {written!r}: mo() needs an ordered factor "
                        f"(study {study.name!r}: {', '.join(ordered) or 'none'}); "
                        f"{name!r} is {kind}")
                mono = True
            comps.append(comp)
        if len(comps) == 1:
            name = comps[0].name
            label = f"mo({name})" if mono else name
            if name in seen_main:
                raise InputError(
                    f"{_where(text)}: term {label!r} is aliased with term {seen_main[name]!r} "
                    f"(both are main effects of {name!r}); keep one")
            seen_main[name] = label
        terms.append((tuple(comps), mono))
    return terms, intercept


def _encode(text: str, terms, intercept: bool) -> list[FixedTerm]:
    """Decide each categorical component's coding (formulae's pick_contrasts)."""
    from formulae.contrasts import pick_contrasts

    def key(comps, mono):
        return ("mo(" + comps[0].name + ")") if mono else ":".join(c.name for c in comps)

    kinds = {}
    groups: list[dict[str, list[str]]] = [{}]
    numeric_sets: list[frozenset] = []
    if intercept:
        groups[0]["Intercept"] = []
    names = [key(c, m) for c, m in terms]
    for (comps, mono), name in zip(terms, names, strict=True):
        cats = [c.name for c in comps if c.kind == "categorical" and not mono]
        nums = frozenset(c.name for c in comps if c.kind != "categorical" or mono)
        kinds[name] = (cats, nums)
        if cats and not nums:
            groups[0][name] = cats
        elif cats and nums:
            if nums not in numeric_sets:
                numeric_sets.append(nums)
                groups.append({})
            g = groups[1 + numeric_sets.index(nums)]
            numeric_part = ":".join(c.name for c in comps if c.name in nums)
            if numeric_part in names:
                g.setdefault(numeric_part, [])
            g[name] = cats
    codings: dict[str, list[dict[str, bool]]] = {}
    for g in groups:
        # the numeric main effect goes first in its group (it spans the "intercept" there)
        ordered = dict(sorted(g.items(), key=lambda kv: 0 if not kv[1] else 1))
        codings.update(pick_contrasts(ordered))
    out = []
    for (comps, mono), name in zip(terms, names, strict=True):
        cats, _ = kinds[name]
        if not cats:
            out.append(FixedTerm(comps, mono))
            continue
        coding = codings[name]
        if len(coding) != 1:
            mains = " + ".join(cats)
            raise InputError(
                f"{_where(text)}: term {name!r} needs its factors' main effects to be coded "
                f"without extra terms; write {' * '.join(c.name for c in comps)} (or add "
                f"{mains})")
        full = coding[0]
        out.append(FixedTerm(tuple(
            Component(c.name, c.kind, c.levels, bool(full.get(c.name, False)))
            if c.kind == "categorical" else c for c in comps), mono))
    return out


def _group_blocks(text: str, blocks, study, family: str, outcome: str) -> list[GroupTerm]:
    from formulae.resolver import Resolver
    from formulae.terms.terms import Intercept, Model

    out: list[GroupTerm] = []
    seen: dict[str, str] = {}
    for node in blocks:
        resolved = Resolver(node.expression).resolve()
        model = resolved if isinstance(resolved, Model) else Model(resolved)
        by_factor: dict[tuple[str, ...], dict] = {}
        for gt in model.group_terms:
            cols = tuple(_variables(text, gt.factor, where="a grouping")[i][0]
                         for i in range(len(gt.factor.components)))
            entry = by_factor.setdefault(cols, {"intercept": False, "slopes": []})
            if isinstance(gt.expr, Intercept):
                entry["intercept"] = True
            else:
                entry["slopes"].append(gt.expr)
        for cols, entry in by_factor.items():
            out.append(_group_term(text, cols, entry, study, family, outcome, seen))
    return out


def _group_name(text: str, cols: tuple[str, ...], study) -> tuple[str, tuple[str, ...]]:
    roles = [c for c in cols if c in study.roles]
    others = [c for c in cols if c not in study.roles]
    for c in others:
        kind = study.kind_of(c)
        if kind not in ("categorical", "ordered", "binary"):
            what = "no column of the study" if kind is None else f"a {kind} column"
            raise InputError(
                f"{_where(text)}: grouping {':'.join(cols)!r}: {c!r} is {what}; a grouping is a "
                f"role ({', '.join(study.groups)}) or an interaction of roles and categorical "
                "factors")
    if "observation" in roles and others:
        raise InputError(f"{_where(text)}: grouping {':'.join(cols)!r}: observation is the "
                         "innermost role; group by it alone")
    # roles nest (each group lies in one group of the role above), so a:b of roles is b
    inner = min(roles, key=study.roles.index) if roles else None
    kept = ([inner] if inner else []) + others
    return ":".join(kept), tuple(kept)


def _group_term(text, cols, entry, study, family, outcome, seen) -> GroupTerm:
    name, columns = _group_name(text, cols, study)
    if name in seen:
        raise InputError(
            f"{_where(text)}: grouping {name!r} appears in two group terms ({seen[name]} and "
            f"another); put its intercept and slopes in one '( ... | {name})'")
    if name == "observation" and outcome != _OUTCOME_DOMAINS:
        raise InputError(f"{_where(text)}: '(1 | observation)' needs several ratings per "
                         f"observation (outcome 'domains'); the outcome is {outcome!r}")
    slopes: list[FixedTerm] = []
    for expr in entry["slopes"]:
        written = getattr(expr, "name", repr(expr))
        variables = _variables(text, expr, where=f"slope {written!r} in '| {name})'")
        if len(variables) != 1:
            raise InputError(f"{_where(text)}: slope {written!r} in '| {name})': a varying "
                             "slope is one factor; interactions as slopes are not supported")
        var, mono = variables[0]
        if mono:
            raise InputError(f"{_where(text)}: slope {written!r} in '| {name})': mo() as a "
                             "varying slope is not supported")
        comp = _component(text, var, study, where=f"slope {written!r} in '| {name})'")
        if comp.kind == "categorical":
            comp = Component(comp.name, comp.kind, comp.levels, full=not entry["intercept"])
        _check_slope_level(text, comp.name, columns, study)
        slopes.append(FixedTerm((comp,)))
    text_block = GroupTerm(name, columns, entry["intercept"], tuple(slopes)).text
    seen[name] = text_block
    return GroupTerm(name, columns, entry["intercept"], tuple(slopes))


def _check_slope_level(text: str, factor: str, columns: tuple[str, ...], study) -> None:
    """A slope on a factor measured at or above the grouping's level is constant within
    each group: refuse it from the study's ``at`` (the data are checked again later)."""
    f = study.factors.get(factor)
    at = f.at if f is not None else study.derived[factor].at
    role = columns[0] if columns and columns[0] in study.roles else None
    constant = factor in columns or (
        role is not None and at in study.roles and study.roles.index(at) >= study.roles.index(role))
    if constant:
        why = ("is part of the grouping" if factor in columns else
               f"is measured at {at} level in study {study.name!r}")
        raise InputError(
            f"{_where(text)}: slope of {factor!r} varying by {':'.join(columns)!r}: {factor!r} "
            f"{why}, so it is constant within each group and its slope cannot vary between "
            "them; drop the slope or group by a level above it")


def _outcome(text: str, desc, study, family: str | None) -> tuple[str, str]:
    if desc.response is None:  # pragma: no cover - _check_tree asks for '~'
        raise InputError(f"{_where(text)}: needs an outcome, e.g. 'skill ~ ...'")
    comps = desc.response.term.components
    if len(comps) != 1 or type(comps[0]).__name__ != "Variable":
        raise InputError(f"{_where(text)}: the outcome must be one column name, got "
                         f"{desc.response.term.name!r}")
    outcome = comps[0].name
    overall = study.overall.name
    domains = list(study.domain_names) + [d.name for d in study.coded]
    allowed = {
        "gaussian": [overall, *domains],
        "cumulative_probit": [_OUTCOME_DOMAINS, *domains],
    }
    if family is None:
        family = "gaussian" if outcome == overall else "cumulative_probit"
    if family not in allowed:
        raise InputError(f"family must be one of {', '.join(FORMULA_FAMILIES)} for a formula, "
                         f"got {family!r}")
    if outcome not in allowed[family]:
        raise InputError(
            f"{_where(text)}: outcome {outcome!r} for family {family!r}: allowed are "
            f"{', '.join(allowed[family])} (study {study.name!r})")
    return outcome, family


def parse_formula(text: str, study: Any = None, *, family: str | None = None) -> Formula:
    """Parse a brms-style formula over a study's factors.

    Parameters
    ----------
    text : str
        E.g. ``"skill ~ wave * model + caseload + (1 | authority/unit/worker)"``.
    study : str, Path or Study, optional
        The study whose factors and roles the formula names; default ``rsw2017``.
    family : {"gaussian", "cumulative_probit"}, optional
        Default: ``gaussian`` for the study's overall score, ``cumulative_probit`` for
        ``domains`` or one domain.

    Returns
    -------
    Formula

    Raises
    ------
    InputError
        Naming the term and the reason: syntax, an unknown column, ``mo()`` of a factor that
        is not ordered, a function other than ``mo()``, a slope on a factor the study
        measures at or above the grouping's level, a term aliased with another, a grouping
        used twice.

    Examples
    --------
    >>> f = parse_formula("skill ~ training + clinician + mo(discussion) + (1 | authority/unit/worker)")
    >>> f.terms, f.group_names, f.path
    (['training', 'clinician', 'mo(discussion)'], ['authority', 'unit', 'worker'], 'marginal')
    >>> parse_formula("skill ~ mo(clinician)")
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: formula 'skill ~ mo(clinician)': term 'mo(clinician)': mo() needs an ordered factor (study 'rsw2017': training, discussion); 'clinician' is binary
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a formula must be a non-empty string, got {text!r}")
    text = " ".join(text.split())
    if "%in%" in text:
        raise InputError(f"{_where(text)}: '%in%' is not supported; write a nested group term "
                         "'(1 | a/b)' or an interaction 'a:b'")
    study = _study(study)
    tree, desc = _syntax(text)
    blocks = _check_tree(text, tree)
    outcome, family = _outcome(text, desc, study, family)
    terms, intercept = _fixed_terms(text, desc, study)
    if not intercept and family == "gaussian":
        raise InputError(f"{_where(text)}: a gaussian model in pyramid keeps its intercept "
                         "(the expected score at the reference levels); remove '0 +' / '- 1'")
    for comps, _ in terms:
        if outcome in [c.name for c in comps]:  # pragma: no cover - _component refuses it
            raise InputError(f"{_where(text)}: the outcome {outcome!r} is also a term")
    # thresholds stand for the intercept of a cumulative probit: code as if it had one
    fixed = _encode(text, terms, intercept=True)
    groups = _group_blocks(text, blocks, study, family, outcome)
    return Formula(text=text, outcome=outcome, family=family, fixed=tuple(fixed),
                   groups=tuple(groups), study=study.name)


# --------------------------------------------------------------------------------------------
# checks that need the data
# --------------------------------------------------------------------------------------------
def _first_dependent(x: np.ndarray, tol: float = 1e-8) -> int | None:
    """Index of the first column of ``x`` in the span of the columns before it (None)."""
    if x.shape[1] == 0:
        return None
    scale = np.linalg.norm(x, axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    rank = 0
    for j in range(xs.shape[1]):
        r = np.linalg.matrix_rank(xs[:, : j + 1], tol=tol * max(1, xs.shape[0]) ** 0.5)
        if r == rank:
            return j
        rank = r
    return None


def check_formula_data(formula: Formula, columns: Mapping[str, np.ndarray],
                       groups: Mapping[str, np.ndarray]) -> list[str]:
    """Checks of a formula against the coded data, before any sampling.

    Parameters
    ----------
    formula : Formula
    columns : mapping
        Fixed term name -> its coded columns on the model's rows, ``(N, n_coefs)`` (a
        monotonic term: its level codes as one column).
    groups : mapping
        Group term name -> ``(index of each row's group, {slope name: coded columns})``.

    Returns
    -------
    list of str
        Notes: coefficients no row informs (a level or combination of levels absent from the
        data: their posterior is their prior).

    Raises
    ------
    InputError
        A term aliased with the intercept or the terms before it in these data; a varying
        slope whose factor is constant within every group.
    """
    notes: list[str] = []
    blocks = []
    names = []
    for t in formula.fixed:
        x = np.asarray(columns[t.name], dtype=float).reshape(len(next(iter(columns.values()))), -1)
        empty = ~np.any(x != 0, axis=0)
        if t.kind in ("categorical", "interaction") and empty.any():
            labels = t.coef_names
            gone = [labels[j] for j in np.flatnonzero(empty)]
            notes.append(f"{', '.join(gone)}: no row of the data has "
                         f"{'this level' if len(gone) == 1 else 'these levels'}; "
                         f"{'its coefficient is' if len(gone) == 1 else 'their coefficients are'}"
                         " informed by the prior only")
        blocks.append(x[:, ~empty] if t.kind in ("categorical", "interaction") else x)
        names.append(t.name)
    if blocks:
        n = blocks[0].shape[0]
        design = np.column_stack([np.ones(n), *blocks])
        owner = ["the intercept"] + [nm for nm, b in zip(names, blocks, strict=True)
                                     for _ in range(b.shape[1])]
        j = _first_dependent(design)
        if j is not None:
            # the columns before it that its column is made of
            coef = np.linalg.lstsq(design[:, :j], design[:, j], rcond=None)[0]
            scale = np.linalg.norm(design[:, :j], axis=0) * np.abs(coef)
            used = scale > 1e-8 * max(1.0, float(np.linalg.norm(design[:, j])))
            others = []
            for o, u in zip(owner[:j], used, strict=True):
                if u and o not in others:
                    others.append(o)
            words = " and ".join(o if o == "the intercept" else repr(o) for o in others)
            raise InputError(
                f"formula {formula.text!r}: term {owner[j]!r} is aliased with "
                f"{words or 'the terms before it'} in these data (its columns are a linear "
                "combination of theirs, so the data cannot tell their effects apart); leave one "
                "of them out")
    for g in formula.groups:
        index, slopes = groups[g.name]
        index = np.asarray(index)
        for s in g.slopes:
            x = np.asarray(slopes[s.name], dtype=float).reshape(len(index), -1)
            frame = pd.DataFrame(x).assign(_g=index)
            varies = (frame.groupby("_g").nunique() > 1).to_numpy().any()
            if not varies:
                raise InputError(
                    f"formula {formula.text!r}: the slope of {s.name!r} in {g.text}: "
                    f"{s.name!r} is constant within every {g.name} in these data, so its "
                    f"slope cannot vary between them; drop the slope or group by a level "
                    "above it")
    return notes

