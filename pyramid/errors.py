"""Exceptions raised by pyramid.

Every error a user can cause derives from :class:`PyramidError`. The command-line interface
turns these into a message on stderr and exit code 2; anything else is a bug in pyramid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PyramidError", "InputError", "Problem", "ValidationError", "check_prob",
           "positive_int"]


class PyramidError(Exception):
    """Base class of every error pyramid raises on purpose."""


class InputError(PyramidError, ValueError):
    """Bad input: a file, a data frame, an argument, a spec or a prior file.

    The CLI exits with status 2 on this error and prints the message without a traceback.
    """


@dataclass(frozen=True)
class Problem:
    """One problem found in a data set.

    Attributes
    ----------
    row : int or None
        Row of the input, counted as a user sees it: 1 is the first data row (the line after the
        header in a CSV file). ``None`` when the problem concerns the whole table or a column.
    column : str or None
        Column the problem is in (``None`` for a whole-row or whole-table problem).
    value : Any
        The offending value as read.
    rule : str
        The rule that was broken, in words.
    """

    row: int | None
    column: str | None
    value: Any
    rule: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        place = ", ".join(where) if where else "table"
        value = "" if self.value is None else f": value {self.value!r}"
        return f"{place}{value}: {self.rule}"


class ValidationError(InputError):
    """A data set broke one or more rules of the observation schema.

    Parameters
    ----------
    problems : list of Problem
        Every problem found; validation reports all of them at once.
    source : str, optional
        Name of the file or frame, used in the message.
    """

    def __init__(self, problems: list[Problem], source: str | None = None, limit: int = 50):
        self.problems = list(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) in {source or 'the data'}:"
        lines = [f"  - {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        super().__init__("\n".join([head, *lines]))


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Check that a count argument (draws, chains, cores, ...) is a whole number >= ``minimum``.

    Parameters
    ----------
    name : str
        Name of the argument, used in the message.
    value : int
        The value received (a Python or NumPy integer; ``bool`` is refused).
    minimum : int, default 1
        The smallest value allowed.

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
    >>> positive_int("chains", 1.5)
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: chains must be a whole number >= 1, got 1.5
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
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
