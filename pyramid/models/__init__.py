"""Model spec + prior set + data -> PyMC model (the only place that imports PyMC internals).

Modules: :mod:`~pyramid.models.names` (variable names and :data:`TRUTH_NAMES`, the map from
the simulator's truth to the posterior; no PyMC), :mod:`~pyramid.models.coding` (data ->
integer-coded arrays), :mod:`~pyramid.models.builder` (arrays + priors -> ``pymc.Model``),
:mod:`~pyramid.models.compiled` (compile once, swap data), :mod:`~pyramid.models.generated`
(numpy quantities from draws: expected skill, log-likelihoods, predictive draws, the
integrated-out group effects).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TRUTH_NAMES", "truth_names"]


def __getattr__(name: str) -> Any:
    if name in ("TRUTH_NAMES", "truth_names"):
        from pyramid.models import names

        return getattr(names, name)
    raise AttributeError(f"module 'pyramid.models' has no attribute {name!r}")
