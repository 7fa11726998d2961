"""Daily attendance: one partition per day (Europe/Stockholm), backfilled in a single run."""


from datetime import date

import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from assets.constants import (
    ATTENDANCE_PARTITIONS,
    GROUP_SOURCES,
)
from assets.sources.ingest import Ingested, Tally, ingest_files, source_check_specs
from pipelines.privacy import SafeError, privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.inbox import daily_file
from skyddsnat.storage import write_pseudonymous

NAME = "narvaro"


@asset(
    name=NAME,
    group_name=GROUP_SOURCES,
    description="Närvaro per elev och skoldag, en partition per dag; pseudonymiserad.",
    partitions_def=ATTENDANCE_PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"pandas", "parquet"},
    check_specs=source_check_specs(NAME),
    tags={"skyddsnat/lager": "kalla"},
)
@privacy_safe
def narvaro(context: AssetExecutionContext, skyddsnat: Skyddsnat):
    data = skyddsnat.data()
    days = [date.fromisoformat(k) for k in context.partition_keys]
    present = [(d, p) for d in days if (p := daily_file(data.inbox, NAME, d)) is not None]
    tally = Tally(NAME)
    # One day at a time: a backfill holds one day's rows in memory, never the year.
    for day, path in present:
        # Pupils' identities come from the elevregister; attendance stages none.
        [result] = ingest_files(skyddsnat, NAME, [path], skyddsnat.reference_date(),
                                stage=False).results
        table = result.table[result.table["datum"] == pd.Timestamp(day)]
        if len(table) != len(result.table):
            # Rows dated another day than the file: quarantining here would hide them from
            # the accounting, so the whole file is refused instead.
            raise SafeError(f"{result.file}: rader med annat datum än filens")
        write_pseudonymous(table, data.partition(NAME, day.isoformat()), NAME)
        tally.add(result, len(table))
    meta = tally.metadata(skyddsnat.policy().version)
    meta.update({"dagar": len(days), "dagar_med_fil": len(present)})
    yield MaterializeResult(metadata=meta)
    yield from tally.check_results(NAME)


def read_days(data, days: list[date]) -> pd.DataFrame:
    """Concatenate the stored partitions of the given days (missing days are skipped)."""
    frames = [pd.read_parquet(p) for d in days
              if (p := data.partition(NAME, d.isoformat())).exists()]
    if not frames:
        return Ingested(NAME).table
    return pd.concat(frames, ignore_index=True)
