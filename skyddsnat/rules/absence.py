"""Problematic absence (skollagen 7 kap. 17 §, 19 a §): per pupil and school unit, per window.

A pupil's school days are the attendance rows with scheduled minutes > 0 at that school unit.
Days without such a row (weekends, lov, off the roll, quarantined, zero scheduled) neither
break nor extend a run of full-day absence and add nothing to the percentages, so a run is
counted over the pupil's own school days in date order.

Levels are decided on exact integer sums (100 × absent ≥ level × scheduled), never on a
rounded percentage; the list shows percentages rounded DOWN to one decimal so a shown
10.0 % always means the pupil reached 10 %.

The term aggregate is folded incrementally (`fold_days`): the nightly run folds only the
new day files into an `AbsenceState` instead of re-reading the whole term.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd

from skyddsnat.arrow_strings import isin

KEY = ["person_id", "skolenhetskod"]
METRIC_COLUMNS = [
    "person_id", "skolenhetskod", "skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min",
    "franvaro_procent", "ogiltig_procent", "langsta_sammanhangande_dagar",
]
STATE_COLUMNS = [
    "person_id", "skolenhetskod", "termin_start", "vikt_till", "skoldagar", "schemalagd_min",
    "franvaro_min", "ogiltig_min", "aktuell_foljd", "langsta_sammanhangande_dagar",
]
LEVELS = ("uppmarksamma", "oroande", "hog")
FYND_HOG_UTAN_ARENDE = "hog_utan_arende"
FYND_ANMALAN = "anmalan_till_huvudman"
# Why a pupil is on the rektor's list (`skal`): the highest level reached by the percentage,
# a long run of full days, flagged invalid absence.
SKAL_NIVA = {"hog": "hog_franvaro", "oroande": "oroande_franvaro",
             "uppmarksamma": "uppmarksamma_franvaro"}
SKAL_LANG = "lang_franvaro"
SKAL_OGILTIG = "ogiltig_franvaro"


# --- term window -----------------------------------------------------------------------------

def term_label(as_of: date) -> str:
    """HT runs from 1 July, VT from 1 January: "HT2025" / "VT2026"."""
    return f"{'HT' if as_of.month >= 7 else 'VT'}{as_of.year}"


def term_start(as_of: date, attendance_dates: Iterable[date], terminer: dict) -> date:
    """The term's first school day: a policy date if given, else the first attendance date on
    or after 1 July (HT) / 1 January (VT) of as_of's half-year, up to as_of. With no school day
    yet the half-year boundary itself is returned (an empty window)."""
    label = term_label(as_of)
    if label in terminer:
        return pd.Timestamp(terminer[label]).date()
    boundary = date(as_of.year, 7 if as_of.month >= 7 else 1, 1)
    if not isinstance(attendance_dates, pd.Series | pd.Index | np.ndarray | list):
        attendance_dates = list(attendance_dates)
    dates = pd.DatetimeIndex(pd.to_datetime(pd.Index(attendance_dates)))
    inside = dates[(dates >= pd.Timestamp(boundary)) & (dates <= pd.Timestamp(as_of))]
    return inside.min().date() if len(inside) else boundary


def recent_window(as_of: date, senaste_dagar: int = 28) -> tuple[date, date]:
    """The last-4-weeks window: as_of − 28 days ≤ datum ≤ as_of (both ends included)."""
    return (pd.Timestamp(as_of) - pd.Timedelta(days=senaste_dagar)).date(), as_of


# --- per-chunk run lengths (vectorised) ------------------------------------------------------

def _school_days(narvaro: pd.DataFrame, first: pd.Timestamp,
                 last: pd.Timestamp | None = None) -> pd.DataFrame:
    """School-day rows dated first ≤ datum (≤ last), with integer minutes and the full-day
    flag; one pass of masks, the string columns copied once."""
    datum = pd.to_datetime(narvaro["datum"]).to_numpy(dtype="datetime64[ns]")
    sched = narvaro["schemalagd_min"].fillna(0).to_numpy(dtype=np.int64)
    keep = (sched > 0) & (datum >= first.to_datetime64())
    if last is not None:
        keep &= datum <= last.to_datetime64()
    giltig = narvaro["giltig_franvaro_min"].fillna(0).to_numpy(dtype=np.int64)[keep]
    ogiltig = narvaro["ogiltig_franvaro_min"].fillna(0).to_numpy(dtype=np.int64)[keep]
    # The string columns stay in their own array type (a Python object per value cost more
    # than the whole fold on a Stockholm batch).
    days = pd.DataFrame({
        "person_id": narvaro["person_id"].array[keep],
        "skolenhetskod": narvaro["skolenhetskod"].array[keep],
        "datum": datum[keep],
        "schemalagd_min": sched[keep],
        "ogiltig": ogiltig,
        "franvaro_min": giltig + ogiltig,
    })
    days["hel"] = days["franvaro_min"].to_numpy() >= days["schemalagd_min"].to_numpy()
    return days


def _chunk_aggregate(days: pd.DataFrame) -> pd.DataFrame:
    """Per (pupil, school) in one chunk of school days: sums, the leading and trailing run of
    full days, the longest run, and whether every day was a full-day absence."""
    if days.empty:
        return pd.DataFrame({
            "person_id": pd.Series(dtype="string"), "skolenhetskod": pd.Series(dtype="string"),
            **{c: pd.Series(dtype=np.int64) for c in (
                "skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min", "inledande",
                "avslutande", "langsta")},
            "alla_hela": pd.Series(dtype=bool), "sista_datum": pd.Series(dtype="datetime64[ns]"),
        })
    pcode, puniq = pd.factorize(days["person_id"], sort=False)
    scode, suniq = pd.factorize(days["skolenhetskod"], sort=False)
    group = pcode.astype(np.int64) * (len(suniq) + 1) + scode
    datum = days["datum"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    order = np.lexsort((datum, group))
    g = group[order]
    full = days["hel"].to_numpy()[order]
    n = len(g)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], n] - 1
    size = ends - starts + 1
    grp_idx = np.repeat(np.arange(len(starts)), size)

    # Run length of full days ending at each row: segments restart at a group start or at a
    # day that is not a full-day absence; the run is the count of full days in the segment.
    reset = np.zeros(n, dtype=bool)
    reset[starts] = True
    reset |= ~full
    seg = np.cumsum(reset) - 1
    cs = np.cumsum(full)
    seg_starts = np.flatnonzero(reset)
    base = cs[seg_starts] - full[seg_starts]
    run = cs - base[seg]
    langsta = np.maximum.reduceat(run, starts)
    avslutande = run[ends]
    not_full = np.cumsum(~full)
    before = not_full[starts] - (~full[starts])
    inledande = np.bincount(grp_idx, weights=(not_full - before[grp_idx]) == 0,
                            minlength=len(starts)).astype(np.int64)

    def total(col: str) -> np.ndarray:
        return np.add.reduceat(days[col].to_numpy(dtype=np.int64)[order], starts)

    first = order[starts]
    return pd.DataFrame({
        "person_id": pd.array(puniq[pcode[first]], dtype="string"),
        "skolenhetskod": pd.array(suniq[scode[first]], dtype="string"),
        "skoldagar": size.astype(np.int64),
        "schemalagd_min": total("schemalagd_min"),
        "franvaro_min": total("franvaro_min"),
        "ogiltig_min": total("ogiltig"),
        "inledande": inledande,
        "avslutande": avslutande.astype(np.int64),
        "langsta": langsta.astype(np.int64),
        "alla_hela": inledande == size,
        "sista_datum": np.maximum.reduceat(datum[order], starts).astype("datetime64[ns]"),
    })


# --- incremental term state ------------------------------------------------------------------

def empty_state() -> pd.DataFrame:
    state = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in STATE_COLUMNS})
    state["person_id"] = state["person_id"].astype("string")
    state["skolenhetskod"] = state["skolenhetskod"].astype("string")
    state["termin_start"] = state["termin_start"].astype("datetime64[ns]")
    state["vikt_till"] = state["vikt_till"].astype("datetime64[ns]")
    return state


def needs_rebuild(state: pd.DataFrame | None, term_start: date) -> bool:
    """True when the state belongs to another term (or is missing): the caller must then pass
    every day of the new term to `fold_days`."""
    return (state is None or state.empty
            or pd.Timestamp(state["termin_start"].iloc[0]) != pd.Timestamp(term_start))


def fold_days(state: pd.DataFrame | None, days: pd.DataFrame, term_start: date,
              _until: date | None = None) -> pd.DataFrame:
    """Fold new attendance rows into the term state (AbsenceState).

    Only rows dated on or after term_start and strictly after the state's last folded date
    (`vikt_till`) are folded, so re-running a night is a no-op; a late correction of an
    already folded day needs a rebuild (`fold_days(None, whole_term, term_start)`). A state of
    another term is discarded.
    """
    start = pd.Timestamp(term_start)
    state, folded_through = _folded(state, term_start)
    first = max(start, folded_through + pd.Timedelta(days=1))
    last = None if _until is None else pd.Timestamp(_until)
    return _merge(state, _chunk_aggregate(_school_days(days, first, last)), start,
                  folded_through)


def day_chunk(days: pd.DataFrame, term_start: date) -> pd.DataFrame:
    """A batch of the term's days summed per pupil and school unit, to fold with
    `fold_chunk`: the part of `fold_days` that needs no state (a rebuild sums its batches in
    two processes)."""
    return _chunk_aggregate(_school_days(days, pd.Timestamp(term_start)))


def fold_chunk(state: pd.DataFrame | None, chunk: pd.DataFrame, term_start: date,
               first_day: date) -> pd.DataFrame:
    """`fold_days(state, days, term_start)` from `day_chunk(days, term_start)`, for days
    dated `first_day` or later: they must all lie after what the state has folded, since a
    chunk can no longer leave out the days already in it (ValueError otherwise)."""
    state, folded_through = _folded(state, term_start)
    if not chunk.empty and pd.Timestamp(first_day) <= folded_through:
        raise ValueError("dagarna är redan summerade i terminens tillstånd")
    return _merge(state, chunk, pd.Timestamp(term_start), folded_through)


def _folded(state: pd.DataFrame | None, term_start: date) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The state to fold onto (a new one for another term) and the last day it holds."""
    start = pd.Timestamp(term_start)
    if needs_rebuild(state, term_start):
        return empty_state(), start - pd.Timedelta(days=1)
    return state, pd.Timestamp(state["vikt_till"].iloc[0])


def _merge(state: pd.DataFrame, chunk: pd.DataFrame, start: pd.Timestamp,
           folded_through: pd.Timestamp) -> pd.DataFrame:
    if chunk.empty:
        return state.reset_index(drop=True)
    last = max(folded_through, pd.Timestamp(chunk["sista_datum"].max()))

    merged = state.merge(chunk, on=KEY, how="outer", suffixes=("", "_ny"))
    for col in ("skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min",
                "aktuell_foljd", "langsta_sammanhangande_dagar"):
        merged[col] = merged[col].fillna(0).astype(np.int64)
    for col in ("skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min",
                "inledande", "avslutande", "langsta"):
        name = f"{col}_ny" if f"{col}_ny" in merged else col
        merged[name] = merged[name].fillna(0).astype(np.int64)
    alla_hela = merged["alla_hela"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    has_new = merged["alla_hela"].notna().to_numpy()

    current = merged["aktuell_foljd"].to_numpy()
    joined = current + merged["inledande"].to_numpy()
    longest = np.maximum.reduce([
        merged["langsta_sammanhangande_dagar"].to_numpy(), merged["langsta"].to_numpy(), joined,
    ])
    new_current = np.where(alla_hela, current + merged["skoldagar_ny"].to_numpy(),
                           np.where(has_new, merged["avslutande"].to_numpy(), current))
    out = pd.DataFrame({
        "person_id": merged["person_id"].astype("string"),
        "skolenhetskod": merged["skolenhetskod"].astype("string"),
        "termin_start": start,
        "vikt_till": last,
    })
    for col in ("skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min"):
        out[col] = merged[col].to_numpy() + merged[f"{col}_ny"].to_numpy()
    out["aktuell_foljd"] = new_current.astype(np.int64)
    out["langsta_sammanhangande_dagar"] = longest.astype(np.int64)
    out["termin_start"] = out["termin_start"].astype("datetime64[ns]")
    out["vikt_till"] = out["vikt_till"].astype("datetime64[ns]")
    return out[STATE_COLUMNS].sort_values(KEY, ignore_index=True)


def metrics_from_state(state: pd.DataFrame) -> pd.DataFrame:
    """The pupil_metrics columns from a folded state."""
    out = state[["person_id", "skolenhetskod", "skoldagar", "schemalagd_min", "franvaro_min",
                 "ogiltig_min", "langsta_sammanhangande_dagar"]].copy()
    for col in ("skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min",
                "langsta_sammanhangande_dagar"):
        out[col] = out[col].astype("Int64")
    sched = out["schemalagd_min"].astype("float64")
    out["franvaro_procent"] = 100.0 * out["franvaro_min"].astype("float64") / sched
    out["ogiltig_procent"] = 100.0 * out["ogiltig_min"].astype("float64") / sched
    return out[METRIC_COLUMNS].sort_values(KEY, ignore_index=True)


def pupil_metrics(narvaro: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Absence per pupil and school unit over start ≤ datum ≤ end (percentages unrounded)."""
    return metrics_from_state(fold_days(None, narvaro, start, _until=end))


# --- levels ----------------------------------------------------------------------------------

def _at_least(minutes: pd.Series, sched: pd.Series, percent: float) -> np.ndarray:
    """Exact `100 × minutes / sched ≥ percent`, without a rounded percentage."""
    m = minutes.astype("float64").to_numpy(na_value=np.nan)
    s = sched.astype("float64").to_numpy(na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(100.0 * m >= percent * s, nan=0).astype(bool) & (s > 0)


def classify(metrics: pd.DataFrame, policy_franvaro) -> pd.DataFrame:
    """Add niva ("" | uppmarksamma | oroande | hog), ogiltig_flagga and utredningsplikt,
    and what the level rests on: niva_procent (the level of the percentage alone) and
    lang_franvaro (the run of full days reached hog_sammanhangande_dagar).

    hog: total ≥ nivaer.hog or a run ≥ hog_sammanhangande_dagar full days. ogiltig_flagga:
    invalid ≥ ogiltig_flagga_procent. utredningsplikt (7:19 a, "upprepad eller längre frånvaro",
    valid or invalid alike since 2018): niva hog (which includes the long run), or flagged
    invalid absence within a total that has reached uppmarksamma.
    """
    p = policy_franvaro
    out = metrics.copy()
    sched, total = out["schemalagd_min"], out["franvaro_min"]
    niva = np.full(len(out), "", dtype=object)
    for level in LEVELS:
        niva[_at_least(total, sched, p.nivaer[level])] = level
    out["niva_procent"] = pd.array(niva.copy(), dtype="string")
    run = out["langsta_sammanhangande_dagar"].astype("float64").to_numpy(na_value=0)
    out["lang_franvaro"] = run >= p.hog_sammanhangande_dagar
    niva[out["lang_franvaro"].to_numpy()] = "hog"
    out["niva"] = pd.array(niva, dtype="string")
    out["ogiltig_flagga"] = _at_least(out["ogiltig_min"], sched, p.ogiltig_flagga_procent)
    out["utredningsplikt"] = (niva == "hog") | (
        out["ogiltig_flagga"].to_numpy() & _at_least(total, sched, p.nivaer["uppmarksamma"]))
    return out


def display_percent(minutes: pd.Series, sched: pd.Series) -> pd.Series:
    """Percent rounded DOWN to one decimal, exact on integers: 9.99 % shows as 9.9 %."""
    m = minutes.astype("Int64")
    s = sched.astype("Int64").where(sched.astype("Int64") > 0)
    return ((m * 1000) // s).astype("Float64") / 10


# --- the rektor's list -----------------------------------------------------------------------

def arskurs_at(keys: pd.DataFrame, placeringar: pd.DataFrame, as_of: date) -> pd.Series:
    """The pupil's årskurs at that school: the placement active on as_of, else the latest one."""
    cols = ["person_id", "skolenhetskod", "arskurs", "startdatum", "slutdatum"]
    pl = placeringar[cols].merge(keys[KEY].drop_duplicates(), on=KEY)
    ts = pd.Timestamp(as_of)
    start, end = pd.to_datetime(pl["startdatum"]), pd.to_datetime(pl["slutdatum"])
    pl = pl.assign(_aktiv=(start <= ts) & (end.isna() | (end >= ts)), _start=start)
    pl = pl.sort_values(["_aktiv", "_start"], na_position="first").drop_duplicates(KEY, keep="last")
    found = keys[KEY].merge(pl[KEY + ["arskurs"]], on=KEY, how="left")
    return found["arskurs"].astype("Int64").set_axis(keys.index)


def rektor_list(term_metrics: pd.DataFrame, recent_metrics: pd.DataFrame,
                placeringar: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Pseudonymous rows for franvaro_<skolenhetskod>.xlsx from two `classify` outputs.

    A pupil is listed when the term-to-date or last-4-weeks level is set, or invalid absence is
    flagged in either window; `skal` says which (see `reasons`). Percentages are shown rounded
    down to one decimal. Worst first, as a rektor works through it: the higher level of the
    two windows, then the term's and the last weeks' absence %.
    """
    needed = {"niva", "ogiltig_flagga", "utredningsplikt", "niva_procent", "lang_franvaro"}
    for frame in (term_metrics, recent_metrics):
        if not needed <= set(frame.columns):
            raise ValueError("rektor_list tar emot klassade mått (classify)")

    def shown(m: pd.DataFrame, suffix: str) -> pd.DataFrame:
        return pd.DataFrame({
            "person_id": m["person_id"].astype("string"),
            "skolenhetskod": m["skolenhetskod"].astype("string"),
            f"franvaro_procent{suffix}": display_percent(m["franvaro_min"], m["schemalagd_min"]),
            f"ogiltig_procent{suffix}": display_percent(m["ogiltig_min"], m["schemalagd_min"]),
            f"langsta_sammanhangande_dagar{suffix}":
                m["langsta_sammanhangande_dagar"].astype("Int64"),
            f"niva{suffix}": m["niva"].astype("string"),
            f"_flagga{suffix}": m["ogiltig_flagga"].astype("boolean"),
            f"_plikt{suffix}": m["utredningsplikt"].astype("boolean"),
            f"_procentniva{suffix}": m["niva_procent"].astype("string"),
            f"_lang{suffix}": m["lang_franvaro"].astype("boolean"),
        })

    both = shown(term_metrics, "").merge(shown(recent_metrics, "_4v"), on=KEY, how="outer")
    for col in ("niva", "niva_4v"):
        both[col] = both[col].fillna("")
    flag = both["_flagga"].fillna(False) | both["_flagga_4v"].fillna(False)
    plikt = both["_plikt"].fillna(False) | both["_plikt_4v"].fillna(False)
    both["ogiltig_flagga"] = flag.astype(bool)
    both["utredningsplikt"] = plikt.astype(bool)
    listed = both[(both["niva"] != "") | (both["niva_4v"] != "") | both["ogiltig_flagga"]]
    listed = listed.reset_index(drop=True)
    listed.insert(2, "arskurs", arskurs_at(listed, placeringar, as_of))
    listed["skal"] = reasons(listed)
    cols = ["person_id", "skolenhetskod", "arskurs", "skal", "franvaro_procent",
            "ogiltig_procent", "langsta_sammanhangande_dagar", "niva", "franvaro_procent_4v",
            "ogiltig_procent_4v", "langsta_sammanhangande_dagar_4v", "niva_4v",
            "ogiltig_flagga", "utredningsplikt"]
    rank = {level: i + 1 for i, level in enumerate(LEVELS)}
    worst = np.maximum(listed["niva"].map(rank).fillna(0).to_numpy(dtype=int),
                       listed["niva_4v"].map(rank).fillna(0).to_numpy(dtype=int))
    order = listed.assign(_worst=-worst,
                          _term=-listed["franvaro_procent"].astype("Float64").fillna(-1),
                          _recent=-listed["franvaro_procent_4v"].astype("Float64").fillna(-1))
    order = order.sort_values(["_worst", "_term", "_recent", *KEY], kind="stable")
    return order[cols].reset_index(drop=True)


def reasons(listed: pd.DataFrame) -> pd.Series:
    """`skal` of each listed pupil, the reasons ", "-joined: the highest level the absence %
    reached in either window, a long run of full days, flagged invalid absence."""
    rank = {level: i for i, level in enumerate(LEVELS)}

    def highest(row_levels) -> str:
        found = [v for v in row_levels if isinstance(v, str) and v in rank]
        return SKAL_NIVA[max(found, key=rank.get)] if found else ""

    levels = [highest(pair) for pair in zip(listed["_procentniva"].fillna(""),
                                            listed["_procentniva_4v"].fillna(""), strict=True)]
    lang = (listed["_lang"].fillna(False) | listed["_lang_4v"].fillna(False)).to_numpy(bool)
    flag = listed["ogiltig_flagga"].to_numpy(dtype=bool)
    out = [", ".join(p for p in (level, SKAL_LANG if long_run else "",
                                 SKAL_OGILTIG if invalid else "") if p)
           for level, long_run, invalid in zip(levels, lang, flag, strict=True)]
    return pd.Series(out, index=listed.index, dtype="string")


# --- the case register (franvaroarenden) -----------------------------------------------------

def case_register_findings(listed: pd.DataFrame, arenden: pd.DataFrame | None,
                           policy_franvaro) -> pd.DataFrame:
    """Findings against the optional case register, one row per pupil, school and finding.

    - `hog_utan_arende`: listed at hog (term or last 4 weeks) and the person has no row at all
      in the register (any row counts as an open case: the register has no closing step).
    - `anmalan_till_huvudman`: the person's highest step has reached trappa_anmalan_steg (the
      anmälan to the huvudman is made; the case has left the rektor's ladder). Reported on the
      list of each school where the pupil is listed; a pupil no longer listed is the
      huvudman's case already and is not repeated here.
    """
    cols = ["person_id", "skolenhetskod", "fynd"]
    if arenden is None or listed.empty:
        arenden = pd.DataFrame({"person_id": pd.Series(dtype="string"),
                                "steg": pd.Series(dtype="Int64")})
    top = arenden.groupby("person_id", observed=True)["steg"].max()
    on_register = isin(listed["person_id"], top.index)
    hog = (listed["niva"] == "hog") | (listed["niva_4v"] == "hog")
    steg = listed["person_id"].map(top).astype("Int64")
    anmald = (steg >= policy_franvaro.trappa_anmalan_steg).fillna(False).astype(bool)
    out = pd.concat([
        listed.loc[hog & ~on_register, KEY].assign(fynd=FYND_HOG_UTAN_ARENDE),
        listed.loc[anmald, KEY].assign(fynd=FYND_ANMALAN),
    ], ignore_index=True)
    out["fynd"] = out["fynd"].astype("string")
    return out[cols].sort_values(cols, ignore_index=True)


def with_findings(listed: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """The rektor list with a `fynd` column ("" or the findings, comma-separated)."""
    joined = findings.groupby(KEY, observed=True)["fynd"].agg(lambda s: ", ".join(sorted(s)))
    out = listed.merge(joined.reset_index(), on=KEY, how="left")
    out["fynd"] = out["fynd"].fillna("").astype("string")
    return out


# --- the last-weeks window, slid a night at a time -------------------------------------------

WINDOW_COLUMNS = ["person_id", "skolenhetskod", "skoldagar", "schemalagd_min", "franvaro_min",
                  "ogiltig_min", "skoldag_bitar", "hel_bitar"]
SUMS = ("skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min")


def _day_bits(narvaro: pd.DataFrame, first: date, till: date) -> pd.DataFrame | None:
    """School-day rows dated first ≤ datum ≤ till as window contributions: sums and one bit
    per day (bit i is the day `till − i`). None when a pupil has two rows at one school on
    one day: a bit cannot count them, so the caller recomputes the window whole."""
    days = _school_days(narvaro, pd.Timestamp(first), pd.Timestamp(till))
    if days.duplicated(["person_id", "skolenhetskod", "datum"]).any():
        return None
    offset = ((pd.Timestamp(till).to_datetime64() - days["datum"].to_numpy())
              // np.timedelta64(1, "D")).astype(np.int64)
    bit = np.left_shift(np.int64(1), offset)
    return pd.DataFrame({
        "person_id": days["person_id"], "skolenhetskod": days["skolenhetskod"],
        "skoldagar": np.ones(len(days), dtype=np.int64),
        "schemalagd_min": days["schemalagd_min"].to_numpy(),
        "franvaro_min": days["franvaro_min"].to_numpy(), "ogiltig_min": days["ogiltig"].to_numpy(),
        "skoldag_bitar": bit, "hel_bitar": np.where(days["hel"].to_numpy(), bit, 0),
    })


def _summed(parts: list[pd.DataFrame]) -> pd.DataFrame:
    both = pd.concat(parts, ignore_index=True)
    pcode, puniq = pd.factorize(both["person_id"], sort=True)
    scode, suniq = pd.factorize(both["skolenhetskod"], sort=True)
    group, index = np.unique(pcode.astype(np.int64) * (len(suniq) + 1) + scode,
                             return_inverse=True)
    out = pd.DataFrame({
        "person_id": pd.array(np.asarray(puniq, dtype=object)[group // (len(suniq) + 1)],
                              dtype="string"),
        "skolenhetskod": pd.array(np.asarray(suniq, dtype=object)[group % (len(suniq) + 1)],
                                  dtype="string"),
    })
    for col in SUMS:
        out[col] = np.bincount(index, weights=both[col].to_numpy(dtype=np.int64),
                               minlength=len(group)).astype(np.int64)  # exact below 2**53
    for col in ("skoldag_bitar", "hel_bitar"):
        bits = np.zeros(len(group), dtype=np.int64)
        np.bitwise_or.at(bits, index, both[col].to_numpy(dtype=np.int64))
        out[col] = bits
    return out


def empty_window() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in WINDOW_COLUMNS})
    for c in KEY:
        out[c] = out[c].astype("string")
    return out


def slide_window(window: pd.DataFrame | None, till_before: date | None, till: date, length: int,
                 added: pd.DataFrame, leaving: pd.DataFrame | None = None,
                 length_before: int | None = None) -> pd.DataFrame | None:
    """The window of `length` days ending `till` (till − length < datum ≤ till).

    From nothing (`window` None): summed from `added`. From the window of `length_before`
    days ending `till_before` (0 ≤ till − till_before < length_before): its day bits moved
    on, the rows of `added` dated after `till_before` added, and the rows of `leaving` dated
    in the days that fell out subtracted. Exact integer sums, so the same as the window
    summed whole; None when that cannot be promised (a pupil with two rows at one school on
    one day: one bit cannot count them).
    """
    first = (pd.Timestamp(till) - pd.Timedelta(days=length - 1)).date()
    scratch = window is None
    if scratch:
        window, shift, gone, since = empty_window(), 0, empty_window(), first
    else:
        length_before = length if length_before is None else length_before
        shift = (pd.Timestamp(till) - pd.Timestamp(till_before)).days
        if not 0 <= shift < length_before:
            raise ValueError("fönstret kan bara flyttas framåt, mindre än sin längd")
        first_before = (pd.Timestamp(till_before) - pd.Timedelta(days=length_before - 1)).date()
        last_gone = (pd.Timestamp(first) - pd.Timedelta(days=1)).date()
        gone = (_day_bits(leaving, first_before, last_gone)
                if leaving is not None and first_before <= last_gone else empty_window())
        since = max(first, (pd.Timestamp(till_before) + pd.Timedelta(days=1)).date())
    new = _day_bits(added, since, till)
    if new is None or gone is None:
        return None
    moved = window.copy()
    keep = (np.int64(1) << np.int64(length)) - 1
    for col in ("skoldag_bitar", "hel_bitar"):
        moved[col] = (moved[col].to_numpy(dtype=np.int64) << np.int64(shift)) & keep
    parts = [moved, new]
    if len(gone):
        parts.append(gone.assign(**{c: -gone[c].to_numpy(dtype=np.int64) for c in SUMS},
                                 skoldag_bitar=0, hel_bitar=0))
    out = _summed(parts)
    return out[out["skoldagar"].to_numpy() > 0].reset_index(drop=True)[WINDOW_COLUMNS]


def _longest_run(school: np.ndarray, full: np.ndarray, length: int) -> np.ndarray:
    """The longest run of full-day absence over a pupil's own school days, oldest first."""
    run = np.zeros(len(school), dtype=np.int64)
    best = np.zeros(len(school), dtype=np.int64)
    for i in range(length - 1, -1, -1):
        on = ((school >> i) & 1).astype(bool)
        hel = ((full >> i) & 1).astype(bool)
        run = np.where(on, np.where(hel, run + 1, 0), run)
        np.maximum(best, run, out=best)
    return best


def metrics_from_window(window: pd.DataFrame, length: int) -> pd.DataFrame:
    """The pupil_metrics columns of a window (the same as `pupil_metrics` over its days)."""
    state = window[KEY + list(SUMS)].copy()
    state["langsta_sammanhangande_dagar"] = _longest_run(
        window["skoldag_bitar"].to_numpy(dtype=np.int64),
        window["hel_bitar"].to_numpy(dtype=np.int64), length)
    return metrics_from_state(state)
