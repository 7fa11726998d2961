"""Case ids and case history: which cases are new, which remain, which were closed.

A case id is an HMAC of the pseudonym and the case key (see `ListSpec`), so the same
child on the same list for the same reason gets the same id in every delivery, and the id
says nothing without the pseudonym key.

The history (`state/arenden.parquet`) is pseudonymous and holds one row per case episode:
list, case id, person id, case key label (`nyckel`: kind and the case key's other values,
no person), first_seen, last_seen, closed_on (NaT while open). A case already in the history
keeps its recorded id: after the pseudonym key is rotated (person ids re-keyed, the id's
HMAC key new) the same case is found by list, person and label and keeps its `arende_id`.
A case is in every delivery of its list from first_seen to last_seen (an absence closes it; a later
return opens a new episode), so the cases delivered on any earlier date can be rebuilt
from the history alone. Statuses are always computed against the latest delivery STRICTLY
BEFORE the reference date, which makes a re-run of the same date give the same statuses
and lets `update_history` first undo what an earlier run of that date recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skyddsnat.arrow_strings import isin
from skyddsnat.lists.catalog import ListSpec
from skyddsnat.privacy.pseudonym import case_id
from skyddsnat.privacy.storage import write_parquet

HISTORY_COLUMNS = ["lista", "arende_id", "person_id", "nyckel", "first_seen", "last_seen",
                   "closed_on"]
CLOSED_COLUMNS = ["arende_id", "person_id", "forst_sedd", "avslutad", "dagar_oppet"]


class CaseProblem(ValueError):
    """The rows of a list do not make distinct cases (names the rule, never a value)."""


def empty_history() -> pd.DataFrame:
    return pd.DataFrame({
        "lista": pd.Series(dtype="string"), "arende_id": pd.Series(dtype="string"),
        "person_id": pd.Series(dtype="string"), "nyckel": pd.Series(dtype="string"),
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
    return _with_ids(rows, [spec], np.zeros(len(rows), dtype=np.intp), key)


def _with_ids(rows: pd.DataFrame, specs: list[ListSpec], lists: np.ndarray,
              key: bytes, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Case ids for the rows of several lists of one kind at once (`lists`: spec positions).

    The lists share the case key, so one pass hashes each distinct key once for all of them.
    A case the history knows (same list, person and label) keeps its recorded id. The
    """
    spec = specs[0]
    key_cols = list(spec.case_key())
    missing = [c for c in key_cols if c not in rows.columns]
    if missing:
        raise CaseProblem(f"listan {spec.name} saknar ärendenyckelns kolumner {missing}")
    subject = rows[spec.subject].astype("string")
    if subject.isna().any():
        raise CaseProblem(f"listan {specs[lists[subject.isna().to_numpy()][0]].name} har "
                          f"rader utan {spec.subject}")
    label = _labels(rows, spec)
    codes, uniques = pd.factorize(subject + "\x1f" + label)
    ids = pd.array([case_id(key, *u.split("\x1f", 1)) for u in uniques], dtype="string")
    ids = ids[codes] if len(ids) else pd.array([], dtype="string")
    if history is not None and len(history) and len(rows):
        names = np.asarray([s.name for s in specs], dtype=object)[lists]
        wanted = pd.Series(names, index=rows.index, dtype="string") + "\x1f" + subject \
            + "\x1f" + label
        h = history.dropna(subset=["nyckel"])
        recorded = (h["lista"] + "\x1f" + h["person_id"] + "\x1f" + h["nyckel"])
        known = pd.Series(h["arende_id"].to_numpy(), index=recorded.to_numpy())
        known = known[~known.index.duplicated(keep="last")]
        found = wanted.map(known)
        ids = pd.array(found.fillna(pd.Series(ids, index=rows.index)).to_numpy(),
                       dtype="string")
    out = rows.copy()
    out.insert(0, "arende_id", ids)
    twice = pd.DataFrame({"l": lists, "id": out["arende_id"].to_numpy()}).duplicated().to_numpy()
    if twice.any():
        raise CaseProblem(f"listan {specs[lists[twice][0]].name} har flera rader för samma "
                          "ärende")
    return out


def _labels(rows: pd.DataFrame, spec: ListSpec) -> pd.Series:
    """The case key less its subject: kind, then the other key columns' values."""
    label = pd.Series(spec.kind, index=rows.index, dtype="string")
    for c in (c for c in spec.case_key() if c != spec.subject):
        label = label + "|" + rows[c].astype("string").fillna("")
    return label


def previous_delivery(history: pd.DataFrame, list_name: str, as_of) -> pd.Timestamp | None:
    """The latest date recorded for the list strictly before `as_of` (None if none).

    Every delivery that listed or closed a case leaves its date in the history; a delivery
    that did neither had the same (empty) set of cases as this date stands for.
    """
    prev = _list_dates(history[history["lista"] == list_name], _day(as_of))[1]
    return prev.get(list_name)


def _list_dates(h: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Per list: the latest recorded date, and the latest one strictly before `as_of`."""
    dates = pd.concat([h[["lista", c]].set_axis(["lista", "d"], axis=1)
                       for c in ("first_seen", "last_seen", "closed_on")]).dropna()
    latest = dates.groupby("lista", sort=False)["d"].max()
    prev = dates[dates["d"] < as_of].groupby("lista", sort=False)["d"].max()
    return latest, prev


def _pairs(lista: pd.Series, arende_id: pd.Series) -> pd.Series:
    return lista.astype("string") + "\x1f" + arende_id.astype("string")


def _open_before(h: pd.DataFrame, prev: pd.Series) -> pd.DataFrame:
    """The episodes of `h` delivered on their list's previous delivery date."""
    day = h["lista"].map(prev).astype("datetime64[ns]")
    return h[(h["first_seen"] <= day) & (h["last_seen"] >= day)]


def status_against_previous(history: pd.DataFrame, list_name: str, case_ids: pd.Series,
                            as_of) -> tuple[pd.Series, pd.DataFrame]:
    """Statuses ("ny"/"kvarstar") aligned with `case_ids`, and the cases that were closed.

    Closed ("avslutade") are the cases of the previous delivery that are not in this one,
    with `dagar_oppet` = days from first listed to this reference date.
    """
    as_of = _day(as_of)
    h = history[history["lista"] == list_name]
    before = _open_before(h, _list_dates(h, as_of)[1])
    lista = pd.Series(list_name, index=case_ids.index, dtype="string")
    status, closed = _statuses(before, _pairs(lista, case_ids), as_of)
    return status, closed.drop(columns="lista").sort_values("arende_id", ignore_index=True)


def _statuses(before: pd.DataFrame, current: pd.Series, as_of: pd.Timestamp
              ) -> tuple[pd.Series, pd.DataFrame]:
    """ny/kvarstar for the `current` (list, case) pairs; the `before` cases not current."""
    known = isin(current, _pairs(before["lista"], before["arende_id"])).to_numpy()
    status = pd.Series(pd.array(np.where(known, "kvarstar", "ny"), dtype="string"),
                       index=current.index)
    gone = before[~isin(_pairs(before["lista"], before["arende_id"]), current).to_numpy()]
    closed = pd.DataFrame({
        "lista": gone["lista"].astype("string").to_numpy(),
        "arende_id": gone["arende_id"].astype("string").to_numpy(),
        "person_id": gone["person_id"].astype("string").to_numpy(),
        "forst_sedd": gone["first_seen"].to_numpy(),
        "avslutad": pd.Series(as_of, index=gone.index, dtype="datetime64[ns]").to_numpy(),
        "dagar_oppet": (as_of - gone["first_seen"]).dt.days.astype("Int64").to_numpy()})
    return status, closed


def update_history(history: pd.DataFrame, list_name: str, cases: pd.DataFrame,
                   as_of) -> pd.DataFrame:
    """Record the delivery of `cases` (arende_id, person_id) for `list_name` on `as_of`.

    Idempotent: what an earlier run of the same date recorded is undone first. A date
    earlier than the list's latest recorded date (an old backfill) leaves history as is:
    later deliveries already built on it.
    """
    cols = ["arende_id", "person_id", *(["nyckel"] if "nyckel" in cases.columns else [])]
    current = cases[cols].astype("string").assign(lista=list_name)
    return _update(_typed(history), [list_name], current, _day(as_of))


def _update(history: pd.DataFrame, names: list[str], current: pd.DataFrame,
            as_of: pd.Timestamp) -> pd.DataFrame:
    """`update_history` for several lists at once; `current`: lista, arende_id, person_id."""
    mine = history["lista"].isin(names).to_numpy()
    h = history[mine]
    latest, prev = _list_dates(h, as_of)
    backfill = set(latest.index[latest > as_of])
    if backfill >= set(names):
        return history
    kept = history[~mine | history["lista"].isin(backfill).to_numpy()]
    h = h[~h["lista"].isin(backfill).to_numpy()]
    current = current[~current["lista"].isin(backfill).to_numpy()]
    # Undo a run of this same date: drop episodes it opened, reopen those it closed,
    # and pull last_seen back to the previous delivery (episodes are contiguous).
    h = h[h["first_seen"] < as_of].copy()
    day = h["lista"].map(prev).astype("datetime64[ns]")
    h.loc[h["closed_on"] >= as_of, "closed_on"] = pd.NaT
    later = h["last_seen"] >= as_of
    h.loc[later, "last_seen"] = day[later]
    open_prev = h["closed_on"].isna() & (h["last_seen"] == day)
    current = current.drop_duplicates(["lista", "arende_id"])
    now = _pairs(current["lista"], current["arende_id"])
    still = open_prev & isin(_pairs(h["lista"], h["arende_id"]), now)
    h.loc[still, "last_seen"] = as_of
    h.loc[open_prev & ~still, "closed_on"] = as_of
    if "nyckel" in current.columns:  # histories written before labels were kept
        unlabelled = still & h["nyckel"].isna()
        label = pd.Series(current["nyckel"].to_numpy(), index=now.to_numpy())
        h.loc[unlabelled, "nyckel"] = _pairs(h.loc[unlabelled, "lista"],
                                             h.loc[unlabelled, "arende_id"]).map(label)
    continuing = _pairs(h.loc[still, "lista"], h.loc[still, "arende_id"])
    new = current[~isin(now, continuing).to_numpy()]
    opened = pd.DataFrame({"lista": new["lista"].to_numpy(),
                           "arende_id": new["arende_id"].to_numpy(),
                           "person_id": new["person_id"].to_numpy(),
                           "nyckel": (new["nyckel"].to_numpy() if "nyckel" in new.columns
                                      else pd.NA), "first_seen": as_of,
                           "last_seen": as_of, "closed_on": pd.NaT})
    parts = [p for p in (kept, h, _typed(opened)) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else empty_history()
    return _typed(out).sort_values(["lista", "arende_id", "first_seen"], ignore_index=True)


def track_cases(history: pd.DataFrame, spec: ListSpec, rows: pd.DataFrame, key: bytes,
                as_of) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Case ids and statuses for one list delivery, the closed cases, and the new history.

    Returns (rows with arende_id first and status last, avslutade, history). Protected
    persons are tracked like everyone else; the split into sealed lists comes after.
    """
    t = track_lists(history, [spec], rows, np.zeros(len(rows), dtype=np.intp), key, as_of)
    return t.rows, t.closed[0], t.history


@dataclass
class Tracked:
    """Case tracking of several lists: their rows (concatenated), closed cases per list."""

    rows: pd.DataFrame  # arende_id first, status last; row i belongs to specs[lists[i]]
    lists: np.ndarray
    closed: list[pd.DataFrame]  # per spec, sorted by arende_id
    history: pd.DataFrame


def track_lists(history: pd.DataFrame, specs: list[ListSpec], rows: pd.DataFrame,
                lists: np.ndarray, key: bytes, as_of) -> Tracked:
    """`track_cases` for many lists of one kind in one pass (one per school is hundreds).

    `rows` are the lists' rows concatenated; `lists[i]` is the position in `specs` of
    row i's list. The result is what tracking each list on its own would give.
    """
    as_of = _day(as_of)
    history = _typed(history)
    names = [s.name for s in specs]
    with_ids = _with_ids(rows, specs, np.asarray(lists), key,
                         history[history["lista"].isin(names).to_numpy()])
    lista = pd.Series(np.asarray(names, dtype=object)[lists], index=rows.index,
                      dtype="string")
    h = history[history["lista"].isin(names).to_numpy()]
    before = _open_before(h, _list_dates(h, as_of)[1])
    status, closed = _statuses(before, _pairs(lista, with_ids["arende_id"]), as_of)
    with_ids["status"] = status
    pos = closed["lista"].map({n: i for i, n in enumerate(names)}).to_numpy()
    order = np.lexsort((closed["arende_id"].to_numpy(dtype=object), pos))
    closed = closed.drop(columns="lista").take(order)
    bounds = np.searchsorted(pos[order], np.arange(len(specs) + 1))
    closed_parts = [closed.iloc[bounds[i]:bounds[i + 1]].reset_index(drop=True)
                    for i in range(len(specs))]
    current = pd.DataFrame({"lista": lista, "arende_id": with_ids["arende_id"],
                            "person_id": with_ids[specs[0].subject].astype("string"),
                            "nyckel": _labels(rows, specs[0])})
    return Tracked(with_ids, np.asarray(lists), closed_parts,
                   _update(history, names, current, as_of))


def _day(value) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reindex(columns=HISTORY_COLUMNS).copy()
    for c in ("lista", "arende_id", "person_id", "nyckel"):
        out[c] = out[c].astype("string")
    for c in ("first_seen", "last_seen", "closed_on"):
        if out[c].dtype != "datetime64[ns]":  # converting a typed column again is slow
            out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    return out
