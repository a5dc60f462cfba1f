"""Compile a PyMC model once into stateless functions of a flat parameter vector.

Why not ``nutpie.compile_pymc_model``? It wraps the model in numba C callbacks that are
compiled afresh every time (about 30 s for the smallest pyramid model on 2 cores, and more
under load), which would dominate ``make demo`` and every test. Here the log-density, its
gradient and the "expand" function (constrained values and deterministics) are compiled by
PyTensor's numba backend, whose compiled code is cached on disk between processes (a warm
compile takes a few seconds), and handed to nutpie as Python callables
(``nutpie.from_pyfunc``). The data stay outside the compiled code: every ``pm.Data``
container is an explicit argument, so :meth:`CompiledModel.with_data` swaps data of the same
design without compiling again (the models outside pyramid's families, e.g. compare_project's
joint model: :func:`pyramid.models.sampling.compiled_for`).

pyramid's own families do not come here: :class:`KernelModel` hands nutpie a coded data set's
tables over the fixed kernels of :mod:`pyramid.models.kernels`, compiled once per installation.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pyramid.errors import InputError

if TYPE_CHECKING:
    import pymc as pm

__all__ = ["CompiledModel", "compile_model", "data_vars", "KernelModel"]

#: PyTensor mode of the compiled functions: numba, cached on disk by PyTensor.
MODE = "NUMBA"

#: Rewrites added to every mode. ``local_remove_all_assert`` drops PyTensor's run-time
#: broadcast-shape checks of the data containers (their shapes are not static, so the graph
#: carries an ``Assert`` and its comparisons for every broadcast): a third of the pyramid
#: model's log-density graph, and as much of its numba compile time on a fresh cache. The
#: checks are redundant here: every data container is built from one frame by
#: :mod:`pyramid.models.coding`, and :meth:`CompiledModel.with_data` only accepts arrays of the
#: lengths the rest of the data have (:func:`_check_lengths`).
EXTRA_REWRITES = ("local_remove_all_assert",)

#: PyTensor flags while compiling. PyTensor's numba backend compiles with LLVM fast-math by
#: default (reassociation, contraction, approximate functions): the probit tails lose accuracy,
#: and the same seed gave different draws from a freshly compiled function than from the same
#: function loaded from the disk cache (measured on the skill model: the rounding differs and
#: the chains part ways). Off, the draws are the same either way.
NUMBA_FLAGS = {"numba__fastmath": False}


def _mode(name: str):
    from pytensor.compile.mode import get_mode

    return get_mode(name).including(*EXTRA_REWRITES)

_INIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class CompiledModel:
    """A model compiled to ``logp_dlogp(x, *data)`` and ``expand(x, *data)``.

    Attributes
    ----------
    n_dim : int
        Length of the flat unconstrained parameter vector.
    names, shapes : list
        Names and shapes of what ``expand`` returns (free variables on their constrained scale,
        then deterministics), in order.
    dims : dict
        Variable -> its dims (from the PyMC model).
    coords : dict
        Dim -> coordinate values.
    data : dict
        Data container name -> current value (numpy array).
    """

    n_dim: int
    names: list[str]
    shapes: list[tuple[int, ...]]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, Any]
    data: dict[str, np.ndarray]
    _logp_fn: Any = field(repr=False)
    _expand_fn: Any = field(repr=False)
    _logp_shared: list[str] = field(repr=False)
    _expand_shared: list[str] = field(repr=False)
    _init_fn: Any = field(repr=False)
    _free_names: list[str] = field(repr=False)
    _free_slices: list[slice] = field(repr=False)
    _free_shapes: list[tuple[int, ...]] = field(repr=False)

    # ---------------------------------------------------------------- evaluation
    def logp_dlogp(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-density and gradient at an unconstrained point."""
        out = self._logp_fn(np.asarray(x, dtype="float64"),
                            *[self.data[k] for k in self._logp_shared])
        return float(out[0]), np.asarray(out[1], dtype="float64")

    def expand(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained values and deterministics at an unconstrained point."""
        values = self._expand_fn(np.asarray(x, dtype="float64"),
                                 *[self.data[k] for k in self._expand_shared])
        return {name: np.asarray(v) for name, v in zip(self.names, values, strict=True)}

    def initial_point(self, seed: int) -> np.ndarray:
        """A jittered initial point (flat, unconstrained).

        PyMC's initial-point function reseeds shared random generators before drawing, so
        concurrent chains (nutpie calls this from one thread per chain) must take turns, or
        the same seed would not give the same draws.
        """
        with _INIT_LOCK:
            point = self._init_fn(seed)
        return np.concatenate([np.asarray(point[n], dtype="float64").ravel()
                               for n in self._free_names])

    def with_data(self, **updates: np.ndarray) -> CompiledModel:
        """The same compiled model with some data containers replaced (same design).

        Raises
        ------
        InputError
            For an unknown data name or a value of another number of dimensions.
        """
        data = dict(self.data)
        for name, value in updates.items():
            if name not in data:
                raise InputError(
                    f"unknown data container {name!r}; the model has {', '.join(sorted(data))}"
                )
            value = np.asarray(value, dtype=data[name].dtype)
            if value.ndim != data[name].ndim:
                raise InputError(
                    f"data container {name!r} must have {data[name].ndim} dimension(s), "
                    f"got {value.ndim}"
                )
            data[name] = value
        _check_lengths(self.data, data)
        return replace(self, data=data)

    def for_model(self, model: pm.Model, *, initvals: dict | None = None) -> CompiledModel:
        """The same compiled functions with another model's data and initial points.

        For a model whose graph equals the compiled one's up to its data containers (same
        structure, priors and numbers of groups; :func:`pyramid.models.sampling.fit_compiled`
        checks that): its data are swapped in (:meth:`with_data`) and its initial points,
        which may come from the data (empirical thresholds), replace the old ones.
        """
        from pymc.initial_point import make_initial_point_fn

        values = {name: np.asarray(var.get_value()) for name, var in data_vars(model).items()}
        init = make_initial_point_fn(model=model, overrides=initvals or None,
                                     jitter_rvs=set(model.free_RVs), return_transformed=True)
        return replace(self.with_data(**values), _init_fn=init)

    # ---------------------------------------------------------------- nutpie
    def to_nutpie(self):
        """This model as a ``nutpie`` compiled model (``nutpie.from_pyfunc``)."""
        from nutpie.compiled_pyfunc import from_pyfunc

        logp_fn, expand_fn = self._logp_fn, self._expand_fn
        logp_keys, expand_keys = list(self._logp_shared), list(self._expand_shared)
        names, shapes = list(self.names), list(self.shapes)

        def make_logp_fn():
            def logp(x, **shared):
                value, grad = logp_fn(x, *[shared[k] for k in logp_keys])
                return float(value), np.asarray(grad, dtype="float64")

            return logp

        def make_expand_fn(seed1, seed2, chain):
            def expand(x, **shared):
                values = expand_fn(x, *[shared[k] for k in expand_keys])
                return {name: np.asarray(v, dtype="float64").reshape(shape)
                        for name, v, shape in zip(names, values, shapes, strict=True)}

            return expand

        init = self.initial_point

        return from_pyfunc(
            ndim=self.n_dim,
            make_logp_fn=make_logp_fn,
            make_expand_fn=make_expand_fn,
            expanded_dtypes=[np.dtype("float64")] * len(names),
            expanded_shapes=shapes,
            expanded_names=names,
            coords={k: [str(x) for x in v] for k, v in self.coords.items() if v is not None},
            dims={k: v for k, v in self.dims.items() if k in names},
            shared_data=dict(self.data),
            make_initial_point_fn=init,
        )


def _check_lengths(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> None:
    """Containers that had one length (first axis) must still share one length.

    The compiled code has no run-time shape checks (``EXTRA_REWRITES``): arrays of one row
    index (outcome, predictors, group indices of the rows) must be swapped together.
    """
    by_length: dict[int, list[str]] = {}
    for name, value in old.items():
        if np.ndim(value) >= 1:
            by_length.setdefault(np.shape(value)[0], []).append(name)
    for length, names in by_length.items():
        if len(names) < 2:
            continue
        got = {name: np.shape(new[name])[0] for name in names}
        if len(set(got.values())) > 1:
            raise InputError(
                "data containers that share one length must be replaced together: "
                + ", ".join(f"{k} has length {v}" for k, v in sorted(got.items()))
                + f" (all had length {length})"
            )


def _release_gil(fn) -> None:
    """Have a numba function not yet compiled release the GIL while it runs.

    nutpie runs each chain in a thread of its own and calls the log-density through Python
    (``from_pyfunc``); a numba function holding the GIL makes the chains take turns, so two
    chains on two cores ran no faster than one (measured: 1.04x the throughput of one thread;
    1.45x with the GIL released, on a machine loaded by other work). The compiled functions
    are pure (arrays in, new arrays out), so running them concurrently is safe. Only a function
    numba has not compiled yet can be changed; one loaded from an on-disk cache compiled before
    keeps the GIL (numba's cache index does not record it) -- the performance page says so.
    Called by :func:`_finish` before the first call, i.e. before the JIT.
    """
    opts = getattr(fn, "targetoptions", None)
    if isinstance(opts, dict) and not getattr(fn, "overloads", None):
        opts["nogil"] = True


def data_vars(model: pm.Model) -> dict[str, Any]:
    """Shared variables of a model: its pm.Data containers and its dim lengths (``dim:<name>``)."""
    import pytensor

    out = {name: var for name, var in model.named_vars.items()
           if isinstance(var, pytensor.compile.SharedVariable)}
    for name, var in model.dim_lengths.items():
        if isinstance(var, pytensor.compile.SharedVariable):
            out[f"dim:{name}"] = var
    return out


def compile_model(model: pm.Model, *, jitter: bool = True, initvals: dict | None = None,
                  mode: str = MODE, expand_mode: str | None = None) -> CompiledModel:
    """Compile a PyMC model's log-density, gradient and expansion.

    Parameters
    ----------
    model : pymc.Model
    jitter : bool, default True
        Jitter initial points (uniform(-1, 1) on the unconstrained scale), as PyMC and nutpie do.
    initvals : dict, optional
        Initial values (variable name -> value on the constrained scale).
    mode : str, default "NUMBA"
        PyTensor compile mode of the log-density and its gradient.
    expand_mode : str, optional
        PyTensor compile mode of the expansion (constrained values and deterministics);
        ``mode`` when not given.

    Returns
    -------
    CompiledModel
    """
    import pytensor
    import pytensor.tensor as pt
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import compile as compile_pymc
    from pytensor.graph import clone_replace

    value_vars = [model.rvs_to_values[rv] for rv in model.free_RVs]
    init = make_initial_point_fn(
        model=model,
        overrides=initvals,
        jitter_rvs=set(model.free_RVs) if jitter else set(),
        return_transformed=True,
    )
    with _INIT_LOCK:
        ip = init(0)
    free_names = [v.name for v in value_vars]
    free_shapes = [tuple(int(d) for d in np.shape(ip[n])) for n in free_names]
    slices, start = [], 0
    for shp in free_shapes:
        n = math.prod(shp)
        slices.append(slice(start, start + n))
        start += n
    n_dim = start

    joined = pt.TensorType("float64", shape=(n_dim,))("_unconstrained_point")
    replacements = {
        v: joined[s].reshape(shp).astype(v.dtype)
        for v, s, shp in zip(value_vars, slices, free_shapes, strict=True)
    }
    logp = model.logp()
    grad = pt.concatenate([g.ravel() for g in pt.grad(logp, value_vars)])
    logp_r, grad_r = clone_replace([logp, grad], replacements)

    # constrained values of the free RVs first (they are what the trace holds), then the
    # deterministics
    outs, names = list(model.free_RVs), [rv.name for rv in model.free_RVs]
    for v in model.unobserved_value_vars:
        if v.name not in free_names and v.name not in names:
            outs.append(v)
            names.append(v.name)
    outs_values = model.replace_rvs_by_values(outs)
    outs_r = clone_replace([pt.as_tensor(o).astype("float64") for o in outs_values], replacements)

    # numba compiles each function on its first call: both are called below, inside this
    # context, so that the whole JIT happens here with fastmath off (NUMBA_FLAGS)
    with pytensor.config.change_flags(**NUMBA_FLAGS), model:
        logp_pt = compile_pymc([joined], [logp_r, grad_r], mode=_mode(mode))
        expand_pt = compile_pymc([joined], outs_r, mode=_mode(expand_mode or mode))
        helper = None
        if _parallel_wanted() and not _in_disk_cache(logp_pt) and not _in_disk_cache(expand_pt):
            helper = _start_helper([joined], outs_r, expand_mode or mode)
        return _finish(model, logp_pt, expand_pt, ip, init, names, free_names, slices,
                       free_shapes, n_dim, helper=helper)


# ------------------------------------------------------------------------------------------
# a cold start: compile the two functions at once, in two processes
# ------------------------------------------------------------------------------------------
#: Environment variable that turns the parallel cold compile off (``0``).
PARALLEL_ENV = "PYRAMID_PARALLEL_COMPILE"

#: The longest a compile waits for its helper process before compiling by itself.
HELPER_TIMEOUT_S = 1200.0


def _parallel_wanted() -> bool:
    """Whether a cold compile may start a helper process.

    Not in a worker of :mod:`pyramid.executor` (the workers already fill the cores), not on
    one core, not when ``PYRAMID_PARALLEL_COMPILE=0``.
    """
    if os.environ.get(PARALLEL_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if os.environ.get("PYRAMID_WORKER_SLOT"):
        return False
    return (os.cpu_count() or 1) >= 2


def _in_disk_cache(fn) -> bool:
    """Whether numba's disk cache already holds a compiled function graph ``fn``.

    PyTensor's numba linker keys the function of a whole graph by a hash of the graph
    (``pytensor.link.numba.cache``), and numba names the index file of a cached function
    after that key. No key (not a numba function, or caching off): reported as cached, so
    nothing is started.
    """
    try:
        from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, NUMBA_CACHE_PATH

        key = CACHED_SRC_FUNCTIONS.get(fn.vm.jit_fn.py_func)
    except (AttributeError, ImportError, TypeError):
        return True
    if not key:
        return True
    return any(NUMBA_CACHE_PATH.glob(f"*{key}*.nbi"))


def _start_helper(inputs, outputs, mode: str):
    """Start a process that compiles ``outputs`` (the expansion) into the shared disk cache.

    Why: on an empty cache numba compiles the log-density (with its gradient) and the
    expansion one after the other on one core, because its compiler holds a lock per process;
    most of a cold ``pyramid demo`` is that (measured on 2 cores: 120 s for the pyramid
    model's log-density, 40 s more for its expansion). A second process compiles the
    expansion meanwhile and writes it to the same disk cache (numba writes cache files
    atomically), from which this process then loads it in a second. The helper only fills
    the cache: if it fails or is slow, this process compiles the function itself, with the
    same result. The graph travels pickled with ``cloudpickle`` (a PyMC dependency: the
    graphs hold closures that ``pickle`` refuses). Returns the process or None.
    """
    try:
        import cloudpickle

        blob = cloudpickle.dumps((inputs, outputs, mode))
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyramid.models._compile_helper"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("PYRAMID_DEBUG") else subprocess.DEVNULL,
        )
        proc.stdin.write(blob)
        proc.stdin.close()
    except Exception:  # noqa: BLE001 - the helper is an optimisation only
        return None
    return proc


def _wait_helper(proc) -> None:
    """Wait for a helper process (at most :data:`HELPER_TIMEOUT_S`); stop it after that."""
    try:
        proc.wait(timeout=HELPER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def compile_in_helper(blob: bytes) -> None:
    """The helper's side of :func:`_start_helper`: compile and run the function once."""
    import cloudpickle
    import pytensor
    from pymc.pytensorf import compile as compile_pymc

    inputs, outputs, mode = cloudpickle.loads(blob)
    with pytensor.config.change_flags(**NUMBA_FLAGS):
        fn = compile_pymc(inputs, outputs, mode=_mode(mode))
        jit = getattr(fn.vm, "jit_fn", None)
        if jit is not None:
            _release_gil(jit)  # as the parent does, so that the cached code releases it too
        x = np.zeros(inputs[0].type.shape, dtype="float64")
        fn(x)


def _finish(model, logp_pt, expand_pt, ip, init, names, free_names, slices, free_shapes,
            n_dim, helper=None) -> CompiledModel:
    """Wrap two compiled PyTensor functions (and call each once: numba's JIT) as a model.

    The log-density is compiled first; with a ``helper`` process compiling the expansion
    meanwhile (:func:`_start_helper`), the expansion is loaded from the disk cache after it.
    """
    shared_names = {var: name for name, var in data_vars(model).items()}

    def shared_keys(fn) -> list[str]:
        keys = []
        for var in fn.get_shared():
            if var not in shared_names:
                raise InputError(  # pragma: no cover - all pyramid data are named pm.Data
                    f"internal: the model uses a shared variable {var} that is not a pm.Data"
                )
            keys.append(shared_names[var])
        return keys

    data = {name: np.asarray(var.get_value()) for var, name in shared_names.items()}
    x0 = np.concatenate([np.asarray(ip[n], dtype="float64").ravel() for n in free_names])
    try:
        logp_fn = logp_pt.vm.jit_fn if hasattr(logp_pt.vm, "jit_fn") else _stateful(logp_pt)
        _release_gil(logp_fn)
        logp_keys = shared_keys(logp_pt)
        logp_fn(x0, *[data[k] for k in logp_keys])  # the JIT, now (see compile_model)
        if helper is not None:
            _wait_helper(helper)
    finally:
        if helper is not None and helper.poll() is None:  # interrupted: stop the helper too
            helper.kill()
            helper.wait()
    expand_fn = expand_pt.vm.jit_fn if hasattr(expand_pt.vm, "jit_fn") else _stateful(expand_pt)
    _release_gil(expand_fn)
    expand_keys = shared_keys(expand_pt)
    out_shapes = [tuple(np.shape(o)) for o in expand_fn(x0, *[data[k] for k in expand_keys])]
    dims = {name: tuple(d) for name, d in model.named_vars_to_dims.items() if d is not None}
    coords = {k: (list(v) if v is not None else None) for k, v in model.coords.items()}
    return CompiledModel(
        n_dim=n_dim,
        names=names,
        shapes=out_shapes,
        dims=dims,
        coords=coords,
        data=data,
        _logp_fn=logp_fn,
        _expand_fn=expand_fn,
        _logp_shared=logp_keys,
        _expand_shared=expand_keys,
        _init_fn=init,
        _free_names=free_names,
        _free_slices=slices,
        _free_shapes=free_shapes,
    )


def _stateful(fn):  # pragma: no cover - only for non-numba modes
    """Wrap a pytensor Function so it takes the shared values as extra arguments."""
    shared = fn.get_shared()

    def call(x, *values):
        for var, val in zip(shared, values, strict=True):
            var.set_value(val, borrow=True)
        return fn(x)

    return call


# ------------------------------------------------------------------------------------------
# pyramid's own models: the fixed kernels of pyramid.models.kernels
# ------------------------------------------------------------------------------------------
class KernelModel:
    """A model of :mod:`pyramid.models.builder`'s families as the fixed numba kernels.

    Nothing is compiled for a model or a data set: the kernels are compiled once per
    installation (numba's disk cache) and read the model's tables and data through one table
    of addresses (:func:`_address_table`). A new data set is a new :class:`Layout`
    (:meth:`with_layout`), in microseconds.

    Parameters
    ----------
    layout : pyramid.models.layout.Layout
    """

    def __init__(self, layout) -> None:
        from pyramid.models import kernels

        self.layout = layout
        n_loaded = kernels.loaded()
        self._logp_c, self._expand_c, slot_spec = kernels.cfuncs(layout.family)
        #: whether making this model compiled (or loaded from disk) a kernel in this process
        self.compiled_now = kernels.loaded() > n_loaded
        self._arrays, self._table = _address_table(layout.slots, slot_spec)

    # ---- what nutpie and the results need ----
    @property
    def n_dim(self) -> int:
        return self.layout.n_dim

    @property
    def names(self) -> list[str]:
        return self.layout.expanded_names

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return self.layout.expanded_shapes

    @property
    def dims(self) -> dict[str, tuple[str, ...]]:
        return self.layout.dims

    @property
    def coords(self) -> dict[str, list]:
        return self.layout.coords

    def with_layout(self, layout) -> KernelModel:
        """The same kernels with another model's tables (another data set)."""
        return KernelModel(layout)

    # ---- evaluation (through the C callbacks, as nutpie calls them) ----
    def _logp(self, x: np.ndarray, want_grad: bool) -> tuple[float, np.ndarray]:
        import ctypes

        from pyramid.models.kernels import NO_GRAD

        x = np.ascontiguousarray(x, dtype="float64")
        if x.shape != (self.n_dim,):
            raise InputError(f"a point of this model has {self.n_dim} values, got {x.shape}")
        g = np.zeros(self.n_dim)
        out = np.zeros(1)
        ptr = ctypes.POINTER(ctypes.c_double)
        self._logp_c.ctypes(self.n_dim if want_grad else self.n_dim + NO_GRAD,
                            x.ctypes.data_as(ptr), g.ctypes.data_as(ptr),
                            out.ctypes.data_as(ptr), int(self._table.ctypes.data))
        return float(out[0]), g

    def logp_dlogp(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-density and gradient at an unconstrained point."""
        return self._logp(x, True)

    def logp(self, x: np.ndarray) -> float:
        """Log-density at an unconstrained point."""
        return self._logp(x, False)[0]

    def expand(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained values of the free variables at a point."""
        import ctypes

        x = np.ascontiguousarray(x, dtype="float64")
        out = np.empty(self.layout.n_expanded)
        ptr = ctypes.POINTER(ctypes.c_double)
        self._expand_c.ctypes(self.n_dim, self.layout.n_expanded, x.ctypes.data_as(ptr),
                              out.ctypes.data_as(ptr), int(self._table.ctypes.data))
        return {k: v[0] for k, v in self.layout.unflatten(out[None]).items()}

    def initial_point(self, seed: int) -> np.ndarray:
        return self.layout.initial_point(seed)

    def to_nutpie(self):
        """This model as a nutpie compiled model: nutpie's chains call the kernels' C
        callbacks directly, from their own threads (no Python, no lock)."""
        return _nutpie_model(self)


def _address_table(slots: dict, spec) -> tuple[list[np.ndarray], np.ndarray]:
    """The arrays of ``slots`` in the order of ``spec`` as C-contiguous arrays of the kernels'
    types, and the int64 table ``[n, (address, rows, columns) per slot]`` that the C callbacks
    read (the arrays must outlive every use of the table: the model keeps both)."""
    arrays, table = [], [len(spec)]
    for name, kind in spec:
        dtype = np.float64 if kind[0] == "f" else np.int64
        a = np.ascontiguousarray(slots[name], dtype=dtype)
        if kind[1] == "1":
            a = a.reshape(-1)
            shape = (a.shape[0], 1)
        else:
            if a.ndim != 2:
                raise InputError(f"internal: slot {name} must be 2-d, got shape {a.shape}")
            shape = a.shape
        if a.size == 0:  # a valid address even for an empty array
            a = np.zeros(max(1, a.size), dtype=dtype)[: a.size].reshape(a.shape)
        arrays.append(a)
        table += [a.ctypes.data, int(shape[0]), int(shape[1])]
    return arrays, np.asarray(table, dtype=np.int64)


def _nutpie_model(km: KernelModel):
    from dataclasses import dataclass as _dc

    from pyramid.models.nutpie_trace import nutpie

    nutpie()  # first, so that nutpie.sample finds arviz lazy
    from nutpie import _lib
    from nutpie.sample import CompiledModel as _Base

    @_dc(frozen=True)
    class _KernelNutpie(_Base):
        _km: Any = None

        @property
        def n_dim(self):
            return self._km.n_dim

        @property
        def shapes(self):
            return dict(zip(self._km.names, self._km.shapes, strict=True))

        @property
        def coords(self):
            import pandas as pd

            return {k: pd.Index([str(x) for x in v]) for k, v in self._km.coords.items()}

        def _make_sampler(self, settings, init_mean, cores, progress_type, extra_callback,
                          extra_callback_rate, store):
            model = self._make_model(init_mean)
            return _lib.PySampler.from_pymc(settings, cores, model, progress_type,
                                            extra_callback, extra_callback_rate, store)

        def _make_model(self, init_mean):
            km = self._km
            ud = int(km._table.ctypes.data)
            expand_fn = _lib.ExpandFunc(km.n_dim, km.layout.n_expanded, km._expand_c.address,
                                        ud, self)
            logp_fn = _lib.LogpFunc(km._logp_c.address, ud, self)
            coords = {k: [str(x) for x in v] for k, v in km.coords.items()}
            dim_sizes = {k: len(v) for k, v in coords.items()}
            dims = {k: v for k, v in km.dims.items() if k in km.names}
            variables = _lib.PyVariable.new_variables(
                km.names, ["float64"] * len(km.names), [list(s) for s in km.shapes], dim_sizes,
                dims)
            return _lib.PyMcModel(logp_fn, expand_fn, variables, km.n_dim, dim_sizes, coords,
                                  km.initial_point, None)

    return _KernelNutpie(dims={k: v for k, v in km.dims.items() if k in km.names}, _km=km)
