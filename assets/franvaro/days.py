"""Which attendance days are stored, and reading the ones a step needs."""

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from assets.sources.narvaro import NAME
from skyddsnat.ingest.day_reads import read_days
from skyddsnat.layout import DataDir


def stored_days(data: DataDir, until: date) -> list[date]:
    return data.partition_days(NAME, until)


def read_between(data: DataDir, days: list[date], first: date, last: date, policy
                 ) -> pd.DataFrame:
    """Stored days with first ≤ day ≤ last (both included)."""
    return read_days(data, [d for d in days if first <= d <= last], policy)


def day_before(d: date) -> date:
    return d - timedelta(days=1)


def rewritten_since(data: DataDir, days: list[date], until: date, since: Path) -> bool:
    """Was a stored day up to `until` written after `since` (a corrected or late day file)?

    The term state folds each day once; a day it already holds that was stored again since
    (skyddsnat/ingest/day_files.py re-reads a changed day file) means the state must be rebuilt.
    """
    if not since.exists():
        return False
    folded = since.stat().st_mtime_ns
    return any(data.partition(NAME, d.isoformat()).stat().st_mtime_ns > folded
               for d in days if d <= until)
