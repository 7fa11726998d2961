"""The 02:00 schedule under the daemon's own scheduler code, on a frozen clock.

Dagster's SchedulerDaemon iteration (`launch_scheduled_runs`) over the consortium's code
location (a real code server process), with the clock frozen just before and just after
02:00 Europe/Stockholm: each municipality's schedule ticks once and submits one queued run
for that municipality only. (Waiting for a real 02:00 is not a test; the launched runs
themselves are exercised by tests/test_konsortium_daemon.py.)
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import DagsterRunStatus, RunsFilter
from dagster._core.instance_for_test import instance_for_test
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._scheduler.scheduler import launch_scheduled_runs

from pipelines.drift import ROOT
from pipelines.jobs import KOMMUN_TAG
from skyddsnat.konsortium import ENV_FILE

pytestmark = [pytest.mark.slow, pytest.mark.daemon]

STOCKHOLM = ZoneInfo("Europe/Stockholm")
KODER = ("2260", "2281")


def _tick(context, when: datetime) -> None:
    with freeze_time(when):
        list(launch_scheduled_runs(context, logging.getLogger("SchedulerDaemon"), when, {}))


def test_the_daemon_ticks_each_municipalitys_schedule_at_two_stockholm_time(
        tmp_path: Path, monkeypatch):
    doc = {"namn": "Schemaprov", "schema_igang": True, "kommuner": {
        kod: {"namn": f"Kommun {kod}", "datakatalog": f"{kod}/data",
              "nyckelkatalog": f"{kod}/nycklar"} for kod in KODER}}
    path = tmp_path / "konsortium.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.setenv(ENV_FILE, str(path))  # inherited by the code server process
    queued = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
    with instance_for_test(overrides={"run_coordinator": queued}) as instance, \
            create_test_daemon_workspace_context(
                ModuleTarget("pipelines.definitions", None, str(ROOT), "skyddsnat"),
                instance) as context:
        _tick(context, datetime(2026, 11, 20, 1, 59, 30, tzinfo=STOCKHOLM))
        assert instance.get_runs_count() == 0  # before 02:00: nothing
        _tick(context, datetime(2026, 11, 20, 2, 0, 20, tzinfo=STOCKHOLM))
        for kod in KODER:
            runs = instance.get_runs(RunsFilter(tags={KOMMUN_TAG: kod}))
            assert len(runs) == 1, kod
            run = runs[0]
            assert run.status == DagsterRunStatus.QUEUED
            assert run.job_name == f"nattlig_korning_{kod}"
            assert run.tags["dagster/schedule_name"] == f"nattlig_schema_{kod}"
            cfg = run.run_config["resources"]["skyddsnat"]["config"]
            assert cfg["as_of"] == "2026-11-20" and cfg["kommunkod"] == kod
            assert cfg["data_dir"] == str((tmp_path / kod / "data").resolve())
        _tick(context, datetime(2026, 11, 20, 2, 5, tzinfo=STOCKHOLM))
        assert instance.get_runs_count() == len(KODER)  # one tick per night, not per loop
