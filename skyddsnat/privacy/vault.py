"""The identity vault: names, addresses and personnummer per pseudonym, AES-256-GCM.

Each record is encrypted alone with the pseudonym and key id as associated data, so a
record moved to another pseudonym, or relabelled with another key id, fails to decrypt.
One AESGCM object per key is reused; nonces are random 96-bit values.
"""

from __future__ import annotations

import json
import os
from json.encoder import encode_basestring

import pandas as pd
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skyddsnat.privacy.keys import Keys

VAULT_COLUMNS = ["person_id", "key_id", "nonce", "ct"]


class VaultTampered(RuntimeError):
    """A vault record failed authentication: edited, moved or under the wrong key."""


def _aad(person_id: str, key_id: str) -> bytes:
    return f"{person_id}|{key_id}".encode()


def encrypt_identities(keys: Keys, identities: pd.DataFrame) -> pd.DataFrame:
    """Encrypt one record per row; columns other than person_id are the plaintext fields."""
    key_id = keys.vault_active
    aead = AESGCM(keys.vault_key(key_id))
    fields = [c for c in identities.columns if c != "person_id"]
    pids = identities["person_id"].tolist()
    randomness = os.urandom(12 * len(pids))  # one draw for every nonce: the same CSPRNG
    nonces = [randomness[i:i + 12] for i in range(0, len(randomness), 12)]
    cts = [aead.encrypt(nonce, plain, _aad(pid, key_id))
           for pid, nonce, plain in zip(pids, nonces, plaintexts(identities, fields),
                                        strict=True)]
    return pd.DataFrame({"person_id": identities["person_id"].astype("string").to_numpy(),
                         "key_id": key_id, "nonce": nonces, "ct": cts})


def plaintexts(identities: pd.DataFrame, fields: list[str]) -> list[bytes]:
    """Each row's fields as `json.dumps(dict(...), ensure_ascii=False, separators=(",", ":"))`
    with a missing value as null, built a column at a time: a text is encoded by the function
    json uses for it, so the bytes are the same, without a dict and an encoder call per row."""
    columns = []
    for field in fields:
        column, key = identities[field], encode_basestring(field) + ":"
        missing = column.isna().to_numpy()
        if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
            columns.append([key + ("null" if gap else encode_basestring(v))
                            for v, gap in zip(column.tolist(), missing, strict=True)])
        else:
            values = column.astype(object).where(~missing, None).tolist()
            columns.append([key + json.dumps(v, ensure_ascii=False) for v in values])
    if not columns:
        return [b"{}"] * len(identities)
    return [("{" + ",".join(parts) + "}").encode() for parts in zip(*columns, strict=True)]


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
