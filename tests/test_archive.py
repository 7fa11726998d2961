"""The encrypted archive: no plaintext at rest, roundtrip, retention purge, rewrap."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
from cryptography.exceptions import InvalidTag

from skyddsnat.archive import (
    archive_file,
    archive_quarantine,
    key_ids_in_archive,
    purge,
    read_archived,
    rewrap_archive,
)
from skyddsnat.keys import init_keys, load_keys, retire_vault_keys, rotate_vault_key

AS_OF = date(2025, 9, 15)
CSV = ("personnummer;fornamn;efternamn;utdelningsadress\n"
       "201503122384;Åsa;Öberg;Hemliga vägen 12\n"
       "201406072391;Björn;Lind;Storgatan 1\n").encode()
SECRETS = [b"201503122384", "Öberg".encode(), "Hemliga vägen 12".encode(), b"150312-2384",
           b"Storgatan"]


@pytest.fixture
def setup(tmp_path):
    init_keys(tmp_path / "keys", tmp_path / "officer.pem")
    src = tmp_path / "inbox" / "folkbokforing_20250915.csv"
    src.parent.mkdir()
    src.write_bytes(CSV)
    return tmp_path / "keys", tmp_path / "archive", src


def test_archived_file_holds_no_plaintext_and_reads_back(setup):
    key_dir, archive, src = setup
    keys = load_keys(key_dir)
    target = archive_file(keys, archive, AS_OF, src)
    assert target.parent.name == "2025-09-15"
    blob = target.read_bytes()
    for secret in SECRETS:
        assert secret not in blob
    for i in range(0, len(CSV) - 8, 4):  # no 8-byte run of the source survives
        assert CSV[i:i + 8] not in blob
    assert read_archived(keys, target) == CSV


def test_archiving_is_idempotent_per_content(setup):
    key_dir, archive, src = setup
    keys = load_keys(key_dir)
    first = archive_file(keys, archive, AS_OF, src)
    stamp = first.stat().st_mtime_ns
    assert archive_file(keys, archive, AS_OF, src) == first
    assert first.stat().st_mtime_ns == stamp
    src.write_bytes(CSV + b"201001012380;Ny;Rad;X\n")
    assert archive_file(keys, archive, AS_OF, src) != first
    assert len(list((archive / "2025-09-15").glob("*.enc"))) == 2


def test_a_renamed_or_tampered_blob_does_not_open(setup):
    key_dir, archive, src = setup
    keys = load_keys(key_dir)
    target = archive_file(keys, archive, AS_OF, src)
    renamed = target.with_name("elevregister_20250915.csv.000000000000.enc")
    renamed.write_bytes(target.read_bytes())
    with pytest.raises(InvalidTag):
        read_archived(keys, renamed)
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(InvalidTag):
        read_archived(keys, target)


def test_quarantined_rows_are_encrypted_parquet(setup):
    key_dir, archive, _src = setup
    keys = load_keys(key_dir)
    rows = pd.DataFrame({"rad": [3], "personnummer": ["201503122385"], "fornamn": ["Åsa"],
                         "orsak": ["ogiltigt_personnummer"]})
    target = archive_quarantine(keys, archive, AS_OF, "folkbokforing_20250915.csv", rows)
    assert b"201503122385" not in target.read_bytes()
    back = pd.read_parquet(io.BytesIO(read_archived(keys, target)))
    assert back.loc[0, "personnummer"] == "201503122385"
    assert back.loc[0, "orsak"] == "ogiltigt_personnummer"
    assert archive_quarantine(keys, archive, AS_OF, "x.csv", rows.iloc[:0]) is None


def test_purge_by_retention_days(setup):
    key_dir, archive, src = setup
    keys = load_keys(key_dir)
    for day in (date(2025, 6, 16), date(2025, 6, 17), date(2025, 9, 14)):
        archive_file(keys, archive, day, src)
    (archive / "not-a-date").mkdir()
    # 90 days before 2025-09-15 is 2025-06-17: that day is kept, the day before is purged.
    assert purge(archive, AS_OF, 90) == ["2025-06-16"]
    assert sorted(p.name for p in archive.iterdir()) == ["2025-06-17", "2025-09-14",
                                                         "not-a-date"]
    assert purge(archive, AS_OF, 90) == []
    assert purge(archive, date(2025, 12, 31), 1) == ["2025-06-17", "2025-09-14"]
    assert purge(archive.parent / "missing", AS_OF, 1) == []


def test_rewrap_moves_every_blob_to_the_new_key(setup):
    key_dir, archive, src = setup
    keys = load_keys(key_dir)
    targets = [archive_file(keys, archive, d, src) for d in (date(2025, 9, 1), AS_OF)]
    assert key_ids_in_archive(archive) == {"v1"}
    rotate_vault_key(key_dir)
    keys = load_keys(key_dir)
    assert rewrap_archive(keys, archive) == 2
    assert rewrap_archive(keys, archive) == 0
    assert key_ids_in_archive(archive) == {"v2"}
    assert retire_vault_keys(key_dir, key_ids_in_archive(archive)) == ["v1"]
    keys = load_keys(key_dir)
    for t in targets:
        assert read_archived(keys, t) == CSV
        assert not list(t.parent.glob(".*.tmp"))
