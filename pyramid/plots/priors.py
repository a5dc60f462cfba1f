"""The prior predictive check's figure (:func:`pyramid.fit.prior_check`, ``pyramid priors
check --plot``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyramid.data import schema
from pyramid.errors import InputError

__all__ = ["plot_prior_check"]


def plot_prior_check(draws_: dict[str, np.ndarray], path: str | Path, *, title: str = "") -> Path:
    """Histogram of the replicated skill scores of a prior predictive check, saved to ``path``.

    Parameters
    ----------
    draws_ : dict
        The second value returned by :func:`prior_check`.
    path : str or Path
        Image file (.png, .pdf, .svg).

    Returns
    -------
    Path
    """
    import matplotlib  # here: matplotlib is slow to import

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    skill = draws_["skill"].ravel()
    lo, hi = np.quantile(skill, [0.001, 0.999])
    axes[0].hist(np.clip(skill, min(lo, 0), max(hi, 6)), bins=80, color="#4c72b0")
    axes[0].axvspan(schema.SCORE_MIN, schema.SCORE_MAX, color="#dddddd", alpha=0.5, zorder=0,
                    label="the 1-5 scale")
    axes[0].set_xlabel("replicated skill of an observation")
    axes[0].legend(frameon=False)
    diff = draws_["expected"][:, 1] - draws_["expected"][:, 0]
    axes[1].hist(diff, bins=60, color="#dd8452")
    axes[1].set_xlabel("expected skill: full pyramid minus reference")
    for ax in axes:
        ax.set_ylabel("draws")
        ax.spines[["top", "right"]].set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    from pyramid.output import save_figure

    try:
        save_figure(fig, path, "plot", dpi=120)
    except ValueError as exc:
        raise InputError(f"cannot write the plot {str(path)!r}: {exc}") from None
    finally:
        plt.close(fig)
    return path
