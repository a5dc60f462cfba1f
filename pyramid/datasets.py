"""Data sets shipped with pyramid.

``rsw2017`` is **a reconstruction consistent with the published summaries, not the evaluation's
data**: 72 rows of observation-level data rebuilt by a seeded optimisation
(:mod:`pyramid.data.reconstruct`) so that its group sizes, means and SDs reproduce the tables of
the 2017 DfE evaluation of Reclaiming Social Work as closely as whole-number scores allow. The
evaluation's own data are not public. Use it to try pyramid's models and to see what the
report's tables imply at the level of observations; do not read its individual rows, units or
authorities as facts about the evaluation.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from pyramid.data import reconstruct

__all__ = ["load_rsw2017", "reconstruction_report"]


@cache
def _cached() -> pd.DataFrame:
    return reconstruct.read_cache()


def load_rsw2017() -> pd.DataFrame:
    """Load ``rsw2017``: a reconstruction consistent with the published summaries, not the
    evaluation's data.

    One row per coded observation of practice: the 27 RSW and 40 service-as-usual observations
    of the report's Table 1 and the 5 KFT observations of its Table 2, in the canonical frame of
    docs/architecture.md. Built by :func:`pyramid.data.reconstruct.build` (seeded; the result
    is cached in the package as ``rsw2017.csv``). :func:`reconstruction_report` compares every
    published number it targets with the reconstruction's.

    What is reconstructed and what is not:

    - exact: the Ns of Tables 1, 2, 14, 15 and 23, the clinician-by-discussion cross-tab of
      Part 4 (22 rows with a discussion code; the rest missing = not observed);
    - by optimisation: whole-number scores 1-5 on the five analysed domains whose means and SDs
      match Tables 10, 14 and 15 and the KFT domain means of Part 2 within the printed precision
      in 40 of the 42 cells of Tables 10, 14 and 15; the two others cannot be reached because
      the report's own numbers disagree (see the report's ``reason`` column);
    - ``evocation`` and ``autonomy`` are missing throughout: the report prints no summary of
      them;
    - authorities ``LA1`` .. ``LA5`` as the report numbers them (it does not say which council
      each is); units and workers are not reported: they follow documented rules (one worker per
      observation; RSW units of at most 4 observed workers, each with at most one worker on the
      CSW programme; usual-practice teams of at most 5; a KFT unit per authority), and the case
      discussion is a property of the unit.

    Table 10 compared 26 RSW with 41 usual observations, not Table 1's 27 with 40 (the only
    split under which all its means are possible; see
    :func:`pyramid.data.reconstruct.table10_split`): ``attrs["table10_group"]`` names the RSW
    observation it counted as usual, and :func:`pyramid.data.reconstruct.table10_group` gives
    the comparison group of every row.

    Returns
    -------
    pandas.DataFrame
        72 rows, columns ``observation, worker, unit, authority, group, training, discussion,
        clinician, collaboration, empathy, purposefulness, clarity, child_focus, evocation,
        autonomy, skill`` with the canonical dtypes. ``attrs``: ``description`` (the label
        above), ``seed`` and ``table10_group``. A fresh copy on every call.

    Examples
    --------
    >>> import pyramid as pyr
    >>> df = pyr.datasets.load_rsw2017()
    >>> df.attrs["description"][:58]
    'rsw2017: a reconstruction consistent with the published su'
    >>> df["group"].value_counts().to_dict()
    {'usual': 40, 'rsw': 27, 'kft': 5}
    >>> df["training"].value_counts(sort=False).to_dict()
    {'none': 35, 'other': 15, 'mla': 12, 'programme': 10}
    >>> round(float(df.loc[df["training"] == "programme", "skill"].mean()), 2)  # Table 14: 3.50
    3.5
    """
    return _cached().copy(deep=True)


def reconstruction_report(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """How closely ``rsw2017`` reproduces every published number it targets, and why not where
    it cannot.

    ``rsw2017`` is a reconstruction consistent with the published summaries, not the
    evaluation's data. The report has one row per published cell used as a target: the Ns of
    Tables 1 (observations per authority and group), 2 (KFT observations of practice), 14, 15,
    23, the cross-tab and the KFT domain means, Table 10's df; the means and SDs of Tables 10,
    14 and 15 and the KFT domain means quoted in Part 2; two ranges read from words in Part 2;
    and, as a check only, the correlation printed beside Table 15.

    Parameters
    ----------
    frame : pandas.DataFrame, optional
        A reconstruction to assess (for instance ``reconstruct.build(seed=2)``); default the
        shipped one.

    Returns
    -------
    pandas.DataFrame
        One row per target, columns:

        ==================== =====================================================================
        table                table id as in :mod:`pyramid.data.published` (``"10"``,
                             ``"crosstab"``, ``"kft_domains"``; ``"kft_text"`` for the ranges
                             read from words)
        row                  the row label as printed
        column               the column label as printed
        stat                 ``count``, ``n``, ``df``, ``mean``, ``sd``, ``band``, ``r``
        printed              the cell as printed
        value                the printed value as a number
        n                    rows the reconstruction's statistic is computed over
        reconstructed        the reconstruction's value
        difference           reconstructed - value
        tolerance            means: 1 unit of the last printed digit (0.01); SDs: 2 units
                             (0.02); Ns: 0 (exact)
        rounds_to_printed    the reconstructed value rounds to the printed one
        within_precision     ``abs(difference) <= tolerance``
        grim                 for means, ``consistent`` or ``GRIM-impossible`` (can n whole-number
                             scores, or n observations' skill scores, have a mean that rounds
                             to the printed one?); for SDs the same with GRIMMER
        flag                 not within the precision
        reason               why a printed value is not reached (GRIM, GRIMMER, an
                             inconsistency in the report itself, or a trade-off of the
                             optimisation); GRIM and GRIMMER failures are listed even where the
                             cell is within the precision
        note                 how the cell was read (Table 10's split, the ranges read from words)
        ==================== =====================================================================

        ``attrs["description"]`` carries the reconstruction's label.

    Examples
    --------
    >>> from pyramid import datasets
    >>> rep = datasets.reconstruction_report()
    >>> ms = rep[rep.table.isin(["10", "14", "15"]) & rep.stat.isin(["mean", "sd"])]
    >>> len(ms), int(ms["within_precision"].sum())
    (42, 40)
    >>> bool(rep.loc[rep.stat.isin(["count", "n", "df"]), "within_precision"].all())
    True
    """
    return reconstruct.fit_report(load_rsw2017() if frame is None else frame)
