"""The HTML report: one self-contained file about a fitted model, for an evaluator to share.

:func:`report` turns a :class:`~pyramid.results.FitResult` (or a results file) into one HTML file
with everything embedded: the figure as a base64 PNG, the style sheet inline, no script, no
font, no link that needs the network (a ``Content-Security-Policy`` in the file tells a browser
to load nothing from anywhere). It holds

* **the data**: what they are (a reconstruction, simulated, or as supplied), the sample, and
  descriptive tables by authority, unit and factor, with **small cells suppressed**
  (:func:`data_tables`);
* **the model and its priors in words**, generated from the spec and the prior set
  (:func:`model_description`, :func:`prior_table`), and what the priors imply for skill;
* **the convergence checks**, with what to do when one fails;
* **the comparison table** (:func:`pyramid.compare`);
* **Figure 4** with the model's effects (:func:`pyramid.plot_figure4`);
* **the caveats**: the data's origin, the observational design, the sample's size, what the
  model assumes; and the provenance of the fit.

The modules: :mod:`~pyramid.report.disclosure` (small-cell protection and its audit, apart
from any HTML), :mod:`~pyramid.report.tables` (the descriptive tables),
:mod:`~pyramid.report.describe` (the model, priors and data's origin in words),
:mod:`~pyramid.report.html` (the page).

Small cells
-----------
As official statistics do, a descriptive count of observations or workers from 1 to
``min_cell - 1`` is shown as ``<5`` (for ``min_cell=5``), and a mean or SD of skill from fewer
than ``min_cell`` observations or workers is withheld, because such cells can identify families
and workers. A suppressed count could still be worked out from the printed numbers;
:func:`protect` therefore suppresses further cells (*secondary suppression*, shown ``[c]``)
until :func:`audit` finds no small count that a reader can work out exactly: not by
subtraction from a total, not from all the totals together with the bounds a reader knows
(``<5`` is 1 to 4, ``[c]`` 5 or more), and not from a row's workers and observations together
(at most the most observations of one worker each). Counts of authorities and units are
counts of organisations, not of people, and are shown as they are. Model estimates (the
comparisons and the figure's model panel) are not descriptive cells and are not suppressed;
the report flags the factor levels with fewer than ``min_cell`` observations behind them.
"""

from __future__ import annotations

from pyramid.report.describe import (
    ORIGINS,
    data_origin,
    describe_prior,
    model_description,
    prior_table,
)
from pyramid.report.disclosure import Fact, additive, at_most, audit, protect
from pyramid.report.html import Report, report
from pyramid.report.tables import DataTables, data_tables

__all__ = [
    "report",
    "Report",
    "data_tables",
    "DataTables",
    "protect",
    "audit",
    "Fact",
    "additive",
    "at_most",
    "describe_prior",
    "prior_table",
    "model_description",
    "data_origin",
    "ORIGINS",
]
