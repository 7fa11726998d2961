"""No silent holes: a missing, stale or truncated feed stops the night or warns on every list.

The rule itself (skyddsnat/ingest/freshness.py) is tested on its own; the pipeline tests run whole
nights on a tiny municipality: each `stoppa` case fails naming the source and leaves the
previous delivery and case history exactly as they were, each `varna` case delivers with
the warning in the first rows of the affected lists' summary sheets.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml
from dagster import DagsterInstance
from hypothesis import given
from hypothesis import strategies as st

from pipelines.runner import run_nightly
from skyddsnat.generate import TINY, generate
from skyddsnat.ingest.freshness import (
    Basis,
    age_finding,
    bases,
    day_volume_finding,
    record,
    snapshot_volume_finding,
    warnings_for,
)
from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError, SourceFile, load_policy
from skyddsnat.privacy.keys import init_keys

AS_OF = date(2026, 11, 20)  # a Friday
SNAP = SourceFile(fil="x", typ="ogonblicksbild", nyckel=["personnummer"], max_alder_dagar=1,
                  min_rader=1, max_minskning_andel=0.05)
DAILY = SourceFile(fil="x", typ="daglig", nyckel=["datum"], max_alder_dagar=4,
                   min_andel_elever=0.5, jamforelsedagar=5)


# --- the rule ---------------------------------------------------------------------------

@given(age=st.integers(0, 30), allowed=st.integers(0, 10), later=st.booleans())
def test_a_feed_is_stale_exactly_when_its_newest_usable_date_is_older_than_allowed(
        age, allowed, later):
    rule = SNAP.model_copy(update={"max_alder_dagar": allowed})
    dates = [AS_OF - timedelta(days=age)] + ([AS_OF + timedelta(days=1)] if later else [])
    found = age_finding("folkbokforing", rule, dates, AS_OF)
    assert (found is not None) == (age > allowed)
    if found:
        assert str(AS_OF - timedelta(days=age)) in found.message
        assert f"högst {allowed} dag" in found.message and found.stops


DAY = st.dates(date(2026, 1, 1), date(2026, 12, 31))


@given(newest=DAY, gap=st.integers(0, 40), allowed=st.integers(0, 10),
       breaks=st.lists(st.tuples(st.integers(-5, 40), st.integers(0, 20)), max_size=3))
def test_attendance_ages_only_outside_the_school_breaks(newest, gap, allowed, breaks):
    """The days of a school break (franvaro.yaml `lov`, overlapping or not) do not count
    towards the attendance's age: a break never stops the night, a day outside one does."""
    from skyddsnat.policy import SchoolBreak

    lov = [SchoolBreak(fran=newest + timedelta(days=k), till=newest + timedelta(days=k + n))
           for k, n in breaks]
    as_of = newest + timedelta(days=gap)
    closed = {b.fran + timedelta(days=i) for b in lov for i in range((b.till - b.fran).days + 1)}
    age = len({newest + timedelta(days=i) for i in range(1, gap + 1)} - closed)
    rule = DAILY.model_copy(update={"max_alder_dagar": allowed})
    found = age_finding("narvaro", rule, [newest], as_of, lov)
    assert (found is not None) == (age > allowed)
    if found:
        assert f"{newest}, {age} dag" in found.message


def test_a_week_of_sportlov_does_not_stop_the_night(tmp_path):
    """Friday's attendance is the newest on the Sunday after sportlov (v. 8): 9 calendar
    days, 4 of them outside the break. The policy's `lov` decides (fran and till)."""
    from tests.test_policy_keys import changed, refused

    friday, sunday = date(2027, 2, 19), date(2027, 2, 28)
    lov = {"fran": "2027-02-22", "till": "2027-02-26"}
    shipped = load_policy()
    assert age_finding("narvaro", DAILY, [friday], sunday, shipped.franvaro.lov).stops
    sportlov = changed(tmp_path, "franvaro.yaml", lambda d: d.update(lov=[lov]), "a")
    assert age_finding("narvaro", DAILY, [friday], sunday, sportlov.franvaro.lov) is None
    later = changed(tmp_path, "franvaro.yaml",
                    lambda d: d.update(lov=[{**lov, "fran": "2027-02-23"}]), "b")
    shorter = changed(tmp_path, "franvaro.yaml",
                      lambda d: d.update(lov=[{**lov, "till": "2027-02-25"}]), "c")
    for policy in (later, shorter):
        found = age_finding("narvaro", DAILY, [friday], sunday, policy.franvaro.lov)
        assert "5 dagar utanför skollov" in found.message
    assert ("franvaro.yaml", "lov.0") in refused(
        tmp_path, "franvaro.yaml", lambda d: d.update(lov=[{**lov, "till": "2027-02-21"}]))
    from skyddsnat.delivery.policy_explain import explain_markdown

    assert "2027-02-22–2027-02-26" in explain_markdown(sportlov)
    assert "inga angivna" in explain_markdown(shipped)


def test_missing_and_only_later_files_are_told_apart():
    missing = age_finding("narvaro", DAILY, [], AS_OF)
    assert "ingen fil" in missing.message and "högst 4 dagar" in missing.message
    later = age_finding("narvaro", DAILY, [AS_OF + timedelta(days=1)], AS_OF)
    assert "bara filer daterade efter" in later.message and "2026-11-21" in later.message


def test_an_optional_source_never_supplied_is_fine_but_once_supplied_must_be_fresh():
    rule = SNAP.model_copy(update={"valfri": True})
    assert age_finding("franvaroarenden", rule, [], AS_OF) is None
    assert age_finding("franvaroarenden", rule, [AS_OF - timedelta(days=9)], AS_OF)


def test_period_files_are_never_stale():
    rule = SourceFile(fil="x", typ="manatlig", nyckel=["a"])
    assert age_finding("avgifter", rule, [date(2020, 1, 1)], AS_OF) is None
    assert age_finding("avgifter", rule, [], AS_OF) is None


def test_vid_avvikelse_varna_turns_a_stop_into_a_warning():
    found = age_finding("narvaro", DAILY.model_copy(update={"vid_avvikelse": "varna"}), [],
                        AS_OF)
    assert found.action == "varna" and not found.stops


def test_min_rader_refuses_a_header_only_snapshot():
    assert snapshot_volume_finding("folkbokforing", SNAP, "f.csv", 0, None)
    assert snapshot_volume_finding("folkbokforing", SNAP.model_copy(update={"min_rader": 0}),
                                   "f.csv", 0, None) is None


@given(last=st.integers(1, 10_000), rows=st.integers(0, 10_000),
       share=st.floats(0.01, 0.9))
def test_a_snapshot_may_fall_by_at_most_the_policy_share(last, rows, share):
    rule = SNAP.model_copy(update={"max_minskning_andel": share, "min_rader": 0})
    found = snapshot_volume_finding("elevregister", rule, "e.csv", rows, last)
    assert (found is not None) == (rows < last * (1 - share))


def test_a_day_file_with_far_fewer_pupils_than_the_days_before_is_a_finding():
    before = [100, 0, 98, 101, 99, 100, 102]
    assert day_volume_finding("narvaro", DAILY, "n.csv", 40, before)
    assert day_volume_finding("narvaro", DAILY, "n.csv", 60, before) is None
    assert day_volume_finding("narvaro", DAILY.model_copy(update={"min_andel_elever": 0.7}),
                              "n.csv", 60, before)
    # jamforelsedagar: only the last n school days are the yardstick
    grown = [10, 10, 10, 100, 100]
    assert day_volume_finding("narvaro", DAILY.model_copy(update={"jamforelsedagar": 2}),
                              "n.csv", 40, grown)
    assert day_volume_finding("narvaro", DAILY.model_copy(update={"jamforelsedagar": 5}),
                              "n.csv", 40, grown) is None
    assert day_volume_finding("narvaro", DAILY, "n.csv", 1, []) is None  # nothing to compare


def test_the_recorded_basis_survives_and_a_stop_is_never_the_accepted_one(tmp_path):
    record(tmp_path, Basis("elevregister", "2026-11-19", "e1.csv", "2026-11-19", 100))
    record(tmp_path, Basis("elevregister", "2026-11-20", "e2.csv", "2026-11-20", 10,
                           status="stoppad"))
    from skyddsnat.ingest.freshness import last_accepted_rows

    assert last_accepted_rows(tmp_path, "elevregister") == 100
    assert set(bases(tmp_path, AS_OF)) == {"elevregister"}
    record(tmp_path, Basis("narvaro", "2026-11-20", warnings=["narvaro: gammal"],
                           status="varning"))
    assert warnings_for("franvaro", bases(tmp_path, AS_OF)) == ["narvaro: gammal"]
    assert warnings_for("skolplikt", bases(tmp_path, AS_OF)) == []


def test_policy_refuses_a_maximum_age_on_a_period_file(tmp_path):
    shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "p")
    path = tmp_path / "p" / "kallor.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["kallor"]["avgifter"]["max_alder_dagar"] = 30
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError, match="max_alder_dagar"):
        load_policy(tmp_path / "p")


def test_the_register_of_processing_states_each_sources_freshness_rule(tmp_path):
    from skyddsnat.delivery.policy_explain import explain_markdown

    shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "p")
    path = tmp_path / "p" / "kallor.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["kallor"]["narvaro"].update(max_alder_dagar=6, vid_avvikelse="varna")
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    default, mutated = (explain_markdown(load_policy(d)) for d in (DEFAULT_POLICY_DIR,
                                                                  tmp_path / "p"))
    row = next(line for line in default.splitlines() if line.startswith("| narvaro |"))
    assert "4 dagar" in row and "stoppar natten" in row and "50 %" in row
    row = next(line for line in mutated.splitlines() if line.startswith("| narvaro |"))
    assert "6 dagar" in row and "varning på berörda listor" in row
    assert "| avgifter | månadsfil | valfri | aldrig inaktuell" in default


# --- whole nights -----------------------------------------------------------------------

def _sha(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _varna_policy(target: Path) -> Path:
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    path = target / "kallor.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for rule in doc["kallor"].values():
        rule["vid_avvikelse"] = "varna"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    base = tmp_path_factory.mktemp("farskhet")
    pristine = base / "pristine"
    generate(TINY, pristine, AS_OF, seed=5)
    init_keys(base / "keys", base / "officer.key")
    golden = base / "golden"
    shutil.copytree(pristine, golden)
    outcome = run_nightly(golden, base / "keys", AS_OF, instance=DagsterInstance.ephemeral())
    assert outcome.success, outcome.failures
    return base, pristine, golden, _varna_policy(base / "varna")


def _refresh_snapshots(inbox: Path, day: date, skip: tuple[str, ...] = ()) -> None:
    """Tonight's snapshots: yesterday's content under tonight's date."""
    for snap in ("folkbokforing", "elevregister", "skolpliktsbeslut", "atgardsprogram",
                 "franvaroarenden"):
        if snap not in skip:
            src = inbox / f"{snap}_{AS_OF:%Y%m%d}.csv"
            shutil.copy(src, inbox / f"{snap}_{day:%Y%m%d}.csv")


def _no_attendance(inbox: Path) -> None:
    for p in inbox.glob("narvaro_*.csv"):
        p.unlink()


def _first_night_without_attendance(data: Path) -> date:
    _no_attendance(data / "inbox")
    return AS_OF


def _attendance_stale(data: Path) -> date:
    night = AS_OF + timedelta(days=5)  # Wednesday: the newest school day is 5 days old
    _refresh_snapshots(data / "inbox", night)
    return night


def _snapshot_missing(data: Path) -> date:
    """Sunday night: every snapshot but the decisions came; theirs is Friday's, 2 days old."""
    night = AS_OF + timedelta(days=2)
    _refresh_snapshots(data / "inbox", night, skip=("skolpliktsbeslut",))
    (data / "inbox" / f"skolpliktsbeslut_{AS_OF:%Y%m%d}.csv").unlink()
    return night


def _only_later_files(data: Path) -> date:
    """The decisions exported tomorrow: a re-run of tonight must not read them."""
    inbox = data / "inbox"
    (inbox / f"skolpliktsbeslut_{AS_OF:%Y%m%d}.csv").rename(
        inbox / f"skolpliktsbeslut_{AS_OF + timedelta(days=1):%Y%m%d}.csv")
    return AS_OF


def _keep_lines(path: Path, keep) -> None:
    raw = path.read_bytes()
    nl = b"\r\n" if b"\r\n" in raw else b"\n"
    lines = raw.rstrip(nl).split(nl)
    path.write_bytes(nl.join([lines[0], *keep(lines[1:])]) + nl)


def _register_truncated(data: Path) -> date:
    """A well-formed export cut off after half its rows."""
    _keep_lines(data / "inbox" / f"elevregister_{AS_OF:%Y%m%d}.csv",
                lambda rows: rows[:len(rows) // 2])
    return AS_OF


def _population_header_only(data: Path) -> date:
    _keep_lines(data / "inbox" / f"folkbokforing_{AS_OF:%Y%m%d}.csv", lambda rows: [])
    return AS_OF


def _day_file_truncated(data: Path) -> date:
    _keep_lines(data / "inbox" / f"narvaro_{AS_OF:%Y%m%d}.csv",
                lambda rows: rows[:len(rows) // 4])
    return AS_OF


CASES = {
    # name: (start from the pristine inbox?, mutation, sources expected to fail, message part)
    "narvaro_saknas": (True, _first_night_without_attendance, {"narvaro"}, "ingen fil"),
    "narvaro_for_gammal": (False, _attendance_stale, {"narvaro"}, "2026-11-20, 5 dagar"),
    "skolpliktsbeslut_saknas": (False, _snapshot_missing, {"skolpliktsbeslut"},
                                "2026-11-20, 2 dagar"),
    "bara_senare_filer": (True, _only_later_files, {"skolpliktsbeslut"},
                          "bara filer daterade efter"),
    "elevregister_avkortat": (False, _register_truncated, {"elevregister"},
                              "färre än den senast godkända"),
    "narvaro_dagfil_avkortad": (False, _day_file_truncated, {"narvaro"}, "i median"),
    "folkbokforing_bara_rubrikrad": (False, _population_header_only, {"folkbokforing"},
                                     "0 godkända rader"),
}
# A population register of nobody cannot be delivered on, even with a warning: its blocking
# checks stop it (tests/test_blocking_checks.py).
VARNA_CASES = [c for c in CASES if c != "folkbokforing_bara_rubrikrad"]
AFFECTED = {"narvaro": ("rektor/franvaro_", "namnd/kommunbild"),
            "elevregister": ("skolpliktshandlaggare/skolplikt", "rektor/franvaro_"),
            "skolpliktsbeslut": ("skolpliktshandlaggare/skolplikt",)}
UNAFFECTED = {"narvaro": "skolpliktshandlaggare/skolplikt",
              "skolpliktsbeslut": "rektor/franvaro_"}


def _case(town, name: str, varna: bool):
    base, pristine, golden, varna_dir = town
    first, mutate, sources, part = CASES[name]
    data = base / f"{name}-{'varna' if varna else 'stoppa'}"
    shutil.copytree(pristine if first else golden, data)
    # A successful night removes what it processed from the inbox: tonight the exports
    # are delivered again (the same files), then changed as the case says.
    for p in (pristine / "inbox").iterdir():
        if not (data / "inbox" / p.name).exists():
            shutil.copy2(p, data / "inbox" / p.name)
    night = mutate(data)
    before = {d: _sha(data / d) for d in ("outbox", "state", "audit") if (data / d).exists()}
    outcome = run_nightly(data, base / "keys", night, instance=DagsterInstance.ephemeral(),
                          policy_dir=varna_dir if varna else None)
    return data, night, before, outcome, sources, part


def _summary_top(path: Path, n: int = 8) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [r for r in wb["Sammanfattning"].iter_rows(max_row=n, values_only=True)]
    finally:
        wb.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_stoppa_fails_naming_the_source_and_keeps_the_previous_delivery(town, name):
    data, night, before, outcome, sources, part = _case(town, name, varna=False)
    assert not outcome.success
    failed = {line.split(":", 1)[0] for line in outcome.failures}
    assert sources <= failed, outcome.failures
    for source in sources:
        line = next(f for f in outcome.failures if f.startswith(f"{source}:"))
        assert part in line and ("högst" in line or "minst" in line), line
        assert "\n" not in line, line
    assert "leverans" not in failed  # it never ran
    assert not (data / "outbox" / night.isoformat()).exists() or night == AS_OF
    if "outbox" not in before:  # a first night: nothing delivered at all
        assert not (data / "outbox" / night.isoformat()).exists()
    after = {d: _sha(data / d) for d in before}
    assert after["outbox"] == before["outbox"] if "outbox" in before else True
    assert {k: v for k, v in after.get("state", {}).items() if k.startswith("arenden")} == \
        {k: v for k, v in before.get("state", {}).items() if k.startswith("arenden")}
    assert after.get("audit") == before.get("audit")


@pytest.mark.slow
@pytest.mark.parametrize("name", VARNA_CASES)
def test_varna_delivers_with_the_warning_on_every_affected_summary_sheet(town, name):
    data, night, before, outcome, sources, part = _case(town, name, varna=True)
    assert outcome.success, outcome.failures
    root = (data / "outbox" / night.isoformat()).resolve()
    books = {p.relative_to(root).as_posix(): p for p in root.rglob("*.xlsx")}
    for source in sources:
        for prefix in AFFECTED.get(source, ()):
            hits = [rel for rel in books if rel.startswith(prefix)]
            assert hits, (prefix, sorted(books))
            for rel in hits:
                top = _summary_top(books[rel])
                warned = [r for r in top if r[0] and str(r[0]).startswith("VARNING")]
                assert any(source in str(r[1]) and part in str(r[1]) for r in warned), \
                    (rel, top)
        if source in UNAFFECTED:
            for rel in (r for r in books if r.startswith(UNAFFECTED[source])):
                assert not any(source in str(r[1]) for r in _summary_top(books[rel])
                               if r[0] and str(r[0]).startswith("VARNING")), rel


@pytest.mark.slow
def test_a_night_in_a_school_break_delivers_on_the_last_school_day(town, tmp_path):
    """The stale-attendance night (Wednesday, the newest day file Friday's), with Monday to
    Wednesday declared a break: it delivers, and the lists say which day the data is from."""
    from tests.test_policy_keys import changed

    base, pristine, golden, _ = town
    data = base / "lov"
    shutil.copytree(golden, data)
    for p in (pristine / "inbox").iterdir():
        if not (data / "inbox" / p.name).exists():
            shutil.copy2(p, data / "inbox" / p.name)
    night = _attendance_stale(data)
    changed(tmp_path, "franvaro.yaml", lambda d: d.update(
        lov=[{"fran": "2026-11-23", "till": night.isoformat()}]), "lov")
    outcome = run_nightly(data, base / "keys", night, instance=DagsterInstance.ephemeral(),
                          policy_dir=tmp_path / "lov")
    assert outcome.success, outcome.failures
    [book] = (data / "outbox" / night.isoformat()).resolve().glob("namnd/kommunbild*.xlsx")
    assert any("2026-11-20" in str(r[1]) for r in _summary_top(book, 20) if r[1])


# --- Dagster-native ---------------------------------------------------------------------

def test_dagster_freshness_checks_sit_beside_the_three_checks_and_follow_the_policy(tmp_path):
    from pipelines.definitions import defs
    from pipelines.freshness_checks import freshness_checks
    from pipelines.jobs import JOB_NAME

    repo = defs.get_repository_def()
    checks = {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    for source in ("folkbokforing", "elevregister", "skolpliktsbeslut", "atgardsprogram",
                   "narvaro", "franvaroarenden"):
        assert {(source, n) for n in ("radrakning", "pandera", "great_expectations",
                                      "farskhet")} <= checks
    assert ("avgifter", "farskhet") not in checks  # period files are never stale
    # The nightly job does not run them: a first night has nothing to be fresh against.
    from pipelines.freshness_checks import NIGHTLY_SELECTION

    job_checks = {k.name for k in NIGHTLY_SELECTION.resolve_checks(repo.asset_graph)}
    assert "farskhet" not in job_checks and "radrakning" in job_checks
    assert repo.get_job(JOB_NAME)
    # max_alder_dagar decides the window (mutated: narvaro to 9 days, betyg none)
    shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "p")
    path = tmp_path / "p" / "kallor.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["kallor"]["narvaro"]["max_alder_dagar"] = 9
    del doc["kallor"]["folkbokforing"]["max_alder_dagar"]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    mutated = {k.asset_key.to_user_string() for c in freshness_checks(tmp_path / "p")
               for k in c.check_keys}
    assert "folkbokforing" not in mutated and "narvaro" in mutated


def test_a_schedule_tick_says_in_its_log_why_the_night_will_stop(tmp_path, caplog):
    import dagster as dg

    from pipelines.schedules import build_schedule
    from pipelines.tick_log import log_findings

    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "narvaro_20261101.csv").write_text("x\n")

    class Ctx:
        def __init__(self):
            self.lines = []
            self.log = self

        def warning(self, msg):
            self.lines.append(msg)

    ctx = Ctx()
    lines = log_findings(ctx, str(tmp_path), AS_OF)
    assert ctx.lines == lines
    assert any(line.startswith("stoppar: narvaro: nyaste data är daterad 2026-11-01")
               for line in lines)
    assert any("folkbokforing: ingen fil i inkorgen" in line for line in lines)
    sched = build_schedule(str(tmp_path), str(tmp_path / "keys"))
    when = datetime(2026, 11, 20, 2, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    with caplog.at_level("WARNING"):
        result = sched.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when))
    assert result.run_requests  # the night still runs (and fails, naming the same sources)


def test_a_freshness_check_passes_only_after_a_recent_materialization():
    from dagster import AssetMaterialization, DagsterEventType

    from pipelines.definitions import defs

    job = defs.resolve_job_def("farskhetskontroll")
    instance = DagsterInstance.ephemeral()

    def evaluations():
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        return {ev.event_specific_data.asset_key.to_user_string(): ev.event_specific_data.passed
                for ev in result.all_events
                if ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION}

    assert set(evaluations().values()) == {False}  # never read: all overdue
    instance.report_runless_asset_event(AssetMaterialization("folkbokforing"))
    after = evaluations()
    assert after["folkbokforing"] is True and after["elevregister"] is False
