"""The sealed archive of processed inbox files and quarantined rows, with retention.

Blobs are sealed with HPKE to the archive custodian's public key (the protected-identity
officer's, or a registrar's named in gallring.yaml): the pipeline host can write the
archive but never read it back, protected persons' names and addresses included. The
blob's name is the HPKE `info`, so a blob cannot be renamed into another. Each day's
archive is a directory named by the reference date and is purged after the retention.

Blobs written before the archive was sealed (`SKYDDSNAT-ARKIV-1`, AES under a vault key)
are sealed by `seal_legacy` (run by `keys rewrap`), after which no vault key opens any.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skyddsnat.privacy.keys import Keys
from skyddsnat.privacy.seal import SealBroken, open_bytes, seal_bytes

MAGIC = b"SKYDDSNAT-ARKIV-2\n"
LEGACY_MAGIC = b"SKYDDSNAT-ARKIV-1\n"
_ARCHIVED = re.compile(r"^(?P<name>.+)\.[0-9a-f]{12}\.enc$")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def custodian_key(keys: Keys, policy) -> X25519PublicKey:
    """The public key the archive is sealed to: the policy's registrar key, else the officer's."""
    raw = policy.gallring.arkiv_nyckel
    return X25519PublicKey.from_public_bytes(base64.b64decode(raw)) if raw else keys.officer_public


def key_fingerprint(public_key: X25519PublicKey) -> str:
    """A short, reviewable fingerprint of a custodian key (shown in the register)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _info(name: str) -> bytes:
    return f"skyddsnat/arkiv/{name}".encode()


def seal_blob(custodian: X25519PublicKey, name: str, data: bytes) -> bytes:
    return MAGIC + seal_bytes(custodian, data, _info(name))


def open_blob(private_key: X25519PrivateKey, name: str, blob: bytes) -> bytes:
    """Open a sealed archive blob; SealBroken on a wrong key, a renamed or tampered blob."""
    if not blob.startswith(MAGIC):
        raise SealBroken("inte en förseglad arkivfil")
    return open_bytes(private_key, blob[len(MAGIC):], _info(name))


def archived_name(file_name: str, data: bytes) -> str:
    """`<file>.<digest>`: an archived export is named by its content, so a file whose exact
    content the archive holds can be found (and left out of the inbox) by name."""
    return f"{file_name}.{hashlib.sha256(data).hexdigest()[:12]}"


def archive_file(custodian: X25519PublicKey, archive_dir: Path, as_of: date,
                 path: Path) -> Path:
    """Sealed copy of a processed inbox file; idempotent per content."""
    data = Path(path).read_bytes()
    name = f"{archived_name(Path(path).name, data)}.enc"
    target = Path(archive_dir) / as_of.isoformat() / name
    if not target.exists():
        _atomic_write(target, seal_blob(custodian, name, data))
    return target


def archive_quarantine(custodian: X25519PublicKey, archive_dir: Path, as_of: date,
                       source_file: str, rows: pd.DataFrame) -> Path | None:
    """Quarantined rows (plaintext raw values + reason) as sealed Parquet."""
    if rows.empty:
        return None
    buf = io.BytesIO()
    rows.astype("string").to_parquet(buf, index=False)
    name = f"karantan_{Path(source_file).stem}.parquet.enc"
    target = Path(archive_dir) / as_of.isoformat() / name
    _atomic_write(target, seal_blob(custodian, name, buf.getvalue()))
    return target


def read_archived(private_key: X25519PrivateKey, path: Path) -> bytes:
    return open_blob(private_key, Path(path).name, Path(path).read_bytes())


@dataclass
class Restored:
    day: str
    files: list[str]  # source exports written back (names only)
    quarantine: list[str]  # quarantine tables written (names only)


def restore(private_key: X25519PrivateKey, archive_dir: Path, day: date, out: Path,
            exports_to: Path | None = None) -> Restored:
    """Open one archive day with the custodian's key, for re-processing.

    Source exports go to `exports_to` (the inbox, to be run again) or `out`; quarantine
    tables go to `out`. Every blob is opened before anything is written, so a wrong key or a
    tampered blob writes nothing.
    """
    folder = Path(archive_dir) / day.isoformat()
    blobs = sorted(folder.glob("*.enc")) if folder.is_dir() else []
    opened = [(p.name, read_archived(private_key, p)) for p in blobs]
    done = Restored(day.isoformat(), [], [])
    for name, data in opened:
        m = _ARCHIVED.match(name)
        if m:
            target = Path(exports_to or out) / m.group("name")
            done.files.append(target.name)
        else:
            target = Path(out) / name.removesuffix(".enc")
            done.quarantine.append(target.name)
        _atomic_write(target, data)
    return done


def purge(archive_dir: Path, as_of: date, retention_days: int) -> list[str]:
    """Delete archive days older than the retention; returns the removed day names."""
    cutoff = as_of - timedelta(days=retention_days)
    removed = []
    if not Path(archive_dir).is_dir():
        return removed
    for d in sorted(Path(archive_dir).iterdir()):
        try:
            day = date.fromisoformat(d.name)
        except ValueError:
            continue
        if day < cutoff:
            shutil.rmtree(d)
            removed.append(d.name)
    return removed


def _archive_files(archive_dir: Path):
    return sorted(Path(archive_dir).glob("*/*.enc")) if Path(archive_dir).is_dir() else []


def seal_legacy(keys: Keys, custodian: X25519PublicKey, archive_dir: Path) -> int:
    """Seal every blob still AES-encrypted under a vault key (written before sealing).

    Afterwards no blob depends on a vault key, so `keys rewrap --retire` may drop old keys
    without touching the archive again. Returns how many blobs were sealed.
    """
    changed = 0
    for p in _archive_files(archive_dir):
        blob = p.read_bytes()
        if not blob.startswith(LEGACY_MAGIC):
            continue
        kid, rest = blob[len(LEGACY_MAGIC):].split(b"\n", 1)
        plain = AESGCM(keys.vault_key(kid.decode())).decrypt(
            rest[:12], rest[12:], p.name.encode() + b"|" + kid)
        _atomic_write(p, seal_blob(custodian, p.name, plain))
        changed += 1
    return changed
