"""Exceptions raised by pyramid.

Every error a user can cause derives from :class:`PyramidError`. The command-line interface
turns these into a message on stderr and exit code 2; anything else is a bug in pyramid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PyramidError", "InputError", "OutputError", "Problem", "ValidationError",
           "DataWarning"]


class PyramidError(Exception):
    """Base class of every error pyramid raises on purpose."""


class InputError(PyramidError, ValueError):
    """Bad input: a file, a data frame, an argument, a spec or a prior file.

    The CLI exits with status 2 on this error and prints the message without a traceback.
    """


class OutputError(PyramidError, OSError):
    """A file pyramid was asked to write could not be written (a full disk, a read-only
    folder, permission denied); nothing was written at its path.

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


class DataWarning(UserWarning):
    """Something in the data that is allowed but deserves the user's attention.

    Examples: completely blank rows that were dropped, a grouping level with so few groups that
    its standard deviation is driven by the prior, rows a model will leave out.
    """
