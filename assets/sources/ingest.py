"""What every source asset does with its files: ingest, stage identities, archive, check."""

from __future__ import annotations

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
from skyddsnat.identity_store import stage_identities
from skyddsnat.ingest.source_table import IngestResult, ingest_file


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


def ingest_files(res: Skyddsnat, source: str, files: list[Path], reference: date,
                 stage: bool = True) -> Ingested:
    """Ingest, stage identities encrypted, archive each file and its quarantine (encrypted)."""
    keys, policy, data = res.key_material(), res.policy(), res.data()
    out = Ingested(source)
    for path in files:
        result = ingest_file(path, source, policy, keys.pseudonym_key, reference)
        if not stage:  # plaintext identities are not kept for a year of day files
            result.identities = result.identities.iloc[0:0]
        out.results.append(result)
    if stage:
        idents = [r.identities for r in out.results if not r.identities.empty]
        if idents:
            merged = pd.concat(idents, ignore_index=True).drop_duplicates("person_id")
            stage_identities(keys, data.vault, source, merged)
    as_of = res.reference_date()
    for path, r in zip(files, out.results, strict=True):
        archive_file(keys, data.archive, as_of, path)
        archive_quarantine(keys, data.archive, as_of, r.file, r.quarantine)
    return out


def checks(asset_name: str, ingested: Ingested, table: pd.DataFrame) -> list[AssetCheckResult]:
    """Row accounting, pandera and GX on the pseudonymous output — counts only in metadata."""
    read = sum(r.rows_read for r in ingested.results)
    acc = sum(r.accepted for r in ingested.results)
    quar = sum(r.quarantined for r in ingested.results)
    rows_ok = read == acc + quar and acc == len(table)
    try:
        MODELS[ingested.source].validate(table, lazy=True)
        pandera_ok, pandera_failures = True, 0
    except Exception as exc:  # noqa: BLE001 - SchemaErrors; only its size is reported
        pandera_ok = False
        pandera_failures = len(getattr(exc, "failure_cases", [])) or 1
    gx = gx_validate(ingested.source, table)
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
