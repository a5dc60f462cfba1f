"""Data: the observation schema and its validation, file readers, the report's published
tables, the reconstructed RSW 2017 data set and the simulator.

The submodules are imported when first used (``pyramid validate`` needs the schema, not the
published tables)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["published", "schema"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"pyramid.data.{name}")
    raise AttributeError(f"module 'pyramid.data' has no attribute {name!r}")
