"""Small-cell suppression of one two-way table, then an independent LP audit (privacy point 5).

In the manner of Statistics Norway's GaussSuppression and sdcTable: the table carries an
explicit status per cell (published / primary / secondary), suppression is a few verbs on it,
and `audit_feasible_intervals` recomputes what an attacker can infer from everything that is
published.

Decisions (documented for the privacy officer):
- The table is the inner cells plus row totals, column totals and the grand total; the totals
  are published unless they are suppressed themselves, and the audit uses exactly what is
  published.
- Primary: every count 1 … k−1, inner cell or total. Zero is published: it discloses no small
  group (DESIGN: 1 … k−1). Cells absent from the input are structural zeros (e.g. a grade
  the school does not have): known to everyone, never chosen as secondary.
- Secondary: every row and column line of the table with totals (the total row and column
  included) that holds a suppressed cell must hold at least two; the smallest published cell
  of the line is chosen, inner non-zero cells before zeros, totals last. Then the LP audit;
  while a cell is unprotected, the smallest candidate in its row or column is suppressed too,
  until stable (all cells suppressed is always safe, so this terminates).
- Protection criterion for a suppressed cell with attacker interval [lo, hi] (integers, over
  real-valued solutions of all published equations with cells ≥ 0): lo < hi (the value is not
  recovered), and the interval is not inside 1 … k−1 (the attacker cannot tell that it is a
  small non-zero group).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

PUBLICERAD, PRIMAR, SEKUNDAR = "publicerad", "primar", "sekundar"
TOTAL = "Totalt"
_PUB, _PRI, _SEK = 0, 1, 2
_STATUS_NAME = {_PUB: PUBLICERAD, _PRI: PRIMAR, _SEK: SEKUNDAR}


@dataclass(frozen=True)
class SuppressedTable:
    """A two-way table with totals: `values` and `status` are (R+1) × (C+1), the last row and
    column holding the totals. `structural` marks inner cells absent from the input."""

    row_labels: list
    col_labels: list
    values: np.ndarray
    status: np.ndarray
    structural: np.ndarray
    k: int

    def frame(self, symbol: str = "..") -> pd.DataFrame:
        """Long form: row, col, value, status, shown (the value as a string, or the symbol);
        totals carry the label "Totalt". Structural zeros are left out."""
        rows = list(self.row_labels) + [TOTAL]
        cols = list(self.col_labels) + [TOTAL]
        r_idx, c_idx = np.indices(self.values.shape)
        keep = ~self.structural_extended().ravel()
        status = self.status.ravel()[keep]
        values = self.values.ravel()[keep]
        shown = np.where(status == _PUB, values.astype(str), symbol)
        return pd.DataFrame({
            "row": [rows[i] for i in r_idx.ravel()[keep]],
            "col": [cols[j] for j in c_idx.ravel()[keep]],
            "value": values,
            "status": [_STATUS_NAME[s] for s in status],
            "shown": pd.array(shown, dtype="string"),
        })

    def structural_extended(self) -> np.ndarray:
        out = np.zeros(self.values.shape, dtype=bool)
        out[:-1, :-1] = self.structural
        return out


@dataclass(frozen=True)
class CellInterval:
    row: object
    col: object
    value: int
    status: str
    lo: float
    hi: float
    safe: bool


def is_protected(lo: float, hi: float, k: int) -> bool:
    """The protection criterion: not recovered (lo < hi) and not known to lie in 1 … k−1."""
    return lo < hi and not (lo >= 1 and hi <= k - 1)


def ratio_or_dots(numerator: float, base: float, min_base: int = 10, symbol: str = ".."):
    """numerator / base, or the symbol when the base is below min_base students (or unknown)."""
    if base is None or numerator is None or pd.isna(base) or pd.isna(numerator):
        return symbol
    if base < min_base:
        return symbol
    return numerator / base


# --- building the table ----------------------------------------------------------------------

def _extended(counts: pd.DataFrame, row: str, col: str, value: str):
    inner = counts.groupby([row, col], observed=True, sort=True)[value].sum().unstack()
    structural = inner.isna().to_numpy()
    x = np.nan_to_num(inner.to_numpy(dtype="float64"), nan=0.0).astype(np.int64)
    r, c = x.shape
    ext = np.zeros((r + 1, c + 1), dtype=np.int64)
    ext[:r, :c] = x
    ext[:r, c] = x.sum(axis=1)
    ext[r, :c] = x.sum(axis=0)
    ext[r, c] = x.sum()
    return list(inner.index), list(inner.columns), ext, structural


def _lines(shape: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every row and column line of the extended table, as (row indices, col indices)."""
    nr, nc = shape
    out = [(np.full(nc, i), np.arange(nc)) for i in range(nr)]
    out += [(np.arange(nr), np.full(nr, j)) for j in range(nc)]
    return out


def _candidate_key(values: np.ndarray, r: np.ndarray, c: np.ndarray, shape) -> np.ndarray:
    """Sort key for choosing a secondary cell: inner non-zero, then zeros, then totals;
    smallest value first within each class."""
    nr, nc = shape
    margin = (r == nr - 1) | (c == nc - 1)
    v = values[r, c]
    return margin * 4 * (10**12) + (v == 0) * 2 * (10**12) + v


def _pick(status, values, blocked, r, c) -> tuple[int, int] | None:
    free = (status[r, c] == _PUB) & ~blocked[r, c]
    if not free.any():
        return None
    r, c = r[free], c[free]
    best = np.argmin(_candidate_key(values, r, c, values.shape))
    return int(r[best]), int(c[best])


def _line_rule(status, values, blocked) -> bool:
    """Give every line with exactly one suppressed cell a second one. True if anything changed."""
    changed = False
    stable = False
    while not stable:
        stable = True
        for r, c in _lines(values.shape):
            if np.count_nonzero(status[r, c] != _PUB) == 1:
                cell = _pick(status, values, blocked, r, c)
                if cell is None:
                    cell = _pick(status, values, blocked, *np.indices(values.shape).reshape(2, -1))
                if cell is not None:
                    status[cell] = _SEK
                    stable = False
                    changed = True
    return changed


def suppress(counts: pd.DataFrame, row: str, col: str, value: str, k: int) -> SuppressedTable:
    """Primary and secondary suppression of the table `value` by `row` × `col` with totals."""
    row_labels, col_labels, values, structural = _extended(counts, row, col, value)
    status = np.full(values.shape, _PUB, dtype=np.int8)
    status[(values >= 1) & (values <= k - 1)] = _PRI
    blocked = np.zeros(values.shape, dtype=bool)
    blocked[:-1, :-1] = structural
    table = SuppressedTable(row_labels, col_labels, values, status, structural, k)
    while True:
        _line_rule(status, values, blocked)
        unsafe = _unsafe_cells(table)
        if not unsafe:
            return table
        added = False
        for i, j in unsafe:
            r = np.r_[np.full(values.shape[1], i), np.arange(values.shape[0])]
            c = np.r_[np.arange(values.shape[1]), np.full(values.shape[0], j)]
            cell = _pick(status, values, blocked, r, c)
            if cell is None:
                cell = _pick(status, values, blocked, *np.indices(values.shape).reshape(2, -1))
            if cell is not None:
                status[cell] = _SEK
                added = True
        if not added:  # everything that can be suppressed is: nothing more to do
            return table


def _unsafe_cells(table: SuppressedTable) -> list[tuple[int, int]]:
    """Unprotected suppressed cells, at most one per component (a new secondary cell changes
    the whole component). Cells certified by a rectangle need no LP."""
    sup = np.argwhere(table.status != _PUB)
    doubtful = [(int(i), int(j)) for i, j in sup if not _certified(table, i, j)]
    if not doubtful:
        return []
    seen, out = set(), []
    for i, j, _v, _s, _lo, _hi, safe, comp in _intervals(table, only=set(doubtful)):
        if not safe and comp not in seen:
            seen.add(comp)
            out.append((i, j))
    return out


def _certified(table: SuppressedTable, i: int, j: int) -> bool:
    """A quick sufficient check: some rectangle of suppressed cells through (i, j) lets the
    attacker's solutions move the cell to 0 or to ≥ k (and away from its value).

    In y-space (totals negated, grand total not) every line sums to zero, so +δ/−δ around a
    rectangle keeps every published equation; a cell whose x-value falls needs x ≥ δ.
    """
    x, sup = table.values, table.status != _PUB
    nr, nc = x.shape
    sign = np.ones((nr, nc))
    sign[-1, :] = -1
    sign[:, -1] = -1
    sign[-1, -1] = 1
    valid = sup[i, :][None, :] & sup[:, j][:, None] & sup
    valid[i, :] = False
    valid[:, j] = False
    if not valid.any():
        return False
    v = int(x[i, j])
    # Rectangle pattern in y-space: + at (i, j) and (i', j'); − at (i, j') and (i', j).
    parts = [(x[i, :][None, :], -sign[i, :][None, :]), (x[:, j][:, None], -sign[:, j][:, None]),
             (x, sign)]
    best = {}
    for t in (1.0, -1.0):
        cap = np.full((nr, nc), np.inf)
        for vals, sgn in parts:
            falls = np.broadcast_to(sgn * t < 0, (nr, nc))
            cap = np.where(falls, np.minimum(cap, np.broadcast_to(vals, (nr, nc))), cap)
        best[t * sign[i, j]] = cap[valid].max()
    up, down = best[1.0], min(best[-1.0], v)
    return (up > 0 or down > 0) and (v - down <= 0 or v + up >= table.k)


# --- the audit -------------------------------------------------------------------------------

def _intervals(table: SuppressedTable, only: set | None = None) -> list[tuple]:
    """(i, j, value, status, lo, hi, safe, component) per suppressed cell (or those in `only`).

    The unknowns are the suppressed cells; each line gives one equation (inner cells sum to the
    line's total) with the published cells moved to the right-hand side. The equations split
    into independent components of the suppressed cells, each solved as its own small LP.
    """
    values, status = table.values, table.status
    nr, nc = values.shape
    sup = np.argwhere(status != _PUB)
    if len(sup) == 0:
        return []
    # Bipartite graph: row line i and column line j are joined by suppressed cell (i, j).
    graph = coo_matrix((np.ones(len(sup)), (sup[:, 0], nr + sup[:, 1])), shape=(nr + nc,) * 2)
    _, comp = connected_components(graph, directed=False)
    out = []
    for label in np.unique(comp[sup[:, 0]]):
        cells = sup[comp[sup[:, 0]] == label]
        if only is not None and not any((int(i), int(j)) in only for i, j in cells):
            continue
        index = {(int(i), int(j)): n for n, (i, j) in enumerate(cells)}
        lines = sorted({("r", int(i)) for i, _ in cells} | {("c", int(j)) for _, j in cells})
        a_eq = np.zeros((len(lines), len(cells)))
        b_eq = np.zeros(len(lines))
        for e, (kind, t) in enumerate(lines):
            if kind == "r":
                members = [(t, j) for j in range(nc)]
                total = (t, nc - 1)
            else:
                members = [(i, t) for i in range(nr)]
                total = (nr - 1, t)
            for cell in members:
                coef = -1.0 if cell == total else 1.0
                if cell in index:
                    a_eq[e, index[cell]] += coef
                else:
                    b_eq[e] -= coef * values[cell]
        for (i, j), n in index.items():
            if only is not None and (i, j) not in only:
                continue
            objective = np.zeros(len(cells))
            objective[n] = 1.0
            lo = _solve(objective, a_eq, b_eq)
            hi = -_solve(-objective, a_eq, b_eq)
            lo_i = math.ceil(lo - 1e-6)
            hi_i = math.inf if math.isinf(hi) else math.floor(hi + 1e-6)
            out.append((i, j, int(values[i, j]), int(status[i, j]), lo_i, hi_i,
                        is_protected(lo_i, hi_i, table.k), int(label)))
    return out


def _solve(objective, a_eq, b_eq) -> float:
    res = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status == 3:  # unbounded: the cell can be arbitrarily large
        return -math.inf
    if res.status != 0:
        raise RuntimeError("röjandekontrollen kunde inte lösa tabellens ekvationer")
    return float(res.fun)


def audit_feasible_intervals(table: SuppressedTable) -> list[CellInterval]:
    """What an attacker infers about each suppressed cell from the published cells and totals:
    its feasible interval and whether it meets the protection criterion (`is_protected`)."""
    rows = list(table.row_labels) + [TOTAL]
    cols = list(table.col_labels) + [TOTAL]
    return [CellInterval(rows[i], cols[j], v, _STATUS_NAME[s], lo, hi, safe)
            for i, j, v, s, lo, hi, safe, _ in _intervals(table)]
