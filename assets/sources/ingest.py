"""What every source asset does with its files: ingest, stage identities, archive, check."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

from assets.constants import CHECK_GX, CHECK_PANDERA, CHECK_ROWS
from pipelines.privacy import SafeError
from pipelines.resources import Skyddsnat
from schemas.gx_suites import validate as gx_validate
from schemas.sources import empty, schema
from skyddsnat.ingest.catalog import entry, stored_column
from skyddsnat.ingest.inbox import files_for
from skyddsnat.ingest.inbox_cleanup import removed, removed_dates
from skyddsnat.ingest.memo import PnrMemo
from skyddsnat.ingest.row_cache import RowCache, digest_key
from skyddsnat.ingest.source_table import IngestResult, ingest_file
from skyddsnat.parallel import helper_count, mapped
from skyddsnat.policy import Policy
from skyddsnat.privacy.archive import archive_file, archive_quarantine, custodian_key
from skyddsnat.privacy.identity_store import stage_identities, vault_person_ids
from skyddsnat.privacy.storage import write_pseudonymous

CACHE_DIR = "_filcache"
ROW_CACHE = "rader"


CHECK_DESCRIPTIONS = {
    CHECK_ROWS: "Radräkning: varje inläst rad är antingen godkänd eller satt i karantän med "
                "orsak, per fil (godkända + karantän = lästa). Stoppar körningen om inte.",
    CHECK_PANDERA: "Schemakontroll (pandera) av de godkända raderna: kolumner, typer och "
                   "tillåtna värden enligt källkontraktet. Stoppar körningen om den fallerar.",
    CHECK_GX: "Datakvalitet (Great Expectations) på de godkända raderna, utan värden i "
              "resultatet. Stoppar körningen om den fallerar.",
}


def source_check_specs(asset_name: str) -> list[AssetCheckSpec]:
    """The three blocking checks every source asset carries."""
    return [AssetCheckSpec(n, asset=asset_name, blocking=True,
                           description=CHECK_DESCRIPTIONS[n])
            for n in (CHECK_ROWS, CHECK_PANDERA, CHECK_GX)]


@dataclass
class Ingested:
    source: str
    policy: Policy
    results: list[IngestResult] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        frames = [r.table for r in self.results]
        if not frames:
            return empty(self.policy, self.source)
        return pd.concat(frames, ignore_index=True)



def _fingerprint(keys, policy_version: str, label: bytes, content: bytes = b"") -> str:
    """Content, policy and pseudonym key decide a cached result; any change invalidates it."""
    h = hashlib.sha256(content)
    h.update(policy_version.encode())
    h.update(hmac.digest(keys.pseudonym_key, label, hashlib.sha256))
    return h.hexdigest()[:20]


def _cache_key(path: Path, keys, policy_version: str) -> str:
    return _fingerprint(keys, policy_version, b"skyddsnat/filcache", Path(path).read_bytes())


def _cached(cache: Path, path: Path, key: str, source: str) -> IngestResult | None:
    table, meta = cache / f"{path.name}.{key}.parquet", cache / f"{path.name}.{key}.json"
    if not (table.exists() and meta.exists()):
        return None
    m = json.loads(meta.read_text())
    if "checked" not in m:  # written before validation counts were cached: ingest again
        return None
    return IngestResult(source, m["file"], m["encoding"], pd.read_parquet(table),
                        pd.DataFrame(columns=["person_id"]), pd.DataFrame(columns=["orsak"]),
                        m["rows_read"], m["quarantined_by_reason"], m["checked"])


def _cached_removed(cache: Path, name: str, source: str) -> IngestResult:
    """The kept result of a file the inbox cleanup removed, whatever key it was stored
    under; its absence is an error (the rows would silently go missing)."""
    for meta in sorted(cache.glob(f"{name}.*.json")) if cache.is_dir() else []:
        found = _cached(cache, Path(name), meta.name[len(name) + 1:-len(".json")], source)
        if found is not None:
            return found
    raise SafeError(f"{name} har tagits bort ur inkorgen men dess rader saknas i lagret; "
                    "återställ filen ur arkivet (skyddsnat archive restore)")


def _store(cache: Path, path: Path, key: str, result: IngestResult, policy: Policy) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{path.name}.*"):
        old.unlink()
    write_pseudonymous(result.table, cache / f"{path.name}.{key}.parquet", result.source)
    result.checked = result.checked or validation(policy, result.source, result.table)
    (cache / f"{path.name}.{key}.json").write_text(json.dumps({
        "file": result.file, "encoding": result.encoding, "rows_read": result.rows_read,
        "quarantined_by_reason": result.quarantined_by_reason, "checked": result.checked}))


def _row_cache_path(cache: Path, keys, policy_version: str) -> Path:
    key = _fingerprint(keys, policy_version, b"skyddsnat/radcache")
    return cache / f"{ROW_CACHE}.{key}.parquet"


def _load_rows(path: Path, keys, vault_dir: Path, source: str, policy: Policy) -> RowCache:
    """Last night's rows, less any row naming a person the vault does not hold.

    A reused row stages no identity, so it is only safe while the vault still has its
    persons: a vault deleted or restored from an older backup makes those rows new again.
    """
    rows = None
    if path.exists():
        table = pq.read_table(path)
        if table.num_rows:
            held = vault_person_ids(vault_dir)
            for col in entry(policy, source).pnr_columns:
                ids = table.column(stored_column(col))
                table = table.filter(pc.or_kleene(pc.is_null(ids), pc.is_in(ids, held)))
        rows = table.to_pandas()
    return RowCache(digest_key(keys.pseudonym_key), rows)


def _store_rows(cache: Path, path: Path, result: IngestResult) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    write_pseudonymous(result.row_cache, path, result.source)
    for old in cache.glob(f"{ROW_CACHE}.*"):
        if old != path:
            old.unlink()


# Processes that ingest, this one included (1: no helper); by default one per core.
WORKERS_ENV = "SKYDDSNAT_INGEST_WORKERS"
PER_WORKER = 4  # invoice or grade files (~100 k rows each) a worker must have
# Per worker process: the same pupils every day, the same households month after month.
_MEMO = PnrMemo()


def ingest_checked(path: Path, source: str, policy, pseudonym_key: bytes,
                   reference: date) -> IngestResult:
    """One file ingested and validated; in a worker process during a backfill."""
    result = ingest_file(path, source, policy, pseudonym_key, reference, memo=_MEMO)
    result.checked = validation(policy, source, result.table)
    return result


def ingest_files(res: Skyddsnat, source: str, files: list[Path], reference: date,
                 stage: bool = True, cache: bool = False, rows: bool = False) -> Ingested:
    """Ingest, stage identities encrypted, archive each file and its quarantine (encrypted).

    With `cache`, a file already ingested with the same content, policy and pseudonym key is
    taken from its stored pseudonymous result: a year of invoice files is not re-read every
    night (its identities are already in the vault and its quarantine in the archive).
    With `rows` (a snapshot, one file), only rows new since the last ingest are parsed and
    staged (skyddsnat/ingest/row_cache.py). Personnummer decisions are shared between the
    files of one call (skyddsnat/ingest/memo.py).
    """
    memo = PnrMemo()
    keys, policy, data = res.key_material(), res.policy(), res.data()
    cache_dir = data.warehouse / CACHE_DIR / source
    rows_path = _row_cache_path(cache_dir, keys, policy.version) if rows else None
    out = Ingested(source, policy)
    results: list[IngestResult | None] = []
    todo: list[tuple[int, Path, str]] = []
    for path in files:
        key = _cache_key(path, keys, policy.version) if cache else ""
        results.append(_cached(cache_dir, path, key, source) if cache else None)
        if results[-1] is None:
            todo.append((len(results) - 1, path, key))
    if cache and (helpers := helper_count(len(todo), PER_WORKER, WORKERS_ENV)):
        # Many new files of a cached source (a first night): ingested in worker processes.
        jobs = [(p, source, policy, keys.pseudonym_keys, reference) for _, p, _ in todo]
        with mapped(ingest_checked, jobs, helpers) as done:
            for (i, _, _), result in zip(todo, done, strict=True):
                results[i] = result
    else:
        for i, path, _ in todo:
            known = (_load_rows(rows_path, keys, data.vault, source, policy) if rows_path
                     else None)
            results[i] = ingest_file(path, source, policy, keys.pseudonym_keys, reference,
                                     known, memo)
    fresh = [(path, results[i]) for i, path, _ in todo]
    # A period file removed from the inbox after an earlier night (inbox_cleanup.py) is
    # still part of the source: its ingested table is kept in the cache, found by name.
    gone = [n for n in removed(data, source, reference) if n not in {p.name for p in files}]
    if cache and gone:
        dated = {**removed_dates(data, source),
                 **{p.name: d for d, p in files_for(data.inbox, entry(policy, source))}}
        results += [_cached_removed(cache_dir, name, source) for name in gone]
        results.sort(key=lambda r: (dated.get(r.file, date.min), r.file))
    for result in results:
        if not stage:  # plaintext identities are not kept for a year of day files
            result.identities = result.identities.iloc[0:0]
        out.results.append(result)
    if cache and cache_dir.is_dir():
        current = {p.name for p in files} | set(gone)
        for old in cache_dir.iterdir():
            if old.name.split(".csv.")[0] + ".csv" not in current:
                old.unlink()
    if stage:
        idents = [r.identities for r in out.results if not r.identities.empty]
        if idents:
            merged = pd.concat(idents, ignore_index=True).drop_duplicates("person_id")
            stage_identities(keys, data.vault, source, merged)
    # Caches are written after staging: a cached file or row stages no identity again, so
    # it may only be remembered once its identities are safely staged.
    if cache:
        for i, path, key in todo:
            _store(cache_dir, path, key, results[i], policy)
    if rows_path is not None:
        for _, r in fresh:
            if r.row_cache is not None:
                _store_rows(cache_dir, rows_path, r)
    as_of, custodian = res.reference_date(), custodian_key(keys, policy)
    for path, r in fresh:
        archive_file(custodian, data.archive, as_of, path)
        archive_quarantine(custodian, data.archive, as_of, r.file, r.quarantine)
    return out


def _pandera_failures(policy: Policy, source: str, table: pd.DataFrame) -> int:
    try:
        schema(policy, source).validate(table, lazy=True)
    except Exception as exc:  # noqa: BLE001 - SchemaErrors; only its size is reported
        return len(getattr(exc, "failure_cases", [])) or 1
    return 0


def validation(policy: Policy, source: str, table: pd.DataFrame) -> dict[str, object]:
    """Pandera and GX on one file's pseudonymous table: counts and expectation names only."""
    gx = gx_validate(policy, source, table)
    return {"pandera_failures": _pandera_failures(policy, source, table), **gx}


@dataclass
class Tally:
    """Row accounting, pandera and GX results summed file by file — counts only.

    Checks run per file, so a year of attendance is never validated, or held in memory,
    in one piece; a check passes when every file's part passes.
    """

    source: str
    policy: Policy
    files: list[str] = field(default_factory=list)
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    stored: int = 0
    reasons: Counter = field(default_factory=Counter)
    pandera_failures: int = 0
    gx_ok: bool = True
    gx_evaluated: int = 0
    gx_successful: int = 0
    gx_failed: set[str] = field(default_factory=set)
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, result: IngestResult, stored_rows: int) -> None:
        self.files.append(result.file)
        self.per_file[result.file] = {"lasta": result.rows_read, "godkanda": result.accepted,
                                      "karantan": result.quarantined}
        self.read += result.rows_read
        self.accepted += result.accepted
        self.quarantined += result.quarantined
        self.stored += stored_rows
        self.reasons.update(result.quarantined_by_reason)
        self._count(result.checked or validation(self.policy, self.source, result.table))

    def _validate(self, table: pd.DataFrame) -> None:
        self._count(validation(self.policy, self.source, table))

    def _count(self, gx: dict) -> None:
        self.pandera_failures += int(gx["pandera_failures"])
        self.gx_ok &= bool(gx["success"])
        self.gx_evaluated += int(gx["evaluated"])
        self.gx_successful += int(gx["successful"])
        self.gx_failed.update(gx["failed_expectations"])

    @classmethod
    def of(cls, ingested: Ingested, stored_rows: int) -> Tally:
        tally = cls(ingested.source, ingested.policy)
        for r in ingested.results:
            tally.add(r, 0)
        tally.stored = stored_rows
        if not ingested.results:  # an absent optional source: its empty table is checked
            tally._validate(ingested.table)
        return tally

    def metadata(self, policy_version: str) -> dict[str, object]:
        return {"filer": ", ".join(self.files) if len(self.files) <= 12 else
                f"{len(self.files)} filer: {self.files[0]} … {self.files[-1]}",
                "rader_lasta": self.read, "rader_godkanda": self.accepted,
                "rader_karantan": self.quarantined,
                **{f"karantan_{k}": v for k, v in sorted(self.reasons.items())},
                # A source of many files accounts for each file as well as the total.
                **({"rader_per_fil": self.per_file} if len(self.per_file) > 1 else {}),
                "policyversion": policy_version}

    def check_results(self, asset_name: str) -> list[AssetCheckResult]:
        rows_ok = (self.read == self.accepted + self.quarantined
                   and self.accepted == self.stored)
        return [
            AssetCheckResult(asset_key=asset_name, check_name=CHECK_ROWS, passed=rows_ok,
                             metadata={"lasta": self.read, "godkanda": self.accepted,
                                       "karantan": self.quarantined}),
            AssetCheckResult(asset_key=asset_name, check_name=CHECK_PANDERA,
                             passed=self.pandera_failures == 0,
                             metadata={"fel": self.pandera_failures}),
            AssetCheckResult(asset_key=asset_name, check_name=CHECK_GX, passed=self.gx_ok,
                             severity=AssetCheckSeverity.ERROR,
                             metadata={"utvarderade": self.gx_evaluated,
                                       "lyckade": self.gx_successful,
                                       "misslyckade": ", ".join(sorted(self.gx_failed)) or "-"}),
        ]
