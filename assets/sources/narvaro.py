"""Daily attendance: one partition per day (Europe/Stockholm), backfilled in a single run."""


from datetime import date

import pyarrow.parquet as pq
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from assets.constants import GROUP_SOURCES
from assets.sources.basis import age_findings, settle
from assets.sources.ingest import check_results, source_check_specs
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.day_reads import NAME
from skyddsnat.ingest.freshness import Basis, stored_days
from skyddsnat.ingest.inbox import daily_file
from skyddsnat.ingest.run import ingest_days


def narvaro_asset(partitions_def: PartitionsDefinition) -> AssetsDefinition:
    """The attendance asset over the code location's partitions (they start at its data
    dir's first attendance day: `skyddsnat.rules.attendance_start`)."""
    return asset(
        name=NAME,
        group_name=GROUP_SOURCES,
        description="Närvaro per elev och skoldag, en partition per dag; pseudonymiserad.",
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"pandas", "parquet"},
        check_specs=source_check_specs(NAME),
        tags={"skyddsnat/lager": "kalla"},
    )(privacy_safe(narvaro))


def narvaro(context: AssetExecutionContext, skyddsnat: Skyddsnat):
    data, keys, policy = skyddsnat.data(), skyddsnat.key_material(), skyddsnat.policy()
    as_of = skyddsnat.reference_date()
    # Stops before any file is read; the days already stored count as data too.
    findings = age_findings(skyddsnat, NAME, as_of, partitioned=True)
    days = [date.fromisoformat(k) for k in context.partition_keys]
    spec = entry(policy, NAME)
    present = [(d, p) for d in days if (p := daily_file(data.inbox, spec, d)) is not None]
    done = ingest_days(days, present, keys, policy, data, as_of, log=context.log.info)
    # Each partition's materialization counts its own day file only, also when a backfill
    # writes the whole term in one run.
    for key, meta in done.per_day.items():
        context.add_asset_metadata(meta, partition_key=key)
    tally = done.tally
    context.log.info(f"{done.read} dagfiler av {len(days)} dagar: {tally.read} rader lästa, "
                     f"{tally.accepted} godkända, {tally.quarantined} i karantän")
    basis = settle(context, skyddsnat, _basis(data, as_of), [*findings, *done.findings])
    yield MaterializeResult(metadata={"policyversion": policy.version, **basis})
    yield from check_results(tally, NAME)


def _basis(data, as_of: date) -> Basis:
    """The last attendance day stored on or before as_of: its file and rows."""
    basis = Basis(NAME, as_of.isoformat())
    stored = stored_days(data, NAME, as_of)
    if stored:
        day = stored[-1]
        basis.file, basis.date = f"narvaro_{day:%Y%m%d}.csv", day.isoformat()
        basis.rows = pq.read_metadata(data.partition(NAME, day.isoformat())).num_rows
    return basis
