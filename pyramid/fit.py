"""Fit a model: sampling, diagnostics, results files with provenance.

:func:`fit` turns a data frame, a model spec and a prior set into a :class:`FitResult`: it
validates the data, codes them (:mod:`pyramid.models.coding`), builds the PyMC model
(:mod:`pyramid.models.builder`), samples it with nutpie (PyMC's NUTS as fallback), draws what
the sampler does not (integrated-out group effects, log-likelihoods, predictive draws, prior
draws) and checks convergence. :meth:`FitResult.save` writes an arviz ``DataTree`` ``.nc``
file with the spec, priors, data hash, versions, seed and sampler as attributes, and
:func:`load` restores a result that works with every later command.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pyramid import mcmc_stats
from pyramid.data import schema
from pyramid.errors import InputError, PyramidError, check_prob
from pyramid.errors import positive_int as _positive_int
from pyramid.executor import default_jobs
from pyramid.models.malloc import reuse_freed_memory
from pyramid.specs import (
    ModelSpec,
    PriorDist,
    PriorSet,
    load_priors,
    load_spec,
    spec_from_text,
)

__all__ = [
    "fit",
    "load",
    "FitResult",
    "diagnose",
    "loo_table",
    "prior_check",
    "plot_prior_check",
    "data_hash",
    "DEFAULT_MODEL",
    "RESULT_FORMAT",
]

#: The model :func:`fit` uses when none is named. ``pyramid`` keeps every row (it integrates
#: out a missing discussion or clinician), where ``skill`` and ``domains`` must leave out rows
#: missing them: on the reference data 72 rows against 22 (see docs/user_guide/models.rst).
DEFAULT_MODEL = "pyramid"

#: Version of the results-file layout (root attribute ``pyramid_result``).
RESULT_FORMAT = "1"

#: Thresholds of the convergence checks.
THRESHOLDS = {"divergences": 0, "r_hat": 1.01, "ess_bulk": 400, "ess_tail": 400, "e_bfmi": 0.3}

_ADVICE = {
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
# helpers
# --------------------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("rsw-pyramid", "pymc", "pytensor", "nutpie", "arviz", "numpy", "pandas",
                "xarray", "scipy", "h5netcdf"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def data_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a canonical serialisation of a data frame.

    The frame is written as CSV (columns in order, no index, floats with 12 significant
    digits, missing as empty), so the same data give the same hash whatever their dtypes'
    in-memory layout.

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1.0, None], "b": ["x", "y"]})
    >>> data_hash(df) == data_hash(df.copy())
    True
    """
    text = frame.to_csv(index=False, float_format="%.12g", na_rep="", lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _as_canonical(data: pd.DataFrame, spec: ModelSpec, validate: bool) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not validate:
        return data
    try:
        from pyramid.data.validate import validate as _validate
    except ModuleNotFoundError:  # pragma: no cover - while validate.py does not exist
        return data
    return _validate(data, model=spec)


def _seed(random_seed: Any) -> int:
    if random_seed is None:
        return int(np.random.SeedSequence().entropy % (2**31 - 1))
    if isinstance(random_seed, bool) or not isinstance(random_seed, int | np.integer):
        raise InputError(f"random_seed must be a whole number >= 0 or None, got {random_seed!r}")
    if random_seed < 0:
        raise InputError(f"random_seed must be >= 0, got {random_seed!r}")
    return int(random_seed)


def _drop_warmup(dt: xr.DataTree) -> xr.DataTree:
    keep = {k: dt[k].to_dataset() for k in dt.children if not k.startswith("warmup")
            and k not in ("unconstrained_posterior",)}
    return xr.DataTree.from_dict(keep)


def _prior_draws(built, n: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of every free variable and deterministic (but ``loglik_total``) from the prior.

    Free variables come from ``pm.draw``. A variable with an ordered transform (thresholds)
    has the density of its distribution restricted to increasing values, i.e. it is
    distributed as the *sorted* draws of that distribution, which ``pm.draw`` (ignoring
    transforms) does not give: those draws are sorted here. Deterministics are then computed
    from the free values, all draws in one call. Everything is compiled in PyTensor's Python
    mode: one evaluation does not repay a C or numba compilation.
    """
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt
    from pymc.distributions.transforms import Ordered
    from pytensor.graph import clone_replace
    from pytensor.graph.replace import vectorize_graph

    model = built.model
    free = list(model.free_RVs)
    values = pm.draw(free, draws=n, random_seed=seed, mode="FAST_COMPILE")
    out: dict[str, np.ndarray] = {}
    for rv, v in zip(free, values, strict=True):
        v = np.asarray(v, dtype=float)
        if n == 1:  # pm.draw returns a single draw without the draw axis
            v = v[None]
        if isinstance(model.rvs_to_transforms.get(rv), Ordered):
            v = np.sort(v, axis=-1)
        out[rv.name] = v
    # not loglik_total: the observed data's log-likelihood is a check of the fit, not a prior
    # quantity, and at 500 draws it cost 11 of a national fit's 16 s of post-processing (the
    # likelihood evaluated draw by draw in Python mode)
    dets = [d for d in model.deterministics if d.name != "loglik_total"]
    if dets:
        inputs = [rv.type() for rv in free]
        outs = clone_replace(dets, dict(zip(free, inputs, strict=True)))
        # one call over all draws at once (the graph vectorised with a leading draw axis), not
        # one call per draw: the pyramid model's 1000 prior draws in 1.5 s instead of 12 s
        batched = [pt.tensor(dtype=i.dtype, shape=(None, *i.type.shape)) for i in inputs]
        vouts = vectorize_graph(outs, replace=dict(zip(inputs, batched, strict=True)))
        fn = pytensor.function(batched, vouts, mode="FAST_COMPILE", on_unused_input="ignore")
        values = fn(*[out[rv.name] for rv in free])
        for d, v in zip(dets, values, strict=True):
            v = np.asarray(v, dtype=float)
            if v.ndim == d.type.ndim:  # does not depend on the free variables: no draw axis
                v = np.repeat(v[None], n, axis=0)
            out[d.name] = v
    return out


def _dataset(draws: dict[str, np.ndarray], shape: tuple[int, int], dims: dict, coords: dict) -> xr.Dataset:
    data_vars = {}
    for name, arr in draws.items():
        arr = np.asarray(arr).reshape(*shape, *np.shape(arr)[1:])
        d = list(dims.get(name, ()))
        extra = arr.ndim - 2
        if len(d) != extra:
            d = [f"{name}_dim_{i}" for i in range(extra)]
        data_vars[name] = (("chain", "draw", *d), arr)
    ds = xr.Dataset(data_vars, coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1])})
    for name, vals in coords.items():
        if name in ds.dims:
            ds = ds.assign_coords({name: list(vals)})
    return ds


# --------------------------------------------------------------------------------------------
# diagnostics
# --------------------------------------------------------------------------------------------
def diagnose(idata: xr.DataTree, var_names: list[str] | None = None) -> pd.DataFrame:
    """Convergence checks of a fit: divergences, R-hat, bulk and tail ESS, E-BFMI.

    Parameters
    ----------
    idata : xarray.DataTree
        With ``posterior`` and ``sample_stats`` groups.
    var_names : list of str, optional
        Posterior variables to check (default: all that vary).

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
        # every varying quantity except the signed SDs and the z of their non-centred levels,
        # sampling devices whose sign is arbitrary (the SDs and effects r = u * z are checked),
        # and the discrete per-unit values drawn after sampling (<mediator>_unit)
        signed = {str(v)[: -len("_signed")] for v in post.data_vars if str(v).endswith("_signed")}
        device = {f"z_{s_[3:]}" for s_ in signed if s_.startswith("sd_")}
        discrete = set(idata.attrs.get("discrete", [])) | {
            v for v in post.data_vars if str(v).endswith("_unit")}
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
        r_ds, b_ds, t_ds = _per_element(post, mcmc_stats.checks, n_out=3)
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
    df["advice"] = [("" if ok else _ADVICE[c]) for c, ok in zip(df["check"], df["passed"], strict=True)]
    return df


def _per_element(post: xr.Dataset, fn, n_out: int = 1) -> xr.Dataset | tuple[xr.Dataset, ...]:
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
    """E-BFMI of each chain (arviz), or None when the sampler stored no energy."""
    import arviz as az

    if "energy" not in sample_stats:
        return None
    return np.atleast_1d(np.asarray(az.bfmi(sample_stats["energy"]), dtype=float)).ravel()


def _format_diagnostics(diag: pd.DataFrame, bfmi_per_chain: list[float] | None = None) -> str:
    names = {"divergences": "divergent transitions", "r_hat": "max R-hat",
             "ess_bulk": "min bulk ESS", "ess_tail": "min tail ESS", "e_bfmi": "min E-BFMI"}
    lines = ["convergence checks:"]
    for _, r in diag.iterrows():
        rel = "<=" if r["check"] in ("divergences", "r_hat") else ">="
        v = r["value"]
        shown = f"{int(v)}" if r["check"] == "divergences" else f"{v:.3f}" if r["check"] in (
            "r_hat", "e_bfmi") else f"{v:.0f}"
        where = f" ({r['where']})" if r["where"] else ""
        status = "ok  " if r["passed"] else "FAIL"
        lines.append(f"  {status} {names[r['check']]:<22} {shown:>8}{where}   (want {rel} "
                     f"{r['threshold']})")
        if not r["passed"]:
            lines.append(f"       what to do: {r['advice']}")
    if bfmi_per_chain:
        lines.append("  E-BFMI per chain: " + ", ".join(f"{b:.2f}" for b in bfmi_per_chain))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """A fitted model.

    Attributes
    ----------
    idata : xarray.DataTree
        Groups ``posterior``, ``prior``, ``sample_stats``, ``observed_data``,
        ``log_likelihood`` (when asked), ``constant_data`` (the rows used), and on request
        ``prior_predictive`` / ``posterior_predictive``.
    spec : ModelSpec
    priors : PriorSet
    data : pandas.DataFrame
        The canonical rows the model used.
    dropped : dict
        Column -> number of input rows left out because it was missing.
    diagnostics : pandas.DataFrame
        See :func:`diagnose`.
    info : dict
        Provenance: seed, sampler, data hash, versions, timings, notes.
    """

    idata: xr.DataTree
    spec: ModelSpec
    priors: PriorSet
    data: pd.DataFrame
    dropped: dict[str, int]
    diagnostics: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        ok = bool(self.diagnostics["passed"].all()) if len(self.diagnostics) else False
        post = self.idata["posterior"]
        return (
            f"FitResult(model={self.spec.name!r}, priors={self.priors.name!r}, "
            f"rows={len(self.data)}, dropped={self.n_dropped}, "
            f"chains={post.sizes['chain']}, draws={post.sizes['draw']}, "
            f"sampler={self.info.get('sampler')!r}, converged={ok})"
        )

    # ---------------------------------------------------------------- properties
    @property
    def n_dropped(self) -> int:
        """Number of input rows the model left out."""
        return int(self.info.get("rows_input", len(self.data))) - len(self.data)

    @property
    def converged(self) -> bool:
        """Whether every convergence check passed."""
        return bool(self.diagnostics["passed"].all())

    @property
    def groups_kept(self) -> list[str]:
        """Group levels in the fitted model (aliased levels left out)."""
        return list(self.info.get("groups_kept", []))

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws."""
        return self.idata["posterior"].to_dataset()

    @property
    def prior(self) -> xr.Dataset:
        """The prior draws."""
        return self.idata["prior"].to_dataset()

    def _model_data(self):
        from pyramid.models.coding import prepare

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return prepare(self.spec, self.data, warn=False)

    # ---------------------------------------------------------------- tables
    def coefs(self, ci_prob: float = 0.9) -> pd.DataFrame:
        """Posterior summary of the fixed effects, named as the simulator's truth.

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability of the equal-tailed interval.

        Returns
        -------
        pandas.DataFrame
            Columns ``name`` (truth name, ``latent:`` prefixed on the probit scale of the
            domains model), ``variable``, ``mean``, ``sd``, ``lower``, ``upper``,
            ``ess_bulk``, ``r_hat``.
        """
        ci_prob = check_prob("ci_prob", ci_prob)
        post = self.posterior
        coefs = json.loads(self.info["coefs"])
        used = post[sorted({var for var, _ in coefs.values()})]  # not the group effects
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # constant elements: NaN
            rhat = _per_element(used, mcmc_stats.rhat_rank)
            ess = _per_element(used, mcmc_stats.ess_bulk)
        rows = []
        scale = self.info.get("scale", "skill")
        for name, (var, sel) in coefs.items():
            da = post[var].sel(sel) if sel else post[var]
            vals = da.values.ravel()
            lo, hi = np.quantile(vals, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
            rows.append({
                "name": f"latent:{name}" if scale == "latent" else name,
                "variable": var + ("[" + ",".join(map(str, sel.values())) + "]" if sel else ""),
                "mean": float(vals.mean()), "sd": float(vals.std(ddof=1)),
                "lower": float(lo), "upper": float(hi),
                "ess_bulk": float(ess[var].sel(sel) if sel else ess[var]),
                "r_hat": float(rhat[var].sel(sel) if sel else rhat[var]),
            })
        return pd.DataFrame(rows)

    # ---------------------------------------------------------------- expected skill
    def expected_skill(self, newdata: pd.DataFrame, group: str = "posterior") -> xr.DataArray:
        """Draws of the expected overall skill (1-5 scale, group effects at zero) per row.

        Parameters
        ----------
        newdata : pandas.DataFrame
            One row per covariate setting, with the model's term columns: ``training``,
            ``clinician`` (0/1), ``discussion``; for ``pyramid`` also ``csw`` (0/1) or
            ``group``/``unit`` to derive it. For ``pyramid`` a missing (or absent)
            ``discussion`` / ``clinician`` is integrated out over its equation (a total
            effect); given, it is held fixed (a direct effect).
        group : {"posterior", "prior"}, default "posterior"
            Which draws to use.

        Returns
        -------
        xarray.DataArray
            ``expected_skill`` with dims ``(chain, draw, row)``.

        Raises
        ------
        InputError
            Unknown group, a needed column absent or missing, an unknown level.
        """
        from pyramid.models import generated

        if group not in ("posterior", "prior"):
            raise InputError(f"group must be 'posterior' or 'prior', got {group!r}")
        draws, shape = generated.stack_draws(self.idata[group].to_dataset())
        values = generated.expected_skill(
            self.spec, draws, newdata, groups=self.groups_kept,
            domains=list(self.info.get("domains", [])),
        )
        arr = generated.unstack(values, shape)
        return xr.DataArray(
            arr, dims=("chain", "draw", "row"),
            coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1]),
                    "row": np.arange(arr.shape[-1])},
            name="expected_skill",
        )

    # ---------------------------------------------------------------- saving
    def save(self, path: str | Path) -> Path:
        """Write the result to a ``.nc`` file (arviz DataTree via h5netcdf).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
            Where it was written.
        """
        path = Path(path)
        if path.suffix != ".nc":
            raise InputError(f"a results file must end in .nc, got {str(path)!r}")
        dt = self.idata.copy()
        attrs = {k: (v if isinstance(v, str | int | float) else json.dumps(v, default=str))
                 for k, v in self.info.items()}
        attrs.update({
            "pyramid_result": RESULT_FORMAT,
            "spec_text": self.spec.text,
            "spec_source": self.spec.source,
            "priors_text": self.priors.text,
            "priors_source": self.priors.source,
            "priors_json": json.dumps(_priors_to_dict(self.priors)),
            "dropped": json.dumps(self.dropped),
            "diagnostics": self.diagnostics.to_json(orient="records"),
        })
        dt.attrs = attrs
        dt["constant_data"] = xr.DataTree(_frame_to_dataset(self.data))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            dt.to_netcdf(path, engine="h5netcdf")
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot write results file {str(path)!r}: {exc}") from None
        return path


def _priors_to_dict(p: PriorSet) -> dict:
    return {
        "name": p.name, "description": p.description,
        "classes": {k: [v.dist, v.params] for k, v in p.classes.items()},
        "coef": {k: [v.dist, v.params] for k, v in p.coef.items()},
    }


def _priors_from_dict(d: dict, text: str, source: str) -> PriorSet:
    from types import MappingProxyType

    return PriorSet(
        name=d["name"], description=d["description"],
        classes=MappingProxyType({k: PriorDist(v[0], dict(v[1])) for k, v in d["classes"].items()}),
        coef=MappingProxyType({k: PriorDist(v[0], dict(v[1])) for k, v in d["coef"].items()}),
        text=text, source=source,
    )


def _frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    out = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            vals = s.astype(object).where(s.notna(), "").astype(str).to_numpy()
            out[str(col)] = ("row", vals.astype(object))
        else:
            out[str(col)] = ("row", pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan))
    ds = xr.Dataset(out, coords={"row": np.arange(len(frame))})
    ds.attrs["columns"] = json.dumps([str(c) for c in frame.columns])
    ds.attrs["dtypes"] = json.dumps({str(c): str(frame[c].dtype) for c in frame.columns})
    return ds


def _dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    cols = json.loads(ds.attrs.get("columns", "[]")) or list(ds.data_vars)
    dtypes = json.loads(ds.attrs.get("dtypes", "{}"))
    frame = {}
    for c in cols:
        vals = ds[c].values
        info = schema.COLUMNS.get(c)
        if vals.dtype.kind in "OUS":
            s = pd.Series(vals.astype(str), dtype=object).replace("", np.nan)
            if info is not None and info.kind in ("ordered", "category"):
                frame[c] = pd.Categorical(s, categories=list(info.levels), ordered=info.kind == "ordered")
            else:
                frame[c] = s.astype("str")
        else:
            dt = dtypes.get(c, "float64")
            if dt == "Int8" or (info is not None and info.kind in ("binary", "score")):
                frame[c] = pd.array(np.where(np.isnan(vals), np.nan, vals), dtype="Float64").astype("Int8")
            elif dt.startswith("int"):
                frame[c] = vals.astype(dt)
            else:
                frame[c] = vals.astype("float64")
    return pd.DataFrame(frame)


def load(path: str | Path) -> FitResult:
    """Restore a :class:`FitResult` from a ``.nc`` file written by :meth:`FitResult.save`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    FitResult

    Raises
    ------
    InputError
        The file does not exist, cannot be read (damaged or truncated), or is not a pyramid
        results file (for instance a plain arviz file).

    Examples
    --------
    A file written by :meth:`FitResult.save` (the fit takes a few seconds once compiled):

    >>> import pyramid as pyr
    >>> sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    >>> res = pyr.fit(sim.data, model="skill", draws=200, tune=200, random_seed=1,
    ...               progressbar=False, verbose=False)  # doctest: +SKIP
    >>> path = res.save("fit.nc")  # doctest: +SKIP
    >>> again = pyr.load("fit.nc")  # doctest: +SKIP
    >>> again.spec.name, again.data.equals(res.data)  # doctest: +SKIP
    ('skill', True)
    >>> pyr.load("no-such-file.nc")
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: results file 'no-such-file.nc' does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"results file {str(path)!r} does not exist")
    try:
        dt = xr.open_datatree(path, engine="h5netcdf")
        dt = dt.load()
        dt.close()
    except Exception as exc:  # h5py/h5netcdf raise OSError, ValueError, KeyError ... on damage
        raise InputError(
            f"cannot read results file {str(path)!r}: it is damaged, truncated or not a netCDF "
            f"file ({type(exc).__name__}: {exc})"
        ) from None
    attrs = dict(dt.attrs)
    if attrs.get("pyramid_result") is None:
        raise InputError(
            f"{str(path)!r} is a netCDF file but not a pyramid results file (it has no "
            "'pyramid_result' attribute; a plain arviz file cannot be used): write one with "
            "pyramid fit ... --out FILE.nc or FitResult.save()"
        )
    if str(attrs["pyramid_result"]) != RESULT_FORMAT:
        raise InputError(
            f"{str(path)!r} has results format {attrs['pyramid_result']!r}; this pyramid reads "
            f"format {RESULT_FORMAT}"
        )
    missing = [g for g in ("posterior", "sample_stats", "constant_data") if g not in dt.children]
    if missing:
        raise InputError(f"results file {str(path)!r} lacks the group(s) {', '.join(missing)}")
    try:
        spec = spec_from_text(attrs["spec_text"], attrs.get("spec_source", str(path)))
        pj = json.loads(attrs["priors_json"])
        priors = _priors_from_dict(pj, attrs.get("priors_text", ""), attrs.get("priors_source", ""))
        frame = _dataset_to_frame(dt["constant_data"].to_dataset())
        dropped = json.loads(attrs.get("dropped", "{}"))
        diag = pd.DataFrame(json.loads(attrs.get("diagnostics", "[]")))
    except (KeyError, ValueError, PyramidError) as exc:
        raise InputError(f"results file {str(path)!r} has damaged attributes: {exc}") from None
    info = {}
    skip = {"pyramid_result", "spec_text", "spec_source", "priors_text", "priors_source",
            "priors_json", "dropped", "diagnostics"}
    for k, v in attrs.items():
        if k in skip:
            continue
        if isinstance(v, str) and v[:1] in "[{":
            try:
                v = json.loads(v)
            except ValueError:
                pass
        info[k] = v
    if isinstance(info.get("coefs"), dict):
        info["coefs"] = json.dumps(info["coefs"])
    info["path"] = str(path)
    idata = xr.DataTree.from_dict({k: dt[k].to_dataset() for k in dt.children if k != "constant_data"})
    idata["constant_data"] = xr.DataTree(dt["constant_data"].to_dataset())
    return FitResult(idata=idata, spec=spec, priors=priors, data=frame, dropped=dropped,
                     diagnostics=diag, info=info)


# --------------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------------
def _sample_nutpie(built, priors, *, draws, tune, chains, cores, seed, progressbar, target_accept,
                   adaptation, backend="numba", max_tree_depth=None):
    import nutpie

    t0 = time.perf_counter()
    if backend == "jax":
        compiled = _compile_jax(built)
    else:
        from pyramid.models.compiled import compile_cached

        key = (built.data.spec.text, json.dumps(_priors_to_dict(priors), sort_keys=True))
        cm = compile_cached(built.model, key, initvals=built.initvals)
        # compile_cached has already run numba's JIT (it compiles on the first call), so it
        # counts as compiling, not as sampling
        compiled = cm.to_nutpie()
    t1 = time.perf_counter()
    kwargs = {"target_accept": target_accept} if target_accept else {}
    if max_tree_depth:
        kwargs["maxdepth"] = max_tree_depth
    with reuse_freed_memory():  # see pyramid/models/malloc.py: a quarter of a national gradient
        dt = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores,
                           seed=seed, progress_bar=progressbar, adaptation=adaptation, **kwargs)
    t2 = time.perf_counter()
    return dt, {"compile_s": t1 - t0, "sample_s": t2 - t1}


def _compile_jax(built):
    """The model compiled by nutpie with PyTensor's JAX backend (log-density and gradient in
    JAX, on JAX's default device: a GPU when jax[cuda] is installed). Needs ``pyramid[jax]``.
    The trace holds the same variables as the numba path's (free variables on their
    constrained scale and the deterministics)."""
    try:
        import jax  # noqa: F401
    except ImportError:
        raise InputError(
            "backend 'jax' needs JAX, which is not installed: pip install 'rsw-pyramid[jax]' "
            "(for a GPU, also jax[cuda12]); or use backend='numba' (the default)"
        ) from None
    import nutpie

    from pyramid.models.ordinal_op import register_jax

    register_jax()
    model = built.model
    free = {rv.name for rv in model.free_RVs}
    # nutpie 0.16's JAX path cannot find the shape of loglik_total (the potential's value
    # kept as a deterministic: KeyError in compile_pymc_model); it is a check, not a result
    dets = {d.name for d in model.deterministics if d.name != "loglik_total"}
    keep = [v for v in model.named_vars if v in free or v in dets]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nutpie on JAX's own compile notes
        return nutpie.compile_pymc_model(built.model, backend="jax", gradient_backend="jax",
                                         initial_points=built.initvals or None, var_names=keep)


def _sample_pymc(built, *, draws, tune, chains, cores, seed, progressbar, target_accept,
                 max_tree_depth=None):
    import pymc as pm

    t0 = time.perf_counter()
    extra = {"nuts": {"max_treedepth": max_tree_depth}} if max_tree_depth else {}
    with built.model:
        dt = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
            progressbar=progressbar, nuts_sampler="pymc", initvals=built.initvals or None,
            compute_convergence_checks=False, target_accept=target_accept or 0.8, **extra,
        )
    t1 = time.perf_counter()
    return dt, {"compile_s": float("nan"), "sample_s": t1 - t0}


def fit(
    data: pd.DataFrame,
    model: str | Path | ModelSpec = DEFAULT_MODEL,
    priors: str | Path | PriorSet = "default",
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    cores: int | None = None,
    random_seed: int | None = None,
    sampler: str | None = None,
    progressbar: bool = True,
    prior_predictive: bool = False,
    posterior_predictive: bool = False,
    log_likelihood: bool = True,
    prior_draws: int = 500,
    target_accept: float | None = None,
    adaptation: str | None = None,
    max_tree_depth: int | None = None,
    backend: str = "numba",
    validate: bool = True,
    verbose: bool = True,
) -> FitResult:
    """Fit a model to coded observations of practice.

    Parameters
    ----------
    data : pandas.DataFrame
        Raw or canonical observations (validated here with :func:`pyramid.validate`).
    model : str, Path or ModelSpec, default "pyramid"
        ``skill``, ``domains``, ``pyramid`` or a spec file. ``pyramid`` is the default because
        it keeps rows whose discussion or clinician was not observed (see
        :data:`DEFAULT_MODEL`).
    priors : str, Path or PriorSet, default "default"
        ``default``, ``sceptical``, ``rsw2017`` or a prior file.
    draws, tune, chains : int
        Draws kept and tuning draws per chain, and the number of chains.
    cores : int, optional
        Chains run in parallel (default: one per chain, up to the cores this process may use).
    random_seed : int, optional
        Seed of everything random in the fit; the same seed gives the same draws. ``None``
        draws one (stored in the result).
    sampler : {"nutpie", "pymc"}, optional
        Default nutpie, with PyMC's NUTS as fallback when nutpie is missing or fails.
    progressbar : bool, default True
    prior_predictive, posterior_predictive : bool, default False
        Also draw replicated outcomes (``skill``, and ``ratings`` for ``domains``).
    log_likelihood : bool, default True
        Store pointwise log-likelihoods (per observation) for LOO.
    prior_draws : int, default 500
        Draws from the prior stored in the ``prior`` group (for Savage-Dickey Bayes factors
        and ``group="prior"``).
    target_accept : float, optional
        Sampler target acceptance; default the spec's ``[sampling] target_accept`` or 0.8.
    adaptation : {"diag", "low_rank", "draw_diag"}, optional
        nutpie's mass-matrix adaptation; default the spec's ``[sampling] adaptation`` or
        ``"diag"`` (see the performance page of the user guide for what each model uses).
    max_tree_depth : int, optional
        Longest NUTS trajectory, ``2**max_tree_depth`` leapfrog steps (nutpie's ``maxdepth``,
        PyMC's ``max_treedepth``); default the spec's ``[sampling] max_tree_depth``, else the
        sampler's (10). A cap below what the posterior asks for keeps the chain valid but
        mixing slower per draw; the national benchmark measures where it pays.
    backend : {"numba", "jax"}, default "numba"
        How the model's log-density is compiled for nutpie: PyTensor's numba backend (cached
        on disk, reused across fits of one design), or JAX (``pip install
        'rsw-pyramid[jax]'``; on a GPU with ``jax[cuda12]``). JAX is never needed otherwise.
    validate : bool, default True
        Run :func:`pyramid.validate` first (turn off only for frames it already returned).
    verbose : bool, default True
        Print the rows left out, the sampler used and the convergence checks (to stderr).

    Returns
    -------
    FitResult

    Raises
    ------
    InputError
        Bad data, spec, priors or argument.

    Examples
    --------
    >>> import pyramid as pyr
    >>> sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    >>> res = pyr.fit(sim.data, model="skill", draws=200, tune=200, random_seed=1,
    ...               progressbar=False, verbose=False)  # doctest: +SKIP
    >>> res  # doctest: +SKIP
    FitResult(model='skill', priors='default', rows=48, dropped=0, chains=2, draws=200, ...)
    """
    t_start = time.perf_counter()
    spec = load_spec(model)
    prior_set = load_priors(priors)
    draws = _positive_int("draws", draws)
    tune = _positive_int("tune", tune, minimum=0)
    chains = _positive_int("chains", chains)
    prior_draws = _positive_int("prior_draws", prior_draws)
    cores = min(chains, default_jobs()) if cores is None else _positive_int("cores", cores)
    seed = _seed(random_seed)
    if sampler not in (None, "nutpie", "pymc"):
        raise InputError(f"sampler must be 'nutpie', 'pymc' or None, got {sampler!r}")
    if adaptation is None:
        adaptation = spec.adaptation or "diag"
    if adaptation not in ("diag", "low_rank", "draw_diag"):
        raise InputError(f"adaptation must be 'diag', 'low_rank' or 'draw_diag', got {adaptation!r}")
    if max_tree_depth is None:
        max_tree_depth = spec.max_tree_depth
    elif isinstance(max_tree_depth, bool) or not isinstance(max_tree_depth, int) \
            or not 1 <= max_tree_depth <= 20:
        raise InputError(f"max_tree_depth must be a whole number from 1 to 20, got "
                         f"{max_tree_depth!r}")
    if backend not in ("numba", "jax"):
        raise InputError(f"backend must be 'numba' or 'jax', got {backend!r}")
    if backend == "jax" and sampler == "pymc":
        raise InputError("backend 'jax' is nutpie's: use sampler='nutpie' (or None) with it")
    if target_accept is None:
        target_accept = spec.target_accept
    elif not (isinstance(target_accept, int | float) and 0 < target_accept < 1):
        raise InputError(f"target_accept must be in (0, 1), got {target_accept!r}")

    from pyramid.models import generated
    from pyramid.models.builder import build
    from pyramid.models.coding import prepare

    canon = _as_canonical(data, spec, validate)
    sha = data_hash(canon)
    # pyramid.validate(model=...) already warned about the rows the model leaves out
    md = prepare(spec, canon, warn=not validate)
    if verbose:
        for note in md.notes:
            print(f"note: {note}", file=sys.stderr)
    built = build(md, prior_set)

    # ---- sample ----
    used = sampler
    fallback_reason = None
    if sampler in (None, "nutpie"):
        try:
            import nutpie  # noqa: F401
        except ModuleNotFoundError:
            if sampler == "nutpie":
                raise InputError("sampler 'nutpie' requested but nutpie is not installed") from None
            fallback_reason = "nutpie is not installed"
            used = "pymc"
        else:
            used = "nutpie"
    timings: dict[str, float] = {}
    if used == "nutpie":
        try:
            dt, timings = _sample_nutpie(
                built, prior_set, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                progressbar=progressbar, target_accept=target_accept, adaptation=adaptation,
                backend=backend, max_tree_depth=max_tree_depth,
            )
        except InputError:
            raise
        except (RuntimeError, ValueError, TypeError, ImportError, OSError) as exc:
            if sampler == "nutpie" or backend == "jax":  # asked for: no silent fallback
                raise
            fallback_reason = f"nutpie failed ({type(exc).__name__}: {exc})"
            used = "pymc"
    if used == "pymc":
        if fallback_reason:
            warnings.warn(f"sampling with PyMC's NUTS: {fallback_reason}", RuntimeWarning,
                          stacklevel=2)
        dt, timings = _sample_pymc(built, draws=draws, tune=tune, chains=chains, cores=cores,
                                   seed=seed, progressbar=progressbar,
                                   target_accept=target_accept, max_tree_depth=max_tree_depth)
    if verbose:
        print(f"sampled {spec.name!r} with {used} ({chains} chains x {draws} draws, "
              f"{tune} tuning) in {timings['sample_s']:.1f} s"
              + (f", compiled in {timings['compile_s']:.1f} s" if math.isfinite(timings.get("compile_s", float('nan'))) else ""),
              file=sys.stderr)

    # ---- post-process ----
    t_post = time.perf_counter()
    dt = _drop_warmup(dt)
    post_ds = dt["posterior"].to_dataset()
    draws_post, shape = generated.stack_draws(post_ds)
    rng = np.random.default_rng([seed, 1])
    model_dims = {k: tuple(v) for k, v in built.model.named_vars_to_dims.items() if v}
    coords = {k: list(v) for k, v in built.model.coords.items() if v is not None}
    for g in md.groups:
        model_dims.setdefault(f"r_{g.name}", (g.name,))
    extra, extra_dims = _integrated_draws(md, draws_post, rng, prior=False)
    if extra:
        draws_post.update(extra)
        post_ds = post_ds.assign({k: (("chain", "draw", *extra_dims[k]), generated.unstack(v, shape))
                                  for k, v in extra.items()})
        post_ds = post_ds.assign_coords(_extra_coords(md, extra_dims))
        model_dims.update(extra_dims)
    groups: dict[str, xr.Dataset] = {"posterior": post_ds,
                                     "sample_stats": dt["sample_stats"].to_dataset()}
    row_coord = {"row": np.arange(md.n_rows)}
    if spec.family == "cumulative_probit":
        obs = xr.Dataset({"ratings": (("rating",), md.y + schema.SCORE_MIN),
                          "rating_row": (("rating",), md.rating_row),
                          "rating_domain": (("rating",), np.asarray(md.domains)[md.rating_domain].astype(object))})
    else:
        obs = xr.Dataset({"skill": (("row",), md.y)}, coords=row_coord)
    groups["observed_data"] = obs
    if log_likelihood:
        ll = generated.pointwise_loglik(md, draws_post)
        groups["log_likelihood"] = xr.Dataset(
            {"obs": (("chain", "draw", "row"), generated.unstack(ll, shape))},
            coords={"chain": post_ds["chain"].values, "draw": post_ds["draw"].values, **row_coord})
    if posterior_predictive:
        pp = generated.predictive(md, draws_post, rng, condition_latent=True)
        groups["posterior_predictive"] = _predictive_dataset(pp, shape, md)

    # prior draws (always a modest number)
    prior = _prior_draws(built, prior_draws, seed + 1)
    prior_rng = np.random.default_rng([seed, 2])
    extra, extra_dims = _integrated_draws(md, prior, prior_rng, prior=True)
    prior.update(extra)
    coords.update(_extra_coords(md, extra_dims))
    groups["prior"] = _dataset(prior, (1, prior_draws), model_dims, coords)
    if prior_predictive:
        pp = generated.predictive(md, prior, prior_rng, condition_latent=False)
        groups["prior_predictive"] = _predictive_dataset(pp, (1, prior_draws), md)
    groups["constant_data"] = _frame_to_dataset(md.frame)
    idata = xr.DataTree.from_dict(groups)
    timings["post_s"] = time.perf_counter() - t_post

    diag = diagnose(idata)
    b = e_bfmi(groups["sample_stats"])
    bfmi = None if b is None else [float(x) for x in b]
    if verbose:
        print(_format_diagnostics(diag, bfmi), file=sys.stderr)
    timings["total_s"] = time.perf_counter() - t_start

    info = {
        "model": spec.name,
        "priors": prior_set.name,
        "seed": seed,
        "sampler": used,
        "sampler_fallback_reason": fallback_reason or "",
        "draws": draws, "tune": tune, "chains": chains, "cores": cores,
        "target_accept": float(target_accept) if target_accept else 0.8,
        "adaptation": adaptation,
        "max_tree_depth": max_tree_depth or 10,
        "backend": backend if used == "nutpie" else "pymc",
        "data_sha256": sha,
        "rows_input": int(md.n_input),
        "rows_used": int(md.n_rows),
        "groups_kept": [g.name for g in md.groups],
        "parametrisation": {g.name: g.parametrisation for g in md.groups},
        "domains": list(md.domains),
        "scale": built.scale,
        "coefs": json.dumps(built.coefs),
        "derived": list(built.derived),
        "notes": list(md.notes),
        "versions": _versions(),
        "timings": timings,
        "e_bfmi": bfmi or [],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return FitResult(idata=idata, spec=spec, priors=prior_set, data=md.frame, dropped=dict(md.dropped),
                     diagnostics=diag, info=info)


def _integrated_draws(md, draws: dict, rng: np.random.Generator, *, prior: bool):
    """Draws of what the sampler integrated out: marginal group effects (and, in the unit-level
    path model, each unit's mediator / exposure value). From the posterior conditional, or for
    ``prior=True`` from the prior."""
    from pyramid.models import generated

    marginal = [g for g in md.groups if g.parametrisation == "marginal"]
    out: dict[str, np.ndarray] = {}
    dims: dict[str, tuple] = {f"r_{g.name}": (g.name,) for g in marginal}
    path_unit = md.unit_index is not None
    if path_unit:
        med = md.spec.mediator.outcome
        expo = md.spec.exposure.outcome if md.spec.exposure else None
        dims[f"{med}_unit"] = ("path_unit",)
        if expo:
            dims[f"{expo}_unit"] = ("path_unit",)
    if not marginal and not path_unit:
        return out, {}
    n = next(iter(draws.values())).shape[0]
    if prior:
        for g in marginal:
            out[f"r_{g.name}"] = draws[f"sd_{g.name}"][:, None] * rng.standard_normal((n, g.n))
        if path_unit:
            out.update(generated.draw_path_unit_prior(md, draws, rng))
        return out, dims
    if path_unit:
        out = generated.draw_path_unit(md, draws, rng)
    else:
        out = generated.draw_marginal_effects(md, draws, rng)
    return out, dims


def _extra_coords(md, dims: dict) -> dict:
    coords = {}
    for d in {x for v in dims.values() for x in v}:
        if d == "path_unit":
            coords[d] = [str(u) for u in md.unit_ids]
        else:
            g = md.group(d)
            if g is not None:
                coords[d] = [str(x) for x in g.levels]
    return coords


def _predictive_dataset(pp: dict, shape: tuple[int, int], md) -> xr.Dataset:
    from pyramid.models.generated import unstack

    out = {"skill": (("chain", "draw", "row"), unstack(pp["skill"], shape))}
    if "ratings" in pp:
        out["ratings"] = (("chain", "draw", "rating"), unstack(pp["ratings"], shape))
    return xr.Dataset(out, coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1])})


# --------------------------------------------------------------------------------------------
# model comparison
# --------------------------------------------------------------------------------------------
def loo_table(results: dict[str, FitResult]) -> tuple[pd.DataFrame, list[str]]:
    """PSIS-LOO comparison of fitted models (arviz), with Pareto-k warnings.

    Parameters
    ----------
    results : dict
        Label -> FitResult (each with a ``log_likelihood`` group).

    Returns
    -------
    table : pandas.DataFrame
        arviz's comparison (columns ``model``, ``rank``, ``elpd``, ``p``, ``elpd_diff``,
        ``weight``, ``se``, ``dse``, ``warning``) plus ``n_obs`` and ``bad_k`` (observations
        whose Pareto k exceeds arviz's threshold).
    warnings_ : list of str
        One line per model with high Pareto k, naming how many observations and the worst k.
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
        if bad:
            notes.append(
                f"warning: {label}: {bad} of {k.size} observations have Pareto k > "
                f"{lo.good_k:.2f} (worst {np.nanmax(k):.2f}); LOO is unreliable for them: "
                "refit without them (reloo) or use k-fold cross-validation"
            )
        outcome[label] = (res.spec.family, res.spec.outcome, len(res.data), res.info.get("data_sha256"))
    comparable = len({(o[1], o[2], o[3]) for o in outcome.values()}) == 1
    if not comparable:
        notes.append(
            "warning: the models were not fitted to the same outcome and rows (outcomes "
            + ", ".join(f"{k}: {o[1]} on {o[2]} rows" for k, o in outcome.items())
            + "): their elpd values are not comparable, so each model's LOO is shown alone "
            "(no ranking, differences or weights)"
        )
    if len(loos) == 1 or not comparable:
        table = pd.DataFrame([
            {"model": label, "rank": np.nan if not comparable else 0, "elpd": lo.elpd,
             "p": lo.p, "elpd_diff": np.nan if not comparable else 0.0,
             "weight": np.nan if not comparable else 1.0, "se": lo.se,
             "dse": np.nan if not comparable else 0.0, "warning": bool(lo.warning)}
            for label, lo in loos.items()
        ])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmp = az.compare(loos)
        table = cmp.reset_index().rename(columns={"index": "model"})
    table["n_obs"] = [len(results[m].data) for m in table["model"]]
    table["bad_k"] = [int((np.asarray(loos[m].pareto_k) > loos[m].good_k).sum()) for m in table["model"]]
    return table, notes


# --------------------------------------------------------------------------------------------
# prior predictive check
# --------------------------------------------------------------------------------------------
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def prior_check(
    priors: str | Path | PriorSet = "default",
    model: str | Path | ModelSpec = DEFAULT_MODEL,
    data: pd.DataFrame | None = None,
    *,
    draws: int = 1000,
    random_seed: int | None = None,
    validate: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Prior predictive check: the skill scores a prior set implies for a model.

    Draws the model's parameters from the prior, then replicated outcomes for the rows of
    ``data`` (the reference data by default), and summarises them on the 1-5 skill scale.

    Parameters
    ----------
    priors : str, Path or PriorSet, default "default"
    model : str, Path or ModelSpec, default "pyramid"
    data : pandas.DataFrame, optional
        Rows to replicate; default :func:`pyramid.datasets.load_rsw2017`.
    draws : int, default 1000
    random_seed : int, optional

    Returns
    -------
    table : pandas.DataFrame
        One row per quantity, columns ``quantity``, ``q01``, ``q05``, ``q25``, ``q50``,
        ``q75``, ``q95``, ``q99``, ``outside_1_5`` (share of draws outside the 1-5 scale).
        Quantities: ``skill of an observation`` (pooled over rows), ``mean skill of the
        sample``, ``sd of skill in the sample``, ``expected skill at the reference levels``
        (no training, no clinician, non-systemic discussion), ``expected skill, full pyramid``
        (programme, clinician, systemic), ``full pyramid minus reference``.
    draws_ : dict
        ``skill`` (draws x rows) and the expected-skill draws, for plotting.

    Examples
    --------
    >>> table, _ = prior_check("sceptical", "skill", draws=200, random_seed=1)  # doctest: +SKIP
    """
    from pyramid.models import generated
    from pyramid.models.builder import build
    from pyramid.models.coding import prepare

    spec = load_spec(model)
    prior_set = load_priors(priors)
    draws = _positive_int("draws", draws)
    seed = _seed(random_seed)
    if data is None:
        from pyramid.datasets import load_rsw2017

        data = load_rsw2017()
    with warnings.catch_warnings():
        # rows the model leaves out do not matter to a check of what the priors imply
        warnings.simplefilter("ignore", UserWarning)
        canon = _as_canonical(data, spec, validate)
        md = prepare(spec, canon, warn=False)
    built = build(md, prior_set)
    prior = _prior_draws(built, draws, seed)
    rng = np.random.default_rng([seed, 3])
    extra, _ = _integrated_draws(md, prior, rng, prior=True)
    prior.update(extra)
    rep = generated.predictive(md, prior, rng, condition_latent=False)["skill"]
    new = pd.DataFrame({
        "training": [schema.TRAINING_LEVELS[0], "programme"],
        "clinician": [0, 1],
        "discussion": [schema.DISCUSSION_LEVELS[0], schema.DISCUSSION_LEVELS[-1]],
        "csw": [0, 1],
    })
    groups = [g.name for g in md.groups]
    exp = generated.expected_skill(spec, prior, new, groups=groups, domains=list(md.domains))
    quantities = {
        "skill of an observation": rep.ravel(),
        "mean skill of the sample": rep.mean(axis=1),
        "sd of skill in the sample": rep.std(axis=1, ddof=1) if rep.shape[1] > 1 else np.zeros(len(rep)),
        "expected skill at the reference levels": exp[:, 0],
        "expected skill, full pyramid": exp[:, 1],
        "full pyramid minus reference": exp[:, 1] - exp[:, 0],
    }
    rows = []
    for name, v in quantities.items():
        q = np.quantile(v, _QUANTILES)
        outside = (np.nan if "minus" in name or "sd of" in name
                   else float(np.mean((v < schema.SCORE_MIN) | (v > schema.SCORE_MAX))))
        rows.append({"quantity": name, **{f"q{int(round(p * 100)):02d}": float(x)
                                            for p, x in zip(_QUANTILES, q, strict=True)},
                     "outside_1_5": outside})
    return pd.DataFrame(rows), {"skill": rep, "expected": exp}


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
    import matplotlib

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
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=120)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot write the plot {str(path)!r}: {exc}") from None
    finally:
        plt.close(fig)
    return path
