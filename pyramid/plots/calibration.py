"""The calibration's figure: SBC rank histograms (:func:`pyramid.calibrate` writes it as
``ranks.png``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from pyramid.errors import InputError

__all__ = ["plot_ranks"]


def plot_ranks(ranks: pd.DataFrame, table: pd.DataFrame | None = None, *, bins: int | None = None):
    """SBC rank histograms, one panel per parameter, with the 99 % band of a uniform count.

    Parameters
    ----------
    ranks : pandas.DataFrame
        The long table of :func:`summarise_calibration` (``parameter``, ``rank``,
        ``n_ranks``).
    table : pandas.DataFrame, optional
        Its summary, to print each parameter's p-value in the panel title.
    bins : int, optional
        Histogram bins (default as the chi-square test: up to 20, dividing ``n_ranks + 1``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> r = pd.DataFrame({"parameter": "clinician", "rank": np.arange(100), "n_ranks": 99})
    >>> len(plot_ranks(r).axes)
    1
    """
    from matplotlib.figure import Figure  # here: matplotlib is slow to import

    if ranks.empty:
        raise InputError("nothing to plot: no ranks")
    params = list(dict.fromkeys(table["parameter"])) if table is not None and len(table) else \
        list(dict.fromkeys(ranks["parameter"]))
    ncol = min(4, len(params))
    nrow = math.ceil(len(params) / ncol)
    fig = Figure(figsize=(3.2 * ncol, 2.4 * nrow))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    pvals = dict(zip(table["parameter"], table["p_value"], strict=True)) if table is not None \
        and len(table) else {}
    for ax, name in zip(axes, params, strict=False):
        sub = ranks[ranks["parameter"] == name]
        n_values = int(sub["n_ranks"].max()) + 1
        n = len(sub)
        b = bins
        if b is None:
            fit = [k for k in range(min(20, n_values), 1, -1) if n_values % k == 0 and n / k >= 5]
            b = fit[0] if fit else min(10, n_values)
        counts = np.bincount(sub["rank"].to_numpy() * b // n_values, minlength=b)
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 1.0 / b)
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(n / b, color="0.5", lw=0.8, zorder=1)
        ax.bar(np.arange(b), counts, width=0.9, color="#4C72B0", zorder=2)
        title = name if name not in pvals else f"{name}  (p = {pvals[name]:.2f})"
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
    for ax in axes[len(params):]:
        ax.set_visible(False)
    fig.suptitle("SBC rank histograms (grey: 99 % band of each bin's count under uniformity)",
                 fontsize=10)
    fig.tight_layout()
    return fig
