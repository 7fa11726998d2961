"""The source assets' Dagster side of skyddsnat/ingest/run.py: their three blocking checks."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

from assets.constants import CHECK_GX, CHECK_PANDERA, CHECK_ROWS
from skyddsnat.ingest.validation import GX, PANDERA, ROWS, Tally

CHECK_NAMES = {ROWS: CHECK_ROWS, PANDERA: CHECK_PANDERA, GX: CHECK_GX}
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


def check_results(tally: Tally, asset_name: str) -> list[AssetCheckResult]:
    return [AssetCheckResult(asset_key=asset_name, check_name=CHECK_NAMES[c.check],
                             passed=c.passed, severity=AssetCheckSeverity.ERROR,
                             metadata=c.metadata) for c in tally.checks()]
