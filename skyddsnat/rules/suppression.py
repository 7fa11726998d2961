"""Small-cell suppression of a whole published table, until the LP audit proves it.

The table is every row the board sees — inner cells and every margin (per school, per
årskurs, Totalt) — with all its measures at once, so the margins, the nesting relations
(antal_20 ≤ antal_15 ≤ antal_10 ≤ antal_elever) and the groups are protected together, in
the manner of sdcTable/GaussSuppression: an explicit status per cell, and suppression as a
few verbs on it.

Decisions (documented for the privacy officer):
- Primary (`primär`): every count 1 … k−1, inner cell or margin. Zero is published: it
  discloses no small group. Rows absent from the input are structural (a grade the school
  does not have): known to everyone, never chosen as secondary.
- Group disclosure (`komplement`, policy `komplement`): a count c ≥ 1 of a group of n with
  n − c < k — everyone, or all but fewer than k, share the attribute.
- Secondary (`sekundär`): every line (the cells that sum to a margin, with the margin) that
  holds one suppressed cell gets a second, the smallest published cell of the line, inner
  non-zero cells before zeros, margins last. Then the independent audit
  (`skyddsnat.rules.disclosure_audit`) is asked about the table as it would be published; for
  each cell (or group) it finds unprotected, the cheapest published cell its bound rests on
  (the LP's binding constraints) is suppressed too — else the cheapest sharing a line, a
  relation or a group with it — until the audit passes. Suppressing more
  only widens what an attacker must consider, so this ends (all suppressed is safe).
- Blocks (the months): no margin crosses them, so each is its own problem. A block's
  statuses follow from its own values, the structure, k and `komplement` alone, so a block
  unchanged since the last night (a past month) takes its statuses from a `BlockMemo`
  instead of being suppressed and proven again; the blocking audit of the published table
  still runs on the whole table every night.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skyddsnat.rules import disclosure_audit
from skyddsnat.rules.disclosure_audit import OutcomeMemo, TableStructure, audit

PUBLICERAD, PRIMAR, SEKUNDAR, KOMPLEMENT = "publicerad", "primär", "sekundär", "komplement"
STATUSES = (PUBLICERAD, PRIMAR, SEKUNDAR, KOMPLEMENT)
TOTAL = "Totalt"
_PUB, _PRI, _SEK, _KOM = range(4)
STATUS_PREFIX = "status_"


# The procedure itself is part of every block's key: a change to this module or to the audit
# it consults makes every stored outcome a miss, never a wrong hit.
_CODE = hashlib.sha256(Path(__file__).read_bytes()
                       + Path(disclosure_audit.__file__).read_bytes()).hexdigest()[:16]


class BlockMemo(OutcomeMemo):
    """Suppressed blocks' cell statuses by the block's content, kept between nights.

    A value holds the statuses only (which the published table shows anyway); the key is a
    SHA-256 over the block's keys and true counts, so the file sits with the warehouse, whose
    tables hold the pupil-level data those counts come from."""

    FORMAT = f"undertryckning-block/1/{_CODE}"

    @staticmethod
    def key(values: pd.DataFrame, s: TableStructure, k: int, komplement: bool) -> str:
        h = hashlib.sha256(f"{k}|{komplement}|{s!r}|{len(values)}".encode())
        for col in s.keys:
            h.update("\x1e".join(values[col].astype(str)).encode() + b"\x1f")
        h.update(np.ascontiguousarray(values[list(s.measures)].to_numpy(np.int64)).tobytes())
        return h.hexdigest()


class SuppressionFailed(RuntimeError):
    """The audit still finds an unprotected cell when nothing more can be suppressed."""


@dataclass(frozen=True)
class Suppressed:
    """The whole table: `values` (internal, never published) and `status` per cell, both with
    the key columns and one column per measure, margin rows included."""

    values: pd.DataFrame
    status: pd.DataFrame
    structure: TableStructure
    symbol: str

    def published(self) -> pd.DataFrame:
        """Keys and measures as strings: the number, or the symbol where suppressed."""
        out = self.values[list(self.structure.keys)].copy()
        for m in self.structure.measures:
            shown = self.values[m].astype("int64").astype(str)
            out[m] = pd.array(np.where(self.status[m] == PUBLICERAD, shown, self.symbol),
                              dtype="string")
        return out

    def with_status(self) -> pd.DataFrame:
        """The published table with each measure's cell status beside it (`status_<measure>`)."""
        out = self.published()
        for m in self.structure.measures:
            out[STATUS_PREFIX + m] = pd.array(self.status[m], dtype="string")
        return out


def split_status(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(published columns, cell status sheet) of a table from `with_status`. The status sheet
    has the published table's columns in its order, each measure's status in its place."""
    status_cols = [c for c in table.columns if c.startswith(STATUS_PREFIX)]
    published = table.drop(columns=status_cols)
    if not status_cols:
        return published, None
    with_status = {c[len(STATUS_PREFIX):] for c in status_cols}
    sheet = pd.DataFrame({c: table[STATUS_PREFIX + c] if c in with_status else table[c]
                          for c in published.columns})
    return published, sheet.reset_index(drop=True)


def with_margins(inner: pd.DataFrame, s: TableStructure) -> pd.DataFrame:
    """Inner rows plus every margin row: for each subset of `s.margins`, the sums over it."""
    keys = list(s.keys)
    base = inner[keys + list(s.measures)].copy()
    for c in keys:
        base[c] = base[c].astype("string")
    if (base[list(s.margins)] == s.total).any().any():
        raise ValueError(f"en inre rad har etiketten {s.total}")
    parts = [base]
    for n in range(1, len(s.margins) + 1):
        for dims in itertools.combinations(s.margins, n):
            rest = [c for c in keys if c not in dims]
            if rest:
                summed = base.groupby(rest, observed=True, sort=True)[list(s.measures)].sum()
                summed = summed.reset_index()
            else:
                summed = base[list(s.measures)].sum().to_frame().T
            parts.append(summed.assign(**dict.fromkeys(dims, s.total))[keys + list(s.measures)])
    out = pd.concat(parts, ignore_index=True)
    for c in keys:
        out[c] = out[c].astype("string")
    for m in s.measures:
        out[m] = out[m].astype("int64")
    return out


def primary_status(values: np.ndarray, s: TableStructure, k: int, komplement: bool
                   ) -> np.ndarray:
    """Status codes (rows × measures): primär for 1 … k−1, then komplement for the groups."""
    status = np.full(values.shape, _PUB, dtype=np.int8)
    status[(values >= 1) & (values <= k - 1)] = _PRI
    if komplement:
        m = {name: i for i, name in enumerate(s.measures)}
        for attr, group in s.groups:
            c, n = values[:, m[attr]], values[:, m[group]]
            hit = (c > 0) & (n - c < k) & (status[:, m[attr]] == _PUB)
            status[hit, m[attr]] = _KOM
    return status


class _Block:
    """One independent part of the table (a month): its lines and its cell statuses."""

    def __init__(self, values: pd.DataFrame, s: TableStructure, k: int, komplement: bool):
        self.frame = values.reset_index(drop=True)
        self.s, self.k = s, k
        self.v = self.frame[list(s.measures)].to_numpy(dtype=np.int64)
        self.status = primary_status(self.v, s, k, komplement)
        keys = self.frame[list(s.keys)]
        margin = np.zeros(len(keys), dtype=bool)
        self.lines: list[np.ndarray] = []
        for d in s.margins:
            is_total = (keys[d] == s.total).to_numpy(dtype=bool)
            margin |= is_total
            other = [c for c in s.keys if c != d]
            groups = keys.groupby(other, sort=False).indices if other else {0: np.arange(len(keys))}
            for rows in groups.values():
                if is_total[rows].any() and len(rows) > 1:
                    self.lines.append(np.asarray(rows))
        self.row_lines: list[list[int]] = [[] for _ in range(len(keys))]
        for i, rows in enumerate(self.lines):
            for r in rows:
                self.row_lines[r].append(i)
        self.margin = margin
        self.cost = self._costs()
        names = {name: i for i, name in enumerate(s.measures)}
        self.partners: dict[int, set[int]] = {i: set() for i in range(len(s.measures))}
        for rel in s.relations:
            ms = [names[x] for x in rel]
            for a in ms:
                self.partners[a] |= set(ms) - {a}
        for a, b in s.groups:
            self.partners[names[a]].add(names[b])
            self.partners[names[b]].add(names[a])
        self.index = {tuple(r): i for i, r in enumerate(keys.astype(str).itertuples(index=False))}

    def _costs(self) -> np.ndarray:
        """Per cell: inner non-zero cells first, then zeros, margins last; smallest first."""
        return (self.margin[:, None] * 4 * 10**12 + (self.v == 0) * 2 * 10**12 + self.v)

    def pick(self, cells: list[tuple[np.ndarray, int]]) -> tuple[int, int] | None:
        best, best_cost = None, None
        for rows, m in cells:
            free = rows[self.status[rows, m] == _PUB]
            if not len(free):
                continue
            cost = self.cost[free, m]
            i = int(np.argmin(cost))
            if best_cost is None or cost[i] < best_cost:
                best, best_cost = (int(free[i]), m), cost[i]
        return best

    def line_rule(self) -> None:
        stable = False
        while not stable:
            stable = True
            for rows in self.lines:
                for m in range(self.v.shape[1]):
                    if np.count_nonzero(self.status[rows, m] != _PUB) == 1:
                        cell = self.pick([(rows, m)])
                        if cell is not None:
                            self.status[cell] = _SEK
                            stable = False

    def neighbours(self, r: int, m: int) -> list[tuple[np.ndarray, int]]:
        near = [(self.lines[i], m) for i in self.row_lines[r]]
        near += [(np.array([r]), p) for p in self.partners[m]]
        return near

    def widen(self, r: int, m: int) -> tuple[int, int] | None:
        """The cheapest published cell reachable from (r, m) through lines and relations."""
        seen, frontier = {(r, m)}, [(r, m)]
        while frontier:
            options = [nb for cell in frontier for nb in self.neighbours(*cell)]
            cell = self.pick(options)
            if cell is not None:
                return cell
            nxt = []
            for rows, mm in options:
                for rr in rows:
                    if (int(rr), mm) not in seen:
                        seen.add((int(rr), mm))
                        nxt.append((int(rr), mm))
            frontier = nxt
        return None

    def published(self, symbol: str) -> pd.DataFrame:
        out = self.frame[list(self.s.keys)].copy()
        for j, m in enumerate(self.s.measures):
            shown = self.v[:, j].astype(str)
            out[m] = pd.array(np.where(self.status[:, j] == _PUB, shown, symbol), dtype="string")
        return out

    def cells(self, labels: list[tuple]) -> list[tuple[np.ndarray, int]]:
        """Cells named by (keys…, measure), as pick() candidates."""
        names = {name: i for i, name in enumerate(self.s.measures)}
        return [(np.array([self.index[tuple(lab[:-1])]]), names[lab[-1]]) for lab in labels]

    def locate(self, rows: pd.DataFrame, column: str) -> list[tuple[int, int]]:
        names = {name: i for i, name in enumerate(self.s.measures)}
        keys = rows[list(self.s.keys)].astype(str).itertuples(index=False)
        return [(self.index[tuple(k)], names[m]) for k, m in zip(keys, rows[column], strict=True)]


def _status_frame(frame: pd.DataFrame, s: TableStructure, status: np.ndarray) -> pd.DataFrame:
    names = np.array(STATUSES, dtype=object)
    return frame[list(s.keys)].assign(**{m: names[status[:, j]]
                                         for j, m in enumerate(s.measures)})


def _known_status(known: dict | None, rows: int, measures: int) -> np.ndarray | None:
    """A stored block's statuses as the matrix, or None when absent or not of this shape."""
    codes = known.get("status") if isinstance(known, dict) else None
    if not isinstance(codes, str) or len(codes) != rows * measures or (
            codes.strip("0123") != ""):
        return None
    return (np.frombuffer(codes.encode(), dtype=np.uint8) - ord("0")).astype(
        np.int64).reshape(rows, measures)


def suppress_table(inner: pd.DataFrame, s: TableStructure, k: int, *, komplement: bool = True,
                   symbol: str = "..", blocks: tuple[str, ...] = (),
                   memo: BlockMemo | None = None) -> Suppressed:
    """Primary, group and secondary suppression of the table of `inner` rows with all its
    margins, proven block by block with the audit (given the true values as witnesses).
    `memo` gives the statuses of blocks suppressed before with the same content."""
    if not komplement:
        s = TableStructure(s.keys, s.margins, s.measures, s.relations, (), s.total)
    values = with_margins(inner, s)
    if blocks:
        parts = [g for _, g in values.groupby(list(blocks), sort=True, observed=True)]
    else:
        parts = [values]
    done_values, done_status = [], []
    for part in parts:
        part = part.reset_index(drop=True)
        key = BlockMemo.key(part, s, k, komplement) if memo is not None else ""
        known = memo.get(key) if memo is not None else None
        status = _known_status(known, len(part), len(s.measures))
        if status is not None:
            done_values.append(part)
            done_status.append(_status_frame(part, s, status))
            continue
        block = _Block(part, s, k, komplement)
        while True:
            block.line_rule()
            report = audit(block.published(symbol), s, k, symbol, seeds=[block.frame])
            if report.problems:
                raise SuppressionFailed("; ".join(report.problems))
            unsafe = pd.concat([report.unsafe_cells[[*s.keys, "matt", "bindande"]],
                                report.unsafe_groups[[*s.keys, "matt", "bindande"]]])
            if unsafe.empty:
                break
            added = False
            for (r, m), binding in zip(block.locate(unsafe, "matt"), unsafe["bindande"],
                                       strict=True):
                cell = (block.pick(block.cells(binding)) or block.pick(block.neighbours(r, m))
                        or block.widen(r, m))
                if cell is not None:
                    block.status[cell] = _SEK
                    added = True
            if not added:
                raise SuppressionFailed("röjandekontrollen underkänner tabellen fast allt "
                                        "som går är undertryckt")
        done_values.append(block.frame)
        done_status.append(_status_frame(block.frame, s, block.status))
        if memo is not None:
            memo.put(key, {"status": "".join(map(str, block.status.ravel().tolist()))})
    if not done_values:
        empty = values.iloc[0:0]
        return Suppressed(empty, empty.astype({m: object for m in s.measures}), s, symbol)
    return Suppressed(pd.concat(done_values, ignore_index=True),
                      pd.concat(done_status, ignore_index=True), s, symbol)

