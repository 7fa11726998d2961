"""A table sheet's data rows written as XML in one piece, instead of cell by cell.

xlsxwriter spends ~10 µs on each cell: a call through its argument wrapper to store it,
then a tag built attribute by attribute when the sheet is written. A large city's night
writes ~300 000 cells into ~450 workbooks, so that was most of what rendering the lists
cost. Here a column's cells are stored as Python lists, and each data row becomes one
pseudo-cell whose XML (the same `<c>` elements xlsxwriter writes: shared strings, number
and date cells, each with its format) is written when xlsxwriter writes the sheet, so
the workbook's other parts (styles, shared strings, column widths, row heights, panes,
filter, print setup) stay xlsxwriter's.

Only columns of one kind take this path (dates, numbers, text, ja/nej); a sheet with any
other column is written by xlsxwriter cell by cell, exactly as before (`replay`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from xlsxwriter.utility import xl_col_to_name

STRINGS, NUMBERS, DATES, CELLS = "s", "n", "d", "c"
# xlsxwriter truncates a longer string (32 767 UTF-16 units); such a sheet goes its way.
SHORT = 32767 // 2


class _Row:
    """The pseudo-cell standing for one data row (its first cell)."""

    __slots__ = ("rows", "i")

    def __init__(self, rows: DataRows, i: int) -> None:
        self.rows, self.i = rows, i


class _Nothing:
    """The pseudo-cell at a row's last cell, so the row's span is what it was."""


NOTHING = _Nothing()


class DataRows:
    """The data rows (from sheet row `first`) of one table sheet, column by column."""

    def __init__(self, ws, first: int) -> None:
        self.ws, self.first = ws, first
        self.columns: list[tuple[int, str, list, object]] = []  # col, kind, values, formats
        self.heads: dict[int, list[tuple[int, str, object]]] = {}  # col: (row, text, format)
        self.fast = True
        self._xml: list[str] | None = None

    def head(self, j: int, row: int, text: str, fmt: object) -> None:
        """A heading cell above column `j`, written just before the column's cells (the
        shared strings keep the order they had when each column was written whole)."""
        self.heads.setdefault(j, []).append((row, text, fmt))

    def _heads(self, j: int) -> None:
        for row, text, fmt in self.heads.pop(j, ()):
            self.ws.write_string(row, j, text, fmt)

    def strings(self, j: int, values: list, formats: list | object) -> None:
        """Text cells (None: empty); `formats` one per row or one for the column."""
        self.fast &= all(v is None or len(v) <= SHORT for v in values)
        self.columns.append((j, STRINGS, values, formats))

    def numbers(self, j: int, values: list, fmt: object) -> None:
        self.fast &= all(v is None or math.isfinite(v) for v in values)
        self.columns.append((j, NUMBERS, values, fmt))

    def dates(self, j: int, values: list, fmt: object) -> None:
        self.columns.append((j, DATES, values, fmt))

    def cells(self, j: int, values: list, write: Callable[[int, int, object], None]) -> None:
        """Cells of any type, written by `write(row, col, value)` (xlsxwriter's way)."""
        self.fast = False
        self.columns.append((j, CELLS, values, write))

    def finish(self) -> None:
        """Hand the rows to the sheet: as row pseudo-cells, or cell by cell (`replay`)."""
        if not self.fast or not self.columns:
            self.replay()
            return
        ws, first = self.ws, self.first
        sst = ws.str_table._get_shared_string_index  # in column order, as cell by cell
        for k, (j, kind, values, formats) in enumerate(self.columns):
            self._heads(j)
            if kind == STRINGS:
                self.columns[k] = (j, kind, [None if v is None else sst(v) for v in values],
                                   formats)
            elif kind == DATES:
                self.columns[k] = (j, NUMBERS, [None if v is None else ws._convert_date_time(v)
                                                for v in values], formats)
        for j in sorted(self.heads):
            self._heads(j)
        cols = np.array([j for j, *_ in self.columns])
        filled = np.array([[v is not None for v in values] for _, _, values, _ in self.columns],
                          dtype=bool).reshape(len(self.columns), -1)
        has = filled.any(axis=0)
        if not has.any():
            return
        lo = cols[filled.argmax(axis=0)]
        hi = cols[len(cols) - 1 - filled[::-1].argmax(axis=0)]
        table = ws.table
        for i in np.flatnonzero(has).tolist():
            row = table[first + i]
            row[int(lo[i])] = _Row(self, i)
            if hi[i] != lo[i]:
                row[int(hi[i])] = NOTHING
        rows = np.flatnonzero(has)
        ws._check_dimensions(first + int(rows[-1]), int(cols.max()))
        ws._check_dimensions(first + int(rows[0]), int(cols.min()))
        _take_over(ws)

    def replay(self) -> None:
        """Write every stored cell through xlsxwriter, one by one."""
        ws, first = self.ws, self.first
        for j, kind, values, formats in self.columns:
            self._heads(j)
            each = formats if isinstance(formats, list) else None
            for i, v in enumerate(values):
                if v is None:
                    continue
                if kind == CELLS:
                    formats(first + i, j, v)
                elif kind == STRINGS:
                    ws.write_string(first + i, j, v, each[i] if each else formats)
                elif kind == NUMBERS:
                    ws.write_number(first + i, j, v, formats)
                else:
                    ws.write_datetime(first + i, j, v, formats)
        for j in sorted(self.heads):
            self._heads(j)

    def xml(self, i: int) -> str:
        if self._xml is None:
            self._xml = self._build()
        return self._xml[i]

    def _build(self) -> list[str]:
        """Every row's cells as XML; formats get their index in the order xlsxwriter would
        have asked for them (row by row), so styles.xml is as before."""
        first_use: dict[int, tuple[int, int, object]] = {}
        for j, _, values, formats in self.columns:
            if isinstance(formats, list):
                for i, (v, f) in enumerate(zip(values, formats, strict=True)):
                    if v is not None and first_use.get(id(f), (i + 1,))[0] > i:
                        first_use[id(f)] = (i, j, f)
            else:
                i = next((i for i, v in enumerate(values) if v is not None), None)
                if i is not None and first_use.get(id(formats), (i + 1,))[0] > i:
                    first_use[id(formats)] = (i, j, formats)
        xf = {key: f._get_xf_index() for key, (_, _, f) in
              sorted(first_use.items(), key=lambda kv: kv[1][:2])}
        parts = []
        self.columns.sort(key=lambda c: c[0])  # a row's cells in column order
        numbers = range(self.first + 1, self.first + 1 + len(self.columns[0][2]))
        for j, kind, values, formats in self.columns:
            col = xl_col_to_name(j)
            if isinstance(formats, list):
                styles = [xf.get(id(f), 0) for f in formats]
            else:
                styles = [xf.get(id(formats), 0)] * len(values)
            if kind == STRINGS:
                parts.append([f'<c r="{col}{r}" s="{s}" t="s"><v>{v}</v></c>' if v is not None
                              else "" for r, v, s in zip(numbers, values, styles, strict=True)])
            else:
                parts.append([f'<c r="{col}{r}" s="{s}"><v>{v:.16G}</v></c>' if v is not None
                              else "" for r, v, s in zip(numbers, values, styles, strict=True)])
        return ["".join(cells) for cells in zip(*parts, strict=True)]


def _take_over(ws) -> None:
    """Make the sheet write a row pseudo-cell as its row's XML (once per sheet)."""
    if getattr(ws, "_skyddsnat_rows", False):
        return
    original = ws._write_cell

    def write_cell(row: int, col: int, cell) -> None:
        if cell.__class__ is _Row:
            ws.fh.write(cell.rows.xml(cell.i))
        elif cell is not NOTHING:
            original(row, col, cell)

    ws._write_cell = write_cell
    ws._skyddsnat_rows = True
