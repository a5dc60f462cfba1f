"""Convergence checks and model comparison of fitted models.

:func:`diagnose` runs the checks every fit gets (divergences, rank-normalised R-hat, bulk and
tail ESS over every sampled quantity, E-BFMI; the estimators are :mod:`pyramid.mcmc_stats`'s,
vectorised over each variable's elements) and :func:`format_diagnostics` prints them with what
to do when one fails. :func:`loo_table` compares fitted models by PSIS-LOO.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pyramid import mcmc_stats
from pyramid.errors import InputError

__all__ = ["diagnose", "e_bfmi", "failed_checks", "format_diagnostics", "fit_verdict",
           "verdict", "per_element", "loo_table", "THRESHOLDS", "TAIL_PROB", "ADVICE", "CHECK_NAMES"]


#: The tail ESS's quantiles: the ESS of the 0.11 and of the 0.89 quantile indicators, the
#: smaller counting (arviz's default ``stats.ci_prob``, fixed here: pyramid's checks do not
#: follow a user's arviz configuration, and reading it would import arviz_base, 1 s).
TAIL_PROB = 0.89
#: Thresholds of the convergence checks.
THRESHOLDS = {"divergences": 0, "r_hat": 1.01, "ess_bulk": 400, "ess_tail": 400, "e_bfmi": 0.3}


#: What to do when a check fails.
ADVICE = {
    "divergences": "raise target_accept (e.g. fit(..., target_accept=0.99)); if they persist, "
    "the posterior has regions the sampler cannot explore: use a non-centred parametrisation "
    "for small groups, tighter priors on group SDs, or drop a level with very few groups",
    "r_hat": "chains disagree: run longer (more tune and draws) or more chains; check for "
    "multimodality or a weakly identified parameter",
    "ess_bulk": "too few effective draws for stable means: increase draws (or tune); a low ESS "
    "in one group SD often means that level has too few groups",
    "ess_tail": "too few effective draws in the tails for stable intervals: increase draws",
    "e_bfmi": "the sampler explores the energy poorly (heavy tails or a funnel): "
    "reparametrise (non-centred) or use tighter priors on SDs",
}


# --------------------------------------------------------------------------------------------
# convergence checks
# --------------------------------------------------------------------------------------------
def diagnose(idata: xr.DataTree, var_names: list[str] | None = None, *,
             reuse: dict | None = None) -> pd.DataFrame:
    """Convergence checks of a fit: divergences, R-hat, bulk and tail ESS, E-BFMI.

    Parameters
    ----------
    idata : xarray.DataTree
        With ``posterior`` and ``sample_stats`` groups.
    var_names : list of str, optional
        Posterior variables to check (default: all that vary).
    reuse : dict, optional
        Filled with each variable's per-element R-hat and ESS, keyed by its name and a hash
        of its draws; a later call given the same dict computes them only for variables
        whose draws differ. ``fit`` passes one from the extension's checks to the final
        diagnosis, which then computes only what was drawn after sampling.

    Returns
    -------
    pandas.DataFrame
        One row per check with columns ``check`` (``divergences``, ``r_hat``, ``ess_bulk``,
        ``ess_tail``, ``e_bfmi``), ``value`` (the worst value: count, max R-hat, min ESS, min
        E-BFMI over chains), ``where`` (the parameter or chain it occurs at), ``threshold``,
        ``passed`` (bool) and ``advice`` (what to do when it fails).
    """
    post = idata["posterior"].to_dataset()
    if var_names is None:
        # every varying quantity. A results file of format 1 also held sampling devices in
        # its posterior -- signed SDs and the z of their non-centred levels, whose sign is
        # arbitrary (the SDs and effects r = u * z are checked) -- and the discrete per-unit
        # values drawn after sampling (dim path_unit): those are left out
        signed = {str(v)[: -len("_signed")] for v in post.data_vars if str(v).endswith("_signed")}
        device = {f"z_{s_[3:]}" for s_ in signed if s_.startswith("sd_")}
        discrete = set(idata.attrs.get("discrete", [])) | {
            v for v in post.data_vars if "path_unit" in post[v].dims}
        var_names = [v for v in post.data_vars if not str(v).endswith("_signed")
                     and str(v) not in device and str(v) not in discrete
                     and float(post[v].std()) > 1e-12 * max(1.0, float(abs(post[v]).max()))]
    post = post[var_names]
    rows = []
    stats = idata["sample_stats"].to_dataset()
    n_div = int(stats["diverging"].sum()) if "diverging" in stats else 0
    rows.append(("divergences", n_div, "", THRESHOLDS["divergences"], n_div == 0))

    def worst(ds: xr.Dataset, fn) -> tuple[float, str]:
        best_v, best_at = None, ""
        for name, da in ds.data_vars.items():
            arr = np.asarray(da.values, dtype=float)
            if arr.size == 0 or np.all(np.isnan(arr)):
                continue
            idx = np.nanargmax(arr) if fn is max else np.nanargmin(arr)
            v = float(arr.ravel()[idx])
            if best_v is None or (v > best_v if fn is max else v < best_v):
                at = name
                if da.ndim:
                    pos = np.unravel_index(idx, arr.shape)
                    labels = [str(da[d].values[p]) if d in da.coords else str(p)
                              for d, p in zip(da.dims, pos, strict=True)]
                    at = f"{name}[{','.join(labels)}]"
                best_v, best_at = v, at
        return (float("nan") if best_v is None else best_v), best_at

    with warnings.catch_warnings():
        # an element that never changes (a level fixed by the data) gives 0/0: NaN, skipped
        warnings.simplefilter("ignore", RuntimeWarning)
        # vectorised over each variable's elements (arviz loops over them one by one: minutes
        # for the 25,000 group effects of a national domains fit); the same estimators
        # (all three at once: the split chains' ranks are shared, the blocks run in threads)
        r_ds, b_ds, t_ds = _checks_per_element(post, {} if reuse is None else reuse)
        rhat, rhat_at = worst(r_ds, max)
        ess_b, ess_b_at = worst(b_ds, min)
        ess_t, ess_t_at = worst(t_ds, min)
    rows.append(("r_hat", rhat, rhat_at, THRESHOLDS["r_hat"], bool(rhat <= THRESHOLDS["r_hat"])))
    rows.append(("ess_bulk", ess_b, ess_b_at, THRESHOLDS["ess_bulk"],
                 bool(ess_b >= THRESHOLDS["ess_bulk"])))
    rows.append(("ess_tail", ess_t, ess_t_at, THRESHOLDS["ess_tail"],
                 bool(ess_t >= THRESHOLDS["ess_tail"])))
    bfmi = e_bfmi(stats)
    if bfmi is not None:
        chain = int(np.nanargmin(bfmi))
        rows.append(("e_bfmi", float(bfmi[chain]), f"chain {chain}", THRESHOLDS["e_bfmi"],
                     bool(bfmi[chain] >= THRESHOLDS["e_bfmi"])))
    df = pd.DataFrame(rows, columns=["check", "value", "where", "threshold", "passed"])
    df["advice"] = [("" if ok else ADVICE[c]) for c, ok in zip(df["check"], df["passed"], strict=True)]
    return df


def _checks_per_element(post: xr.Dataset, known: dict) -> tuple[xr.Dataset, ...]:
    """R-hat, bulk and tail ESS of every element (three Datasets), each variable's taken from
    ``known`` when its draws were checked before, else computed and added to it."""
    out: tuple[dict, dict, dict] = ({}, {}, {})
    for name in post.data_vars:
        values = np.ascontiguousarray(post[name].transpose("chain", "draw", ...).values)
        key = (name, values.shape, values.dtype.str,
               hashlib.blake2b(values.view(np.uint8), digest_size=16).digest())
        if key not in known:
            known[key] = per_element(post[[name]],
                                     lambda a: mcmc_stats.checks(a, TAIL_PROB), n_out=3)
        for k in range(3):
            out[k][name] = known[key][k][name]
    return tuple(xr.Dataset(o) for o in out)


def per_element(post: xr.Dataset, fn: Callable, n_out: int = 1) -> xr.Dataset | tuple[xr.Dataset, ...]:
    """``fn`` (an array (chain, draw, ...) -> array (...), or with ``n_out`` > 1 a tuple of
    ``n_out`` such arrays) applied to every variable: a Dataset, or a tuple of ``n_out``
    Datasets in the order of ``fn``'s results."""
    out: list[dict[str, xr.DataArray]] = [{} for _ in range(n_out)]
    for name, da in post.data_vars.items():
        da = da.transpose("chain", "draw", ...)
        dims = da.dims[2:]
        coords = {d: da[d].values for d in dims if d in da.coords}
        res = fn(da.values)
        for k, r in enumerate(res if n_out > 1 else (res,)):
            out[k][name] = xr.DataArray(r, dims=dims, coords=coords)
    if n_out == 1:
        return xr.Dataset(out[0])
    return tuple(xr.Dataset(o) for o in out)


def e_bfmi(sample_stats: xr.Dataset) -> np.ndarray | None:
    """E-BFMI of each chain, or None when the sampler stored no energy.

    The mean squared change of the energy from draw to draw over its variance (Betancourt
    2016), as ``arviz.bfmi``, which ``tests/test_imports.py`` compares it with. Written
    out here, one line of NumPy, because importing arviz for it cost a fit 1.3-1.7 s
    (arviz_stats, arviz_plots, matplotlib).

    Examples
    --------
    >>> energy = np.random.default_rng(0).normal(size=(2, 1000))
    >>> ds = xr.Dataset({"energy": (("chain", "draw"), energy)})
    >>> [round(float(b), 1) for b in e_bfmi(ds)]
    [2.0, 2.0]
    """
    if "energy" not in sample_stats:
        return None
    energy = np.asarray(sample_stats["energy"].transpose("chain", "draw"), dtype=float)
    return np.square(np.diff(energy, axis=1)).mean(axis=1) / np.var(energy, axis=1, ddof=1)


#: Each check in words, as printed.
CHECK_NAMES = {"divergences": "divergent transitions", "r_hat": "max R-hat",
               "ess_bulk": "min bulk ESS", "ess_tail": "min tail ESS", "e_bfmi": "min E-BFMI"}


def _shown(check: str, value: float) -> str:
    return f"{int(value)}" if check == "divergences" else f"{value:.3f}" if check in (
        "r_hat", "e_bfmi") else f"{value:.0f}"


def _want(check: str, threshold: float) -> str:
    return f"want {'<=' if check in ('divergences', 'r_hat') else '>='} {threshold:g}"


def failed_checks(diag: pd.DataFrame) -> list[str]:
    """The checks of :func:`diagnose`'s table that failed, one phrase each.

    Examples
    --------
    >>> diag = pd.DataFrame({"check": ["r_hat", "ess_bulk"], "value": [1.052, 512.0],
    ...                      "where": ["b_clinician", "sigma"], "threshold": [1.01, 400],
    ...                      "passed": [False, True]})
    >>> failed_checks(diag)
    ['max R-hat 1.052 at b_clinician (want <= 1.01)']
    """
    return [f"{CHECK_NAMES[r['check']]} {_shown(r['check'], r['value'])}"
            + (f" at {r['where']}" if r["where"] else "") + f" ({_want(r['check'], r['threshold'])})"
            for _, r in diag[~diag["passed"].astype(bool)].iterrows()]


def format_diagnostics(diag: pd.DataFrame, bfmi_per_chain: list[float] | None = None) -> str:
    lines = ["convergence checks:"]
    for _, r in diag.iterrows():
        shown = _shown(r["check"], r["value"])
        where = f" ({r['where']})" if r["where"] else ""
        status = "ok  " if r["passed"] else "FAIL"
        lines.append(f"  {status} {CHECK_NAMES[r['check']]:<22} {shown:>8}{where}   "
                     f"({_want(r['check'], r['threshold'])})")
        if not r["passed"]:
            lines.append(f"       what to do: {r['advice']}")
    if bfmi_per_chain:
        lines.append("  E-BFMI per chain: " + ", ".join(f"{b:.2f}" for b in bfmi_per_chain))
    return "\n".join(lines)


_NAMES = {"divergences": "divergent transitions", "r_hat": "R-hat", "ess_bulk": "bulk ESS",
          "ess_tail": "tail ESS", "e_bfmi": "E-BFMI"}


def verdict(diag: pd.DataFrame, *, chains: int | None = None, draws: int | None = None,
            extension: Mapping[str, Any] | None = None, where: bool = True) -> str:
    """The one sentence every entry point (the API's fit, ``pyramid fit``, the report, the
    design analysis) says about a fit's convergence checks.

    Parameters
    ----------
    diag : pandas.DataFrame
        :func:`diagnose`'s table.
    chains, draws : int, optional
        Chains and draws per chain kept.
    extension : dict, optional
        ``FitResult.info["extension"]`` (:class:`pyramid.models.sampling.Extension`).
    where : bool, default True
        Name the parameter each failed check occurs at (the report leaves them out: they may
        carry group ids).

    Returns
    -------
    str
        ``"clean: ..."`` when every check passed, else ``"NOT CLEAN: ..."`` naming the
        failed checks, what was done about them and what to do.

    Examples
    --------
    >>> d = pd.DataFrame({"check": ["divergences", "r_hat"], "value": [0, 1.03],
    ...                   "where": ["", "sd_unit"], "passed": [True, False]})
    >>> print(verdict(d, chains=4, draws=1000, extension={"asked": 1000, "draws": 1000,
    ...       "blocks": 0, "stopped": "off"}))
    NOT CLEAN: R-hat 1.030 (sd_unit) failed its check with 4 chains x 1000 draws (not extended: turned off); do not report these draws: see "what to do" above, or fit again with more draws
    """
    ext = dict(extension or {})
    size = f"{chains} chains x {draws} draws" if chains and draws else "the draws kept"
    blocks = int(ext.get("blocks", 0) or 0)
    grown = (f", extended by {blocks} block{'s' if blocks != 1 else ''} of "
             f"{ext.get('asked')} draws" if blocks else "")
    failed = diag.loc[~diag["passed"].astype(bool)]
    if failed.empty:
        return f"clean: every convergence check passed with {size}{grown}"
    parts = []
    for _, r in failed.iterrows():
        at = (f" ({r['where']})" if where and isinstance(r.get("where"), str) and r["where"]
              else "")
        parts.append(f"{_NAMES.get(r['check'], r['check'])} {_shown(r['check'], r['value'])}{at}")
    why = {"budget": f"stopped: its time budget of {ext.get('budget_s', 0):.0f} s was spent",
           "limit": "stopped at the most blocks it draws",
           "not_extendable": "not extended: more draws do not fix "
           + ", ".join(_NAMES.get(c, c) for c in failed["check"] if c not in
                       ("r_hat", "ess_bulk", "ess_tail")),
           "off": "not extended: turned off"}.get(ext.get("stopped", ""), "")
    how = f"{size}{grown}" + (f" ({why})" if why else "")
    return (f"NOT CLEAN: {'; '.join(parts)} failed {'its check' if len(parts) == 1 else 'their checks'} "
            f"with {how}; do not report these draws: see \"what to do\" above, or fit again "
            "with more draws")


def fit_verdict(result: Any, *, where: bool = True) -> str:
    """:func:`verdict` of a :class:`pyramid.results.FitResult`."""
    post = result.idata["posterior"]
    return verdict(result.diagnostics, chains=int(post.sizes["chain"]),
                   draws=int(post.sizes["draw"]), extension=result.info.get("extension"),
                   where=where)


# --------------------------------------------------------------------------------------------
# model comparison
# --------------------------------------------------------------------------------------------
#: Columns of :func:`loo_table`, in order.
LOO_COLUMNS = ("model", "rank", "elpd", "se", "p", "elpd_diff", "dse", "weight", "warning",
               "n_obs", "left_out", "bad_k")


def loo_table(results: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """PSIS-LOO comparison of fitted models (arviz), with Pareto-k warnings.

    Parameters
    ----------
    results : dict
        Label -> FitResult (each with a ``log_likelihood`` group).

    Returns
    -------
    table : pandas.DataFrame
        One row per model, best first, unrounded: ``model``, ``rank``, ``elpd`` (expected log
        predictive density), ``se``, ``p`` (effective number of parameters), ``elpd_diff``
        and ``dse`` (difference from the best and its SE), ``weight`` (stacking),
        ``warning`` (arviz's), ``n_obs`` (pointwise values), ``left_out`` (what one of them
        is: ``row``, or ``unit`` for the unit-level pyramid model) and ``bad_k`` (values
        whose Pareto k exceeds arviz's threshold). Models fitted to different outcomes,
        rows or units of leaving out are not ranked (``rank``, differences and weights
        empty).
    warnings_ : list of str
        One line per model with high Pareto k, naming how many values and the worst k.
    """
    import arviz as az

    if not results:
        raise InputError("loo needs at least one results file")
    loos, notes = {}, []
    outcome = {}
    for label, res in results.items():
        if "log_likelihood" not in res.idata.children:
            raise InputError(f"{label}: the result has no log_likelihood group (fit with "
                             "log_likelihood=True)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo = az.loo(res.idata, pointwise=True)
        loos[label] = lo
        k = np.asarray(lo.pareto_k).ravel()
        bad = int((k > lo.good_k).sum())
        unit = _left_out(res)
        if bad:
            notes.append(
                f"warning: {label}: {bad} of {k.size} {unit}s have Pareto k > "
                f"{lo.good_k:.2f} (worst {np.nanmax(k):.2f}); LOO is unreliable for them: "
                "refit without them (reloo) or use k-fold cross-validation (pyramid loo --by)"
            )
        outcome[label] = (res.spec.outcome, len(res.data), res.info.get("data_sha256"), unit)
    comparable = len(set(outcome.values())) == 1
    if not comparable:
        notes.append(
            "warning: the models were not fitted to the same outcome and rows, or leave out "
            "different things (" + ", ".join(f"{k}: {o[0]} on {o[1]} rows, one {o[3]} at a "
                                             f"time" for k, o in outcome.items())
            + "): their elpd values are not comparable, so each model's LOO is shown alone "
            "(no ranking, differences or weights)"
        )
    rows = {label: {"model": label, "rank": np.nan, "elpd": float(lo.elpd), "se": float(lo.se),
                    "p": float(lo.p), "elpd_diff": np.nan, "dse": np.nan, "weight": np.nan,
                    "warning": bool(lo.warning)} for label, lo in loos.items()}
    if comparable and len(loos) == 1:
        rows[next(iter(rows))].update(rank=0, elpd_diff=0.0, dse=0.0, weight=1.0)
    elif comparable:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmp = az.compare(loos, round_to="none")
        for label, r in cmp.iterrows():
            rows[label].update(rank=int(r["rank"]), elpd_diff=float(r["elpd_diff"]),
                               dse=float(r["dse"]), weight=float(r["weight"]))
    table = pd.DataFrame(list(rows.values()))
    if comparable:
        table = table.sort_values("rank", kind="stable").reset_index(drop=True)
    table["n_obs"] = [int(np.asarray(loos[m].pareto_k).size) for m in table["model"]]
    table["left_out"] = [outcome[m][3] for m in table["model"]]
    table["bad_k"] = [int((np.asarray(loos[m].pareto_k) > loos[m].good_k).sum())
                      for m in table["model"]]
    return table[list(LOO_COLUMNS)], notes


def _left_out(res: Any) -> str:
    """What one pointwise log-likelihood value of a result is: ``row`` or ``unit``."""
    ll = res.idata["log_likelihood"]["obs"]
    dims = [d for d in ll.dims if d not in ("chain", "draw")]
    return str(dims[0]) if dims else "row"
