"""Shared pytest configuration.

Tiers (see docs/architecture.md): structural tests never sample; fitted fixtures use few draws
and a fixed seed; recovery and calibration tests are marked ``slow`` and are deselected by
default (``make test-slow`` runs them).
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
