"""Grouped K-fold cross-validation by refitting: how well a model predicts a new authority.

PSIS-LOO (:func:`pyramid.diagnostics.loo_table`) leaves out one row (or one unit) at a time;
an evaluation has few authorities, and what a commissioner asks is how the model does for an
authority it has not seen. :func:`kfold` answers that as brms's ``kfold(group=, joint=TRUE)``
does: for each group of the ``by`` level (each authority), the model is refitted to the other
groups' rows (same spec, priors, draws, tuning, sampler settings; the fold's seed
``checks.derived_seed(seed, k)``), and the held-out group's rows are scored *jointly*:

    elpd_k = log( (1/S) sum_s p(y_k | theta_s) )

over the refit's S posterior draws, where ``p(y_k | theta)`` is the joint density of all the
group's rows with the effects of its new groups (the authority, its units and workers)
integrated over ``Normal(0, sd_level)`` given each draw -- exactly for the Gaussian model and
within each unit of the ``pyramid`` model, by a fine grid for the authority effect of the
``pyramid`` model (:func:`pyramid.models.generated.heldout_loglik`). Levels above ``by`` keep
the refit's draws of their effects. The sum over groups is ``elpd_kfold``, its standard error
``sqrt(K var(elpd_k))``.

Every refit goes through :func:`pyramid.fit` and so through the one sampling door and its
compile cache (:mod:`pyramid.models.sampling`): a fold whose coded data have the shapes of an
earlier fold's reuses its compilation.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from pyramid.checks import derived_seed, positive_int
from pyramid.errors import DataWarning, InputError
from pyramid.fit import fit
from pyramid.models import generated
from pyramid.models.coding import prepare

__all__ = ["kfold", "kfold_table"]


def _check(result: Any, by: str) -> list[str]:
    spec = result.spec
    if by not in spec.groups:
        raise InputError(f"by must be one of the model's group levels "
                         f"({', '.join(spec.groups)}), got {by!r}")
    if spec.family == "cumulative_probit" or (spec.family == "path"
                                              and spec.path_level != "unit"):
        raise InputError(
            f"grouped K-fold is available for the skill and pyramid models; model "
            f"{spec.name!r} ({spec.family}) would need its new groups' effects integrated by "
            "Monte Carlo, which is not implemented: use pyramid loo (PSIS-LOO) for it")
    groups = list(pd.unique(result.data[by].astype(str)))
    if len(groups) < 2:
        raise InputError(f"grouped K-fold needs at least 2 groups of {by!r}; the result's data "
                         f"have {len(groups)}")
    return groups


def _levels(fold: Any, frame: pd.DataFrame, by: str) -> tuple[list, list]:
    """The held-out rows' new levels (at and below ``by``, as the refit kept them) and known
    ones (above it, with the index of each row's group among the refit's ids)."""
    kept = list(fold.groups_kept)
    order = list(fold.spec.groups)
    new_names = [g for g in kept if order.index(g) >= order.index(by)]
    known = []
    post = fold.posterior
    for g in kept:
        if g in new_names:
            continue
        ids = [str(v) for v in post[f"r_{g}"].coords[g].values]
        rows = frame[g].astype(str)
        if not rows.isin(ids).all():  # the whole outer group was held out: new as well
            new_names.append(g)
            continue
        known.append((g, np.array([ids.index(v) for v in rows], dtype=np.int64)))
    new_names = [g for g in order if g in new_names]
    par = {g: ("marginal" if g in ("unit", "worker") else "non_centred") for g in new_names}
    return generated.levels_of(frame, new_names, par), known


def kfold(result: Any, by: str = "authority", *, draws: int | None = None,
          tune: int | None = None, random_seed: int | None = None,
          progress: Any = None) -> pd.DataFrame:
    """Grouped K-fold cross-validation of a fitted model by refitting, one ``by`` group out
    at a time, with the held-out group's rows scored jointly (module docstring).

    Parameters
    ----------
    result : FitResult
        A fit of the ``skill`` or ``pyramid`` model (the unit-level path model).
    by : str, default "authority"
        The group level whose groups are left out in turn.
    draws, tune : int, optional
        Per chain for each refit; default the result's own (the draws its fit asked for:
        each refit is extended while its checks fail as the result's fit was, unless that
        fit's extension was turned off).
    random_seed : int, optional
        Default the result's seed; fold k uses ``checks.derived_seed(random_seed, k)``.
    progress : callable, optional
        Called with a line after each fold.

    Returns
    -------
    pandas.DataFrame
        One row per fold: ``fold``, ``by``, ``group`` (the id left out), ``n_rows``, ``elpd``
        (its joint log predictive density), ``converged`` and ``max_rhat`` of the refit.
        ``attrs``: ``elpd_kfold`` (the sum), ``se`` (``sqrt(K var(elpd))``), ``K``,
        ``model``, ``n_rows``, ``data_sha256``.

    Raises
    ------
    InputError
        ``by`` not a group level of the model, fewer than 2 groups, or a model without an
        exact held-out density (``domains``).

    Examples
    --------
    Refitting takes a while, so not run here (tests/test_kfold.py runs it):

    >>> import pyramid as pyr
    >>> res = pyr.fit(pyr.simulate((4, 2, 2, 2), seed=1).data, random_seed=1)  # doctest: +SKIP
    >>> folds = pyr.kfold(res, "authority")                                      # doctest: +SKIP
    >>> folds.attrs["K"], round(folds.attrs["elpd_kfold"], 1)                    # doctest: +SKIP
    (4, -31.2)
    """
    groups = _check(result, by)
    info = result.info
    post = result.idata["posterior"]
    asked = info.get("draws_asked", post.sizes["draw"])  # format 1: no extension
    draws = positive_int("draws", draws if draws is not None else int(asked))
    extend = (info.get("extension") or {}).get("stopped") != "off"
    tune = positive_int("tune", tune if tune is not None else int(info.get("tune", 1000)))
    seed = int(random_seed if random_seed is not None else info.get("seed", 0))
    data = result.data.reset_index(drop=True)
    key = data[by].astype(str)
    rows = []
    for k, g in enumerate(groups):
        train, held = data[key != g], data[key == g].reset_index(drop=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            fold = fit(train, model=result.spec, priors=result.priors, draws=draws, tune=tune,
                       chains=int(post.sizes["chain"]), random_seed=derived_seed(seed, k),
                       target_accept=info.get("target_accept"),
                       adaptation=info.get("adaptation"),
                       max_tree_depth=info.get("max_tree_depth"), extend=extend,
                       progressbar=False, verbose=False,
                       log_likelihood=False, prior_draws=10)
            md = prepare(result.spec, held, warn=False)
        new, known = _levels(fold, md.frame, by)
        fold_draws, _ = generated.stack_draws(fold.idata["posterior"].to_dataset())
        ll = generated.heldout_loglik(md, fold_draws, new, known)
        elpd = float(special.logsumexp(ll) - math.log(ll.size))
        diag = fold.diagnostics.set_index("check")
        rows.append({"fold": k, "by": by, "group": g, "n_rows": md.n_rows, "elpd": elpd,
                     "converged": bool(fold.converged),
                     "max_rhat": float(diag.loc["r_hat", "value"])
                     if "r_hat" in diag.index else math.nan})
        if progress is not None:
            progress(f"fold {k + 1}/{len(groups)}: {by} {g} left out, {md.n_rows} rows, "
                     f"elpd {elpd:.2f}")
    out = pd.DataFrame(rows)
    n = len(out)
    out.attrs.update(elpd_kfold=float(out["elpd"].sum()),
                     se=float(math.sqrt(n * out["elpd"].var(ddof=1))) if n > 1 else math.nan,
                     K=n, model=result.spec.name, n_rows=len(data),
                     data_sha256=info.get("data_sha256"), by=by)
    return out


def kfold_table(folds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Models side by side from their :func:`kfold` frames: ``model``, ``elpd_kfold``,
    ``se``, ``K``, ``n_rows``, ``elpd_diff`` and ``dse`` from the best (paired by group, as
    brms's ``loo_compare``), ``not_converged`` (folds whose refit failed its checks). Models
    fitted to different rows, or left out by different levels, are not compared (diffs
    empty).

    Examples
    --------
    >>> a = pd.DataFrame({"group": ["x", "y"], "elpd": [-3.0, -4.0], "converged": [True] * 2})
    >>> a.attrs.update(elpd_kfold=-7.0, se=1.4, K=2, n_rows=9, data_sha256="h", by="authority")
    >>> b = a.copy(); b["elpd"] = [-3.5, -4.5]
    >>> b.attrs.update(a.attrs, elpd_kfold=-8.0)
    >>> kfold_table({"a": a, "b": b})[["model", "elpd_diff", "dse"]].values.tolist()
    [['a', 0.0, 0.0], ['b', -1.0, 0.0]]
    """
    rows = []
    for label, f in folds.items():
        rows.append({"model": label, "elpd_kfold": f.attrs["elpd_kfold"], "se": f.attrs["se"],
                     "K": f.attrs["K"], "n_rows": f.attrs["n_rows"],
                     "not_converged": int((~f["converged"].astype(bool)).sum())})
    out = pd.DataFrame(rows).sort_values("elpd_kfold", ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    same = len({(f.attrs["n_rows"], f.attrs.get("data_sha256"), f.attrs.get("by"),
                 tuple(f["group"])) for f in folds.values()}) == 1
    best = folds[out.loc[0, "model"]]
    diffs, dses = [], []
    for label in out["model"]:
        d = (folds[label]["elpd"].to_numpy() - best["elpd"].to_numpy()) if same else None
        diffs.append(float(d.sum()) if same else math.nan)
        dses.append(float(math.sqrt(len(d) * d.var(ddof=1))) if same and len(d) > 1
                    else math.nan)
    out["elpd_diff"], out["dse"] = diffs, dses
    return out[["model", "elpd_kfold", "se", "elpd_diff", "dse", "K", "n_rows",
                "not_converged"]]
