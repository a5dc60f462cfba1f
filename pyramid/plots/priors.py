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
        The second value returned by :func:`prior_check` (its ``scale`` and ``difference``
        give the shaded scale and the right panel's words; RSW 2017's without them).
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
    smin, smax = draws_.get("scale", (schema.SCORE_MIN, schema.SCORE_MAX))
    axes[0].hist(np.clip(skill, min(lo, smin - 1), max(hi, smax + 1)), bins=80, color="#4c72b0")
    axes[0].axvspan(smin, smax, color="#dddddd", alpha=0.5, zorder=0,
                    label=f"the {smin}-{smax} scale")
    axes[0].set_xlabel("replicated skill of an observation")
    axes[0].legend(frameon=False)
    if draws_["expected"].shape[1] > 1:
        diff = draws_["expected"][:, 1] - draws_["expected"][:, 0]
        axes[1].hist(diff, bins=60, color="#dd8452")
        axes[1].set_xlabel("expected skill: "
                           + (draws_.get("difference") or "full pyramid minus reference"))
    else:  # a model without factors: nothing to compare
        axes[1].set_axis_off()
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
