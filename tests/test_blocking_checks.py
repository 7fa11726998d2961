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
from skyddsnat.policy import DEFAULT_POLICY_DIR
from skyddsnat.privacy.keys import init_keys

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
    # Without a minimum row count, so the blocking GX check (not the freshness rule's
    # volume test, which would stop the asset first) is what fails here.
    policies = root / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    kallor = policies / "kallor.yaml"
    kallor.write_text(kallor.read_text(encoding="utf-8").replace("min_rader: 1", "min_rader: 0"),
                      encoding="utf-8")
    instance = DagsterInstance.ephemeral()
    outcome = run_nightly(root / "data", root / "keys", AS_OF, instance=instance,
                          policy_dir=policies)
    return root, outcome, instance


def test_without_the_check_the_volume_rule_stops_a_register_of_nobody(tmp_path):
    """With the policy's min_rader the same register stops at its source asset."""
    from skyddsnat.ingest.freshness import snapshot_volume_finding
    from skyddsnat.policy import load_policy

    rule = load_policy().kallor.kallor["folkbokforing"]
    assert snapshot_volume_finding("folkbokforing", rule, "f.csv", 0, None).stops


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


def weakened(real):
    """suppress_table, then one secondary cell published again (status and value), chosen so
    that the audit of the result fails: the table a careless hand edit would deliver."""
    from dataclasses import replace

    from skyddsnat.rules.disclosure_audit import audit
    from skyddsnat.rules.suppression import PUBLICERAD, SEKUNDAR

    def suppress(inner, structure, k, **kw):
        result = real(inner, structure, k, **kw)
        for m in structure.measures:
            for i in result.status.index[result.status[m] == SEKUNDAR]:
                status = result.status.copy()
                status.loc[i, m] = PUBLICERAD
                candidate = replace(result, status=status)
                if not audit(candidate.published(), structure, k, kw.get("symbol", "..")).passed:
                    return candidate
        raise AssertionError("no secondary cell whose removal the audit would catch")
    return suppress


@pytest.fixture(scope="module")
def weakened_kommunbild(tmp_path_factory):
    import skyddsnat.rules.kommunbild as kb

    root = tmp_path_factory.mktemp("weakened")
    generate(TINY, root / "data", AS_OF, seed=5)
    init_keys(root / "keys", root / "officer.key")
    # The same night with the real suppression first: its audit's memo of proven components
    # is put beside the weakened table, which must fail all the same.
    good = tmp_path_factory.mktemp("good")
    shutil.copytree(root / "data", good / "data")
    assert run_nightly(good / "data", root / "keys", AS_OF,
                       instance=DagsterInstance.ephemeral()).success
    memo = good / "data" / "warehouse" / "_filcache" / "rojandekontroll"
    assert (memo / "kommunbild_tabell.json").exists()
    shutil.copytree(memo, root / "data" / "warehouse" / "_filcache" / "rojandekontroll")
    instance = DagsterInstance.ephemeral()
    mp = pytest.MonkeyPatch()
    mp.setattr(kb, "suppress_table", weakened(kb.suppress_table))
    try:
        outcome = run_nightly(root / "data", root / "keys", AS_OF, instance=instance)
    finally:
        mp.undo()
    return root, outcome, instance


def test_a_weakened_board_table_fails_its_audit_and_withholds_the_delivery(weakened_kommunbild):
    root, outcome, instance = weakened_kommunbild
    assert not outcome.success
    assert "kontroll rojandekontroll på kommunbild_tabell underkänd" in outcome.failures
    records = instance.get_records_for_run(outcome.run_id).records
    done = {r.event_log_entry.dagster_event.step_key for r in records
            if r.event_log_entry.dagster_event
            and r.event_log_entry.dagster_event.event_type == DagsterEventType.STEP_SUCCESS}
    assert "kommunbild_tabell" in done and "leverans" not in done
    assert not (root / "data" / "outbox" / AS_OF.isoformat()).exists()
    checks = [r.event_log_entry.dagster_event.event_specific_data for r in records
              if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_type
              == DagsterEventType.ASSET_CHECK_EVALUATION]
    by_name = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in checks}
    assert by_name[("kommunbild_tabell", "rojandekontroll")] is False
    assert by_name[("atgardsprogram_kommun", "rojandekontroll")] is True
    assert by_name[("kommunbild_tabell", "diagram_ur_publicerade_celler")] is True
