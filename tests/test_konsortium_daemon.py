"""The consortium under a real `dagster-daemon` (SQLite storage under a temp DAGSTER_HOME;
`make konsortium` runs the same deployment on PostgreSQL).

Three tiny municipalities in one code location, each with its own data dir and keys:
- A (canaries in its protected records) first has only a half-written export in its inbox:
  its sensor ticks and skips; then the complete export lands, and the sensor's tick launches
  A's run, which succeeds. A second file for A meanwhile waits in the queue (one run per
  kommunkod) until the first is done.
- B is complete from the start and succeeds; none of A's canaries reaches B's data dir,
  outbox, run config, tags or events, nor any storage or log of the deployment.
- C has a missing key: its run fails before reading data, and neither stops nor delays B.

    pytest -m daemon        # this test alone
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from bench.konsortium import fresh_data_dir, settle
from pipelines.drift import Deployment, instance_yaml
from pipelines.jobs import KOMMUN_TAG
from skyddsnat.generate import TINY, generate
from skyddsnat.konsortium import ENV_FILE, ENV_ROOT, load_konsortium
from skyddsnat.privacy.keys import PSEUDONYM_FILE, init_keys
from tests.canary import files_under, personnummer_in, read_text, tokens_for
from tests.test_end_to_end import _plant_canaries

pytestmark = [pytest.mark.slow, pytest.mark.daemon]

A, B, C = "2260", "2281", "2262"
TIMEOUT = 420
NOT_STARTED = DagsterRunStatus.NOT_STARTED


def _consortium(root: Path) -> Path:
    doc = {"namn": "Provkonsortiet", "kommuner": {
        kod: {"namn": f"Kommun {kod}", "datakatalog": f"{kod}/data",
              "nyckelkatalog": f"{kod}/nycklar"} for kod in (A, B, C)},
        "schema_igang": False, "inkorg_igang": True, "inkorg_intervall_sekunder": 2,
        "inkorg_vila_sekunder": 2}
    path = root / "konsortium.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _runs(instance, kod):
    return sorted(instance.get_run_records(RunsFilter(tags={KOMMUN_TAG: kod})),
                  key=lambda r: r.create_timestamp)


def _until(what: str, check, timeout: float = TIMEOUT, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _event_time(instance, run_id: str, event_type) -> float:
    return next(e.timestamp for e in instance.all_logs(run_id, of_type=event_type))


def _sensor_ticks(instance, name: str):
    for state in instance.all_instigator_state():
        if state.name == name:
            return instance.get_ticks(state.instigator_origin_id, state.selector_id)
    return []


@pytest.fixture(scope="module")
def konsortium(tmp_path_factory):
    root = tmp_path_factory.mktemp("konsortium")
    path = _consortium(root)
    k = load_konsortium(path)
    as_of = datetime.now(ZoneInfo("Europe/Stockholm")).date()
    staged, truths = {}, {}
    for i, place in enumerate(k.kommuner):
        gen = root / "genererat" / place.kommunkod
        prof = replace(TINY, kommunkod=place.kommunkod, name=f"tiny_{place.kommunkod}")
        truths[place.kommunkod] = generate(prof, gen, as_of, seed=101 + i).truth
        staged[place.kommunkod] = gen / "inbox"
        init_keys(place.key_dir, place.key_dir.parent / "skyddsbehorig.key")
    canaries = _plant_canaries(staged[A], truths[A].protected, as_of)
    assert canaries
    for kod in (B, C):
        settle(staged[kod])
        fresh_data_dir(staged[kod], k.kommun(kod))
    (k.kommun(C).key_dir / PSEUDONYM_FILE).unlink()
    # A: only the first half of today's attendance file, cut mid-line, still being written.
    settle(staged[A])
    narvaro = next(staged[A].glob(f"narvaro_{as_of:%Y%m%d}.csv"))
    inbox_a = k.kommun(A).data_dir / "inbox"
    inbox_a.mkdir(parents=True)
    data = narvaro.read_bytes()
    (inbox_a / narvaro.name).write_bytes(data[: len(data) // 2].rstrip(b"\n") + b";12")

    deployment = Deployment(root, {ENV_FILE: str(path), ENV_ROOT: str(root),
                                   "SKYDDSNAT_INGEST_WORKERS": "1",
                                   "SKYDDSNAT_DELIVERY_WORKERS": "1"})
    deployment.write_instance(instance_yaml(3))
    try:
        deployment.start()
        instance = DagsterInstance.from_config(str(deployment.home))
        seen = {}
        # B and C are launched by their sensors; A's sensor skips the half-written file.
        for kod in (B, C):
            _until(f"run of {kod} finished", lambda kod=kod: (rs := _runs(instance, kod))
                   and rs[0].dagster_run.is_finished)
        a_ticks = _sensor_ticks(instance, f"inkorg_sensor_{A}")
        seen["a_runs_before_export"] = len(_runs(instance, A))
        seen["a_skips"] = [t.skip_reason for t in a_ticks]
        # The complete export lands (each file written under another name, then renamed).
        for f in sorted(staged[A].iterdir()):
            tmp = inbox_a / f".{f.name}.delvis"
            shutil.copy2(f, tmp)
            os.replace(tmp, inbox_a / f.name)
        first = _until("A's run", lambda: _runs(instance, A))[0]
        # Another file for A while its first run is under way: queued behind it.
        snapshot = next(staged[A].glob("folkbokforing_*.csv"))
        shutil.copyfile(snapshot, inbox_a / f".{snapshot.name}.delvis")
        old = time.time() - 300
        os.utime(inbox_a / f".{snapshot.name}.delvis", (old, old))
        os.replace(inbox_a / f".{snapshot.name}.delvis", inbox_a / snapshot.name)
        second = _until("A's second run submitted", lambda: (rs := _runs(instance, A))
                        and len(rs) > 1 and rs[1].dagster_run.status != NOT_STARTED
                        and rs[1], every=0.2)
        seen["a_first_status_when_second_queued"] = instance.get_run_by_id(
            first.dagster_run.run_id).status
        seen["a_second_status_at_start"] = second.dagster_run.status
        _until("A's runs finished", lambda: all(
            r.dagster_run.is_finished for r in _runs(instance, A)) and len(_runs(instance, A)) > 1)
        deployment.stop()  # everything below reads what the deployment left behind
        yield {"root": root, "k": k, "instance": instance, "canaries": canaries,
               "as_of": as_of, "seen": seen, "deployment": deployment}
    finally:
        deployment.stop()


def test_a_half_written_file_does_not_start_a_run(konsortium):
    seen = konsortium["seen"]
    assert seen["a_runs_before_export"] == 0
    assert seen["a_skips"] and all("1 skrivs fortfarande" in s for s in seen["a_skips"] if s)


def test_the_sensor_tick_launches_the_municipalitys_run_which_succeeds(konsortium):
    inst, k = konsortium["instance"], konsortium["k"]
    for kod in (A, B):
        run = _runs(inst, kod)[0].dagster_run
        assert run.status == DagsterRunStatus.SUCCESS, kod
        assert run.tags[KOMMUN_TAG] == kod and run.job_name == f"nattlig_korning_{kod}"
        assert run.tags["dagster/sensor_name"] == f"inkorg_sensor_{kod}"
        out = k.kommun(kod).data_dir / "outbox" / konsortium["as_of"].isoformat()
        assert (out / "skolpliktshandlaggare" / "skolplikt.xlsx").is_file()


def test_a_second_run_for_the_same_municipality_waits_in_the_queue(konsortium):
    seen, inst = konsortium["seen"], konsortium["instance"]
    assert seen["a_second_status_at_start"] == DagsterRunStatus.QUEUED
    assert seen["a_first_status_when_second_queued"] in (DagsterRunStatus.STARTING,
                                                          DagsterRunStatus.STARTED)
    first, second = _runs(inst, A)[:2]
    assert second.dagster_run.status == DagsterRunStatus.SUCCESS
    assert second.start_time >= first.end_time


def test_a_failing_municipality_stops_or_delays_no_other(konsortium):
    inst = konsortium["instance"]
    c = _runs(inst, C)[0]
    b = _runs(inst, B)[0]
    assert c.dagster_run.status == DagsterRunStatus.FAILURE
    assert b.dagster_run.status == DagsterRunStatus.SUCCESS
    # B was taken from the queue at once, not held until C's failure.
    queued, launched = (_event_time(inst, b.dagster_run.run_id, t) for t in
                        (DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING))
    assert launched - queued < 15
    assert not (konsortium["k"].kommun(C).data_dir / "warehouse").exists()  # no data read
    errors = [e for e in inst.all_logs(c.dagster_run.run_id)
              if e.dagster_event and e.dagster_event.is_failure]
    assert any("pseudonym" in repr(e.dagster_event.event_specific_data).lower()
               for e in errors)


def test_canaries_of_one_municipality_never_reach_another_or_the_deployment(konsortium):
    root, k, inst = konsortium["root"], konsortium["k"], konsortium["instance"]
    canaries, as_of = konsortium["canaries"], konsortium["as_of"]
    words = {w for ws in canaries.values() for w in ws}
    pnr_tokens = {t for p in canaries for t in tokens_for(p)}
    others = [k.kommun(B).data_dir, k.kommun(C).data_dir, konsortium["deployment"].home,
              konsortium["deployment"].logs]
    scanned = 0
    for base in others:
        for f in files_under(base):
            text = read_text(f)
            scanned += 1
            assert not any(w in text for w in words), f
            assert not any(t in text for t in pnr_tokens), f
            assert not (personnummer_in(text, as_of) & set(canaries)), f
    assert scanned > 20
    a_dir = str(k.kommun(A).data_dir)
    for kod in (B, C):
        for rec in _runs(inst, kod):
            run = rec.dagster_run
            blob = repr(run.run_config) + repr(run.tags) + "".join(
                repr(e) for e in inst.all_logs(run.run_id))
            assert a_dir not in blob and str(root / A) not in blob
            assert not any(w in blob for w in words)
