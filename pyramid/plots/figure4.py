"""Figure 4 of the report, redrawn: what factors influence quality of observed practice?

The report's Figure 4 summarises Part 4: the contribution of systemic training, the MLA CSW
development programme, the quality of the unit's case discussion and a clinician at the
discussion to the quality of observed direct practice (overall skill, 1-5). Its numbers are
Tables 14 and 15. :func:`plot_figure4` draws the mean skill at each level of each factor as
printed, with the exact posterior interval of each group mean computed from the printed mean,
SD and N (:func:`pyramid.reanalysis.mean_posterior`), against the benchmarks quoted in Part 2.
Given a fitted result it adds, below, the model's posterior effect of each level against the
reference level, using only ``result.expected_skill(newdata)`` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyramid import defaults
from pyramid.data import published
from pyramid.data.schema import DISCUSSION_LEVELS, TRAINING_LEVELS
from pyramid.errors import InputError
from pyramid.reanalysis import mean_posterior

__all__ = [
    "FACTORS",
    "REFERENCE",
    "figure4_data",
    "figure4_newdata",
    "plot_figure4",
    "save_figure4",
]

#: The factors of Figure 4: (factor, panel title, [(level, display label, table, row key)]).
FACTORS: tuple[tuple[str, str, tuple[tuple[Any, str, str, str], ...]], ...] = (
    (
        "training",
        "Systemic training\n(Table 14)",
        tuple(
            zip(
                TRAINING_LEVELS,
                ("None", "Other\nprovider", "Previous\nMLA", "CSW\nprogramme"),
                ("14",) * 4,
                TRAINING_LEVELS,
                strict=True,
            )
        ),
    ),
    (
        "discussion",
        "Quality of case discussion\n(Table 15)",
        tuple(
            zip(
                DISCUSSION_LEVELS,
                ("Non-\nsystemic", "Green\nshoots", "Systemic"),
                ("15",) * 3,
                DISCUSSION_LEVELS,
                strict=True,
            )
        ),
    ),
    (
        "clinician",
        "Clinician at case\ndiscussion (Table 15)",
        ((0, "No", "15", "clinician_no"), (1, "Yes", "15", "clinician_yes")),
    ),
)

#: The reference setting of the model panel: every factor at its lowest level.
REFERENCE: dict[str, Any] = {"training": "none", "discussion": "non_systemic", "clinician": 0}

_COLOURS = {"training": 0, "discussion": 2, "clinician": 3}  # seaborn "deep" palette indices
_TITLE = "What factors influence quality of observed practice?"
_GAP = 1.0  # blank x positions between two factors


def _positions() -> list[tuple[str, Any, float]]:
    out, x = [], 0.0
    for factor, _, levels in FACTORS:
        for level, *_ in levels:
            out.append((factor, level, x))
            x += 1.0
        x += _GAP
    return out


def figure4_newdata() -> pd.DataFrame:
    """The covariate settings the model panel of Figure 4 asks ``expected_skill`` about.

    Row 0 is :data:`REFERENCE` (no systemic training, a non-systemic discussion, no clinician);
    each further row changes one factor to one of its other levels, the others staying at the
    reference: so each row's difference from row 0 is that level's direct effect.

    Returns
    -------
    pandas.DataFrame
        Columns ``training`` and ``discussion`` (ordered categoricals with the schema's levels),
        ``clinician`` and ``csw`` (``Int8``; ``csw`` is 1 for the programme row, see
        docs/architecture.md), plus ``factor`` and ``level`` naming what each row varies.

    Examples
    --------
    >>> nd = figure4_newdata()
    >>> len(nd), nd.loc[0, ["training", "discussion"]].tolist(), int(nd.loc[0, "clinician"])
    (7, ['none', 'non_systemic'], 0)
    """
    rows = [{**REFERENCE, "factor": "reference", "level": "reference"}]
    for factor, _, levels in FACTORS:
        for level, *_ in levels[1:]:
            rows.append({**REFERENCE, factor: level, "factor": factor, "level": str(level)})
    nd = pd.DataFrame(rows)
    nd["training"] = pd.Categorical(nd["training"], categories=TRAINING_LEVELS, ordered=True)
    nd["discussion"] = pd.Categorical(nd["discussion"], categories=DISCUSSION_LEVELS, ordered=True)
    nd["clinician"] = nd["clinician"].astype("Int8")
    # the unit is led by a consultant social worker on the programme exactly when the worker is
    # on it here (docs/architecture.md: csw); the ``pyramid`` model's discussion equation needs it
    nd["csw"] = (nd["training"] == "programme").astype("Int8")
    return nd


def _model_effects(result: Any, ci_prob: float) -> pd.DataFrame:
    """Posterior effect of each level against the reference, from ``result.expected_skill``."""
    expected = getattr(result, "expected_skill", None)
    if not callable(expected):
        raise InputError(
            f"result must be a fitted result with an expected_skill(newdata) method (a "
            f"pyramid FitResult); got {type(result).__name__}"
        )
    nd = figure4_newdata()
    draws = expected(nd[["training", "discussion", "clinician", "csw"]])
    dims = getattr(draws, "dims", None)
    if dims is None or set(dims) != {"chain", "draw", "row"}:
        raise InputError(
            f"result.expected_skill must return an xarray.DataArray with dims (chain, draw, row); "
            f"got {type(draws).__name__} with dims {dims}"
        )
    arr = np.asarray(draws.transpose("chain", "draw", "row").values, dtype=float)
    if arr.shape[2] != len(nd):
        raise InputError(
            f"result.expected_skill returned {arr.shape[2]} rows for {len(nd)} rows of newdata"
        )
    flat = arr.reshape(-1, len(nd))
    if not np.isfinite(flat).all():
        raise InputError("result.expected_skill returned non-finite draws")
    lo_q, hi_q = 0.5 - ci_prob / 2, 0.5 + ci_prob / 2
    recs = []
    for factor, _, levels in FACTORS:
        ref_level = levels[0][0]
        recs.append(
            dict(
                source="model",
                factor=factor,
                level=ref_level,
                estimate=0.0,
                ci_lower=0.0,
                ci_upper=0.0,
                prob_positive=np.nan,
                reference=True,
            )
        )
        for level, *_ in levels[1:]:
            i = int(np.flatnonzero((nd["factor"] == factor) & (nd["level"] == str(level)))[0])
            eff = flat[:, i] - flat[:, 0]
            recs.append(
                dict(
                    source="model",
                    factor=factor,
                    level=level,
                    estimate=float(eff.mean()),
                    ci_lower=float(np.quantile(eff, lo_q)),
                    ci_upper=float(np.quantile(eff, hi_q)),
                    prob_positive=float((eff > 0).mean()),
                    reference=False,
                )
            )
    return pd.DataFrame(recs)


def figure4_data(result: Any = None, *, ci_prob: float | None = None) -> pd.DataFrame:
    """The numbers Figure 4 draws, as one tidy frame.

    Parameters
    ----------
    result : FitResult, optional
        A fitted result; only its ``expected_skill(newdata)`` method is used.
    ci_prob : float, optional
        Probability of the equal-tailed intervals. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).

    Returns
    -------
    pandas.DataFrame
        One row per factor level and source:

        ============= ===================================================================
        source        ``report`` (the printed summaries) or ``model`` (the fitted result)
        factor        ``training``, ``discussion`` or ``clinician``
        level         the schema level (``none`` ... ``programme``; 0/1 for clinician)
        label         the level as labelled on the figure
        n             printed (Table 14) or quoted (Part 4 text, Table 15) number of workers
        printed       the printed mean, as printed (report rows)
        estimate      report: the posterior mean of the group's mean skill (the printed
                      mean); model: the posterior mean of the effect against the reference
        ci_lower,     equal-tailed ``ci_prob`` interval: report, of the group mean from the
        ci_upper      printed mean, SD and N under the reference prior; model, of the effect
        prob_positive model rows: posterior probability that the effect is > 0
        reference     model rows: True for the reference level (effect 0 by definition)
        ============= ===================================================================

    Examples
    --------
    >>> d = figure4_data()
    >>> d.loc[d.level == "programme", ["printed", "n"]].values.tolist()
    [['3.50', 10]]
    >>> row = d[d.level == "programme"].iloc[0]
    >>> print(f"{row.ci_lower:.2f} to {row.ci_upper:.2f}")
    3.09 to 3.91
    """
    ci_prob = defaults.ci_prob(ci_prob)
    recs = []
    for factor, _, levels in FACTORS:
        for level, label, tid, key in levels:
            t = published.table(tid)
            sub = t[t.row_key == key].set_index("stat")
            mean, sd, n = (float(sub.loc[s, "value"]) for s in ("mean", "sd", "n"))
            post = mean_posterior(mean, sd, int(n), ci_prob)
            recs.append(
                dict(
                    source="report",
                    factor=factor,
                    level=level,
                    label=label.replace("-\n", "-").replace("\n", " "),
                    n=int(n),
                    printed=str(sub.loc["mean", "printed"]),
                    estimate=post["estimate"],
                    ci_lower=post["ci_lower"],
                    ci_upper=post["ci_upper"],
                    prob_positive=np.nan,
                    reference=pd.NA,
                )
            )
    out = pd.DataFrame(recs)
    if result is not None:
        model = _model_effects(result, ci_prob)
        labels = out.set_index(["factor", out["level"].astype(str)])
        model["label"] = [
            labels.loc[(f, str(lv)), "label"]
            for f, lv in zip(model.factor, model.level, strict=True)
        ]
        model["n"] = pd.NA
        model["printed"] = ""
        out = pd.concat([out, model[out.columns]], ignore_index=True)
    out["reference"] = out["reference"].astype("boolean")
    return out


def _axes_pair(ax, with_model: bool):
    """Resolve ``ax`` into (figure, report axes, model axes or None)."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        if with_model:
            fig, (a1, a2) = plt.subplots(
                2,
                1,
                figsize=(10, 8.4),
                sharex=True,
                height_ratios=(2.3, 1.0),
                layout="constrained",
            )
            return fig, a1, a2
        fig, a1 = plt.subplots(figsize=(10, 6.2), layout="constrained")
        return fig, a1, None
    if isinstance(ax, Axes):
        if with_model:
            raise InputError(
                "with a result, pass ax as two axes (report panel, model panel) or leave it None; "
                "got one Axes"
            )
        return ax.figure, ax, None
    if isinstance(ax, Sequence | np.ndarray):
        pair = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(pair) == 2 and all(isinstance(a, Axes) for a in pair):
            return pair[0].figure, pair[0], (pair[1] if with_model else None)
    raise InputError(
        f"ax must be a matplotlib Axes, a pair of Axes or None; got {type(ax).__name__}"
    )


def plot_figure4(
    result: Any = None,
    *,
    ax: Any = None,
    ci_prob: float | None = None,
    title: str | None = _TITLE,
    caption: bool = True,
):
    """Redraw the report's Figure 4: what factors influence quality of observed practice?

    Mean overall skill (1-5) at each level of systemic training (Table 14), quality of the
    unit's case discussion and clinician presence (Table 15): each printed mean is marked and
    labelled with its printed value and N, with the exact ``ci_prob`` posterior interval of
    the group mean computed from the printed mean, SD and N (reference prior; see
    :func:`pyramid.reanalysis.mean_posterior`). The band is the range workers "commonly score"
    in other studies (2-2.5) and the dashed line the highest mean "thus far seen" (3.24), both
    from Part 2 (:data:`pyramid.data.published.BENCHMARKS`).

    Given a fitted ``result``, a second panel shows the model's posterior effect of each level
    against the reference level (no training, non-systemic discussion, no clinician; the
    others held there), from ``result.expected_skill(figure4_newdata())`` only, so any model
    family that provides that method can be drawn.

    Parameters
    ----------
    result : FitResult, optional
        A fitted result with ``expected_skill(newdata)`` returning an ``xarray.DataArray`` with
        dims ``(chain, draw, row)``.
    ax : matplotlib Axes or pair of Axes, optional
        Where to draw: one Axes for the report panel, or (report, model) when a result is
        given. ``None``: a new figure.
    ci_prob : float, optional
        Probability of the intervals. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).
    title : str or None
        Figure title (the report's caption by default); ``None`` for none.
    caption : bool, default True
        Add a caption saying where the numbers and intervals come from.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        For a ``result`` without a usable ``expected_skill``, ``ci_prob`` outside (0, 1] or an
        ``ax`` of the wrong kind.

    Examples
    --------
    >>> fig = plot_figure4()
    >>> fig.axes[0].get_ylabel()
    'Observed practice skill (1-5)'
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    import seaborn as sns

    ci_prob = defaults.ci_prob(ci_prob)
    data = figure4_data(result, ci_prob=ci_prob)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig, ax_r, ax_m = _axes_pair(ax, result is not None)
        _draw_report(ax_r, data[data.source == "report"], ci_prob)
        if ax_m is not None:
            _draw_model(ax_m, data[data.source == "model"], ci_prob)
            ax_r.set_xlabel("")
            ax_r.tick_params(labelbottom=False)
        ticks_ax = ax_m if ax_m is not None else ax_r
        pos = _positions()
        ticks_ax.set_xticks([x for *_, x in pos])
        labels = {(f, str(lv)): lab for f, _, levels in FACTORS for lv, lab, *_ in levels}
        ticks_ax.set_xticklabels([labels[(f, str(lv))] for f, lv, _ in pos], fontsize=9.5)
        ticks_ax.tick_params(labelbottom=True)
        for a in (ax_r, ax_m):
            if a is not None:
                a.set_xlim(-0.6, pos[-1][2] + 0.95)
                a.grid(axis="x", visible=False)
                for x in _separators():
                    a.axvline(x, color="0.75", lw=0.8, zorder=0)
        if title:
            fig.suptitle(title, fontsize=14, fontweight="bold")
        if caption and ax is None:
            # keep room for a three-line caption below the axes, inside the figure
            room = 0.6 / fig.get_figheight()
            fig.get_layout_engine().set(rect=(0.0, room, 1.0, 1.0 - room))
            fig.text(
                0.01,
                0.005,
                _caption(ci_prob, result is not None),
                ha="left",
                va="bottom",
                fontsize=8.5,
                color="0.25",
                wrap=True,
            )
    return fig


def _separators() -> list[float]:
    pos = _positions()
    out = []
    for (f1, _, x1), (f2, _, x2) in zip(pos, pos[1:], strict=False):
        if f1 != f2:
            out.append((x1 + x2) / 2)
    return out


def _caption(ci_prob: float, with_model: bool) -> str:
    text = (
        f"Points: mean overall skill as printed in Tables 14 and 15 (n = workers). Bars: "
        f"{ci_prob:.0%} posterior intervals of each group mean, computed from the published mean, "
        f"SD and N (reference prior), not from the evaluation's data. Band: workers in other "
        f"studies commonly score 2-2.5; dashed line: the highest mean seen before, 3.24 (Part 2)."
    )
    if with_model:
        text += (
            f" Lower panel: the fitted model's posterior effect of each level against the "
            f"reference level (the other factors held at theirs), mean and {ci_prob:.0%} interval."
        )
    return text


def _palette(factor: str):
    import seaborn as sns

    return sns.color_palette("deep")[_COLOURS[factor]]


def _draw_report(ax, data: pd.DataFrame, ci_prob: float) -> None:
    from matplotlib.lines import Line2D

    bench = published.BENCHMARKS
    band = ax.axhspan(
        bench["typical_low"], bench["typical_high"], color="0.6", alpha=0.2, lw=0, zorder=0
    )
    best = ax.axhline(bench["highest_seen"], color="0.35", ls="--", lw=1.1, zorder=1)
    x_of = {(f, str(lv)): x for f, lv, x in _positions()}
    for factor, _, _ in FACTORS:
        sub = data[data.factor == factor]
        xs = np.array([x_of[(factor, str(lv))] for lv in sub.level])
        colour = _palette(factor)
        ax.plot(xs, sub.estimate, color=colour, lw=1.2, alpha=0.5, zorder=2)
        ax.errorbar(
            xs,
            sub.estimate,
            yerr=[sub.estimate - sub.ci_lower, sub.ci_upper - sub.estimate],
            fmt="o",
            ms=8,
            color=colour,
            ecolor=colour,
            elinewidth=2.2,
            capsize=4,
            zorder=3,
        )
        for x, (_, r) in zip(xs, sub.iterrows(), strict=True):
            ax.annotate(
                f"{r.printed}\n(n = {r.n})",
                (x, r.estimate),
                xytext=(9, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=8.5,
                color="0.15",
            )
    ymax = 5.0
    ax.set_ylim(1.0, ymax)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.set_ylabel("Observed practice skill (1-5)")
    top = ymax - 0.08
    for factor, head, levels in FACTORS:
        xs = [x_of[(factor, str(lv))] for lv, *_ in levels]
        ax.text(
            np.mean(xs),
            top,
            head,
            ha="center",
            va="top",
            fontsize=10,
            fontweight="bold",
            color=_palette(factor),
        )
    ax.set_title(
        f"Mean skill by level, as published, with {ci_prob:.0%} posterior intervals",
        fontsize=10.5,
        loc="left",
        color="0.25",
    )
    point = Line2D([], [], color="0.3", marker="o", ms=7, lw=0)
    bar = Line2D([], [], color="0.3", lw=2.2)
    ax.legend(
        [point, bar, band, best],
        [
            "printed mean (n = workers)",
            f"{ci_prob:.0%} posterior interval of the mean",
            f"workers in other studies commonly score {bench['typical_low']:g}-"
            f"{bench['typical_high']:g}",
            f"highest mean seen before ({bench['highest_seen']:g})",
        ],
        loc="lower center",
        ncols=2,
        fontsize=8.5,
        frameon=True,
        framealpha=0.9,
    )


def _prob_text(p: float) -> str:
    if p > 0.995:
        return "P(>0) > 0.99"
    if p < 0.005:
        return "P(>0) < 0.01"
    return f"P(>0) = {p:.2f}"


def _draw_model(ax, data: pd.DataFrame, ci_prob: float) -> None:
    x_of = {(f, str(lv)): x for f, lv, x in _positions()}
    ax.axhline(0.0, color="0.35", lw=1.0, zorder=1)
    for factor, _, _ in FACTORS:
        sub = data[data.factor == factor]
        xs = np.array([x_of[(factor, str(lv))] for lv in sub.level])
        colour = _palette(factor)
        ref = sub.reference.to_numpy(dtype=bool)
        ax.errorbar(
            xs[~ref],
            sub.estimate[~ref],
            yerr=[(sub.estimate - sub.ci_lower)[~ref], (sub.ci_upper - sub.estimate)[~ref]],
            fmt="D",
            ms=6.5,
            color=colour,
            ecolor=colour,
            elinewidth=2.2,
            capsize=4,
            zorder=3,
        )
        ax.plot(xs[ref], sub.estimate[ref], "D", ms=6.5, mfc="white", mec=colour, mew=1.5, zorder=3)
        for x, (_, r) in zip(xs, sub.iterrows(), strict=True):
            if r.reference:  # beside the open marker
                ax.annotate(
                    "reference",
                    (x, 0.0),
                    xytext=(8, 0),
                    textcoords="offset points",
                    ha="left",
                    va="center",
                    fontsize=8,
                    color="0.3",
                )
                continue
            # above the interval, so that neighbouring labels never overlap
            ax.annotate(
                f"{r.estimate:+.2f}\n{_prob_text(r.prob_positive)}",
                (x, r.ci_upper),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color="0.15",
                linespacing=1.1,
            )
    lo = min(-0.25, float(data.ci_lower.min()) - 0.1)
    top = max(0.25, float(data.ci_upper.max()))
    ax.set_ylim(lo, top + 0.45 * (top - lo))
    ax.set_ylabel("Model: effect on skill\n(points vs reference)")
    ax.set_title(
        f"Fitted model: posterior effect of each level, mean and {ci_prob:.0%} interval",
        fontsize=10.5,
        loc="left",
        color="0.25",
    )


def save_figure4(
    path: str | Path, result: Any = None, *, ci_prob: float | None = None, dpi: int = 150
) -> Path:
    """Draw Figure 4 and write it to ``path`` (PNG, PDF, SVG: any format matplotlib writes).

    Parameters
    ----------
    path : str or Path
        File to write; its suffix picks the format. Missing parent folders are created.
    result : FitResult, optional
        Passed to :func:`plot_figure4`.
    ci_prob : float, optional
        Probability of the intervals. ``None``: the default,
        :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).
    dpi : int, default 150
        Resolution of a raster format.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = save_figure4(pathlib.Path(tempfile.mkdtemp()) / "figure4.png")
    >>> out.stat().st_size > 10_000
    True
    """
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import FigureCanvasBase

    from pyramid.output import check_output, save_figure

    path = Path(path)
    formats = FigureCanvasBase.get_supported_filetypes()
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in formats:
        raise InputError(
            f"cannot write a figure to {str(path)!r}: the suffix must be one of "
            f"{', '.join('.' + f for f in sorted(formats))}; got {path.suffix or 'none'!r}"
        )
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 10:
        raise InputError(f"dpi must be a whole number >= 10, got {dpi!r}")
    check_output(path, ("." + fmt,), "figure")
    fig = plot_figure4(result, ci_prob=ci_prob)
    try:
        save_figure(fig, path, "figure", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
