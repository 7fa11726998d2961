"""The stored attendance days read back: whole, or only who was where."""

from __future__ import annotations

from datetime import date

import pandas as pd

from schemas.sources import empty
from skyddsnat.policy import Policy

NAME = "narvaro"


def read_days(data, days: list[date], policy: Policy,
              columns: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the stored partitions of the given days (missing days are skipped),
    all their columns or only `columns`."""
    frames = [pd.read_parquet(p, columns=columns) for d in days
              if (p := data.partition(NAME, d.isoformat())).exists()]
    if not frames:
        frame = empty(policy, NAME)
        return frame if columns is None else frame[columns]
    return pd.concat(frames, ignore_index=True)


def day_pupils(data, days: list[date], policy: Policy) -> pd.DataFrame:
    """Each (person_id, skolenhetskod) present on any of the given days, once (unordered).

    Reads those two columns only: a large city's four weeks are millions of rows."""
    return read_days(data, days, policy, ["person_id", "skolenhetskod"]).drop_duplicates(
        ignore_index=True)
