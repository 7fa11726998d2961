"""Keys fail loudly before data is read; the vault detects tampering and survives rotation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.privacy.identity_store import (
    SEALED_FILE,
    VAULT_FILE,
    key_ids_in_use,
    merge_vault,
    read_identities,
    read_sealed,
    rewrap_vault,
    stage_identities,
)
from skyddsnat.privacy.keys import (
    ENV_KEYRING,
    ENV_OFFICER_PUBLIC,
    ENV_PSEUDONYM,
    KEYRING_FILE,
    OFFICER_PUBLIC_FILE,
    PSEUDONYM_FILE,
    KeyProblem,
    init_keys,
    load_keys,
    load_officer_private,
    retire_vault_keys,
    rotate_vault_key,
    verify_against_data,
)
from skyddsnat.privacy.seal import (
    SealBroken,
    open_bytes,
    open_identities,
    seal_bytes,
    seal_identities,
)
from skyddsnat.privacy.vault import (
    VaultTampered,
    decrypt_identities,
    encrypt_identities,
    plaintexts,
    rewrap,
)

P = [f"{i:032x}" for i in range(1, 5)]
IDENTITIES = pd.DataFrame({
    "person_id": pd.Series(P, dtype="string"),
    "personnummer": ["201503122384", "201406072391", "198112189876", "197702021234"],
    "fornamn": ["Åsa", "Björn", "Märta", None],
    "efternamn": ["Öberg", "Lind", "Ek", "Sten"],
})


@pytest.fixture(autouse=True)
def no_key_env(monkeypatch):
    for name in (ENV_PSEUDONYM, ENV_KEYRING, ENV_OFFICER_PUBLIC):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def key_dir(tmp_path) -> Path:
    init_keys(tmp_path / "keys", tmp_path / "officer.pem")
    return tmp_path / "keys"


def test_init_writes_private_key_only_to_the_named_file(tmp_path, key_dir):
    officer = tmp_path / "officer.pem"
    assert b"PRIVATE KEY" in officer.read_bytes()
    assert oct(officer.stat().st_mode & 0o777) == "0o600"
    names = sorted(p.name for p in key_dir.iterdir())
    assert names == sorted([PSEUDONYM_FILE, KEYRING_FILE, OFFICER_PUBLIC_FILE])
    for p in key_dir.iterdir():
        assert b"PRIVATE" not in p.read_bytes()
    private = load_officer_private(officer)
    keys = load_keys(key_dir)
    assert private.public_key().public_bytes_raw() == keys.officer_public.public_bytes_raw()


def test_init_refuses_private_key_inside_the_key_dir(tmp_path):
    with pytest.raises(KeyProblem):
        init_keys(tmp_path / "k", tmp_path / "k" / "officer.pem")
    with pytest.raises(KeyProblem):
        init_keys(tmp_path / "k", tmp_path / "k" / "sub" / "officer.pem")
    assert not (tmp_path / "k" / "officer.pem").exists()


def test_init_does_not_overwrite_without_force(tmp_path, key_dir):
    before = (key_dir / PSEUDONYM_FILE).read_bytes()
    with pytest.raises(KeyProblem):
        init_keys(key_dir, tmp_path / "other.pem")
    assert (key_dir / PSEUDONYM_FILE).read_bytes() == before
    init_keys(key_dir, tmp_path / "other.pem", force=True)
    assert (key_dir / PSEUDONYM_FILE).read_bytes() != before


def test_missing_key_dir(tmp_path):
    with pytest.raises(KeyProblem):
        load_keys(tmp_path / "nowhere")


@pytest.mark.parametrize("missing", [PSEUDONYM_FILE, KEYRING_FILE, OFFICER_PUBLIC_FILE])
def test_each_missing_key_file_stops(key_dir, missing):
    (key_dir / missing).unlink()
    with pytest.raises(KeyProblem, match="saknas"):
        load_keys(key_dir)


@pytest.mark.parametrize("file,content", [
    (PSEUDONYM_FILE, b"{not json"),
    (PSEUDONYM_FILE, b'{"id": "p1", "key": "c2hvcnQ="}'),          # wrong length
    (PSEUDONYM_FILE, b'{"id": "p1", "key": "***"}'),               # not base64
    (PSEUDONYM_FILE, b'{"id": "p1"}'),                             # no key field
    (PSEUDONYM_FILE, b"\xff\xfe\x00garbage"),                      # not even text
    (KEYRING_FILE, b'{"active": "v9", "keys": {}}'),               # active key absent
    (KEYRING_FILE, b'{"active": "v1", "keys": ["v1"]}'),
    (KEYRING_FILE, b"[]"),
    (OFFICER_PUBLIC_FILE, b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
    (OFFICER_PUBLIC_FILE, b""),
])
def test_corrupt_key_file_is_a_key_problem(key_dir, file, content):
    (key_dir / file).write_bytes(content)
    with pytest.raises(KeyProblem):
        load_keys(key_dir)


def test_corrupt_or_missing_private_key(tmp_path):
    with pytest.raises(KeyProblem):
        load_officer_private(tmp_path / "none.pem")
    (tmp_path / "bad.pem").write_text("nonsense")
    with pytest.raises(KeyProblem):
        load_officer_private(tmp_path / "bad.pem")


def test_keys_from_environment(monkeypatch, key_dir):
    monkeypatch.setenv(ENV_PSEUDONYM, (key_dir / PSEUDONYM_FILE).read_text())
    monkeypatch.setenv(ENV_KEYRING, (key_dir / KEYRING_FILE).read_text())
    monkeypatch.setenv(ENV_OFFICER_PUBLIC, (key_dir / OFFICER_PUBLIC_FILE).read_text())
    from_env = load_keys(None)
    from_dir = load_keys(key_dir)
    assert from_env == from_dir
    monkeypatch.delenv(ENV_KEYRING)
    with pytest.raises(KeyProblem, match=ENV_KEYRING):
        load_keys(None)


def test_environment_fills_a_file_missing_from_the_dir(monkeypatch, key_dir):
    pem = (key_dir / OFFICER_PUBLIC_FILE).read_text()
    (key_dir / OFFICER_PUBLIC_FILE).unlink()
    monkeypatch.setenv(ENV_OFFICER_PUBLIC, pem)
    assert load_keys(key_dir).officer_public.public_bytes_raw()


def test_verify_against_data_accepts_the_same_keys_and_rejects_others(tmp_path, key_dir):
    state = tmp_path / "state"
    verify_against_data(load_keys(key_dir), state)
    verify_against_data(load_keys(key_dir), state)  # second run, same keys
    init_keys(tmp_path / "other", tmp_path / "other.pem")
    with pytest.raises(KeyProblem, match="pseudonymnyckel"):
        verify_against_data(load_keys(tmp_path / "other"), state)

    # Right pseudonym key, wrong vault key under the same key id.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in (PSEUDONYM_FILE, OFFICER_PUBLIC_FILE):
        (mixed / f).write_bytes((key_dir / f).read_bytes())
    (mixed / KEYRING_FILE).write_bytes((tmp_path / "other" / KEYRING_FILE).read_bytes())
    with pytest.raises(KeyProblem, match="valvnyckel v1"):
        verify_against_data(load_keys(mixed), state)


def test_verify_records_new_keys_after_rotation_and_ignores_retired(tmp_path, key_dir):
    state = tmp_path / "state"
    verify_against_data(load_keys(key_dir), state)
    rotate_vault_key(key_dir)
    verify_against_data(load_keys(key_dir), state)
    assert set(json.loads((state / "nyckelkontroll.json").read_text())["valv"]) == {"v1", "v2"}
    retire_vault_keys(key_dir, keep=set())
    verify_against_data(load_keys(key_dir), state)


# --- vault ---------------------------------------------------------------------------------


def test_vault_roundtrip_keeps_every_field(key_dir):
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES)
    assert list(vault.columns) == ["person_id", "key_id", "nonce", "ct"]
    assert set(vault["key_id"]) == {"v1"}
    assert len(set(vault["nonce"])) == len(vault)
    blob = b"".join(vault["ct"])
    for value in ("201503122384", "Åsa".encode().decode(), "Öberg"):
        assert value.encode() not in blob
    back = decrypt_identities(keys, vault)
    pd.testing.assert_frame_equal(back.astype(object), IDENTITIES.astype(object).where(
        IDENTITIES.notna(), None), check_dtype=False)


def test_vault_detects_tampered_ciphertext(key_dir):
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES)
    ct = bytearray(vault.at[2, "ct"])
    ct[0] ^= 1
    vault.at[2, "ct"] = bytes(ct)
    with pytest.raises(VaultTampered):
        decrypt_identities(keys, vault)


def test_vault_detects_a_record_moved_to_another_person(key_dir):
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES)
    vault["person_id"] = vault["person_id"].iloc[[1, 0, 2, 3]].to_numpy()
    with pytest.raises(VaultTampered):
        decrypt_identities(keys, vault)


def test_vault_detects_a_relabelled_key_id(key_dir):
    rotate_vault_key(key_dir)  # v2 exists, so relabelling finds a key but the wrong one
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES)
    vault["key_id"] = "v1"
    with pytest.raises(VaultTampered):
        decrypt_identities(keys, vault)


def test_vault_detects_a_swapped_nonce(key_dir):
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES)
    vault["nonce"] = vault["nonce"].iloc[[1, 0, 2, 3]].to_numpy()
    with pytest.raises(VaultTampered):
        decrypt_identities(keys, vault)


def test_vault_message_carries_no_value(key_dir):
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES)
    vault.at[0, "ct"] = b"x" * 40
    with pytest.raises(VaultTampered) as info:
        decrypt_identities(keys, vault)
    assert P[0] not in str(info.value)


def test_rotate_rewrap_retire_keeps_every_record(tmp_path, key_dir):
    vault_dir = tmp_path / "vault"
    keys = load_keys(key_dir)
    stage_identities(keys, vault_dir, "folkbokforing", IDENTITIES)
    merge_vault(keys, vault_dir, pd.Series([], dtype="string"))
    stage_identities(keys, vault_dir, "elevregister", IDENTITIES.iloc[:1])  # a pending stage
    assert key_ids_in_use(vault_dir) == {"v1"}

    assert rotate_vault_key(key_dir) == "v2"
    keys = load_keys(key_dir)
    assert keys.vault_active == "v2"
    counts = rewrap_vault(keys, vault_dir)
    assert counts == {"poster": 4, "tidigare_v1": 4}
    assert key_ids_in_use(vault_dir) == {"v2"}
    dropped = retire_vault_keys(key_dir, key_ids_in_use(vault_dir))
    assert dropped == ["v1"]

    keys = load_keys(key_dir)
    assert set(keys.vault_keys) == {"v2"}
    back = read_identities(keys, vault_dir).sort_values("person_id").reset_index(drop=True)
    assert back["personnummer"].tolist() == IDENTITIES["personnummer"].tolist()
    assert back["fornamn"].tolist()[:3] == ["Åsa", "Björn", "Märta"]
    merge_vault(keys, vault_dir, pd.Series([], dtype="string"))  # the staged one still opens
    assert len(read_identities(keys, vault_dir)) == 4


def test_retire_never_drops_the_active_or_a_used_key(key_dir):
    rotate_vault_key(key_dir)
    rotate_vault_key(key_dir)
    assert retire_vault_keys(key_dir, keep={"v1"}) == ["v2"]
    assert set(load_keys(key_dir).vault_keys) == {"v1", "v3"}


def test_rewrap_of_a_current_vault_is_a_no_op(key_dir):
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES)
    assert rewrap(keys, vault) is vault


def test_merge_seals_protected_persons_out_of_the_aes_vault(tmp_path, key_dir):
    vault_dir = tmp_path / "vault"
    keys = load_keys(key_dir)
    stage_identities(keys, vault_dir, "folkbokforing", IDENTITIES)
    counts = merge_vault(keys, vault_dir, pd.Series([P[1]], dtype="string"))
    assert counts["identiteter_i_valvet"] == 3
    assert counts["forseglade_identiteter"] == 1
    assert P[1] not in set(read_identities(keys, vault_dir)["person_id"])
    sealed = read_sealed(vault_dir)
    opened = open_identities(load_officer_private(tmp_path / "officer.pem"), sealed)
    assert opened.loc[0, "personnummer"] == "201406072391"
    raw = (vault_dir / VAULT_FILE).read_bytes() + (vault_dir / SEALED_FILE).read_bytes()
    for value in ("201406072391", "Björn", "Lind"):
        assert value.encode() not in raw
    assert not list((vault_dir / "staging").glob("*.parquet"))


# --- HPKE ----------------------------------------------------------------------------------


def test_hpke_roundtrip_and_wrong_key_or_info(tmp_path, key_dir):
    keys = load_keys(key_dir)
    private = load_officer_private(tmp_path / "officer.pem")
    blob = seal_bytes(keys.officer_public, b"Hemliga v\xc3\xa4gen 1", b"lista/skolplikt/v1")
    assert b"Hemliga" not in blob
    assert open_bytes(private, blob, b"lista/skolplikt/v1") == "Hemliga vägen 1".encode()
    with pytest.raises(SealBroken):
        open_bytes(X25519PrivateKey.generate(), blob, b"lista/skolplikt/v1")
    with pytest.raises(SealBroken):
        open_bytes(private, blob, b"lista/franvaro/v1")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(SealBroken):
        open_bytes(private, bytes(tampered), b"lista/skolplikt/v1")
    with pytest.raises(SealBroken):
        open_bytes(private, blob[5:], b"lista/skolplikt/v1")


def test_sealed_identity_cannot_be_moved_to_another_person(tmp_path, key_dir):
    keys = load_keys(key_dir)
    private = load_officer_private(tmp_path / "officer.pem")
    sealed = seal_identities(keys.officer_public, IDENTITIES.iloc[:2])
    back = open_identities(private, sealed)
    assert back["personnummer"].tolist() == ["201503122384", "201406072391"]
    sealed["person_id"] = sealed["person_id"].iloc[::-1].to_numpy()
    with pytest.raises(SealBroken):
        open_identities(private, sealed)


def test_key_dir_is_private(key_dir):
    assert oct(os.stat(key_dir).st_mode & 0o777) == "0o700"
    for f in (PSEUDONYM_FILE, KEYRING_FILE):
        assert oct((key_dir / f).stat().st_mode & 0o777) == "0o600"


def test_a_rebound_identity_opens_under_its_new_id_only(tmp_path, key_dir):
    """Rotation moves a sealed identity to the re-keyed pseudonym without opening it."""
    from skyddsnat.privacy.seal import rebind_identity

    keys = load_keys(key_dir)
    private = load_officer_private(tmp_path / "officer.pem")
    sealed = seal_identities(keys.officer_public, IDENTITIES.iloc[:2])
    old = sealed["person_id"].tolist()
    new = ["a" * 32, "b" * 32]
    twice = ["c" * 32, "d" * 32]
    moved = sealed.assign(sealed=[rebind_identity(keys.officer_public, b, o, n)
                                  for b, o, n in zip(sealed["sealed"], old, new, strict=True)],
                          person_id=new)
    again = moved.assign(sealed=[rebind_identity(keys.officer_public, b, o, n)
                                 for b, o, n in zip(moved["sealed"], new, twice, strict=True)],
                         person_id=twice)
    back = open_identities(private, again)
    assert back["personnummer"].tolist() == ["201503122384", "201406072391"]
    assert back["person_id"].tolist() == twice
    for blob in again["sealed"]:
        assert old[0].encode() not in blob and b"201503122384" not in blob
    again["person_id"] = again["person_id"].iloc[::-1].to_numpy()
    with pytest.raises(SealBroken):
        open_identities(private, again)


def test_a_chained_pseudonym_composes_keyed_hashes():
    """After a rotation: HMAC(k2, HMAC(k1, pnr)) — the old key alone computes nothing stored."""
    import hashlib
    import hmac

    from skyddsnat.privacy.keys import pseudonym_check
    from skyddsnat.privacy.pseudonym import pseudonym, pseudonymize_series

    k1, k2 = bytes(range(32)), bytes(range(1, 33))
    p1 = pseudonym(k1, "201503122384")
    p2 = pseudonym((k1, k2), "201503122384")
    assert p2 == hmac.digest(k2, p1.encode(), hashlib.sha256).hex()[:32] != p1
    series = pseudonymize_series((k1, k2), pd.Series(["201503122384", None], dtype="string"))
    assert series.iat[0] == p2 and series.isna().iat[1]
    assert pseudonymize_series(k2, pd.Series([p1], dtype="string")).iat[0] == p2
    assert pseudonym_check((k1,)) == hmac.new(k1, b"skyddsnat nyckelkontroll v1",
                                              hashlib.sha256).hexdigest()
    assert pseudonym_check((k1, k2)) != pseudonym_check((k2,))


field_value = st.one_of(st.none(), st.text(max_size=12), st.integers(-10**6, 10**6))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(field_value, field_value), min_size=1, max_size=8),
       st.sampled_from(["object", "string"]))
def test_plaintexts_are_the_bytes_json_writes(rows, storage):
    """Built a column at a time, a record is exactly the JSON of its dict (with any text,
    quotes, control characters, å/ä/ö, and a column that is not text)."""
    frame = pd.DataFrame({"namn": [r[0] if not isinstance(r[0], int) else str(r[0])
                                   for r in rows],
                          "tal": [r[1] for r in rows]})
    frame["namn"] = frame["namn"].astype(storage)
    records = frame.astype(object).where(frame.notna(), None)
    expected = [json.dumps(dict(zip(frame.columns, r, strict=True)), ensure_ascii=False,
                           separators=(",", ":")).encode()
                for r in records.itertuples(index=False, name=None)]
    assert plaintexts(frame, list(frame.columns)) == expected


def test_vault_refuses_a_record_that_is_not_one_record(key_dir):
    """Records are parsed together: an authenticated plaintext holding two objects would
    shift every person after it, so it stops the read."""
    keys = load_keys(key_dir)
    vault = encrypt_identities(keys, IDENTITIES.iloc[:2])
    aead = AESGCM(keys.vault_key(keys.vault_active))
    nonce = os.urandom(12)
    vault.at[0, "nonce"] = nonce
    vault.at[0, "ct"] = aead.encrypt(nonce, b'{"fornamn":"A"},{"fornamn":"B"}',
                                     f"{P[0]}|{keys.vault_active}".encode())
    with pytest.raises(VaultTampered) as info:
        decrypt_identities(keys, vault)
    assert "A" not in str(info.value)
