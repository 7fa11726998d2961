"""The identity vault: names, addresses and personnummer per pseudonym, AES-256-GCM.

Each record is encrypted alone with the pseudonym and key id as associated data, so a
record moved to another pseudonym, or relabelled with another key id, fails to decrypt.
One AESGCM object per key is reused; nonces are random 96-bit values.
"""

from __future__ import annotations

import json
import os

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
    records = identities[fields].astype(object).where(identities[fields].notna(), None)
    nonces, cts = [], []
    for pid, values in zip(identities["person_id"], records.itertuples(index=False, name=None),
                           strict=True):
        nonce = os.urandom(12)
        plain = json.dumps(dict(zip(fields, values, strict=True)), ensure_ascii=False,
                           separators=(",", ":")).encode()
        nonces.append(nonce)
        cts.append(aead.encrypt(nonce, plain, _aad(pid, key_id)))
    return pd.DataFrame({"person_id": identities["person_id"].astype("string").to_numpy(),
                         "key_id": key_id, "nonce": nonces, "ct": cts})


def decrypt_identities(keys: Keys, vault: pd.DataFrame) -> pd.DataFrame:
    """Decrypt records back to one row per person; raises VaultTampered on any bad record."""
    aeads: dict[str, AESGCM] = {}
    rows = []
    for pid, key_id, nonce, ct in vault[VAULT_COLUMNS].itertuples(index=False, name=None):
        aead = aeads.get(key_id) or aeads.setdefault(key_id, AESGCM(keys.vault_key(key_id)))
        try:
            plain = aead.decrypt(nonce, ct, _aad(pid, key_id))
        except InvalidTag:
            raise VaultTampered("en post i identitetsvalvet kunde inte autentiseras") from None
        rows.append({"person_id": pid, **json.loads(plain)})
    return pd.DataFrame(rows, columns=None if rows else ["person_id"])


def rewrap(keys: Keys, vault: pd.DataFrame) -> pd.DataFrame:
    """Re-encrypt every record under the active key; plaintext never leaves this process."""
    if vault.empty:
        return vault
    stale = vault["key_id"] != keys.vault_active
    if not stale.any():
        return vault
    fresh = encrypt_identities(keys, decrypt_identities(keys, vault[stale]))
    return pd.concat([vault[~stale], fresh], ignore_index=True)
