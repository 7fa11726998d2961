"""A failed blocking check stops everything downstream in the same run, and nothing is
delivered: an empty population register must not produce a school-duty list of nobody."""

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from pipelines.runner import run_nightly
from skyddsnat.generate import TINY, generate
from skyddsnat.keys import init_keys

AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def broken_register(tmp_path_factory):
    root = tmp_path_factory.mktemp("blocking")
    generate(TINY, root / "data", AS_OF, seed=5)
    path = next((root / "data" / "inbox").glob("folkbokforing_*.csv"))
    lines = path.read_bytes().split(b"\r\n")
    # Every personnummer gets a wrong check digit: all rows are quarantined.
    broken = [lines[0]] + [b"19" + ln[:10] + b"-0000" + ln[ln.index(b";"):] if ln else ln
                           for ln in lines[1:]]
    path.write_bytes(b"\r\n".join(broken))
    init_keys(root / "keys", root / "officer.key")
    instance = DagsterInstance.ephemeral()
    outcome = run_nightly(root / "data", root / "keys", AS_OF, instance=instance)
    return root, outcome, instance


def test_the_run_fails_on_the_blocking_check(broken_register):
    _, outcome, _ = broken_register
    assert not outcome.success
    assert any("great_expectations" in f and "folkbokforing" in f for f in outcome.failures)


def test_downstream_assets_were_not_materialised(broken_register):
    root, outcome, instance = broken_register
    records = instance.get_records_for_run(outcome.run_id).records
    done = {r.event_log_entry.dagster_event.step_key for r in records
            if r.event_log_entry.dagster_event
            and r.event_log_entry.dagster_event.event_type == DagsterEventType.STEP_SUCCESS}
    assert "skolplikt_arenden" not in done and "leverans" not in done
    assert "elevregister" in done  # independent branches still ran
    assert not (root / "data" / "outbox" / AS_OF.isoformat()).exists()


def test_dagster_definitions_validate_passes(tmp_path):
    dagster = Path(sys.executable).with_name("dagster")
    exe = str(dagster) if dagster.exists() else shutil.which("dagster")
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    r = subprocess.run([exe, "definitions", "validate", "-w", "workspace.yaml"], cwd=root,
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Validation successful" in r.stderr + r.stdout
