"""Atomic Parquet writes: a run killed mid-write leaves the previous file, never half a file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skyddsnat.privacy.guard import pseudonymous_table


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    _atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_arrow(table: pa.Table, path: Path) -> None:
    _atomic(path, lambda tmp: pq.write_table(table, tmp))


def write_pseudonymous(frame: pd.DataFrame, path: Path, name: str) -> None:
    """Every stored analysis table passes the plaintext guard before it touches the disk."""
    table = pseudonymous_table(frame, name)
    _atomic(path, lambda tmp: pq.write_table(table, tmp))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (a day file or a delivered list)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
