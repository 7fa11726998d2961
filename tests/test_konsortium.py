"""The consortium file and the code location it builds: every key mutated and observed, and
no path, key or tag of one municipality in another's job, schedule or sensor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from dagster import DefaultScheduleStatus, DefaultSensorStatus

from assets.constants import attendance_partitions
from pipelines.jobs import KOMMUN_TAG, RANGE_END
from pipelines.konsortium import VERSION_TAG, job_name, konsortium_definitions
from skyddsnat.konsortium import explain_section, load_konsortium
from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError

ROOT = Path(__file__).resolve().parent.parent
LOKAL = ROOT / "policies" / "konsortium" / "lokal.yaml"


def _doc() -> dict:
    return yaml.safe_load(LOKAL.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "konsortium.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _to_secret(kommun: dict, secret: str) -> None:
    kommun.pop("nyckelkatalog")
    kommun["nyckelhemlighet"] = secret


def _problems(tmp_path: Path, doc: dict) -> list[tuple[str, str, str]]:
    with pytest.raises(PolicyError) as exc:
        load_konsortium(_write(tmp_path, doc))
    return exc.value.problems


def test_the_reviewed_local_consortium_loads_with_separate_directories(tmp_path):
    k = load_konsortium(LOKAL, root=tmp_path)
    assert [p.kommunkod for p in k.kommuner] == ["2260", "2281", "2262"]
    assert k.kommun("2281").data_dir == (tmp_path / "2281" / "data").resolve()
    assert k.kommun("2281").key_dir == (tmp_path / "2281" / "nycklar").resolve()
    assert all(p.policy_dir == DEFAULT_POLICY_DIR for p in k.kommuner)
    assert len({p.data_dir for p in k.kommuner}) == 3 and len(k.version) == 16


def test_relative_paths_resolve_from_the_root_variable_else_the_file(tmp_path, monkeypatch):
    path = _write(tmp_path, _doc())
    assert load_konsortium(path).kommun("2260").data_dir == (tmp_path / "2260/data").resolve()
    monkeypatch.setenv("SKYDDSNAT_KONSORTIUM_ROT", str(tmp_path / "rot"))
    assert load_konsortium(path).kommun("2260").data_dir == (tmp_path / "rot/2260/data").resolve()


@pytest.mark.parametrize("mutate, key, message", [
    (lambda d: d["kommuner"].update({"226": d["kommuner"].pop("2260")}),
     "kommuner.226", "fyra siffror"),
    (lambda d: d["kommuner"]["2281"].update(datakatalog="2260/data"),
     "kommuner.2260.datakatalog", "kommunen 2281"),
    (lambda d: d["kommuner"]["2281"].update(datakatalog="2260/data/inbox"),
     "kommuner.2260.datakatalog", "kommunen 2281"),
    (lambda d: d["kommuner"]["2262"].update(nyckelkatalog="2260/nycklar"),
     "kommuner.2260.nyckelkatalog", "kommunen 2262"),
    (lambda d: d["kommuner"]["2262"].update(nyckelkatalog="2260/data/nycklar"),
     "kommuner.2260.nyckelkatalog", "kommunen 2262"),
    (lambda d: d["kommuner"]["2260"].update(nyckelkatalog="2260/data/nycklar"),
     "kommuner.2260.nyckelkatalog", "datakatalogen"),
    (lambda d: d["kommuner"]["2260"].update(nyckelhemlighet="ange-nycklar"),
     "kommuner.2260", "antingen"),
    (lambda d: d["kommuner"]["2260"].pop("nyckelkatalog"), "kommuner.2260", "antingen"),
    (lambda d: [_to_secret(d["kommuner"][k], "delad") for k in ("2260", "2281")],
     "kommuner.2260.nyckelhemlighet", "kommunen 2281"),
    (lambda d: d["kommuner"]["2260"].update(policykatalog="saknas"),
     "kommuner.2260.policykatalog", "filen saknas"),
    (lambda d: d["kommuner"]["2260"].update(datakatalogen="x"),
     "kommuner.2260.datakatalogen", "Extra inputs"),
    (lambda d: [d["kommuner"][k].update(volym="delad") for k in ("2260", "2281")],
     "kommuner.2260.volym", "kommunen 2281"),
    (lambda d: d.update(kommuner={}), "kommuner", "at least 1"),
    (lambda d: d.update(inkorg_intervall_sekunder=0), "inkorg_intervall_sekunder", "greater"),
])
def test_each_separation_rule_names_file_and_key(tmp_path, mutate, key, message):
    doc = _doc()
    mutate(doc)
    problems = _problems(tmp_path, doc)
    assert any(f == "konsortium.yaml" and k == key and message in m for f, k, m in problems), \
        problems


def test_a_municipality_can_have_its_own_reviewed_policy_dir(tmp_path):
    own = tmp_path / "policies_2281"
    shutil.copytree(DEFAULT_POLICY_DIR, own, ignore=shutil.ignore_patterns("konsortium"))
    doc = _doc()
    doc["kommuner"]["2281"]["policykatalog"] = str(own)
    k = load_konsortium(_write(tmp_path, doc))
    assert k.kommun("2281").policy_dir == own.resolve()
    assert k.kommun("2260").policy_dir == DEFAULT_POLICY_DIR


PARTITIONS = attendance_partitions(date(2026, 8, 17))


@pytest.fixture(scope="module")
def assets():
    from pipelines.definitions import nodes

    return nodes(PARTITIONS)


def _defs(tmp_path, assets, **changes):
    doc = {**_doc(), **changes}
    k = load_konsortium(_write(tmp_path, doc))
    return k, konsortium_definitions(k, assets, PARTITIONS)


def _job_config(job) -> dict:
    """The run config a job gives any of its days (the UI's launchpad starts from it)."""
    return job.partitioned_config.get_run_config_for_partition_key("2026-11-20")


def test_each_municipality_gets_its_own_job_config_and_tags(tmp_path, assets):
    k, defs = _defs(tmp_path, assets)
    repo = defs.get_repository_def()
    for place in k.kommuner:
        job = repo.get_job(job_name(place.kommunkod))
        assert job.tags[KOMMUN_TAG] == place.kommunkod and job.tags[VERSION_TAG] == k.version
        config = _job_config(job)
        cfg = config["resources"]["skyddsnat"]["config"]
        assert cfg["data_dir"] == str(place.data_dir) and cfg["key_dir"] == str(place.key_dir)
        assert cfg["kommunkod"] == place.kommunkod and cfg["as_of"] == ""
        assert config["resources"]["warehouse"]["config"]["data_dir"] == cfg["data_dir"]
        text = repr(config) + repr(job.tags)
        for other in k.kommuner:
            if other is not place:
                assert str(other.data_dir.parent) not in text
    assert not any(j.name == "nattlig_korning" for j in repo.get_all_jobs())


def test_the_two_oclock_tick_of_each_municipality_runs_only_that_municipality(tmp_path, assets):
    k, defs = _defs(tmp_path, assets)
    when = datetime(2026, 10, 25, 2, 0, tzinfo=ZoneInfo("Europe/Stockholm"))  # DST ends
    for place in k.kommuner:
        sched = defs.get_schedule_def(f"nattlig_schema_{place.kommunkod}")
        assert sched.cron_schedule == "0 2 * * *"
        assert sched.execution_timezone == "Europe/Stockholm"
        assert sched.job_name == job_name(place.kommunkod)
        req = sched.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when)
                                  ).run_requests[0]
        cfg = req.run_config["resources"]["skyddsnat"]["config"]
        assert cfg["data_dir"] == str(place.data_dir) and cfg["as_of"] == "2026-10-25"
        assert req.tags[KOMMUN_TAG] == place.kommunkod and req.tags[RANGE_END] == "2026-10-25"


def test_schedules_and_sensors_start_as_the_file_says(tmp_path, assets):
    _, off = _defs(tmp_path, assets, schema_igang=False, inkorg_igang=False)
    _, on = _defs(tmp_path, assets, schema_igang=True, inkorg_igang=True,
                  inkorg_intervall_sekunder=7)
    assert off.get_schedule_def("nattlig_schema_2260").default_status == \
        DefaultScheduleStatus.STOPPED
    assert on.get_schedule_def("nattlig_schema_2260").default_status == \
        DefaultScheduleStatus.RUNNING
    assert off.get_sensor_def("inkorg_sensor_2262").default_status == DefaultSensorStatus.STOPPED
    sensor = on.get_sensor_def("inkorg_sensor_2262")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 7


@pytest.mark.parametrize("settle, triggers", [(5, True), (600, False)])
def test_the_settle_time_decides_when_a_file_counts(tmp_path, assets, settle, triggers):
    k, defs = _defs(tmp_path, assets, inkorg_vila_sekunder=settle)
    place = k.kommun("2281")
    inbox = place.data_dir / "inbox"
    inbox.mkdir(parents=True)
    f = inbox / "narvaro_20261120.csv"
    f.write_text("datum;personnummer\n")
    old = time.time() - 60
    os.utime(f, (old, old))
    result = defs.get_sensor_def("inkorg_sensor_2281").evaluate_tick(
        dg.build_sensor_context(cursor=None))
    assert bool(result.run_requests) == triggers
    if triggers:
        req = result.run_requests[0]
        assert req.tags[KOMMUN_TAG] == "2281"
        assert req.run_config["resources"]["skyddsnat"]["config"]["data_dir"] == \
            str(place.data_dir)


def test_a_key_secret_and_volume_reach_only_that_municipalitys_run_pod(tmp_path, assets):
    doc = _doc()
    _to_secret(doc["kommuner"]["2262"], "skyddsnat-nycklar-2262")
    doc["kommuner"]["2262"]["volym"] = "skyddsnat-data-2262"
    k = load_konsortium(_write(tmp_path, doc))
    repo = konsortium_definitions(k, assets, PARTITIONS).get_repository_def()
    pod = json.loads(repo.get_job(job_name("2262")).tags["dagster-k8s/config"])
    assert pod["container_config"]["env_from"] == [
        {"secret_ref": {"name": "skyddsnat-nycklar-2262"}}]
    assert pod["pod_spec_config"]["volumes"][0]["persistent_volume_claim"] == {
        "claim_name": "skyddsnat-data-2262"}
    assert pod["container_config"]["volume_mounts"][0]["mount_path"] == \
        str(k.kommun("2262").data_dir)
    assert "dagster-k8s/config" not in repo.get_job(job_name("2260")).tags
    cfg = _job_config(repo.get_job(job_name("2262")))["resources"]["skyddsnat"]["config"]
    assert cfg["key_dir"] == ""


def test_the_register_of_processing_shows_the_consortium(tmp_path):
    k = load_konsortium(LOKAL, root=tmp_path)
    section = explain_section(k)
    assert section.title == "Konsortium: Mittkonsortiet (lokalt prov)"
    rows = section.tables[0][1]
    assert [r[0] for r in rows] == ["2260", "2281", "2262"] and rows[1][1] == "Sundsvall"
    assert "inkorgsbevakningen igång" in " ".join(section.paragraphs)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "skyddsnat.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=120)


def test_policy_check_and_explain_take_the_consortium_file(tmp_path):
    doc = _doc()
    doc["kommuner"]["2281"]["datakatalog"] = "2260/data"
    bad = _write(tmp_path, doc)
    r = _cli("policy", "check", "--konsortium", str(bad))
    assert r.returncode != 0
    assert "konsortium.yaml: kommuner.2260.datakatalog: delas med eller överlappar" in r.stderr
    r = _cli("policy", "explain", env={"SKYDDSNAT_KONSORTIUM": str(LOKAL),
                                       "SKYDDSNAT_KONSORTIUM_ROT": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "## Konsortium: Mittkonsortiet (lokalt prov)" in r.stdout and "| 2262 | Timrå |" in \
        r.stdout


def test_one_municipality_needs_no_consortium_file_and_its_runs_carry_its_kommunkod(tmp_path):
    from pipelines.definitions import defs
    from pipelines.schedules import build_schedule

    assert "SKYDDSNAT_KONSORTIUM" not in os.environ
    # The nightly job and the sources' freshness checks (pipelines/freshness_checks.py).
    assert [j.name for j in defs.get_repository_def().get_all_jobs()
            if not j.name.startswith("__")] == ["farskhetskontroll", "nattlig_korning"]
    when = datetime(2026, 11, 20, 2, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    req = build_schedule(str(tmp_path), "").evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=when)).run_requests[0]
    assert req.tags[KOMMUN_TAG] == "2260"  # policies/skolplikt.yaml
    assert defs.resolve_job_def("nattlig_korning").tags[KOMMUN_TAG] == "2260"  # UI launches


def test_the_kubernetes_example_is_a_valid_consortium_with_a_secret_and_volume_each():
    k = load_konsortium(ROOT / "deploy" / "k8s" / "konsortium.yaml")
    assert all(p.key_dir is None and p.key_secret and p.volume for p in k.kommuner)
    assert all(str(p.data_dir) == f"/data/{p.kommunkod}" for p in k.kommuner)
    assert k.schema_igang and k.inkorg_igang


def test_a_municipality_job_runs_every_asset_and_check_of_the_nightly_job(tmp_path, assets):
    from pipelines.definitions import defs as single

    _, defs = _defs(tmp_path, assets)
    nightly = single.resolve_job_def("nattlig_korning")
    kommun = defs.resolve_job_def(job_name("2281"))
    assert set(kommun.graph.node_dict) == set(nightly.graph.node_dict)
    assert len(kommun.graph.node_dict) > 20
