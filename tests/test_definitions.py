"""The code location: it loads, its graph is what we reviewed, schedule and sensor behave."""

import os
import shutil
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.definitions import build_definitions, defs
from pipelines.jobs import JOB_NAME, RANGE_END, RANGE_START
from pipelines.schedules import build_schedule
from pipelines.sensors import build_sensor
from skyddsnat.layout import DataDir
from skyddsnat.policy import load_policy
from skyddsnat.rules.attendance_start import attendance_start

GRAPH_SNAPSHOT = Path(__file__).parent / "asset_graph.txt"


def _graph_lines() -> list[str]:
    graph = defs.get_repository_def().asset_graph
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parents = ",".join(sorted(p.to_user_string() for p in node.parent_keys))
        lines.append(f"{key.to_user_string()} [{node.group_name}] <- {parents}")
    return lines


def test_definitions_load_with_groups_descriptions_and_checks():
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name != "default", key
        assert node.description, key
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for source in ("folkbokforing", "elevregister", "narvaro", "avgifter"):
        for name in ("radrakning", "pandera", "great_expectations"):
            assert (source, name) in checks
    assert repo.get_job(JOB_NAME)


def test_every_asset_check_is_described_in_swedish():
    graph = defs.get_repository_def().asset_graph
    assert graph.asset_check_keys
    for key in graph.asset_check_keys:
        description = graph.get_check_spec(key).description or ""
        assert len(description) > 20 and set(description) & set("åäöÅÄÖ"), key


def test_shipped_instance_config_turns_off_telemetry_and_the_first_visit_dialog(tmp_path):
    shutil.copy(Path(__file__).parent.parent / "pipelines" / "dagster.yaml",
                tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.nux_enabled is False  # no "join the community" dialog in the UI
    assert instance.get_settings("telemetry") == {"enabled": False}


def test_asset_graph_matches_the_reviewed_snapshot():
    """Graph changes are reviewed: regenerate with UPDATE_GRAPH_SNAPSHOT=1 and commit."""
    lines = _graph_lines()
    if os.environ.get("UPDATE_GRAPH_SNAPSHOT"):
        GRAPH_SNAPSHOT.write_text("\n".join(lines) + "\n")
    assert GRAPH_SNAPSHOT.read_text().splitlines() == lines


def test_schedule_runs_at_two_stockholm_time_with_the_day_as_reference(tmp_path):
    sched = build_schedule(str(tmp_path), str(tmp_path / "keys"))
    assert sched.cron_schedule == "0 2 * * *"
    assert sched.execution_timezone == "Europe/Stockholm"
    when = datetime(2026, 3, 29, 2, 0, tzinfo=ZoneInfo("Europe/Stockholm"))  # DST switch day
    ctx = dg.build_schedule_context(scheduled_execution_time=when)
    request = sched.evaluate_tick(ctx).run_requests[0]
    cfg = request.run_config["resources"]["skyddsnat"]["config"]
    assert cfg["as_of"] == "2026-03-29"
    assert request.tags[RANGE_END] == "2026-03-29"


def test_sensor_waits_for_a_file_still_being_written(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sensor = build_sensor(str(tmp_path), str(tmp_path / "keys"), settle_seconds=30)
    half = inbox / "narvaro_20261120.csv"
    half.write_text("datum;personnummer;skolenhetskod;schemalagd_min;giltig_franvaro_min;ogi")
    ctx = dg.build_sensor_context(cursor=None)
    result = sensor.evaluate_tick(ctx)
    assert not result.run_requests
    # Finished and settled: it triggers once, with the missing day in the partition range.
    half.write_text(half.read_text() + "ltig_franvaro_min\n")
    old = time.time() - 120
    os.utime(half, (old, old))
    ctx = dg.build_sensor_context(cursor=result.cursor)
    result = sensor.evaluate_tick(ctx)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags[RANGE_START] == "2026-11-20"
    # The same file does not start a second run.
    again = sensor.evaluate_tick(dg.build_sensor_context(cursor=result.cursor))
    assert not again.run_requests
    # Nor does its removal by the inbox cleanup.
    half.unlink()
    gone = sensor.evaluate_tick(dg.build_sensor_context(cursor=again.cursor))
    assert not gone.run_requests


def test_sensor_ignores_files_that_are_not_sources(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stray = inbox / "anteckningar.txt"
    stray.write_text("x\n")
    old = time.time() - 120
    os.utime(stray, (old, old))
    sensor = build_sensor(str(tmp_path), str(tmp_path / "keys"), settle_seconds=30)
    assert not sensor.evaluate_tick(dg.build_sensor_context(cursor=None)).run_requests


def test_attendance_partitions_start_at_the_first_day_the_data_can_have(tmp_path):
    data = DataDir(tmp_path)
    # Nothing on record yet: the current läsår's start.
    assert attendance_start(data, date(2026, 12, 1), load_policy()) == date(2026, 7, 1)
    assert attendance_start(data, date(2026, 6, 30), load_policy()) == date(2025, 7, 1)
    data.inbox.mkdir(parents=True)
    (data.inbox / "narvaro_20260817.csv").write_text("x\n")
    (data.inbox / "narvaro_20260818.csv").write_text("x\n")
    assert attendance_start(data, date(2026, 12, 1), load_policy()) == date(2026, 8, 17)
    # A day already stored keeps the start after its inbox file is archived.
    (data.inbox / "narvaro_20260817.csv").unlink()
    data.partition("narvaro", "2026-08-17").parent.mkdir(parents=True)
    data.partition("narvaro", "2026-08-17").write_bytes(b"")
    assert attendance_start(data, date(2027, 9, 1), load_policy()) == date(2026, 8, 17)
    # A backfill of an older term moves it back; the code location follows its data dir.
    (data.inbox / "narvaro_20260112.csv").write_text("x\n")
    job = build_definitions(str(tmp_path), str(tmp_path / "keys")).resolve_job_def(JOB_NAME)
    keys = job.partitions_def.get_partition_keys()
    assert keys[0] == "2026-01-12" and "2026-11-20" in keys
