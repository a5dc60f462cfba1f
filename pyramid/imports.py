"""Third-party imports a fit does not need, deferred until something uses them.

A ``pyramid fit`` of a small data set samples in about 2 s, and used to spend longer than that
importing libraries it never used (``python -X importtime -m pyramid fit ...``, issue 17):

* **arviz** (1.3-1.7 s, with arviz_stats, arviz_plots, matplotlib and scipy.stats): nutpie
  0.16's ``nutpie.sample`` module imports it at its top, only to turn its trace into a
  DataTree with ``arviz.from_dict``. pyramid converts nutpie's trace itself
  (:mod:`pyramid.models.nutpie_trace`) and puts a stand-in for arviz in ``sys.modules``
  before nutpie is imported (:func:`lazy_module`): the real import runs on the first use of
  one of its attributes, by pyramid (``loo``, the plots) or by the user's own code, and never
  in a plain fit.
* **dask** (1.0-1.8 s with ``dask.array`` and ``distributed``): xarray asks, for every array
  it wraps and every file it writes, whether dask is involved, and imports dask to answer.
  No dask object or scheduler can exist before dask has been imported, so until then the
  answer is "no" without the import (:func:`defer_dask`); once anything has imported dask,
  xarray's own answers are used. (dask is a dependency of pyramid for its executor.)

Both are process-wide and change no result: they only move an import to the moment it is
needed. ``tests/test_imports.py`` checks that a fit imports neither and that arviz and dask
arrays still work after them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from types import ModuleType

__all__ = ["lazy_module", "is_deferred", "defer_dask"]


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module not imported yet; the first attribute it does
    not have imports the real module, which then replaces it in ``sys.modules`` (code that
    kept this object is served the real module's attributes through it).

    The standard library's :class:`importlib.util.LazyLoader` does not do here: on Python
    3.12 an ``import`` statement reads the module's ``__spec__``, which loads it.
    """

    def __init__(self, name: str, spec):
        super().__init__(name)
        # what scans of sys.modules read (inspect.getmodule reads every module's __file__);
        # not __path__: a submodule's import must load the package first
        self.__spec__ = spec
        self.__file__ = spec.origin
        self.__loader__ = spec.loader
        self.__package__ = spec.parent
        self.__dict__["_pyramid_real"] = None

    def _pyramid_load(self) -> ModuleType:
        with _LOCK:
            real = self.__dict__["_pyramid_real"]
            if real is None:
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]
                try:
                    real = importlib.import_module(self.__name__)
                except BaseException:
                    sys.modules.setdefault(self.__name__, self)
                    raise
                self.__dict__["_pyramid_real"] = real
        return real

    def __getattr__(self, attr: str):
        if attr.startswith("_pyramid_"):
            raise AttributeError(attr)
        return getattr(self._pyramid_load(), attr)

    def __setattr__(self, name: str, value) -> None:
        # the import system sets a submodule on the parent it found in sys.modules, which
        # for ``import arviz.sub`` is this stand-in: the real module gets it too
        super().__setattr__(name, value)
        real = self.__dict__.get("_pyramid_real")
        if real is not None:
            setattr(real, name, value)

    def __dir__(self):
        return dir(self._pyramid_load())


_LOCK = threading.RLock()


def lazy_module(name: str) -> ModuleType | None:
    """Put off the import of the installed module ``name`` until one of its attributes is
    used, unless it is imported already.

    ``import name`` then binds a stand-in; the first attribute read from it imports the real
    module.

    Parameters
    ----------
    name : str
        A top-level module name.

    Returns
    -------
    module or None
        What ``sys.modules`` holds for it now (the stand-in or the module), or None when it
        is not installed.

    Examples
    --------
    >>> lazy_module("json") is sys.modules["json"]
    True
    >>> lazy_module("surely_not_installed_anywhere") is None
    True
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    sys.modules[name] = module = _Deferred(name, spec)
    return module


def is_deferred(module: object) -> bool:
    """Whether ``module`` is a stand-in of :func:`lazy_module` whose module is not imported
    yet (reading most of its attributes would import it).

    Examples
    --------
    >>> is_deferred(sys), is_deferred(None)
    (False, False)
    """
    return isinstance(module, _Deferred) and module.__dict__["_pyramid_real"] is None


class _DaskArrayTypeWhenImported:
    """Stands for xarray's record of the dask module until ``dask.array`` is imported: its
    ``type`` is empty while no dask array can exist; every other attribute, and ``type``
    afterwards, is xarray's own record, which then replaces this one."""


    def __init__(self, cache: dict, factory):
        self._cache = cache
        self._factory = factory

    def _real(self):
        real = self._factory("dask")
        self._cache["dask"] = real
        return real

    @property
    def type(self) -> tuple:
        if "dask.array" in sys.modules:
            return self._real().type
        return ()

    def __getattr__(self, name: str):
        return getattr(self._real(), name)


def _when_dask_imported(module, name: str, otherwise):
    """Wrap ``module.name`` to answer ``otherwise`` until dask has been imported."""
    original = getattr(module, name, None)
    if original is None or getattr(original, "_pyramid_deferred", False):
        return
    if not callable(original):  # pragma: no cover - another xarray
        return

    def wrapper(*args, **kwargs):
        if "dask" not in sys.modules:
            return otherwise
        return original(*args, **kwargs)

    wrapper._pyramid_deferred = True
    wrapper.__wrapped__ = original
    wrapper.__doc__ = original.__doc__
    setattr(module, name, wrapper)


def defer_dask() -> bool:
    """Let xarray wrap and write arrays without importing dask until something else has.

    Three questions xarray asks with an import of dask (1.0-1.8 s in all on the development
    machine), each answered "no" without it while dask is not imported, since no dask
    object or scheduler can exist before then: whether an array is a dask array
    (``pycompat.array_type("dask")``: imports ``dask.array``), whether an object is a dask
    collection (``namedarray.utils.is_dask_collection``: ``dask.base``), and which dask
    scheduler is running when a file is written (``get_dask_scheduler`` of
    ``backends.locks`` and ``backends.writers``: ``dask.distributed``). Once dask is imported, xarray's own answers are given.

    Returns
    -------
    bool
        Whether the questions are deferred now (False when dask is imported already, or
        xarray's internals are not as expected: then nothing is changed).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> _ = defer_dask()
    >>> float(xr.DataArray(np.ones(2)).sum())
    2.0
    """
    if "dask" in sys.modules:
        return False
    try:
        from xarray.backends import locks, writers
        from xarray.namedarray import pycompat
        from xarray.namedarray import utils as named_utils
    except ImportError:  # pragma: no cover - xarray is a dependency
        return False
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    factory = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or factory is None:  # pragma: no cover - another xarray
        return False
    current = cache.get("dask")
    if current is not None and not isinstance(current, _DaskArrayTypeWhenImported):
        return False  # xarray has imported dask already
    cache["dask"] = current or _DaskArrayTypeWhenImported(cache, factory)
    _when_dask_imported(named_utils, "is_dask_collection", False)
    for module in (locks, writers):  # writers imported it by name
        _when_dask_imported(module, "get_dask_scheduler", None)
    return True
