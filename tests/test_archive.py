"""The sealed archive: the host writes it but cannot read it; the custodian's key can;
renamed or tampered blobs fail; retention purge; restore for re-processing."""

from __future__ import annotations

import base64
import io
from datetime import date

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skyddsnat.policy import load_policy
from skyddsnat.privacy.archive import (
    LEGACY_MAGIC,
    MAGIC,
    archive_file,
    archive_quarantine,
    custodian_key,
    purge,
    read_archived,
    restore,
    seal_legacy,
)
from skyddsnat.privacy.keys import init_keys, load_keys, load_officer_private
from skyddsnat.privacy.seal import SealBroken

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
    keys = load_keys(tmp_path / "keys")
    return keys, load_officer_private(tmp_path / "officer.pem"), tmp_path / "archive", src


def _host_tries(keys, blob: bytes, name: str) -> bool:
    """Every key the host holds, tried on the blob as AES-GCM (with and without the name as
    associated data, at every plausible nonce offset): True if any opens it."""
    candidates = [keys.pseudonym_key, *keys.vault_keys.values()]
    body = blob[len(MAGIC):]
    for key in candidates:
        for start in range(0, 64):
            for aad in (None, name.encode(), f"skyddsnat/arkiv/{name}".encode()):
                try:
                    AESGCM(key).decrypt(body[start:start + 12], body[start + 12:], aad)
                    return True
                except Exception:  # noqa: BLE001 - any failure means it did not open
                    continue
    return False


def test_host_keys_cannot_open_any_blob_the_custodian_can(setup):
    keys, officer, archive, src = setup
    target = archive_file(keys.officer_public, archive, AS_OF, src)
    rows = pd.DataFrame({"rad": [3], "personnummer": ["201503122385"], "orsak": ["x"]})
    quarantine = archive_quarantine(keys.officer_public, archive, AS_OF, src.name, rows)
    for blob_path in (target, quarantine):
        blob = blob_path.read_bytes()
        assert blob.startswith(MAGIC)
        for secret in SECRETS:
            assert secret not in blob
        assert not _host_tries(keys, blob, blob_path.name)
    # The host's API has no way in either: only a private X25519 key opens a blob.
    with pytest.raises(SealBroken):
        read_archived(X25519PrivateKey.generate(), target)
    assert read_archived(officer, target) == CSV
    back = pd.read_parquet(io.BytesIO(read_archived(officer, quarantine)))
    assert back.loc[0, "personnummer"] == "201503122385"


def test_no_8_byte_run_of_the_source_survives(setup):
    keys, _officer, archive, src = setup
    blob = archive_file(keys.officer_public, archive, AS_OF, src).read_bytes()
    for i in range(0, len(CSV) - 8, 4):
        assert CSV[i:i + 8] not in blob


def test_archiving_is_idempotent_per_content(setup):
    keys, _officer, archive, src = setup
    first = archive_file(keys.officer_public, archive, AS_OF, src)
    stamp = first.stat().st_mtime_ns
    assert archive_file(keys.officer_public, archive, AS_OF, src) == first
    assert first.stat().st_mtime_ns == stamp
    src.write_bytes(CSV + b"201001012380;Ny;Rad;X\n")
    assert archive_file(keys.officer_public, archive, AS_OF, src) != first
    assert len(list((archive / "2025-09-15").glob("*.enc"))) == 2


def test_a_renamed_or_tampered_blob_does_not_open(setup):
    keys, officer, archive, src = setup
    target = archive_file(keys.officer_public, archive, AS_OF, src)
    renamed = target.with_name("elevregister_20250915.csv.000000000000.enc")
    renamed.write_bytes(target.read_bytes())
    with pytest.raises(SealBroken):
        read_archived(officer, renamed)
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(SealBroken):
        read_archived(officer, target)


def test_empty_quarantine_writes_nothing(setup):
    keys, _officer, archive, _src = setup
    rows = pd.DataFrame({"rad": [], "orsak": []})
    assert archive_quarantine(keys.officer_public, archive, AS_OF, "x.csv", rows) is None


def test_purge_by_retention_days(setup):
    keys, _officer, archive, src = setup
    for day in (date(2025, 6, 16), date(2025, 6, 17), date(2025, 9, 14)):
        archive_file(keys.officer_public, archive, day, src)
    (archive / "not-a-date").mkdir()
    # 90 days before 2025-09-15 is 2025-06-17: that day is kept, the day before is purged.
    assert purge(archive, AS_OF, 90) == ["2025-06-16"]
    assert sorted(p.name for p in archive.iterdir()) == ["2025-06-17", "2025-09-14",
                                                         "not-a-date"]
    assert purge(archive, AS_OF, 90) == []
    assert purge(archive, date(2025, 12, 31), 1) == ["2025-06-17", "2025-09-14"]
    assert purge(archive.parent / "missing", AS_OF, 1) == []


def test_restore_opens_a_day_for_reprocessing_and_a_wrong_key_writes_nothing(setup, tmp_path):
    keys, officer, archive, src = setup
    archive_file(keys.officer_public, archive, AS_OF, src)
    rows = pd.DataFrame({"rad": [3], "orsak": ["dubblett"]})
    archive_quarantine(keys.officer_public, archive, AS_OF, src.name, rows)
    with pytest.raises(SealBroken):
        restore(X25519PrivateKey.generate(), archive, AS_OF, tmp_path / "ut", tmp_path / "in")
    assert not (tmp_path / "ut").exists() and not (tmp_path / "in").exists()
    done = restore(officer, archive, AS_OF, tmp_path / "ut", tmp_path / "in")
    assert done.files == [src.name] and done.quarantine == ["karantan_folkbokforing_20250915"
                                                            ".parquet"]
    assert (tmp_path / "in" / src.name).read_bytes() == CSV


def test_legacy_aes_blobs_are_sealed_once(setup):
    keys, officer, archive, _src = setup
    name = "folkbokforing_20250915.csv.0123456789ab.enc"
    nonce, kid = b"\x01" * 12, keys.vault_active.encode()
    legacy = LEGACY_MAGIC + kid + b"\n" + nonce + AESGCM(keys.vault_key(keys.vault_active)
                                                         ).encrypt(nonce, CSV, name.encode()
                                                                   + b"|" + kid)
    (archive / "2025-09-14").mkdir(parents=True)
    (archive / "2025-09-14" / name).write_bytes(legacy)
    assert seal_legacy(keys, keys.officer_public, archive) == 1
    assert seal_legacy(keys, keys.officer_public, archive) == 0
    assert read_archived(officer, archive / "2025-09-14" / name) == CSV


def test_policy_names_the_custodian_key(setup, tmp_path):
    """gallring.arkiv_nyckel: a reviewed registrar key replaces the officer's."""
    keys, officer, archive, src = setup
    policy = load_policy()
    assert custodian_key(keys, policy) is keys.officer_public
    registrar = X25519PrivateKey.generate()
    raw = registrar.public_key().public_bytes(serialization.Encoding.Raw,
                                              serialization.PublicFormat.Raw)
    gallring = policy.gallring.model_copy(update={"arkiv_nyckel": base64.b64encode(raw).decode()})
    target = archive_file(custodian_key(keys, policy.model_copy(update={"gallring": gallring})),
                          archive, AS_OF, src)
    assert read_archived(registrar, target) == CSV
    with pytest.raises(SealBroken):
        read_archived(officer, target)
