"""The last-weeks window settled through the day before the reference date, kept between nights.

A night slides it by the days since (reads the new days and the days that fell out, not the
whole four weeks) and the reference day is put on top without being stored, like the term
state. It is kept only while every stored day it was summed from is still the same file
(size and modification time: a corrected or late day file is stored anew), for the same
window length, the same code (`provenance.code_digest`: an upgrade that sums differently must
not slide a window the old code made) and the same policy version; otherwise it is summed
whole again. `warehouse/_fonster/`: pseudonyms and
sums only, beside a JSON of the days it holds.
"""

import json
import os
from datetime import date, timedelta

import pandas as pd

from assets.sources.narvaro import NAME
from skyddsnat.ingest.day_reads import read_days
from skyddsnat.layout import DataDir
from skyddsnat.privacy.provenance import code_digest
from skyddsnat.privacy.storage import write_pseudonymous
from skyddsnat.rules.absence import slide_window

FOLDER = "_fonster"
TABLE = "senaste_veckor"


def _made_by(policy) -> dict[str, str]:
    return {"code": code_digest(), "policy": str(policy.version)}  # code_digest is cached


def _version(path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _days_in(data: DataDir, days: list[date], first: date, last: date) -> dict[str, str]:
    return {d.isoformat(): _version(data.partition(NAME, d.isoformat()))
            for d in days if first <= d <= last}


def settled_window(data: DataDir, days: list[date], till: date, length: int, policy
                   ) -> pd.DataFrame | None:
    """The window of `length` days ending `till`; None when it cannot be summed exactly."""
    folder = data.warehouse / FOLDER
    table, record = folder / f"{TABLE}.parquet", folder / f"{TABLE}.json"
    first = till - timedelta(days=length - 1)
    window = None
    try:
        kept = json.loads(record.read_text(encoding="utf-8"))
        before = date.fromisoformat(kept["till"])
        fits = (kept["length"] == length and 0 <= (till - before).days < length
                and kept.get("made_by") == _made_by(policy)
                and kept["table"] == _version(table)
                and kept["days"] == _days_in(data, days, before - timedelta(days=length - 1),
                                             before))
    except (OSError, ValueError, KeyError, TypeError):
        fits = False
    if fits and before == till:
        return pd.read_parquet(table)
    if fits:
        gone = [d for d in days if before - timedelta(days=length - 1) <= d < first]
        new = [d for d in days if before < d <= till]
        window = slide_window(pd.read_parquet(table), before, till, length,
                              added=read_days(data, new, policy),
                              leaving=read_days(data, gone, policy))
    if window is None:
        window = slide_window(None, None, till, length,
                              added=read_days(data, [d for d in days if first <= d <= till],
                                              policy))
    record.unlink(missing_ok=True)
    if window is not None:
        write_pseudonymous(window, table, TABLE)
        tmp = record.with_name(f".{record.name}.tmp")
        tmp.write_text(json.dumps({"till": till.isoformat(), "length": length,
                                   "made_by": _made_by(policy),
                                   "table": _version(table),
                                   "days": _days_in(data, days, first, till)}), encoding="utf-8")
        os.replace(tmp, record)
    return window
