"""The one door to the samplers: every draw pyramid makes from a model goes through here.

* :func:`sample_nutpie` -- nutpie over pyramid's compiled log-density (numba, kept in the
  compile cache of :func:`pyramid.models.compiled.compile_cached`) or over JAX
  (:func:`compile_jax`); what :func:`pyramid.fit` uses;
* :func:`sample_pymc` -- PyMC's NUTS, :func:`pyramid.fit`'s fallback;
* :func:`sample_model` -- nutpie on any PyMC model (the reference model of
  :func:`pyramid.compare_project`), compiled afresh;
* :func:`fit_compiled` -- the fast path of many fits (:func:`pyramid.design`,
  :func:`pyramid.calibrate`): nutpie on one thread, a compiled model reused for every data set
  whose model graph equals its graph up to data;
* :func:`prior_draws` -- draws from a built model's prior (ordered variables sorted,
  deterministics recomputed).
"""

from __future__ import annotations

import json
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pymc.distributions.transforms import Ordered
from pytensor.graph import clone_replace
from pytensor.graph.basic import Constant, equal_computations
from pytensor.graph.replace import vectorize_graph
from pytensor.graph.traversal import graph_inputs

from pyramid.errors import InputError, PyramidError
from pyramid.models.compiled import compile_cached, compile_model
from pyramid.models.malloc import reuse_freed_memory
from pyramid.models.ordinal_op import register_jax
from pyramid.specs import priors_to_dict

__all__ = ["sample_nutpie", "sample_pymc", "sample_model", "compile_jax", "fit_compiled",
           "compiled_for", "prior_draws"]


# --------------------------------------------------------------------------------------------
# prior draws
# --------------------------------------------------------------------------------------------
def prior_draws(built, n: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of every free variable and deterministic (but ``loglik_total``) from the prior.

    Free variables come from ``pm.draw``. A variable with an ordered transform (thresholds)
    has the density of its distribution restricted to increasing values, i.e. it is
    distributed as the *sorted* draws of that distribution, which ``pm.draw`` (ignoring
    transforms) does not give: those draws are sorted here. Deterministics are then computed
    from the free values, all draws in one call. Everything is compiled in PyTensor's Python
    mode: one evaluation does not repay a C or numba compilation.
    """
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


# --------------------------------------------------------------------------------------------
# one fit: nutpie (numba or JAX), PyMC as fallback
# --------------------------------------------------------------------------------------------
def sample_nutpie(built, priors, *, draws, tune, chains, cores, seed, progressbar, target_accept,
                   adaptation, backend="numba", max_tree_depth=None):
    """Sample a built model with nutpie: ``(trace, {"compile_s", "sample_s"})``."""
    import nutpie  # here, not at the top: pyramid.fit falls back to PyMC without it

    t0 = time.perf_counter()
    if backend == "jax":
        compiled = compile_jax(built)
    else:
        key = (built.data.spec.text, json.dumps(priors_to_dict(priors), sort_keys=True))
        cm = compile_cached(built.model, key, initvals=built.initvals)
        # compile_cached has already run numba's JIT (it compiles on the first call), so it
        # counts as compiling, not as sampling
        compiled = cm.to_nutpie()
    t1 = time.perf_counter()
    kwargs = {"target_accept": target_accept} if target_accept else {}
    if max_tree_depth:
        kwargs["maxdepth"] = max_tree_depth
    # nutpie returns the draws made so far on Ctrl-C: note it and raise (an interrupted fit
    # must never look like a short one)
    with reuse_freed_memory(), _interrupt_guard() as interrupted:
        try:
            dt = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores,
                               seed=seed, progress_bar=progressbar, adaptation=adaptation,
                               **kwargs)
        except Exception:
            if interrupted:
                raise KeyboardInterrupt("sampling was interrupted") from None
            raise
    if interrupted:
        raise KeyboardInterrupt("sampling was interrupted")
    t2 = time.perf_counter()
    return dt, {"compile_s": t1 - t0, "sample_s": t2 - t1}


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
    import nutpie

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
    """Sample a PyMC model with nutpie over pyramid's compiled functions (as :func:`fit`)."""
    import nutpie

    cm = compile_model(model, initvals=initvals or None)
    dt = nutpie.sample(cm.to_nutpie(), draws=draws, tune=tune, chains=chains, cores=cores,
                       seed=seed, progress_bar=progressbar, target_accept=target_accept)
    return xr.DataTree.from_dict({
        "posterior": dt["posterior"].to_dataset(),
        "sample_stats": dt["sample_stats"].to_dataset(),
    })


# --------------------------------------------------------------------------------------------
# many fits: a compiled model reused for every data set of the same graph
# --------------------------------------------------------------------------------------------
@dataclass
class _Entry:
    outputs: list
    inputs: list
    compiled: Any


_CACHE: list[_Entry] = []


_CACHE_SIZE = 8


def _graph(model) -> tuple[list, list]:
    """The model's log-density and deterministics, and their non-constant inputs in order."""
    outputs = [model.logp(), *model.deterministics]
    inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    return outputs, inputs


def _cached(built) -> tuple[Any, list, list]:
    """The cached compiled model whose graph equals ``built``'s (or None), and its graph.

    Equal graphs (up to the data containers, the value variables and the random generators)
    mean the same compiled functions: the priors' parameters, the numbers of groups and every
    other constant are part of the graph, so a model of another spec, prior set or structure
    never matches.
    """
    outputs, inputs = _graph(built.model)
    for entry in _CACHE:
        if len(entry.inputs) != len(inputs):
            continue
        if equal_computations(outputs, entry.outputs, in_xs=inputs, in_ys=entry.inputs):
            return entry.compiled, outputs, inputs
    return None, outputs, inputs


def compiled_for(built, reuse: bool = True):
    """A compiled model for ``built``, and whether it was compiled now: from the process
    cache when its graph is the same as a cached model's (with ``built``'s data and initial
    points swapped in), else compiled and cached."""
    if reuse:
        cm, outputs, inputs = _cached(built)
        if cm is not None:
            # the new data, and initial points from the new model (its initvals may come
            # from the data, e.g. empirical thresholds)
            return cm.for_model(built.model, initvals=built.initvals), False
    cm = compile_model(built.model, initvals=built.initvals)
    if reuse:
        _CACHE.insert(0, _Entry(outputs, inputs, cm))
        del _CACHE[_CACHE_SIZE:]
    return cm, True


def fit_compiled(built, *, draws: int = 500, tune: int = 500, chains: int = 2,
                 random_seed: int = 0, target_accept: float | None = None,
                 reuse: bool = True) -> tuple[Any, Any, dict]:
    """Sample a built model with nutpie on one thread, compiling only when needed.

    The fast path of many fits: the first model of a structure is compiled
    (:func:`pyramid.models.compiled.compile_model`) and kept in a per-process cache; a later
    model whose PyTensor graph is the same (same priors, groups and levels; other data) reuses
    it with its data swapped in (``CompiledModel.with_data``). Nothing of
    :func:`pyramid.fit` 's post-processing is done.

    Parameters
    ----------
    built : pyramid.models.builder.Built
    draws, tune, chains : int
    random_seed : int
    target_accept : float, optional
    reuse : bool, default True
        ``False`` compiles every time (the slow path, for comparison).

    Returns
    -------
    posterior, sample_stats : xarray.Dataset
    info : dict
        ``compiled`` (bool: compiled now), ``compile_s``, ``sample_s``.

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
    >>> info["compiled"], dict(post.sizes)
    (False, {'chain': 2, 'draw': 50, 'training': 3, 'discussion_step': 2})
    """
    import nutpie

    t0 = time.perf_counter()
    cm, compiled_now = compiled_for(built, reuse)
    t1 = time.perf_counter()
    kwargs = {"target_accept": float(target_accept)} if target_accept else {}
    with _interrupt_guard() as interrupted:
        try:
            dt = nutpie.sample(cm.to_nutpie(), draws=draws, tune=tune, chains=chains, cores=1,
                               seed=int(random_seed), progress_bar=False, save_warmup=False,
                               **kwargs)
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
    return (dt["posterior"].to_dataset(), dt["sample_stats"].to_dataset(),
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
