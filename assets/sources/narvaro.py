"""Daily attendance: one partition per day (Europe/Stockholm), backfilled in a single run."""


from datetime import date
from pathlib import Path

import pandas as pd
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
from assets.sources.ingest import (
    WORKERS_ENV,
    Ingested,
    Tally,
    ingest_checked,
    source_check_specs,
)
from pipelines.privacy import SafeError, privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.day_files import DayFiles
from skyddsnat.ingest.freshness import Basis, day_volume_finding, stored_days
from skyddsnat.ingest.inbox import daily_file
from skyddsnat.ingest.inbox_cleanup import removed, removed_dates
from skyddsnat.ingest.source_table import IngestResult
from skyddsnat.parallel import helper_count, mapped
from skyddsnat.policy import Policy
from skyddsnat.privacy.archive import archive_file, archive_quarantine, custodian_key
from skyddsnat.privacy.storage import write_pseudonymous

NAME = "narvaro"


PER_WORKER = 10  # day files a worker must have to be worth its start-up


def ingest_day(path: Path, day: date, policy: Policy, pseudonym_key: bytes, reference: date,
               target: Path) -> tuple[IngestResult, int]:
    """Ingest, check and store one day file; in a worker process during a backfill.

    Returns the result with its validation and quarantined rows (for the encrypted archive);
    the caller drops each day's rows as soon as they are counted.
    """
    result = ingest_checked(path, NAME, policy, pseudonym_key, reference)
    table = result.table[result.table["datum"] == pd.Timestamp(day)]
    if len(table) != len(result.table):
        # Rows dated another day than the file: quarantining here would hide them from
        # the accounting, so the whole file is refused instead.
        raise SafeError(f"{result.file}: rader med annat datum än filens")
    write_pseudonymous(table, target, NAME)
    result.identities = result.identities.iloc[0:0]  # the elevregister has the pupils
    return result, len(table)


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
    as_of, custodian = skyddsnat.reference_date(), custodian_key(keys, policy)
    # Stops before any file is read; the days already stored count as data too.
    findings = age_findings(skyddsnat, NAME, as_of, partitioned=True)
    rule = policy.kallor.kallor[NAME]
    days = [date.fromisoformat(k) for k in context.partition_keys]
    spec = entry(policy, NAME)
    present = [(d, p) for d in days if (p := daily_file(data.inbox, spec, d)) is not None]
    jobs = [(p, d, policy, keys.pseudonym_keys, as_of, data.partition(NAME, d.isoformat()))
            for d, p in present]
    tally = Tally(NAME, policy)
    ledger = DayFiles(data.state)
    stopped: list[date] = []
    # One day at a time per process: a backfill holds a day's rows in memory, never the year.
    helpers = helper_count(len(jobs), PER_WORKER, WORKERS_ENV)
    if helpers:
        context.log.info(f"{len(jobs)} dagfiler läses i {helpers + 1} processer")
    with mapped(ingest_day, jobs, helpers) as done:
        for (path, day, *_), (result, stored) in zip(jobs, done, strict=True):
            archive_file(custodian, data.archive, as_of, path)
            archive_quarantine(custodian, data.archive, as_of, result.file, result.quarantine)
            tally.add(result, stored)
            # Each partition's materialization counts its own day file only, also when a
            # backfill writes the whole term in one run.
            one = Tally(NAME, policy)
            one.add(result, stored)
            context.add_asset_metadata(one.metadata(policy.version),
                                       partition_key=day.isoformat())
            ledger.note(day, path)
            volume = day_volume_finding(NAME, rule, result.file, stored,
                                        _stored_rows_before(data, day))
            if volume:
                findings.append(volume)
                if volume.stops:  # kept out of the warehouse: the day is read again
                    stopped.append(day)
            del result  # one day's rows at a time
    for day in stopped:
        data.partition(NAME, day.isoformat()).unlink(missing_ok=True)
        ledger.forget(day)
    ledger.save()
    dated = removed_dates(data, NAME)
    gone = {dated[n]: n for n in removed(data, NAME, as_of)}
    for d in sorted(set(days) - {d for d, _ in present}):
        meta = {**Tally(NAME, policy).metadata(policy.version), "filer": "-"}
        name, stored = gone.get(d), data.partition(NAME, d.isoformat())
        if name and stored.exists():  # read on an earlier run, then removed from the inbox
            meta.update({"vilar_pa": name, "rader_lagrade": pq.read_metadata(stored).num_rows})
        context.add_asset_metadata(meta, partition_key=d.isoformat())
    context.log.info(f"{len(present)} dagfiler av {len(days)} dagar: {tally.read} rader lästa, "
                     f"{tally.accepted} godkända, {tally.quarantined} i karantän")
    basis = settle(context, skyddsnat, _basis(data, as_of), findings)
    yield MaterializeResult(metadata={"policyversion": policy.version, **basis})
    yield from tally.check_results(NAME)


def _stored_rows_before(data, day: date, n: int = 20) -> list[int]:
    """Row counts of the last stored days before `day` (from the Parquet footers)."""
    before = [d for d in stored_days(data, NAME, day) if d < day][-n:]
    return [pq.read_metadata(data.partition(NAME, d.isoformat())).num_rows for d in before]


def _basis(data, as_of: date) -> Basis:
    """The last attendance day stored on or before as_of: its file and rows."""
    basis = Basis(NAME, as_of.isoformat())
    stored = stored_days(data, NAME, as_of)
    if stored:
        day = stored[-1]
        basis.file, basis.date = f"narvaro_{day:%Y%m%d}.csv", day.isoformat()
        basis.rows = pq.read_metadata(data.partition(NAME, day.isoformat())).num_rows
    return basis


def read_days(data, days: list[date], policy: Policy) -> pd.DataFrame:
    """Concatenate the stored partitions of the given days (missing days are skipped)."""
    frames = [pd.read_parquet(p) for d in days
              if (p := data.partition(NAME, d.isoformat())).exists()]
    if not frames:
        return Ingested(NAME, policy).table
    return pd.concat(frames, ignore_index=True)
