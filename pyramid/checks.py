"""The one set of argument checks: counts, probabilities, numbers and seeds.

Every public function checks its arguments with these, so a bad value gets the same words
everywhere: an :class:`~pyramid.errors.InputError` naming the argument, what is allowed and
what was received (``ci_prob must be in (0, 1], got 1.5``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from pyramid.errors import InputError

__all__ = ["positive_int", "check_prob", "finite_number", "positive_number", "resolve_seed",
           "derived_seed", "SEED_MAX"]

#: Seeds drawn when none is given lie in ``[0, SEED_MAX)``.
SEED_MAX = 2**31 - 1


def positive_int(name: str, value: Any, minimum: int = 1, *, whole_floats: bool = False) -> int:
    """Check that a count argument (draws, chains, cores, ...) is a whole number >= ``minimum``.

    Parameters
    ----------
    name : str
        Name of the argument, used in the message.
    value : int
        The value received (a Python or NumPy integer; ``bool`` is refused).
    minimum : int, default 1
        The smallest value allowed.
    whole_floats : bool, default False
        Also accept a float with a whole value (``10.0``), e.g. a count read from a table.

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    InputError
        If ``value`` is not a whole number or is below ``minimum``.

    Examples
    --------
    >>> positive_int("draws", 500)
    500
    >>> positive_int("tune", 0, minimum=0)
    0
    >>> positive_int("n", 10.0, whole_floats=True)
    10
    >>> positive_int("chains", 1.5)
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: chains must be a whole number >= 1, got 1.5
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and whole_floats and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = math.isfinite(float(value)) and float(value).is_integer()
    if not ok or value < minimum:
        raise InputError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def check_prob(name: str, value: float, *, closed_low: bool = False) -> float:
    """Check that a probability-like argument lies in (0, 1] (or [0, 1] with ``closed_low``).

    Parameters
    ----------
    name : str
        Name of the argument, used in the message.
    value : float
        The value received.
    closed_low : bool, default False
        Whether 0 is allowed.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    InputError
        If the value is out of range, e.g. ``ci_prob must be in (0, 1], got 1.5``.

    Examples
    --------
    >>> check_prob("ci_prob", 0.95)
    0.95
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in (0, 1], got {value!r}") from None
    low_ok = v >= 0 if closed_low else v > 0
    if not (low_ok and v <= 1):
        interval = "[0, 1]" if closed_low else "(0, 1]"
        raise InputError(f"{name} must be in {interval}, got {value!r}")
    return v


def finite_number(name: str, value: Any) -> float:
    """Check that an argument is a finite number; return it as a float.

    Examples
    --------
    >>> finite_number("t", 2)
    2.0
    >>> finite_number("t", float("nan"))
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: t must be a finite number, got nan
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a finite number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return v


def positive_number(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """Check that an argument is a finite number > 0 (or ``None`` with ``allow_none``).

    Examples
    --------
    >>> positive_number("r", 0.5)
    0.5
    >>> positive_number("project_sd", 0)
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: project_sd must be a finite number > 0, got 0
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        extra = " or None" if allow_none else ""
        raise InputError(f"{name} must be a finite number > 0{extra}, got {value!r}")
    return float(value)


def resolve_seed(random_seed: Any, name: str = "random_seed") -> int:
    """The seed to use: ``random_seed`` itself (a whole number >= 0), or a fresh one for None.

    A fresh seed is drawn from the operating system's entropy, in ``[0, SEED_MAX)``; callers
    store it so the run can be repeated.

    Examples
    --------
    >>> resolve_seed(7)
    7
    >>> 0 <= resolve_seed(None) < SEED_MAX
    True
    >>> resolve_seed(-1)
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: random_seed must be a whole number >= 0 or None, got -1
    """
    if random_seed is None:
        return int(np.random.SeedSequence().entropy % SEED_MAX)
    if (isinstance(random_seed, bool) or not isinstance(random_seed, numbers.Integral)
            or random_seed < 0):
        raise InputError(f"{name} must be a whole number >= 0 or None, got {random_seed!r}")
    return int(random_seed)


def derived_seed(seed: int, *words: int) -> int:
    """A seed derived from ``seed`` and further numbers (a point, a simulation, a stage): the
    same arguments give the same seed, different ones independent streams.

    Examples
    --------
    >>> derived_seed(1, 0, 5) == derived_seed(1, 0, 5) != derived_seed(1, 0, 6)
    True
    """
    return int(np.random.SeedSequence([seed, *words]).generate_state(1)[0] % SEED_MAX)
