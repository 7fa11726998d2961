"""Hash-chained, append-only audit log of re-identifications and deliveries.

Each line is canonical JSON carrying the hash of the previous line; `verify` recomputes the
chain and compares the head with a separately stored anchor, so an edited, removed,
inserted or reordered line is reported by its line number.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

GENESIS = "0" * 64
LOG_NAME = "revisionslogg.jsonl"
HEAD_NAME = "revisionslogg.head"


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


@dataclass
class AuditLog:
    directory: Path

    @property
    def path(self) -> Path:
        return Path(self.directory) / LOG_NAME

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self._lines()]

    def _lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return [line for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def has(self, event: str, key: str) -> bool:
        """Whether an entry with this event and idempotency key exists (re-runs add none)."""
        return (event, key) in self.keys()

    def keys(self, containing: str | None = None) -> set[tuple[str, str | None]]:
        """Every (event, key) in the log: one read for a whole batch of checks.

        With `containing`, only entries whose line holds that text (a delivery looks for
        the entries of its own date: parsing the whole log each night grew with the log).
        """
        return {(e["event"], e.get("key")) for e in map(json.loads, (
            line for line in self._lines() if containing is None or containing in line))}

    def append(self, event: str, details: dict, key: str | None = None) -> dict:
        return self.append_many([(event, details, key)])[0]

    def append_many(self, items: list[tuple[str, dict, str | None]]) -> list[dict]:
        """Append (event, details, key) entries in order, chained, with one fsync.

        A delivery appends hundreds of entries; reading the log and syncing once per entry
        made that quadratic in the log's length.
        """
        if not items:
            return []
        lines_before = self._lines()
        seq = len(lines_before)
        prev = json.loads(lines_before[-1])["hash"] if lines_before else GENESIS
        added, lines = [], []
        for event, details, key in items:
            seq += 1
            entry = {"seq": seq, "ts": datetime.now(UTC).isoformat(timespec="seconds"),
                     "event": event, "key": key, "details": details, "prev": prev}
            entry["hash"] = prev = _digest(entry)
            added.append(entry)
            lines.append(json.dumps(entry, sort_keys=True, ensure_ascii=False,
                                    separators=(",", ":")) + "\n")
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        head = Path(self.directory) / HEAD_NAME
        tmp = head.with_suffix(".tmp")
        tmp.write_text(f"{seq} {prev}\n")
        os.replace(tmp, head)
        return added

    def verify(self) -> list[str]:
        """Return the problems found; an empty list means the chain is intact."""
        problems: list[str] = []
        prev = GENESIS
        entries: list[dict] = []
        if self.path.exists():
            for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    problems.append(f"rad {n}: inte giltig JSON")
                    continue
                if not isinstance(entry, dict):
                    problems.append(f"rad {n}: inte en loggpost")
                    continue
                if entry.get("seq") != n:
                    problems.append(f"rad {n}: fel löpnummer (borttagen eller omflyttad rad)")
                if entry.get("prev") != prev:
                    problems.append(f"rad {n}: kedjan bruten (föregående hash stämmer inte)")
                if _digest(entry) != entry.get("hash"):
                    problems.append(f"rad {n}: innehållet är ändrat")
                prev = entry.get("hash", "")
                entries.append(entry)
        head = Path(self.directory) / HEAD_NAME
        if head.exists():
            anchor = head.read_text().split()
            if len(anchor) != 2 or not anchor[0].isdigit():
                problems.append("ankaret är skadat")
            elif int(anchor[0]) != len(entries) or anchor[1] != prev:
                problems.append("loggens slut stämmer inte med ankaret (rader borttagna i slutet)")
        elif entries:
            problems.append("ankaret saknas")
        return problems
