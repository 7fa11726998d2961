"""The first day a municipality's attendance partitions start on.

Dagster shows every day from a partitioned asset's start as a partition, and a day without
a materialisation as "Missing"; a start two years before the data made the UI report
hundreds of missing days that never had a file. The start is therefore the first day
attendance can have in this data dir:

- the earliest attendance day on record: a `narvaro_YYYYMMDD.csv` in the inbox, or a day
  already stored in the warehouse (which outlives the inbox file once it is archived);
- with no attendance on record at all, the start of the current läsår (1 July).

The set of partitions only ever grows: a new day is later than the start, an older file
(a backfill of last term) moves the start back, and stored days keep it there. It moves
later only if stored days are deleted, and before the first file ever arrives (nothing was
materialised then). Tests and backfills of past dates get partitions from their own data.
"""

from __future__ import annotations

from datetime import date

from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.inbox import files_for
from skyddsnat.layout import DataDir
from skyddsnat.policy import Policy
from skyddsnat.rules.school_duty import lasar_start

SOURCE = "narvaro"


def attendance_start(data: DataDir, today: date, policy: Policy) -> date:
    """The partitions' first day for `data` under `policy` (its attendance file names)."""
    days = [d for d, _ in files_for(data.inbox, entry(policy, SOURCE))]
    days += data.partition_days(SOURCE)
    return min(days) if days else date(lasar_start(today), 7, 1)
