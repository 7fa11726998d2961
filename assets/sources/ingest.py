"""What every source asset does with its files: ingest, stage identities, archive, check."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity

from assets.constants import CHECK_GX, CHECK_PANDERA, CHECK_ROWS
from pipelines.resources import Skyddsnat
from schemas.gx_suites import validate as gx_validate
from schemas.sources import MODELS
from skyddsnat.archive import archive_file, archive_quarantine
from skyddsnat.guard import assert_pseudonymous
from skyddsnat.identity_store import stage_identities
from skyddsnat.ingest.source_table import IngestResult, ingest_file

CACHE_DIR = "_filcache"


@dataclass
class Ingested:
    source: str
    results: list[IngestResult] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        frames = [r.table for r in self.results]
        if not frames:
            return MODELS[self.source].empty()  # type: ignore[attr-defined]
        return pd.concat(frames, ignore_index=True)

    def metadata(self, policy_version: str) -> dict[str, object]:
        read = sum(r.rows_read for r in self.results)
        acc = sum(r.accepted for r in self.results)
        reasons: dict[str, int] = {}
        for r in self.results:
            for k, v in r.quarantined_by_reason.items():
                reasons[k] = reasons.get(k, 0) + v
        return {"filer": ", ".join(r.file for r in self.results) or "(ingen fil)",
                "rader_lasta": read, "rader_godkanda": acc, "rader_karantan": read - acc,
                **{f"karantan_{k}": v for k, v in sorted(reasons.items())},
                "policyversion": policy_version}


def _cache_key(path: Path, keys, policy_version: str) -> str:
    """Content, policy and pseudonym key decide a file's result; any change re-ingests it."""
    h = hashlib.sha256(Path(path).read_bytes())
    h.update(policy_version.encode())
    h.update(hmac.digest(keys.pseudonym_key, b"skyddsnat/filcache", hashlib.sha256))
    return h.hexdigest()[:20]


def _cached(cache: Path, path: Path, key: str, source: str) -> IngestResult | None:
    table, meta = cache / f"{path.name}.{key}.parquet", cache / f"{path.name}.{key}.json"
    if not (table.exists() and meta.exists()):
        return None
    m = json.loads(meta.read_text())
    return IngestResult(source, m["file"], m["encoding"], pd.read_parquet(table),
                        pd.DataFrame(columns=["person_id"]), pd.DataFrame(columns=["orsak"]),
                        m["rows_read"], m["quarantined_by_reason"])


def _store(cache: Path, path: Path, key: str, result: IngestResult) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    assert_pseudonymous(result.table, result.source)
    for old in cache.glob(f"{path.name}.*"):
        old.unlink()
    tmp = cache / f".{path.name}.{key}.tmp"
    result.table.to_parquet(tmp, index=False)
    os.replace(tmp, cache / f"{path.name}.{key}.parquet")
    (cache / f"{path.name}.{key}.json").write_text(json.dumps({
        "file": result.file, "encoding": result.encoding, "rows_read": result.rows_read,
        "quarantined_by_reason": result.quarantined_by_reason}))


def ingest_files(res: Skyddsnat, source: str, files: list[Path], reference: date,
                 stage: bool = True, cache: bool = False) -> Ingested:
    """Ingest, stage identities encrypted, archive each file and its quarantine (encrypted).

    With `cache`, a file already ingested with the same content, policy and pseudonym key is
    taken from its stored pseudonymous result: a year of invoice files is not re-read every
    night (its identities are already in the vault and its quarantine in the archive).
    """
    keys, policy, data = res.key_material(), res.policy(), res.data()
    cache_dir = data.warehouse / CACHE_DIR / source
    out = Ingested(source)
    fresh: list[tuple[Path, IngestResult]] = []
    for path in files:
        key = _cache_key(path, keys, policy.version) if cache else ""
        result = _cached(cache_dir, path, key, source) if cache else None
        if result is None:
            result = ingest_file(path, source, policy, keys.pseudonym_key, reference)
            fresh.append((path, result))
            if cache:
                _store(cache_dir, path, key, result)
        if not stage:  # plaintext identities are not kept for a year of day files
            result.identities = result.identities.iloc[0:0]
        out.results.append(result)
    if cache and cache_dir.is_dir():
        current = {p.name for p in files}
        for old in cache_dir.iterdir():
            if old.name.split(".csv.")[0] + ".csv" not in current:
                old.unlink()
    if stage:
        idents = [r.identities for r in out.results if not r.identities.empty]
        if idents:
            merged = pd.concat(idents, ignore_index=True).drop_duplicates("person_id")
            stage_identities(keys, data.vault, source, merged)
    as_of = res.reference_date()
    for path, r in fresh:
        archive_file(keys, data.archive, as_of, path)
        archive_quarantine(keys, data.archive, as_of, r.file, r.quarantine)
    return out


def _pandera_failures(source: str, table: pd.DataFrame) -> int:
    try:
        MODELS[source].validate(table, lazy=True)
    except Exception as exc:  # noqa: BLE001 - SchemaErrors; only its size is reported
        return len(getattr(exc, "failure_cases", [])) or 1
    return 0


def checks(asset_name: str, ingested: Ingested, stored_rows: int) -> list[AssetCheckResult]:
    """Row accounting, pandera and GX on the pseudonymous output — counts only in metadata.

    Pandera and GX run file by file (a year of attendance is never validated, or held in
    memory, in one piece); a check passes when every file's part passes.
    """
    read = sum(r.rows_read for r in ingested.results)
    acc = sum(r.accepted for r in ingested.results)
    quar = sum(r.quarantined for r in ingested.results)
    rows_ok = read == acc + quar and acc == stored_rows
    tables = [r.table for r in ingested.results] or [ingested.table]
    pandera_failures = sum(_pandera_failures(ingested.source, t) for t in tables)
    pandera_ok = pandera_failures == 0
    results = [gx_validate(ingested.source, t) for t in tables]
    gx = {"success": all(r["success"] for r in results),
          "evaluated": sum(r["evaluated"] for r in results),
          "successful": sum(r["successful"] for r in results),
          "failed_expectations": sorted({e for r in results for e in r["failed_expectations"]})}
    return [
        AssetCheckResult(asset_key=asset_name, check_name=CHECK_ROWS, passed=rows_ok,
                         metadata={"lasta": read, "godkanda": acc, "karantan": quar}),
        AssetCheckResult(asset_key=asset_name, check_name=CHECK_PANDERA, passed=pandera_ok,
                         metadata={"fel": pandera_failures}),
        AssetCheckResult(asset_key=asset_name, check_name=CHECK_GX, passed=bool(gx["success"]),
                         severity=AssetCheckSeverity.ERROR,
                         metadata={"utvarderade": gx["evaluated"], "lyckade": gx["successful"],
                                   "misslyckade": ", ".join(gx["failed_expectations"]) or "-"}),
    ]
