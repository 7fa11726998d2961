"""Rotating the pseudonym key, around two real nights (TINY profile, through the CLI).

Night 1, then `keys rotate-pseudonym`, then night 2 — against a control copy that ran the
same two nights without rotating: the lists of night 2 are identical cell by cell (sealed
ones opened), with the same case ids and statuses (`kvarstar`); no stored pseudonym is
computable from the old key alone; the rotation is audited; a rotation killed before its
switch leaves the old state usable, one killed after it is finished by running it again.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import skyddsnat.rotation as rotation
from skyddsnat.lists.cases import load_history
from skyddsnat.personnummer import normalize
from skyddsnat.privacy.keys import ROTATION_JOURNAL, KeyProblem, load_keys, load_officer_private
from skyddsnat.privacy.pseudonym import pseudonymize_series
from tests.robust_helpers import (
    audit_entries,
    cli,
    first_night,
    known_personnummer,
    list_contents,
    new_scenario,
    run,
)

pytestmark = pytest.mark.slow

DAY1 = date(2026, 11, 19)
DAY2 = DAY1 + timedelta(days=1)


def _stored_text_values(data: Path) -> pa.Array:
    """Every text value of every Parquet file under the data dir, the vault included."""
    parts = []
    for p in data.rglob("*.parquet"):
        t = pq.read_table(p)
        for col in t.columns:
            typ = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
            if pa.types.is_string(typ) or pa.types.is_large_string(typ):
                parts.append(col.cast(pa.string()))
    return pc.unique(pa.chunked_array(parts, type=pa.string()))


def _old_pseudonyms(key: bytes, inbox: Path, day: date) -> pa.Array:
    numbers = set()
    for form in known_personnummer(inbox, day):
        try:
            numbers.add(normalize(form, day))
        except ValueError:
            continue
    ids = pseudonymize_series(key, pd.Series(sorted(numbers), dtype="string"))
    return pa.array(ids.tolist(), type=pa.string())


@pytest.fixture(scope="module")
def town():
    yield from first_night("skyddsnat-rotation-", 5, DAY1, DAY2)


def _unordered(contents: dict) -> dict:
    out = {}
    for name, sheets in contents.items():
        if isinstance(sheets, dict):
            out[name] = {sheet: (rows[:1], sorted(rows[1:], key=repr))
                         for sheet, rows in sheets.items()}
        else:
            out[name] = sheets
    return out


def _copy(base: Path, night1, name: str):
    keys = base / f"keys-{name}"
    shutil.copytree(night1.keys, keys)
    return new_scenario(base, name, night1.data, keys)


def _status_by_case(data: Path) -> pd.DataFrame:
    h = load_history(data / "state" / "arenden.parquet")
    return h[["lista", "arende_id", "first_seen", "last_seen", "closed_on"]].sort_values(
        ["lista", "arende_id"], ignore_index=True)


def test_two_nights_around_a_rotation_give_the_same_lists(town):
    base, night1 = town
    officer = load_officer_private(base / "officer.key")
    control, rotated = _copy(base, night1, "control"), _copy(base, night1, "rotated")
    old_key = load_keys(rotated.keys).pseudonym_key
    old_ids = _old_pseudonyms(old_key, rotated.data / "inbox", DAY1)
    stored = _stored_text_values(rotated.data)
    assert pc.sum(pc.is_in(old_ids, stored)).as_py() > 50  # the scan sees old pseudonyms

    r = cli(rotated, "keys", "rotate-pseudonym", "--key-dir", str(rotated.keys),
            "--data-dir", str(rotated.data))
    assert r.returncode == 0, r.output
    assert load_keys(rotated.keys).pseudonym_id == "p2"
    # No stored pseudonym is computable from the old key alone.
    assert pc.sum(pc.is_in(old_ids, _stored_text_values(rotated.data))).as_py() == 0
    events = [e for e in audit_entries(rotated.data) if e["event"] == "pseudonymrotation"]
    assert len(events) == 1 and events[0]["details"]["till"] == "p2"
    assert events[0]["details"]["forseglade"] > 0  # sealed persons re-keyed too
    assert cli(rotated, "audit", "verify", "--data-dir", str(rotated.data)).returncode == 0

    for s in (control, rotated):
        ran = run(s, DAY2)
        assert ran.returncode == 0, ran.output[-3000:]
    # The same rows, cell by cell; a list's row order follows the pseudonyms (meaningless
    # and re-keyed), so rows are compared as sorted.
    assert _unordered(list_contents(rotated.outbox, DAY2, officer, rotated.root)) == \
        _unordered(list_contents(control.outbox, DAY2, officer, control.root))
    pd.testing.assert_frame_equal(_status_by_case(rotated.data), _status_by_case(control.data))
    h = load_history(rotated.data / "state" / "arenden.parquet")
    continuing = h[(h["first_seen"] == pd.Timestamp(DAY1)) & (h["last_seen"] ==
                                                               pd.Timestamp(DAY2))]
    assert len(continuing) > 0  # cases of night 1 still open on night 2: reported kvarstar
    # The old key no longer runs against the rotated data.
    old_keys = base / "keys-old"
    shutil.copytree(control.keys, old_keys)
    r = cli(rotated, "run", "--data-dir", str(rotated.data), "--key-dir", str(old_keys),
            "--as-of", DAY2.isoformat())
    assert r.returncode != 0 and "pseudonymnyckel" in r.output


def test_a_rotation_killed_before_the_switch_leaves_the_old_state(town, monkeypatch):
    base, night1 = town
    s = _copy(base, night1, "killed-before")
    before = {p: p.read_bytes() for p in s.data.rglob("*") if p.is_file()}
    keys_before = (s.keys / "pseudonym.key.json").read_bytes()

    def killed(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(rotation, "_refuse_leftover_pseudonyms", killed)
    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_pseudonym(s.keys, s.data)
    assert (s.keys / "pseudonym.key.json").read_bytes() == keys_before
    assert not (s.data / "state" / ROTATION_JOURNAL).exists()
    for p, content in before.items():
        assert p.read_bytes() == content  # every original file untouched
    monkeypatch.undo()
    # The old state is usable as it is; the next attempt discards the prepared files.
    rotation.rotate_pseudonym(s.keys, s.data)
    assert not list(s.data.rglob(f"*{rotation.SUFFIX}"))
    assert load_keys(s.keys).pseudonym_id == "p2"


def test_a_rotation_killed_after_the_switch_is_finished_by_running_it_again(town, monkeypatch):
    base, night1 = town
    s = _copy(base, night1, "killed-after")
    real = rotation._finish
    calls = []

    def killed(key_dir, data, plan):
        calls.append(plan)
        raise KeyboardInterrupt

    monkeypatch.setattr(rotation, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_pseudonym(s.keys, s.data)
    journal = s.data / "state" / ROTATION_JOURNAL
    assert journal.exists() and json.loads(journal.read_text())["till"] == "p2"
    with pytest.raises(KeyProblem, match="avbruten"):
        from skyddsnat.privacy.keys import verify_against_data
        verify_against_data(load_keys(s.keys), s.data / "state")
    monkeypatch.setattr(rotation, "_finish", real)
    done = rotation.rotate_pseudonym(s.keys, s.data)
    assert done["till"] == "p2" and not journal.exists()
    assert load_keys(s.keys).pseudonym_id == "p2"
    assert [e["event"] for e in audit_entries(s.data)].count("pseudonymrotation") == 1
    ran = run(s, DAY2)
    assert ran.returncode == 0, ran.output[-3000:]
