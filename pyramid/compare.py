"""Posterior comparisons: what replaces the report's t-tests.

:func:`compare` turns a fitted result into one tidy table of contrasts on the 1-5 skill scale:
for each contrast its posterior mean, SD and interval, the probability of direction, the
probability inside a region of practical equivalence (ROPE), a Savage-Dickey Bayes factor and
the evidence ratio for the direction. It uses only ``result.expected_skill(newdata, group=)``
(docs/architecture.md), so it works for every model family: ``skill`` (a contrast is a sum of
coefficients), ``domains`` (through the expected skill implied by the ordinal probabilities)
and the ``pyramid`` path model (direct, indirect and total effects).

What a contrast is
------------------
A contrast compares two *settings* of the model's covariates, ``A - B``. Each setting names
some columns; every covariate a setting does not name keeps each row's own value, and the
expected skill is averaged over the rows the model used (``result.data``): *marginal
standardisation*, the average effect in this sample. For the Gaussian models this equals the
sum of coefficients the contrast implies; for the ordinal ``domains`` model, where an effect
on the skill scale depends on where a row sits on the 1-5 scale, it is the honest summary
(the coefficient itself is on the probit scale of a rating).

Two rules make the contrasts of the path model clean:

* A covariate a contrast does not name is *held*, not re-inferred: where a row of the
  ``pyramid`` model's data has no observed ``discussion`` (or ``clinician``), it is held at the
  values observed in the data, each with its frequency among the rows that have them
  observed (rows with the same observed part and the same ``csw`` first). Integrating it out
  over the model's equation instead would let it move with the named covariates (a contrast of
  ``discussion`` would carry the clinician's effect, inferred back from discussion), so the
  contrast would no longer be the effect of what it names. With every covariate held, a
  contrast of the path model is a *direct* effect.
* A setting can integrate a covariate out over the model's own equation, ``discussion=?``:
  that gives *total* effects. ``indirect = total - direct``, draw by draw.

``csw`` (the unit is led by a consultant social worker on the MLA programme; derived from the
data, see docs/architecture.md) is held at each row's own value unless a setting names it.

Contrast syntax
---------------
::

    contrast   := [label ":"] side "-" side
    side       := assignment | "{" assignment ("," assignment)* "}"
    assignment := column "=" value
    value      := level ("|" level)*      a level, or a mix of levels weighted as in the data
                | "?"                     integrated out over the model (pyramid model only)

``column`` is one of the model's covariates (``training``, ``discussion``, ``clinician``, and
``csw`` where the model uses it); levels are the schema's (``none, other, mla, programme``;
``non_systemic, green_shoots, systemic``; ``0, 1`` for ``clinician`` and ``csw``, also
``no``/``yes``). Spaces around tokens are ignored. Examples::

    training=programme - training=none
    CSW programme vs the rest: training=programme - training=none|other|mla
    {training=programme, discussion=systemic, clinician=1} - {training=none,
        discussion=non_systemic, clinician=0}
    clinician total: {clinician=1, discussion=?} - {clinician=0, discussion=?}

Savage-Dickey Bayes factors
---------------------------
``BF10 = p(delta = 0) / p(delta = 0 | data)``: the prior density of the contrast at 0 over its
posterior density at 0 (Dickey 1971; Wagenmakers et al. 2010). Both densities come from
draws: the prior draws a fit always stores (``result.idata["prior"]``, through
``expected_skill(..., group="prior")``) and the posterior draws, by a Gaussian kernel estimate
at 0 (:func:`savage_dickey`). Where fewer than ``SD_MIN_DRAWS`` effective posterior draws lie
within one bandwidth of 0, the draws cannot support a density estimate there; then ``bf10`` is
a lower bound (``bf10_bound = ">"``), from an upper bound on the posterior density at 0 that
holds for a unimodal posterior. For a
contrast that is a nonlinear function of the parameters (``domains``, total and indirect
effects) the ratio is the Bayes factor against the model restricted to ``delta = 0`` with the
other parameters' prior conditioned on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pyramid import defaults, prior_density
from pyramid.checks import check_prob
from pyramid.data import schema
from pyramid.effect_sizes import effect_size_columns
from pyramid.errors import InputError
from pyramid.formatting import bayes_factor, interval
from pyramid.models import generated
from pyramid.results import load

__all__ = [
    "compare",
    "Contrast",
    "compact",
    "default_contrasts",
    "parse_contrast",
    "savage_dickey",
    "SD_MIN_DRAWS",
    "COLUMNS_DOC",
]

#: Fewest effective posterior draws within one kernel bandwidth of 0 for the Savage-Dickey
#: density at 0 to be estimated; with fewer, the Bayes factor is reported as a lower bound.
#: With 20 the kernel estimate's relative error is about 17 % (see :func:`savage_dickey`).
SD_MIN_DRAWS = 20

#: Roughness of the Gaussian kernel, int K^2 = 1 / (2 sqrt(pi)): the variance of a kernel
#: density estimate at a point is about ``R_K f / (n h)``.
_R_K = 1.0 / (2.0 * math.sqrt(math.pi))

#: Windows tried for the bound on the posterior density at 0 (see :func:`savage_dickey`).
_SD_WINDOWS = 16

_BINARY_WORDS = {"0": 0, "1": 1, "no": 0, "yes": 1, "false": 0, "true": 1}

#: The columns of :func:`compare`'s table, in order, with what each holds.
COLUMNS_DOC: dict[str, str] = {
    "contrast": "what is compared, in words",
    "key": "short machine name (default contrasts: e.g. programme_vs_none; user contrasts: "
    "the label, else the definition)",
    "effect": "'direct' (covariates not named held at the rows' values), 'total' (a "
    "covariate integrated out over the model, '?') or 'indirect' (total - direct, draw by draw)",
    "definition": "the contrast in the contrast syntax (for an indirect effect: which total "
    "minus which direct)",
    "estimate": "posterior mean of the contrast (skill points, 1-5 scale)",
    "sd": "posterior standard deviation",
    "ci_lower": "lower bound of the equal-tailed ci_prob posterior interval",
    "ci_upper": "upper bound of that interval",
    "ci_prob": "probability of the interval",
    "p_direction": "probability of direction: max(P(delta > 0), P(delta < 0))",
    "direction": "'+' if P(delta > 0) >= P(delta < 0), else '-'; '' for a contrast that is "
    "0 by construction",
    "evidence_ratio": "odds of the direction: p_direction / (1 - p_direction), i.e. "
    "P(delta > 0) / P(delta < 0) for '+' and its inverse for '-' (always >= 1)",
    "evidence_ratio_bound": "'>' where no draw fell on the other side: evidence_ratio is then "
    "a lower bound, from a 95 % upper bound on the other side's probability; '' otherwise",
    "rope": "half-width of the region of practical equivalence (skill points)",
    "p_rope": "posterior probability that |delta| < rope",
    "bf10": "Savage-Dickey Bayes factor for a non-zero contrast against none: prior density "
    "of the contrast at 0 over its posterior density at 0; empty where it cannot be computed",
    "bf10_bound": "'>' where the posterior draws are too far from 0 to estimate its density "
    "there: bf10 is then a lower bound; '' otherwise",
    "log_bf10_se": "approximate Monte Carlo standard error of log(bf10) from the kernel "
    "density estimates (the posterior's, and the prior's where it is not exact; empty for a "
    "bound)",
    "bf10_prior": "how the prior density at 0 was found: 'exact' (closed form or quadrature: "
    "a contrast linear in the coefficients, or with a monotonic term) or 'kernel estimate' "
    "(from the prior draws, where the contrast has no closed form); '' without bf10",
    "bf10_note": "why bf10 is empty (e.g. not defined for a product of parameters) or a "
    "bound, or the kernel estimate's error ('' otherwise)",
    "es": "effect size in the Education Endowment Foundation's convention: posterior mean of "
    "the contrast over the total SD of skill in the unconditional model (intercept and group "
    "levels only) of the same rows (pyramid.effect_sizes); empty unless effect sizes were asked "
    "for",
    "es_lower": "lower bound of the effect size's ci_prob interval",
    "es_upper": "upper bound of the effect size's ci_prob interval",
    "es_p_gt_0": "posterior probability that the effect size exceeds 0",
    "es_p_gt_0.05": "posterior probability that the effect size exceeds 0.05",
    "es_p_gt_0.1": "posterior probability that the effect size exceeds 0.1",
    "es_p_gt_0.2": "posterior probability that the effect size exceeds 0.2",
    "ess": "bulk effective sample size of the contrast's posterior draws",
    "n_draws": "posterior draws (chains x draws)",
    "prior_draws": "prior draws used for the Savage-Dickey prior density",
    "model": "the fitted model's name",
    "priors": "the prior set's name",
    "note": "anything else a reader needs about the contrast",
}


# --------------------------------------------------------------------------------------------
# the covariates a contrast may set
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Covariate:
    name: str
    kind: str  # "levels", "binary" or "numeric"
    levels: tuple[str, ...] = ()
    integrable: bool = False  # the model integrates it out where missing ("?")
    spellings: tuple[tuple[str, str], ...] = ()  # (normalised spelling, level): the study's

    def level(self, text: str) -> str | None:
        """The level a spelling stands for (the study's spellings), or None."""
        from pyramid.study import normalise

        key = text.lower().replace(" ", "_")
        if key in self.levels:
            return key
        return dict(self.spellings).get(normalise(text))

    def allowed(self) -> str:
        if self.kind == "levels":
            vals = ", ".join(self.levels)
        elif self.kind == "binary":
            vals = "0, 1 (or no, yes)"
        else:
            vals = "a number"
        mix = " or a mix such as a|b" if self.kind != "numeric" else ""
        q = ", or ? (integrate out)" if self.integrable else ""
        return vals + mix + q


def _term_column(term: str) -> str:
    return term[3:-1] if term.startswith("mo(") else term


def _covariates(spec: Any) -> dict[str, _Covariate]:
    """The covariates of a model that a contrast may set, in the order the spec names them,
    with the levels of its study's factors (0/1 for binary factors and derived indicators)."""
    from pyramid.study import load_study

    study = load_study(getattr(spec, "study", None))
    terms = list(spec.terms)
    for part in (getattr(spec, "mediator", None), getattr(spec, "exposure", None)):
        if part is not None:
            terms += list(part.terms)
    marginalised = set(getattr(spec, "marginalised_columns", []) or [])
    out: dict[str, _Covariate] = {}
    # an interaction a:b sets its factors (a contrast names a and b, never a:b)
    cols = [c for t in terms for c in _term_column(t).split(":")]
    for col in dict.fromkeys(cols):
        f = study.factors.get(col)
        if col in study.derived or (f is not None and f.kind == "binary"):
            cov = _Covariate(col, "binary", integrable=col in marginalised)
        elif f is not None and f.kind in ("categorical", "ordered"):
            cov = _Covariate(col, "levels", tuple(f.levels), integrable=col in marginalised,
                             spellings=tuple(f.spellings.items()))
        else:
            cov = _Covariate(col, "numeric", integrable=col in marginalised)
        out[col] = cov
    return out


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Setting:
    """Column -> levels (a tuple; more than one = a mix) or ``None`` (integrated out)."""

    items: tuple[tuple[str, tuple[Any, ...] | None], ...]

    def get(self) -> dict[str, tuple[Any, ...] | None]:
        return dict(self.items)

    def text(self) -> str:
        parts = []
        for col, vals in self.items:
            v = "?" if vals is None else "|".join(str(x) for x in vals)
            parts.append(f"{col}={v}")
        return parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Contrast:
    """One contrast: ``a - b`` of two settings, or ``total - direct`` of two other contrasts.

    Attributes
    ----------
    label : str
        What is compared, in words.
    key : str
        Short machine name.
    effect : str
        ``direct``, ``total`` or ``indirect``.
    a, b : tuple or None
        The two settings (column, levels-or-None) pairs; ``None`` for an indirect effect.
    parts : tuple of str or None
        For an indirect effect, the keys of its total and direct contrasts.
    note : str
        Shown in the table's ``note`` column.
    """

    label: str
    key: str
    effect: str
    a: _Setting | None = None
    b: _Setting | None = None
    parts: tuple[str, str] | None = None
    note: str = ""

    @property
    def definition(self) -> str:
        if self.parts is not None:
            return f"{self.parts[0]} - {self.parts[1]}"
        return f"{self.a.text()} - {self.b.text()}"


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside braces."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _parse_value(cov: _Covariate, raw: str, where: str) -> tuple[Any, ...] | None:
    token = raw.strip()
    if token == "?":
        if not cov.integrable:
            raise InputError(
                f"{where}: '{cov.name}=?' (integrate out) is only possible for a covariate the "
                f"model integrates out where it is missing (the pyramid model's discussion and "
                f"clinician); for {cov.name!r} this model allows {cov.allowed()}"
            )
        return None
    vals: list[Any] = []
    for part in token.split("|"):
        p = part.strip()
        key = p.lower().replace(" ", "_")
        if cov.kind == "levels":
            v: Any = cov.level(p)
            if v is None:
                raise InputError(
                    f"{where}: unknown level {p!r} of {cov.name!r}; allowed: {cov.allowed()}"
                )
        elif cov.kind == "binary":
            if key not in _BINARY_WORDS:
                raise InputError(
                    f"{where}: {cov.name!r} must be {cov.allowed()}; got {p!r}"
                )
            v = _BINARY_WORDS[key]
        else:
            try:
                v = float(p)
            except ValueError:
                raise InputError(f"{where}: {cov.name!r} must be a number; got {p!r}") from None
            if not math.isfinite(v):
                raise InputError(f"{where}: {cov.name!r} must be a finite number; got {p!r}")
        if v in vals:
            raise InputError(f"{where}: level {p!r} of {cov.name!r} is named twice in {token!r}")
        vals.append(v)
    return tuple(vals)


def _parse_side(side: str, covs: Mapping[str, _Covariate], text: str) -> _Setting:
    s = side.strip()
    if not s:
        raise InputError(
            f"contrast {text!r}: a side of '-' is empty; write e.g. 'training=programme - "
            "training=none'"
        )
    braced = s.startswith("{")
    if braced:
        if not s.endswith("}"):
            raise InputError(f"contrast {text!r}: {s!r} opens '{{' but does not end with '}}'")
        s = s[1:-1]
        if not s.strip():
            raise InputError(f"contrast {text!r}: '{{}}' sets nothing; name at least one column")
    elif "{" in s or "}" in s:
        raise InputError(f"contrast {text!r}: misplaced brace in {s!r}; a side is "
                         "'column=value' or '{column=value, ...}'")
    items: dict[str, tuple[Any, ...] | None] = {}
    for token in s.split(","):
        tok = token.strip()
        if "=" not in tok:
            raise InputError(
                f"contrast {text!r}: bad token {tok!r}; expected column=value with column one "
                f"of {', '.join(covs)}"
            )
        col, _, val = tok.partition("=")
        col = col.strip()
        if col not in covs:
            raise InputError(
                f"contrast {text!r}: unknown column {col!r} in {tok!r}; this model's covariates "
                f"are {', '.join(covs)}"
            )
        if col in items:
            raise InputError(f"contrast {text!r}: column {col!r} is set twice on one side")
        if not val.strip():
            raise InputError(f"contrast {text!r}: {tok!r} has no value; allowed: "
                             f"{covs[col].allowed()}")
        items[col] = _parse_value(covs[col], val, f"contrast {text!r}")
    order = list(covs)
    return _Setting(tuple(sorted(items.items(), key=lambda kv: order.index(kv[0]))))


def parse_contrast(text: str, covariates: Mapping[str, Any] | Any) -> Contrast:
    """Parse one contrast written in the contrast syntax (see the module docstring).

    Parameters
    ----------
    text : str
        E.g. ``"training=programme - training=none"`` or ``"my label: {clinician=1,
        discussion=systemic} - {clinician=0, discussion=non_systemic}"``.
    covariates : ModelSpec or mapping
        The model spec (its covariates are what a contrast may set), or the mapping
        :func:`compare` builds from it.

    Returns
    -------
    Contrast

    Raises
    ------
    InputError
        Naming the bad token and what was allowed.

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> c = parse_contrast("programme: training=programme - training=none", load_spec("skill"))
    >>> c.label, c.definition, c.effect
    ('programme', 'training=programme - training=none', 'direct')
    >>> parse_contrast("training=prog - training=none", load_spec("skill"))
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: contrast 'training=prog - training=none': unknown level 'prog' of 'training'; allowed: none, other, mla, programme or a mix such as a|b
    """
    covs = covariates if isinstance(covariates, Mapping) else _covariates(covariates)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a contrast must be a non-empty string, got {text!r}")
    raw = text.strip()
    if raw.count("{") != raw.count("}"):
        raise InputError(f"contrast {raw!r}: unbalanced braces")
    depth = 0
    for ch in raw:
        depth += (ch == "{") - (ch == "}")
        if depth not in (0, 1):
            raise InputError(f"contrast {raw!r}: misplaced brace; a side is 'column=value' or "
                             "'{column=value, ...}', without nesting")
    label = ""
    body = raw
    if ":" in raw:
        label, _, body = raw.partition(":")
        label = label.strip()
        if not label:
            raise InputError(f"contrast {raw!r}: empty label before ':'")
    sides = _split_top(body, "-")
    if len(sides) != 2:
        raise InputError(
            f"contrast {raw!r}: needs exactly one '-' between two settings (outside braces), "
            f"found {len(sides) - 1}; e.g. 'training=programme - training=none'"
        )
    a = _parse_side(sides[0], covs, raw)
    b = _parse_side(sides[1], covs, raw)
    if a == b:
        raise InputError(f"contrast {raw!r}: the two sides are the same setting, so the "
                         "contrast is 0 by definition")
    integrates = any(v is None for s in (a, b) for _, v in s.items)
    body_text = f"{a.text()} - {b.text()}"
    return Contrast(label=label or body_text, key=label or body_text,
                    effect="total" if integrates else "direct", a=a, b=b)


# --------------------------------------------------------------------------------------------
# default contrasts
# --------------------------------------------------------------------------------------------
def _sd(items: dict[str, Any]) -> _Setting:
    return _Setting(tuple((k, v if v is None or isinstance(v, tuple) else (v,))
                          for k, v in items.items()))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def default_contrasts(spec: Any, data: pd.DataFrame | None = None
                      ) -> tuple[list[Contrast], list[str]]:
    """The default contrasts of a model, generated from its study's factors, in its words.

    For each factor of the study that is a covariate of the model, in the study's order:

    * categorical and ordered: each level against the reference level (with three levels,
      also the two others against each other), then each level of ``versus_rest`` against
      all the others as mixed in the data;
    * binary: 1 against 0; for a path model whose mediator is integrated out, its direct,
      indirect (through the mediator) and total effects;
    * numeric: ``scale`` units more against the centre (``centre`` + ``scale`` vs
      ``centre``; the data's mean when the centre is ``"mean"``);

    then, for a path model, each derived indicator's direct, indirect and total effects; then
    the study's ``[[contrasts]]``. A study factor among the model terms of the study
    (``[models] terms``) that the model lacks is noted as left out.

    Labels: ``"<contrast_prefix>: <level> vs <level>"`` with the factor's ``contrast_labels``
    (else ``labels``); keys ``<level>_vs_<level>`` (the factor's name first when another
    factor has a level of the same name), ``<factor>_yes_vs_no`` for binary factors.

    For RSW 2017 (the ``rsw2017`` study's factors, words and its ``[[contrasts]]``) these
    are the contrasts a reader of Part 4 asks for: each training level against none; the
    programme against every other level (weighted as in the data, the report's Table 14
    test); green shoots and systemic discussions against non-systemic, and systemic against
    green shoots; a clinician present against absent; the complete pyramid (trained CSW lead,
    systemic discussion, clinician) against none of it; and for a path model the direct,
    indirect (through discussion and clinician presence) and total effects of clinician
    presence and of a trained CSW lead (``csw``).

    Parameters
    ----------
    spec : ModelSpec
        The model (its study is ``spec.the_study``).
    data : pandas.DataFrame, optional
        The model's rows: the mean of a numeric factor centred at ``"mean"``.

    Returns
    -------
    contrasts : list of Contrast
    notes : list of str
        One line per contrast left out, and why.

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> cs, notes = default_contrasts(load_spec("pyramid"))
    >>> [c.key for c in cs][:4]
    ['other_vs_none', 'mla_vs_none', 'programme_vs_none', 'programme_vs_others']
    >>> [c.key for c in cs if c.effect != "direct"]
    ['clinician_indirect', 'clinician_total', 'csw_indirect', 'csw_total']
    """
    from pyramid.study import load_study

    study = load_study(getattr(spec, "study", None))
    covs = _covariates(spec)
    out: list[Contrast] = []
    notes: list[str] = []
    path = getattr(spec, "family", "") == "path"
    outcome_terms = [_term_column(t) for t in spec.terms]
    mediator = spec.mediator.outcome if getattr(spec, "mediator", None) is not None else None
    exposure = spec.exposure.outcome if getattr(spec, "exposure", None) is not None else None
    expected = [_term_column(t) for t in (study.model_terms or ())]
    level_owner: dict[str, list[str]] = {}
    for f in study.factors.values():
        for lv in f.levels if f.kind in ("categorical", "ordered") else ():
            level_owner.setdefault(lv, []).append(f.name)

    def key_of(f, lv: str) -> str:
        return f"{f.name}_{lv}" if len(level_owner.get(lv, [])) > 1 else lv

    def label(f, text: str) -> str:
        return f"{f.contrast_prefix}: {text}" if f.contrast_prefix else text

    for f in study.factors.values():
        cov = covs.get(f.name)
        if cov is None:
            if f.name in expected:
                what = "contrast" if f.kind in ("binary", "numeric") else "contrasts"
                notes.append(f"left out the {f.name} {what}: model {spec.name!r} has no term "
                             f"{f.name!r}")
            continue
        words = lambda lv, f=f: f.level_label(lv, "contrast")  # noqa: E731
        if f.kind in ("categorical", "ordered"):
            lv = f.ordered_levels
            ref = lv[0]
            pairs = [(hi, ref) for hi in lv[1:]]
            if len(lv) == 3:  # three levels: every pair (the later level first)
                lo, hi = sorted(lv[1:], key=f.levels.index)
                pairs.append((hi, lo))
            for hi, lo in pairs:
                out.append(Contrast(label(f, f"{words(hi)} vs {words(lo)}"),
                                    f"{key_of(f, hi)}_vs_{key_of(f, lo)}", "direct",
                                    _sd({f.name: hi}), _sd({f.name: lo})))
            for hi in f.versus_rest:
                rest = tuple(v for v in f.levels if v != hi)
                out.append(Contrast(label(f, f"{words(hi)} vs the rest (as mixed in the data)"),
                                    f"{key_of(f, hi)}_vs_others", "direct",
                                    _sd({f.name: hi}), _sd({f.name: rest})))
        elif f.kind == "binary":
            text = label(f, f"{words(1)} vs {words(0)}")
            key = f"{f.name}_yes_vs_no"
            if path and cov.integrable and mediator in covs and covs[mediator].integrable:
                out += [
                    Contrast(f"{text}: direct", key, "direct", _sd({f.name: 1}), _sd({f.name: 0})),
                    Contrast(f"{text}: indirect (via {mediator})", f"{f.name}_indirect",
                             "indirect", parts=(f"{f.name}_total", key)),
                    Contrast(f"{text}: total", f"{f.name}_total", "total",
                             _sd({f.name: 1, mediator: None}), _sd({f.name: 0, mediator: None})),
                ]
            else:
                out.append(Contrast(text, key, "direct", _sd({f.name: 1}), _sd({f.name: 0})))
        else:
            centre = f.centre
            if not isinstance(centre, int | float):
                centre = (float(pd.to_numeric(data[f.name], errors="coerce").mean())
                          if data is not None and f.name in data.columns else 0.0)
                if not math.isfinite(centre):
                    centre = 0.0
                centre = float(np.round(centre, 3))
            hi = centre + f.scale
            unit = f" {f.unit}" if f.unit else ""
            out.append(Contrast(label(f, f"{_fmt(f.scale)}{unit} more ({_fmt(hi)} vs "
                                         f"{_fmt(centre)})"),
                                f"{f.name}_plus_{_fmt(f.scale)}", "direct",
                                _sd({f.name: hi}), _sd({f.name: centre})))
    if path:
        for name, d in study.derived.items():
            if name not in covs:
                continue
            integrate = {c: None for c in (mediator, exposure)
                         if c is not None and c in covs and covs[c].integrable}
            via = ", ".join(c for c in (exposure, mediator) if c is not None and c in integrate)
            note = "" if name in outcome_terms else (
                f"{name} is not a term of the {spec.outcome} equation: its direct effect is 0 "
                f"by construction and all of it runs through "
                f"{' and '.join(study.label_of(c) if c == exposure else c for c in integrate)}")
            text = f"{d.label} vs not"
            out += [
                Contrast(f"{text}: direct", f"{name}_direct", "direct", _sd({name: 1}),
                         _sd({name: 0}), note=note),
                Contrast(f"{text}: indirect (via {via})", f"{name}_indirect", "indirect",
                         parts=(f"{name}_total", f"{name}_direct")),
                Contrast(f"{text}: total", f"{name}_total", "total",
                         _sd({name: 1, **integrate}), _sd({name: 0, **integrate})),
            ]
    out += _numeric_unit_sd_contrasts(spec, study, covs, data, label)
    out += _interaction_contrasts(spec, study, key_of, label)
    for c in study.contrasts:
        need = [col for col in c.a if col not in covs and col not in c.optional]
        if need:
            notes.append(f"left out {c.what}: model {spec.name!r} has no term "
                         f"{' or '.join(repr(x) for x in need)}")
            continue
        drop = [col for col in c.optional if col not in covs]
        a = {k: v for k, v in c.a.items() if k not in drop}
        b = {k: v for k, v in c.b.items() if k not in drop}
        note = c.note
        if drop and c.note_without:
            note = c.note_without.format(model=spec.name)
        elif any(col in covs and col not in outcome_terms for col in c.optional) \
                and c.note_not_in_outcome:
            note = c.note_not_in_outcome
        out.append(Contrast(c.label, c.key, "direct", _sd(a), _sd(b), note=note))
    return out, notes


def _centre_of(f, data: pd.DataFrame | None) -> float:
    """A numeric factor's centre: the study's number, or the mean of the model's rows."""
    if isinstance(f.centre, int | float):
        return float(f.centre)
    if data is not None and f.name in data.columns:
        c = float(pd.to_numeric(data[f.name], errors="coerce").mean())
        return float(np.round(c, 3)) if math.isfinite(c) else 0.0
    return 0.0


def _numeric_unit_sd_contrasts(spec: Any, study: Any, covs: Mapping[str, _Covariate],
                               data: pd.DataFrame | None, label) -> list[Contrast]:
    """A numeric factor's slope per unit (when its scale is not 1: the per-scale contrast
    is the generic one) and per SD of the model's rows (from a formula's model)."""
    if getattr(spec, "formula", None) is None:
        return []
    out = []
    for f in study.factors.values():
        if f.kind != "numeric" or f.name not in covs:
            continue
        centre = _centre_of(f, data)
        unit = f" {f.unit}" if f.unit else ""
        if f.scale != 1:
            out.append(Contrast(label(f, f"1 more ({_fmt(centre + 1)} vs {_fmt(centre)}{unit})"),
                                f"{f.name}_plus_1", "direct", _sd({f.name: centre + 1}),
                                _sd({f.name: centre})))
        if data is not None and f.name in data.columns:
            sd = float(pd.to_numeric(data[f.name], errors="coerce").std())
            if math.isfinite(sd) and sd > 0:
                sd = float(np.round(sd, 3))
                out.append(Contrast(
                    label(f, f"1 SD more ({_fmt(sd)}{unit}: {_fmt(centre + sd)} vs "
                             f"{_fmt(centre)})"),
                    f"{f.name}_plus_1sd", "direct", _sd({f.name: centre + sd}),
                    _sd({f.name: centre})))
    return out


def _interaction_contrasts(spec: Any, study: Any, key_of, label) -> list[Contrast]:
    """Difference-in-differences of each interaction of two categorical factors.

    The changing factor is the study's wave when the interaction has it (else the first):
    for each of the other factor's levels the change (``Signs of Safety: follow-up -
    baseline``), and for each level but the reference that change against the reference's
    (``Signs of Safety: follow-up - baseline, vs Usual``), in the study's words.
    """
    formula = getattr(spec, "formula", None)
    if formula is None:
        return []
    out: list[Contrast] = []
    seen: set[str] = set()
    for t in formula.fixed:
        cats = [c.name for c in t.components if c.kind == "categorical"]
        if t.kind != "interaction" or len(t.components) != 2 or len(cats) != 2:
            continue
        a, b = cats
        if study.wave == b:
            a, b = b, a
        fa, fb = study.factors[a], study.factors[b]
        ref_a, ref_b = fa.ordered_levels[0], fb.ordered_levels[0]

        def w(f, lv):
            return f.level_label(lv, "contrast")

        for la in fa.ordered_levels[1:]:
            change = f"{w(fa, la)} - {w(fa, ref_a)}"
            keys = {}
            for lb in fb.ordered_levels:
                key = f"{key_of(fa, la)}_vs_{key_of(fa, ref_a)}_at_{key_of(fb, lb)}"
                keys[lb] = key
                if key not in seen:
                    seen.add(key)
                    out.append(Contrast(f"{w(fb, lb)}: {change}", key, "direct",
                                        _sd({a: la, b: lb}), _sd({a: ref_a, b: lb})))
            for lb in fb.ordered_levels[1:]:
                key = (f"{key_of(fa, la)}_vs_{key_of(fa, ref_a)}_{key_of(fb, lb)}_vs_"
                       f"{key_of(fb, ref_b)}")
                if key in seen:
                    continue
                seen.add(key)
                out.append(Contrast(f"{w(fb, lb)}: {change}, vs {w(fb, ref_b)}", key, "direct",
                                    parts=(keys[lb], keys[ref_b]),
                                    note=f"difference in differences ({t.name})"))
    return out


# --------------------------------------------------------------------------------------------
# evaluating settings: marginal standardisation over the model's rows
# --------------------------------------------------------------------------------------------
class _Evaluator:
    """Per-draw expected skill of a setting, averaged over the model's rows (cached)."""

    def __init__(self, result: Any, covs: Mapping[str, _Covariate]):
        self.result = result
        self.covs = covs
        data = result.data.reset_index(drop=True)
        if len(data) == 0:
            raise InputError("the fitted result has no data rows to average over")
        pop = pd.DataFrame(index=range(len(data)))
        study = result.spec.the_study
        for col in covs:
            if col in study.derived:
                continue
            if col not in data.columns:
                raise InputError(f"the fitted result's data have no column {col!r}, which "
                                 f"model {result.spec.name!r} uses")
            pop[col] = data[col].astype(object).where(data[col].notna(), None)
        for col in covs:
            if col in study.derived:
                pop[col] = (schema.derive_csw(data) if study.is_default() and col == "csw"
                            else study.derive(col, data)).astype(int)
        pop["_w"] = 1.0 / len(pop)
        self.derived = [c for c in covs if c in study.derived]  # csw: matched when holding
        self.pop = pop
        self.dtypes = {c: data[c].dtype for c in covs if c in data.columns}
        self._cache: dict[tuple, np.ndarray] = {}
        self._held: dict[frozenset, pd.DataFrame] = {}

    # ---- rows whose unnamed, integrable covariates are missing: hold them at observed values
    def held(self, unnamed: frozenset) -> pd.DataFrame:
        if unnamed in self._held:
            return self._held[unnamed]
        pop = self.pop
        cols = [c for c in self.covs if c in unnamed and self.covs[c].integrable]
        miss = pop[cols].isna().any(axis=1) if cols else pd.Series(False, index=pop.index)
        if not miss.any():
            self._held[unnamed] = pop
            return pop
        complete = pop.loc[~miss]
        if complete.empty:
            raise InputError(
                f"no row of the model's data has {' and '.join(cols)} observed, so a contrast "
                f"cannot hold {'them' if len(cols) > 1 else 'it'} at observed values: name "
                f"{'them' if len(cols) > 1 else 'it'} in the contrast (a level, or ? to "
                "integrate out)"
            )
        pieces = [pop.loc[~miss]]
        inc = pop.loc[miss]
        keys = [c for c in cols] + self.derived
        pattern = inc[keys].astype(object).where(inc[keys].notna(), "\0NA")
        for _, grp in inc.groupby([pattern[k] for k in keys], sort=False, dropna=False):
            first = grp.iloc[0]
            observed = [c for c in cols if first[c] is not None and not pd.isna(first[c])]
            absent = [c for c in cols if c not in observed]
            cand = complete
            for c in observed:
                cand = cand[cand[c] == first[c]]
            for d in self.derived:
                if len(cand[cand[d] == first[d]]):
                    cand = cand[cand[d] == first[d]]
            if cand.empty:  # the observed part never occurs complete: use the columns' margins
                cand = complete
            freq = cand.groupby(absent, sort=True).size()
            freq = freq / freq.sum()
            combos = freq.index.to_frame(index=False)
            rep = grp.loc[grp.index.repeat(len(combos))].reset_index(drop=True)
            tiled = pd.concat([combos] * len(grp), ignore_index=True)
            for c in absent:
                rep[c] = tiled[c].to_numpy()
            rep["_w"] = rep["_w"].to_numpy() * np.tile(freq.to_numpy(), len(grp))
            pieces.append(rep)
        out = pd.concat(pieces, ignore_index=True)
        self._held[unnamed] = out
        return out

    def frame(self, setting: _Setting) -> pd.DataFrame:
        named = setting.get()
        base = self.held(frozenset(c for c in self.covs if c not in named))
        frame = base.copy()
        for col, vals in named.items():
            if vals is None:
                frame[col] = None
            elif len(vals) == 1:
                frame[col] = vals[0]
            else:
                counts = self.pop[col].value_counts()
                w = np.array([float(counts.get(v, 0)) for v in vals])
                w = w / w.sum() if w.sum() > 0 else np.full(len(vals), 1.0 / len(vals))
                parts = []
                for v, wv in zip(vals, w, strict=True):
                    p = frame.copy()
                    p[col] = v
                    p["_w"] = p["_w"] * wv
                    parts.append(p)
                frame = pd.concat(parts, ignore_index=True)
        return frame

    def newdata(self, frame: pd.DataFrame) -> pd.DataFrame:
        nd = pd.DataFrame(index=frame.index)
        for col, cov in self.covs.items():
            vals = frame[col]
            if cov.kind == "levels":
                nd[col] = pd.Categorical(vals.where(vals.notna(), None), categories=cov.levels,
                                         ordered=True)
            elif cov.kind == "binary":
                nd[col] = pd.array(pd.to_numeric(vals, errors="coerce"), dtype="Float64").astype(
                    "Int8")
            else:
                nd[col] = pd.to_numeric(vals, errors="coerce").astype(float)
        return nd

    def _collapse(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per distinct covariate setting, weights summed: the average is linear in
        the weights, and expected_skill's cost grows with the rows (72 rows of the reference
        data held and mixed become a few hundred, but only a few dozen distinct settings)."""
        cols = list(self.covs)
        keys = frame[cols].astype(object).where(frame[cols].notna(), "\0NA")
        weights = frame["_w"].groupby([keys[c] for c in cols], sort=False).sum()
        out = weights.index.to_frame(index=False)
        out.columns = cols
        out = out.astype(object).where(out != "\0NA", None)
        out["_w"] = weights.to_numpy()
        return out

    def mean_at(self, setting: _Setting, draws: dict[str, np.ndarray]) -> np.ndarray:
        """The row-averaged expected skill of ``setting`` at chosen parameter values (stacked
        draws, sample axis first), from the model's own formula
        (:func:`pyramid.models.generated.expected_skill`): how :func:`compare` reads the
        structure of a contrast (which coefficients it is linear in, which ones it vanishes
        with)."""
        key = ("frame", setting)
        if key not in self._cache:
            self._cache[key] = self._collapse(self.frame(setting))
        frame = self._cache[key]
        values = generated.expected_skill(
            self.result.spec, draws, self.newdata(frame), groups=list(self.result.groups_kept),
            domains=list(self.result.info.get("domains", [])),
            occasion=generated.occasion_level(self.result.data, self.result.groups_kept))
        return values @ frame["_w"].to_numpy()

    def mean(self, setting: _Setting, group: str) -> np.ndarray:
        """(chain, draw) draws of the row-averaged expected skill of ``setting``."""
        key = (setting, group)
        if key not in self._cache:
            frame = self._collapse(self.frame(setting))
            draws = self.result.expected_skill(self.newdata(frame), group=group)
            arr = np.asarray(draws.transpose("chain", "draw", "row").values, dtype=float)
            if arr.shape[-1] != len(frame):
                raise InputError(f"expected_skill returned {arr.shape[-1]} rows for "
                                 f"{len(frame)} rows of newdata")
            self._cache[key] = arr @ frame["_w"].to_numpy()
        return self._cache[key]


# --------------------------------------------------------------------------------------------
# summaries of draws
# --------------------------------------------------------------------------------------------
def _ess(draws: np.ndarray) -> float:
    import arviz as az

    if draws.ndim != 2 or draws.shape[1] < 4 or not np.isfinite(draws).all():
        return float(draws.size)
    return float(az.ess(draws, method="bulk"))


def _bandwidth(x: np.ndarray, n_eff: float) -> float:
    sd = float(np.std(x, ddof=1))
    iqr = float(np.subtract(*np.percentile(x, [75, 25])))
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    return 0.9 * spread * max(n_eff, 2.0) ** (-0.2)


def savage_dickey(
    posterior: np.ndarray, prior: np.ndarray | None, *, ess: float | None = None,
    min_draws: int = SD_MIN_DRAWS, prior_density: float | None = None,
) -> dict[str, Any]:
    """Savage-Dickey Bayes factor ``BF10 = p(0) / p(0 | data)`` of a contrast from draws.

    The prior density at 0 is ``prior_density`` where it is known (:class:`_Structure` gives it
    exactly for contrasts linear in the coefficients and for monotonic ones; ``inf`` where it is
    infinite, and then there is no Bayes factor), else a kernel estimate from the prior draws.
    A density at 0 from draws is a Gaussian kernel estimate, ``f(0) = mean(phi(x / h)) / h``, with
    Silverman's bandwidth ``h = 0.9 min(sd, IQR / 1.34) n^(-1/5)`` (``n``: the effective
    sample size for the posterior). Written out rather than taken from
    :class:`scipy.stats.gaussian_kde` because only one point is needed, and the bandwidth and
    the effective number of draws near 0 are needed for the error and the bound. The
    relative error of such an estimate is about ``sqrt(R_K / (n h f))`` with ``R_K = 1 / (2
    sqrt(pi))``; ``log_bf10_se`` combines the two.

    Where fewer than ``min_draws`` effective posterior draws lie within ``h`` of 0, the
    posterior density at 0 is not estimated: 0 lies in a tail. If the posterior is unimodal,
    its density rises from 0 to the mode, which lies within ``sqrt(3)`` SD of the mean
    (Johnson and Rogers 1951), so ``f(0) <= P(0 < x < w) / w`` for every window ``w`` up to
    ``|mean| - sqrt(3) sd`` on the mean's side. One-sided Clopper-Pearson upper limits on
    those probabilities (from the effective number of draws, 95 % jointly over 16 windows)
    give an upper bound on ``f(0)`` and so a lower bound on ``BF10`` (``bound = ">"``). The
    bound grows with the number of draws: it says what the draws can support, not the Bayes
    factor.

    Parameters
    ----------
    posterior : numpy.ndarray
        Posterior draws of the contrast, (chain, draw) or flat.
    prior : numpy.ndarray or None
        Prior draws of the same contrast (not needed where ``prior_density`` is given).
    ess : float, optional
        Effective sample size of the posterior draws (default: arviz's bulk ESS for 2-D
        input, else the number of draws).
    min_draws : int, default SD_MIN_DRAWS
        Fewest effective posterior draws within one bandwidth of 0 for an estimate.
    prior_density : float, optional
        The contrast's prior density at 0 where known (``inf``: infinite, no Bayes factor);
        ``None`` or NaN: a kernel estimate from ``prior``.

    Returns
    -------
    dict
        ``bf10`` (float, NaN if not computable), ``bound`` (``""`` or ``">"``),
        ``log_se`` (float), ``note`` (str: why empty or a bound, or the kernel estimate's
        error), ``prior_density``, ``prior_source`` (``"exact"``, ``"kernel estimate"`` or
        ``""``), ``posterior_density`` (the estimate, or its upper bound).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> prior = rng.normal(0, 1, 4000)
    >>> post = rng.normal(1.0, 0.5, (2, 2000))
    >>> exact = stats.norm.pdf(0, 0, 1) / stats.norm.pdf(0, 1.0, 0.5)
    >>> res = savage_dickey(post, prior)
    >>> bool(abs(np.log(res["bf10"] / exact)) < 0.15), res["bound"]
    (True, '')
    >>> savage_dickey(rng.normal(5.0, 0.5, (2, 2000)), prior)["bound"]
    '>'

    With the prior density at 0 known, only the posterior's is estimated:

    >>> res = savage_dickey(post, None, prior_density=stats.norm.pdf(0, 0, 1))
    >>> bool(abs(np.log(res["bf10"] / exact)) < 0.15), res["prior_source"]
    (True, 'exact')
    """
    post = np.asarray(posterior, dtype=float)
    known = prior_density is not None and not math.isnan(prior_density)
    pri = np.asarray(prior if prior is not None else [], dtype=float).ravel()
    out: dict[str, Any] = {"bf10": np.nan, "bound": "", "log_se": np.nan, "note": "",
                           "prior_density": np.nan, "prior_source": "",
                           "posterior_density": np.nan}
    if known and math.isinf(prior_density):
        out["note"] = "not defined: the contrast's prior density at 0 is infinite"
        return out
    if not known and (pri.size < 10 or not np.isfinite(pri).all()):
        out["note"] = ("the result has no usable prior draws of the contrast (a proper prior "
                       "is needed, and fit() stores its draws)")
        return out
    if not np.isfinite(post).all():
        out["note"] = "non-finite posterior draws"
        return out
    n_eff = float(ess) if ess is not None else (_ess(post) if post.ndim == 2 else post.size)
    flat = post.ravel()
    n_eff = max(min(n_eff, flat.size), 2.0)
    # prior density at 0
    if known:
        f0 = float(prior_density)
        prior_var = 0.0
        out.update(prior_density=f0, prior_source="exact")
        if not f0 > 0:
            out["note"] = "the contrast's prior density at 0 is 0: no Bayes factor"
            return out
    else:
        if np.std(pri) == 0:
            out["note"] = "the contrast's prior is a point mass: no Bayes factor"
            return out
        h0 = _bandwidth(pri, pri.size)
        f0 = float(stats.norm.pdf(pri / h0).mean() / h0)
        k0 = int((np.abs(pri) < h0).sum())
        out.update(prior_density=f0, prior_source="kernel estimate")
        if k0 < min_draws:
            out["note"] = (f"the prior puts too little mass near 0 ({k0} of {pri.size} prior "
                           f"draws within {h0:.3g} of 0) to estimate its density there")
            return out
        prior_var = _R_K / (pri.size * h0 * f0)
    # posterior density at 0
    h1 = _bandwidth(flat, n_eff)
    if not h1 > 0:
        out["note"] = "the contrast's posterior is a point mass: no Bayes factor"
        return out
    k1 = int((np.abs(flat) < h1).sum())
    k1_eff = k1 * n_eff / flat.size
    if k1_eff < min_draws:
        # 0 lies in a tail. A unimodal density rises from 0 to its mode, which lies within
        # sqrt(3) SD of the mean (Johnson & Rogers 1951), so for any w up to |mean| - sqrt(3)
        # SD, f(0) <= P(0 < x < w) / w on the mean's side. Each window's probability gets a
        # one-sided Clopper-Pearson upper limit from the effective number of draws in it, at
        # 95 % jointly over the windows tried (Bonferroni), and the smallest bound is kept.
        mean, sd = float(flat.mean()), float(flat.std(ddof=1))
        w_max = max(h1, abs(mean) - math.sqrt(3.0) * sd)
        windows = np.geomspace(h1, w_max, _SD_WINDOWS) if w_max > h1 else np.array([h1])
        side = flat * np.sign(mean)
        k = np.array([int(((side > 0) & (side < w)).sum()) for w in windows])
        k_eff = k * n_eff / flat.size
        level = 1.0 - 0.05 / len(windows)
        p_up = stats.beta.ppf(level, k_eff + 1.0, np.maximum(n_eff - k_eff, 1e-9))
        best = int(np.argmin(p_up / windows))
        f1_up = float(p_up[best] / windows[best])
        out.update(bf10=f0 / f1_up, bound=">", posterior_density=f1_up, note=(
            f"lower bound: only {k1} of {flat.size} posterior draws (about {k1_eff:.0f} "
            f"effective) lie within {h1:.3g} of 0, too few to estimate the density there; "
            f"the bound takes the posterior as unimodal ({k[best]} draws between 0 and "
            f"{np.sign(mean) * windows[best]:.3g}); more draws give a higher bound"))
        return out
    f1 = float(stats.norm.pdf(flat / h1).mean() / h1)
    out["posterior_density"] = f1
    out["bf10"] = f0 / f1
    out["log_se"] = math.sqrt(prior_var + _R_K / (n_eff * h1 * f1))
    if not known:
        out["note"] = (f"the prior density at 0 is a kernel estimate from {pri.size} prior "
                       f"draws (relative error about {math.sqrt(prior_var):.0%}; no closed "
                       "form for this contrast)")
    return out


# --------------------------------------------------------------------------------------------
# the prior density of a contrast at 0, read from the contrast's structure
# --------------------------------------------------------------------------------------------
#: Prior draws used to find the parameters a contrast vanishes with (see :class:`_Structure`).
_FACTOR_DRAWS = 64


class _Structure:
    """The prior density at 0 of each contrast of one fitted result, from its structure.

    A contrast of the Gaussian models with every covariate held is linear in the skill
    equation's coefficients, plus ``b * sum_j zeta_j m_j`` for a monotonic term: evaluating it
    (the model's own :func:`pyramid.models.generated.expected_skill`) with one coefficient at 1
    and the others at 0 reads its weights, and two random points check that it is linear. Its
    prior density at 0 is then exact (:mod:`pyramid.prior_density`). Any other contrast (the
    ``domains`` model's, total and indirect effects) is evaluated on prior draws with one
    parameter set to 0 at a time: if it vanishes with two independent parameters whose prior
    densities are positive at 0 (two coefficients, or a coefficient and a step of a
    Dirichlet(a <= 1) simplex), it is a product near 0 and its prior density there is
    infinite, so it has no Savage-Dickey Bayes factor. Otherwise the density comes from a
    kernel estimate of the prior draws.
    """

    def __init__(self, result: Any, ev: _Evaluator, by_key: Mapping[str, Contrast]):
        self.result, self.ev, self.by_key = result, ev, by_key
        self.ok = all(hasattr(result, a) for a in ("info", "priors", "idata", "groups_kept"))
        if self.ok:
            try:
                self.coefs = {k: (v[0], dict(v[1])) for k, v in
                              _json_coefs(result.info.get("coefs", "{}")).items()}
                post = result.idata["posterior"].to_dataset()
                self.coords = {d: [str(x) for x in post[d].values] for d in post.dims}
                self.base = self._stack(post.isel(chain=[0], draw=[0]))
            except (KeyError, ValueError, TypeError, IndexError):
                self.ok = False

    @staticmethod
    def _stack(ds: Any) -> dict[str, np.ndarray]:
        return generated.stack_draws(ds)[0]

    def delta(self, c: Contrast, draws: dict[str, np.ndarray]) -> np.ndarray:
        if c.parts is not None:
            total, direct = (self.by_key[k] for k in c.parts)
            return self.delta(total, draws) - self.delta(direct, draws)
        return self.ev.mean_at(c.a, draws) - self.ev.mean_at(c.b, draws)

    def _index(self, var: str, sel: dict) -> tuple[int, ...]:
        return tuple(self.coords[d].index(str(lab)) for d, lab in sel.items())

    def at_zero(self, c: Contrast, prior_draws: Any | None) -> tuple[float, str]:
        """(density, note): the prior density of ``c`` at 0 where its structure gives it
        (``inf``, with the reason, where it is infinite); ``nan`` where a kernel estimate
        of the prior draws has to do."""
        if not self.ok:
            return math.nan, ""
        try:
            linear = self._linear(c)
            if linear is not None:
                return linear
            if prior_draws is not None:
                return self._factors(c, prior_draws)
        except (KeyError, ValueError, IndexError, InputError):
            pass
        return math.nan, ""

    # ---- contrasts linear in the skill equation's coefficients (+ one monotonic term)
    def _linear(self, c: Contrast) -> tuple[float, str] | None:
        spec = self.result.spec
        if spec.family not in ("gaussian", "path") or c.parts is not None:
            return None
        if any(v is None for s_ in (c.a, c.b) for _, v in s_.items):
            return None  # integrated out: a total effect, not linear
        priors = self.result.priors
        slots, mo = [], {}
        for name, (var, sel) in self.coefs.items():
            if var == "intercept":
                slots.append((name, var, (), priors.get("intercept", coef="intercept")))
            elif var.startswith("b_") and f"zeta_{var[2:]}" in self.base:
                mo[var] = (name, f"zeta_{var[2:]}", priors.get("b_mo", coef=name))
            elif var.startswith("b_"):
                slots.append((name, var, self._index(var, sel), priors.get("b", coef=name)))
        probes: list[dict[str, np.ndarray]] = []

        def probe(values: dict, mo_values: dict) -> None:
            d = {k: v.copy() for k, v in self.base.items()}
            for _, var, idx, _ in slots:
                d[var][(0, *idx)] = values.get((var, idx), 0.0)
            for var, (_, zname, _) in mo.items():
                b, zeta = mo_values.get(var, (0.0, None))
                d[var][0] = b
                d[zname][0] = zeta if zeta is not None else 1.0 / d[zname].shape[1]
            probes.append(d)

        probe({}, {})
        for _, var, idx, _ in slots:
            probe({(var, idx): 1.0}, {})
        steps = {var: self.base[z].shape[1] for var, (_, z, _) in mo.items()}
        for var, n_steps in steps.items():
            for j in range(n_steps):
                probe({}, {var: (1.0, np.eye(n_steps)[j])})
        rng = np.random.default_rng(0)
        checks = []
        for _ in range(2):
            vals = {(var, idx): float(rng.normal()) for _, var, idx, _ in slots}
            mvals = {var: (float(rng.normal()), rng.dirichlet(np.ones(n))) for var, n in
                     steps.items()}
            checks.append((vals, mvals))
            probe(vals, mvals)
        draws = {k: np.concatenate([p_[k] for p_ in probes]) for k in self.base}
        delta = self.delta(c, draws)
        c0 = float(delta[0])
        weights = delta[1:1 + len(slots)] - c0
        pos = 1 + len(slots)
        m = {}
        for var, n_steps in steps.items():
            m[var] = delta[pos:pos + n_steps] - c0
            pos += n_steps
        scale = 1.0 + float(np.abs(delta).max())
        for k, (vals, mvals) in enumerate(checks):
            pred = c0 + sum(w * vals[(var, idx)] for w, (_, var, idx, _) in
                            zip(weights, slots, strict=True))
            pred += sum(b * float(zeta @ m[var]) for var, (b, zeta) in mvals.items())
            if abs(pred - delta[pos + k]) > 1e-9 * scale:
                return None  # not linear in the coefficients
        terms = [(prior, float(w)) for w, (_, _, _, prior) in zip(weights, slots, strict=True)
                 if abs(w) > 1e-12 * scale]
        uneven = []
        for var, mv in m.items():
            if np.ptp(mv) <= 1e-12 * scale:
                if abs(mv[0]) > 1e-12 * scale:
                    terms.append((mo[var][2], float(mv[0])))  # sum(zeta) = 1: linear in b
            else:
                uneven.append(var)
        if not terms and not uneven:
            return None  # constant: no Bayes factor (said by _summarise)
        if not uneven:
            return prior_density.linear_density(terms, -c0), ""
        if len(uneven) > 1 or len(m[uneven[0]]) != 2:
            return None
        var = uneven[0]
        a = float(priors.get("zeta").params["a"])
        dens = prior_density.monotonic_density(terms, mo[var][2], a, list(m[var]), -c0)
        if math.isinf(dens):
            name = mo[var][0]
            factors = f"{var} and zeta_{name}"
            return dens, _undefined_note(factors, f"zeta_{name} ~ Dirichlet({a:g}) puts "
                                         "density on 0")
        return dens, ""

    # ---- any other contrast: does it vanish with two independent parameters?
    def _factors(self, c: Contrast, prior_ds: Any) -> tuple[float, str]:
        n = min(_FACTOR_DRAWS, prior_ds.sizes["draw"])
        draws = self._stack(prior_ds.isel(chain=[0], draw=slice(0, n)))
        ref = self.delta(c, draws)
        scale = float(np.abs(ref).max())
        if not np.isfinite(scale) or scale == 0.0:
            return math.nan, ""
        found: list[str] = []
        for var, sel in self.coefs.values():
            if var == "intercept" or "cutpoints" in var or var not in draws:
                continue
            d = {k: v.copy() for k, v in draws.items()}
            d[var][(slice(None), *self._index(var, sel))] = 0.0
            if float(np.abs(self.delta(c, d)).max()) <= 1e-12 * scale:
                found.append(var + (f"[{','.join(str(v) for v in sel.values())}]" if sel
                                    else ""))
        a = float(self.result.priors.get("zeta").params["a"])
        for zname in [k for k in draws if k.startswith("zeta_")] if a <= 1.0 else []:
            for j, lab in enumerate(self.coords.get(f"{zname[5:]}_step", [])):
                d = {k: v.copy() for k, v in draws.items()}
                z = d[zname]
                z[:, j] = 0.0
                rest = z.sum(axis=1, keepdims=True)
                d[zname] = np.where(rest > 0, z / np.where(rest > 0, rest, 1.0), z)
                if float(np.abs(self.delta(c, d)).max()) <= 1e-12 * scale:
                    found.append(f"{zname}[{lab}]")
                    break  # the steps of one simplex are not independent
        if len(found) >= 2:
            return math.inf, _undefined_note(" and ".join(found[:3]),
                                             "each has prior density at 0")
        return math.nan, ""


def _json_coefs(raw: Any) -> dict:
    import json

    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def _undefined_note(factors: str, why: str) -> str:
    return (f"not defined: the contrast vanishes with each of {factors} ({why}), so near 0 it "
            "is a product of independent parameters and its prior density at 0 is infinite; "
            "a Savage-Dickey ratio of densities at 0 has no value (a kernel estimate grows "
            "with the number of prior draws). p_rope and p_direction still apply")


def _constant(mean: float, sd: float) -> bool:
    """Whether a contrast's draws are one value (the contrast is fixed by construction)."""
    return sd <= 1e-12 * max(1.0, abs(mean))


def _summarise(c: Contrast, post: np.ndarray, prior: np.ndarray | None, *, rope: float,
               ci_prob: float, prior_note: str,
               at_zero: tuple[float, str] = (math.nan, "")) -> dict[str, Any]:
    flat = post.ravel()
    n = flat.size
    mean = float(flat.mean())
    sd = float(flat.std(ddof=1)) if n > 1 else 0.0
    lo, hi = np.quantile(flat, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    row: dict[str, Any] = {
        "contrast": c.label, "key": c.key, "effect": c.effect, "definition": c.definition,
        "estimate": mean, "sd": sd, "ci_lower": float(lo), "ci_upper": float(hi),
        "ci_prob": ci_prob, "rope": rope, "p_rope": float((np.abs(flat) < rope).mean()),
        "n_draws": n, "note": c.note,
    }
    constant = _constant(mean, sd)
    ess = float("nan") if constant else _ess(post)
    row["ess"] = ess
    if constant:
        row.update(p_direction=np.nan, direction="", evidence_ratio=np.nan,
                   evidence_ratio_bound="", bf10=np.nan, bf10_bound="", log_bf10_se=np.nan,
                   bf10_prior="", bf10_note=f"the contrast is {mean:.3g} by construction in "
                   "this model: nothing to test")
        return row
    p_pos = float((flat > 0).mean())
    p_neg = float((flat < 0).mean())
    direction = "+" if p_pos >= p_neg else "-"
    pd_ = max(p_pos, p_neg)
    row["p_direction"] = pd_
    row["direction"] = direction
    other = 1.0 - pd_
    if other <= 0:
        # no draw on the other side: a 95 % upper bound on its probability (rule of three)
        up = 1.0 - 0.05 ** (1.0 / max(ess, 1.0))
        row.update(evidence_ratio=(1.0 - up) / up, evidence_ratio_bound=">")
    else:
        row.update(evidence_ratio=pd_ / other, evidence_ratio_bound="")
    density, why = at_zero
    if math.isinf(density):
        row.update(bf10=np.nan, bf10_bound="", log_bf10_se=np.nan, bf10_prior="",
                   bf10_note=why)
    elif prior is None and math.isnan(density):
        row.update(bf10=np.nan, bf10_bound="", log_bf10_se=np.nan, bf10_prior="",
                   bf10_note=prior_note)
    else:
        sd_res = savage_dickey(post, prior, ess=ess, prior_density=density)
        row.update(bf10=sd_res["bf10"], bf10_bound=sd_res["bound"],
                   log_bf10_se=sd_res["log_se"], bf10_prior=sd_res["prior_source"],
                   bf10_note=sd_res["note"])
    return row


def _absent_levels(ev: _Evaluator, c: Contrast) -> str:
    """A note where a setting of ``c`` names only levels no row of the data has: the contrast
    then shows the prior for them (what the HTML report says of such levels)."""
    if c.parts is not None:
        return ""
    out = []
    for setting in (c.a, c.b):
        for col, vals in setting.items:
            if vals is None or col not in ev.pop.columns or ev.covs[col].kind == "numeric":
                continue
            seen = set(ev.pop[col].dropna().astype(str))
            if not any(str(v) in seen for v in vals):
                text = f"{col}={'|'.join(str(v) for v in vals)}"
                if text not in out:
                    out.append(text)
    if not out:
        return ""
    return (f"{', '.join(out)}: no row of the data has {'it' if len(out) == 1 else 'them'}, "
            "so this contrast shows the prior there, not evidence from the data")


# --------------------------------------------------------------------------------------------
# the public function
# --------------------------------------------------------------------------------------------
def _check_rope(rope: Any) -> float:
    # a ROPE is a half-width in skill points; wider than one point (a quarter of the 1-5
    # scale) it would call almost any effect negligible, so the same [0, 1] check as a
    # probability applies (pyramid.checks.check_prob, the one place arguments are checked)
    return check_prob("rope", rope, closed_low=True)


def _as_result(result: Any) -> Any:
    if isinstance(result, str | Path):
        return load(result)
    missing = [a for a in ("expected_skill", "spec", "data") if not hasattr(result, a)]
    if missing:
        raise InputError(
            f"result must be a fitted result (pyramid.fit() or pyramid.load()) or the path of "
            f"a results file; got {type(result).__name__} without {', '.join(missing)}"
        )
    return result


def _prior_available(result: Any) -> tuple[bool, str]:
    idata = getattr(result, "idata", None)
    children = getattr(idata, "children", {}) if idata is not None else {}
    if "prior" not in children:
        return False, ("the result has no prior draws (fit() stores them; a result without "
                       "them cannot give a Savage-Dickey Bayes factor)")
    return True, ""


def compare(
    result: Any,
    contrasts: str | Sequence[str] | None = None,
    rope: float = 0.1,
    ci_prob: float | None = None,
    effect_sizes: bool | Any = False,
) -> pd.DataFrame:
    """Posterior contrasts on the skill scale: the Bayesian replacement of the report's t-tests.

    Parameters
    ----------
    result : FitResult or str or Path
        A fitted result (:func:`pyramid.fit`, :func:`pyramid.load`) or a results file. Only
        its ``expected_skill(newdata, group=)``, ``spec``, ``data`` and prior draws are used.
    contrasts : str or list of str, optional
        Contrasts in the contrast syntax (module docstring), e.g.
        ``"training=programme - training=none"`` or ``"label: {clinician=1,
        discussion=systemic} - {clinician=0, discussion=non_systemic}"``. The word
        ``"default"`` in the list stands for the default contrasts. ``None`` (default): the
        default contrasts (:func:`default_contrasts`): each training level against none, the
        programme against the rest, the discussion levels against each other, clinician
        present against absent, the complete pyramid against none of it, and for the path
        model the direct, indirect and total effects of clinician presence and of a trained
        CSW lead. Contrasts whose covariates the model lacks are left out with a note in
        ``attrs["notes"]``.
    rope : float, default 0.1
        Half-width of the region of practical equivalence, in skill points, in [0, 1].
    ci_prob : float, optional
        Probability of the equal-tailed posterior intervals, in (0, 1]; ``None``: the
        default, :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).
    effect_sizes : bool or FitResult, default False
        Fill the effect-size columns (``es`` ...) in the Education Endowment Foundation's
        convention (:mod:`pyramid.effect_sizes`): ``True`` fits the unconditional model of the
        result's rows (overall skill on an intercept and the group levels, seconds) with
        :func:`pyramid.effect_sizes.unadjusted_fit`; or pass that fit. ``False``: the columns
        stay empty.

    Returns
    -------
    pandas.DataFrame
        One row per contrast, with the columns below (also in :data:`COLUMNS_DOC`). A
        contrast ``A - B`` is the expected skill (group effects at zero) under setting A minus
        that under B, each averaged over the rows the model used with every covariate not
        named held at the row's value (marginal standardisation; see the module docstring).

        ==================== ================================================================
        contrast             what is compared, in words
        key                  short machine name (default contrasts: ``programme_vs_none``,
                             ``clinician_total``, ...; user contrasts: the label, else the
                             definition)
        effect               ``direct`` (covariates not named held), ``total`` (a covariate
                             integrated out over the model, ``?``) or ``indirect``
                             (total - direct, draw by draw)
        definition           the contrast in the contrast syntax (indirect: ``TOTAL -
                             DIRECT`` keys)
        estimate             posterior mean (skill points, 1-5 scale)
        sd                   posterior standard deviation
        ci_lower, ci_upper   equal-tailed ``ci_prob`` posterior interval
        ci_prob              the interval's probability
        p_direction          max(P(delta > 0), P(delta < 0))
        direction            ``+`` or ``-``: the more probable sign (``""`` for a contrast
                             that is 0 by construction)
        evidence_ratio       p_direction / (1 - p_direction): P(delta > 0) / P(delta < 0)
                             for ``+``, the inverse for ``-`` (always >= 1)
        evidence_ratio_bound ``>`` where no draw fell on the other side (then a lower bound
                             from a 95 % upper bound on that side's probability), else ``""``
        rope                 the ROPE half-width (skill points)
        p_rope               P(abs(delta) < rope)
        bf10                 Savage-Dickey Bayes factor, non-zero contrast against none
                             (:func:`savage_dickey`); NaN where not computable
        bf10_bound           ``>`` where the draws lie too far from 0 to estimate the
                             posterior density there (bf10 is then a lower bound), else ``""``
        log_bf10_se          approximate Monte Carlo SE of log(bf10) (NaN for a bound)
        bf10_prior           ``exact`` (the prior density at 0 in closed form or by
                             quadrature) or ``kernel estimate`` (from the prior draws)
        bf10_note            why bf10 is empty (not defined for a product of parameters
                             such as green shoots vs non-systemic, ``2 b zeta_1``) or a
                             bound, or the kernel estimate's error, else ``""``
        es                   effect size (EEF convention): the contrast over the total SD
                             of skill in the unconditional model (``effect_sizes``)
        es_lower, es_upper   its ``ci_prob`` interval
        es_p_gt_<t>          P(effect size > t) for t = 0, 0.05, 0.1, 0.2
        ess                  bulk effective sample size of the contrast's draws
        n_draws              posterior draws (chains x draws)
        prior_draws          prior draws behind the Savage-Dickey prior density
        model, priors        the fitted model's and prior set's names
        note                 anything else about the contrast
        ==================== ================================================================

        ``attrs["notes"]`` lists default contrasts left out and how covariates were set.

    Raises
    ------
    InputError
        A bad contrast (naming the bad token and what was allowed), ``rope`` outside [0, 1],
        ``ci_prob`` outside (0, 1], or something that is not a fitted result.

    Examples
    --------
    Fitting takes a minute, so these lines are not run by the default tests (the slow test
    of tests/test_docs.py runs them; tests/test_compare.py tests compare on small fits):

    >>> import pyramid as pyr
    >>> res = pyr.fit(pyr.datasets.load_rsw2017(), random_seed=1)   # doctest: +SKIP
    >>> table = pyr.compare(res)                                     # doctest: +SKIP
    >>> table.loc[table["key"] == "programme_vs_none", "definition"].item()  # doctest: +SKIP
    'training=programme - training=none'
    >>> mine = pyr.compare(res, [
    ...     "programme vs rest: training=programme - training=none|other|mla",
    ...     "clinician total: {clinician=1, discussion=?} - {clinician=0, discussion=?}",
    ... ], rope=0.2)                                                 # doctest: +SKIP
    >>> list(mine["effect"])                                         # doctest: +SKIP
    ['direct', 'total']

    Arguments are checked before anything is computed:

    >>> compare("result.nc", rope=1.5)
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: rope must be in [0, 1], got 1.5
    >>> compare("no-such-file.nc")
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: results file 'no-such-file.nc' does not exist
    """
    rope = _check_rope(rope)
    ci_prob = defaults.ci_prob(ci_prob)
    result = _as_result(result)
    sd_total, es_note = _total_sd(result, effect_sizes)
    spec = result.spec
    covs = _covariates(spec)
    todo, notes = _contrasts_to_run(contrasts, spec, covs, result.data)
    ev = _Evaluator(result, covs)
    rows, prior_n = _evaluate(todo, ev, result, rope=rope, ci_prob=ci_prob, sd_total=sd_total)
    table = pd.DataFrame(rows).reindex(columns=[c for c in COLUMNS_DOC
                                                  if c not in ("model", "priors")])
    table["model"] = spec.name
    table["priors"] = getattr(getattr(result, "priors", None), "name", "")
    table = table[list(COLUMNS_DOC)]
    held = ("every covariate a contrast does not name is held at each row's value and the "
            f"expected skill averaged over the model's {len(ev.pop)} rows (marginal "
            "standardisation)")
    if any(cov.integrable for cov in covs.values()):
        held += ("; where a row's discussion or clinician was not observed it is held at the "
                 "values observed in the data, with their frequencies")
    notes.append(held)
    if es_note:
        notes.append(es_note)
    table.attrs["notes"] = notes
    table.attrs["prior_draws"] = prior_n
    return table


def _contrasts_to_run(contrasts: Any, spec: Any, covs: Mapping[str, _Covariate],
                      data: pd.DataFrame | None = None) -> tuple[list[Contrast], list[str]]:
    """The contrasts :func:`compare` was asked for, parsed (``"default"`` expanded), and the
    notes on default contrasts the model cannot give."""
    notes: list[str] = []
    if contrasts is None:
        wanted: list[Any] = ["default"]
    elif isinstance(contrasts, str):
        wanted = [contrasts]
    elif isinstance(contrasts, Iterable):
        wanted = list(contrasts)
        if not wanted:
            raise InputError("contrasts is empty: give at least one contrast, or None for the "
                             "default contrasts")
    else:
        raise InputError(f"contrasts must be a string, a list of strings or None, got "
                         f"{type(contrasts).__name__}")
    todo: list[Contrast] = []
    for w in wanted:
        if isinstance(w, Contrast):
            todo.append(w)
        elif isinstance(w, str) and w.strip().lower() == "default":
            standard, left_out = default_contrasts(spec, data=data)
            todo += standard
            notes += left_out
        else:
            todo.append(parse_contrast(w, covs))
    keys = [c.key for c in todo]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise InputError(f"contrasts named twice: {', '.join(dup)}; give each a distinct label "
                         "('label: ...')")
    return todo, notes


def _evaluate(todo: list[Contrast], ev: _Evaluator, result: Any, *, rope: float,
              ci_prob: float, sd_total: np.ndarray | None) -> tuple[list[dict], int]:
    """One summary row per contrast (posterior draws, prior draws for the Bayes factors where
    the result has them, effect sizes where ``sd_total`` is given), and the number of prior
    draws used."""
    by_key = {c.key: c for c in todo}
    structure = _Structure(result, ev, by_key)
    has_prior, prior_note = _prior_available(result)
    prior_ds = result.idata["prior"].to_dataset() if has_prior else None
    prior_n = 0

    def draws_of(c: Contrast, group: str) -> np.ndarray:
        if c.parts is not None:
            total, direct = (by_key[k] for k in c.parts)
            return draws_of(total, group) - draws_of(direct, group)
        return ev.mean(c.a, group) - ev.mean(c.b, group)

    rows = []
    for c in todo:
        if c.parts is not None and not all(k in by_key for k in c.parts):
            raise InputError(f"contrast {c.key!r} needs the contrasts {c.parts}")
        post = draws_of(c, "posterior")
        prior = None
        note = prior_note
        if has_prior:
            try:
                prior = draws_of(c, "prior").ravel()
                prior_n = prior.size
            except (KeyError, ValueError) as exc:  # prior group lacks a variable
                prior, note = None, f"the prior draws cannot give this contrast ({exc})"
        row = _summarise(c, post, prior, rope=rope, ci_prob=ci_prob, prior_note=note,
                         at_zero=structure.at_zero(c, prior_ds))
        row["prior_draws"] = 0 if prior is None else prior.size
        if sd_total is not None and not _constant(row["estimate"], row["sd"]):
            # none for a contrast constant by construction (it would print P(es > 0) = 0)
            row.update(effect_size_columns(post, sd_total, ci_prob))
        absent = _absent_levels(ev, c)
        if absent:
            row["note"] = "; ".join(n for n in (row["note"], absent) if n)
        rows.append(row)
    return rows, prior_n

def _total_sd(result: Any, effect_sizes: Any) -> tuple[np.ndarray | None, str]:
    """Draws of the total SD of skill for the effect sizes, and a note saying where from."""
    from pyramid import effect_sizes as es

    if effect_sizes is False or effect_sizes is None:
        return None, ""
    if effect_sizes is True:
        unadjusted = es.unadjusted_fit(result)
    elif hasattr(effect_sizes, "posterior") and hasattr(effect_sizes, "spec"):
        unadjusted = effect_sizes
        if len(unadjusted.data) != len(result.data):
            raise InputError(f"effect_sizes: the unconditional fit has {len(unadjusted.data)} "
                             f"rows, the result {len(result.data)}; fit it to the same rows "
                             "(pyramid.effect_sizes.unadjusted_fit)")
    else:
        raise InputError("effect_sizes must be True, False or the unconditional model's fit "
                         f"(pyramid.effect_sizes.unadjusted_fit); got "
                         f"{type(effect_sizes).__name__}")
    sd = es.total_sd(unadjusted)
    levels = " + ".join([f"sd_{g}^2" for g in unadjusted.groups_kept] + ["sigma^2"])
    return sd, (f"effect sizes (es ...): each contrast over the total SD of skill, sqrt({levels}) "
                f"of the unconditional model (intercept and group levels only) of the same "
                f"{len(unadjusted.data)} rows, posterior mean {sd.mean():.3f} skill points "
                "(the Education Endowment Foundation's convention)")


# --------------------------------------------------------------------------------------------
# printing
# --------------------------------------------------------------------------------------------
def compact(table: pd.DataFrame) -> pd.DataFrame:
    """A short printable view of :func:`compare`'s table (what ``pyramid compare`` prints).

    Parameters
    ----------
    table : pandas.DataFrame
        The frame :func:`compare` returned.

    Returns
    -------
    pandas.DataFrame
        Strings: ``contrast``, ``effect``, ``estimate`` (posterior mean and interval),
        ``P(dir)`` (probability of direction and the sign), ``P(ROPE)``, ``BF10`` (``>`` for
        a lower bound; empty where not defined) and ``odds(dir)`` (the evidence ratio of the
        direction); where effect sizes were computed also ``ES`` (mean and interval) and
        ``P(ES>0.2)``.

    Examples
    --------
    >>> t = pd.DataFrame([{"contrast": "a vs b", "effect": "direct", "estimate": 0.5,
    ...     "ci_lower": 0.2, "ci_upper": 0.8, "p_direction": 0.999, "direction": "+",
    ...     "p_rope": 0.01, "bf10": 41.7, "bf10_bound": ">", "evidence_ratio": 999.0,
    ...     "evidence_ratio_bound": ""}])
    >>> compact(t).iloc[0].tolist()
    ['a vs b', 'direct', '0.50 [0.20, 0.80]', '0.999 +', '0.010', '>42', '999']
    """
    need = ["contrast", "effect", "estimate", "ci_lower", "ci_upper", "p_direction",
            "direction", "p_rope", "bf10", "bf10_bound", "evidence_ratio",
            "evidence_ratio_bound"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"compact needs a frame from compare(); missing columns {missing}")
    out = pd.DataFrame({
        "contrast": table["contrast"],
        "effect": table["effect"],
        "estimate": [interval(e, lo, hi) for e, lo, hi in
                     zip(table["estimate"], table["ci_lower"], table["ci_upper"], strict=True)],
        "P(dir)": ["" if not np.isfinite(p) else f"{p:.3f} {d}" for p, d in
                   zip(table["p_direction"], table["direction"], strict=True)],
        "P(ROPE)": [f"{p:.3f}" for p in table["p_rope"]],
        "BF10": [bayes_factor(v, b) for v, b in zip(table["bf10"], table["bf10_bound"], strict=True)],
        "odds(dir)": [bayes_factor(v, b) for v, b in
                      zip(table["evidence_ratio"], table["evidence_ratio_bound"], strict=True)],
    })
    if "es" in table.columns and table["es"].notna().any():
        out["ES"] = [interval(e, lo, hi) for e, lo, hi in
                     zip(table["es"], table["es_lower"], table["es_upper"], strict=True)]
        out["P(ES>0.2)"] = ["" if not np.isfinite(p) else f"{p:.3f}"
                            for p in table["es_p_gt_0.2"]]
    return out
