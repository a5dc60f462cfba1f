"""Every figure pyramid draws, one module per workflow.

* :mod:`~pyramid.plots.figure4` -- Figure 4 of the report, redrawn (:func:`plot_figure4`);
* :mod:`~pyramid.plots.project` -- a new project against RSW 2017
  (:func:`plot_compare_project`);
* :mod:`~pyramid.plots.planning` -- the design analysis's assurance and coverage
  (:func:`plot_assurance`);
* :mod:`~pyramid.plots.calibration` -- SBC rank histograms (:func:`plot_ranks`);
* :mod:`~pyramid.plots.priors` -- the prior predictive check (:func:`plot_prior_check`);
* :mod:`~pyramid.plots.factors` -- Figure 4 for any study, from its data and fit
  (:func:`plot_factors`).

matplotlib and seaborn are imported when a figure is drawn, not with this package.
"""

from __future__ import annotations

from pyramid.plots.calibration import plot_ranks
from pyramid.plots.factors import factors_data, plot_factors
from pyramid.plots.figure4 import (
    FACTORS,
    REFERENCE,
    figure4_data,
    figure4_newdata,
    plot_figure4,
    save_figure4,
)
from pyramid.plots.planning import plot_assurance
from pyramid.plots.priors import plot_prior_check
from pyramid.plots.project import plot_compare_project

__all__ = [
    "FACTORS",
    "REFERENCE",
    "figure4_data",
    "figure4_newdata",
    "plot_figure4",
    "save_figure4",
    "plot_compare_project",
    "plot_assurance",
    "plot_ranks",
    "plot_prior_check",
    "factors_data",
    "plot_factors",
]
