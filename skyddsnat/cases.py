"""Case ids and case history: which cases are new, which remain, which were closed.

A case id is an HMAC of the pseudonym and the case key (see `ListSpec`), so the same
child on the same list for the same reason gets the same id in every delivery, and the id
says nothing without the pseudonym key.

The history (`state/arenden.parquet`) is pseudonymous and holds one row per case episode:
list, case id, person id, first_seen, last_seen, closed_on (NaT while open). A case is in
every delivery of its list from first_seen to last_seen (an absence closes it; a later
return opens a new episode), so the cases delivered on any earlier date can be rebuilt
from the history alone. Statuses are always computed against the latest delivery STRICTLY
BEFORE the reference date, which makes a re-run of the same date give the same statuses
and lets `update_history` first undo what an earlier run of that date recorded.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skyddsnat.excel import ListSpec
from skyddsnat.pseudonym import case_id
from skyddsnat.storage import write_parquet

HISTORY_COLUMNS = ["lista", "arende_id", "person_id", "first_seen", "last_seen", "closed_on"]
CLOSED_COLUMNS = ["arende_id", "person_id", "forst_sedd", "avslutad", "dagar_oppet"]


class CaseProblem(ValueError):
    """The rows of a list do not make distinct cases (names the rule, never a value)."""


def empty_history() -> pd.DataFrame:
    return pd.DataFrame({
        "lista": pd.Series(dtype="string"), "arende_id": pd.Series(dtype="string"),
        "person_id": pd.Series(dtype="string"),
        "first_seen": pd.Series(dtype="datetime64[ns]"),
        "last_seen": pd.Series(dtype="datetime64[ns]"),
        "closed_on": pd.Series(dtype="datetime64[ns]")})


def load_history(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        return empty_history()
    return _typed(pd.read_parquet(path))


def save_history(path: Path | str, history: pd.DataFrame) -> None:
    """Write atomically, so a killed run leaves the previous history."""
    write_parquet(_typed(history), Path(path))


def assign_case_ids(rows: pd.DataFrame, spec: ListSpec, key: bytes) -> pd.DataFrame:
    """Return `rows` with `arende_id` as the first column; the id is stable per case key.

    `key` is the pseudonym key. Each distinct case key is hashed once.
    """
    key_cols = list(spec.case_key())
    missing = [c for c in key_cols if c not in rows.columns]
    if missing:
        raise CaseProblem(f"listan {spec.name} saknar ärendenyckelns kolumner {missing}")
    subject = rows[spec.subject].astype("string")
    if subject.isna().any():
        raise CaseProblem(f"listan {spec.name} har rader utan {spec.subject}")
    rest = [c for c in key_cols if c != spec.subject]
    label = pd.Series(spec.kind, index=rows.index, dtype="string")
    for c in rest:
        label = label + "|" + rows[c].astype("string").fillna("")
    codes, uniques = pd.factorize(subject + "\x1f" + label)
    ids = [case_id(key, *u.split("\x1f", 1)) for u in uniques]
    out = rows.copy()
    out.insert(0, "arende_id", pd.array(ids, dtype="string")[codes] if len(ids) else
               pd.array([], dtype="string"))
    if out["arende_id"].duplicated().any():
        raise CaseProblem(f"listan {spec.name} har flera rader för samma ärende")
    return out


def previous_delivery(history: pd.DataFrame, list_name: str, as_of) -> pd.Timestamp | None:
    """The latest date recorded for the list strictly before `as_of` (None if none).

    Every delivery that listed or closed a case leaves its date in the history; a delivery
    that did neither had the same (empty) set of cases as this date stands for.
    """
    h = history[history["lista"] == list_name]
    as_of = _day(as_of)
    dates = pd.concat([h["first_seen"], h["last_seen"], h["closed_on"]]).dropna()
    earlier = dates[dates < as_of]
    return None if earlier.empty else earlier.max()


def _open_at(history: pd.DataFrame, list_name: str, day: pd.Timestamp | None) -> pd.DataFrame:
    if day is None:
        return history.iloc[0:0]
    h = history[history["lista"] == list_name]
    return h[(h["first_seen"] <= day) & (h["last_seen"] >= day)]


def status_against_previous(history: pd.DataFrame, list_name: str, case_ids: pd.Series,
                            as_of) -> tuple[pd.Series, pd.DataFrame]:
    """Statuses ("ny"/"kvarstar") aligned with `case_ids`, and the cases that were closed.

    Closed ("avslutade") are the cases of the previous delivery that are not in this one,
    with `dagar_oppet` = days from first listed to this reference date.
    """
    as_of = _day(as_of)
    before = _open_at(history, list_name, previous_delivery(history, list_name, as_of))
    status = pd.Series(pd.array(["ny"] * len(case_ids), dtype="string"), index=case_ids.index)
    status[case_ids.isin(before["arende_id"]).to_numpy()] = "kvarstar"
    gone = before[~before["arende_id"].isin(case_ids)]
    closed = pd.DataFrame({
        "arende_id": gone["arende_id"].astype("string").to_numpy(),
        "person_id": gone["person_id"].astype("string").to_numpy(),
        "forst_sedd": gone["first_seen"].to_numpy(),
        "avslutad": pd.Series(as_of, index=gone.index, dtype="datetime64[ns]").to_numpy(),
        "dagar_oppet": (as_of - gone["first_seen"]).dt.days.astype("Int64").to_numpy()})
    return status, closed.sort_values("arende_id", ignore_index=True)


def update_history(history: pd.DataFrame, list_name: str, cases: pd.DataFrame,
                   as_of) -> pd.DataFrame:
    """Record the delivery of `cases` (arende_id, person_id) for `list_name` on `as_of`.

    Idempotent: what an earlier run of the same date recorded is undone first. A date
    earlier than the list's latest recorded date (an old backfill) leaves history as is:
    later deliveries already built on it.
    """
    history = _typed(history)
    as_of = _day(as_of)
    mine = history["lista"] == list_name
    h = history[mine].copy()
    others = history[~mine]
    latest = pd.concat([h["first_seen"], h["last_seen"], h["closed_on"]]).max()
    if pd.notna(latest) and as_of < latest:
        return history
    prev = previous_delivery(history, list_name, as_of)
    # Undo a run of this same date: drop episodes it opened, reopen those it closed,
    # and pull last_seen back to the previous delivery (episodes are contiguous).
    h = h[h["first_seen"] < as_of]
    h.loc[h["closed_on"] >= as_of, "closed_on"] = pd.NaT
    h.loc[h["last_seen"] >= as_of, "last_seen"] = prev
    open_prev = (h["closed_on"].isna()) & (h["last_seen"] == prev) if prev is not None else \
        pd.Series(False, index=h.index)
    current = cases[["arende_id", "person_id"]].astype("string").drop_duplicates("arende_id")
    still = open_prev & h["arende_id"].isin(current["arende_id"])
    h.loc[still, "last_seen"] = as_of
    h.loc[open_prev & ~still, "closed_on"] = as_of
    continuing = h.loc[still, "arende_id"]
    new = current[~current["arende_id"].isin(continuing)]
    opened = pd.DataFrame({"lista": list_name, "arende_id": new["arende_id"].to_numpy(),
                           "person_id": new["person_id"].to_numpy(), "first_seen": as_of,
                           "last_seen": as_of, "closed_on": pd.NaT})
    parts = [p for p in (others, h, _typed(opened)) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else empty_history()
    return _typed(out).sort_values(["lista", "arende_id", "first_seen"], ignore_index=True)


def track_cases(history: pd.DataFrame, spec: ListSpec, rows: pd.DataFrame, key: bytes,
                as_of) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Case ids and statuses for one list delivery, the closed cases, and the new history.

    Returns (rows with arende_id first and status last, avslutade, history). Protected
    persons are tracked like everyone else; the split into sealed lists comes after.
    """
    with_ids = assign_case_ids(rows, spec, key)
    status, closed = status_against_previous(history, spec.name, with_ids["arende_id"], as_of)
    with_ids["status"] = status
    cases = pd.DataFrame({"arende_id": with_ids["arende_id"],
                          "person_id": with_ids[spec.subject].astype("string")})
    return with_ids, closed, update_history(history, spec.name, cases, as_of)


def _day(value) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reindex(columns=HISTORY_COLUMNS).copy()
    for c in ("lista", "arende_id", "person_id"):
        out[c] = out[c].astype("string")
    for c in ("first_seen", "last_seen", "closed_on"):
        if out[c].dtype != "datetime64[ns]":  # converting a typed column again is slow
            out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    return out
