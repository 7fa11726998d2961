"""A CLI run's Dagster events reach the SQLite instance whole, without a flush per event."""

from __future__ import annotations

import sqlite3

from dagster import DagsterInstance, job, op
from sqlalchemy import create_engine, text

from pipelines.sqlite_events import event_writes


@op
def one():
    return 1


@job
def tiny():
    one()


def _synchronous(path) -> int:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        return conn.execute(text("PRAGMA synchronous")).scalar()


def test_every_event_is_stored_and_the_setting_ends_with_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    probe = tmp_path / "probe.db"
    with DagsterInstance.get() as instance:
        baseline = tiny.execute_in_process(instance=instance)
        with event_writes():
            assert _synchronous(probe) == 1  # NORMAL while the run writes
            result = tiny.execute_in_process(instance=instance)
            wal = tmp_path / "history" / "runs" / f"{result.run_id}.db-wal"
            assert wal.exists()  # not checkpointed at each event's close
        assert not wal.exists()  # checkpointed once, when the run's holder closed
        assert _synchronous(probe) == 2  # FULL, SQLite's default, after it
        assert result.success
        stored = instance.all_logs(result.run_id)
        assert len(stored) == len(instance.all_logs(baseline.run_id)) > 5
    shard = tmp_path / "history" / "runs" / f"{result.run_id}.db"
    conn = sqlite3.connect(shard)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT count(*) FROM event_logs").fetchone()[0] == len(stored)
