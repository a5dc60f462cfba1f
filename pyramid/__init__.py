"""pyramid: Bayesian hierarchical models of what makes social-work practice good.

The public API is imported lazily so that ``import pyramid`` is quick and does not load PyMC
until a model is needed::

    import pyramid as pyr
    df = pyr.datasets.load_rsw2017()     # a reconstruction, not the evaluation's data
    pyr.validate(df)
    result = pyr.fit(df, model="skill", priors="default", random_seed=1)
    pyr.compare(result)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# a read-only home folder must not stop every fit: PyTensor refuses to import when it cannot
# make its compile folder (pyramid.caches points it, and numba, at a writable one)
from pyramid.caches import ensure_writable as _ensure_writable_caches  # noqa: E402

_ensure_writable_caches()

# public name -> "module:attribute" (or "module" for a submodule)
_LAZY: dict[str, str] = {
    # data
    "data": "pyramid.data",
    "datasets": "pyramid.datasets",
    "published": "pyramid.data.published",
    "read": "pyramid.data.readers:read",
    "validate": "pyramid.data.validate:validate",
    "write": "pyramid.data.readers:write",
    "summarise": "pyramid.data.validate:summarise",
    "check_suitability": "pyramid.data.validate:check_suitability",
    "DataWarning": "pyramid.errors:DataWarning",
    "simulate": "pyramid.data.simulate:simulate",
    "Layout": "pyramid.data.simulate:Layout",
    "Simulation": "pyramid.data.simulate:Simulation",
    # the one default model and interval probability of every entry point
    "defaults": "pyramid.defaults",
    "simulate_formula": "pyramid.models.simulate_formula:simulate_formula",
    # model specs and prior sets
    "specs": "pyramid.specs",
    "load_spec": "pyramid.specs:load_spec",
    # studies: how a project's data are shaped (rsw2017 is the built-in one)
    "study": "pyramid.study",
    "load_study": "pyramid.study:load_study",
    "draft_study": "pyramid.study:draft_study",
    "check_study": "pyramid.study:check_study",
    "simulate_study": "pyramid.data.simulate_study:simulate_study",
    "load_priors": "pyramid.specs:load_priors",
    # reanalysis of the report's published statistics, and Figure 4
    "reanalyse": "pyramid.reanalysis:reanalyse",
    "bayes_factor_t": "pyramid.reanalysis:bayes_factor_t",
    "plot_figure4": "pyramid.plots.figure4:plot_figure4",
    "plot_factors": "pyramid.plots.factors:plot_factors",
    # models and fitting
    "fit": "pyramid.fit:fit",
    "model": "pyramid.fit:build_model",
    "parse_formula": "pyramid.formula:parse_formula",
    "load": "pyramid.results:load",
    "FitResult": "pyramid.results:FitResult",
    # comparing a new project with RSW 2017
    "compare_project": "pyramid.project:compare_project",
    "plot_compare_project": "pyramid.plots.project:plot_compare_project",
    # posterior comparisons (the t-test replacement), effect sizes, cross-validation
    "compare": "pyramid.compare:compare",
    "unadjusted_fit": "pyramid.effect_sizes:unadjusted_fit",
    "kfold": "pyramid.kfold:kfold",
    # design analysis and calibration (many fits)
    "design": "pyramid.planning:design",
    "calibrate": "pyramid.calibration:calibrate",
    # the HTML report
    "report": "pyramid.report:report",
    # errors
    "PyramidError": "pyramid.errors:PyramidError",
    "InputError": "pyramid.errors:InputError",
    "OutputError": "pyramid.errors:OutputError",
    "ValidationError": "pyramid.errors:ValidationError",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'pyramid' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    if attr:
        obj = getattr(obj, attr)
    globals()[name] = obj
    return obj


def __dir__() -> list[str]:
    return __all__


class _Package(types.ModuleType):
    """The package's module type: importing a submodule that shares its name with a public
    function (``pyramid.fit``, ``pyramid.compare``) must not replace the function.

    Python's import system sets ``pyramid.<child>`` to the submodule once it is imported (e.g.
    by ``from pyramid.fit import load``), which would make ``pyramid.fit(...)`` a call of a
    module. Such an assignment stores the public function instead; the submodule itself stays
    importable (``from pyramid.fit import load``, ``sys.modules["pyramid.fit"]``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        module, _, attr = _LAZY.get(name, "").partition(":")
        if attr and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            if module != value.__name__:
                return
            value = getattr(value, attr)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
