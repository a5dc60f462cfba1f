"""A fitted model and its results file.

:class:`FitResult` holds the draws (an arviz ``DataTree``), the spec, priors and rows a model
used, its convergence checks and provenance; :meth:`FitResult.save` writes it as a ``.nc``
file with the spec, priors, data hash, versions, seed and sampler as attributes, and
:func:`load` restores a result that works with every later command.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pyramid import defaults, mcmc_stats
from pyramid.data import schema
from pyramid.diagnostics import per_element
from pyramid.errors import InputError, PyramidError
from pyramid.models import generated
from pyramid.specs import ModelSpec, PriorSet, priors_from_dict, priors_to_dict, spec_from_text

__all__ = ["FitResult", "load", "data_hash", "versions", "frame_to_dataset",
           "dataset_to_frame", "variance_components", "RESULT_FORMAT"]


#: Version of the results-file layout (root attribute ``pyramid_result``).
RESULT_FORMAT = "1"


def versions() -> dict[str, str]:
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

    def variance_partition(self, ci_prob: float | None = None) -> pd.DataFrame:
        """Each level's share of the outcome's variance (the ICC of a group level), with
        intervals, draw by draw: ``sd_level^2 / (sum of the kept levels' sd^2 + residual
        variance)``.

        The residual is ``sigma^2`` (skill points) for the Gaussian models and the skill
        equation of ``pyramid``, and 1 for ``domains`` (the probit scale of a rating, whose
        latent noise has unit variance). A group level's share is its intraclass
        correlation: the correlation of two outcomes that share that group and nothing below
        it. These are the fitted model's shares, *conditional* on its fixed effects; those of
        the unconditional model (intercept only) are
        ``pyramid.effect_sizes.unadjusted_fit(result).variance_partition()``.

        Parameters
        ----------
        ci_prob : float, optional
            Probability of the equal-tailed intervals; ``None``: the default,
            :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).

        Returns
        -------
        pandas.DataFrame
            One row per kept group level (outermost first) and ``residual``: ``level``,
            ``sd`` (posterior mean of the level's SD), ``share`` (posterior mean of its share
            of the variance), ``share_lower``, ``share_upper`` (the interval) and ``scale``
            (``skill`` points or ``latent``).
        """
        ci_prob = defaults.ci_prob(ci_prob)
        comp = variance_components(self)
        total = sum(comp.values())
        scale = "latent" if self.spec.family == "cumulative_probit" else "skill"
        rows = []
        for level, var in comp.items():
            share = var / total
            lo, hi = np.quantile(share, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
            rows.append({"level": level, "sd": float(np.sqrt(var).mean()),
                         "share": float(share.mean()), "share_lower": float(lo),
                         "share_upper": float(hi), "scale": scale})
        out = pd.DataFrame(rows)
        out.attrs["ci_prob"] = ci_prob
        return out

    # ---------------------------------------------------------------- tables
    def coefs(self, ci_prob: float | None = None) -> pd.DataFrame:
        """Posterior summary of the fixed effects, named as the simulator's truth.

        Parameters
        ----------
        ci_prob : float, optional
            Probability of the equal-tailed interval; ``None``: the default,
            :data:`pyramid.defaults.DEFAULT_CI_PROB` (0.95).

        Returns
        -------
        pandas.DataFrame
            Columns ``name`` (truth name, ``latent:`` prefixed on the probit scale of the
            domains model), ``variable``, ``mean``, ``sd``, ``lower``, ``upper``,
            ``ess_bulk``, ``r_hat``.
        """
        ci_prob = defaults.ci_prob(ci_prob)
        post = self.posterior
        coefs = json.loads(self.info["coefs"])
        used = post[sorted({var for var, _ in coefs.values()})]  # not the group effects
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # constant elements: NaN
            rhat = per_element(used, mcmc_stats.rhat_rank)
            ess = per_element(used, mcmc_stats.ess_bulk)
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
        if group not in ("posterior", "prior"):
            raise InputError(f"group must be 'posterior' or 'prior', got {group!r}")
        draws, shape = generated.stack_draws(self.idata[group].to_dataset())
        values = generated.expected_skill(
            self.spec, draws, newdata, groups=self.groups_kept,
            domains=list(self.info.get("domains", [])),
            occasion=generated.occasion_level(self.data, self.groups_kept),
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
            "priors_json": json.dumps(priors_to_dict(self.priors)),
            "dropped": json.dumps(self.dropped),
            "diagnostics": self.diagnostics.to_json(orient="records"),
        })
        dt.attrs = attrs
        dt["constant_data"] = xr.DataTree(frame_to_dataset(self.data))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            dt.to_netcdf(path, engine="h5netcdf")
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot write results file {str(path)!r}: {exc}") from None
        return path


# --------------------------------------------------------------------------------------------
# the results file
# --------------------------------------------------------------------------------------------
def frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
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


def dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
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
        priors = priors_from_dict(pj, attrs.get("priors_text", ""), attrs.get("priors_source", ""))
        frame = dataset_to_frame(dt["constant_data"].to_dataset())
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


def variance_components(result: FitResult) -> dict[str, np.ndarray]:
    """The variance of each kept group level and of the residual, per posterior draw
    (flattened chain by chain): ``sd_<level>^2`` and ``sigma^2`` (1 for the ``domains``
    model's probit scale). See :meth:`FitResult.variance_partition`.

    Examples
    --------
    >>> import pyramid as pyr
    >>> res = pyr.fit(pyr.datasets.load_rsw2017(), random_seed=1)  # doctest: +SKIP
    >>> sorted(variance_components(res))                            # doctest: +SKIP
    ['authority', 'residual', 'unit', 'worker']
    """
    post = result.posterior

    def flat(var: str) -> np.ndarray:
        return np.asarray(post[var].transpose("chain", "draw").values, dtype=float).ravel()

    out = {g: flat(f"sd_{g}") ** 2 for g in result.groups_kept}
    if result.spec.family == "cumulative_probit":
        out["residual"] = np.ones(post.sizes["chain"] * post.sizes["draw"])
    else:
        out["residual"] = flat("sigma") ** 2
    return out
