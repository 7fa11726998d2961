"""Where everything lives under a data dir. Only `inbox/` ever holds plaintext.

    inbox/                  source exports as delivered (plaintext, outside our control)
    warehouse/<table>/      pseudonymous Parquet tables (assets)
    vault/                  identity vault (AES-256-GCM) and sealed protected identities (HPKE)
    archive/                processed inbox files and quarantined rows, encrypted
    outbox/<date>/<role>/   delivered lists; restricted/ holds *.sealed
    state/                  case history, key check values, sensor bookkeeping, what each
                            source rested on (state/kallor/), attendance files read
    logs/                   Dagster's event lines of each `skyddsnat run` (no personal data)
    audit/                  hash-chained audit log
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def vault(self) -> Path:
        return self.root / "vault"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def audit(self) -> Path:
        return self.root / "audit"

    def table(self, name: str) -> Path:
        """A pseudonymous table: warehouse/<name>.parquet."""
        return self.warehouse / f"{name}.parquet"

    def partition(self, name: str, key: str) -> Path:
        """One partition of a partitioned table: warehouse/<name>/<key>.parquet."""
        return self.warehouse / name / f"{key}.parquet"

    def partition_days(self, name: str, until: date | None = None) -> list[date]:
        """The days of a day-partitioned table already stored, oldest first (up to `until`)."""
        folder = self.warehouse / name
        days = []
        for p in folder.glob("*.parquet") if folder.is_dir() else ():
            try:
                day = date.fromisoformat(p.stem)
            except ValueError:
                continue
            if until is None or day <= until:
                days.append(day)
        return sorted(days)

    def delivery(self, as_of: str) -> Path:
        return self.outbox / as_of

    def ensure(self) -> DataDir:
        for p in (self.inbox, self.warehouse, self.vault, self.archive, self.outbox,
                  self.state, self.audit):
            p.mkdir(parents=True, exist_ok=True)
        return self
