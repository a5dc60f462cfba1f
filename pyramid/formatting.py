"""The one set of number formatters of the printed tables and messages.

Every table pyramid prints (``compare``, ``compare-project``, ``reanalyse``, the demo) writes
its numbers with these, so an interval, a Bayes factor or a p-value reads the same
everywhere.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["number", "interval", "bayes_factor", "p_value"]


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def number(x: float | None, digits: int = 3, *, missing: str = "nan") -> str:
    """``x`` with ``digits`` decimals, or ``missing`` when it is None, NaN or infinite.

    Examples
    --------
    >>> number(2.0), number(float("nan")), number(1.23456, 1)
    ('2.000', 'nan', '1.2')
    """
    return f"{x:.{digits}f}" if _finite(x) else missing


def interval(estimate: float, lower: float, upper: float, digits: int = 2) -> str:
    """``"estimate [lower, upper]"`` with ``digits`` decimals; empty for a missing estimate.

    Examples
    --------
    >>> interval(0.5, 0.1, 0.91)
    '0.50 [0.10, 0.91]'
    >>> interval(float("nan"), 0.0, 0.0)
    ''
    """
    if not _finite(estimate):
        return ""
    return f"{estimate:.{digits}f} [{lower:.{digits}f}, {upper:.{digits}f}]"


def bayes_factor(value: float, bound: Any = "") -> str:
    """A Bayes factor or odds: 3 significant figures for large values (``1.2e4``), whole numbers
    from 10, two decimals from 0.1, two significant figures below; ``bound`` (``">"``, ``"<"``)
    in front when the value is a bound. Empty for a missing value.

    Examples
    --------
    >>> [bayes_factor(v) for v in (12345.0, 42.4, 3.14159, 0.0123)]
    ['1.23e4', '42', '3.14', '0.012']
    >>> bayes_factor(1000.0, ">")
    '>1e3'
    """
    if not _finite(value):
        return ""
    v = float(value)
    if v >= 1000:
        s = f"{v:.3g}".replace("e+0", "e").replace("e+", "e")
    elif v >= 10:
        s = f"{v:.0f}"
    elif v >= 0.1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.2g}"
    bound = bound if isinstance(bound, str) else ""
    return f"{bound}{s}" if bound else s


def p_value(p: float) -> str:
    """``"p = 0.034"``, or ``"p < 0.001"`` below 0.001.

    Examples
    --------
    >>> p_value(0.0342), p_value(1e-5)
    ('p = 0.034', 'p < 0.001')
    """
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
