"""The inbox through two nights (TINY profile, through the CLI): processed exports leave it.

After a successful night no processed plaintext export is left in the inbox; a failed run
leaves the inbox exactly as it was; the next night — only tonight's snapshots and day file
delivered — gives the same lists (income check and action programmes included) as a control
night whose inbox still held every file; a run killed between delivery and cleanup, then
run again, leaves one complete delivery; a re-run of a cleaned night is the same delivery.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from skyddsnat.ingest.catalog import catalog
from skyddsnat.ingest.inbox import files_for
from skyddsnat.privacy.keys import load_officer_private
from tests.robust_helpers import (
    audit_entries,
    check_delivery,
    first_night,
    leftovers,
    list_contents,
    new_scenario,
    run,
    tree_state,
)

pytestmark = pytest.mark.slow

DAY1 = date(2026, 11, 19)
DAY2 = DAY1 + timedelta(days=1)


def _dated_up_to(inbox: Path, day: date) -> set[str]:
    from skyddsnat.policy import load_policy

    return {p.name for e in catalog(load_policy()).values() for _, p in files_for(inbox, e, day)}


@pytest.fixture(scope="module")
def town():
    yield from first_night("skyddsnat-inkorg-", 9, DAY1, DAY2)


def test_a_successful_night_leaves_no_processed_export(town):
    base, night1 = town
    processed = _dated_up_to(base / "pristine" / "inbox", DAY1)
    left = {p.name for p in (night1.data / "inbox").iterdir()}
    assert processed and not processed & left
    assert left == _dated_up_to(base / "pristine" / "inbox", DAY2) - processed
    [entry] = [e for e in audit_entries(night1.data) if e["event"] == "inkorg_rensad"]
    assert sorted(entry["details"]["filer"]) == sorted(processed)


def test_a_failed_run_leaves_the_inbox_as_it_was(town):
    base, _ = town
    s = new_scenario(base, "failed", base / "pristine", base / "keys")
    bad = s.data / "inbox" / f"franvaroarenden_{DAY1:%Y%m%d}.csv"
    bad.write_text("detta,är,inte,en,export\n", encoding="utf-8")  # the source fails
    before = tree_state(s.data / "inbox")
    ran = run(s, DAY1)
    assert ran.returncode != 0
    assert tree_state(s.data / "inbox") == before
    assert list((s.data / "archive").rglob("*.enc"))  # other sources had been archived


def test_the_next_night_needs_nothing_the_cleanup_removed(town):
    base, night1 = town
    officer = load_officer_private(base / "officer.key")
    cleaned = new_scenario(base, "cleaned", night1.data, night1.keys)
    control = new_scenario(base, "control", night1.data, night1.keys)
    for name in _dated_up_to(base / "pristine" / "inbox", DAY1):  # the control keeps all
        shutil.copy(base / "pristine" / "inbox" / name, control.data / "inbox" / name)
    for s in (control, cleaned):
        ran = run(s, DAY2)
        assert ran.returncode == 0, ran.output[-3000:]
    lists = list_contents(cleaned.outbox, DAY2, officer, cleaned.root)
    assert lists == list_contents(control.outbox, DAY2, officer, control.root)
    assert any(k.startswith("avgiftshandlaggare/inkomstkontroll") for k in lists)
    assert any(k.startswith("rektor/atgardsprogram") for k in lists)
    left = {p.name for p in (cleaned.data / "inbox").iterdir()}
    assert not left & _dated_up_to(base / "pristine" / "inbox", DAY2)
    # A re-run of the cleaned night is recognised: the same delivery, no failure.
    ran = run(cleaned, DAY2)
    assert ran.returncode == 0, ran.output[-3000:]
    assert list_contents(cleaned.outbox, DAY2, officer, cleaned.root) == lists


def test_a_kill_between_delivery_and_cleanup_then_a_rerun_leaves_one_delivery(town):
    base, night1 = town
    officer = load_officer_private(base / "officer.key")
    s = new_scenario(base, "killed", night1.data, night1.keys)
    link = s.outbox / DAY2.isoformat()
    ran = run(s, DAY2, kill_when=lambda: link.exists())
    assert ran.killed
    ran = run(s, DAY2)
    assert ran.returncode == 0, ran.output[-3000:]
    assert check_delivery(s.outbox, DAY2) is not None and not leftovers(s.outbox, DAY2)
    assert not {p.name for p in (s.data / "inbox").iterdir()} & _dated_up_to(
        base / "pristine" / "inbox", DAY2)
    deliveries = [e for e in audit_entries(s.data) if e["event"] == "leverans"
                  and e["details"]["as_of"] == DAY2.isoformat()]
    assert len(deliveries) == 1
    control = new_scenario(base, "control-kill", night1.data, night1.keys)
    assert run(control, DAY2).returncode == 0
    assert list_contents(s.outbox, DAY2, officer, s.root) == \
        list_contents(control.outbox, DAY2, officer, control.root)
