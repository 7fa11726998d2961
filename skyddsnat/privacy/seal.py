"""HPKE (RFC 9180) sealing to the protected-identity officer's public key.

The pipeline host holds only the public key: what it seals it can never read back. The
`info` parameter binds each ciphertext to what it is (a list and policy version, or one
person's identity record), so a sealed blob cannot be replayed as something else.
"""

from __future__ import annotations

import base64
import json

import pandas as pd
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SUITE_NAME = "X25519, HKDF-SHA256, AES-256-GCM"  # what the register of processing states
MAGIC = b"SKYDDSNAT-SEALED-1\n"


class SealBroken(RuntimeError):
    """A sealed blob did not open: wrong key, wrong context, or tampered."""


def seal_bytes(public_key: X25519PublicKey, data: bytes, info: bytes) -> bytes:
    return MAGIC + SUITE.encrypt(data, public_key, info=info)


def open_bytes(private_key: X25519PrivateKey, blob: bytes, info: bytes) -> bytes:
    if not blob.startswith(MAGIC):
        raise SealBroken("inte en förseglad Skyddsnät-fil")
    try:
        return SUITE.decrypt(blob[len(MAGIC):], private_key, info=info)
    except (InvalidTag, ValueError):
        raise SealBroken("förseglingen kunde inte öppnas (fel nyckel eller manipulerad)") from None


def identity_info(person_id: str) -> bytes:
    return f"skyddsnat/identitet/{person_id}".encode()


def seal_identities(public_key: X25519PublicKey, identities: pd.DataFrame) -> pd.DataFrame:
    """One HPKE ciphertext per protected person, bound to its pseudonym."""
    fields = [c for c in identities.columns if c != "person_id"]
    records = identities[fields].astype(object).where(identities[fields].notna(), None)
    sealed = []
    for pid, values in zip(identities["person_id"], records.itertuples(index=False, name=None),
                           strict=True):
        plain = json.dumps(dict(zip(fields, values, strict=True)), ensure_ascii=False).encode()
        sealed.append(seal_bytes(public_key, plain, identity_info(pid)))
    return pd.DataFrame({"person_id": identities["person_id"].astype("string").to_numpy(),
                         "sealed": sealed})


ENVELOPE = "kuvert"


def rebind_identity(public_key: X25519PublicKey, blob: bytes, old_id: str, new_id: str) -> bytes:
    """Move a sealed identity to a re-keyed pseudonym without opening it (the host cannot).

    The old blob, with the id it is bound to, is sealed again bound to the new id: an
    envelope only the officer opens, so the binding (and the old pseudonym) stays sealed and
    a blob moved to another person still fails."""
    inner = {ENVELOPE: {"bunden_till": old_id, "forseglad": base64.b64encode(blob).decode()}}
    return seal_bytes(public_key, json.dumps(inner).encode(), identity_info(new_id))


def _open_identity(private_key: X25519PrivateKey, blob: bytes, person_id: str) -> dict:
    record = json.loads(open_bytes(private_key, blob, identity_info(person_id)))
    while ENVELOPE in record:  # one envelope per rotation since the record was sealed
        env = record[ENVELOPE]
        record = json.loads(open_bytes(private_key, base64.b64decode(env["forseglad"]),
                                       identity_info(env["bunden_till"])))
    return record


def open_identities(private_key: X25519PrivateKey, sealed: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for pid, blob in sealed[["person_id", "sealed"]].itertuples(index=False, name=None):
        rows.append({"person_id": pid, **_open_identity(private_key, blob, pid)})
    return pd.DataFrame(rows, columns=None if rows else ["person_id"])
