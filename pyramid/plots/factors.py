"""A Figure-4-style plot of any study's factors, from its own data and fit.

Figure 4 of the 2017 report (:func:`pyramid.plot_figure4`) draws RSW 2017's published means.
:func:`plot_factors` draws the same picture for a study of one's own: the mean overall score at
each level of each factor, from the data, and (given a fit) the model's effect of each level
against the reference level, the other factors held at theirs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pyramid.checks import check_prob
from pyramid.errors import InputError

__all__ = ["factors_data", "plot_factors"]

_GAP = 1.0


def _factors(study, spec=None) -> list:
    """The study's categorical, ordered and binary factors (the model's terms, given a spec)."""
    out = []
    terms = None
    if spec is not None:
        terms = {t[3:-1] if t.startswith("mo(") else t for t in spec.terms}
    for f in study.factors.values():
        if f.kind == "numeric":
            continue
        if terms is not None and f.name not in terms:
            continue
        out.append(f)
    return out


def _levels(f) -> list:
    return [0, 1] if f.kind == "binary" else list(f.ordered_levels)


def factors_data(result: Any = None, data: pd.DataFrame | None = None, *, study: Any = None,
                 ci_prob: float = 0.95) -> pd.DataFrame:
    """The numbers :func:`plot_factors` draws, as one tidy frame.

    Parameters
    ----------
    result : FitResult, optional
        A fit: its rows (``result.data``), study and ``expected_skill``.
    data : pandas.DataFrame, optional
        Observations (raw or validated) when no result is given.
    study : str, path or Study, optional
        The study of ``data`` (default: the result's, else the one the frame records, else
        ``rsw2017``).
    ci_prob : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        One row per factor level and source: ``source`` (``data``: the mean overall score of
        the rows at that level with a t interval; ``model``: the posterior effect against the
        reference level, the other factors at their reference levels and numeric factors at
        their centres), ``factor``, ``level``, ``label`` (the study's plot label),
        ``estimate``, ``ci_lower``, ``ci_upper``, ``n`` (rows; model rows: the rows at that
        level the fit used), ``reference`` (the reference level of the model rows).
    """
    from pyramid.study import load_study

    ci_prob = check_prob("ci_prob", ci_prob)
    if result is not None:
        study = result.spec.the_study
        frame = result.data
        spec = result.spec
    else:
        if data is None:
            raise InputError("plot_factors needs a fitted result or data")
        from pyramid.data.validate import is_canonical, validate

        if study is None:
            study = data.attrs.get("study") if isinstance(data.attrs, dict) else None
        study = load_study(study)
        frame = data if is_canonical(data, study) else validate(data, study=study)
        spec = None
    overall = study.overall.name
    rows = []
    factors = _factors(study, spec)
    if not factors:
        raise InputError(f"study {study.name!r} has no categorical, ordered or binary factor "
                         "to plot" + (f" among model {spec.name!r}'s terms" if spec else ""))
    y = pd.to_numeric(frame[overall], errors="coerce")
    for f in factors:
        col = frame[f.name].astype(object)
        for lv in _levels(f):
            sel = y[(col == lv).to_numpy() & y.notna().to_numpy()]
            n = len(sel)
            m = float(sel.mean()) if n else np.nan
            half = (float(stats.t.ppf(0.5 + ci_prob / 2, n - 1) * sel.std(ddof=1) / math.sqrt(n))
                    if n > 1 else np.nan)
            rows.append(dict(source="data", factor=f.name, level=lv,
                             label=f.level_label(lv, "plot"), estimate=m, ci_lower=m - half,
                             ci_upper=m + half, n=n, reference=False))
    if result is not None:
        rows += _model_rows(result, study, factors, ci_prob, frame)
    return pd.DataFrame(rows)


def _model_rows(result, study, factors, ci_prob, frame) -> list[dict]:
    base = {}
    for f in study.factors.values():
        if f.kind == "numeric":
            centring = (result.info.get("centring") or {}).get(f.name)
            base[f.name] = float(centring[0]) if centring else float(
                pd.to_numeric(frame[f.name], errors="coerce").mean())
        else:
            base[f.name] = _levels(f)[0]
    settings = [("reference", None)]
    for f in factors:
        for lv in _levels(f)[1:]:
            settings.append((f.name, lv))
    nd_rows = []
    for name, lv in settings:
        row = dict(base)
        if name != "reference":
            row[name] = lv
        nd_rows.append(row)
    nd = pd.DataFrame(nd_rows)
    for f in study.factors.values():
        if f.kind in ("categorical", "ordered"):
            nd[f.name] = pd.Categorical(nd[f.name], categories=list(f.levels),
                                        ordered=f.kind == "ordered")
        elif f.kind == "binary":
            nd[f.name] = nd[f.name].astype("Int8")
    draws = result.expected_skill(nd)
    arr = np.asarray(draws.transpose("chain", "draw", "row").values, dtype=float)
    flat = arr.reshape(-1, len(nd))
    lo_q, hi_q = 0.5 - ci_prob / 2, 0.5 + ci_prob / 2
    out = []
    for f in factors:
        n_ref = int((frame[f.name].astype(object) == _levels(f)[0]).sum())
        out.append(dict(source="model", factor=f.name, level=_levels(f)[0],
                        label=f.level_label(_levels(f)[0], "plot"), estimate=0.0,
                        ci_lower=0.0, ci_upper=0.0, n=n_ref, reference=True))
        for lv in _levels(f)[1:]:
            i = settings.index((f.name, lv))
            eff = flat[:, i] - flat[:, 0]
            out.append(dict(source="model", factor=f.name, level=lv,
                            label=f.level_label(lv, "plot"), estimate=float(eff.mean()),
                            ci_lower=float(np.quantile(eff, lo_q)),
                            ci_upper=float(np.quantile(eff, hi_q)),
                            n=int((frame[f.name].astype(object) == lv).sum()), reference=False))
    return out


def plot_factors(result: Any = None, data: pd.DataFrame | None = None, *, study: Any = None,
                 ci_prob: float = 0.95, title: str | None = None):
    """Figure 4 for any study: the mean overall score at each level of each factor, and the
    fitted model's effect of each level against the reference level.

    Parameters
    ----------
    result : FitResult, optional
        A fit (its data, study and model effects: a second panel).
    data : pandas.DataFrame, optional
        Observations, when no result is given (the data panel only).
    study : str, path or Study, optional
        The study of ``data``.
    ci_prob : float, default 0.95
        Probability of the intervals.
    title : str, optional
        Default: "What goes with better practice? (<study>)".

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from pyramid.data.example import future_project
    >>> from pyramid.study import draft_study
    >>> df = future_project()
    >>> fig = plot_factors(data=df, study=draft_study(df, name="future").study())
    >>> fig.axes[0].get_ylabel()
    'mean skill (1-7)'
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = factors_data(result, data, study=study, ci_prob=ci_prob)
    from pyramid.study import load_study

    study = result.spec.the_study if result is not None else load_study(
        study if study is not None else (data.attrs.get("study") if data is not None else None))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        if result is not None:
            fig, (ax_d, ax_m) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True,
                                             height_ratios=(2.0, 1.0), layout="constrained")
        else:
            fig, ax_d = plt.subplots(figsize=(10, 5.5), layout="constrained")
            ax_m = None
        palette = sns.color_palette("deep")
        x, ticks, labels, seps = 0.0, [], [], []
        positions = {}
        for k, (factor, sub) in enumerate(table[table.source == "data"].groupby(
                "factor", sort=False)):
            colour = palette[k % len(palette)]
            for _, r in sub.iterrows():
                positions[(factor, str(r.level))] = x
                ax_d.errorbar(x, r.estimate, yerr=[[r.estimate - r.ci_lower],
                                                    [r.ci_upper - r.estimate]],
                              fmt="o", color=colour, capsize=3)
                if np.isfinite(r.estimate):
                    ax_d.annotate(f"{r.estimate:.2f}\nn={r.n}", (x, r.ci_upper),
                                  textcoords="offset points", xytext=(0, 4), ha="center",
                                  fontsize=8)
                ticks.append(x)
                labels.append(r.label)
                x += 1.0
            seps.append(x - 0.5 + _GAP / 2)
            ax_d.text(np.mean([positions[(factor, str(lv))] for lv in sub.level]),
                      1.02, study.label_of(factor), transform=ax_d.get_xaxis_transform(),
                      ha="center", fontsize=10, fontweight="bold")
            x += _GAP
        ax_d.set_ylabel(f"mean {study.overall.label} ({study.scale_min}-{study.scale_max})")
        ax_d.set_ylim(study.scale_min, study.scale_max)
        if ax_m is not None:
            model = table[table.source == "model"]
            for k, (factor, sub) in enumerate(model.groupby("factor", sort=False)):
                colour = palette[k % len(palette)]
                for _, r in sub.iterrows():
                    xx = positions[(factor, str(r.level))]
                    marker = "s" if r.reference else "o"
                    ax_m.errorbar(xx, r.estimate, yerr=[[r.estimate - r.ci_lower],
                                                         [r.ci_upper - r.estimate]],
                                  fmt=marker, color=colour, capsize=3,
                                  mfc="white" if r.reference else colour)
            ax_m.axhline(0, color="0.4", lw=0.8)
            ax_m.set_ylabel(f"effect vs reference\n({study.overall.label} points)")
        bottom = ax_m if ax_m is not None else ax_d
        bottom.set_xticks(ticks)
        bottom.set_xticklabels(labels, fontsize=9)
        for a in (ax_d, ax_m):
            if a is not None:
                a.grid(axis="x", visible=False)
                for s in seps[:-1]:
                    a.axvline(s, color="0.75", lw=0.8, zorder=0)
        fig.suptitle(title or f"What goes with better practice? ({study.name})", fontsize=13,
                     fontweight="bold")
        caption = (f"Upper: mean {study.overall.label} of the rows at each level "
                   f"(n = rows), {ci_prob:.0%} t intervals, from the data.")
        if ax_m is not None:
            caption += (f" Lower: the fitted model's ({result.spec.name}) posterior effect of "
                        f"each level against the reference level (open square), the other "
                        f"factors at their reference levels and numeric ones at their centres; "
                        f"mean and {ci_prob:.0%} interval.")
        fig.text(0.01, 0.0, caption, ha="left", va="top", fontsize=8.5, color="0.25",
                 wrap=True)
    return fig
