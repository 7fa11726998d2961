"""Daily attendance for pupils in the municipality's own schools, the planted absence
patterns, the case register, and the absence truth recomputed from the accepted rows.

Everything is a pupil-placement x school-day matrix, so Stockholm's ~15 M rows cost a few
numpy operations per day rather than a Python loop per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .schools import Schools

OWN_FORMS = ("FK", "GR", "GRAN")
LEVELS = {"uppmarksamma": 0.12, "oroande": 0.17, "hog": 0.26}


@dataclass
class Attendance:
    days: list[date]
    roll: pd.DataFrame  # one row per placement on the roll: pnr, skolenhetskod, start, end
    sched: np.ndarray  # (entries, days) scheduled minutes, -1 = no row that day
    valid: np.ndarray
    invalid: np.ndarray
    accepted: np.ndarray  # False where a planted invalid row replaces the real one
    planted: dict[str, set[str]] = field(default_factory=dict)


def build(rng, sch: Schools, days: list[date], as_of: date, term_start: date,
          protected_pupil: str, avoid: set[str]) -> Attendance:
    pl = sch.placements
    roll = pl[(pl.huvudman == "kommunal") & pl.skolform.isin(OWN_FORMS)].reset_index(drop=True)
    day_arr = np.array(days, dtype="datetime64[D]")
    start = roll.startdatum.to_numpy().astype("datetime64[D]")
    end = roll.slutdatum.fillna(pd.Timestamp("2262-01-01")).to_numpy().astype("datetime64[D]")
    active = (start[:, None] <= day_arr[None, :]) & (end[:, None] >= day_arr[None, :])
    ne, nd = active.shape

    ak = roll.arskurs.to_numpy()
    base = np.select([ak == 0, ak <= 3, ak <= 6], [300, 330, 360], 390)
    base = np.where(roll.skolform.to_numpy() == "GRAN", 300, base)
    friday = np.array([d.weekday() == 4 for d in days])
    sched = base[:, None] - 30 * friday[None, :] + np.zeros((1, nd), dtype=np.int64)
    # A study day per school and term (no lessons), and a few individual zero days.
    for code in roll.skolenhetskod.unique():
        if nd:
            sched[(roll.skolenhetskod == code).to_numpy(), int(rng.integers(0, nd))] = 0
    sched[rng.random((ne, nd), dtype=np.float32) < 0.001] = 0

    rate = rng.beta(1.1, 22, ne).astype(np.float32)
    inv_share = rng.beta(0.6, 6, ne).astype(np.float32)
    u = rng.random((ne, nd), dtype=np.float32)
    full = u < rate[:, None] * 0.45
    partial = (~full) & (u < rate[:, None] * 1.45)
    part_min = (rng.random((ne, nd), dtype=np.float32) * 0.6 * sched + 15).astype(np.int64)
    part_min = np.minimum(part_min // 5 * 5, sched)
    absent = np.where(full, sched, np.where(partial, part_min, 0))
    is_inv = rng.random((ne, nd), dtype=np.float32) < inv_share[:, None]
    late = (rng.random((ne, nd), dtype=np.float32) < 0.01) & (absent == 0)
    invalid = np.where(is_inv, absent, 0) + np.where(late, 10, 0)
    invalid = np.minimum(invalid, sched)
    valid = absent - np.where(is_inv, absent, 0)

    planted = _plant(rng, roll, days, as_of, term_start, sched, valid, invalid, rate,
                     protected_pupil, avoid)
    sched = np.where(active, sched, -1)
    valid = np.where(active, valid, 0)
    invalid = np.where(active, invalid, 0)
    accepted = np.ones_like(active)
    return Attendance(days, roll, sched, valid, invalid, accepted, planted)


def _plant(rng, roll, days, as_of, term_start, sched, valid, invalid, rate, protected_pupil,
           avoid):
    """Overwrite a few pupils' rows with clear-cut patterns; returns role -> pnrs."""
    planted: dict[str, set[str]] = {}
    pnrs = roll.pnr.to_numpy()
    whole = (roll.startdatum <= pd.Timestamp(days[0])).to_numpy() & roll.slutdatum.isna().to_numpy()
    free = whole & ~roll.pnr.isin(avoid).to_numpy() & (rate < 0.03)

    def take(role: str, k: int = 1, mask: np.ndarray | None = None) -> np.ndarray:
        cand = np.flatnonzero(free if mask is None else mask & free)
        chosen = np.sort(rng.choice(cand, min(k, len(cand)), replace=False))
        free[chosen] = False
        planted[role] = set(pnrs[chosen])
        return chosen

    def clear(rows):
        valid[rows] = 0
        invalid[rows] = 0
        sched[rows] = np.maximum(sched[rows], 300)

    scale = max(1, len(roll) // 2000)
    for level, t in LEVELS.items():
        rows = take(level, scale)
        clear(rows)
        valid[rows] = np.round(sched[rows] * t).astype(np.int64)
    pp = np.flatnonzero(pnrs == protected_pupil)
    clear(pp)
    valid[pp] = np.round(sched[pp] * LEVELS["hog"]).astype(np.int64)
    planted["hog"] |= set(pnrs[pp])
    planted["skyddad_hog"] = set(pnrs[pp])
    rows = take("ogiltig", scale)
    clear(rows)
    invalid[rows] = np.round(sched[rows] * 0.06).astype(np.int64)
    # A changed-school pupil with enough absence to be on both schools' lists.
    changers = np.flatnonzero(roll.pnr.isin(roll.pnr[roll.slutdatum.notna()
                                                     & roll.pnr.duplicated(keep=False)]))
    valid[changers] = np.round(sched[changers] * LEVELS["uppmarksamma"]).astype(np.int64)
    invalid[changers] = 0
    planted["bytt_skola_franvaro"] = set(pnrs[changers])

    recent = [i for i, d in enumerate(days) if d >= as_of - timedelta(days=27)]
    earlier = [i for i, d in enumerate(days) if term_start <= d < as_of - timedelta(days=35)]
    for role, weekday, span, n_days, kind in (
        ("run_over_helg", 3, 6, 5, "invalid"),  # Thu..Wed: the weekend neither breaks nor adds
        ("run_vecka", 0, 4, 5, "valid"),  # Mon..Fri early in the term
        ("run_4_dagar", 0, 3, 4, "valid"),  # one day short of a run
    ):
        pool = recent if role == "run_over_helg" else earlier
        starts = [i for i in pool if i + n_days - 1 < len(days) and days[i].weekday() == weekday
                  and (days[i + n_days - 1] - days[i]).days == span]
        if not starts:
            continue
        rows = take(role, 1)
        i0 = starts[0] if role != "run_over_helg" else starts[-1]
        clear(rows)
        cols = np.arange(i0, i0 + n_days)
        for r in rows:
            target = invalid if kind == "invalid" else valid
            target[r, cols] = sched[r, cols]
    return planted


def plant_invalid_rows(rng, att: Attendance) -> dict[int, list[tuple[int, str]]]:
    """Per day index, (entry, reason) rows to corrupt or duplicate, on pupils without any
    absence; marks the corrupted cells not accepted."""
    nd = len(att.days)
    if nd == 0:
        return {}
    no_absence = (att.valid.sum(axis=1) == 0) & (att.invalid.sum(axis=1) == 0)
    day_ix = sorted({nd - 1, nd // 2, 0})
    plan: dict[int, list[tuple[int, str]]] = {}
    taken: set[int] = set()
    for j, reason in enumerate(("ogiltigt_personnummer", "saknat_varde", "orimligt_varde",
                                "dubblett")):
        d = day_ix[j % len(day_ix)]
        on = att.sched[:, d] > 0
        cand = [e for e in np.flatnonzero(on & no_absence) if e not in taken]
        cand = cand or [e for e in np.flatnonzero(on) if e not in taken]
        if not cand:
            continue
        e = int(rng.choice(cand))
        taken.add(e)
        if reason != "dubblett":
            att.accepted[e, d] = False
        plan.setdefault(d, []).append((e, reason))
    return plan


def truth(att: Attendance, window_start: date, window_end: date):
    """Levels per (pnr, skolenhetskod) in a window, and the pupils with invalid >= 5 %."""
    cols = np.array([window_start <= d <= window_end for d in att.days])
    s = np.where(att.accepted & (att.sched > 0) & cols[None, :], att.sched, 0)
    mask = s > 0
    absent = np.where(mask, att.valid + att.invalid, 0)
    inv = np.where(mask, att.invalid, 0)
    tot_s, tot_a, tot_i = s.sum(1), absent.sum(1), inv.sum(1)
    run = np.zeros(len(s), dtype=np.int64)
    best = np.zeros(len(s), dtype=np.int64)
    for d in np.flatnonzero(cols):
        m = mask[:, d]
        full = absent[:, d] >= s[:, d]
        run = np.where(m, np.where(full, run + 1, 0), run)
        best = np.maximum(best, run)
    levels: dict[tuple[str, str], str] = {}
    ogiltig: set[tuple[str, str]] = set()
    keys = list(zip(att.roll.pnr, att.roll.skolenhetskod, strict=True))
    grouped: dict[tuple[str, str], list[int]] = {}
    for i, k in enumerate(keys):
        grouped.setdefault(k, []).append(i)
    for k, idx in grouped.items():
        ts, ta, ti, br = tot_s[idx].sum(), tot_a[idx].sum(), tot_i[idx].sum(), best[idx].max()
        if ts == 0:
            continue
        if 100 * ta >= 20 * ts or br >= 5:
            levels[k] = "hog"
        elif 100 * ta >= 15 * ts:
            levels[k] = "oroande"
        elif 100 * ta >= 10 * ts:
            levels[k] = "uppmarksamma"
        if 100 * ti >= 5 * ts:
            ogiltig.add(k)
    return levels, ogiltig


def cases(rng, hog: set[str], others: list[str], protected_pupil: str, as_of: date,
          scale: int) -> pd.DataFrame:
    """Case register: most high-absence pupils have a case; a few cases reach step 5."""
    hog_sorted = sorted(hog - {protected_pupil})
    with_case = [p for p in hog_sorted if rng.random() < 0.6]
    rows = [(p, int(rng.integers(1, 5))) for p in with_case]
    for i in range(min(len(rows), scale)):
        rows[i] = (rows[i][0], 5)
    extra = sorted(set(others) - hog)
    for p in extra[: 3 * scale]:
        rows.append((p, int(rng.integers(1, 3))))
    if extra[3 * scale:]:
        rows.append((extra[3 * scale], 5))
    df = pd.DataFrame(rows, columns=["pnr", "steg"])
    df["datum"] = [as_of - timedelta(days=int(d)) for d in rng.integers(1, 60, len(df))]
    return df
