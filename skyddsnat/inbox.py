"""Finding source files in the inbox by the contract's file names.

Snapshots: the newest file dated on or before the reference date. Monthly invoices and
yearly incomes: every file up to the reference date. Daily attendance: one file per day.
A file is complete when it ends with a newline and has not changed for a while — the
sensor never takes a file that is still being written.
"""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

PATTERNS = {
    "folkbokforing": r"folkbokforing_(\d{8})\.csv",
    "elevregister": r"elevregister_(\d{8})\.csv",
    "skolpliktsbeslut": r"skolpliktsbeslut_(\d{8})\.csv",
    "narvaro": r"narvaro_(\d{8})\.csv",
    "avgifter": r"avgifter_(\d{6})\.csv",
    "inkomster": r"inkomster_(\d{4})\.csv",
    "atgardsprogram": r"atgardsprogram_(\d{8})\.csv",
    "betyg": r"betyg_((?:HT|VT)\d{4})\.csv",
    "franvaroarenden": r"franvaroarenden_(\d{8})\.csv",
}
SNAPSHOTS = ("folkbokforing", "elevregister", "skolpliktsbeslut", "atgardsprogram",
             "franvaroarenden")


def _stamp_date(stamp: str) -> date:
    if stamp[:2] in ("HT", "VT"):  # a term: HT from 1 July, VT from 1 January
        return date(int(stamp[2:]), 7 if stamp.startswith("HT") else 1, 1)
    if len(stamp) == 8:
        return date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
    if len(stamp) == 6:
        return date(int(stamp[:4]), int(stamp[4:]), 1)
    return date(int(stamp), 1, 1)


def files_for(inbox: Path, source: str, as_of: date | None = None) -> list[tuple[date, Path]]:
    """All files of a source, oldest first, dated on or before as_of when given."""
    rx = re.compile(PATTERNS[source], re.IGNORECASE)
    out = []
    if not Path(inbox).is_dir():
        return out
    for p in Path(inbox).iterdir():
        m = rx.fullmatch(p.name)
        if not m or not p.is_file():
            continue
        try:
            d = _stamp_date(m.group(1).upper())
        except ValueError:
            continue
        if as_of is None or d <= as_of:
            out.append((d, p))
    return sorted(out)


def newest_snapshot(inbox: Path, source: str, as_of: date) -> Path | None:
    files = files_for(inbox, source, as_of)
    return files[-1][1] if files else None


def daily_file(inbox: Path, source: str, day: date) -> Path | None:
    for d, p in files_for(inbox, source, day):
        if d == day:
            return p
    return None


def is_complete(path: Path, settle_seconds: float = 30.0, now: float | None = None) -> bool:
    """A file still being written is not complete: it must end in a newline and be settled."""
    try:
        st = path.stat()
        if st.st_size == 0:
            return False
        with open(path, "rb") as fh:
            fh.seek(-1, 2)
            last = fh.read(1)
    except OSError:
        return False
    settled = ((time.time() if now is None else now) - st.st_mtime) >= settle_seconds
    return last in (b"\n", b"\r") and settled


def fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"
