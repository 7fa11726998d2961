"""Issue 10, the whole pipeline: crashes, faults and re-runs lose nothing and leak nothing.

One synthetic municipality (TINY profile; every surname and street in folkbokföring is a
canary) is generated once; each scenario runs on its own copy through `skyddsnat run` as a
subprocess (the sensor scenarios execute the job in process, as the daemon would launch
the sensor's RunRequest). After every crash or fault: outbox/<date> is absent, the previous
delivery or the complete new one; the audit chain verifies; no personnummer or canary is in
the output, DAGSTER_HOME, the temp dir or the data dir outside the inbox and the published
deliveries.

Simulations, because CI runs these tests as root:
- outbox not writable: `chmod 0o500 outbox`, with the run started through `setpriv` without
  CAP_DAC_OVERRIDE so that root honours the mode bits like a service account would (as a
  non-root user the chmod alone does it);
- disk full: a small tmpfs mounted on the outbox, holding the previous delivery with room
  for only part of the next (when mounting is not permitted, or SKYDDSNAT_TEST_NO_MOUNT=1,
  `tests/robust_enospc.py` makes writes under the outbox fail with ENOSPC instead).
"""

from __future__ import annotations

import copy
import errno
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from skyddsnat.generate import TINY, generate
from skyddsnat.lists.cases import load_history
from skyddsnat.privacy.keys import (
    KEYRING_FILE,
    OFFICER_PUBLIC_FILE,
    PSEUDONYM_FILE,
    init_keys,
    load_officer_private,
)
from tests.robust_helpers import (
    Scenario,
    audit_entries,
    check_delivery,
    cli,
    delivery_files,
    fast_tmp,
    known_personnummer,
    leftovers,
    list_contents,
    new_scenario,
    no_personal_data,
    personal_data_in,
    plant_canaries,
    run,
    sha256,
    texts_under,
    tree_state,
)

pytestmark = pytest.mark.slow

DAY = date(2026, 11, 20)
HISTORY = Path("state") / "arenden.parquet"
SETPRIV = ("setpriv", "--bounding-set", "-dac_override", "--inh-caps=-dac_override", "--")


@dataclass
class Town:
    base: Path
    keys: Path
    other_keys: Path
    officer: object
    pristine: Path  # a data dir with only the generated inbox
    golden: Scenario  # after one successful run of DAY
    seconds: float  # wall time of that run
    lists: dict
    audit: list[dict]
    history: pd.DataFrame
    known: set[str]  # every personnummer in the inbox

    def leaks(self, s: Scenario, output: str) -> dict[str, str]:
        return no_personal_data(s, output, DAY, self.known)


@pytest.fixture(scope="module")
def town():
    base = fast_tmp("skyddsnat-robust-")
    try:
        keys, officer = base / "keys", base / "skyddsbehorig.key"
        init_keys(keys, officer)
        init_keys(base / "other-keys", base / "other.key")
        pristine = base / "pristine"
        generate(TINY, pristine, DAY, seed=11)
        assert plant_canaries(pristine / "inbox") > 0
        golden = new_scenario(base, "golden", pristine, keys)
        ran = run(golden, DAY)
        assert ran.returncode == 0, ran.output[-3000:]
        history = load_history(golden.data / HISTORY)
        audit = audit_entries(golden.data)
        assert len(history) and audit, "a run that records nothing cannot show duplicates"
        known = known_personnummer(pristine / "inbox", DAY)
        assert len(known) > 50, "the leak scan needs the inbox's personnummer"
        private = load_officer_private(officer)
        yield Town(base, keys, base / "other-keys", private, pristine, golden, ran.seconds,
                   list_contents(golden.outbox, DAY, private, base), audit, history, known)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _audit_keys(entries: list[dict]) -> list[tuple]:
    return [(e["event"], e["key"], e["details"]) for e in entries]


def _assert_audit_verifies(s: Scenario) -> None:
    """The chain verifies; before the first delivery there is none, and verify says so
    (non-zero: an empty log is never reported as intact)."""
    r = cli(s, "audit", "verify", "--data-dir", str(s.data))
    if not audit_entries(s.data):
        assert r.returncode != 0 and "inget att verifiera" in r.output, r.output
        return
    assert r.returncode == 0, r.output


def _assert_same_outcome_as_golden(town: Town, s: Scenario) -> None:
    """Same lists cell by cell (sealed ones opened), same audit events, same case history."""
    assert check_delivery(s.outbox, DAY) is not None
    assert list_contents(s.outbox, DAY, town.officer, s.root) == town.lists
    assert _audit_keys(audit_entries(s.data)) == _audit_keys(town.audit)
    pd.testing.assert_frame_equal(load_history(s.data / HISTORY), town.history)
    assert not leftovers(s.outbox, DAY)
    _assert_audit_verifies(s)


def _assert_consistent_after_a_crash(s: Scenario) -> dict | None:
    manifest = check_delivery(s.outbox, DAY)
    _assert_audit_verifies(s)
    load_history(s.data / HISTORY)
    for area in ("warehouse", "vault", "state"):
        for p in (s.data / area).rglob("*.parquet"):
            pq.read_metadata(p)  # a table under its final name is never torn
    return manifest


# --- re-runs -------------------------------------------------------------------------------


def test_rerun_of_the_same_date_gives_the_same_lists_and_duplicates_nothing(town):
    s = new_scenario(town.base, "rerun", town.golden.data, town.keys)
    ran = run(s, DAY)
    assert ran.returncode == 0, ran.output[-3000:]
    assert audit_entries(s.data) == town.audit  # not one line appended
    _assert_same_outcome_as_golden(town, s)
    assert len(list((s.outbox / ".deliveries").iterdir())) == 1  # the old one was replaced


# --- crashes -------------------------------------------------------------------------------


def test_runs_killed_at_any_point_leave_the_previous_or_the_new_delivery(town):
    """Kills at 25 / 50 / 75 % of a normal run's wall time with no delivery yet, a normal
    run; then kills the moment the delivery is being staged and the moment it is published,
    and a normal re-run. After each kill nothing is half-written; the end is as if nothing
    had happened: the same lists, audit entries and case history as one clean run."""
    s = new_scenario(town.base, "kills", town.pristine, town.keys)
    outputs, killed = [], []
    for fraction in (0.25, 0.5, 0.75):
        ran = run(s, DAY, kill_when=fraction * town.seconds)
        outputs.append(ran.output)
        killed.append(ran.killed)
        _assert_consistent_after_a_crash(s)
    assert sum(killed) >= 2, f"the runs finished before they could be killed: {killed}"
    ran = run(s, DAY)
    assert ran.returncode == 0, ran.output[-3000:]
    outputs.append(ran.output)
    _assert_same_outcome_as_golden(town, s)

    link, staging = s.outbox / DAY.isoformat(), s.outbox / ".staging"
    previous, previous_files = os.readlink(link), delivery_files(s.outbox, DAY)
    ran = run(s, DAY, kill_when=lambda: any(staging.glob(f"{DAY.isoformat()}-*")))
    outputs.append(ran.output)
    assert ran.killed, "the run finished before its delivery was staged"
    assert os.readlink(link) == previous and delivery_files(s.outbox, DAY) == previous_files
    _assert_consistent_after_a_crash(s)

    ran = run(s, DAY, kill_when=lambda: os.readlink(link) != previous)
    outputs.append(ran.output)
    assert ran.returncode == 0 or ran.killed
    _assert_consistent_after_a_crash(s)  # the new delivery, complete

    ran = run(s, DAY)
    assert ran.returncode == 0, ran.output[-3000:]
    _assert_same_outcome_as_golden(town, s)
    assert not [p.name for p in s.tmp.rglob("*")]
    assert not town.leaks(s, "\n".join([*outputs, ran.output]))


# --- faults --------------------------------------------------------------------------------


def _wrong(town: Town, name: str):
    def replace(keys: Path) -> None:
        shutil.copy(town.other_keys / name, keys / name)
    return replace


KEY_FAULTS = {
    "vault key missing": (lambda town: lambda k: (k / KEYRING_FILE).unlink(),
                          "valvets nyckelring saknas"),
    "wrong vault key": (lambda town: _wrong(town, KEYRING_FILE), "fel valvnyckel"),
    "wrong pseudonym key": (lambda town: _wrong(town, PSEUDONYM_FILE), "fel pseudonymnyckel"),
    "officer public key missing": (lambda town: lambda k: (k / OFFICER_PUBLIC_FILE).unlink(),
                                   "publika nyckel saknas"),
}


@pytest.mark.parametrize("fault", list(KEY_FAULTS))
def test_a_missing_or_wrong_key_stops_the_run_before_any_data_is_read(town, fault):
    make, expected = KEY_FAULTS[fault]
    keys = town.base / f"keys-{fault.replace(' ', '-')}"
    shutil.copytree(town.keys, keys)
    make(town)(keys)
    s = new_scenario(town.base, f"key-{fault.replace(' ', '-')}", town.golden.data, keys)
    before = tree_state(s.data)
    ran = run(s, DAY)
    assert ran.returncode == 3, ran.output[-3000:]
    assert expected in ran.output and "inget data har lästs" in ran.output, ran.output
    assert tree_state(s.data) == before  # no table, archive, vault, state or outbox write
    assert not town.leaks(s, ran.output)


def _unchanged_except_the_failed_delivery(town: Town, s: Scenario, before: dict,
                                          ran_output: str) -> None:
    assert check_delivery(s.outbox, DAY) is not None
    assert delivery_files(s.outbox, DAY) == before["files"]
    assert not leftovers(s.outbox, DAY)
    assert audit_entries(s.data) == before["audit"]
    assert sha256(s.data / HISTORY) == before["history"]
    assert not [p.name for p in s.tmp.rglob("*")]  # no half-written list in TMPDIR
    assert not town.leaks(s, ran_output)


def _before(s: Scenario) -> dict:
    return {"files": delivery_files(s.outbox, DAY), "audit": audit_entries(s.data),
            "history": sha256(s.data / HISTORY)}


def test_an_unwritable_outbox_fails_clearly_and_keeps_the_previous_delivery(town):
    s = new_scenario(town.base, "outbox-readonly", town.golden.data, town.keys)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root ignores mode bits unless CAP_DAC_OVERRIDE is dropped
        probe = subprocess.run([*SETPRIV, "true"], capture_output=True) if shutil.which(
            "setpriv") else None
        if probe is None or probe.returncode != 0:
            pytest.skip("root without setpriv: cannot make a directory unwritable")
        prefix = SETPRIV
    before = _before(s)
    os.chmod(s.outbox, 0o500)
    try:
        ran = run(s, DAY, prefix=prefix)
    finally:
        os.chmod(s.outbox, 0o755)
    assert ran.returncode != 0
    assert "kunde inte skrivas till utkorgen" in ran.output and "EACCES" in ran.output, \
        ran.output[-3000:]
    _unchanged_except_the_failed_delivery(town, s, before, ran.output)


def _mount_small_tmpfs(outbox: Path, room: int) -> bool:
    """Put the outbox on a tmpfs that holds what is there now plus `room` bytes."""
    if os.geteuid() != 0 or os.environ.get("SKYDDSNAT_TEST_NO_MOUNT") or not shutil.which(
            "mount"):
        return False
    pages = sum(-(-p.stat().st_size // 4096) for p in outbox.rglob("*")
                if p.is_file() and not p.is_symlink())
    aside = outbox.with_name("outbox.aside")
    outbox.rename(aside)
    outbox.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={pages * 4 + room // 1024}k",
                        "tmpfs", str(outbox)], capture_output=True)
    if r.returncode != 0:
        outbox.rmdir()
        aside.rename(outbox)
        return False
    shutil.copytree(aside, outbox, symlinks=True, dirs_exist_ok=True)
    shutil.rmtree(aside)
    return True


def test_a_full_disk_fails_clearly_and_leaves_no_partial_delivery_or_plaintext(town):
    s = new_scenario(town.base, "disk-full", town.golden.data, town.keys)
    room = 8 * 1024  # the first workbook of the delivery does not fit
    before = _before(s)
    mounted = _mount_small_tmpfs(s.outbox, room)
    module = (("-m", "skyddsnat.cli") if mounted else
              ("-m", "tests.robust_enospc", str(s.outbox), str(room)))
    try:
        ran = run(s, DAY, module=module)
        assert ran.returncode != 0
        assert "kunde inte skrivas till utkorgen" in ran.output and "ENOSPC" in ran.output, \
            ran.output[-3000:]
        _unchanged_except_the_failed_delivery(town, s, before, ran.output)
    finally:
        if mounted:
            subprocess.run(["umount", str(s.outbox)], check=True)


def test_a_truncated_attendance_file_fails_naming_file_and_line(town):
    """The sensor never takes a file without its final newline; a scheduled run might."""
    s = new_scenario(town.base, "truncated", town.golden.data, town.keys)
    f = s.data / "inbox" / f"narvaro_{DAY:%Y%m%d}.csv"  # delivered again, truncated
    shutil.copy(town.pristine / "inbox" / f.name, f)
    lines = f.read_bytes().rstrip(b"\r\n").split(b"\n")
    lines[-1] = b";".join(lines[-1].split(b";")[:2])  # cut after the personnummer
    f.write_bytes(b"\n".join(lines))
    partition = s.data / "warehouse" / "narvaro" / f"{DAY.isoformat()}.parquet"
    stamp = partition.stat().st_mtime_ns
    before = _before(s)
    ran = run(s, DAY)
    assert ran.returncode != 0
    assert f"{f.name}, rad {len(lines)}" in ran.output and "avkortad" in ran.output, \
        ran.output[-3000:]
    assert partition.stat().st_mtime_ns == stamp
    _unchanged_except_the_failed_delivery(town, s, before, ran.output)


# --- sensor to run: a source file removed in between --------------------------------------


def _sensor_request_then_run(town: Town, s: Scenario, between, capfd):
    """The sensor's RunRequest, `between(s)`, then the job executed as the daemon would.

    The sensor stamps today's date; the reference date is pinned to the generated inbox's.
    """
    import dagster as dg
    from dagster import DagsterEventType, DagsterInstance

    from pipelines.definitions import build_definitions
    from pipelines.jobs import JOB_NAME, run_tags
    from pipelines.sensors import build_sensor

    sensor = build_sensor(str(s.data), str(s.keys), settle_seconds=0.0)
    tick = sensor.evaluate_tick(dg.build_sensor_context(cursor=None))
    assert len(tick.run_requests) == 1
    request = tick.run_requests[0]
    between(s)
    config = copy.deepcopy(request.run_config)
    config["resources"]["skyddsnat"]["config"]["as_of"] = DAY.isoformat()
    tags = {**request.tags, **run_tags(str(s.data), DAY)}
    capfd.readouterr()
    with DagsterInstance.from_config(str(s.home)) as instance:
        defs = build_definitions(str(s.data), str(s.keys))  # as the code location would
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(
            run_config=config, tags=tags, instance=instance, raise_on_error=False)
    texts = []
    for ev in result.all_events:
        if ev.event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE,
                             DagsterEventType.ENGINE_EVENT):
            texts.append(ev.message or "")
            err = getattr(ev.event_specific_data, "error", None)
            while err is not None:
                texts.append(err.message)
                err = err.cause
    captured = capfd.readouterr()
    return result, "\n".join(texts), captured.out + captured.err


def test_a_required_source_removed_after_the_sensor_fails_the_run_naming_it(town, capfd,
                                                                           monkeypatch):
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "False")
    s = new_scenario(town.base, "removed-required", town.pristine, town.keys)
    result, failures, output = _sensor_request_then_run(
        town, s, lambda s: (s.data / "inbox" / f"folkbokforing_{DAY:%Y%m%d}.csv").unlink(),
        capfd)
    assert not result.success
    assert "folkbokforing: ingen fil i inkorgen" in failures, failures
    assert check_delivery(s.outbox, DAY) is None and not leftovers(s.outbox, DAY)
    assert not personal_data_in({"failures": failures}, DAY, town.known)
    assert not town.leaks(s, output)


def test_an_optional_source_removed_after_the_sensor_does_not_stop_the_run(town, capfd,
                                                                          monkeypatch):
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "False")
    s = new_scenario(town.base, "removed-optional", town.pristine, town.keys)
    result, failures, output = _sensor_request_then_run(
        town, s, lambda s: (s.data / "inbox" / f"franvaroarenden_{DAY:%Y%m%d}.csv").unlink(),
        capfd)
    assert result.success, failures
    assert check_delivery(s.outbox, DAY) is not None
    texts = {"output": output, **texts_under(s.home)}
    assert not personal_data_in(texts, DAY, town.known)


def test_a_key_missing_at_a_sensor_launched_run_stops_it_before_any_data_is_read(
        town, capfd, monkeypatch):
    """The daemon's path has no CLI pre-check: the resource stops the run itself."""
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "False")
    keys = town.base / "keys-sensor-no-vault"
    shutil.copytree(town.keys, keys)
    s = new_scenario(town.base, "sensor-no-vault-key", town.pristine, keys)
    before = tree_state(s.data)
    result, failures, output = _sensor_request_then_run(
        town, s, lambda s: (s.keys / KEYRING_FILE).unlink(), capfd)
    assert not result.success
    assert "valvets nyckelring saknas" in failures, failures
    assert tree_state(s.data) == before
    assert not town.leaks(s, output + failures)


def test_an_os_error_is_reported_by_its_errno_without_its_path():
    from pipelines.privacy import safe_message

    try:
        raise OSError(errno.ENOSPC, "No space left on device", "/x/19121212-1212.xlsx")
    except OSError as exc:
        message = safe_message(exc)
    assert "ENOSPC" in message and "1212" not in message
