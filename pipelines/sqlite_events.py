"""Dagster's SQLite event log, written without a disk flush per event during a CLI run.

Dagster's SQLite storage (the default instance under DAGSTER_HOME) opens a connection per
event, commits it and closes it. In WAL mode every commit then syncs the WAL to disk, and
every close of the last connection checkpoints the WAL into the database and syncs both:
three to five `fsync` per event, some 300 events in a night and 900 in a backfill. On this
2-core VM that was seconds of a night spent waiting for the disk.

During a run, `event_writes()`:
- sets `PRAGMA synchronous=NORMAL` on every SQLite connection the process opens. In WAL mode
  that is SQLite's recommended setting: the database stays consistent through a crash or a
  power loss; a power loss may lose the last events written, never corrupt the file;
- keeps one extra connection open to each SQLite file Dagster touches, so the per-event
  close is not the last and does not checkpoint. SQLite still checkpoints when the WAL
  reaches its auto-checkpoint size, and when the run ends and these connections close.

PostgreSQL (the consortium's instance) is not touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def event_writes() -> Iterator[None]:
    """SQLite writes of Dagster's storage in this process: no flush per event (see above)."""
    held: dict[str, sqlite3.Connection] = {}

    def on_connect(dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        # Held only once Dagster has put the file in WAL mode (a second connection would
        # keep the switch from happening).
        if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            return
        for _, name, path in dbapi_connection.execute("PRAGMA database_list").fetchall():
            if name == "main" and path and path not in held:
                holder = sqlite3.connect(path, check_same_thread=False)
                holder.execute("PRAGMA synchronous=NORMAL")
                held[path] = holder

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)
        for holder in held.values():
            holder.close()
