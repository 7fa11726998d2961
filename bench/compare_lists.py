"""Compare two deliveries list by list, by content: the proof that a refactor changed nothing.

    python -m bench.compare_lists OUTBOX_DAY_A OUTBOX_DAY_B

Every general list (`*.xlsx`) is read back by its contract column names — from the header
row that holds them, whichever layout the list has — with display values normalised to
codes ignoring case, accents and spaces (`Hög` = `hog`, `Placering avslutad` =
`placering_avslutad`). The timestamp row "Skapad" is ignored. Prints one line per file and
exits non-zero if any list differs.

    python -m bench.compare_lists --strikt OUTBOX_DAY_A OUTBOX_DAY_B

compares every sheet instead (Sammanfattning, Förklaring and Cellstatus too), cell by cell
in order, as displayed: for two runs of the same layout, where "by content" would let a
changed summary or explanation pass.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import openpyxl

from skyddsnat.lists.labels import CODED_COLUMNS, MULTI_VALUED, SEPARATOR, to_code

SKIP_SUMMARY = {"Skapad"}


def _norm(v, column: str = ""):
    if isinstance(v, str) and column in CODED_COLUMNS:
        parts = v.split(SEPARATOR) if column in MULTI_VALUED else [v]
        v = SEPARATOR.join(sorted(to_code(x) for x in parts))
    if isinstance(v, str):
        t = unicodedata.normalize("NFKD", v)
        t = "".join(c for c in t if not unicodedata.combining(c)).lower().strip()
        return t.replace(" ", "_")
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _sheet_rows(ws) -> tuple[list, list[tuple]]:
    rows = [r for r in ws.iter_rows(values_only=True)]
    for i, row in enumerate(rows[:4]):
        names = [c for c in row if c is not None]
        if names and all(isinstance(c, str) and c == c.lower() and " " not in c for c in names):
            return list(row), rows[i + 1:]
    return list(rows[0]) if rows else [], rows[1:]


def read(path: Path) -> dict[str, object]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    out: dict[str, object] = {}
    for ws in wb.worksheets:
        if ws.title in ("Sammanfattning", "Förklaring", "Cellstatus"):
            continue
        header, body = _sheet_rows(ws)
        keep = [i for i, h in enumerate(header) if h is not None]
        records = sorted(tuple((header[i], _norm(r[i] if i < len(r) else None, header[i]))
                               for i in keep)
                         for r in body if any(v is not None for v in r))
        out[ws.title] = records
    return out


def read_strict(path: Path) -> dict[str, list[tuple]]:
    """Every sheet's rows as displayed, in order, but the "Skapad" row."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    out = {}
    for ws in wb.worksheets:
        rows = [r for r in ws.iter_rows(values_only=True)
                if next((c for c in r if c is not None), None) not in SKIP_SUMMARY]
        while rows and all(c is None for c in rows[-1]):
            rows.pop()
        out[ws.title] = rows
    return out


def _strict_diff(a: Path, b: Path) -> tuple[list[str], bool]:
    left, right = read_strict(a), read_strict(b)
    sheets = [sheet for sheet in sorted(set(left) | set(right))
              if left.get(sheet) != right.get(sheet)]
    return ([f"blad: {', '.join(sheets)}"] if sheets else []), bool(sheets)


def _content_diff(a: Path, b: Path) -> tuple[list[str], bool]:
    left, right = read(a), read(b)
    diff = []
    for sheet in sorted(set(left) | set(right)):
        la, rb = left.get(sheet), right.get(sheet)
        if la is None or rb is None:
            continue  # a sheet only one layout has (e.g. a new explanation sheet)
        cols_a = {c for r in la for c, _ in r}
        cols_b = {c for r in rb for c, _ in r}
        common = cols_a & cols_b
        pa = sorted(tuple(x for x in r if x[0] in common) for r in la)
        pb = sorted(tuple(x for x in r if x[0] in common) for r in rb)
        if pa != pb:
            diff.append(f"{sheet}: {len(pa)} / {len(pb)} rader skiljer sig")
        if cols_a != cols_b:
            diff.append(f"{sheet}: kolumner {sorted(cols_a ^ cols_b)} bara i den ena")
    # Columns only one layout has are shown, not counted: a refactor may add a column.
    return diff, any("rader" in d for d in diff)


def _each_list(a: Path, b: Path, file_diff) -> int:
    """One line per list of either delivery; how many are missing or differ."""
    files_a = {p.relative_to(a).as_posix() for p in a.rglob("*.xlsx")}
    files_b = {p.relative_to(b).as_posix() for p in b.rglob("*.xlsx")}
    bad = 0
    for rel in sorted(files_a | files_b):
        if rel not in files_a or rel not in files_b:
            print(f"ENDAST I {'A' if rel in files_a else 'B'}: {rel}")
            bad += 1
            continue
        diff, differs = file_diff(a / rel, b / rel)
        detail = "  " + "; ".join(diff) if diff else ""
        print(("SKILLNAD " if diff else "lika     ") + rel + detail)
        bad += differs
    return bad


def compare_strict(a: Path, b: Path) -> int:
    return _each_list(a, b, _strict_diff)


def compare(a: Path, b: Path) -> int:
    return _each_list(a, b, _content_diff)


if __name__ == "__main__":
    strict = "--strikt" in sys.argv[1:]
    a, b = (Path(x) for x in sys.argv[1:] if x != "--strikt")
    sys.exit(1 if (compare_strict if strict else compare)(a, b) else 0)
