"""nutpie without arviz: the import, and nutpie's trace as a DataTree.

nutpie 0.16 turns its trace (Arrow record batches, one per chain) into a DataTree with
``arviz.from_dict`` and imports arviz for that at the top of ``nutpie.sample`` (see
:mod:`pyramid.imports`). pyramid asks for the raw trace (``nutpie.sample(...,
return_raw_trace=True)``, a documented option) and converts it here, with pyarrow (which
pandas has imported already) and xarray: the same groups, variables, dimensions, coordinates
and values as nutpie's own conversion (``tests/test_imports.py`` compares the two), without
its warmup groups, which pyramid drops.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pyramid.imports import defer_dask, lazy_module

__all__ = ["nutpie", "sample", "to_datatree"]

#: Statistics whose values are the trace's coordinates.
_INDEX_STATS = ("chain", "draw")


def nutpie() -> ModuleType:
    """nutpie, imported with arviz left lazy (:func:`pyramid.imports.lazy_module`).

    Raises
    ------
    ModuleNotFoundError
        When nutpie is not installed.
    """
    lazy_module("arviz")
    defer_dask()
    import nutpie as _nutpie

    return _nutpie


def sample(compiled, **kwargs):
    """``nutpie.sample(compiled, **kwargs)``, its trace converted by :func:`to_datatree`.

    Parameters
    ----------
    compiled
        A nutpie compiled model.
    **kwargs
        As ``nutpie.sample`` (not ``return_raw_trace``).

    Returns
    -------
    xarray.DataTree or BackgroundSampler
        The trace; with ``blocking=False``, the running sampler, whose ``inspect()`` returns
        the trace so far.
    """
    raw = nutpie().sample(compiled, return_raw_trace=True, **kwargs)
    if kwargs.get("blocking", True):
        return to_datatree(raw, compiled.coords)
    return BackgroundSampler(raw, compiled.coords)


class BackgroundSampler:
    """nutpie's non-blocking sampler, with :meth:`inspect` converted by
    :func:`to_datatree`; ``is_finished``, ``cancel`` and the rest are nutpie's."""

    def __init__(self, sampler, coords):
        self._sampler = sampler
        self._coords = coords

    def inspect(self) -> xr.DataTree:
        """The trace so far."""
        return to_datatree(self._sampler.inspect(), self._coords)

    def __getattr__(self, name: str):
        return getattr(self._sampler, name)


def _is_vector(arr) -> bool:
    import pyarrow.types as pat

    return pat.is_list(arr.type) or pat.is_large_list(arr.type) \
        or pat.is_fixed_size_list(arr.type)


def _column(col, arr, n_rows: int) -> tuple[np.ndarray, list[str], list[int]]:
    """One Arrow column (``col``, and ``arr``, the same as a pyarrow array) as ``(values,
    item dims, item shape)``; nulls become NaN (floats) or None (objects)."""
    import pyarrow

    meta = col.field.metadata or {}
    dims = meta.get(b"dims", b"").decode("utf-8")
    dims = dims.split(",") if dims else []
    shape = meta.get(b"shape", b"").decode("utf-8")
    shape = [int(s) for s in shape.split(",")] if shape else []
    if _is_vector(arr):
        arr = arr.flatten()
    dtype = np.dtype(arr.type.to_pandas_dtype())
    if arr.null_count == 0:
        values = arr.to_numpy(zero_copy_only=False)
        return values.reshape((n_rows, *shape)).astype(dtype, copy=False), dims, shape
    fill = np.nan if dtype.kind == "f" else (None if dtype.kind == "O" else 0)
    out = np.full((n_rows, *shape), fill, dtype=dtype)
    valid = ~arr.is_null().to_numpy(zero_copy_only=False)
    if valid.shape[0] == n_rows:
        out[valid] = arr.filter(pyarrow.array(valid)).to_numpy(zero_copy_only=False).reshape(
            (-1, *shape))
    return out, dims, shape


def _group(batches: list, tuning: list[np.ndarray], *, stats: bool
           ) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """The draws after tuning of every chain, padded to the longest chain (NaN, as nutpie)."""
    import pyarrow

    n_chains = len(batches)
    lengths = [int((~t).sum()) for t in tuning]
    n_draws = max(lengths, default=0)
    data: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    for c, (batch, tune) in enumerate(zip(batches, tuning, strict=True)):
        keep = np.flatnonzero(~tune)
        for name in batch.column_names:
            col = batch.column(name)
            arr = pyarrow.array(col)
            # the per-draw vectors among the statistics (gradient, mass matrix, divergence
            # points) are stored only when asked for; nutpie leaves them out unasked, as here
            if stats and (name in _INDEX_STATS or _is_vector(arr)):
                continue
            values, item_dims, shape = _column(col, arr, batch.num_rows)
            if name not in data:
                fill = np.nan if values.dtype.kind == "f" else (
                    None if values.dtype.kind == "O" else 0)
                data[name] = np.full((n_chains, n_draws, *shape), fill, dtype=values.dtype)
                dims[name] = item_dims
            data[name][c, : len(keep)] = values[keep]
    return data, dims


def _dataset(data: dict[str, np.ndarray], dims: dict[str, list[str]],
             coords: dict[str, Any], attrs: dict[str, Any]) -> xr.Dataset:
    variables = {}
    used: dict[str, int] = {}
    for name, values in data.items():
        item_dims = list(dims.get(name) or [])
        # a dimension nutpie left unnamed gets arviz's name for it
        item_dims += [f"{name}_dim_{i}" for i in range(len(item_dims), values.ndim - 2)]
        for d, n in zip(item_dims, values.shape[2:], strict=True):
            used[d] = n
        variables[name] = (("chain", "draw", *item_dims), values)
    n_chains, n_draws = next(iter(data.values())).shape[:2] if data else (0, 0)
    all_coords = {"chain": np.arange(n_chains), "draw": np.arange(n_draws)}
    for d, n in used.items():
        values = coords.get(d)
        all_coords[d] = pd.Index(values) if values is not None and len(values) == n \
            else np.arange(n)
    return xr.Dataset(variables, coords=all_coords, attrs=attrs)


def to_datatree(raw, coords: dict[str, Any] | None = None) -> xr.DataTree:
    """nutpie's raw trace (``return_raw_trace=True``) as a DataTree of ``posterior`` and
    ``sample_stats`` (draws after tuning; chains of unequal length padded with NaN).

    Parameters
    ----------
    raw
        What ``nutpie.sample(..., return_raw_trace=True)`` returns, or the non-blocking
        sampler's ``inspect()`` with that option.
    coords : dict, optional
        Coordinate values by dimension name (the compiled model's ``coords``).

    Returns
    -------
    xarray.DataTree
    """
    import nutpie as _nutpie

    defer_dask()
    draws, stats = raw.get_arrow_trace()
    tuning = [_booleans(s.column("tuning")) for s in stats]
    post, post_dims = _group(draws, tuning, stats=False)
    stat, stat_dims = _group(stats, tuning, stats=True)
    coords = {k: list(v) for k, v in (coords or {}).items()}
    attrs = {"inference_library": "nutpie",
             "inference_library_version": getattr(_nutpie, "__version__", "unknown")}
    return xr.DataTree.from_dict({
        "posterior": _dataset(post, post_dims, coords, {}),
        "sample_stats": _dataset(stat, stat_dims, coords, attrs),
    })


def _booleans(col) -> np.ndarray:
    import pyarrow

    return np.asarray(pyarrow.array(col).to_numpy(zero_copy_only=False), dtype=bool)
