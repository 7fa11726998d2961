"""A rebuild of the term's absence, a batch of stored days at a time, on two cores.

Reading a batch of days and summing it (per pupil and school unit, and per month) needs
nothing from the batches before it and is most of a rebuild's work; only folding the sums
into the term state goes in day order. So a helper process sums every other batch while
this process folds (`absence.fold_chunk`), as the attendance days are ingested.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from skyddsnat.ingest.day_reads import read_days
from skyddsnat.layout import DataDir
from skyddsnat.parallel import helper_count, mapped
from skyddsnat.policy import Policy
from skyddsnat.rules.absence import day_chunk, fold_chunk
from skyddsnat.rules.kommunbild import combine_month_sums, month_sums

BATCH_DAYS = 20  # a rebuild folds the term 20 days (~1.7 M Stockholm rows) at a time
WORKERS_ENV = "SKYDDSNAT_FOLD_WORKERS"


def batch_sums(data: DataDir, days: list[date], policy: Policy, start: date
               ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """One batch of stored days: its chunk (`absence.day_chunk`), its month sums and how
    many days it held; in a helper process when a rebuild has batches to share."""
    new = read_days(data, days, policy)
    return (day_chunk(new, start), month_sums(new),
            int(new["datum"].nunique()) if len(new) else 0)


def fold_in_batches(data: DataDir, days: list[date], state: pd.DataFrame | None,
                    months: pd.DataFrame | None, start: date, policy: Policy
                    ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Fold the given stored days (ascending, each after what `state` holds) into the term
    state and month sums, a batch at a time: the same result as folding them all at once,
    a batch's rows in memory instead of the term's. Returns state, months, days read."""
    read, sums = 0, [] if months is None else [months]
    batches = [days[i:i + BATCH_DAYS] for i in range(0, len(days), BATCH_DAYS)] or [[]]
    jobs = [(data, batch, policy, start) for batch in batches]
    with mapped(batch_sums, jobs, helper_count(len(jobs), 2, WORKERS_ENV, most=1)) as done:
        for batch, (chunk, month, n) in zip(batches, done, strict=True):
            state = fold_chunk(state, chunk, start, batch[0] if batch else start)
            sums.append(month)
            read += n
    # Exact integer sums: combined once at the end, the same as batch by batch.
    months = sums[0] if len(sums) == 1 else combine_month_sums(*sums)
    return state, months, read
