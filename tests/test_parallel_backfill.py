"""A backfill whose day files are ingested in worker processes stores exactly what a serial
one stores: the same partitions, the same accounting, the same encrypted archive."""

import shutil
from datetime import date

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance

from pipelines.runner import run_nightly
from skyddsnat.generate import TINY, generate
from skyddsnat.privacy.keys import init_keys

AS_OF = date(2026, 11, 20)
_KEYS: list = []  # the key dir and the generated inbox of the module's municipality


def _backfill(root, base, monkeypatch, workers: str):
    shutil.copytree(base / "data", root / "data")
    monkeypatch.setenv("SKYDDSNAT_INGEST_WORKERS", workers)
    instance = DagsterInstance.ephemeral()
    outcome = run_nightly(root / "data", base / "keys", AS_OF, instance=instance)
    assert outcome.success, outcome.failures
    [run] = instance.get_runs(limit=1)
    logs = [r.dagster_event for r in instance.all_logs(run.run_id) if r.dagster_event]
    messages = [r.user_message for r in instance.all_logs(run.run_id)]
    return root / "data", _partition_metadata(logs), messages


def _partition_metadata(logs) -> dict[str, dict]:
    """Each attendance partition's materialization metadata, by partition key."""
    out = {}
    for e in logs:
        if (e.event_type == DagsterEventType.ASSET_MATERIALIZATION
                and e.asset_key.to_user_string() == "narvaro"):
            m = e.event_specific_data.materialization
            out[m.partition] = {k: v.value for k, v in m.metadata.items()}
    return out


def _day_file_rows(inbox, day: str) -> int:
    """Data lines of a day's attendance file (header and blank lines left out)."""
    path = inbox / f"narvaro_{day.replace('-', '')}.csv"
    if not path.exists():
        return 0
    lines = path.read_bytes().splitlines()
    return sum(1 for line in lines[1:] if line.strip())


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    base = tmp_path_factory.mktemp("base")
    generate(TINY, base / "data", AS_OF, seed=3)
    init_keys(base / "keys", base / "officer.key")
    _KEYS[:] = [base / "keys", base / "data" / "inbox"]
    mp = pytest.MonkeyPatch()
    try:
        serial = _backfill(tmp_path_factory.mktemp("serial"), base, mp, "1")
        parallel = _backfill(tmp_path_factory.mktemp("parallel"), base, mp, "2")
    finally:
        mp.undo()
    return serial, parallel


def test_the_backfill_used_worker_processes(both):
    (_, _, serial_log), (_, _, parallel_log) = both
    assert any("i 2 processer" in m for m in parallel_log)
    assert not any("processer" in m for m in serial_log)


def test_partitions_and_accounting_are_identical(both):
    (serial, serial_meta, _), (parallel, parallel_meta, _) = both
    assert serial_meta == parallel_meta
    assert sum(1 for m in serial_meta.values() if m["filer"] != "-") > 20
    days = sorted(p.name for p in (serial / "warehouse" / "narvaro").iterdir())
    assert days == sorted(p.name for p in (parallel / "warehouse" / "narvaro").iterdir())
    for day in days:
        pd.testing.assert_frame_equal(
            pd.read_parquet(serial / "warehouse" / "narvaro" / day),
            pd.read_parquet(parallel / "warehouse" / "narvaro" / day))


def test_every_day_file_is_archived_either_way(both):
    (serial, _, _), (parallel, _, _) = both

    def archived(data):
        return sorted(p.name for p in (data / "archive").rglob("*narvaro*"))

    assert archived(serial) == archived(parallel) and archived(serial)


def test_invoice_files_from_workers_give_the_same_table_and_vault(both):
    """A first night's invoice months are ingested in workers too; same table, same
    identities staged into the vault, same file cache."""
    from skyddsnat.privacy.identity_store import vault_person_ids

    (serial, _, _), (parallel, _, _) = both
    for table in ("avgifter", "betyg", "inkomster"):
        pd.testing.assert_frame_equal(pd.read_parquet(serial / "warehouse" / f"{table}.parquet"),
                                      pd.read_parquet(parallel / "warehouse" / f"{table}.parquet"))
    held = [sorted(vault_person_ids(d / "vault").to_pylist()) for d in (serial, parallel)]
    assert held[0] == held[1] and held[0]
    cached = sorted(p.name for p in (serial / "warehouse" / "_filcache" / "avgifter").iterdir())
    assert len(cached) >= 8
    assert cached == sorted(
        p.name for p in (parallel / "warehouse" / "_filcache" / "avgifter").iterdir())


def test_each_partition_counts_its_own_day_file_in_a_backfill_and_a_night(both, tmp_path):
    """The single-run backfill writes one materialization per day, each counting that
    day's file only; the partitions' counts sum to the rows of the day files. A night
    (one partition) counts the reference day's file."""
    (serial, meta, _), _ = both
    inbox = _KEYS[1]  # the inbox as delivered: the run removed what it processed
    for day, m in meta.items():
        assert m["rader_lasta"] == _day_file_rows(inbox, day), day
        assert m["rader_lasta"] == m["rader_godkanda"] + m["rader_karantan"]
        assert m["filer"] in ("-", f"narvaro_{day.replace('-', '')}.csv")
    total = sum(sum(1 for line in p.read_bytes().splitlines()[1:] if line.strip())
                for p in inbox.glob("narvaro_*.csv"))
    assert sum(m["rader_lasta"] for m in meta.values()) == total > 0
    assert len({m["rader_lasta"] for m in meta.values() if m["filer"] != "-"}) > 1
    day_file = f"narvaro_{AS_OF:%Y%m%d}.csv"  # the night's file, delivered again
    shutil.copy(inbox / day_file, serial / "inbox" / day_file)
    instance = DagsterInstance.ephemeral()
    outcome = run_nightly(serial, _KEYS[0], AS_OF, instance=instance)
    assert outcome.success, outcome.failures
    [run] = instance.get_runs(limit=1)
    night = _partition_metadata([r.dagster_event for r in instance.all_logs(run.run_id)
                                 if r.dagster_event])
    assert list(night) == [AS_OF.isoformat()]
    assert night[AS_OF.isoformat()]["rader_lasta"] == _day_file_rows(inbox, AS_OF.isoformat())
