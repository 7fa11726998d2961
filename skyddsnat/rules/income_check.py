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

How: a year's billed rows are sorted and their ids turned into integer codes once
(`BilledYear`, shared with the signals); the rules then run on plain int64 numpy arrays, with
boolean masks for what is missing, so no string is hashed or sorted twice and no missing
value enters the arithmetic. Stockholm bills about 1.2 million child-months a year.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skyddsnat.policy import Fees
from skyddsnat.rules.maxtaxa import (
    child_ranks,
    fee_array,
    month_periods,
    round_half_up_div,
    verksamhet_codes,
)

EFTERDEBITERING = "efterdebitering"
ATERBETALNING = "aterbetalning"
INOM_TOLERANS = "inom_tolerans"
SAKNAR_INKOMSTUPPGIFT = "saknar_inkomstuppgift"
# An efterdebitering computed with a maxtaxa period not yet confirmed against Skolverket's
# notice, when policy (maxtaxa.efterdebitering_obekraftad_taxa) does not allow billing it.
OBEKRAFTAD_TAXA = "obekraftad_taxa"
ATGARDER = (EFTERDEBITERING, ATERBETALNING, INOM_TOLERANS, SAKNAR_INKOMSTUPPGIFT,
            OBEKRAFTAD_TAXA)
LISTED = (EFTERDEBITERING, ATERBETALNING, SAKNAR_INKOMSTUPPGIFT, OBEKRAFTAD_TAXA)

HOUSEHOLD_COLUMNS = [
    "hushall_id", "betalare", "medbetalare", "inkomstar",
    "debiterat", "korrekt_avgift", "differens", "atgard", "taxa_bekraftad",
]
MONTH_COLUMNS = [
    "hushall_id", "faktura_manad", "betalare", "medbetalare", "barn", "verksamhet",
    "barn_ordning", "anmald_inkomst", "hushallsinkomst_manad", "debiterad_avgift",
    "korrekt_avgift", "differens",
]
_STRING_COLUMNS = ("betalare", "medbetalare", "barn", "verksamhet")  # besides the coded ones
_AMOUNT_COLUMNS = ("barn_ordning", "anmald_inkomst", "debiterad_avgift")


@dataclass(frozen=True)
class IncomeCheck:
    households: pd.DataFrame
    months: pd.DataFrame
    list_rows: pd.DataFrame
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BilledYear:
    """One year's billed rows in month-detail order, with every id as an integer code.

    `rows` holds the billed columns (ids as strings, amounts as Int64) sorted by household,
    month, child rank and child; the month detail shares its columns, so treat it as
    read-only. Each code array has one entry per row and indexes the matching uniques;
    -1 means missing (a row without co-payer). Household codes ascend with the rows, so a
    household's rows are one run from its `household_starts` entry. Payers and co-payers
    share one code space: a person has the same code in either role.
    """

    year: int
    rows: pd.DataFrame
    household: np.ndarray
    households: pd.Index
    household_starts: np.ndarray
    month: np.ndarray
    months: list[str]
    payer: np.ndarray
    co_payer: np.ndarray
    adults: pd.Index

    def __len__(self) -> int:
        return len(self.rows)

    def household_ends(self) -> np.ndarray:
        """The last row of each household (its latest month, highest rank)."""
        ends = np.empty_like(self.household_starts)
        ends[:-1] = self.household_starts[1:] - 1
        ends[-1:] = len(self.rows) - 1
        return ends

    @cached_property
    def children(self) -> tuple[np.ndarray, pd.Index]:
        """Codes of `barn` per row and the children; only the signals need them."""
        return int_codes(self.rows["barn"].array)


@dataclass(frozen=True)
class HouseholdIncome:
    """Fastställd household income per billed row, from each row's own payer and co-payer."""

    arsinkomst: np.ndarray  # sum of the known incomes (a lower bound where one is missing)
    saknas: np.ndarray  # payer, or a present co-payer, has no fastställd income
    nagon_kand: np.ndarray  # at least one of them has one


def years_to_check(available_income_years: Iterable[int | str]) -> list[int]:
    """Every income year that has an inkomster file, oldest first."""
    return sorted({int(y) for y in available_income_years})


def int_codes(values, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """pd.factorize with int64 codes (-1 = missing) and the uniques as an Index."""
    codes, uniques = pd.factorize(values, sort=sort, use_na_sentinel=True)
    return codes.astype(np.int64), pd.Index(uniques)


def _adult_codes(payer: pd.Series, co_payer: pd.Series):
    """Payer and co-payer codes in one code space, and the adults they index (in order of
    first appearance, payers first)."""
    codes, adults = int_codes(pd.concat([payer, co_payer], ignore_index=True).array)
    return codes[:len(payer)], codes[len(payer):], adults.astype("string")


def _take(values: np.ndarray, codes: np.ndarray, missing) -> np.ndarray:
    """values[codes], with `missing` where the code is -1 (no value)."""
    return np.append(values, np.asarray(missing, dtype=values.dtype))[codes]


def _sort_order(household: np.ndarray, month: np.ndarray, rank: pd.Series,
                barn: pd.Series) -> np.ndarray:
    """The stable order by (household, month, child rank, child), as sort_values would give.

    Children share a rank in one household and month only in bad data, so the child id is
    compared only among such ties instead of being hashed for every row. A missing rank
    sorts last.
    """
    rank_key = pd.array(rank, dtype="Int64").to_numpy(
        dtype=np.int64, na_value=np.iinfo(np.int64).max)
    order = np.lexsort((rank_key, month, household))
    h, m, r = household[order], month[order], rank_key[order]
    same = (h[1:] == h[:-1]) & (m[1:] == m[:-1]) & (r[1:] == r[:-1])
    if same.any():
        tied = np.append(same, False) | np.append(False, same)
        group = np.cumsum(~np.append(False, same))[tied]
        ties = order[tied]
        child, _ = int_codes(barn.take(ties).array, sort=True)
        child[child < 0] = child.max() + 1  # missing last
        order[tied] = ties[np.lexsort((child, group))]
    return order


def billed_in_year(avgifter: pd.DataFrame, year: int) -> BilledYear:
    """The year's billed rows, sorted and coded once for the check and the signals."""
    month_codes, all_months = int_codes(avgifter["faktura_manad"].astype("string", copy=False))
    months = sorted(m for m in all_months if m.startswith(f"{year:04d}-"))
    month_of = np.full(len(all_months) + 1, -1, dtype=np.int64)  # last: a missing month
    month_of[all_months.get_indexer(months)] = np.arange(len(months))
    month = month_of[month_codes]
    in_year = np.flatnonzero(month >= 0)
    household, households = int_codes(
        avgifter["hushall_id"].take(in_year).astype("string", copy=False).array, sort=True)
    if (household < 0).any():
        raise ValueError("avgifter: hushall_id saknas")
    order = _sort_order(household, month[in_year], avgifter["barn_ordning"].take(in_year),
                        avgifter["barn"].take(in_year))
    household, rows_at = household[order], in_year[order]

    rows = pd.DataFrame({
        "hushall_id": households.array.take(household),
        "faktura_manad": all_months.array.take(month_codes[rows_at]),
        **{c: avgifter[c].take(rows_at).astype("string", copy=False).array
           for c in _STRING_COLUMNS},
        **{c: pd.array(avgifter[c].take(rows_at), dtype="Int64") for c in _AMOUNT_COLUMNS},
    }, copy=False)
    payer, co_payer, adults = _adult_codes(rows["betalare"], rows["medbetalare"])
    return BilledYear(
        year=year, rows=rows, household=household, households=households,
        household_starts=np.flatnonzero(np.diff(household, prepend=-1)),
        month=month[rows_at], months=months, payer=payer, co_payer=co_payer, adults=adults,
    )


def faststalld_by_person(inkomster: pd.DataFrame, year: int) -> pd.Series:
    """person_id → fastställd årsinkomst (Int64, NA = blank) for one income year."""
    rows = inkomster.loc[inkomster["inkomstar"] == year, ["person_id", "faststalld_inkomst"]]
    if rows["person_id"].duplicated().any():
        raise ValueError("inkomster: mer än en rad per person och inkomstår")
    return pd.Series(
        pd.array(rows["faststalld_inkomst"], dtype="Int64"),
        index=pd.Index(rows["person_id"].astype("string")),
    )


def household_income(billed: BilledYear, inkomster: pd.DataFrame) -> HouseholdIncome:
    """Every row's household income, looking up each adult's fastställd income once."""
    incomes = faststalld_by_person(inkomster, billed.year)
    # Each adult's row among the incomes (person ids are unique there), looked up in Arrow.
    at = pc.index_in(pa.array(billed.adults.array, type=pa.large_string()),
                     value_set=pa.array(incomes.index.array, type=pa.large_string()))
    by_person = pd.array(incomes.array, dtype="Int64").take(
        pc.fill_null(at, -1).to_numpy().astype(np.int64), allow_fill=True)
    amount = by_person.to_numpy(dtype=np.int64, na_value=0)
    known = ~by_person.isna()
    has_co = billed.co_payer >= 0
    payer_na = ~_take(known, billed.payer, False)
    co_na = ~_take(known, billed.co_payer, False) & has_co
    total = _take(amount, billed.payer, 0) + _take(amount, billed.co_payer, 0)
    return HouseholdIncome(total, payer_na | co_na, ~payer_na | (has_co & ~co_na))


def _int64(values: np.ndarray, missing: np.ndarray | None = None) -> pd.arrays.IntegerArray:
    """An Int64 column from int64 values, NA where `missing`."""
    mask = np.zeros(len(values), dtype=bool) if missing is None else missing.copy()
    return pd.arrays.IntegerArray(values.astype(np.int64), mask)


def _month_detail(billed: BilledYear, inkomster: pd.DataFrame, fees: Fees):
    """The month detail and, per row, whether a member lacks a fastställd income."""
    rows = billed.rows
    income = household_income(billed, inkomster)
    manad = round_half_up_div(income.arsinkomst, 12)
    reported = ~rows["anmald_inkomst"].isna().to_numpy()
    recomputed = fee_array(  # an unreported month is recomputed at the maximum fee
        month_periods(billed.months, fees)[billed.month], verksamhet_codes(rows["verksamhet"]),
        child_ranks(rows["barn_ordning"]), manad, reported, fees,
    )
    # The correct fee of a month is unknown only where it depended on the missing tax data;
    # the household is flagged whenever a member lacks tax data (DESIGN.md, literally).
    korrekt = _int64(recomputed, income.saknas & reported)
    debiterad = rows["debiterad_avgift"].array
    if debiterad.isna().any():
        raise ValueError("avgifter: debiterad_avgift saknas")
    computed = {
        "hushallsinkomst_manad": _int64(manad, income.saknas),
        "korrekt_avgift": korrekt,
        "differens": korrekt - debiterad,
    }
    months = pd.DataFrame({c: computed[c] if c in computed else rows[c].array
                           for c in MONTH_COLUMNS}, copy=False)
    return months, income.saknas


def _confirmed(billed: BilledYear, fees: Fees) -> np.ndarray:
    """Per household: is every billed month's maxtaxa period confirmed (`bekraftad`)?"""
    starts = billed.household_starts
    if not len(starts):
        return np.zeros(0, dtype=bool)
    per_month = np.array([fees.perioder[i].bekraftad
                          for i in month_periods(list(billed.months), fees)], dtype=bool)
    return np.logical_and.reduceat(per_month[billed.month], starts)


def _households(billed: BilledYear, months: pd.DataFrame, unknown: np.ndarray,
                fees: Fees) -> pd.DataFrame:
    """Sums per household (its rows are one run); the addressee is its latest month's payer.

    A household whose recomputation uses an unconfirmed maxtaxa period is marked
    (`taxa_bekraftad` false); its efterdebitering becomes `obekraftad_taxa` unless the
    policy allows billing on unconfirmed periods."""
    tolerance = fees.tolerans_kr_per_ar
    starts = billed.household_starts
    korrekt_month = months["korrekt_avgift"].array
    if len(starts):
        billed_sum = np.add.reduceat(months["debiterad_avgift"].to_numpy(np.int64), starts)
        korrekt_sum = np.add.reduceat(korrekt_month.to_numpy(np.int64, na_value=0), starts)
        saknas = np.logical_or.reduceat(unknown, starts)
    else:
        billed_sum = korrekt_sum = np.zeros(0, dtype=np.int64)
        saknas = np.zeros(0, dtype=bool)
    debiterat = _int64(billed_sum)
    korrekt = _int64(korrekt_sum, saknas)
    differens = korrekt - debiterat
    d = differens.to_numpy(dtype=np.int64, na_value=0)
    confirmed = _confirmed(billed, fees)
    hold = ~confirmed & (not fees.efterdebitering_obekraftad_taxa)
    atgard = np.select(
        [saknas, (d > tolerance) & hold, d > tolerance, d < -tolerance],
        [SAKNAR_INKOMSTUPPGIFT, OBEKRAFTAD_TAXA, EFTERDEBITERING, ATERBETALNING],
        INOM_TOLERANS,
    )
    latest = months.iloc[billed.household_ends()]
    out = pd.DataFrame({
        "hushall_id": pd.array(billed.households, dtype="string"),
        "betalare": pd.array(latest["betalare"], dtype="string"),
        "medbetalare": pd.array(latest["medbetalare"], dtype="string"),
        "inkomstar": _int64(np.full(len(starts), billed.year)),
        "debiterat": debiterat,
        "korrekt_avgift": korrekt,
        "differens": differens,
        "atgard": pd.array(atgard, dtype="string"),
        "taxa_bekraftad": pd.array(confirmed, dtype="boolean"),
    })
    return out[HOUSEHOLD_COLUMNS]


def _protected_households(billed: BilledYear, skyddade) -> np.ndarray:
    """Per household: does a payer, co-payer or child of any of its rows have protection."""
    ids = pd.Index(pd.Series(list(skyddade), dtype="string").dropna().unique())
    adult = np.append(billed.adults.isin(ids), False)  # last: no co-payer
    member = (adult[billed.payer] | adult[billed.co_payer]
              | billed.rows["barn"].isin(ids).to_numpy(dtype=bool, na_value=False))
    return np.bincount(billed.household[member], minlength=len(billed.households)) > 0


def _summary(billed: BilledYear, households: pd.DataFrame, fees: Fees, skyddade) -> dict:
    protected = _protected_households(billed, skyddade)
    hh = households.loc[~protected]
    counted_months = np.unique(billed.month[~protected[billed.household]])
    counts = hh["atgard"].value_counts()
    periods = month_periods([billed.months[m] for m in counted_months], fees)
    perioder = [
        {"fran": p.fran, "till": p.till, "bekraftad": p.bekraftad}
        for p in (fees.perioder[i] for i in sorted(set(periods.tolist())))
    ]
    diff = hh["differens"]
    return {
        "inkomstar": int(billed.year),
        "antal_hushall": int(len(hh)),
        **{f"antal_{a}": int(counts.get(a, 0)) for a in ATGARDER},
        "summa_efterdebitering": int(diff[hh["atgard"] == EFTERDEBITERING].sum()),
        "summa_aterbetalning": int(-diff[hh["atgard"] == ATERBETALNING].sum()),
        "tolerans_kr_per_ar": int(fees.tolerans_kr_per_ar),
        "perioder": perioder,
        "alla_perioder_bekraftade": all(p["bekraftad"] for p in perioder),
    }


def check_billed(
    billed: BilledYear,
    inkomster: pd.DataFrame,
    fees: Fees,
    skyddade: pd.Series | Iterable[str] = (),
) -> IncomeCheck:
    """`income_check` for rows already taken out with `billed_in_year`."""
    months, unknown = _month_detail(billed, inkomster, fees)
    households = _households(billed, months, unknown, fees)
    list_rows = households.loc[households["atgard"].isin(LISTED)].reset_index(drop=True)
    summary = _summary(billed, households, fees, skyddade)
    return IncomeCheck(households, months, list_rows, summary)


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
    return check_billed(billed_in_year(avgifter, year), inkomster, fees, skyddade)
