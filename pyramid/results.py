"""A fitted model and its results file.

:class:`FitResult` holds the draws (an arviz ``DataTree``), the spec, priors and rows a model
used, its convergence checks and provenance; :meth:`FitResult.save` writes it as a ``.nc``
file with the spec, priors, data hash, versions, seed and sampler as attributes, and
:func:`load` restores a result that works with every later command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
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
from pyramid.diagnostics import per_element
from pyramid.errors import InputError, PyramidError
from pyramid.imports import defer_dask, is_deferred
from pyramid.models import generated
from pyramid.specs import ModelSpec, PriorSet, priors_from_dict, priors_to_dict, spec_from_text

defer_dask()  # xarray checks every array for dask: see pyramid.imports

__all__ = ["FitResult", "load", "data_hash", "versions", "frame_to_dataset",
           "dataset_to_frame", "variance_components", "RESULT_FORMAT"]


#: Version of the results-file layout (root attribute ``pyramid_result``). Format 2: the
#: posterior holds only the model's quantities (no signed SDs or standardised effects); the
#: path model's per-unit imputations are in the group ``imputed``. Format 1 files load too.
RESULT_FORMAT = "2"
_READABLE = ("1", "2")


#: The packages a results file names the versions of, each with the module that is its
#: import name.
_VERSIONED = {"rsw-pyramid": "pyramid", "pymc": "pymc", "pytensor": "pytensor",
              "nutpie": "nutpie", "arviz": "arviz", "numpy": "numpy", "pandas": "pandas",
              "xarray": "xarray", "scipy": "scipy", "h5netcdf": "h5netcdf"}


def versions() -> dict[str, str]:
    """The versions of Python and of the packages a fit depends on.

    A package already imported gives its module's ``__version__``; any other (in a kernel
    fit: pymc, pytensor, h5netcdf, and arviz, whose import is put off: :mod:`pyramid.imports`) is read from its installed metadata in the folder that
    holds it. Each ``importlib.metadata.version`` call lists every ``sys.path`` entry, the
    current folder included, so from a folder of many files the look-ups alone took up to
    seconds (issue 17).

    Returns
    -------
    dict of str to str
        ``python`` and each package's version, ``"not installed"`` where it is not.
    """
    out = {"python": sys.version.split()[0]}
    for pkg, module in _VERSIONED.items():
        loaded = sys.modules.get(module)
        # a module whose import is put off (pyramid.imports) is not imported for its version
        version = None if is_deferred(loaded) else getattr(loaded, "__version__", None)
        if not isinstance(version, str):
            version = _installed_version(pkg, module)
        out[pkg] = version
    return out


def _installed_version(pkg: str, module: str) -> str:
    """The metadata version of ``pkg``, looked up in the folder that holds ``module`` (a
    kernel fit never imports pymc or pytensor) rather than in every ``sys.path`` entry."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        site = str(Path(spec.origin).parent.parent)
        for dist in metadata.distributions(name=pkg, path=[site]):
            return dist.version
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


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
        Groups ``posterior`` (the model's quantities only: no sampling devices such as signed
        SDs or standardised effects, so ``arviz.summary`` of it is clean exactly when
        :attr:`diagnostics` pass), ``prior``, ``sample_stats``, ``observed_data``,
        ``log_likelihood`` (when asked), ``constant_data`` (the rows used), ``imputed`` (the
        path model's per-unit discussion and clinician drawn after sampling), and on request
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
        Provenance: seed, sampler, data hash, versions, timings, notes, the study's name
        (``study``) and how numeric factors were centred (``centring``).
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
    @property
    def study(self):
        """The study of the data and model (:class:`pyramid.study.Study`; ``rsw2017`` unless
        the fit was given another)."""
        return self.spec.the_study

    def expected_skill(self, newdata: pd.DataFrame, group: str = "posterior") -> xr.DataArray:
        """Draws of the expected overall skill (the study's scale, 1-5 for rsw2017; group
        effects at zero) per row.

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
            centring=self.info.get("centring") or None,
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
        """Write the result to a ``.nc`` file (arviz DataTree via h5netcdf), atomically.

        The file is written whole to a temporary file in the same folder and renamed over
        ``path`` only when complete (:func:`pyramid.output.atomic_path`): a full disk, a
        read-only folder or Ctrl-C leaves nothing at ``path`` and an earlier file there
        untouched. A result of up to 512 MB is serialised in memory first and written by
        Python (an ``OSError`` on a full disk, never a crash inside libhdf5); a larger one
        is written by h5netcdf after checking that the folder has room for it. The file ends
        in a SHA-256 checksum of its contents (after the netCDF data, where HDF5 readers do
        not look), which :func:`load` checks before libhdf5 reads anything: a file damaged
        since it was written is refused instead of being read (libhdf5 can loop without end
        on some damaged files).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
            Where it was written.

        Raises
        ------
        InputError
            A path not ending in ``.nc``, or a folder.
        OutputError
            The file cannot be written (full disk, read-only folder, permission denied).
        """
        from pyramid.output import atomic_path, check_output

        path = check_output(path, (".nc",), "results file")
        tree = self._tree()
        with atomic_path(path, "results file") as tmp:
            _write_tree(tree, tmp, path)
        return path

    def _tree(self) -> xr.DataTree:
        """The DataTree written to the results file: the draws, the rows, the attributes."""
        dt = self.idata.copy()
        attrs = {k: (v if isinstance(v, str | int | float) else json.dumps(v, default=str))
                 for k, v in self.info.items() if k != "path"}
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
        if self.spec.study is not None:  # a study other than rsw2017: its text, so that
            attrs["study_text"] = self.spec.study.text  # compare, report ... need no --study
            attrs["study_source"] = self.spec.study.source
        dt.attrs = attrs
        dt["constant_data"] = xr.DataTree(frame_to_dataset(self.data))
        return dt


#: Results up to this size are serialised in memory, then written by Python.
IN_MEMORY_BYTES = 512 * 2**20


def _tree_bytes(dt: xr.DataTree) -> int:
    """A generous estimate of a DataTree's size on disk (values, text, attributes)."""
    n = sum(len(str(v)) for v in dt.attrs.values())
    for node in dt.subtree:
        ds = node.to_dataset()
        n += sum(len(str(v)) for v in ds.attrs.values())
        for var in ds.variables.values():
            n += int(var.nbytes)
            if var.dtype.kind == "O":
                n += sum(len(str(x)) for x in var.values.ravel())
    return n


def _write_tree(dt: xr.DataTree, tmp: Path, path: Path) -> None:
    import errno
    import shutil

    from pyramid.output import output_error

    size = _tree_bytes(dt)
    free = shutil.disk_usage(tmp.parent).free
    if free < size * 1.1 + 2**20:  # never let libhdf5 meet a full disk (it crashed there)
        raise output_error(OSError(errno.ENOSPC, f"about {size / 2**20:.1f} MB needed, "
                                                 f"{free / 2**20:.1f} MB free"), path,
                           "results file")
    if size <= IN_MEMORY_BYTES:
        data = bytes(dt.to_netcdf(engine="h5netcdf"))
        with open(tmp, "wb") as f:
            f.write(data)
            f.write(_trailer(hashlib.sha256(data).hexdigest()))
    else:
        try:
            dt.to_netcdf(tmp, engine="h5netcdf")
        except ValueError as exc:
            raise InputError(f"cannot write results file {str(path)!r}: {exc}") from None
        digest = _file_sha256(tmp, tmp.stat().st_size)
        with open(tmp, "ab") as f:
            f.write(_trailer(digest))


#: A results file ends in this line, after the netCDF (HDF5) data: its SHA-256 of what comes
#: before. HDF5 readers (xarray, h5py, arviz, netCDF) ignore bytes after the data.
_TRAILER = re.compile(rb"\nPYRAMID-SHA256 ([0-9a-f]{64})\n")
TRAILER_BYTES = 81


def _trailer(hexdigest: str) -> bytes:
    out = f"\nPYRAMID-SHA256 {hexdigest}\n".encode("ascii")
    assert len(out) == TRAILER_BYTES
    return out


def _file_sha256(path: Path, n: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while n > 0:
            block = f.read(min(n, 2**22))
            if not block:
                break
            h.update(block)
            n -= len(block)
    return h.hexdigest()


def _check_checksum(path: Path) -> None:
    """Refuse a file whose checksum line does not match its contents (a file without one,
    written by an earlier pyramid or by another program, is read as before)."""
    size = path.stat().st_size
    if size < TRAILER_BYTES:
        return
    with open(path, "rb") as f:
        f.seek(size - TRAILER_BYTES)
        m = _TRAILER.fullmatch(f.read())
    if m and _file_sha256(path, size - TRAILER_BYTES) != m.group(1).decode("ascii"):
        raise InputError(
            f"cannot read results file {str(path)!r}: it is damaged, or was changed by another "
            f"program since pyramid wrote it (its contents no longer match the checksum "
            f"pyramid wrote at its end); fit the model again or use a copy")


# --------------------------------------------------------------------------------------------
# the results file
# --------------------------------------------------------------------------------------------
_SAFE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_RESERVED_NAMES = frozenset({"row", "chain", "draw", "columns", "dtypes", "variables"})


def _variable_names(columns: list[str]) -> list[str]:
    """A netCDF variable name for each column: the column's own where it is a safe name, else
    ``pyramid_column_<i>`` (``date/time``, ``row``, ``=notes``; the names are kept in the
    ``columns`` attribute, so the rows come back with their own names)."""
    out: list[str] = []
    for i, c in enumerate(columns):
        name = c if _SAFE_NAME.match(c) and c not in _RESERVED_NAMES else f"pyramid_column_{i}"
        while name in out or (name != c and name in columns):
            name = f"{name}_"
        out.append(name)
    return out


def frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """The rows a model used as the results file's ``constant_data`` group.

    Any column name is kept: one that is not a safe netCDF name is stored under another
    variable name, with the names in the ``columns`` and ``variables`` attributes.

    Examples
    --------
    >>> ds = frame_to_dataset(pd.DataFrame({"a": [1.0], "date/time": ["x"], "row": [2.0]}))
    >>> list(ds.data_vars)
    ['a', 'pyramid_column_1', 'pyramid_column_2']
    >>> list(dataset_to_frame(ds).columns)
    ['a', 'date/time', 'row']
    """
    columns = [str(c) for c in frame.columns]
    names = _variable_names(columns)
    out = {}
    for i, name in enumerate(names):
        s = frame.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            vals = s.astype(object).where(s.notna(), "").astype(str).to_numpy()
            out[name] = ("row", vals.astype(object))
        else:
            out[name] = ("row", pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan))
    ds = xr.Dataset(out, coords={"row": np.arange(len(frame))})
    ds.attrs["columns"] = json.dumps(columns)
    ds.attrs["variables"] = json.dumps(names)
    ds.attrs["dtypes"] = json.dumps({c: str(frame.iloc[:, i].dtype)
                                     for i, c in enumerate(columns)})
    return ds


def dataset_to_frame(ds: xr.Dataset, study: Any = None) -> pd.DataFrame:
    """The rows of a results file's ``constant_data`` group (:func:`frame_to_dataset`), typed
    by the study (default ``rsw2017``)."""
    from pyramid.study import load_study

    study = load_study(study)
    cols = json.loads(ds.attrs.get("columns", "[]")) or list(ds.data_vars)
    names = json.loads(ds.attrs.get("variables", "[]")) or cols
    dtypes = json.loads(ds.attrs.get("dtypes", "{}"))
    frame = {}
    for c, name in zip(cols, names, strict=True):
        vals = ds[name].values
        kind = study.kind_of(c)
        if vals.dtype.kind in "OUS":
            s = pd.Series(vals.astype(str), dtype=object).replace("", np.nan)
            if kind in ("ordered", "categorical"):
                frame[c] = pd.Categorical(s, categories=list(study.factors[c].levels),
                                          ordered=kind == "ordered")
            else:
                frame[c] = s.astype("str")
        else:
            dt = dtypes.get(c, "float64")
            if dt == "Int8" or kind in ("binary", "score"):
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
    dt = _open_tree(path)
    attrs = _checked_attrs(dict(dt.attrs), path)
    _check_groups(dt, attrs, path)
    try:
        from pyramid.study import study_from_text

        study = (study_from_text(attrs["study_text"], attrs.get("study_source", str(path)))
                 if attrs.get("study_text") else None)  # none: an rsw2017 fit
        spec = spec_from_text(attrs["spec_text"], attrs.get("spec_source", str(path)), study)
        priors = priors_from_dict(attrs["priors_json"], attrs.get("priors_text", ""),
                                  attrs.get("priors_source", ""))
        frame = dataset_to_frame(dt["constant_data"].to_dataset(), study)
        diag = pd.DataFrame(attrs["diagnostics"])
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, PyramidError) as exc:
        raise InputError(f"results file {str(path)!r} has damaged attributes: "
                         f"{type(exc).__name__}: {exc}") from None
    if len(frame) != dt["constant_data"].sizes.get("row", -1):
        raise InputError(f"results file {str(path)!r}: its rows do not match their count")
    skip = {"pyramid_result", "spec_text", "spec_source", "priors_text", "priors_source",
            "priors_json", "dropped", "diagnostics", "study_text", "study_source"}
    info = {k: v for k, v in attrs.items() if k not in skip}
    info["coefs"] = json.dumps(info["coefs"])
    info["path"] = str(path)
    idata = xr.DataTree.from_dict({k: dt[k].to_dataset() for k in dt.children if k != "constant_data"})
    idata["constant_data"] = xr.DataTree(dt["constant_data"].to_dataset())
    return FitResult(idata=idata, spec=spec, priors=priors, data=frame,
                     dropped=attrs["dropped"], diagnostics=diag, info=info)


# --------------------------------------------------------------------------------------------
# checking a results file (a crafted or damaged file is an InputError, never a traceback)
# --------------------------------------------------------------------------------------------
#: Largest attribute a results file may hold (pyramid writes a few kB each).
MAX_ATTRIBUTE_BYTES = 1_000_000

_STR, _INT, _NUM = "text", "whole number", "number"
#: The root attributes pyramid reads, and what each must be (JSON ones decoded).
_ATTRS: dict[str, tuple[str, bool]] = {  # name -> (kind, required)
    "pyramid_result": (_STR, True), "spec_text": (_STR, True), "spec_source": (_STR, False),
    "priors_text": (_STR, False), "priors_source": (_STR, False),
    "priors_json": ("object", True), "dropped": ("object of whole numbers", True),
    "diagnostics": ("list of objects", True), "coefs": ("object", True),
    "model": (_STR, False), "priors": (_STR, False), "seed": (_INT, False),
    "sampler": (_STR, False), "sampler_fallback_reason": (_STR, False),
    "draws": (_INT, False), "draws_asked": (_INT, False), "extension": ("object", False),
    "tune": (_INT, False), "chains": (_INT, False),
    "cores": (_INT, False), "target_accept": (_NUM, False), "adaptation": (_STR, False),
    "max_tree_depth": (_INT, False), "backend": (_STR, False), "data_sha256": (_STR, False),
    "rows_input": (_INT, False), "rows_used": (_INT, False),
    "groups_kept": ("list of text", False), "parametrisation": ("object", False),
    "domains": ("list of text", False), "scale": (_STR, False), "derived": ("list", False),
    "notes": ("list of text", False), "versions": ("object", False),
    "timings": ("object of numbers", False), "e_bfmi": ("list of numbers", False),
    "created": (_STR, False), "study": (_STR, False), "study_text": (_STR, False),
    "study_source": (_STR, False), "centring": ("object", False),
}
_JSON_KINDS = {"object", "object of whole numbers", "object of numbers", "list of objects",
               "list of text", "list", "list of numbers"}


def _open_tree(path: Path) -> xr.DataTree:
    import gc

    import h5py

    _check_checksum(path)
    hook, message = sys.unraisablehook, None
    # h5netcdf's File.__del__ fails on a file it could not open, and Python prints that as
    # "Exception ignored in ..." with a traceback: not for pyramid's users
    sys.unraisablehook = lambda _: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h5py._errors.silence_errors()  # no HDF5 diagnostics on stderr for a damaged file
            dt = xr.open_datatree(path, engine="h5netcdf")
            try:
                dt = dt.load()
            finally:
                dt.close()
    except Exception as exc:  # h5py/h5netcdf raise OSError, ValueError, KeyError ... on damage
        message = (f"cannot read results file {str(path)!r}: it is damaged, truncated or not "
                   f"a netCDF file ({type(exc).__name__}: {str(exc)[:300]})")
    finally:
        if message:
            gc.collect()  # the half-opened file goes now, while its complaint is silenced
        sys.unraisablehook = hook
    if message:
        raise InputError(message)
    return dt


def _kind_ok(v: Any, kind: str) -> bool:
    num = (int, float, np.integer, np.floating)
    if kind == _STR:
        return isinstance(v, str)
    if kind == _INT:
        return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)
    if kind == _NUM:
        return isinstance(v, num) and not isinstance(v, bool | np.bool_)
    if kind.startswith("object"):
        if not isinstance(v, dict):
            return False
        if kind == "object of whole numbers":
            return all(isinstance(x, int) and not isinstance(x, bool) for x in v.values())
        if kind == "object of numbers":
            return all(isinstance(x, num) and not isinstance(x, bool) for x in v.values())
        return True
    if not isinstance(v, list):
        return False
    if kind == "list of text":
        return all(isinstance(x, str) for x in v)
    if kind == "list of numbers":
        return all(isinstance(x, num) and not isinstance(x, bool) for x in v)
    if kind == "list of objects":
        return all(isinstance(x, dict) for x in v)
    return True


def _checked_attrs(attrs: dict, path: Path) -> dict:
    """The root attributes, sizes and types checked, JSON decoded."""
    where = f"results file {str(path)!r}"
    if attrs.get("pyramid_result") is None:
        raise InputError(
            f"{str(path)!r} is a netCDF file but not a pyramid results file (it has no "
            "'pyramid_result' attribute; a plain arviz file cannot be used): write one with "
            "pyramid fit ... --out FILE.nc or FitResult.save()"
        )
    if str(attrs["pyramid_result"]) not in _READABLE:
        raise InputError(
            f"{str(path)!r} has results format {str(attrs['pyramid_result'])[:40]!r}; this "
            f"pyramid reads formats {', '.join(_READABLE)}"
        )
    out = {}
    for k, v in attrs.items():
        size = len(v) if isinstance(v, str | bytes) else int(getattr(v, "nbytes", 8))
        if size > MAX_ATTRIBUTE_BYTES:
            raise InputError(f"{where}: attribute {str(k)[:60]!r} holds {size:,} bytes, more "
                             f"than any pyramid writes ({MAX_ATTRIBUTE_BYTES:,}); refusing it")
        if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0):
            v = v.item()
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        kind, required = _ATTRS.get(k, (None, False))
        if kind in _JSON_KINDS and isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                raise InputError(f"{where}: attribute {k!r} should be {kind} (as JSON), got "
                                 f"text {v[:60]!r}") from None
        if kind is not None and not _kind_ok(v, kind):
            raise InputError(f"{where}: attribute {k!r} should be {kind}, got "
                             f"{type(v).__name__} {str(v)[:60]!r}")
        out[k] = v
    missing = [k for k, (_, req) in _ATTRS.items() if req and k not in out]
    if missing:
        raise InputError(f"{where} lacks the attribute(s) {', '.join(missing)}")
    return out


def _check_groups(dt: xr.DataTree, attrs: dict, path: Path) -> None:
    """Groups, dimensions and sizes as :meth:`FitResult.save` writes them."""
    where = f"results file {str(path)!r}"
    missing = [g for g in ("posterior", "sample_stats", "constant_data") if g not in dt.children]
    if missing:
        raise InputError(f"{where} lacks the group(s) {', '.join(missing)}")
    post = dt["posterior"]
    if "chain" not in post.dims or "draw" not in post.dims or not post.data_vars:
        raise InputError(f"{where}: the posterior has no chain and draw dimensions")
    n_chain, n_draw = int(post.sizes["chain"]), int(post.sizes["draw"])
    if n_chain < 1 or n_draw < 1:
        raise InputError(f"{where}: the posterior holds no draws ({n_chain} chains x "
                         f"{n_draw} draws)")
    for key, n in (("chains", n_chain), ("draws", n_draw)):
        if key in attrs and int(attrs[key]) != n:
            raise InputError(f"{where}: the posterior holds {n} {key[:-1]}(s) where the fit "
                             f"asked for {attrs[key]} (an incomplete run?); refusing it")
    for g in dt.children:
        ds = dt[g]
        if g == "constant_data":
            continue
        for d in ("chain", "draw"):
            if d in ds.dims and g not in ("prior", "prior_predictive") and ds.sizes[d] != post.sizes[d]:
                raise InputError(f"{where}: group {g!r} has {ds.sizes[d]} {d}(s), the "
                                 f"posterior {post.sizes[d]}")
        for name, var in ds.data_vars.items():
            # observed data may carry labels (the domains model's rating_domain), never draws
            label = g == "observed_data" and "draw" not in var.dims and var.dtype.kind in "OSU"
            if var.dtype.kind not in "biuf" and not label:
                raise InputError(f"{where}: {g}/{name} is not numeric ({var.dtype})")
    rows = dt["constant_data"].sizes.get("row")
    if rows is None:
        raise InputError(f"{where}: constant_data has no 'row' dimension")
    for g in ("log_likelihood", "observed_data"):
        if g in dt.children and "row" in dt[g].dims and dt[g].sizes["row"] != rows:
            raise InputError(f"{where}: {g} has {dt[g].sizes['row']} rows, the data {rows}")
    cd = dt["constant_data"]
    try:
        cols = json.loads(cd.attrs.get("columns", "[]"))
        names = json.loads(cd.attrs.get("variables", "null")) or cols
    except (ValueError, TypeError):
        raise InputError(f"{where}: constant_data has damaged attributes") from None
    if not isinstance(cols, list) or len(cols) != len(names) or any(
            n not in cd.data_vars for n in names):
        raise InputError(f"{where}: constant_data does not hold the columns it lists")
    for name, (var, sel) in _coef_entries(attrs["coefs"], where):
        if var not in post.data_vars:
            raise InputError(f"{where}: coefficient {name!r} names the variable {var!r}, "
                             f"which the posterior does not hold")
        da = post[var]
        for dim, value in sel.items():
            if dim not in da.dims or value not in da[dim].values.tolist():
                raise InputError(f"{where}: coefficient {name!r} names {var}[{dim}={value}], "
                                 f"which the posterior does not hold")
        vals = da.sel(sel).values if sel else da.values
        if not np.all(np.isfinite(vals)):
            raise InputError(f"{where}: the draws of {name!r} are not all finite (an "
                             f"interrupted or damaged run?); refusing it")


def _coef_entries(coefs: dict, where: str) -> list[tuple[str, tuple[str, dict]]]:
    out = []
    for name, entry in coefs.items():
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], dict)):
            raise InputError(f"{where}: attribute 'coefs' has a damaged entry {name!r}")
        out.append((name, (entry[0], entry[1])))
    return out


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
