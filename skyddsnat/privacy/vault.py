"""The identity vault's encryption: AES-256-GCM per record, and per batch for staging.

A vault record is encrypted alone with the pseudonym and key id as associated data, so a
record moved to another pseudonym, or relabelled with another key id, fails to decrypt; a
person is erased by dropping a row, and a delivery decrypts only the persons it names.
A staged batch (what one source stages in one ingest, merged whole by the vault step) is
one AEAD over the batch as Arrow IPC, bound to its label and key id: per record it would buy
nothing and cost one AEAD call per person. One AESGCM object per key is reused; nonces are
random 96-bit values.
"""

from __future__ import annotations

import json
import os
from json.encoder import encode_basestring

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skyddsnat.privacy.keys import Keys
from skyddsnat.value_memo import arrow_text

VAULT_COLUMNS = ["person_id", "key_id", "nonce", "ct"]
VAULT_SCHEMA = pa.schema([("person_id", pa.string()), ("key_id", pa.string()),
                          ("nonce", pa.binary()), ("ct", pa.binary())])
# A JSON string needs escaping only for these (json's encoder with ensure_ascii=False).
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


class VaultTampered(RuntimeError):
    """A vault record failed authentication: edited, moved or under the wrong key."""


def _aad(person_id: str, key_id: str) -> bytes:
    return f"{person_id}|{key_id}".encode()


def encrypt_identities(keys: Keys, identities: pd.DataFrame) -> pd.DataFrame:
    """Encrypt one record per row; columns other than person_id are the plaintext fields."""
    return encrypt_records(keys, identities).to_pandas()


def encrypt_records(keys: Keys, identities: pd.DataFrame | pa.Table) -> pa.Table:
    """`encrypt_identities` as an Arrow table (VAULT_SCHEMA), for the vault file."""
    key_id = keys.vault_active
    aead = AESGCM(keys.vault_key(key_id))
    fields = [c for c in _names(identities) if c != "person_id"]
    pids = arrow_text(identities["person_id"], pa.string())
    randomness = os.urandom(12 * len(pids))  # one draw for every nonce: the same CSPRNG
    nonces = [randomness[i:i + 12] for i in range(0, len(randomness), 12)]
    aads = pc.binary_join_element_wise(pids, key_id, "|").cast(pa.binary()).to_pylist()
    cts = list(map(aead.encrypt, nonces, plaintexts(identities, fields), aads))
    return pa.table([pids, pa.array([key_id] * len(pids), pa.string()),
                     pa.array(nonces, pa.binary()), pa.array(cts, pa.binary())],
                    schema=VAULT_SCHEMA)


def _names(identities: pd.DataFrame | pa.Table) -> list[str]:
    return list(identities.column_names if isinstance(identities, pa.Table)
                else identities.columns)


def plaintexts(identities: pd.DataFrame | pa.Table, fields: list[str]) -> list[bytes]:
    """Each row's fields as `json.dumps(dict(...), ensure_ascii=False, separators=(",", ":"))`
    with a missing value as null, built in one Arrow concatenation: a text is quoted as json
    quotes it (the rare text that needs escaping is escaped by json's own function), so the
    bytes are the same, without a dict and an encoder call per row."""
    n = len(identities)
    if not fields:
        return [b"{}"] * n
    pieces: list = []  # literal texts and columns, concatenated row by row
    for i, f in enumerate(fields):
        pieces.append(("{" if i == 0 else ",") + encode_basestring(f) + ":")
        values, plain = _json_values(identities[f])
        pieces += ['"', values, '"'] if plain else [values]
    pieces.append("}")
    merged: list = []
    for piece in pieces:  # adjacent literals as one
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    if all(isinstance(p, str) for p in merged):
        return [merged[0].encode()] * n
    return pc.binary_join_element_wise(*merged, "").cast(pa.binary()).to_pylist()


def _json_values(column) -> tuple[pa.Array, bool]:
    """One column's values as JSON text (null for a missing value), or, for text with
    nothing to escape and no missing value, the text itself to be put between quotes."""
    try:
        array = (column.combine_chunks() if isinstance(column, pa.ChunkedArray)
                 else column if isinstance(column, pa.Array)
                 else pa.array(column, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python values: json decides each
        values = pd.Series(column).astype(object)
        values = values.where(values.notna(), None).tolist()
        return pa.array([json.dumps(v, ensure_ascii=False) for v in values], pa.string()), False
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_null(array.type):
        return pa.array(["null"] * len(array), pa.string()), False
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return pa.array([json.dumps(v, ensure_ascii=False) for v in array.to_pylist()],
                        pa.string()), False
    array = array.cast(pa.string())
    escape = _escaped(array)
    if escape is None and not array.null_count:
        return array, True
    quoted = pc.binary_join_element_wise('"', array, '"', "")
    if escape is not None:
        special = [encode_basestring(v) for v in array.filter(escape).to_pylist()]
        quoted = pc.replace_with_mask(quoted, escape, pa.array(special, pa.string()))
    return pc.fill_null(quoted, "null"), False


def _escaped(array: pa.StringArray) -> pa.BooleanArray | None:
    """Which texts json escapes (a quote, a backslash, a control character), or None when
    none does: one look at the column's bytes first, the pattern only if one is there."""
    _, offsets, data = array.buffers()
    if data is None or not len(array):
        return None
    ends = np.frombuffer(offsets, dtype=np.int32)[array.offset:array.offset + len(array) + 1]
    body = np.frombuffer(data, dtype=np.uint8)[ends[0]:ends[-1]]
    if not ((body < 0x20) | (body == 0x22) | (body == 0x5C)).any():
        return None
    escape = pc.fill_null(pc.match_substring_regex(array, _NEEDS_ESCAPE), False)
    return escape if pc.any(escape).as_py() else None


def decrypt_identities(keys: Keys, vault: pd.DataFrame) -> pd.DataFrame:
    """Decrypt records back to one row per person; raises VaultTampered on any bad record."""
    aeads: dict[str, AESGCM] = {}
    pids, plains = [], []
    for pid, key_id, nonce, ct in vault[VAULT_COLUMNS].itertuples(index=False, name=None):
        aead = aeads.get(key_id) or aeads.setdefault(key_id, AESGCM(keys.vault_key(key_id)))
        try:
            plains.append(aead.decrypt(nonce, ct, _aad(pid, key_id)))
        except InvalidTag:
            raise VaultTampered("en post i identitetsvalvet kunde inte autentiseras") from None
        pids.append(pid)
    if not plains:
        return pd.DataFrame(columns=["person_id"])
    # One parse for all records (each is one JSON object, authenticated as written).
    rows = json.loads(b"[" + b",".join(plains) + b"]")
    if len(rows) != len(pids) or not all(type(r) is dict for r in rows):
        raise VaultTampered("en post i identitetsvalvet är inte en post")
    frame = pd.DataFrame(rows)
    if "person_id" in frame.columns:
        raise VaultTampered("en post i identitetsvalvet är inte en post")
    frame.insert(0, "person_id", pids)
    return frame


def rewrap(keys: Keys, vault: pd.DataFrame) -> pd.DataFrame:
    """Re-encrypt every record under the active key; plaintext never leaves this process."""
    if vault.empty:
        return vault
    stale = vault["key_id"] != keys.vault_active
    if not stale.any():
        return vault
    fresh = encrypt_identities(keys, decrypt_identities(keys, vault[stale]))
    return pd.concat([vault[~stale], fresh], ignore_index=True)


def _batch_aad(label: str, key_id: str) -> bytes:
    return f"skyddsnat/valv/parti|{label}|{key_id}".encode()


def encrypt_batch(keys: Keys, table: pa.Table, label: str) -> tuple[str, bytes, bytes]:
    """One AEAD over a whole table (Arrow IPC): (key id, nonce, ciphertext), bound to the
    label (which staging file it belongs to) and the key id."""
    key_id = keys.vault_active
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    nonce = os.urandom(12)
    ct = AESGCM(keys.vault_key(key_id)).encrypt(nonce, sink.getvalue().to_pybytes(),
                                                _batch_aad(label, key_id))
    return key_id, nonce, ct


def decrypt_batch(keys: Keys, key_id: str, nonce: bytes, ct: bytes, label: str) -> pa.Table:
    """The table `encrypt_batch` encrypted; VaultTampered if the batch fails authentication
    (edited, under another label or key id)."""
    try:
        plain = AESGCM(keys.vault_key(key_id)).decrypt(nonce, ct, _batch_aad(label, key_id))
    except InvalidTag:
        raise VaultTampered("ett parti i identitetsvalvet kunde inte autentiseras") from None
    return pa.ipc.open_stream(pa.py_buffer(plain)).read_all()
