"""Plausibility signals on childcare fees: patterns worth a second look, never an accusation.

Each signal says only that something "bör kontrolleras": there are ordinary explanations
(växelvis boende, a new partner, a late change of income). The descriptions carry counts,
never amounts of income, so a list row reveals no more than the check needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skyddsnat.income_check import billed_in_year, household_income

OFORANDRAD_INKOMST_HOG_TAXERING = "oforandrad_inkomst_hog_taxering"
SAMMA_MEDBETALARE_FLERA_HUSHALL = "samma_medbetalare_flera_hushall"
BARN_I_FLERA_HUSHALL = "barn_i_flera_hushall"
SIGNAL_COLUMNS = ["hushall_id", "betalare", "signal", "beskrivning"]

DEFAULT_FAKTOR = 1.5
DEFAULT_MARGINAL_KR_PER_MANAD = 10_000


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in SIGNAL_COLUMNS})


def _household_months(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per household and month: that month's payer (rows are already sorted)."""
    return rows.drop_duplicates(["hushall_id", "faktura_manad"], keep="first")


def _unchanged_income(
    rows: pd.DataFrame, inkomster: pd.DataFrame, year: int, faktor: float, marginal: int
) -> pd.DataFrame:
    hm = _household_months(rows).reset_index(drop=True)
    income = household_income(hm, inkomster, year)
    taxed_per_month = income.arsinkomst / 12  # a lower bound where one person's data is missing
    anmald = pd.array(hm["anmald_inkomst"], dtype="Float64").to_numpy(dtype=float, na_value=np.nan)
    far_above = (
        income.nagon_kand
        & (taxed_per_month > faktor * anmald)
        & (taxed_per_month - anmald > marginal)
    )
    per_row = rows.groupby("hushall_id", sort=True).agg(
        n_reported=("anmald_inkomst", "count"), n_rows=("anmald_inkomst", "size"),
        n_values=("anmald_inkomst", "nunique"),
    )
    per_month = pd.DataFrame({"hushall_id": hm["hushall_id"], "far_above": far_above}).groupby(
        "hushall_id", sort=True
    ).agg(n_months=("far_above", "size"), all_above=("far_above", "all"))
    stats = per_row.join(per_month)
    hit = stats.index[
        (stats["n_months"] == 12)
        & (stats["n_reported"] == stats["n_rows"])
        & (stats["n_values"] == 1)
        & stats["all_above"]
    ]
    latest = hm.drop_duplicates("hushall_id", keep="last").set_index("hushall_id")
    text = (
        f"Anmäld inkomst är oförändrad alla 12 månader {year} och väsentligt lägre än den "
        "fastställda inkomsten. Signal, bör kontrolleras."
    )
    return pd.DataFrame({
        "hushall_id": hit, "betalare": latest.loc[hit, "betalare"].to_numpy(),
        "signal": OFORANDRAD_INKOMST_HOG_TAXERING, "beskrivning": text,
    })


def _shared_across_households(
    pairs: pd.DataFrame, rows: pd.DataFrame, flag_role: str | None, signal: str, text: str
) -> pd.DataFrame:
    """Households in which some person appears in two or more households the same month.

    `pairs` has faktura_manad, hushall_id, person, roll. With `flag_role`, the person must
    hold that role in at least one of the households that month.
    """
    pairs = pairs.dropna(subset=["person"]).drop_duplicates()
    pairs = pairs.assign(in_role=True if flag_role is None else pairs["roll"] == flag_role)
    by_key = pairs.groupby(["faktura_manad", "person"], sort=False)
    n_households = by_key["hushall_id"].transform("nunique")
    shared = (n_households >= 2) & by_key["in_role"].transform("any")
    hits = pairs.loc[shared].assign(n=n_households[shared])
    if hits.empty:
        return _empty()
    per_household = hits.groupby("hushall_id", sort=True).agg(
        manader=("faktura_manad", "nunique"), hushall=("n", "max"),
        senaste=("faktura_manad", "max"),
    )
    payer = rows.drop_duplicates(["hushall_id", "faktura_manad"]).set_index(
        ["hushall_id", "faktura_manad"]
    )["betalare"]
    keys = list(zip(per_household.index, per_household["senaste"], strict=True))
    return pd.DataFrame({
        "hushall_id": per_household.index,
        "betalare": payer.loc[keys].to_numpy(),
        "signal": signal,
        "beskrivning": [
            text.format(hushall=h, manader=m)
            for h, m in zip(per_household["hushall"], per_household["manader"], strict=True)
        ],
    })


def signals(
    avgifter: pd.DataFrame,
    inkomster: pd.DataFrame,
    year: int,
    faktor: float = DEFAULT_FAKTOR,
    marginal_kr_per_manad: int = DEFAULT_MARGINAL_KR_PER_MANAD,
) -> pd.DataFrame:
    """Signals for one year's billed months: DataFrame[hushall_id, betalare, signal, beskrivning].

    oforandrad_inkomst_hog_taxering: the same reported income in all 12 months while the
    fastställd household income per month is above `faktor` × it and more than
    `marginal_kr_per_manad` above it in every month. samma_medbetalare_flera_hushall: a
    co-payer who, the same month, is payer or co-payer in another household.
    barn_i_flera_hushall: a child billed in two or more households the same month.
    """
    rows = billed_in_year(avgifter, year)
    if rows.empty:
        return _empty()
    month_hh = rows[["faktura_manad", "hushall_id"]]
    people = pd.concat([
        month_hh.assign(person=rows["betalare"], roll="betalare"),
        month_hh.assign(person=rows["medbetalare"], roll="medbetalare"),
    ], ignore_index=True)
    children = month_hh.assign(person=rows["barn"], roll="barn")
    parts = [
        _unchanged_income(rows, inkomster, year, faktor, marginal_kr_per_manad),
        _shared_across_households(
            people, rows, "medbetalare", SAMMA_MEDBETALARE_FLERA_HUSHALL,
            "En medbetalare i hushållet finns i {hushall} hushåll samma månad under {manader} "
            f"månad(er) {year}. Signal, bör kontrolleras.",
        ),
        _shared_across_households(
            children, rows, None, BARN_I_FLERA_HUSHALL,
            "Ett barn i hushållet debiteras i {hushall} hushåll samma månad under {manader} "
            f"månad(er) {year}. Kan ha en naturlig förklaring (t.ex. växelvis boende); "
            "signal, bör kontrolleras.",
        ),
    ]
    out = pd.concat([p for p in parts if not p.empty] or [_empty()], ignore_index=True)
    out = out.astype({c: "string" for c in SIGNAL_COLUMNS})
    return out.sort_values(["signal", "hushall_id"], kind="stable").reset_index(drop=True)
