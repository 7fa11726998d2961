"""Childcare fee billing (avgifter), taxed incomes (inkomster) and the planted income-check
anomalies, with a minimal private maxtaxa helper for the months written.

The real rule lives in `skyddsnat.rules.maxtaxa`; this copy only needs to bill the synthetic
months and to recompute the truth the income check must reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from .people import People

_CEILING = {2022: 52_410, 2023: 54_830, 2024: 56_250, 2025: 58_500, 2026: 59_110}
_PCT = {"forskola": (3, 2, 1), "pedagogisk_omsorg": (3, 2, 1), "fritidshem": (2, 1, 1)}
_CAPS_2026_07 = {"forskola": (1547, 1031, 516), "pedagogisk_omsorg": (1547, 1031, 516),
                 "fritidshem": (1031, 516, 516)}
TOLERANCE = 600


def month_rules(month: date) -> tuple[int, int, bool]:
    """(deduction, ceiling, new caps?) for a billing month."""
    if (month.year, month.month) >= (2026, 7):
        return 10_000, 51_560, True
    return 0, _CEILING.get(month.year, _CEILING[2022 if month.year < 2022 else 2026]), False


def _pct_cap(verksamhet: np.ndarray, rank: np.ndarray, new_caps: bool, ceiling: int):
    pct = np.zeros(len(rank), dtype=np.int64)
    cap = np.zeros(len(rank), dtype=np.int64)
    for v, pcts in _PCT.items():
        for r in (1, 2, 3):
            m = (verksamhet == v) & (rank == r)
            pct[m] = pcts[r - 1]
            cap[m] = _CAPS_2026_07[v][r - 1] if new_caps else (pcts[r - 1] * ceiling + 50) // 100
    return pct, cap


def fee(month: date, verksamhet: np.ndarray, rank: np.ndarray, income: np.ndarray) -> np.ndarray:
    """Monthly fee from a reported monthly income (NaN = not reported: the maximum fee)."""
    ded, ceiling, new_caps = month_rules(month)
    pct, cap = _pct_cap(verksamhet, rank, new_caps, ceiling)
    inc = np.where(np.isnan(income), 10**9, np.nan_to_num(income)).astype(np.int64)
    base = np.minimum(np.maximum(0, inc - ded), ceiling)
    return np.minimum((pct * base + 50) // 100, cap)


def fee_from_annual(month: date, verksamhet, rank, annual: np.ndarray) -> np.ndarray:
    """The same rule with monthly income = annual / 12, computed exactly in integers."""
    ded, ceiling, new_caps = month_rules(month)
    pct, cap = _pct_cap(verksamhet, rank, new_caps, ceiling)
    base12 = np.minimum(np.maximum(0, annual.astype(np.int64) - 12 * ded), 12 * ceiling)
    return np.minimum((pct * base12 + 600) // 1200, cap)


@dataclass
class Fees:
    billing: pd.DataFrame  # avgifter rows (12-digit pnr)
    incomes: pd.DataFrame  # inkomster rows for the income year
    income_year: int
    planted: dict[str, set[str]] = field(default_factory=dict)  # kind -> hushall_id
    shared_copayer: dict[str, tuple[str, ...]] = field(default_factory=dict)
    child_in_two: dict[str, tuple[str, ...]] = field(default_factory=dict)


def billing_months(as_of: date) -> list[date]:
    months = [date(as_of.year - 1, m, 1) for m in range(1, 13)]
    return months + [date(as_of.year, m, 1) for m in range(1, as_of.month)]


def build(rng, people: People, as_of: date, median_income: int) -> Fees:
    p, fam = people.persons, people.families
    months = billing_months(as_of)
    year = as_of.year - 1
    kids = p[p.is_child & fam.resident.to_numpy()[p.family.to_numpy()]]
    birth = kids.fodelsedatum.to_numpy().astype("datetime64[D]")
    by = kids.fodelsedatum.dt.year.to_numpy()
    care_u = rng.random(len(kids))
    fritids_u = rng.random(len(kids))
    anchor = people.anchors["protected_fee_child"]
    care_u[kids.index.get_indexer([anchor])] = 0.0
    rows = []
    for m in months:
        lasar = m.year if m.month >= 8 else m.year - 1
        klass = lasar - by - 6
        one = birth <= np.datetime64(m, "D") - np.timedelta64(365, "D")
        pre = (klass < 0) & one & (care_u < 0.90)
        fri = (klass >= 0) & (klass <= 6) & (fritids_u < np.where(klass <= 3, 0.85, 0.45))
        verks = np.where(pre, np.where(care_u < 0.86, "forskola", "pedagogisk_omsorg"),
                         "fritidshem")
        sel = pre | fri
        rows.append(pd.DataFrame({"month": m, "child": kids.index[sel],
                                  "family": kids.family.to_numpy()[sel], "verksamhet": verks[sel]}))
    bill = pd.concat(rows, ignore_index=True)
    families = np.sort(bill.family.unique())
    ids = rng.permutation(len(families)) + 10_001
    hh_of = dict(zip(families, [f"H{i:06d}" for i in ids], strict=True))

    # Payer, co-payer and their taxed incomes.
    g1 = fam.g1.to_numpy()[families]
    g2 = fam.g2.to_numpy()[families]
    pnr = p.pnr.to_numpy()
    payer = pnr[g1]
    outs = people.outsiders.pnr.to_numpy()
    sambo = (g2 < 0) & (rng.random(len(families)) < 0.2)
    n_sambo = int(sambo.sum())
    co = np.where(g2 >= 0, pnr[np.maximum(g2, 0)], "").astype(object)
    spare = outs[:-20]  # the last 20 are reserved for invalid rows
    co[sambo] = spare[:n_sambo] if len(spare) >= n_sambo else ""
    hh = pd.DataFrame({"family": families, "hushall_id": [hh_of[f] for f in families],
                       "betalare": payer, "medbetalare": co})
    adults = pd.unique(np.concatenate([payer, co[co != ""]]))
    low = rng.random(len(adults)) < 0.08
    inc = np.where(low, rng.uniform(60_000, 200_000, len(adults)),
                   median_income * np.exp(rng.normal(0, 0.45, len(adults))))
    income = dict(zip(adults, (inc // 100 * 100).astype(np.int64), strict=True))
    hh_income = np.array([income[a] + (income[b] if b else 0)
                          for a, b in zip(hh.betalare, hh.medbetalare, strict=True)])
    hh["true_prev"] = hh_income
    noise = rng.uniform(-0.004, 0.004, len(hh))
    hh["rep_prev"] = np.round(hh_income / 12 * (1 + noise))
    hh["rep_cur"] = np.round(hh_income * 1.03 / 12 * (1 + noise))
    unreported = rng.random(len(hh)) < 0.03
    hh.loc[unreported, ["rep_prev", "rep_cur"]] = np.nan

    planted: dict[str, set[str]] = {}
    prev = bill[pd.to_datetime(bill.month).dt.year == year]
    full_year = prev[prev.verksamhet == "forskola"].groupby("family").month.nunique()
    steady = set(full_year.index[full_year == 12])
    fam_pos = {f: i for i, f in enumerate(families)}
    used = {fam_pos[p.family.iat[anchor]]} if p.family.iat[anchor] in fam_pos else set()
    used |= set(np.flatnonzero(unreported))

    def take(kind: str, cond, k: int = 1) -> list[int]:
        cand = [i for i in range(len(hh)) if i not in used and families[i] in steady and cond(i)]
        chosen = sorted(rng.choice(cand, min(k, len(cand)), replace=False).tolist())
        used.update(chosen)
        planted[kind] = {hh.hushall_id.iat[i] for i in chosen}
        return chosen

    scale = max(1, len(hh) // 3000)
    true_m = hh.true_prev.to_numpy() / 12
    # Under-reported: 60 % of the true income, and below the ceiling so it shows in the fee.
    for i in take("underrapporterad", lambda i: true_m[i] > 15_000, scale):
        hh.loc[i, "rep_prev"] = min(round(true_m[i] * 0.6), 35_000)
    if p.family.iat[anchor] in fam_pos:
        i = fam_pos[p.family.iat[anchor]]
        hh.loc[i, "rep_prev"] = min(round(true_m[i] * 0.6), 35_000)
        planted["skyddad_underrapporterad"] = {hh.hushall_id.iat[i]}
    for i in take("overrapporterad", lambda i: true_m[i] < 35_000, scale):
        hh.loc[i, "rep_prev"] = round(true_m[i] + 12_000)
    for i in take("inom_tolerans", lambda i: true_m[i] < 50_000, scale):
        hh.loc[i, "rep_prev"] = round(true_m[i] - 700)
    for i in take("oforandrad_inkomst", lambda i: true_m[i] > 30_000, scale):
        hh.loc[i, ["rep_prev", "rep_cur"]] = min(round(true_m[i] * 0.55), 30_000)
    missing: set[str] = set()
    for i in take("saknar_betalare", lambda i: True, scale):
        missing.add(hh.betalare.iat[i])
    for i in take("saknar_medbetalare", lambda i: hh.medbetalare.iat[i] != "", scale):
        missing.add(hh.medbetalare.iat[i])
    shared: dict[str, tuple[str, ...]] = {}
    a = take("delad_medbetalare_a", lambda i: hh.medbetalare.iat[i] != "")
    b = take("delad_medbetalare_b", lambda i: hh.medbetalare.iat[i] == "")
    if a and b:
        hh.loc[b[0], "medbetalare"] = hh.medbetalare.iat[a[0]]
        shared[hh.medbetalare.iat[a[0]]] = (hh.hushall_id.iat[a[0]], hh.hushall_id.iat[b[0]])
    hh_by_family = hh.set_index("family")
    bill = bill.join(hh_by_family[["hushall_id", "betalare", "medbetalare", "rep_prev", "rep_cur"]],
                     on="family")
    # One child billed in two households for half a year.
    two: dict[str, tuple[str, ...]] = {}
    c_src = take("barn_i_tva_hushall_a", lambda i: True)
    c_dst = take("barn_i_tva_hushall_b", lambda i: True)
    if c_src and c_dst:
        src_f, dst = families[c_src[0]], hh.iloc[c_dst[0]]
        child_rows = bill[(bill.family == src_f) & (pd.to_datetime(bill.month).dt.year == year)]
        child = child_rows.child.iat[0]
        dup = child_rows[(child_rows.child == child)
                         & (pd.to_datetime(child_rows.month).dt.month >= 7)].copy()
        for col in ("hushall_id", "betalare", "medbetalare", "rep_prev", "rep_cur"):
            dup[col] = dst[col]
        dup["family"] = dst.family
        bill = pd.concat([bill, dup], ignore_index=True)
        two[pnr[child]] = (hh.hushall_id.iat[c_src[0]], dst.hushall_id)

    bill["barn"] = pnr[bill.child.to_numpy()]
    bill["birth"] = p.fodelsedatum.to_numpy()[bill.child.to_numpy()]
    bill = bill.sort_values(["month", "hushall_id", "birth", "barn"],
                            ascending=[True, True, False, True], kind="stable")
    bill["barn_ordning"] = bill.groupby(["month", "hushall_id"]).cumcount() + 1
    in_prev = pd.to_datetime(bill.month).dt.year.to_numpy() == year
    bill["anmald_inkomst"] = np.where(in_prev, bill.rep_prev, bill.rep_cur)
    bill["debiterad_avgift"] = 0
    for m, idx in bill.groupby("month").groups.items():
        sub = bill.loc[idx]
        bill.loc[idx, "debiterad_avgift"] = fee(m, sub.verksamhet.to_numpy(),
                                                sub.barn_ordning.to_numpy(),
                                                sub.anmald_inkomst.to_numpy(dtype=float))
    bill = bill.reset_index(drop=True)

    billed_prev = bill[in_prev]
    members = pd.unique(np.concatenate([billed_prev.betalare.to_numpy(),
                                        billed_prev.medbetalare.to_numpy()]))
    members = [m for m in members if m and m not in missing]
    incomes = pd.DataFrame({"inkomstar": year, "pnr": sorted(members)})
    incomes["faststalld_inkomst"] = [income[m] for m in incomes.pnr]
    return Fees(bill, incomes, year, planted, shared, two)


def income_check_truth(fees: Fees) -> tuple[dict[str, str], dict[str, int]]:
    """atgard and difference per household for the income year, by the DESIGN rule."""
    b = fees.billing[pd.to_datetime(fees.billing.month).dt.year == fees.income_year].copy()
    inc = pd.Series(fees.incomes.faststalld_inkomst.to_numpy(), index=fees.incomes.pnr)
    pay = b.betalare.map(inc)
    co = b.medbetalare.map(inc)
    missing = pay.isna() | (co.isna() & (b.medbetalare != ""))
    b["annual"] = pay.fillna(0) + co.fillna(0)
    b["correct"] = 0
    for m, idx in b.groupby("month").groups.items():
        g = b.loc[idx]
        b.loc[idx, "correct"] = fee_from_annual(m, g.verksamhet.to_numpy(),
                                                g.barn_ordning.to_numpy(), g.annual.to_numpy())
    # A month billed without reported income is recomputed at the maximum fee: no change.
    b["correct"] = np.where(b.anmald_inkomst.isna(), b.debiterad_avgift, b.correct)
    b["diff"] = b.correct - b.debiterad_avgift
    total = b.groupby("hushall_id")["diff"].sum()
    lacking = set(b.hushall_id[missing])
    atgard: dict[str, str] = {}
    diff: dict[str, int] = {}
    for hid, t in total.items():
        if hid in lacking:
            atgard[hid] = "saknar_inkomstuppgift"
            continue
        diff[hid] = int(t)
        atgard[hid] = ("efterdebitering" if t > TOLERANCE else
                       "aterbetalning" if t < -TOLERANCE else "inom_tolerans")
    return atgard, diff
