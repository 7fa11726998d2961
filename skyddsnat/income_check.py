"""Inkomstkontroll: recompute a year's billed fees from the fastställd income and compare.

Rules (DESIGN.md "Childcare fees (maxtaxa) and the income check"):
- Household income per month = fastställd årsinkomst of that month's betalare + medbetalare
  for the income year, divided by 12 and rounded half up to whole kronor. Whole kronor is
  the unit the fee is billed on (anmald_inkomst is whole kronor), and the letter shows the
  exact figure used, so the household can recompute every month itself.
- Every billed month is recomputed with the rules of that month (its maxtaxa period).
- A month billed without a reported income is recomputed at the maximum fee: the household
  chose not to report, so no refund follows from the tax data, and that month's correct fee
  does not depend on the tax data at all.
- differens = korrekt − debiterat, summed per household and year; |differens| ≤ tolerance
  is inom_tolerans (counted, not listed).
- saknar_inkomstuppgift: a betalare or medbetalare billed that year lacks a fastställd
  income (no row, or a blank amount), as DESIGN.md says — even where every month was billed
  at the maximum fee, since the caseworker must still ask for the missing tax data. The
  household's correct fee is then unknown: `debiterat` shows
  what was billed, `korrekt_avgift` and `differens` are NA; the month detail still shows
  every month whose correct fee is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from skyddsnat.maxtaxa import fees_vectorised, period_codes, round_half_up_div
from skyddsnat.policy import Fees

EFTERDEBITERING = "efterdebitering"
ATERBETALNING = "aterbetalning"
INOM_TOLERANS = "inom_tolerans"
SAKNAR_INKOMSTUPPGIFT = "saknar_inkomstuppgift"
ATGARDER = (EFTERDEBITERING, ATERBETALNING, INOM_TOLERANS, SAKNAR_INKOMSTUPPGIFT)
LISTED = (EFTERDEBITERING, ATERBETALNING, SAKNAR_INKOMSTUPPGIFT)

HOUSEHOLD_COLUMNS = [
    "hushall_id", "betalare", "medbetalare", "inkomstar",
    "debiterat", "korrekt_avgift", "differens", "atgard",
]
MONTH_COLUMNS = [
    "hushall_id", "faktura_manad", "betalare", "medbetalare", "barn", "verksamhet",
    "barn_ordning", "anmald_inkomst", "hushallsinkomst_manad", "debiterad_avgift",
    "korrekt_avgift", "differens",
]


@dataclass(frozen=True)
class IncomeCheck:
    households: pd.DataFrame
    months: pd.DataFrame
    list_rows: pd.DataFrame
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class HouseholdIncome:
    """Fastställd household income per billed row, from each row's own payer and co-payer."""

    arsinkomst: np.ndarray  # sum of the known incomes (a lower bound where one is missing)
    saknas: np.ndarray  # payer, or a present co-payer, has no fastställd income
    nagon_kand: np.ndarray  # at least one of them has one


def years_to_check(available_income_years: Iterable[int | str]) -> list[int]:
    """Every income year that has an inkomster file, oldest first."""
    return sorted({int(y) for y in available_income_years})


def billed_in_year(avgifter: pd.DataFrame, year: int) -> pd.DataFrame:
    """The year's billed rows in a stable order (household, month, child rank, child)."""
    codes, months = pd.factorize(avgifter["faktura_manad"].astype("string"))
    in_year = [i for i, m in enumerate(months) if m.startswith(f"{year:04d}-")]
    rows = avgifter.loc[np.isin(codes, in_year)]
    keys = ["hushall_id", "faktura_manad", "barn_ordning", "barn"]
    return rows.sort_values(keys, kind="stable").reset_index(drop=True)


def faststalld_by_person(inkomster: pd.DataFrame, year: int) -> pd.Series:
    """person_id → fastställd årsinkomst (Int64, NA = blank) for one income year."""
    rows = inkomster.loc[inkomster["inkomstar"] == year, ["person_id", "faststalld_inkomst"]]
    if rows["person_id"].duplicated().any():
        raise ValueError("inkomster: mer än en rad per person och inkomstår")
    return pd.Series(
        pd.array(rows["faststalld_inkomst"], dtype="Int64"),
        index=pd.Index(rows["person_id"].astype("string")),
    )


def household_income(rows: pd.DataFrame, inkomster: pd.DataFrame, year: int) -> HouseholdIncome:
    by_person = faststalld_by_person(inkomster, year)
    payer = pd.array(by_person.reindex(rows["betalare"].astype("string")), dtype="Int64")
    co = pd.array(by_person.reindex(rows["medbetalare"].astype("string")), dtype="Int64")
    has_co = rows["medbetalare"].notna().to_numpy()
    payer_na = payer.isna()
    co_na = co.isna() & has_co
    total = payer.to_numpy(dtype=np.int64, na_value=0) + co.to_numpy(dtype=np.int64, na_value=0)
    return HouseholdIncome(total, payer_na | co_na, ~payer_na | (has_co & ~co_na))


def _month_detail(rows: pd.DataFrame, inkomster: pd.DataFrame, year: int, fees: Fees):
    income = household_income(rows, inkomster, year)
    manad = round_half_up_div(income.arsinkomst, 12)
    hushallsinkomst = pd.array(manad, dtype="Int64")
    hushallsinkomst[income.saknas] = pd.NA
    anmald = pd.array(rows["anmald_inkomst"], dtype="Int64")
    not_reported = anmald.isna()
    fee_income = hushallsinkomst.copy()
    fee_income[not_reported] = pd.NA  # NA → the maximum fee
    recomputed = fees_vectorised(
        rows["faktura_manad"], rows["verksamhet"], rows["barn_ordning"],
        pd.Series(fee_income, index=rows.index), fees,
    )
    # The correct fee of a month is unknown only where it depended on the missing tax data;
    # the household is flagged whenever a member lacks tax data (DESIGN.md, literally).
    korrekt = pd.array(recomputed.to_numpy(), dtype="Int64")
    korrekt[income.saknas & ~not_reported] = pd.NA
    unknown = income.saknas
    debiterad = pd.array(rows["debiterad_avgift"], dtype="Int64")
    if debiterad.isna().any():
        raise ValueError("avgifter: debiterad_avgift saknas")
    months = pd.DataFrame({
        "hushall_id": rows["hushall_id"].astype("string"),
        "faktura_manad": rows["faktura_manad"].astype("string"),
        "betalare": rows["betalare"].astype("string"),
        "medbetalare": rows["medbetalare"].astype("string"),
        "barn": rows["barn"].astype("string"),
        "verksamhet": rows["verksamhet"].astype("string"),
        "barn_ordning": pd.array(rows["barn_ordning"], dtype="Int64"),
        "anmald_inkomst": anmald,
        "hushallsinkomst_manad": hushallsinkomst,
        "debiterad_avgift": debiterad,
        "korrekt_avgift": korrekt,
        "differens": korrekt - debiterad,
    })
    return months[MONTH_COLUMNS], unknown


def _households(months: pd.DataFrame, unknown: np.ndarray, year: int, tolerance: int):
    grouped = pd.DataFrame({
        "hushall_id": months["hushall_id"],
        "debiterat": months["debiterad_avgift"],
        "korrekt_avgift": months["korrekt_avgift"].fillna(0),
        "saknas": unknown,
    }).groupby("hushall_id", sort=True).agg(
        debiterat=("debiterat", "sum"), korrekt_avgift=("korrekt_avgift", "sum"),
        saknas=("saknas", "any"),
    )
    # The addressee is the payer (and co-payer) of the household's latest billed month.
    latest = months.drop_duplicates("hushall_id", keep="last").set_index("hushall_id")
    saknas = grouped["saknas"].to_numpy()
    korrekt = pd.array(grouped["korrekt_avgift"], dtype="Int64")
    korrekt[saknas] = pd.NA
    debiterat = pd.array(grouped["debiterat"], dtype="Int64")
    differens = korrekt - debiterat
    d = differens.to_numpy(dtype=np.int64, na_value=0)
    atgard = np.select(
        [saknas, d > tolerance, d < -tolerance],
        [SAKNAR_INKOMSTUPPGIFT, EFTERDEBITERING, ATERBETALNING],
        INOM_TOLERANS,
    )
    out = pd.DataFrame({
        "hushall_id": pd.array(grouped.index, dtype="string"),
        "betalare": pd.array(latest.loc[grouped.index, "betalare"], dtype="string"),
        "medbetalare": pd.array(latest.loc[grouped.index, "medbetalare"], dtype="string"),
        "inkomstar": pd.array(np.full(len(grouped), year), dtype="Int64"),
        "debiterat": debiterat,
        "korrekt_avgift": korrekt,
        "differens": differens,
        "atgard": pd.array(atgard, dtype="string"),
    })
    return out[HOUSEHOLD_COLUMNS]


def _protected_households(months: pd.DataFrame, skyddade) -> pd.Index:
    ids = pd.Index(pd.Series(list(skyddade), dtype="string").dropna().unique())
    member = (
        months["betalare"].isin(ids) | months["medbetalare"].isin(ids) | months["barn"].isin(ids)
    ).fillna(False)
    return pd.Index(months.loc[member.to_numpy(dtype=bool), "hushall_id"].unique())


def _summary(households, months, year: int, fees: Fees, skyddade) -> dict:
    protected = _protected_households(months, skyddade)
    hh = households.loc[~households["hushall_id"].isin(protected)]
    counted_months = months.loc[~months["hushall_id"].isin(protected), "faktura_manad"]
    counts = hh["atgard"].value_counts()
    used = sorted(set(period_codes(counted_months, fees).tolist())) if len(counted_months) else []
    perioder = [
        {"fran": p.fran, "till": p.till, "bekraftad": p.bekraftad}
        for p in (fees.perioder[i] for i in used)
    ]
    diff = hh["differens"]
    return {
        "inkomstar": int(year),
        "antal_hushall": int(len(hh)),
        **{f"antal_{a}": int(counts.get(a, 0)) for a in ATGARDER},
        "summa_efterdebitering": int(diff[hh["atgard"] == EFTERDEBITERING].sum()),
        "summa_aterbetalning": int(-diff[hh["atgard"] == ATERBETALNING].sum()),
        "tolerans_kr_per_ar": int(fees.tolerans_kr_per_ar),
        "perioder": perioder,
        "alla_perioder_bekraftade": all(p["bekraftad"] for p in perioder),
    }


def income_check(
    avgifter: pd.DataFrame,
    inkomster: pd.DataFrame,
    year: int,
    fees: Fees,
    skyddade: pd.Series | Iterable[str] = (),
) -> IncomeCheck:
    """The income check for one income year over that year's billed months.

    Protected households stay in `households`, `months` and `list_rows` (delivery seals
    them); `summary` counts and sums without them.
    """
    rows = billed_in_year(avgifter, year)
    months, unknown = _month_detail(rows, inkomster, year, fees)
    households = _households(months, unknown, year, fees.tolerans_kr_per_ar)
    list_rows = households.loc[households["atgard"].isin(LISTED)].reset_index(drop=True)
    summary = _summary(households, months, year, fees, skyddade)
    return IncomeCheck(households, months, list_rows, summary)

