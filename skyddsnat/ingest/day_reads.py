"""The stored attendance days read back: whole, or only who was where."""

from __future__ import annotations

from datetime import date

import pandas as pd

from schemas.sources import empty
from skyddsnat.policy import Policy

NAME = "narvaro"


def read_days(data, days: list[date], policy: Policy) -> pd.DataFrame:
    """Concatenate the stored partitions of the given days (missing days are skipped)."""
    frames = [pd.read_parquet(p) for d in days
              if (p := data.partition(NAME, d.isoformat())).exists()]
    if not frames:
        return empty(policy, NAME)
    return pd.concat(frames, ignore_index=True)


def day_pupils(data, days: list[date], policy: Policy) -> pd.DataFrame:
    """Each (person_id, skolenhetskod) present on any of the given days, once (unordered).

    Reads those two columns only: a large city's four weeks are millions of rows."""
    columns = ["person_id", "skolenhetskod"]
    frames = [pd.read_parquet(p, columns=columns) for d in days
              if (p := data.partition(NAME, d.isoformat())).exists()]
    if not frames:
        return empty(policy, NAME)[columns]
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
