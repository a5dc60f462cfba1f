"""The HTML report: one self-contained page about a fitted model (:func:`report`).

The page is built in stages: the arguments checked (:func:`_checked`), the pieces computed
(the data tables with small cells protected, the comparisons, Figure 4 as a PNG, the model
and priors in words, the caveats; :func:`_pieces`), then rendered by Jinja2 with autoescaping
(:func:`_render`) and written atomically.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyramid import defaults
from pyramid.data import schema
from pyramid.diagnostics import fit_verdict
from pyramid.effect_sizes import total_sd, unadjusted_fit
from pyramid.errors import InputError
from pyramid.formatting import interval
from pyramid.report.describe import (
    ORIGINS,
    data_origin,
    model_description,
    prior_table,
)
from pyramid.report.disclosure import check_min_cell
from pyramid.report.tables import DataTables, data_tables

__all__ = ["report", "Report"]


@dataclass
class Report:
    """A rendered report.

    Attributes
    ----------
    html : str
        The whole self-contained HTML document.
    path : Path or None
        Where it was written (``None`` if not written).
    origin : str
        What the data are (a key of :data:`ORIGINS`).
    data : DataTables
        The descriptive tables as printed, with what was suppressed.
    comparisons : pandas.DataFrame
        :func:`pyramid.compare`'s full table.
    diagnostics : pandas.DataFrame
        The fit's convergence checks.
    """

    html: str
    path: Path | None
    origin: str
    data: DataTables
    comparisons: pd.DataFrame
    diagnostics: pd.DataFrame

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        c = self.data.counts
        return (f"Report({len(self.html) / 1024:.0f} kB, origin={self.origin!r}, suppressed "
                f"{c['primary']} small counts + {c['secondary']} to protect them{where})")

    def save(self, path: str | Path) -> Path:
        """Write the HTML to ``path`` (``.html`` or ``.htm``).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
        """
        from pyramid.output import check_output, write_text

        path = check_output(path, (".html", ".htm"), "report file")
        write_text(path, self.html, "report")  # whole or not at all
        self.path = path
        return path


def _figure_png(fig, dpi: int = 110) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(df: pd.DataFrame, *, text_cols: Sequence[str] = ()) -> dict:
    """A frame as the template's table: header and cells with a CSS class each."""
    cols = [str(c) for c in df.columns]
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            s = "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v)
            cls = "txt" if c in text_cols else "num"
            if s.startswith("<") or s.startswith("["):
                cls += " supp"
            cells.append((s, cls))
        rows.append(cells)
    return {"columns": cols, "rows": rows}


def _prior_implies(result: Any) -> list[str]:
    """What the prior set implies for expected skill, from the fit's stored prior draws."""
    if "prior" not in result.idata.children:
        return []
    if not result.spec.the_study.is_default():
        return _prior_implies_study(result)
    new = pd.DataFrame({
        "training": [schema.TRAINING_LEVELS[0], schema.TRAINING_LEVELS[-1]],
        "clinician": [0, 1],
        "discussion": [schema.DISCUSSION_LEVELS[0], schema.DISCUSSION_LEVELS[-1]],
        "csw": [0, 1],
    })
    try:
        draws = result.expected_skill(new, group="prior")
    except InputError:
        return []
    v = np.asarray(draws.transpose("chain", "draw", "row").values, dtype=float).reshape(-1, 2)
    ref, full = v[:, 0], v[:, 1]
    diff = full - ref

    def iv(x):
        lo, hi = np.quantile(x, [0.025, 0.975])
        return f"{lo:.2f} and {hi:.2f}"

    return [
        f"expected skill at the reference levels (no systemic training, non-systemic "
        f"discussion, no clinician): 95 % between {iv(ref)}",
        f"the complete pyramid (CSW programme, systemic discussion, clinician) minus the "
        f"reference: 95 % between {iv(diff)} skill points, P(> 0) = {np.mean(diff > 0):.2f}",
        f"from {len(ref)} prior draws stored with the fit",
    ]


def _prior_implies_study(result: Any) -> list[str]:
    """For a study of one's own: the prior's expected score at the reference levels (numeric
    factors at their centres), from the prior draws stored with the fit."""
    study = result.spec.the_study
    row = {}
    for f in study.factors.values():
        if f.kind == "numeric":
            c = (result.info.get("centring") or {}).get(f.name)
            row[f.name] = [float(c[0]) if c else float(
                pd.to_numeric(result.data[f.name], errors="coerce").mean())]
        elif f.kind == "binary":
            row[f.name] = pd.array([0], dtype="Int8")
        else:
            row[f.name] = pd.Categorical([f.reference], categories=list(f.levels),
                                         ordered=f.kind == "ordered")
    try:
        draws = result.expected_skill(pd.DataFrame(row), group="prior")
    except InputError:
        return []
    v = np.asarray(draws.values, dtype=float).ravel()
    lo, hi = np.quantile(v, [0.025, 0.975])
    ref = ", ".join(f"{f.label} {f.level_label(f.reference)}" for f in study.factors.values()
                    if f.kind in ("categorical", "ordered"))
    return [f"expected {study.overall.label} at the reference levels ({ref}; binary factors "
            f"0, numeric ones at their centres): 95 % between {lo:.2f} and {hi:.2f} on the "
            f"{study.scale_min}-{study.scale_max} scale",
            f"from {len(v)} prior draws stored with the fit"]


def _caveats(result: Any, origin: str, tables: DataTables, draws_total: int) -> list[str]:
    spec = result.spec
    study = spec.the_study
    m = tables.min_cell
    out = []
    if not result.converged:
        out.append(f"The fit is {fit_verdict(result, where=False)}. Its numbers may be wrong: "
                   f"follow the advice in the diagnostics section and refit before relying on "
                   f"them.")
    out.append("The data are " + ORIGINS[origin])
    if study.is_default():
        out.append(
            "The design is observational: training, discussion quality and clinician presence "
            "were not assigned at random. Workers chose or were chosen for training, and units "
            "and authorities with a clinician or systemic discussion differ in other ways too. "
            "The comparisons are associations adjusted for the model's other factors, not "
            "causal effects; differences the model does not measure can produce or hide them.")
    else:
        factors = ", ".join(study.label_of(c) for c in spec.term_columns) or "the factors"
        out.append(
            f"Unless the study assigned them at random, {factors} are observed, not assigned: "
            "the comparisons are associations adjusted for the model's other factors, not "
            "causal effects; differences the model does not measure can produce or hide them.")
    present = [r for r in ("authority", "unit") if r in study.roles]  # 2-4 levels
    n_auth = int(result.data["authority"].nunique()) if "authority" in present else 0
    counts = [f"{int(result.data[r].nunique())} "
              f"{'authorities' if r == 'authority' else 'units'}" for r in present]
    small = [" and ".join(counts) or f"{int(result.data['worker'].nunique())} workers"]
    groups = set(result.groups_kept)
    if "authority" in groups and n_auth < 10:
        small.append(f"with {n_auth} authorities the SD of authority effects is barely "
                     f"informed by the data and leans on its prior")
    for f, levels in tables.small_levels.items():
        small.append(f"{f} = {', '.join(levels)}: fewer than {m} observations, so contrasts "
                     f"involving it rest on very few workers and lean on the prior")
    for f, levels in tables.empty_levels.items():
        small.append(f"{f} = {', '.join(levels)}: no observations, so contrasts involving it "
                     f"show the prior only")
    out.append("The sample is small: " + "; ".join(small) + ". Intervals are wide, and a "
               "contrast can look clear in one sample and vanish in the next.")
    assume = []
    lo, hi = study.scale_min, study.scale_max
    n_dom = {5: "five", 7: "seven"}.get(len(study.domains), str(len(study.domains)))
    if spec.family in ("gaussian", "path"):
        assume.append(f"overall {study.overall.label}, the mean of {n_dom} whole-number ratings "
                      f"between {lo} and {hi}, is treated as normal around its expected value "
                      f"with the same residual SD for everyone; expected values near {lo} or "
                      f"{hi} are less trustworthy")
        assume.append("effects add up on the skill scale (no interactions)")
    else:
        assume.append(f"each rating is an ordered category of one latent score with thresholds "
                      f"shared by the {n_dom} domains; effects add up on that latent scale")
    if spec.monotonic:
        assume.append(f"the effect of {', '.join(spec.monotonic)} moves one way as its level "
                      f"rises (monotonic)")
    assume.append("group effects of authorities, units and workers are normal and exchangeable, "
                  "and observations are independent given them")
    if spec.family == "path":
        assume.append("a discussion or clinician value that was not observed is missing at "
                      "random given the unit's CSW leadership, and the indirect effect assumes "
                      "nothing unmeasured drives both discussion quality and skill")
    if result.n_dropped > 0:
        assume.append("rows missing a covariate were left out, so the results describe the rows "
                      "that have them; if those differ from the rest, they may not generalise")
    out.append("What the model assumes: " + "; ".join(assume) + ".")
    if draws_total < 2000:
        out.append(f"The fit has {draws_total} posterior draws in all, fewer than the default "
                   f"2 x 1000: enough to illustrate, not for final numbers (Monte Carlo error in "
                   f"the tails).")
    out.append(f"Model estimates (the comparisons and the figure's model panel) are not "
               f"descriptive cells and are not suppressed; where a factor level has fewer than "
               f"{m} observations the caveat above says so.")
    return out


_CSS = """
:root { --ink:#1d2330; --muted:#5b6474; --line:#d9dde5; --accent:#2f5d8a; --warn:#9a3412;
        --okbg:#ecf7ef; --failbg:#fdecea; --bannerbg:#fff7e6; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); margin: 0; line-height: 1.5; background: #fff; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.7rem; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3rem; margin-top: 2.2em; border-bottom: 2px solid var(--line);
     padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin-top: 1.6em; }
p.sub, .muted { color: var(--muted); }
nav { font-size: 0.92rem; margin: 12px 0 6px; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
.banner { border-left: 5px solid #d97706; background: var(--bannerbg); padding: 10px 14px;
          margin: 14px 0; }
.banner.fail { border-color: var(--warn); background: var(--failbg); }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; vertical-align: top; }
th { text-align: left; background: #f3f5f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.txt { text-align: left; }
td.supp { color: var(--warn); font-style: italic; }
tr.fail td { background: var(--failbg); }
tr.ok td.status { color: #166534; font-weight: 600; }
tr.fail td.status { color: var(--warn); font-weight: 600; }
figure { margin: 10px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 0.88rem; color: var(--muted); margin-top: 4px; }
details { margin: 8px 0 14px; }
summary { cursor: pointer; color: var(--accent); }
ul.caveats li { margin-bottom: 8px; }
code { background: #f3f5f8; padding: 0 3px; border-radius: 3px; font-size: 0.88em; }
.legend { font-size: 0.86rem; color: var(--muted); }
footer { margin-top: 40px; font-size: 0.82rem; color: var(--muted); }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pyramid {{ version }}">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<main>
{%- macro table(t, caption=None) %}
<table>
{%- if caption %}<caption class="muted">{{ caption }}</caption>{% endif %}
<thead><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for r in t.rows %}
<tr>{% for v, cls in r %}<td class="{{ cls }}">{{ v }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody>
</table>
{%- endmacro %}
<header>
<h1>{{ title }}</h1>
<p class="sub">Model <code>{{ model }}</code> with priors <code>{{ priors }}</code>, fitted
{{ created }}; report written {{ written }} by pyramid {{ version }}.</p>
<div class="banner{% if origin != 'observed' %} fail{% endif %}"><strong>The data:</strong>
{{ origin_text }}</div>
{%- if not converged %}
<div class="banner fail"><strong>Convergence:</strong> {{ verdict }}; see
<a href="#diagnostics">Diagnostics</a> before reading any number.</div>
{%- endif %}
<nav>{% for id, name in sections %}<a href="#{{ id }}">{{ name }}</a>{% endfor %}</nav>
</header>

<section id="data">
<h2>1. The data</h2>
<p>{{ suppression }}</p>
<p class="legend">&lt;{{ min_cell }}: a count from 1 to {{ min_cell - 1 }}, suppressed.
[c]: suppressed so that a small cell cannot be worked out from a total. [&lt;{{ min_cell }}]:
a mean or SD withheld because it comes from fewer than {{ min_cell }} observations or
workers. &ndash;: no value.</p>
<h3>The sample</h3>
{{ table(tables.sample) }}
<h3>By authority</h3>
{{ table(tables.authorities) }}
<h3>By factor</h3>
<p class="muted">Observations, workers and overall {{ overall }} ({{ scale }}) at each level of
each factor{% if rsw %} (the report's Tables 14 and 15 tabulate the same){% endif %}.</p>
{{ table(tables.factors) }}
{%- if "crosstab" in tables %}
<h3>Clinician by discussion quality</h3>
<p class="muted">Observations at each combination (rows: clinician at the case discussion;
columns: its quality).</p>
{{ table(tables.crosstab) }}
{%- endif %}
{%- if "missing" in tables %}
<h3>Missing domain scores</h3>
{{ table(tables.missing) }}
{%- endif %}
<details>
<summary>By unit ({{ n_units }} units)</summary>
{{ table(tables.units) }}
</details>
</section>

<section id="model">
<h2>2. The model and its priors</h2>
<p><strong>{{ model }}</strong>: {{ spec_description }}</p>
<ul>
{%- for s in model_words %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
<h3>Priors: the set <code>{{ priors }}</code></h3>
<p>{{ priors_description }}</p>
{{ table(prior_table) }}
{%- if prior_implies %}
<p>What these priors imply before seeing the data:</p>
<ul>
{%- for s in prior_implies %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
{%- endif %}
</section>

<section id="diagnostics">
<h2>3. Diagnostics</h2>
<p>{{ sampling }}</p>
<table>
<thead><tr><th>check</th><th>value</th><th>where</th><th>wanted</th><th>status</th>
<th>what to do if it fails</th></tr></thead>
<tbody>
{%- for d in diagnostics %}
<tr class="{{ 'ok' if d.passed else 'fail' }}"><td class="txt">{{ d.check }}</td>
<td class="num">{{ d.value }}</td><td class="txt">{{ d.where }}</td>
<td class="num">{{ d.wanted }}</td><td class="status">{{ 'ok' if d.passed else 'FAIL' }}</td>
<td class="txt">{{ d.advice }}</td></tr>
{%- endfor %}
</tbody>
</table>
<p class="muted">Divergent transitions mean the sampler met geometry it could not follow;
R-hat above 1.01 that the chains disagree; a bulk or tail effective sample size below 400
that the means or intervals carry Monte Carlo error; E-BFMI below 0.3 that the sampler
explores the energy poorly. Any failure makes every number below suspect.</p>
</section>

<section id="comparisons">
<h2>4. Comparisons</h2>
<p>What replaces the report's t-tests (<code>pyramid.compare</code>): for each contrast, the
posterior mean difference in expected {{ overall }} ({{ scale }} scale) with its {{ ci }} equal-tailed
interval; P(dir), the probability that the difference has the sign shown; P(ROPE), the
probability that it is smaller than {{ rope }} skill points either way (practically nothing);
BF10, the Savage-Dickey Bayes factor for a difference against none ("&gt;": a lower bound;
empty where it is not defined, see the notes); odds(dir), P(dir) / (1 - P(dir)).
{%- if effect_sizes %} ES, the effect size in the Education Endowment Foundation's convention:
the difference over the total SD of skill ({{ effect_sizes }} skill points, posterior mean) in
the unconditional model of the same rows (intercept and group levels only), with P(ES&gt;0.2),
the probability that it exceeds 0.2.{% endif %}</p>
{{ table(comparisons) }}
{%- if comparison_notes %}
<ul class="muted">
{%- for s in comparison_notes %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
{%- endif %}
<h3>How the variance splits</h3>
<p>Each level's share of the variance of {{ vp_outcome }} (for a group level, its intraclass
correlation: how alike two observations of the same group are), posterior mean with a {{ ci }}
interval{% if vp_unconditional %}: in the fitted model (given its factors) and in the
unconditional model (intercept only){% endif %}.</p>
{{ table(variance) }}
</section>

<section id="figure">
{%- if rsw %}
<h2>5. Figure 4 with the model</h2>
<figure>
<img src="{{ figure }}" alt="Figure 4 of the 2017 report redrawn, with the fitted model's effect of each factor level">
<figcaption>Upper panel: the 2017 report's published means (Tables 14 and 15, not these data)
with exact posterior intervals from the printed summaries. Lower panel: this model's posterior
effect of each level against the reference level (no systemic training, non-systemic
discussion, no clinician), the other factors held there, with {{ ci }} intervals.</figcaption>
</figure>
{%- else %}
<h2>5. The factors, from these data and this model</h2>
<figure>
<img src="{{ figure }}" alt="Mean {{ overall }} at each level of each factor, and the fitted model's effect of each level">
<figcaption>Upper panel: the mean {{ overall }} of these data's rows at each level of each
factor of the model (small cells are not withheld here: see the data section), with
{{ ci }} t intervals. Lower panel: this model's posterior effect of each level against the
reference level (the other factors at their reference levels, numeric ones at their centres),
with {{ ci }} intervals.</figcaption>
</figure>
{%- endif %}
</section>

<section id="caveats">
<h2>6. Caveats</h2>
<ul class="caveats">
{%- for s in caveats %}
<li>{{ s }}</li>
{%- endfor %}
</ul>
</section>

<section id="provenance">
<h2>7. Provenance</h2>
{{ table(provenance) }}
</section>

<footer>Written by pyramid {{ version }} (rsw-pyramid). Self-contained: this file loads
nothing from the network.</footer>
</main>
</body>
</html>
"""


def _diag_rows(diag: pd.DataFrame, pseudonymise: bool = False) -> list[dict]:
    names = {"divergences": "divergent transitions", "r_hat": "max R-hat",
             "ess_bulk": "min bulk ESS", "ess_tail": "min tail ESS", "e_bfmi": "min E-BFMI"}
    rows = []
    for _, r in diag.iterrows():
        c = str(r["check"])
        v = float(r["value"])
        shown = (f"{int(v)}" if c == "divergences" else f"{v:.3f}" if c in ("r_hat", "e_bfmi")
                 else f"{v:.0f}") if np.isfinite(v) else "–"
        rel = "<=" if c in ("divergences", "r_hat") else ">="
        where = str(r.get("where", ""))
        if pseudonymise and re.match(r"^r_\w+\[", where):
            where = where.split("[", 1)[0] + "[...]"  # a group's id, as the tables hide it
        rows.append({"check": names.get(c, c), "value": shown, "where": where,
                     "wanted": f"{rel} {r['threshold']:g}", "passed": bool(r["passed"]),
                     "advice": "" if bool(r["passed"]) else str(r.get("advice", ""))})
    return rows


def _provenance(result: Any) -> pd.DataFrame:
    info = result.info
    versions = info.get("versions") or {}
    if isinstance(versions, str):
        versions = json.loads(versions)
    rows = [
        ("model", f"{result.spec.name} ({Path(str(result.spec.source)).name or 'spec text'})"),
        ("priors", f"{result.priors.name} ({Path(str(result.priors.source)).name or 'text'})"),
        ("sampler", str(info.get("sampler", ""))),
        ("seed", str(info.get("seed", ""))),
        ("data SHA-256", str(info.get("data_sha256", ""))),
        ("fitted", str(info.get("created", ""))),
        ("results file", Path(str(info["path"])).name if info.get("path") else "(in memory)"),
    ]
    rows += [(f"version: {k}", str(v)) for k, v in versions.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def report(
    result: Any,
    out: str | Path | None = None,
    *,
    min_cell: int = 5,
    ci_prob: float | None = None,
    rope: float = 0.1,
    contrasts: str | Sequence[str] | None = None,
    title: str | None = None,
    data_label: str | None = None,
    pseudonymise: bool = False,
    effect_sizes: bool = True,
) -> Report:
    """Write a self-contained HTML report of a fitted model, for an evaluator to share.

    One file with everything embedded (figure as a base64 PNG, inline styles, no script, no
    external link): the data summary with small cells suppressed, the model and priors in
    words, the convergence checks with what to do when one fails, the comparison table,
    Figure 4 with the model's effects, the caveats and the fit's provenance. The small-cell
    rules are those of :func:`data_tables` and :func:`protect` (the user guide's page on the
    report explains them).

    Parameters
    ----------
    result : FitResult, str or Path
        A fitted result (:func:`pyramid.fit`) or a results file (``.nc``).
    out : str or Path, optional
        HTML file to write (``.html`` or ``.htm``). ``None``: not written (``Report.html``
        holds it).
    min_cell : int, default 5
        Smallest count of observations or workers printed; smaller counts show as ``<5`` and
        means or SDs from fewer are withheld. 1 turns suppression off (the report then says
        not to share it); 2 is refused (``<2`` could only be 1).
    ci_prob : float, optional
        Probability of the posterior intervals. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).
    rope : float, default 0.1
        Half-width of the region of practical equivalence (skill points).
    contrasts : str or list of str, optional
        Contrasts for :func:`pyramid.compare` (default: its default contrasts).
    title : str, optional
        The report's title (default names the model and priors). Escaped like every string.
    data_label : {"observed", "simulated", "reconstructed"}, optional
        What the data are; default: :func:`data_origin` of the result's rows.
    pseudonymise : bool, default False
        Print authorities and units as ``Authority 1``, ``Unit 1.2``.
    effect_sizes : bool, default True
        Add effect sizes in the Education Endowment Foundation's convention to the
        comparisons and the unconditional model's variance partition (fits the unconditional
        model of the result's rows: seconds; :mod:`pyramid.effect_sizes`).

    Returns
    -------
    Report
        ``.html``, ``.path``, ``.origin``, ``.data`` (the tables and what was suppressed),
        ``.comparisons``, ``.diagnostics``.

    Raises
    ------
    InputError
        A result that is not a fit, a bad argument, or a file that cannot be written.

    Examples
    --------
    A report needs a fit; with the reference data (a few seconds once the model is compiled):

    >>> import pyramid as pyr
    >>> res = pyr.fit(pyr.datasets.load_rsw2017(), random_seed=1)  # doctest: +SKIP
    >>> rep = pyr.report(res, "report.html")                        # doctest: +SKIP
    >>> rep.origin                                                  # doctest: +SKIP
    'reconstructed'
    """
    result, m, ci_prob = _checked(result, out, min_cell, ci_prob, data_label, title)
    tables = data_tables(result.data, min_cell=m, pseudonymise=pseudonymise,
                         dropped=result.dropped, study=result.spec.the_study)
    origin = data_label or data_origin(result.data)
    unadjusted = unadjusted_fit(result) if effect_sizes else None
    cmp = _compare_table(result, contrasts, rope, ci_prob, unadjusted)
    html_text = _render(result, tables, cmp, origin=origin, ci_prob=ci_prob, rope=rope,
                        title=title, pseudonymise=pseudonymise, unadjusted=unadjusted)
    rep = Report(html=html_text, path=None, origin=origin, data=tables, comparisons=cmp,
                 diagnostics=result.diagnostics.copy())
    if out is not None:
        rep.save(out)
    return rep


def _checked(result: Any, out: Any, min_cell: Any, ci_prob: Any, data_label: Any,
             title: Any) -> tuple[Any, int, float]:
    """Stage 1: the arguments checked (a results file loaded) before anything is computed."""
    if data_label is not None and data_label not in ORIGINS:
        raise InputError(f"data_label must be one of {', '.join(ORIGINS)} or None, got "
                         f"{data_label!r}")
    if title is not None and not isinstance(title, str):
        raise InputError(f"title must be a string, got {type(title).__name__}")
    if out is not None:
        from pyramid.output import check_output

        check_output(out, (".html", ".htm"), "report file")
    m = check_min_cell(min_cell)
    ci_prob = defaults.ci_prob(ci_prob)
    if isinstance(result, str | Path):
        from pyramid.results import load

        result = load(result)
    for attr in ("idata", "spec", "priors", "data", "diagnostics", "info", "expected_skill"):
        if not hasattr(result, attr):
            raise InputError(f"result must be a pyramid FitResult or a results file (.nc); got "
                             f"{type(result).__name__} without .{attr}")
    return result, m, ci_prob


def _compare_table(result: Any, contrasts: Any, rope: float, ci_prob: float,
                   unadjusted: Any = None) -> pd.DataFrame:
    """Stage 2: :func:`pyramid.compare`'s full table for the report (with effect sizes where
    the unconditional model was fitted)."""
    from pyramid.compare import compare

    return compare(result, contrasts, rope=rope, ci_prob=ci_prob,
                   effect_sizes=unadjusted if unadjusted is not None else False)


def _variance_table(result: Any, unadjusted: Any, ci_prob: float) -> pd.DataFrame:
    """The variance partition of the fit (and of the unconditional model), as printed."""

    def col(vp):
        return {r["level"]: interval(r["share"], r["share_lower"], r["share_upper"])
                for _, r in vp.iterrows()}

    fitted = col(result.variance_partition(ci_prob))
    out = pd.DataFrame({"level": list(fitted), "fitted model": list(fitted.values())})
    if unadjusted is not None:
        un = col(unadjusted.variance_partition(ci_prob))
        out["unconditional model"] = [un.get(k, "") for k in fitted]
    return out


def _sampling_text(result: Any) -> str:
    post = result.idata["posterior"]
    n_chain, n_draw = int(post.sizes["chain"]), int(post.sizes["draw"])
    info = result.info
    timings = info.get("timings") or {}
    if isinstance(timings, str):
        timings = json.loads(timings)
    return (f"Sampled with {info.get('sampler', '?')}: {n_chain} chains x {n_draw} draws "
            f"after {info.get('tune', '?')} tuning draws, target acceptance "
            f"{info.get('target_accept', '?')}, seed {info.get('seed', '?')}"
            + (f"; sampling took {timings['sample_s']:.0f} s" if "sample_s" in timings
               else "") + ".")


_TEXT_COLS = ("quantity", "authority", "unit", "factor", "level", "clinician", "domain")
_SECTIONS = [("data", "Data"), ("model", "Model and priors"), ("diagnostics", "Diagnostics"),
             ("comparisons", "Comparisons"), ("figure", "Figure 4"), ("caveats", "Caveats"),
             ("provenance", "Provenance")]


def _render(result: Any, tables: DataTables, cmp: pd.DataFrame, *, origin: str,
            ci_prob: float, rope: float, title: str | None, pseudonymise: bool,
            unadjusted: Any = None) -> str:
    """Stage 3: the figure drawn and the page rendered (Jinja2, autoescaped)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup  # jinja2's own: the style sheet is this module's trusted text

    from pyramid import __version__
    from pyramid.compare import compact
    from pyramid.plots.figure4 import plot_figure4

    notes = list(cmp.attrs.get("notes", []))
    notes += [f"{r['contrast']}: {r['note']}" for _, r in cmp.iterrows() if str(r["note"])]
    notes += [f"{r['contrast']}: no BF10: {r['bf10_note'].removeprefix('not defined: ')}"
              for _, r in cmp.iterrows() if str(r["bf10_note"]).startswith("not defined")]
    study = result.spec.the_study
    rsw = study.is_default()
    if rsw:
        figure = _figure_png(plot_figure4(result, ci_prob=ci_prob))
    else:
        from pyramid.plots.factors import plot_factors

        figure = _figure_png(plot_factors(result, ci_prob=ci_prob))
    post = result.idata["posterior"]
    n_draws = int(post.sizes["chain"]) * int(post.sizes["draw"])
    info = result.info
    pri_tab = prior_table(result.spec, result.priors, info)
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=False)
    t = tables.tables
    return env.from_string(_TEMPLATE).render(
        title=title or f"pyramid report: model {result.spec.name}, priors {result.priors.name}",
        version=__version__, css=Markup(_CSS), model=result.spec.name, priors=result.priors.name,
        created=str(info.get("created", "")), written=time.strftime("%Y-%m-%d %H:%M"),
        origin=origin, origin_text=ORIGINS[origin], converged=bool(result.converged),
        verdict=fit_verdict(result, where=False),
        sections=_SECTIONS if rsw else [(k, "Factors" if k == "figure" else v)
                                         for k, v in _SECTIONS],
        rsw=rsw, overall=study.overall.label, scale=f"{study.scale_min}-{study.scale_max}",
        suppression=tables.statement(), min_cell=tables.min_cell,
        tables={k: _table(v, text_cols=[c for c in v.columns if c in _TEXT_COLS])
                for k, v in t.items()},
        n_units=len(t["units"]),
        spec_description=" ".join(str(result.spec.description).split()),
        model_words=model_description(result.spec, info),
        priors_description=" ".join(str(result.priors.description).split()),
        prior_table=_table(pri_tab[["parameter", "what", "prior"]],
                           text_cols=["parameter", "what", "prior"]),
        prior_implies=_prior_implies(result),
        sampling=_sampling_text(result), diagnostics=_diag_rows(result.diagnostics, pseudonymise),
        ci=f"{ci_prob:.0%}", rope=f"{rope:g}",
        comparisons=_table(compact(cmp), text_cols=["contrast", "effect"]),
        comparison_notes=notes, figure=figure,
        effect_sizes=("" if unadjusted is None else
                      f"{float(np.mean(total_sd(unadjusted))):.2f}"),
        variance=_table(_variance_table(result, unadjusted, ci_prob), text_cols=["level"]),
        vp_outcome=("a rating on its probit scale" if result.spec.family == "cumulative_probit"
                    else "overall skill"),
        vp_unconditional=unadjusted is not None,
        caveats=_caveats(result, origin, tables, n_draws),
        provenance=_table(_provenance(result), text_cols=["item", "value"]),
    )
