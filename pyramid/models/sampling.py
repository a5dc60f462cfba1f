"""The one door to the samplers: every draw pyramid makes from a model goes through here.

* :func:`kernel_model` -- a coded data set's model as pyramid's fixed numba kernels
  (:mod:`pyramid.models.kernels`; nothing is compiled per model or data set: the kernels are
  compiled once per installation and kept in numba's disk cache, :func:`ensure_compiled`);
* :func:`sample_nutpie` -- nutpie over those kernels (or over JAX, :func:`compile_jax`, or
  over a PyMC model compiled by PyTensor for a model the kernels do not cover); with a
  convergence check it continues the same adapted chains in blocks of draws until the check
  passes or the time budget is spent (:class:`Extension`); what :func:`pyramid.fit` uses;
* :func:`sample_pymc` -- PyMC's NUTS, :func:`pyramid.fit`'s fallback;
* :func:`sample_model` -- nutpie on any PyMC model (the reference model of
  :func:`pyramid.compare_project`), compiled by PyTensor and kept in the process cache;
* :func:`fit_compiled` -- one of many fits (:func:`pyramid.design`, :func:`pyramid.calibrate`):
  nutpie on one thread, no post-processing;
* :func:`prior_draws` -- draws from a model's prior, the model's quantities computed from them.

One compile cache, one identity rule: a model of pyramid's families is its family's kernel
(every spec, prior set and data set of the family uses the same machine code); any other PyMC
model is compiled by PyTensor once per graph, and a later model whose graph equals it up to
data reuses it (:func:`compiled_for`).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xarray as xr

from pyramid.errors import InputError, PyramidError
from pyramid.models.malloc import reuse_freed_memory

__all__ = ["kernel_model", "model_layout", "model_target", "GraphLayout", "ensure_compiled", "sample_nutpie", "sample_pymc", "sample_model",
           "compile_graph", "compile_jax", "fit_compiled", "compiled_for", "prior_draws", "prior_draws_pymc",
           "quantities", "Extension"]


# --------------------------------------------------------------------------------------------
# pyramid's models as the fixed kernels
# --------------------------------------------------------------------------------------------
def kernel_model(md, priors):
    """A coded data set's model as pyramid's fixed kernels (a
    :class:`pyramid.models.compiled.KernelModel`): nothing is compiled for it.

    Parameters
    ----------
    md : pyramid.models.coding.ModelData
    priors : pyramid.specs.PriorSet
    """
    from pyramid.models.compiled import KernelModel
    from pyramid.models.layout import build_layout

    return KernelModel(build_layout(md, priors))


class GraphLayout:
    """What a fit, the calibration and the design analysis read from a kernel
    :class:`~pyramid.models.layout.Layout`, for a model the kernels do not cover
    (:func:`pyramid.models.layout.kernel_gap`: a formula's interaction terms, varying slopes,
    crossed groupings): read from its PyMC model (:func:`pyramid.models.builder.build`, built
    on first use), which is sampled through PyTensor.

    Parameters
    ----------
    md : pyramid.models.coding.ModelData
    priors : pyramid.specs.PriorSet
    """

    #: Free variables that are sampling devices, not quantities of the model: standardised
    #: effects, signed SDs and the packed Cholesky factor of correlated group effects.
    _DEVICE = (("z_", "chol_"), ("_signed",))

    def __init__(self, md, priors) -> None:
        self.md, self.priors, self._built = md, priors, None
        self.family = None  # no kernel family

    @property
    def built(self):
        """The PyMC model (:class:`pyramid.models.builder.Built`)."""
        if self._built is None:
            from pyramid.models.builder import build

            self._built = build(self.md, self.priors)
        return self._built

    @property
    def dims(self) -> dict[str, tuple[str, ...]]:
        return {k: tuple(v) for k, v in self.built.model.named_vars_to_dims.items() if v}

    @property
    def coords(self) -> dict[str, list]:
        return {k: list(v) for k, v in self.built.model.coords.items() if v is not None}

    @property
    def scale(self) -> str:
        return self.built.scale

    @property
    def coefs(self) -> dict[str, tuple[str, dict]]:
        return dict(self.built.coefs)

    @property
    def derived(self) -> list[str]:
        return list(self.built.derived)

    @property
    def devices(self) -> list[str]:
        starts, ends = self._DEVICE
        return [v.name for v in self.built.model.free_RVs
                if v.name.startswith(starts) or v.name.endswith(ends)]

    def prior_draws(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` draws of every free variable and deterministic from the prior
        (:func:`prior_draws_pymc`)."""
        return prior_draws_pymc(self.built, n, int(rng.integers(2**31 - 1)))

    def quantities(self, free: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's quantities among draws of its variables: the devices left out."""
        devices = set(self.devices)
        return {k: v for k, v in free.items() if k not in devices}


def model_layout(md, priors):
    """A coded model's kernel tables (:func:`pyramid.models.layout.build_layout`), or, for a
    model the kernels do not cover (:func:`pyramid.models.layout.kernel_gap`), its
    :class:`GraphLayout`."""
    from pyramid.models.layout import build_layout, kernel_gap

    return build_layout(md, priors) if kernel_gap(md) is None else GraphLayout(md, priors)


def model_target(layout):
    """What :func:`fit_compiled` samples for a layout of :func:`model_layout`: the kernels,
    or the PyMC model of a :class:`GraphLayout`."""
    if isinstance(layout, GraphLayout):
        return layout.built
    from pyramid.models.compiled import KernelModel

    return KernelModel(layout)


def ensure_compiled(families=("gauss", "probit")) -> dict[str, float]:
    """Compile (on an empty cache, in parallel processes) or load the kernels of ``families``
    (``gauss``: skill and pyramid; ``probit``: domains); see
    :func:`pyramid.models.kernels.ensure_compiled`."""
    from pyramid.models import kernels

    return kernels.ensure_compiled(families)


def quantities(layout, free: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's quantities from draws of its free variables: see
    :meth:`pyramid.models.layout.Layout.quantities` (sampling devices left out)."""
    return layout.quantities(free)


def _stack(ds: xr.Dataset) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    shape = (ds.sizes["chain"], ds.sizes["draw"])
    out = {}
    for name, da in ds.data_vars.items():
        da = da.transpose("chain", "draw", ...)
        out[str(name)] = np.asarray(da.values, dtype=float).reshape(shape[0] * shape[1],
                                                                    *da.shape[2:])
    return out, shape


def identified_posterior(ds: xr.Dataset, layout) -> xr.Dataset:
    """A kernel trace's posterior (every free variable on its constrained scale) as the
    model's quantities: group effects and SDs instead of the sampling devices, the thresholds
    at the reference levels, the path model's derived effects."""
    free, shape = _stack(ds)
    q = layout.quantities(free)
    coords = {k: [str(x) for x in v] for k, v in layout.coords.items()}
    out = {}
    for name, v in q.items():
        arr = np.asarray(v).reshape(*shape, *np.shape(v)[1:])
        dims = list(layout.dims.get(name, ()))
        if len(dims) != arr.ndim - 2:
            dims = [f"{name}_dim_{i}" for i in range(arr.ndim - 2)]
        out[name] = (("chain", "draw", *dims), arr)
    res = xr.Dataset(out, coords={"chain": ds["chain"].values, "draw": ds["draw"].values})
    return res.assign_coords({d: coords[d] for d in res.dims if d in coords})


# --------------------------------------------------------------------------------------------
# prior draws
# --------------------------------------------------------------------------------------------
def prior_draws(layout, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` draws of the model's quantities from its prior (numpy, vectorised over draws):
    each free variable from its prior (ordered ones sorted, group effects given their SD),
    then the quantities computed from them (:meth:`Layout.quantities`; no log-likelihood)."""
    rng = np.random.default_rng([int(seed), 7])
    return layout.quantities(layout.prior_draws(n, rng))


def prior_draws_pymc(built, n: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of every free variable and deterministic (but ``loglik_total``) from a PyMC
    model's prior (for models outside pyramid's families).

    Free variables come from ``pm.draw``. A variable with an ordered transform (thresholds)
    has the density of its distribution restricted to increasing values, i.e. it is
    distributed as the *sorted* draws of that distribution, which ``pm.draw`` (ignoring
    transforms) does not give: those draws are sorted here. Deterministics are then computed
    from the free values, all draws in one call, in PyTensor's Python mode.
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
    dets = [d for d in model.deterministics if d.name != "loglik_total"]
    if dets:
        inputs = [rv.type() for rv in free]
        outs = clone_replace(dets, dict(zip(free, inputs, strict=True)))
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


# --------------------------------------------------------------------------------------------
# one fit: nutpie (kernels, JAX or PyTensor), extended until clean; PyMC as fallback
# --------------------------------------------------------------------------------------------
#: Longest extension: at most this many blocks of draws after the first (each block as many
#: draws as asked for), whatever the time budget.
MAX_BLOCKS = 3

#: The extension's time budget when none is given: this many times the seconds the first
#: draws took (tuning included), and at least :data:`MIN_BUDGET_S`.
BUDGET_FACTOR = 2.0
MIN_BUDGET_S = 30.0


@dataclass
class Extension:
    """How far a fit's chains were run.

    Attributes
    ----------
    asked : int
        Draws per chain asked for.
    draws : int
        Draws per chain kept (``asked`` plus the extension blocks).
    blocks : int
        Extension blocks of ``asked`` draws each.
    passed : bool or None
        Whether the convergence checks passed at ``draws`` (None: not checked while sampling).
    stopped : str
        ``"passed"`` (checks passed), ``"budget"`` (time budget spent), ``"limit"``
        (:data:`MAX_BLOCKS` blocks), ``"not_extendable"`` (a check more draws do not fix
        failed: divergences, E-BFMI), ``"off"`` (extension turned off).
    budget_s : float
        The extension's time budget in seconds (0 when off).
    """

    asked: int
    draws: int
    blocks: int
    passed: bool | None
    stopped: str
    budget_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_nutpie(model, *, draws, tune, chains, cores, seed, progressbar, target_accept,
                  adaptation, max_tree_depth=None, check: Callable | None = None,
                  extend: bool | float = True) -> tuple[xr.DataTree, dict, Extension]:
    """Sample a model with nutpie: ``(trace, timings, extension)``.

    Parameters
    ----------
    model
        A :class:`pyramid.models.compiled.KernelModel`, or anything with ``to_nutpie()``
        (a PyTensor-compiled model, a nutpie JAX model).
    draws, tune, chains, cores, seed, progressbar, target_accept, adaptation, max_tree_depth
        As :func:`pyramid.fit`.
    check : callable, optional
        ``check(trace) -> (passed, extendable)`` on a trace of the first draws of every chain.
        Given and ``extend`` not False: the chains are sampled without stopping, ``check`` is
        called after ``draws`` draws and after each further block of ``draws`` draws, and the
        first block count at which it passes is kept (the same seed gives the same draws:
        each chain's draws do not depend on when the checks run). The extension stops at
        :data:`MAX_BLOCKS` blocks, when a failed check is not extendable, or when its time
        budget is spent (then the last block checked is kept).
    extend : bool or float, default True
        False: no extension. True: a budget of :data:`BUDGET_FACTOR` times the seconds the
        first draws took, at least :data:`MIN_BUDGET_S`. A number: the budget in seconds.
    """
    from pyramid.models import nutpie_trace  # pyramid.fit falls back to PyMC without nutpie

    t0 = time.perf_counter()
    compiled = model.to_nutpie() if hasattr(model, "to_nutpie") else model
    t1 = time.perf_counter()
    kwargs = {"target_accept": target_accept} if target_accept else {}
    if max_tree_depth:
        kwargs["maxdepth"] = max_tree_depth
    # nutpie returns the draws made so far on Ctrl-C: note it and raise (an interrupted fit
    # must never look like a short one); see pyramid.models.malloc for reuse_freed_memory
    with reuse_freed_memory(), _interrupt_guard() as interrupted:
        try:
            if check is None or extend is False:
                dt = nutpie_trace.sample(compiled, draws=draws, tune=tune, chains=chains,
                                         cores=cores, seed=seed, progress_bar=progressbar,
                                         adaptation=adaptation, **kwargs)
                ext = Extension(asked=draws, draws=draws, blocks=0, passed=None,
                                stopped="off", budget_s=0.0)
            else:
                dt, ext = _sample_extended(compiled, draws=draws, tune=tune, chains=chains,
                                           seed=seed, progressbar=progressbar,
                                           adaptation=adaptation, check=check,
                                           extend=extend, kwargs=kwargs)
        except Exception:
            if interrupted:
                raise KeyboardInterrupt("sampling was interrupted") from None
            raise
    if interrupted:
        raise KeyboardInterrupt("sampling was interrupted")
    t2 = time.perf_counter()
    return dt, {"compile_s": t1 - t0, "sample_s": t2 - t1}, ext


def _finished(sampler) -> bool:
    """Whether nutpie's background sampler has stopped (nutpie 0.16 answers "not yet" with a
    TimeoutError)."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def _pause(sampler) -> None:
    """Pause nutpie's background sampler (nothing when it has stopped)."""
    if not _finished(sampler):
        sampler.pause()


def _resume(sampler) -> None:
    if not _finished(sampler):
        sampler.resume()


def _truncate(dt: xr.DataTree, k: int) -> xr.DataTree:
    out = {}
    for name in ("posterior", "sample_stats"):
        if name in dt.children:
            out[name] = dt[name].to_dataset().isel(draw=slice(0, k))
    return xr.DataTree.from_dict(out)


def _sample_extended(compiled, *, draws, tune, chains, seed, progressbar, adaptation, check,
                     extend, kwargs) -> tuple[xr.DataTree, Extension]:
    """nutpie's non-blocking sampler with room for :data:`MAX_BLOCKS` more blocks of draws;
    checks at each block boundary (see :func:`sample_nutpie`)."""
    from pyramid.models import nutpie_trace

    progress: dict[str, list[int]] = {}

    def on_progress(chains_):
        progress["done"] = [int(p.finished_draws) for p in chains_]

    capacity = draws * (1 + MAX_BLOCKS)
    t_start = time.perf_counter()
    # every chain in a thread of its own (with fewer threads than chains nutpie runs the
    # later chains only after the first have drawn all of their capacity); the kernels hold
    # no lock, so four threads on two cores share them evenly
    sampler = nutpie_trace.sample(compiled, draws=capacity, tune=tune, chains=chains,
                                  cores=chains, seed=seed, progress_bar=False,
                                  adaptation=adaptation, save_warmup=False, blocking=False,
                                  progress_callback=on_progress, progress_rate=50, **kwargs)
    budget = None if extend is True else float(extend)
    kept = None
    k = draws
    blocks = 0
    stopped = "limit"
    passed = False
    t_first_fail = None
    try:
        while True:
            # wait until every chain has drawn k draws
            while True:
                done = progress.get("done")
                if done and len(done) == chains and min(done) >= tune + k:
                    break
                if _finished(sampler):
                    break
                if t_first_fail is not None and budget is not None \
                        and time.perf_counter() - t_first_fail > budget:
                    break
                time.sleep(0.02)
            done = progress.get("done") or [0]
            if min(done) < tune + k and not _finished(sampler):  # out of time
                stopped = "budget"
                break
            # the chains wait while the checks run: on a machine with fewer cores than
            # chains they would otherwise take the CPU from the checks (which took 1.6-2.5 s
            # instead of 0.3 s beside four running chains on two cores), and the draws do not
            # depend on when a chain was paused
            _pause(sampler)
            trace = _truncate(sampler.inspect(), k)
            if trace["posterior"].sizes.get("draw", 0) < k:  # pragma: no cover - nutpie failed
                raise PyramidError(f"nutpie returned {trace['posterior'].sizes.get('draw', 0)} "
                                   f"draws of {k}")
            kept = trace
            passed, extendable = check(trace)
            if progressbar:
                print(f"  {k} draws a chain: convergence checks "
                      f"{'passed' if passed else 'failed'}"
                      f"{'' if passed or not extendable else ', drawing more'}",
                      file=sys.stderr, flush=True)
            if passed:
                stopped = "passed"
                break
            if not extendable:
                stopped = "not_extendable"
                break
            if blocks >= MAX_BLOCKS:
                stopped = "limit"
                break
            if t_first_fail is None:
                t_first_fail = time.perf_counter()
                if budget is None:
                    budget = max(MIN_BUDGET_S, BUDGET_FACTOR * (t_first_fail - t_start))
            blocks += 1
            k += draws
            _resume(sampler)
    finally:
        sampler.cancel()
    if kept is None:  # pragma: no cover - nothing was drawn in time
        raise PyramidError("nutpie returned no draws")
    n_kept = kept["posterior"].sizes["draw"]
    ext = Extension(asked=draws, draws=n_kept, blocks=(n_kept - draws) // draws,
                    passed=bool(passed), stopped=stopped, budget_s=float(budget or 0.0))
    return kept, ext


def compile_graph(built):
    """A built model compiled by PyTensor's numba backend (pyramid's path before the kernels:
    ``fit(backend="pytensor")``, for comparison), once per graph in this process."""
    cm, _ = _compiled_graph(built.model, built.initvals)
    return cm


def compile_jax(built):
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
    from pyramid.models.nutpie_trace import nutpie as _nutpie
    from pyramid.models.ordinal_op import register_jax

    nutpie = _nutpie()

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


def sample_pymc(built, *, draws, tune, chains, cores, seed, progressbar, target_accept,
                max_tree_depth=None):
    """Sample a built model with PyMC's NUTS: ``(trace, {"compile_s": nan, "sample_s"})``."""
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


def sample_model(model, *, draws: int, tune: int, chains: int, cores: int, seed: int,
                 progressbar: bool, target_accept: float, initvals: dict | None = None):
    """Sample any PyMC model with nutpie over PyTensor's compiled functions (the reference
    model of :func:`pyramid.compare_project`), compiled once per graph
    (:func:`compiled_for`)."""
    from pyramid.models import nutpie_trace

    cm, _ = _compiled_graph(model, initvals)
    dt = nutpie_trace.sample(cm.to_nutpie(), draws=draws, tune=tune, chains=chains,
                             cores=cores, seed=seed, progress_bar=progressbar,
                             target_accept=target_accept)
    return xr.DataTree.from_dict({
        "posterior": dt["posterior"].to_dataset(),
        "sample_stats": dt["sample_stats"].to_dataset(),
    })


# --------------------------------------------------------------------------------------------
# models outside the kernels: compiled by PyTensor once per graph
# --------------------------------------------------------------------------------------------
@dataclass
class _Entry:
    outputs: list
    inputs: list
    compiled: Any


_CACHE: list[_Entry] = []
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _graph(model) -> tuple[list, list]:
    """The model's log-density and deterministics, and their non-constant inputs in order."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import graph_inputs

    outputs = [model.logp(), *model.deterministics]
    inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    return outputs, inputs


def _cached(model) -> tuple[Any, list, list]:
    """The cached compiled model whose graph equals ``model``'s (or None), and its graph.

    Equal graphs (up to the data containers, the value variables and the random generators)
    mean the same compiled functions: the priors' parameters, the numbers of groups and every
    other constant are part of the graph, so a model of another structure never matches.
    """
    from pytensor.graph.basic import equal_computations

    outputs, inputs = _graph(model)
    with _CACHE_LOCK:
        entries = list(_CACHE)
    for entry in entries:
        if len(entry.inputs) != len(inputs):
            continue
        if equal_computations(outputs, entry.outputs, in_xs=inputs, in_ys=entry.inputs):
            return entry.compiled, outputs, inputs
    return None, outputs, inputs


def _compiled_graph(model, initvals=None, reuse: bool = True):
    """A PyTensor-compiled model for a PyMC model, and whether it was compiled now."""
    from pyramid.models.compiled import compile_model

    if reuse:
        cm, outputs, inputs = _cached(model)
        if cm is not None:
            # the new data, and initial points from the new model (its initvals may come
            # from the data, e.g. empirical thresholds)
            return cm.for_model(model, initvals=initvals), False
    cm = compile_model(model, initvals=initvals)
    if reuse:
        outputs, inputs = _graph(model)
        with _CACHE_LOCK:
            _CACHE.insert(0, _Entry(outputs, inputs, cm))
            del _CACHE[_CACHE_SIZE:]
    return cm, True


def compiled_for(target, reuse: bool = True):
    """A compiled model for a built model or a PyMC model, and whether anything was compiled
    now: pyramid's families are their kernels (compiled, or loaded from numba's disk cache,
    once per process); any other PyMC model is compiled by PyTensor once per graph."""
    if hasattr(target, "layout") and hasattr(target, "to_nutpie"):  # a KernelModel
        return target, target.compiled_now
    built_data = getattr(target, "data", None)
    priors = getattr(target, "priors", None)
    if built_data is not None and priors is not None and _covered(built_data):
        km = kernel_model(built_data, priors)
        return km, km.compiled_now
    model = getattr(target, "model", target)
    return _compiled_graph(model, getattr(target, "initvals", None), reuse)


def _covered(md) -> bool:
    from pyramid.models.layout import kernel_gap

    return kernel_gap(md) is None


def fit_compiled(target, *, draws: int = 500, tune: int = 500, chains: int = 2,
                 random_seed: int = 0, target_accept: float | None = None,
                 reuse: bool = True) -> tuple[Any, Any, dict]:
    """Sample a model with nutpie on one thread, compiling only when needed.

    One of many fits: a built model of pyramid's families is sampled through its family's
    kernels (nothing compiled for it); any other model is compiled by PyTensor once per graph
    and reused for later models of the same graph (:func:`compiled_for`). The posterior holds
    the model's quantities (sampling devices left out). Nothing of :func:`pyramid.fit` 's
    post-processing is done.

    Parameters
    ----------
    target : KernelModel, pyramid.models.builder.Built or pymc.Model
    draws, tune, chains : int
    random_seed : int
    target_accept : float, optional
    reuse : bool, default True
        ``False`` compiles a PyTensor graph every time (the slow path, for comparison).

    Returns
    -------
    posterior, sample_stats : xarray.Dataset
    info : dict
        ``compiled`` (bool: compiled or loaded from disk now), ``compile_s``, ``sample_s``.

    Examples
    --------
    >>> import pyramid as pyr
    >>> from pyramid.models.builder import build
    >>> from pyramid.models.coding import prepare
    >>> spec, priors = pyr.load_spec("skill"), pyr.load_priors("default")
    >>> def built(seed):
    ...     sim = pyr.simulate((3, 2, 2, 2), seed=seed, mix={"discussion_observed": 1.0})
    ...     return build(prepare(spec, sim.data, warn=False), priors)
    >>> _ = fit_compiled(built(1), draws=50, tune=50)
    >>> post, stats, info = fit_compiled(built(2), draws=50, tune=50)
    >>> info["compiled"], post.sizes["chain"], post.sizes["draw"]
    (False, 2, 50)
    """
    from pyramid.models import nutpie_trace

    t0 = time.perf_counter()
    cm, compiled_now = compiled_for(target, reuse)
    t1 = time.perf_counter()
    kwargs = {"target_accept": float(target_accept)} if target_accept else {}
    with _interrupt_guard() as interrupted:
        try:
            dt = nutpie_trace.sample(cm.to_nutpie(), draws=draws, tune=tune, chains=chains,
                                     cores=1, seed=int(random_seed), progress_bar=False,
                                     save_warmup=False, **kwargs)
        except Exception:
            if interrupted:  # e.g. a warning about the cut trace, raised as an error
                raise KeyboardInterrupt("sampling was interrupted") from None
            raise
    if interrupted:
        raise KeyboardInterrupt("sampling was interrupted")
    t2 = time.perf_counter()
    if "posterior" not in dt.children or dt["posterior"].sizes.get("draw") != draws \
            or dt["posterior"].sizes.get("chain") != chains:
        got = dict(dt["posterior"].sizes) if "posterior" in dt.children else {}
        raise PyramidError(f"nutpie returned an incomplete trace ({got}; asked for {chains} "
                           f"chains x {draws} draws)")
    post = dt["posterior"].to_dataset()
    layout = getattr(cm, "layout", None)
    if layout is not None:
        post = identified_posterior(post, layout)
    return (post, dt["sample_stats"].to_dataset(),
            {"compiled": compiled_now, "compile_s": t1 - t0, "sample_s": t2 - t1})


@contextmanager
def _interrupt_guard():
    """Notice Ctrl-C during sampling.

    ``nutpie.sample`` catches KeyboardInterrupt and returns the draws made so far, which would
    turn an interrupted fit into a short one and let the run go on. In the main thread (a run
    in this process) a SIGINT is noted here, still interrupts nutpie, and the caller raises
    KeyboardInterrupt afterwards. Worker processes ignore SIGINT (their parent stops them).
    """
    flag: list[bool] = []
    previous = None
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        def handler(signum, frame):
            flag.append(True)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
