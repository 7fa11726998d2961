"""Day files are sealed into the archive beside their ingest: every one before ingest_days
returns, and a failed seal stops the days (no ledger saved) instead of passing unseen."""

from datetime import date

import pytest

import skyddsnat.ingest.run as run
from skyddsnat.ingest.run import ingest_days
from skyddsnat.layout import DataDir
from skyddsnat.policy import load_policy
from skyddsnat.privacy.archive import read_archived
from skyddsnat.privacy.keys import seeded_keys, seeded_officer_private
from tests.test_ingest import pnr

REF = date(2025, 9, 19)
DAYS = [date(2025, 9, d) for d in (15, 16, 17)]
HEAD = "datum;personnummer;skolenhetskod;schemalagd_min;giltig_franvaro_min;ogiltig_franvaro_min"


def _store(tmp_path) -> tuple[DataDir, list[tuple[date, object]]]:
    store = DataDir(tmp_path)
    store.inbox.mkdir(parents=True)
    present = []
    for day in DAYS:
        rows = [f"{day};{pnr(f'1501{d:02d}')};12345678;300;0;0" for d in range(1, 8)]
        rows.append(f"{day};{pnr('150101')[:-1]}0;12345678;300;0;0")  # quarantined
        path = store.inbox / f"narvaro_{day:%Y%m%d}.csv"
        path.write_text("\n".join([HEAD, *rows]) + "\n", encoding="utf-8")
        present.append((day, path))
    return store, present


def test_every_day_file_and_its_quarantine_is_sealed_before_the_return(tmp_path):
    store, present = _store(tmp_path)
    done = ingest_days(DAYS, present, seeded_keys(1), load_policy(), store, REF)
    assert done.tally.read == 24 and done.tally.quarantined == 3
    sealed = sorted((store.archive / REF.isoformat()).iterdir())
    assert len([p for p in sealed if p.name.startswith("narvaro_")]) == 3
    assert len([p for p in sealed if p.name.startswith("karantan_")]) == 3
    officer = seeded_officer_private(1)
    assert {read_archived(officer, p) for p in sealed if p.name.startswith("narvaro_")} == {
        path.read_bytes() for _, path in present}


@pytest.mark.parametrize("failing", ["0916", "0917"])  # a middle day, the last day
def test_a_failed_seal_stops_the_days(tmp_path, monkeypatch, failing):
    store, present = _store(tmp_path)
    original = run.archive_file

    def full_disk(custodian, archive, as_of, path):
        if path.name.endswith(f"{failing}.csv"):
            raise OSError(28, "No space left on device")
        return original(custodian, archive, as_of, path)

    monkeypatch.setattr(run, "archive_file", full_disk)
    with pytest.raises(OSError):
        ingest_days(DAYS, present, seeded_keys(1), load_policy(), store, REF)
    assert not list(store.state.glob("narvaro*"))  # no day noted as read
