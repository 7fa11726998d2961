"""What an ingest remembers between nights, pseudonymous only.

The file cache keeps a period file's ingested table and its accounting by content, policy
and pseudonym key: a year of invoice files is not re-read every night (its identities are
already in the vault and its quarantine in the archive). The row cache keeps a snapshot's
row-wise valid rows by their raw rows' digests (row_cache.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skyddsnat.ingest.catalog import entry, stored_column
from skyddsnat.ingest.errors import IngestRefused
from skyddsnat.ingest.row_cache import RowCache, digest_key
from skyddsnat.ingest.row_cache import fingerprint as row_fingerprint
from skyddsnat.ingest.source_table import IngestResult
from skyddsnat.policy import Policy
from skyddsnat.privacy.identity_store import (
    file_version,
    vault_files,
    vault_person_ids,
)
from skyddsnat.privacy.storage import write_pseudonymous

CACHE_DIR = "_filcache"
ROW_CACHE = "rader"


def fingerprint(keys, policy_version: str, label: bytes, content: bytes = b"",
                schema: str = "") -> str:
    """Content, policy, the source's schema and the pseudonym key decide a cached result;
    any change invalidates it."""
    h = hashlib.sha256(content)
    h.update(policy_version.encode())
    h.update(schema.encode())
    h.update(hmac.digest(keys.pseudonym_key, label, hashlib.sha256))
    return h.hexdigest()[:20]


def schema_of(policy: Policy, source: str) -> str:
    """The source's catalogue entry (contract columns, rules, treatment): the schema its
    rows were parsed and validated under, also where code changed it and the policy not."""
    return repr(entry(policy, source))


def schema_digest(policy: Policy, source: str) -> str:
    """A short digest of `schema_of`: kept beside a cached file's result, so a removed file
    (which cannot be read again) is known to have been read under tonight's rules."""
    return hashlib.sha256(schema_of(policy, source).encode()).hexdigest()[:20]


def file_key(path: Path, keys, policy: Policy, source: str) -> str:
    return fingerprint(keys, policy.version, b"skyddsnat/filcache", Path(path).read_bytes(),
                       schema_of(policy, source))


def cached(cache: Path, path: Path, key: str, source: str,
           reference: date | None = None) -> IngestResult | None:
    """A file's kept result; with `reference`, only for the nights it holds on: from the
    night it was read until a number in it would read otherwise (ingest_file's horizon)."""
    table, meta = cache / f"{path.name}.{key}.parquet", cache / f"{path.name}.{key}.json"
    if not (table.exists() and meta.exists()):
        return None
    m = json.loads(meta.read_text())
    if "checked" not in m:  # written before validation counts were cached: ingest again
        return None
    if reference is not None and not _holds(m, reference):
        return None
    rows = pd.read_parquet(table)
    # Validated when the file was first ingested under this policy and schema: reused.
    checked = {**m["checked"], "validated_rows": 0, "reused_rows": len(rows)}
    result = IngestResult(source, m["file"], m["encoding"], rows,
                          pd.DataFrame(columns=["person_id"]), pd.DataFrame(columns=["orsak"]),
                          m["rows_read"], m["quarantined_by_reason"], checked, cache_key=key)
    if m.get("las_dag"):
        result.read_on = date.fromisoformat(m["las_dag"])
    if m.get("lasning_till"):
        result.stable_until = date.fromisoformat(m["lasning_till"])
    return result


def _holds(meta: dict, reference: date) -> bool:
    if "las_dag" not in meta:  # written before the horizon was kept
        return False
    until = meta.get("lasning_till")
    return (date.fromisoformat(meta["las_dag"]) <= reference
            and (until is None or reference < date.fromisoformat(until)))


def _kept_metas(cache: Path, name: str) -> list[tuple[str, Path]]:
    """Each key a removed file's result is kept under, with its metadata file."""
    return [(meta.name[len(name) + 1:-len(".json")], meta)
            for meta in (sorted(cache.glob(f"{name}.*.json")) if cache.is_dir() else [])]


def cached_removed(cache: Path, name: str, source: str, schema: str,
                   reference: date) -> IngestResult:
    """The kept result of a file the inbox cleanup removed, whatever key it was stored
    under (a rotation re-keys it, caches.py's key then derived from the old key); its
    absence is an error (the rows would silently go missing). So is a result read under
    another reading of the source (`schema_digest`: its columns, key, aliases, treatment)
    or past its horizon: the rows would be tonight's only if the file were read again."""
    for key, meta in _kept_metas(cache, name):
        if not _reads_as_tonight(meta, schema, reference):
            raise IngestRefused(name, STALE_REMOVED)
        found = cached(cache, Path(name), key, source)
        if found is not None:
            return found
    raise IngestRefused(name, " har tagits bort ur inkorgen men dess rader saknas i lagret; "
                        "återställ filen ur arkivet (skyddsnat archive restore)")


STALE_REMOVED = (" har tagits bort ur inkorgen och lästes enligt en annan källbeskrivning "
                 "(kallor.yaml, klassning.yaml) eller kan läsas annorlunda i dag; återställ "
                 "filen ur arkivet (skyddsnat archive restore) så läses den om")


def _reads_as_tonight(meta: Path, schema: str, reference: date) -> bool:
    """Was this cached result read under tonight's reading of its source, and does it hold
    tonight? A result stored before the schema was kept beside it is taken as it is."""
    try:
        m = json.loads(meta.read_text())
    except (OSError, ValueError):
        return True  # unreadable: `cached` finds no result, and the file is asked for
    return m.get("schema", schema) == schema and ("las_dag" not in m or _holds(m, reference))


def store(cache: Path, path: Path, key: str, result: IngestResult, schema: str) -> None:
    """Remember a validated file's result (`result.checked` must be set) and the reading of
    its source it was made under (`schema_digest`)."""
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{path.name}.*"):
        old.unlink()
    write_pseudonymous(result.table, cache / f"{path.name}.{key}.parquet", result.source)
    (cache / f"{path.name}.{key}.json").write_text(json.dumps({
        "file": result.file, "encoding": result.encoding, "rows_read": result.rows_read,
        "quarantined_by_reason": result.quarantined_by_reason, "checked": result.checked,
        "las_dag": result.read_on.isoformat() if result.read_on else None,
        "lasning_till": result.stable_until.isoformat() if result.stable_until else None,
        "schema": schema}))


def forget_others(cache: Path, current: set[str]) -> None:
    """Drop the cached results of files that are no longer part of the source."""
    if cache.is_dir():
        for old in cache.iterdir():
            if old.name.split(".csv.")[0] + ".csv" not in current:
                old.unlink()


def kept_key(cache: Path, name: str, schema: str, reference: date) -> str | None:
    """The key a removed file's result is kept under (`cached_removed` reads it), if it was
    read under tonight's reading of its source and holds tonight."""
    for key, meta in _kept_metas(cache, name):
        if (cache / f"{name}.{key}.parquet").exists() and _reads_as_tonight(meta, schema,
                                                                             reference):
            return key
    return None


def vault_version(vault_dir: Path) -> str:
    """Which vault files these are (name, inode, size, modification time): the vault is
    replaced whole when merged, and a restore from a backup brings other files."""
    stats = [(p.name, ino, size, mtime_ns) for p in vault_files(vault_dir)
             for ino, mtime_ns, size in [file_version(p)]]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:24]


def vault_holds_all(table: Path, columns: tuple[str, ...], vault_dir: Path,
                    checked: str | None = None) -> str | None:
    """The vault's version when it holds every person a stored table names, else None.

    A kept table stages no identity, so it is only safe while the vault still has its
    persons (as for the row cache). The vault found to hold them on an earlier night
    (`checked`) and not replaced since still does; otherwise the table's distinct
    pseudonyms are looked up."""
    version = vault_version(vault_dir)
    if version == checked:
        return version
    stored = [stored_column(c) for c in columns]
    ids = pq.read_table(table, columns=stored)
    # Every id looked up as it is: making them distinct first (per column, then together)
    # costs more hashing than it saves, since each person is named about once.
    named = pc.drop_null(pa.chunked_array(
        [chunk.cast(pa.string()) for column in ids.columns for chunk in column.chunks],
        type=pa.string()))
    held = vault_person_ids(vault_dir)
    if len(named) and not pc.all(pc.is_in(named, held)).as_py():
        return None
    return version


def rows_key(keys, policy: Policy, source: str) -> str:
    return fingerprint(keys, policy.version, b"skyddsnat/radcache",
                       schema=schema_of(policy, source))


def _rows_files(cache: Path, key: str) -> list[Path]:
    return sorted(cache.glob(f"{ROW_CACHE}.{key}.*.parquet")) if cache.is_dir() else []


def load_rows(cache: Path, key: str, keys, vault_dir: Path, source: str, policy: Policy,
              reference: date) -> RowCache:
    """Last night's rows, less any row naming a person the vault does not hold.

    A reused row stages no identity, so it is only safe while the vault still has its
    persons: a vault deleted or restored from an older backup makes those rows new again.
    Rows remembered on a later night than `reference` (a re-run of an earlier date) are not
    used: a date they carry may lie after this reference (row_cache.py).
    """
    rows, remembered = None, {}
    found = _rows_files(cache, key)
    if found and date.fromisoformat(found[-1].name.split(".")[-2]) <= reference:
        table = pq.read_table(found[-1])
        if table.num_rows:
            held = vault_person_ids(vault_dir)
            for col in entry(policy, source).pnr_columns:
                ids = table.column(stored_column(col))
                table = table.filter(pc.or_kleene(pc.is_null(ids), pc.is_in(ids, held)))
        rows = table.to_pandas()
        meta = found[-1].with_suffix(".json")
        remembered = json.loads(meta.read_text()) if meta.exists() else {}
    until = remembered.get("lasning_till")
    return RowCache(digest_key(keys.pseudonym_key), rows, remembered.get("fingerprint"),
                    remembered.get("checked"), date.fromisoformat(until) if until else None,
                    "lasning_till" in remembered)


def store_rows(cache: Path, key: str, reference: date, result: IngestResult) -> None:
    """Tonight's accepted rows for tomorrow, named by the night they were read on, with the
    table's fingerprint and validation (`result.checked`)."""
    path = cache / f"{ROW_CACHE}.{key}.{reference.isoformat()}.parquet"
    cache.mkdir(parents=True, exist_ok=True)
    write_pseudonymous(result.row_cache, path, result.source)
    meta = path.with_suffix(".json")
    until = result.stable_until
    meta.write_text(json.dumps({"fingerprint": row_fingerprint(result.row_cache),
                                "checked": result.checked,
                                "lasning_till": until.isoformat() if until else None}))
    for old in cache.glob(f"{ROW_CACHE}.*"):
        if old not in (path, meta):
            old.unlink()
