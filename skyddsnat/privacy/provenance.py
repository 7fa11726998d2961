"""What a stored result was computed from, so a night can keep it instead of computing it again.

A computing asset's result is decided by its input tables, the code, the policy, the
pseudonym key and — for a rule that looks at the reference date — the part of that date the
rule depends on. Their fingerprint is recorded beside the result in the warehouse
(`_herkomst/<asset>.json`, with each output file's SHA-256); a later night whose fingerprint
is the same, and whose output files are still exactly those, may keep them.

The record lives in the data dir, next to the tables it vouches for, not in the Dagster
instance: a run may use an ephemeral or a fresh instance (`skyddsnat run` without
DAGSTER_HOME, the bench), and a warehouse restored from a backup must not be vouched for by
an instance that saw other files. Fingerprints of tables are their files' SHA-256 (the
warehouse writes Parquet deterministically: the same table gives the same bytes; a
different encoding of the same table only costs a recomputation, never a wrong reuse).
No personal data: only digests, asset names and dates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from skyddsnat.privacy.storage import file_sha256

RECORD_DIR = "_herkomst"
ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("skyddsnat", "assets", "pipelines", "schemas")
LIBRARIES = ("pandas", "numpy", "pyarrow", "scipy")
ABSENT = "saknas"


@lru_cache(maxsize=1)
def code_digest() -> str:
    """Every source file of the project and the versions of the libraries that compute:
    any change to the code makes every stored result a stranger (no hand-kept version
    number that can be forgotten)."""
    h = hashlib.sha256()
    for d in CODE_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    for lib in LIBRARIES:
        h.update(f"{lib}={version(lib)}\0".encode())
    return h.hexdigest()[:16]


def key_epoch(pseudonym_key: bytes) -> str:
    """Which pseudonym key the tables are keyed with (a rotation re-keys every table)."""
    return hmac.digest(pseudonym_key, b"skyddsnat/herkomst", hashlib.sha256).hex()[:16]


def table_digest(path: Path) -> str:
    return file_sha256(path) if Path(path).exists() else ABSENT


def fingerprint(parts: dict[str, str]) -> str:
    """One digest over named parts (input tables, code, policy, key epoch, date part)."""
    text = json.dumps(sorted(parts.items()), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _record_path(warehouse: Path, asset: str) -> Path:
    return Path(warehouse) / RECORD_DIR / f"{asset}.json"


def reusable(warehouse: Path, asset: str, print_: str, outputs: dict[str, Path]) -> bool:
    """The stored outputs were computed from exactly this fingerprint and are unchanged."""
    path = _record_path(warehouse, asset)
    if not path.exists():
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record.get("fingerprint") != print_ or set(record.get("outputs", {})) != set(outputs):
        return False
    return all(p.exists() and file_sha256(p) == record["outputs"][name]
               for name, p in outputs.items())


def forget(warehouse: Path, asset: str) -> None:
    """Before a recomputation: a run that fails half-way leaves no record vouching for
    outputs it may have replaced."""
    _record_path(warehouse, asset).unlink(missing_ok=True)


def remember(warehouse: Path, asset: str, print_: str, outputs: dict[str, Path]) -> None:
    """After the outputs are stored: their fingerprint and each file's digest, atomically."""
    path = _record_path(warehouse, asset)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"fingerprint": print_,
              "outputs": {name: table_digest(p) for name, p in sorted(outputs.items())}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, path)
