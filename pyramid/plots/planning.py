"""The design analysis's figure: assurance and coverage by design point
(:func:`pyramid.design` writes it as ``assurance.png``)."""

from __future__ import annotations

import pandas as pd

from pyramid.errors import InputError

__all__ = ["plot_assurance"]


def plot_assurance(summary: pd.DataFrame):
    """Assurance (and coverage) by design point and effect, with +/- 2 MCSE bars.

    With a swept dimension (``summary["sweep"]``) the x axis is that dimension: an assurance
    curve per effect; otherwise one point per effect.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`design` or :func:`summarise_design`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> t = pd.DataFrame({"sweep": "units", "authorities": 5, "units": [2, 4], "workers_per_unit": 4,
    ...     "observations": 1, "effect": "clinician", "assurance": [0.5, 0.8],
    ...     "assurance_mcse": [0.05, 0.04], "coverage": [0.9, 0.88],
    ...     "coverage_mcse": [0.03, 0.03], "criterion": "direction", "level": 0.95,
    ...     "ci_prob": 0.9})
    >>> fig = plot_assurance(t)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['assurance', 'coverage of the 90% interval']
    """
    import seaborn as sns  # here: matplotlib and seaborn are slow to import
    from matplotlib.figure import Figure

    if summary.empty:
        raise InputError("nothing to plot: the summary has no rows")
    sweep = str(summary["sweep"].iloc[0]) if "sweep" in summary else ""
    x = sweep if sweep else "effect"
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    palette = dict(zip(summary["effect"].unique(),
                       sns.color_palette("colorblind", summary["effect"].nunique()),
                       strict=True))
    for ax, col, label in ((axes[0], "assurance", "assurance"),
                           (axes[1], "coverage", "coverage of the "
                            f"{float(summary['ci_prob'].iloc[0]):.0%} interval")):
        for eff, sub in summary.groupby("effect", sort=False):
            sub = sub.sort_values(x) if sweep else sub
            xs = sub[x].to_numpy()
            ax.errorbar(xs, sub[col], yerr=2 * sub[f"{col}_mcse"], marker="o", capsize=3,
                        color=palette[eff], label=str(eff), linestyle="-" if sweep else "none")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(label)
        ax.set_xlabel(f"{sweep} (design)" if sweep else "")
        if sweep:
            ax.set_xticks(sorted(summary[x].unique()))
        else:
            ax.tick_params(axis="x", rotation=30)
    crit = summary["criterion"].iloc[0]
    lvl = float(summary["level"].iloc[0])
    axes[0].set_title(f"assurance: {crit} criterion (level {lvl:g}), +/- 2 MCSE")
    axes[1].axhline(float(summary["ci_prob"].iloc[0]), color="grey", linestyle="--", lw=1)
    axes[1].set_title("coverage of the true value, +/- 2 MCSE")
    if sweep:
        axes[0].legend(title="effect", fontsize="small")
    sns.despine(fig=fig)
    fig.tight_layout()
    return fig
