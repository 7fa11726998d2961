"""The encrypted archive of processed inbox files and quarantined rows, with retention.

Files are encrypted whole with the active vault key (AES-256-GCM; the archive name is the
associated data, so a blob cannot be renamed into another). Each day's archive is a
directory named by the reference date and is purged after the policy's retention.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skyddsnat.keys import Keys

MAGIC = b"SKYDDSNAT-ARKIV-1\n"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def encrypt_blob(keys: Keys, name: str, data: bytes) -> bytes:
    nonce = os.urandom(12)
    kid = keys.vault_active.encode()
    ct = AESGCM(keys.vault_key(keys.vault_active)).encrypt(nonce, data, name.encode() + b"|" + kid)
    return MAGIC + kid + b"\n" + nonce + ct


def decrypt_blob(keys: Keys, name: str, blob: bytes) -> bytes:
    if not blob.startswith(MAGIC):
        raise ValueError("inte en arkivfil")
    rest = blob[len(MAGIC):]
    kid, rest = rest.split(b"\n", 1)
    nonce, ct = rest[:12], rest[12:]
    return AESGCM(keys.vault_key(kid.decode())).decrypt(nonce, ct, name.encode() + b"|" + kid)


def archive_file(keys: Keys, archive_dir: Path, as_of: date, path: Path) -> Path:
    """Encrypted copy of a processed inbox file; idempotent per content."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    name = f"{Path(path).name}.{digest}.enc"
    target = Path(archive_dir) / as_of.isoformat() / name
    if not target.exists():
        _atomic_write(target, encrypt_blob(keys, name, data))
    return target


def archive_quarantine(keys: Keys, archive_dir: Path, as_of: date, source_file: str,
                       rows: pd.DataFrame) -> Path | None:
    """Quarantined rows (plaintext raw values + reason) as encrypted Parquet."""
    if rows.empty:
        return None
    buf = io.BytesIO()
    rows.astype("string").to_parquet(buf, index=False)
    name = f"karantan_{Path(source_file).stem}.parquet.enc"
    target = Path(archive_dir) / as_of.isoformat() / name
    _atomic_write(target, encrypt_blob(keys, name, buf.getvalue()))
    return target


def read_archived(keys: Keys, path: Path) -> bytes:
    return decrypt_blob(keys, Path(path).name, Path(path).read_bytes())


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


def key_ids_in_archive(archive_dir: Path) -> set[str]:
    used = set()
    for p in _archive_files(archive_dir):
        with open(p, "rb") as fh:
            head = fh.read(len(MAGIC) + 64)
        used.add(head[len(MAGIC):].split(b"\n", 1)[0].decode())
    return used


def rewrap_archive(keys: Keys, archive_dir: Path) -> int:
    """Re-encrypt every archived blob under the active key; returns how many changed."""
    changed = 0
    for p in _archive_files(archive_dir):
        blob = p.read_bytes()
        kid = blob[len(MAGIC):].split(b"\n", 1)[0].decode()
        if kid == keys.vault_active:
            continue
        _atomic_write(p, encrypt_blob(keys, p.name, decrypt_blob(keys, p.name, blob)))
        changed += 1
    return changed
