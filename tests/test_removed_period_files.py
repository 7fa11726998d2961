"""A period file the inbox cleanup removed lives on in the file cache (caches.py) only while
it reads as it did: a change to how its source is read (kallor.yaml, klassning.yaml) binds
its rows too, so the night stops and asks for the file from the archive instead of keeping
rows decided under the old rule."""

from __future__ import annotations

from datetime import date

import pytest

from skyddsnat.ingest.errors import IngestRefused
from skyddsnat.ingest.inbox_cleanup import clean
from skyddsnat.ingest.run import ingest_source, keep_account, store_table
from skyddsnat.layout import DataDir
from skyddsnat.privacy.archive import restore
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.keys import init_keys, load_keys, load_officer_private
from tests.test_bad_inputs import row, write
from tests.test_policy_keys import SHIPPED, changed

NIGHT = date(2025, 9, 15)
LATER = date(2025, 9, 16)


@pytest.fixture
def night(tmp_path):
    """Betyg read on the first night, then removed from the inbox by the cleanup."""
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys = load_keys(tmp_path / "k")
    data = DataDir(tmp_path / "d").ensure()
    first, second = row("betyg", 1), row("betyg", 2)
    second["personnummer"] = first["personnummer"]  # the same pupil, another subject
    second["amne"] = "SV"
    path = write(data.inbox, "betyg", [first, second])
    path = path.rename(data.inbox / "betyg_HT2025.csv")
    out = ingest_source([path], "betyg", keys, SHIPPED, data, NIGHT)
    store_table(data, out)
    keep_account(data, out)
    assert clean(data, NIGHT, AuditLog(data.audit), SHIPPED) == [path.name]
    return keys, data, out


def test_a_removed_file_is_kept_while_its_source_reads_the_same(night, tmp_path):
    keys, data, first = night
    # Another policy key (the board's k) changes the policy's version, not how betyg reads.
    other = changed(tmp_path, "undertryckning.yaml", lambda d: d.update(k=7), "k7")
    for policy in (SHIPPED, other):
        out = ingest_source([], "betyg", keys, policy, data, LATER)
        assert out.tally.accepted == first.tally.accepted == 2


def test_a_removed_file_is_not_kept_under_another_reading_of_its_source(night, tmp_path):
    keys, data, first = night
    per_pupil = changed(tmp_path, "kallor.yaml", lambda d: d["kallor"]["betyg"].update(
        nyckel=["personnummer", "termin"]), "nyckel")
    with pytest.raises(IngestRefused) as info:
        ingest_source([], "betyg", keys, per_pupil, data, LATER)
    assert "betyg_HT2025.csv" in str(info.value) and "arkivet" in str(info.value)
    # Restored from the archive, the file is read under the new key: one grade per pupil.
    restore(load_officer_private(tmp_path / "o.key"), data.archive, NIGHT, tmp_path / "ut",
            exports_to=data.inbox)
    again = ingest_source([data.inbox / "betyg_HT2025.csv"], "betyg", keys, per_pupil, data,
                          LATER)
    assert (again.tally.accepted, dict(again.tally.reasons)) == (1, {"dubblett": 1})


def test_a_run_killed_before_sealing_leaves_no_file_remembered_unsealed(tmp_path, monkeypatch):
    """A period file is cached only once it is sealed into the archive: a cached file is not
    read again, so if the cache came first, a run killed between the two would leave the file
    unsealed for good, and the inbox cleanup (archived files only) would keep its plaintext."""
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys = load_keys(tmp_path / "k")
    data = DataDir(tmp_path / "d").ensure()
    path = write(data.inbox, "betyg", [row("betyg", 1)]).rename(data.inbox / "betyg_HT2025.csv")

    def killed(*_):
        raise KeyboardInterrupt("killed while sealing")

    monkeypatch.setattr("skyddsnat.ingest.run._archive", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest_source([path], "betyg", keys, SHIPPED, data, NIGHT)
    monkeypatch.undo()
    out = ingest_source([path], "betyg", keys, SHIPPED, data, NIGHT)
    store_table(data, out)
    keep_account(data, out)
    assert clean(data, NIGHT, AuditLog(data.audit), SHIPPED) == [path.name]
    assert not path.exists()
