"""Vault retention: a person absent from every source longer than the policy allows is purged.

The vault keeps an identity only while some source still names the person. Each merge
records, per pseudonym, the last reference date on which a source table named them
(`state/valv_senast_sedd.parquet`: pseudonym and date only); a person not named for more
than `gallring.valv_dagar` days is removed from the AES vault and the sealed store, and the
purge is audited (how many, the cut-off — no pseudonym). A person last seen exactly
`valv_dagar` days ago is kept. Someone who comes back is staged again like anyone new
(the row cache re-reads rows naming a person the vault no longer holds).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.identity_store import (
    SEALED_FILE,
    VAULT_FILE,
    drop_staged,
    file_version,
    vault_person_ids,
)
from skyddsnat.privacy.keys import Keys
from skyddsnat.privacy.storage import file_sha256, write_arrow, write_parquet

SEEN_FILE = "valv_senast_sedd.parquet"
EVENT = "valv_gallring"


NAMED_DIR = "valv_namngivna"
NAMED_LEDGER = "filer.json"


def named_in(tables: list[Path], columns: set[str], cache_dir: Path | None = None) -> pa.Array:
    """Every pseudonym in the given columns of the given source tables (distinct).

    With a cache dir, each table's distinct pseudonyms (pseudonyms only, like the warehouse)
    and their union are kept under `<cache_dir>/valv_namngivna/`, keyed by the SHA-256 of the
    table files, so a night reads only the tables that changed. A file is re-hashed only when
    it was replaced (inode, size or modification time) since it was last hashed.
    """
    tables = [p for p in tables if p.exists()]
    if cache_dir is None:
        return _union([_read_named(p, columns) for p in tables])
    folder = Path(cache_dir) / NAMED_DIR
    ledger = _load_ledger(folder / NAMED_LEDGER)
    files = ledger["tables"]
    digests = {}
    for path in tables:
        seen, version = files.get(path.name, {}), _file_version(path)
        digests[path.name] = (seen["sha256"] if seen.get("version") == version
                              else file_sha256(path))
        files[path.name] = {"sha256": digests[path.name], "version": version}
    for name in set(files) - set(digests):
        del files[name]
    # Each cache file is named by what it was read from (the table's digest and the columns),
    # so a file and its key never disagree, whatever a killed run left behind.
    cached = {p.name: folder / f"{p.stem}.{_key(columns, digests[p.name])}.parquet"
              for p in tables}
    everyone = folder / f"_alla.{_key(columns, *sorted(digests.items()))}.parquet"
    if everyone.exists():
        ids = _read_ids(everyone)
    else:
        parts = []
        for path in tables:
            if not cached[path.name].exists():
                write_arrow(pa.table({"person_id": _read_named(path, columns)}),
                            cached[path.name])
            parts.append(_read_ids(cached[path.name]))
        ids = _union(parts)
        write_arrow(pa.table({"person_id": ids}), everyone)
    keep = {everyone.name, *(p.name for p in cached.values())}
    for old in folder.glob("*.parquet"):
        if old.name not in keep:
            old.unlink()
    _save_ledger(folder / NAMED_LEDGER, ledger)
    return ids


def _key(columns: set[str], *parts) -> str:
    return hashlib.sha256(json.dumps([sorted(columns), *parts]).encode()).hexdigest()[:32]


def _union(parts: list[pa.Array]) -> pa.Array:
    if not parts:
        return pa.array([], type=pa.string())
    return pc.unique(pa.chunked_array(parts, type=pa.string()))


def _read_named(path: Path, columns: set[str]) -> pa.Array:
    cols = [c for c in pq.read_schema(path).names if c in columns]
    if not cols:
        return pa.array([], type=pa.string())
    t = pq.read_table(path, columns=cols)
    # Distinct per column first: hashing each column's own chunks is far cheaper than
    # hashing their concatenation (an invoice table names the same payer every month).
    parts = [pc.unique(c).cast(pa.string()) for c in t.columns]
    return pc.unique(pc.drop_null(pa.chunked_array(parts, type=pa.string())))


def _read_ids(path: Path) -> pa.Array:
    return pq.read_table(path).column("person_id").combine_chunks()


def _file_version(path: Path) -> str:
    ino, mtime_ns, size = file_version(path)
    return f"{ino}:{size}:{mtime_ns}"


def _load_ledger(path: Path) -> dict:
    """The SHA-256 of each table file by its version (inode, size, modification time)."""
    try:
        ledger = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        ledger = {}
    return {"tables": ledger.get("tables", {}) if isinstance(ledger, dict) else {}}


def _save_ledger(path: Path, ledger: dict) -> None:
    text = json.dumps(ledger, sort_keys=True, indent=0)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


SEEN_SCHEMA = pa.schema([("person_id", pa.string()), ("senast_sedd", pa.timestamp("ns"))])


def _load_seen(path: Path) -> pa.Table:
    if path.exists():
        return pq.read_table(path).select(SEEN_SCHEMA.names).cast(SEEN_SCHEMA)
    return SEEN_SCHEMA.empty_table()


def _sorted(ids: pa.ChunkedArray) -> bool:
    """Already in the order the record is written in (it is, unless someone new came)."""
    if ids.null_count:
        return False
    if len(ids) < 2:
        return True
    return pc.all(pc.less(ids[:-1], ids[1:])).as_py() is not False


def purge_absent(keys: Keys, vault_dir: Path, state_dir: Path, audit: AuditLog,
                 present: pa.Array, as_of: date, retention_days: int) -> int:
    """Record who the sources name tonight; purge who has been absent too long.

    Returns how many persons were purged. Idempotent for a date: a re-run purges nothing
    more (and audits nothing more) than the first run did. In Arrow throughout: the
    register names every person of the municipality every night.
    """
    vault_dir, state_dir = Path(vault_dir), Path(state_dir)
    day = pa.scalar(pd.Timestamp(as_of), type=pa.timestamp("ns"))
    stored = _load_seen(state_dir / SEEN_FILE)
    present = pc.drop_null(present)
    # Persons the vault holds with no record yet start their clock now. One lookup into the
    # record for both, and only the (few) new ones made distinct.
    held_or_named = pa.chunked_array([vault_person_ids(vault_dir), present], type=pa.string())
    new = pc.unique(held_or_named.filter(
        pc.invert(pc.is_in(held_or_named, stored.column("person_id")))))
    seen = stored
    if len(new):
        seen = pa.concat_tables([seen, pa.table(
            {"person_id": new, "senast_sedd": pa.repeat(day, len(new))}, schema=SEEN_SCHEMA)])
    named = pc.is_in(seen.column("person_id"), present)
    last = seen.column("senast_sedd")
    last = pc.if_else(pc.and_(named, pc.less(last, day)), day, last)
    cutoff = pd.Timestamp(as_of) - timedelta(days=retention_days)
    expired = pc.less(last, pa.scalar(cutoff, type=pa.timestamp("ns")))
    gone = set(seen.column("person_id").filter(expired).to_pylist())
    if gone:
        for name in (VAULT_FILE, SEALED_FILE):
            path = vault_dir / name
            if path.exists():
                table = pd.read_parquet(path)
                write_parquet(table[~table["person_id"].isin(gone)].reset_index(drop=True),
                              path)
        drop_staged(keys, vault_dir, pa.array(sorted(gone), pa.string()))
        key = f"{EVENT}:{as_of.isoformat()}"
        if not audit.has(EVENT, key):
            audit.append(EVENT, {"as_of": as_of.isoformat(), "antal": len(gone),
                                 "senast_sedd_fore": cutoff.date().isoformat(),
                                 "valv_dagar": retention_days}, key)
    kept = pa.table({"person_id": seen.column("person_id"), "senast_sedd": last},
                    schema=SEEN_SCHEMA).filter(pc.invert(expired))
    if len(new) or not _sorted(kept.column("person_id")):
        kept = kept.take(pc.sort_indices(kept, [("person_id", "ascending")]))
    if not (state_dir / SEEN_FILE).exists() or not kept.equals(stored):
        write_arrow(kept, state_dir / SEEN_FILE)  # a re-run of the date leaves it as it is
    return len(gone)
