"""Small-cell protection: what a reader can work out from printed counts, and what to hide.

A printed table is a set of linear facts a reader knows: each total is the sum of its parts,
a unit's observations are at least its workers and at most its workers times the largest
number of observations of one worker, a cell shown as ``<5`` holds 1 to 4, one shown as
``[c]`` (hidden to protect another) 5 or more. :func:`audit` finds every hidden small cell
whose value those facts pin down exactly: the smallest and the largest whole number it can
take under all of them at once are equal (integer programs, SciPy's HiGHS). :func:`protect`
hides cells until :func:`audit` finds none: the small cells first (*primary suppression*),
then, for each small cell a reader could still work out, a further cell of a fact that pins
it (*secondary suppression*), the smallest non-zero printed one, looking further along the
facts (a margin, a cell of another table joined to it) when its own facts have none left.

The facts are :class:`Fact` objects (``sum(coef * value[cell]) == 0`` or ``<= 0``);
:func:`additive` and :func:`at_most` build the usual ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyramid.errors import InputError

__all__ = ["Fact", "additive", "at_most", "audit", "protect", "check_min_cell", "determined",
           "Relation", "Unprotectable"]

#: ``(total, parts)``: ``value[total] == sum(value[p] for p in parts)``.
Relation = tuple[Hashable, Sequence[Hashable]]

#: Upper bound of a hidden cell with no other upper bound, in the integer programs (larger
#: than any count pyramid prints; a cell that reaches it is not pinned).
_CAP = 10**7


class Unprotectable(InputError):
    """Small cells that can be worked out even with every linked non-zero cell hidden.

    The caller has to print less (a line or a table that joins them). ``cells`` lists them.
    """

    def __init__(self, cells: Sequence[Hashable]):
        self.cells = list(cells)
        super().__init__(f"cells {self.cells[:5]} can be worked out from the printed numbers "
                         f"even with every linked cell hidden")


@dataclass(frozen=True)
class Fact:
    """A linear fact about cells: ``sum(coef * value[cell]) == 0`` (``equal``) or ``<= 0``.

    Attributes
    ----------
    terms : tuple of (cell, coefficient)
    equal : bool
    """

    terms: tuple[tuple[Hashable, float], ...]
    equal: bool = False

    @property
    def cells(self) -> tuple[Hashable, ...]:
        return tuple(k for k, _ in self.terms)


def additive(total: Hashable, parts: Iterable[Hashable]) -> Fact:
    """The fact ``value[total] == sum(value[p] for p in parts)``.

    Examples
    --------
    >>> additive("all", ["a", "b"]).terms
    (('all', 1.0), ('a', -1.0), ('b', -1.0))
    """
    return Fact(((total, 1.0), *((p, -1.0) for p in parts)), equal=True)


def at_most(left: Mapping[Hashable, float], right: Mapping[Hashable, float]) -> Fact:
    """The fact ``sum(c * value[k] for k, c in left) <= sum(c * value[k] for k, c in right)``.

    Examples
    --------
    A unit's observations are at most 3 times its workers:

    >>> at_most({"obs": 1}, {"workers": 3}).terms
    (('obs', 1.0), ('workers', -3.0))
    """
    terms: dict[Hashable, float] = {}
    for k, c in left.items():
        terms[k] = terms.get(k, 0.0) + float(c)
    for k, c in right.items():
        terms[k] = terms.get(k, 0.0) - float(c)
    return Fact(tuple((k, c) for k, c in terms.items() if c != 0.0))


def check_min_cell(min_cell: Any) -> int:
    """``min_cell`` as an int: 1 (suppression off) or a whole number >= 3."""
    if isinstance(min_cell, bool) or not isinstance(min_cell, int | np.integer):
        raise InputError(f"min_cell must be a whole number (1 turns suppression off, or 3 or "
                         f"more), got {min_cell!r}")
    if min_cell < 1 or min_cell == 2:
        raise InputError(
            f"min_cell must be 1 (suppression off) or a whole number >= 3 (a cell shown as "
            f"'<2' could only be 1, which protects nothing), got {min_cell!r}"
        )
    return int(min_cell)


# --------------------------------------------------------------------------------------------
# the audit: integer ranges of hidden cells
# --------------------------------------------------------------------------------------------
def _blocks(hidden: set, facts: Sequence[Fact]) -> list[tuple[list, list[Fact]]]:
    """The facts touching hidden cells, grouped into independent blocks (shared hidden cells)."""
    parent: dict = {k: k for k in hidden}

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    touching = []
    for f in facts:
        h = [k for k in f.cells if k in hidden]
        if h:
            touching.append((f, h))
            for k in h[1:]:
                parent[find(k)] = find(h[0])
    groups: dict = {}
    for f, h in touching:
        groups.setdefault(find(h[0]), ([], set()))
        groups[find(h[0])][0].append(f)
        groups[find(h[0])][1].update(h)
    return [(sorted(cells, key=repr), fs) for fs, cells in groups.values()]


def _matrix(cells: list, facts: list[Fact], shown: Mapping):
    """``A x (== or <=) b`` over the block's hidden cells, printed values moved to ``b``."""
    pos = {k: i for i, k in enumerate(cells)}
    a = np.zeros((len(facts), len(cells)))
    b = np.zeros(len(facts))
    eq = np.zeros(len(facts), dtype=bool)
    for r, f in enumerate(facts):
        eq[r] = f.equal
        for k, c in f.terms:
            if k in pos:
                a[r, pos[k]] += c
            else:
                b[r] -= c * float(shown[k])
    return a, b, eq


def _feasible(x: np.ndarray, a, b, eq, lb, ub) -> bool:
    lhs = a @ x
    return bool(np.all(np.abs(lhs[eq] - b[eq]) < 1e-6) and np.all(lhs[~eq] <= b[~eq] + 1e-6)
                and np.all(x >= lb) and np.all(x <= ub))


def _solve(c: np.ndarray, a, b, eq, lb, ub, exact: bool = False) -> np.ndarray | None:
    """A whole-number solution minimising ``c @ x`` (None: none found).

    HiGHS's MIP presolve (as SciPy bundles it) can return a suboptimal point as optimal on
    these small models (the largest number of a unit's workers 2 where 3 is feasible; HiGHS
    issues 2957, 2961, 3043). So every point is checked against the facts before it counts as
    a witness (a wrong answer can then only make a cell look pinned, never safe), and a cell
    that looks pinned is solved again with presolve off (``exact``; 15x slower in SciPy 1.18,
    which checks each option it is passed at a cost of milliseconds).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    lo = np.where(eq, b, -np.inf)
    res = milp(c, integrality=np.ones(len(c)), bounds=Bounds(lb, ub),
               constraints=LinearConstraint(a, lo, b),
               options={"presolve": False} if exact else None)
    if res.status != 0:
        return None
    x = np.round(res.x).astype(np.int64)
    return x if _feasible(x, a, b, eq, lb, ub) else None


def _tighten(a, b, eq, lb, ub):
    """Facts on one cell turned into whole-number bounds (and dropped as rows)."""
    lb, ub = lb.copy(), ub.copy()
    nz = (a != 0).sum(axis=1)
    for r in np.flatnonzero(nz == 1):
        j = int(np.flatnonzero(a[r])[0])
        v = b[r] / a[r, j]
        if eq[r]:
            lb[j], ub[j] = max(lb[j], math.ceil(v - 1e-9)), min(ub[j], math.floor(v + 1e-9))
        elif a[r, j] > 0:
            ub[j] = min(ub[j], math.floor(v + 1e-9))
        else:
            lb[j] = max(lb[j], math.ceil(v - 1e-9))
    keep = nz > 1
    return a[keep], b[keep], eq[keep], lb, ub


def _null_steps(a_eq: np.ndarray, n: int) -> np.ndarray:
    """Whole-number steps that keep every equality: a basis of its null space (rows).

    Reduced row echelon form in floats; the tables' equalities have coefficients 0 and +-1,
    so each basis vector is a small rational one, scaled to whole numbers (vectors that
    cannot be are dropped: they only make the search weaker, never wrong).
    """
    r = a_eq.astype(float).copy()
    pivots: list[int] = []
    row = 0
    for col in range(n):
        if row == len(r):
            break
        p = row + int(np.argmax(np.abs(r[row:, col])))
        if abs(r[p, col]) < 1e-9:
            continue
        r[[row, p]] = r[[p, row]]
        r[row] /= r[row, col]
        others = np.arange(len(r)) != row
        r[others] -= np.outer(r[others, col], r[row])
        pivots.append(col)
        row += 1
    out = []
    for f in (c for c in range(n) if c not in pivots):
        v = np.zeros(n)
        v[f] = 1.0
        for i, pc in enumerate(pivots):
            v[pc] = -r[i, f]
        for scale in (1, 2, 3, 4, 6):
            w = v * scale
            if np.allclose(w, np.round(w), atol=1e-7):
                out.append(np.round(w).astype(np.int64))
                break
    return np.array(out, dtype=np.int64).reshape(-1, n)


def _moved_by_small_steps(x0: np.ndarray, a, b, eq, lb, ub) -> set:
    """Cells that a small whole-number step moves to another solution (no solver).

    Steps of one or two cells by 1 (two hidden parts of a printed total, a hidden total and
    one of its parts), and the null-space vectors of the equalities, alone and in pairs,
    once and twice (a cycle through a crosstab); every ``x0 + d`` is checked against every
    fact at once. Most hidden cells of a table move this way, which saves the integer
    programs for the rest.
    """
    n = len(x0)
    if n > 80:
        return set()
    eye = np.eye(n, dtype=np.int64)
    steps = [eye, -eye]
    if n > 1:
        share = (np.abs(a).T @ np.abs(a)) > 0  # pairs of cells in a common fact
        i, j = np.nonzero(np.triu(share, 1))
        for si in (1, -1):
            for sj in (1, -1):
                d = np.zeros((len(i), n), dtype=np.int64)
                d[np.arange(len(i)), i] = si
                d[np.arange(len(i)), j] = sj
                steps.append(d)
    ns = _null_steps(a[eq], n)
    if len(ns):
        base = np.concatenate([ns, -ns])
        steps += [base, 2 * base]
        if len(ns) <= 25:
            p, q = np.triu_indices(len(base), 1)
            steps.append(base[p] + base[q])
    d = np.concatenate(steps)
    d = d[np.any(d != 0, axis=1)]
    x = x0[None, :] + d
    lhs = x @ a.T
    ok = (np.all(np.abs(lhs[:, eq] - b[eq]) < 1e-6, axis=1)
          & np.all(lhs[:, ~eq] <= b[~eq] + 1e-6, axis=1)
          & np.all(x >= lb, axis=1) & np.all(x <= ub, axis=1))
    return set(np.flatnonzero(np.any(d[ok] != 0, axis=0)).tolist())


@contextmanager
def _quiet_solver():
    """Keep HiGHS's own debugging lines (written by its C++ code, e.g.
    ``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();``) out of
    pyramid's output: file descriptors 1 and 2 point at /dev/null while it runs."""
    import sys

    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
    except (OSError, ValueError, AttributeError):  # no real descriptors (embedded, captured)
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


@dataclass
class _Block:
    """One independent block of hidden cells: ``a x (== or <=) b``, bounds, the cells asked."""

    cells: list
    a: np.ndarray
    b: np.ndarray
    eq: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    query: list[int]
    x0: np.ndarray | None = None
    free: set = field(default_factory=set)


def _stack(blocks: list[_Block]):
    """The blocks side by side as one system (block-diagonal), and each one's offset."""
    off = np.cumsum([0, *(len(bl.cells) for bl in blocks)])
    rows = np.cumsum([0, *(len(bl.b) for bl in blocks)])
    a = np.zeros((rows[-1], off[-1]))
    for j, bl in enumerate(blocks):
        a[rows[j]:rows[j + 1], off[j]:off[j + 1]] = bl.a
    cat = np.concatenate
    return (off, a, cat([bl.b for bl in blocks]), cat([bl.eq for bl in blocks]),
            cat([bl.lb for bl in blocks]), cat([bl.ub for bl in blocks]))


def _joint_solve(blocks: list[_Block], objective: dict[int, tuple[list[int], float]],
                 exact: bool = False) -> dict[int, np.ndarray]:
    """One integer program for several blocks at once (their objectives add up, and the
    blocks share no cell, so each block's part of the solution is optimal for it)."""
    idx = list(objective)
    if not idx:
        return {}
    off, a, b, eq, lb, ub = _stack([blocks[i] for i in idx])
    c = np.zeros(off[-1])
    for j, i in enumerate(idx):
        cells, sign = objective[i]
        c[off[j] + np.asarray(cells, dtype=int)] = sign
    x = _solve(c, a, b, eq, lb, ub, exact)
    if x is None:  # one block's answer was wrong (see _solve): each on its own
        if len(idx) == 1:
            return {}
        out: dict = {}
        for i in idx:
            out.update(_joint_solve(blocks, {i: objective[i]}, exact))
        return out
    return {i: x[off[j]:off[j + 1]] for j, i in enumerate(idx)}


def _pinned(blocks: list[_Block], exact: bool) -> list[dict]:
    """For each block, the asked cells whose whole-number value is the same in every solution.

    Each solution found is a witness for every cell it moves away from the first one (``x0``,
    the true values where known): first single steps of one or two cells
    (:func:`_moved_by_small_steps`), then the solutions with the asked cells' sum largest and
    smallest, then, for a cell none of those moved, its own largest and smallest value. The
    blocks are solved together, one integer program per round, not one per block and cell.
    With ``exact``, a cell that still looks pinned is solved again with HiGHS's presolve off
    (see :func:`_solve`).
    """
    todo = [i for i, bl in enumerate(blocks) if bl.x0 is None]
    if todo:
        x = _joint_solve(blocks, {i: ([], 0.0) for i in todo})
        for i in todo:
            blocks[i].x0 = x.get(i)
            if blocks[i].x0 is None:
                blocks[i].x0 = _solve(np.zeros(len(blocks[i].cells)), blocks[i].a, blocks[i].b,
                                      blocks[i].eq, blocks[i].lb, blocks[i].ub, exact=True)
            if blocks[i].x0 is None:
                raise InputError("the printed numbers contradict each other: no table fits "
                                 "them")
    for bl in blocks:
        bl.free |= _moved_by_small_steps(bl.x0, bl.a, bl.b, bl.eq, bl.lb, bl.ub)

    def open_cells(bl):
        return [i for i in bl.query if i not in bl.free]

    def run(objective, exact_=False):
        for i, x in _joint_solve(blocks, objective, exact_).items():
            blocks[i].free.update(np.flatnonzero(x != blocks[i].x0).tolist())

    for sign in (-1.0, 1.0):  # the sums of the open cells, largest then smallest
        run({i: (open_cells(bl), sign) for i, bl in enumerate(blocks) if len(open_cells(bl)) > 1})
    for exact_ in (False, True) if exact else (False,):
        tried = [set() for _ in blocks]
        while True:
            pick = {}
            for i, bl in enumerate(blocks):
                left = [j for j in open_cells(bl) if j not in tried[i]]
                if left:
                    pick[i] = left[0]
                    tried[i].add(left[0])
            if not pick:
                break
            for sign in (-1.0, 1.0):
                run({i: ([j], sign) for i, j in pick.items() if j not in blocks[i].free},
                    exact_)
    return [{bl.cells[j]: int(bl.x0[j]) for j in open_cells(bl)} for bl in blocks]


def audit(
    shown: Mapping[Hashable, int],
    small: Iterable[Hashable],
    hidden: Iterable[Hashable],
    facts: Sequence[Fact],
    min_cell: int = 5,
    *,
    floor: Mapping[Hashable, int] | None = None,
    cells: Iterable[Hashable] | None = None,
    start: Mapping[Hashable, int] | None = None,
    cache: dict | None = None,
    exact: bool = True,
) -> dict[Hashable, int]:
    """The hidden cells a reader can work out exactly from what is printed.

    What a reader knows: the printed values, every fact, a cell shown as ``<min_cell`` is 1 to
    ``min_cell - 1``, a cell hidden to protect another (``[c]``) is ``min_cell`` or more, and
    the ``floor`` of each cell (e.g. a unit listed in a table has at least one worker). A
    hidden cell is disclosed when the smallest and the largest whole number it can take under
    all of that at once are equal.

    Parameters
    ----------
    shown : mapping
        Printed cells and their values.
    small : iterable
        Cells shown as ``<min_cell``.
    hidden : iterable
        Cells hidden to protect others (``[c]``).
    facts : sequence of Fact
    min_cell : int, default 5
    floor : mapping, optional
        Lower bounds a reader knows a priori.
    cells : iterable, optional
        The cells to check (default: the ``small`` ones).
    start : mapping, optional
        A solution (the true values, where known): saves one integer program per block.
    cache : dict, optional
        Results of earlier calls by block, reused where a block is unchanged.
    exact : bool, default True
        Confirm every cell that looks pinned with HiGHS's presolve off (much slower in SciPy;
        without it a cell can look pinned when it is not, never the reverse).

    Returns
    -------
    dict
        Each disclosed cell and the value a reader works out.

    Raises
    ------
    InputError
        If no whole numbers satisfy every fact (the printed numbers contradict each other).

    Examples
    --------
    A total of 28 whose parts are 25, 0 and ``<5``: the ``<5`` is 3.

    >>> audit({"all": 28, "a": 25, "b": 0}, ["c"], [], [additive("all", ["a", "b", "c"])])
    {'c': 3}
    >>> audit({"all": 28, "b": 0}, ["c"], ["a"], [additive("all", ["a", "b", "c"])])
    {}
    """
    m = check_min_cell(min_cell)
    small, hidden = set(small), set(hidden)
    floor = dict(floor or {})
    query = set(small if cells is None else cells)
    unhidden = small | hidden
    missing = [k for f in facts for k in f.cells if k not in unhidden and k not in shown]
    if missing:
        raise InputError(f"facts name cells that are neither printed nor hidden: {missing[:5]}")
    cache = {} if cache is None else cache
    out: dict = {}
    new: dict = {}
    for cells_b, facts_b in _blocks(unhidden, facts):
        q = [i for i, k in enumerate(cells_b) if k in query]
        if not q:
            continue
        a, b, eq = _matrix(cells_b, facts_b, shown)
        lb = np.array([max(1 if k in small else m, floor.get(k, 0)) for k in cells_b], float)
        ub = np.array([m - 1.0 if k in small else _CAP for k in cells_b])
        key = (tuple(map(repr, cells_b)), tuple(q), a.tobytes(), b.tobytes(), eq.tobytes(),
               lb.tobytes(), ub.tobytes(), exact)
        if key in cache:
            out.update(cache[key])
            continue
        a, b, eq, lb, ub = _tighten(a, b, eq, lb, ub)
        x0 = None
        if start is not None and all(k in start for k in cells_b):
            x0 = np.array([int(start[k]) for k in cells_b], dtype=np.int64)
            x0 = x0 if _feasible(x0, a, b, eq, lb, ub) else None
        new[key] = _Block(cells_b, a, b, eq, lb, ub, q, x0)
    if new:
        with _quiet_solver():
            pinned = _pinned(list(new.values()), exact)
        for key, found in zip(new, pinned, strict=True):
            cache[key] = found
            out.update(found)
    return out


def determined(hidden: set, facts: Sequence[Fact]) -> list:
    """Hidden cells fixed by the equalities alone (no bounds): ``e_i`` in the row space.

    Examples
    --------
    With the total and one of two parts shown, the other part follows:

    >>> determined({"b"}, [additive("all", ["a", "b"])])
    ['b']
    >>> determined({"a", "b"}, [additive("all", ["a", "b"])])
    []
    """
    from scipy.linalg import null_space

    out = []
    for cells, fs in _blocks(hidden, [f for f in facts if f.equal]):
        a, _, _ = _matrix(cells, fs, {k: 0 for f in fs for k in f.cells})
        ns = null_space(a)
        out += [k for k, row in zip(cells, ns, strict=True) if np.all(np.abs(row) < 1e-9)]
    return out


# --------------------------------------------------------------------------------------------
# protection
# --------------------------------------------------------------------------------------------
def _relation_issue(total, parts, hidden, primary, sizes, m, bounded) -> bool:
    """Whether one additive relation gives a hidden value away, or a small pool of them.

    A quick check, relation by relation, before the audit of all the facts together, which
    would find the same cells more slowly.
    """
    h = [k for k in (total, *parts) if k in hidden]
    if not h:
        return False
    if len(h) == 1:
        return True  # the one hidden member = total - shown parts (or the sum of the parts)
    if total in hidden:
        return False  # the total is unknown: this relation alone gives nothing exact
    hidden_parts = [k for k in parts if k in hidden]
    pooled = sizes[total] - sum(sizes[k] for k in parts if k not in hidden)
    if 0 < pooled < m:
        return True  # the hidden parts together are a small cell
    if not bounded:
        return False
    # the bounds a reader knows: "<m" is 1 to m-1, "[c]" m or more
    small = [k in primary and 0 < sizes[k] < m for k in hidden_parts]
    lb = sum(1 if sm else m for sm in small)
    ub = sum(m - 1 if sm else math.inf for sm in small)
    return pooled in (lb, ub)  # every hidden part at its lower (upper) bound: all known


def _next_cell(k: Hashable, hidden: set, facts_of: Mapping, sizes: Mapping) -> Hashable | None:
    """The cell to hide so that ``k`` can no longer be worked out.

    The smallest non-zero printed cell of a fact of ``k``; where those facts have none left,
    the nearest ones further along the facts (through the hidden cells they share: a margin,
    the paired count of another table).
    """
    seen_cells, seen_facts = {k}, set()
    ring = [k]
    while ring:
        facts = [f for c in ring for f in facts_of.get(c, ()) if id(f) not in seen_facts]
        seen_facts.update(id(f) for f in facts)
        shown = {c for f in facts for c in f.cells if c not in hidden and sizes[c] > 0}
        if shown:
            return min(shown, key=lambda c: (sizes[c], repr(c)))
        ring = [c for f in facts for c in f.cells if c in hidden and c not in seen_cells]
        seen_cells.update(ring)
    return None


def protect(
    sizes: Mapping[Hashable, int],
    relations: Sequence[Relation] = (),
    min_cell: int = 5,
    *,
    initial: Iterable[Hashable] = (),
    bounded: bool = True,
    facts: Sequence[Fact] = (),
    floor: Mapping[Hashable, int] | None = None,
) -> tuple[frozenset, frozenset]:
    """Primary and secondary suppression of cells linked by additive totals and other facts.

    A cell is a count (or, for means, a sum) with a key. Primary suppression hides every cell
    whose size is from 1 to ``min_cell - 1`` (and the ``initial`` cells). Secondary suppression
    then hides further cells, one at a time, until

    * no printed total has exactly one hidden part, and the hidden parts of a printed total
      add up to ``min_cell`` or more;
    * with ``bounded``, :func:`audit` finds no primary cell that a reader can work out exactly
      from the printed values, the relations, the ``facts`` and the bounds a reader knows (a
      cell shown as ``<5`` holds 1 to 4, a secondary one 5 or more): the smallest and the
      largest whole number it can take under all of them at once differ;
    * without ``bounded`` (sums of skill behind means, whose bounds a reader does not know as
      whole numbers), no hidden cell is fixed by the relations alone (a rank test).

    The cell hidden for a cell that could be worked out is the smallest non-zero printed cell
    of a relation or fact it is in; where those have none left (every neighbour zero or
    already hidden), the nearest printed cell further along the relations, a margin or the
    paired count of another table. It never gives up while a printed non-zero cell is linked
    to the disclosed one; when none is left it raises (the caller must print less).

    Parameters
    ----------
    sizes : mapping
        Key -> size (a count of observations or workers, >= 0).
    relations : sequence of (total, parts)
        Additive relations ``sizes[total] == sum(sizes[p] for p in parts)`` that the printed
        tables show.
    min_cell : int, default 5
        Smallest size shown; 1 turns suppression off.
    initial : iterable of keys, optional
        Cells to hide whatever their size (e.g. the means of cells whose count is hidden).
    bounded : bool, default True
        Whether readers know the bounds of a hidden cell (true for counts shown as ``<5``).
    facts : sequence of Fact, optional
        Further linear facts a reader knows (:func:`at_most`: a unit's observations are at
        least its workers, at most its workers times the most observations of one worker).
    floor : mapping, optional
        Lower bounds a reader knows a priori (a listed unit has at least one worker).

    Returns
    -------
    primary, secondary : frozenset
        The keys hidden because they are small (or ``initial``), and those hidden to protect
        them.

    Raises
    ------
    InputError
        If a cell could still be worked out with every linked non-zero cell hidden.

    Examples
    --------
    A total of 12 split 3 + 9: showing ``<5`` and 9 beside the total would give the 3 away.

    >>> p, s = protect({"all": 12, "a": 3, "b": 9}, [("all", ["a", "b"])])
    >>> sorted(p), sorted(s)
    (['a'], ['b'])

    Workers ``<5`` beside 10 observations, at most 3 observations per worker: 4 workers, so the
    observations are hidden too.

    >>> p, s = protect({"w": 4, "o": 10}, facts=[at_most({"o": 1}, {"w": 3}),
    ...                                          at_most({"w": 1}, {"o": 1})])
    >>> sorted(p), sorted(s)
    (['w'], ['o'])
    """
    m = check_min_cell(min_cell)
    relations = [(t, list(ps)) for t, ps in relations]
    all_facts = [additive(t, ps) for t, ps in relations] + list(facts)
    unknown = [k for f in all_facts for k in f.cells if k not in sizes]
    if unknown:
        raise InputError(f"relations name cells without a size: {unknown[:5]}")
    primary = {k for k, n in sizes.items() if 0 < int(n) < m} | set(initial)
    if m == 1:
        return frozenset(primary), frozenset()
    facts_of: dict = {}
    for f in all_facts:
        for k in f.cells:
            facts_of.setdefault(k, []).append(f)
    hidden = set(primary)
    cache: dict = {}
    while True:
        add = set()
        for total, parts in relations:
            if _relation_issue(total, parts, hidden, primary, sizes, m, bounded):
                k = _next_cell(total, hidden, {total: [additive(total, parts)]}, sizes)
                if k is not None:
                    hidden.add(k)  # at once: the next relations see it
                    add.add(k)
        if not add:
            if bounded:
                small = primary & hidden
                shown = {k: int(v) for k, v in sizes.items() if k not in hidden}
                pinned = audit(shown, small, hidden - small, all_facts, m, floor=floor,
                               start=sizes, cache=cache, exact=False)
            else:
                pinned = determined(hidden, all_facts)
            stuck = []
            for k in sorted(pinned, key=repr):
                c = _next_cell(k, hidden | add, facts_of, sizes)
                if c is None:
                    stuck.append(k)
                else:
                    add.add(c)
            if stuck and not add and bounded:  # confirm with presolve off before giving up
                sure = audit(shown, small, hidden - small, all_facts, m, floor=floor,
                             start=sizes, cells=stuck)
                stuck = [k for k in stuck if k in sure]
            if stuck and not add:
                raise Unprotectable(stuck)
        if not add:
            break
        hidden |= add
    return frozenset(primary), frozenset(hidden - primary)
