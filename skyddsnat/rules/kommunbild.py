"""Kommunbild: aggregated absence per school unit × årskurs × month for the board.

Counts per month: antal_elever (pupils with scheduled time that month at that school and
grade) and antal_10/15/20 (of them, total absence that month ≥ 10/15/20 %, policy levels).
Protected persons are removed before anything is counted. Each month is one table of all
four counts with its margins (per school: arskurs "Totalt"; per grade: skolenhet "Totalt";
the municipality), suppressed as a whole (`skyddsnat.rules.suppression`) with the nesting
antal_20 ≤ antal_15 ≤ antal_10 ≤ antal_elever and each level a group of antal_elever
(`STRUCTURE`), until the LP audit proves it. Values are strings ("123" or "..") so the
published table is exactly what is stored and delivered; each cell's status rides beside
it (`status_<count>`), for the board's "Cellstatus" sheet.

Month sums are additive: `month_sums` of each night's rows can be concatenated and
re-aggregated with `combine_month_sums`, so the nightly run never re-reads the year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skyddsnat.arrow_strings import isin
from skyddsnat.rules.disclosure_audit import TableStructure, nested
from skyddsnat.rules.suppression import STATUS_PREFIX, TOTAL, BlockMemo, suppress_table

COUNT_COLUMNS = ["antal_elever", "antal_10", "antal_15", "antal_20"]
THRESHOLDS = {"antal_10": "uppmarksamma", "antal_15": "oroande", "antal_20": "hog"}
OKAND_ARSKURS = "okänd"
SUM_KEY = ["person_id", "skolenhetskod", "manad"]
# The contract's order first (DESIGN.md "Outputs"); the unit's name last, for readers.
OUTPUT_COLUMNS = ["skolenhet", "arskurs", "manad", *COUNT_COLUMNS, "skolenhet_namn"]
STATUS_COLUMNS = [STATUS_PREFIX + c for c in COUNT_COLUMNS]
# The declared structure of the published table: what the suppression protects and the audit
# re-derives. No margin crosses months, so each month is its own block.
STRUCTURE = TableStructure(
    keys=("manad", "skolenhet", "arskurs"), margins=("skolenhet", "arskurs"),
    measures=tuple(COUNT_COLUMNS),
    relations=nested("antal_20", "antal_15", "antal_10", "antal_elever"),
    groups=tuple((c, "antal_elever") for c in THRESHOLDS), total=TOTAL)
BLOCKS = ("manad",)


def month_sums(days: pd.DataFrame) -> pd.DataFrame:
    """Scheduled and absent minutes per pupil, school unit and month ("YYYY-MM"), over school
    days only (scheduled > 0)."""
    sched = days["schemalagd_min"].fillna(0).to_numpy(dtype=np.int64)
    keep = sched > 0
    absent = (days["giltig_franvaro_min"].fillna(0).to_numpy(dtype=np.int64)
              + days["ogiltig_franvaro_min"].fillna(0).to_numpy(dtype=np.int64))
    months = pd.to_datetime(days["datum"]).to_numpy(dtype="datetime64[ns]")[keep]
    codes, uniques = pd.factorize(months.astype("datetime64[M]"))
    labels = np.asarray(pd.DatetimeIndex(uniques.astype("datetime64[ns]")).strftime("%Y-%m"))
    frame = pd.DataFrame({
        "person_id": days["person_id"].array[keep],
        "skolenhetskod": days["skolenhetskod"].array[keep],
        "manad": labels[codes] if len(codes) else np.array([], dtype=object),
        "schemalagd_min": sched[keep],
        "franvaro_min": absent[keep],
    })
    return combine_month_sums(frame)


def combine_month_sums(*frames: pd.DataFrame) -> pd.DataFrame:
    """Re-aggregate concatenated month sums (e.g. the stored state plus tonight's days)."""
    both = pd.concat(frames, ignore_index=True)
    codes = [pd.factorize(both[c], sort=True) for c in SUM_KEY]
    sizes = [len(u) for _, u in codes]
    flat = np.ravel_multi_index([c for c, _ in codes], sizes) if len(both) else np.array([], int)
    uniq, group = np.unique(flat, return_inverse=True)
    out = pd.DataFrame({
        c: pd.array(u[idx], dtype="string")
        for c, (_, u), idx in zip(SUM_KEY, codes, np.unravel_index(uniq, sizes), strict=True)
    })
    for col in ("schemalagd_min", "franvaro_min"):
        weights = both[col].fillna(0).to_numpy(dtype=np.int64)
        total = np.bincount(group, weights=weights, minlength=len(uniq))  # exact below 2**53
        out[col] = pd.array(total.astype(np.int64), dtype="Int64")
    return out


def _arskurs_per_month(sums: pd.DataFrame, placeringar: pd.DataFrame) -> pd.Series:
    """The grade of the placement at that school overlapping the month (latest start wins);
    else the latest placement at that school; else "okänd". Ties go to the later placement
    in the register's order."""
    months = pd.Index(sums["manad"].unique())
    firsts = pd.to_datetime(months.astype(str) + "-01")
    pos = months.get_indexer(sums["manad"])
    keys = sums[["person_id", "skolenhetskod"]].assign(
        _row=np.arange(len(sums)), _fran=firsts[pos].to_numpy(),
        _till=(firsts + pd.offsets.MonthEnd(0))[pos].to_numpy())
    pl = placeringar[["person_id", "skolenhetskod", "arskurs", "startdatum", "slutdatum"]]
    m = keys.merge(pl, on=["person_id", "skolenhetskod"])  # the left's order, then the right's
    start, end = pd.to_datetime(m["startdatum"]), pd.to_datetime(m["slutdatum"])
    overlap = ((start <= m["_till"]) & (end.isna() | (end >= m["_fran"]))).to_numpy()
    row = m["_row"].to_numpy()
    # Per row the last of (overlap, start) in a stable order: no start (NaT) sorts first.
    order = np.lexsort((start.to_numpy("datetime64[ns]").view(np.int64), overlap, row))
    last = order[np.r_[row[order][1:] != row[order][:-1], True]] if len(order) else order
    grade = pd.Series(pd.NA, index=range(len(sums)), dtype="Int64")
    grade.iloc[row[last]] = m["arskurs"].astype("Int64").to_numpy()[last]
    return grade.astype("string").fillna(OKAND_ARSKURS).set_axis(sums.index)


def pupil_month_counts(narvaro_month_sums: pd.DataFrame, placeringar: pd.DataFrame,
                       skyddade, nivaer: dict) -> pd.DataFrame:
    """Unsuppressed counts per skolenhetskod × arskurs × manad, protected persons excluded.
    Internal: never published as is."""
    protected = pd.Series(list(skyddade) if isinstance(skyddade, set) else skyddade,
                          dtype="string")
    sums = narvaro_month_sums[~isin(narvaro_month_sums["person_id"], protected)]
    sums = sums[sums["schemalagd_min"].fillna(0) > 0]
    sums = sums.assign(arskurs=_arskurs_per_month(sums, placeringar))
    absent = sums["franvaro_min"].astype("float64").to_numpy()
    sched = sums["schemalagd_min"].astype("float64").to_numpy()
    flags = {col: (100.0 * absent >= nivaer[level] * sched).astype(np.int64)
             for col, level in THRESHOLDS.items()}
    counted = sums[["skolenhetskod", "arskurs", "manad"]].assign(antal_elever=1, **flags)
    out = counted.groupby(["skolenhetskod", "arskurs", "manad"], observed=True, sort=True)
    return out[COUNT_COLUMNS].sum().reset_index()


def kommunbild(narvaro_month_sums: pd.DataFrame, placeringar: pd.DataFrame, skyddade,
               policy, memo: BlockMemo | None = None) -> pd.DataFrame:
    """The board's table: one row per skolenhet × arskurs × manad plus the margins, suppressed
    as a whole (policy.undertryckning), shown as a string or the symbol, with cell statuses.
    `memo` keeps the months whose counts did not change from being suppressed again."""
    u = policy.undertryckning
    counts = pupil_month_counts(narvaro_month_sums, placeringar, skyddade,
                                policy.franvaro.nivaer)
    if counts.empty:
        return pd.DataFrame({c: pd.Series(dtype="string")
                             for c in OUTPUT_COLUMNS + STATUS_COLUMNS})
    inner = counts.rename(columns={"skolenhetskod": "skolenhet"})
    out = suppress_table(inner, STRUCTURE, u.k, komplement=u.komplement, symbol=u.symbol,
                         blocks=BLOCKS, memo=memo).with_status()
    names = (placeringar[["skolenhetskod", "skolenhet_namn"]].dropna()
             .drop_duplicates("skolenhetskod", keep="last")
             .set_index("skolenhetskod")["skolenhet_namn"])
    out["skolenhet_namn"] = out["skolenhet"].map(names).where(out["skolenhet"] != TOTAL,
                                                               "Hela kommunen")
    for col in OUTPUT_COLUMNS + STATUS_COLUMNS:
        out[col] = out[col].astype("string")
    out["_total_skola"] = out["skolenhet"] == TOTAL
    out["_total_ak"] = out["arskurs"] == TOTAL
    out["_ak"] = pd.to_numeric(out["arskurs"], errors="coerce")
    out = out.sort_values(["manad", "_total_skola", "skolenhet", "_total_ak", "_ak", "arskurs"])
    return out[OUTPUT_COLUMNS + STATUS_COLUMNS].reset_index(drop=True)
