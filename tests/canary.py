"""Canary scanning: plant unmistakable identities in protected records, then look for them
in every byte a run leaves behind (Parquet and Excel are opened, not just grepped)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

from skyddsnat.personnummer import all_forms, normalize

# Bounded by anything but letters and digits, so runs of digits inside hex hashes are not
# mistaken for personnummer.
PNR_CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{8}[-+]?\d{4}|\d{6}[-+]?\d{4})(?![0-9A-Za-z])")


def read_text(path: Path) -> str:
    """The text a file carries: cell values of Parquet, XML of xlsx, else raw bytes."""
    data = path.read_bytes()
    if path.suffix == ".parquet" and data[:4] == b"PAR1":
        table = pq.read_table(path)
        parts = [" ".join(table.column_names)]
        for col in table.columns:
            parts.append(" ".join(str(v) for v in col.to_pylist()))
        return "\n".join(parts)
    if path.suffix == ".xlsx" and data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return data.decode("utf-8", "replace") + "\n" + data.decode("latin-1")


def files_under(root: Path, skip: Iterable[str] = ()) -> list[Path]:
    skip = tuple(skip)
    out = []
    for p in Path(root).rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(rel == s or rel.startswith(s + "/") for s in skip):
            out.append(p)
    return out


def personnummer_in(text: str, reference) -> set[str]:
    """Normalised personnummer found in a text (any common written form)."""
    found = set()
    for cand in PNR_CANDIDATE.findall(text):
        try:
            found.add(normalize(cand, reference))
        except ValueError:
            continue
    return found


def tokens_for(pnr12: str) -> list[str]:
    return list(all_forms(pnr12))
