"""The comparison of a new project with RSW 2017 (:func:`pyramid.compare_project`), drawn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pyramid.data.published import BENCHMARKS, EFFECTS, QUANTITIES, QUANTITY_LABELS
from pyramid.defaults import DEFAULT_CI_PROB
from pyramid.errors import InputError

__all__ = ["plot_compare_project", "example_table", "ANALYSIS_LABELS"]

#: Display labels of :func:`pyramid.compare_project`'s analyses, in table order.
ANALYSIS_LABELS = {
    "default_priors": "(a) default priors",
    "rsw2017_priors": "(b) rsw2017 priors",
    "joint": "(c) joint model",
}


def plot_compare_project(result: Any, *, title: str | None = None, caption: bool = True):
    """Draw a comparison: each factor in the new project and in RSW 2017, and the difference.

    Three panels: (left) each effect's posterior mean and interval in the new project and in
    RSW 2017, by analysis; (middle) the difference new minus RSW 2017 with
    P(new > RSW 2017); (bottom) mean skill of both projects against the report's
    benchmarks (band: 2-2.5, where workers commonly score; dashed: 3.24, the highest mean
    seen before).

    Parameters
    ----------
    result : ProjectComparison or pandas.DataFrame
        What :func:`compare_project` returned, or its ``table``.
    title : str, optional
        Figure title (default: "New project compared with RSW 2017").
    caption : bool, default True
        Add a caption saying what the intervals are.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_compare_project(example_table())
    >>> [a.get_title() for a in fig.axes][:2]
    ['Effect (skill points)', 'Difference: new - RSW 2017']
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    # a ProjectComparison, or its table
    table = result if isinstance(result, pd.DataFrame) else getattr(result, "table", result)
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"result must be a ProjectComparison or its table; got "
                         f"{type(result).__name__}")
    need = {"analysis", "quantity", "new_estimate", "new_ci_lower", "new_ci_upper",
            "reference_estimate", "reference_ci_lower", "reference_ci_upper",
            "difference_estimate", "difference_ci_lower", "difference_ci_upper",
            "prob_new_greater"}
    lacking = sorted(need - set(table.columns))
    if lacking:
        raise InputError(f"the table lacks the column(s) {', '.join(lacking)}; pass what "
                         "compare_project returned")
    ci_prob = table.attrs.get("ci_prob", DEFAULT_CI_PROB)
    analyses = [a for a in ANALYSIS_LABELS if a in set(table["analysis"])]
    palette = dict(zip(ANALYSIS_LABELS, sns.color_palette("deep")[:3], strict=True))
    effects = [q for q in EFFECTS if q in set(table["quantity"])]
    y0 = np.arange(len(effects))[::-1].astype(float)
    step = 0.8 / (2 * len(analyses))

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = plt.figure(figsize=(12, 7.6), layout="constrained")
        grid = fig.add_gridspec(2, 2, height_ratios=(len(effects), 1.8))
        ax_e = fig.add_subplot(grid[0, 0])
        ax_d = fig.add_subplot(grid[0, 1], sharey=ax_e)
        ax_m = fig.add_subplot(grid[1, :])
        for i, a in enumerate(analyses):
            sub = table[table.analysis == a].set_index("quantity")
            for j, q in enumerate(effects):
                if q not in sub.index:
                    continue
                r = sub.loc[q]
                base = y0[j] + 0.4 - step * (2 * i + 0.5)
                ax_e.errorbar(r.new_estimate, base,
                              xerr=[[r.new_estimate - r.new_ci_lower],
                                    [r.new_ci_upper - r.new_estimate]],
                              fmt="o", color=palette[a], ms=6, capsize=3,
                              label=f"new: {ANALYSIS_LABELS[a]}" if j == 0 else None)
                ax_e.errorbar(r.reference_estimate, base - step,
                              xerr=[[r.reference_estimate - r.reference_ci_lower],
                                    [r.reference_ci_upper - r.reference_estimate]],
                              fmt="s", mfc="white", color=palette[a], ms=5, capsize=3,
                              label=f"RSW 2017: {ANALYSIS_LABELS[a]}" if j == 0 else None)
                yd = y0[j] + 0.3 - 0.6 * i / max(1, len(analyses) - 1) if len(analyses) > 1 \
                    else y0[j]
                ax_d.errorbar(r.difference_estimate, yd,
                              xerr=[[r.difference_estimate - r.difference_ci_lower],
                                    [r.difference_ci_upper - r.difference_estimate]],
                              fmt="o", color=palette[a], ms=6, capsize=3)
                ax_d.annotate(f"P(new > RSW) = {r.prob_new_greater:.2f}",
                              (r.difference_ci_upper, yd), xytext=(5, -3),
                              textcoords="offset points", fontsize=8, color=palette[a])
        for ax in (ax_e, ax_d):
            ax.axvline(0, color="0.5", lw=1, zorder=0)
            for y in y0[:-1] - 0.5:
                ax.axhline(y, color="0.85", lw=0.8, zorder=0)
        ax_e.set_yticks(y0, [QUANTITY_LABELS[q] for q in effects])
        ax_e.set_ylim(-0.6, len(effects) - 0.4)
        ax_d.tick_params(labelleft=False)
        ax_e.set_title("Effect (skill points)")
        ax_d.set_title("Difference: new - RSW 2017")
        ax_d.grid(axis="y", visible=False)
        ax_e.grid(axis="y", visible=False)
        lo, hi = ax_d.get_xlim()
        ax_d.set_xlim(lo, hi + 0.35 * (hi - lo))

        bench = BENCHMARKS
        ax_m.axvspan(bench["typical_low"], bench["typical_high"], color="0.6", alpha=0.2, lw=0,
                     label="typical (2-2.5)")
        ax_m.axvline(bench["highest_seen"], color="0.35", ls="--", lw=1.1,
                     label="highest seen (3.24)")
        ys = []
        for i, a in enumerate(analyses):
            r = table[(table.analysis == a) & (table.quantity == "mean_skill")]
            if not len(r):
                continue
            r = r.iloc[0]
            y = len(analyses) - i
            ys.append((y, ANALYSIS_LABELS[a]))
            ax_m.errorbar(r.new_estimate, y + 0.15,
                          xerr=[[r.new_estimate - r.new_ci_lower],
                                [r.new_ci_upper - r.new_estimate]],
                          fmt="o", color=palette[a], ms=6, capsize=3)
            ax_m.errorbar(r.reference_estimate, y - 0.15,
                          xerr=[[r.reference_estimate - r.reference_ci_lower],
                                [r.reference_ci_upper - r.reference_estimate]],
                          fmt="s", mfc="white", color=palette[a], ms=5, capsize=3)
            if "prob_above_typical" in r and pd.notna(r.prob_above_typical):
                ax_m.annotate(f"new: P(> 2.5) = {r.prob_above_typical:.2f}, "
                              f"P(> 3.24) = {r.prob_above_highest:.2f}",
                              (r.new_ci_upper, y + 0.15), xytext=(6, -3),
                              textcoords="offset points", fontsize=8, color=palette[a])
        ax_m.set_yticks([y for y, _ in ys], [lab for _, lab in ys])
        ax_m.set_ylim(0.4, len(analyses) + 0.6)
        ax_m.set_title("Mean skill (1-5): new (circles) and RSW 2017 (squares)")
        ax_m.grid(axis="y", visible=False)
        lo, hi = ax_m.get_xlim()
        ax_m.set_xlim(min(lo, 1.8), max(hi + 0.4 * (hi - lo), 3.5))
        # one key, outside every panel (inside the effects panel it covered its bottom row)
        handles, labels = ax_e.get_legend_handles_labels()
        more = ax_m.get_legend_handles_labels()
        ax_m.legend(handles + more[0], labels + more[1], fontsize=8, loc="center left",
                    bbox_to_anchor=(1.01, 0.5), frameon=False)
        fig.suptitle(title or "New project compared with RSW 2017", fontsize=14,
                     fontweight="bold")
        if caption:
            room = 0.45 / fig.get_figheight()
            fig.get_layout_engine().set(rect=(0.0, room, 1.0, 1.0 - room))
            fig.text(0.01, 0.005,
                     f"Posterior means and {ci_prob:.0%} intervals. Circles: the new project "
                     f"(its coded observations); squares: RSW 2017 (its published Tables 14-15 "
                     f"and the Part 4 crosstab, never reconstructed data). (b) uses RSW 2017 "
                     f"as the prior of the new project, so its differences are shrunk to 0.",
                     ha="left", va="bottom", fontsize=8.5, color="0.25", wrap=True)
    return fig


def example_table() -> pd.DataFrame:
    """A small made-up comparison table (for the plot's example; not a result)."""
    rows = []
    for a, shift in (("default_priors", 0.0), ("joint", 0.1)):
        for j, q in enumerate(QUANTITIES):
            new = 2.8 + shift if q == "mean_skill" else 0.2 * j + shift
            refv = 2.7 if q == "mean_skill" else 0.2 * j
            rows.append({
                "analysis": a, "quantity": q, "new_estimate": new, "new_ci_lower": new - 0.3,
                "new_ci_upper": new + 0.3, "reference_estimate": refv,
                "reference_ci_lower": refv - 0.3, "reference_ci_upper": refv + 0.3,
                "difference_estimate": new - refv, "difference_ci_lower": new - refv - 0.4,
                "difference_ci_upper": new - refv + 0.4, "prob_new_greater": 0.6,
                "n_new": 40, "prob_below_typical": 0.0 if q == "mean_skill" else np.nan,
                "prob_typical": 0.1 if q == "mean_skill" else np.nan,
                "prob_above_typical": 0.9 if q == "mean_skill" else np.nan,
                "prob_above_highest": 0.05 if q == "mean_skill" else np.nan,
            })
    return pd.DataFrame(rows)
