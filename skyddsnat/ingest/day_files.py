"""Which delivery of each attendance day file the warehouse holds: corrections are re-read.

Schools correct absence after the fact, and some systems re-send a rolling window of days.
A day whose file in the inbox differs from the one that was read is read again (the latest
delivery of a day replaces the earlier one). Size and modification time decide cheaply;
only when they differ is the content compared, by a SHA-256 digest kept in
`state/narvaro_filer.json` (digests and dates only, no value of the file).
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from skyddsnat.ingest.inbox import fingerprint
from skyddsnat.privacy.storage import file_sha256

LEDGER = "narvaro_filer.json"



class DayFiles:
    """The ledger of day files read: day -> size:mtime and content digest."""

    def __init__(self, state: Path):
        self.path = Path(state) / LEDGER
        try:
            self.days: dict[str, dict[str, str]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.days = {}

    def changed(self, day: date, path: Path) -> bool:
        """Was a different file read for `day` than the one in the inbox now?

        A day read before this ledger existed counts as unchanged (nothing to compare).
        """
        seen = self.days.get(day.isoformat())
        if seen is None or seen.get("fp") == fingerprint(path):
            return False
        return seen.get("sha256") != file_sha256(path)

    def note(self, day: date, path: Path) -> None:
        self.days[day.isoformat()] = {"fp": fingerprint(path), "sha256": file_sha256(path)}

    def forget(self, day: date) -> None:
        self.days.pop(day.isoformat(), None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.days, sort_keys=True, indent=0))
        os.replace(tmp, self.path)
