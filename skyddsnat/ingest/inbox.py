"""Finding source files in the inbox by the file names of the source catalogue (`fil`).

Snapshots: the newest file dated on or before the reference date. Period files (monthly
invoices, yearly incomes, term grades): every file up to the reference date. Daily
attendance: one file per day.
A file is complete when it ends with a newline and has not changed for a while — the
sensor never takes a file that is still being written.
"""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

from skyddsnat.ingest.catalog import SourceEntry, catalog
from skyddsnat.policy import Policy


def _stamp_date(stamp: str) -> date:
    if stamp[:2] in ("HT", "VT"):  # a term: HT from 1 July, VT from 1 January
        return date(int(stamp[2:]), 7 if stamp.startswith("HT") else 1, 1)
    if len(stamp) == 8:
        return date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
    if len(stamp) == 6:
        return date(int(stamp[:4]), int(stamp[4:]), 1)
    return date(int(stamp), 1, 1)


def files_for(inbox: Path, source: SourceEntry, as_of: date | None = None
              ) -> list[tuple[date, Path]]:
    """All files of a source, oldest first, dated on or before as_of when given."""
    rx = source.pattern
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


def newest_snapshot(inbox: Path, source: SourceEntry, as_of: date) -> Path | None:
    files = files_for(inbox, source, as_of)
    return files[-1][1] if files else None


def daily_file(inbox: Path, source: SourceEntry, day: date) -> Path | None:
    for d, p in files_for(inbox, source, day):
        if d == day:
            return p
    return None


def any_source_file(policy: Policy) -> re.Pattern:
    """File names of every source of the policy (what the inbox sensor watches)."""
    return re.compile("|".join(f"(?:{e.pattern.pattern})" for e in catalog(policy).values()),
                      re.IGNORECASE)


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
