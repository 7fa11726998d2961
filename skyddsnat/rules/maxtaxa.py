"""Maxtaxa: the childcare fee per child and month, by the rules of the billed month.

fee = min(round_half_up(pct/100 × min(max(0, income − avdrag), inkomsttak)), tak); barn 4+
pay nothing; no reported income means the maximum fee (tak). All arithmetic is in integers:
the policy's percentages are held as hundredths of a percent, so a fee that lands on exactly
.5 kr always rounds up instead of following float noise or banker's rounding.

>>> from skyddsnat.policy import load_policy
>>> fees = load_policy().maxtaxa
>>> fee(61_560, "forskola", 1, period_for("2026-07", fees))
1547
>>> fee(None, "fritidshem", 2, period_for("2024-03", fees))
563
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from skyddsnat.policy import FeePeriod, Fees, month_index

VERKSAMHETER = ("forskola", "pedagogisk_omsorg", "fritidshem")
FREE_FROM_RANK = 4
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_OPEN_END = 10**9
_BP = 10_000  # hundredths of a percent per whole


class UncoveredMonth(ValueError):
    """A billed month that no maxtaxa period covers. Months are not personal data."""

    def __init__(self, months: list[str]):
        self.months = sorted(months)
        super().__init__(
            "ingen maxtaxa-period i policies/maxtaxa.yaml täcker fakturamånad "
            + ", ".join(self.months)
        )


def _month(month: str) -> int:
    if not isinstance(month, str) or not _MONTH.match(month):
        raise ValueError("faktura_manad ska ha formen YYYY-MM")
    return month_index(month)


def _span(period: FeePeriod) -> tuple[int, int]:
    return month_index(period.fran), month_index(period.till) if period.till else _OPEN_END


def period_for(month: str, fees: Fees) -> FeePeriod:
    """The period whose fran..till (inclusive) covers `month`; UncoveredMonth if none does."""
    m = _month(month)
    for period in fees.perioder:
        start, end = _span(period)
        if start <= m <= end:
            return period
    raise UncoveredMonth([month])


def round_half_up_div(numerator: int, denominator: int) -> int:
    """numerator/denominator rounded half up, exact for integers (denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def basis_points(pct: float) -> int:
    """A policy percentage as hundredths of a percent; more decimals than that is a policy error."""
    bp = round(pct * 100)
    if abs(pct * 100 - bp) > 1e-6:
        raise ValueError("maxtaxa: procent får ha högst två decimaler")
    return bp


def _check(verksamhet: str, rank: int) -> None:
    if verksamhet not in VERKSAMHETER:
        raise ValueError(f"okänd verksamhet {verksamhet!r}")
    if rank < 1:
        raise ValueError("barn_ordning måste vara minst 1")


def fee(monthly_income: int | None, verksamhet: str, rank: int, period: FeePeriod) -> int:
    """The fee in whole kronor for one child and month; None = income not reported = tak."""
    _check(verksamhet, rank)
    if rank >= FREE_FROM_RANK:
        return 0
    cap = period.tak[verksamhet][rank - 1]
    if monthly_income is None:
        return cap
    base = min(max(0, int(monthly_income) - period.avdrag), period.inkomsttak)
    bp = basis_points(period.procent[verksamhet][rank - 1])
    return min(round_half_up_div(bp * base, _BP), cap)


def month_periods(months: list[str], fees: Fees) -> np.ndarray:
    """Index into fees.perioder for each of a few distinct months; UncoveredMonth if any is left.

    Called once per distinct month, never per row: a year has twelve.
    """
    spans = [_span(p) for p in fees.perioder]
    lookup = np.empty(len(months), dtype=np.int64)
    uncovered = []
    for i, month in enumerate(months):
        m = _month(month)
        hit = [j for j, (start, end) in enumerate(spans) if start <= m <= end]
        if hit:
            lookup[i] = hit[0]
        else:
            uncovered.append(month)
    if uncovered:
        raise UncoveredMonth(uncovered)
    return lookup


def period_codes(months: pd.Series, fees: Fees) -> np.ndarray:
    """Index into fees.perioder for every month, mapping each distinct month once."""
    codes, uniques = pd.factorize(months.astype("string"), use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError("faktura_manad saknas")
    return month_periods(list(uniques), fees)[codes]


def verksamhet_codes(verksamhet: pd.Series) -> np.ndarray:
    """Index into VERKSAMHETER for every row; an unknown or missing verksamhet is an error."""
    found, uniques = pd.factorize(verksamhet.astype("string"), use_na_sentinel=True)
    known = {v: i for i, v in enumerate(VERKSAMHETER)}
    lookup = np.array([known.get(u, -1) for u in uniques] + [-1], dtype=np.int64)
    codes = lookup[found]  # a missing value (-1) takes the last entry: -1
    if (codes < 0).any():
        unknown = sorted(set(verksamhet.dropna().astype(str)) - set(VERKSAMHETER))
        raise ValueError(f"okänd verksamhet {', '.join(map(repr, unknown)) or 'saknas'}")
    return codes.astype(np.int64)


def child_ranks(rank: pd.Series) -> np.ndarray:
    """barn_ordning as int64; a missing rank or one below 1 is an error."""
    rank_arr = pd.array(rank, dtype="Int64")
    if rank_arr.isna().any() or (rank_arr < 1).any():
        raise ValueError("barn_ordning måste vara minst 1")
    return rank_arr.to_numpy(dtype=np.int64)


def _tables(fees: Fees) -> tuple[np.ndarray, ...]:
    n = len(fees.perioder)
    bp = np.zeros((n, len(VERKSAMHETER), 3), dtype=np.int64)
    cap = np.zeros_like(bp)
    for i, per in enumerate(fees.perioder):
        for v, name in enumerate(VERKSAMHETER):
            bp[i, v] = [basis_points(p) for p in per.procent[name]]
            cap[i, v] = per.tak[name]
    avdrag = np.array([p.avdrag for p in fees.perioder], dtype=np.int64)
    tak_inkomst = np.array([p.inkomsttak for p in fees.perioder], dtype=np.int64)
    return bp, cap, avdrag, tak_inkomst


def fee_array(
    period: np.ndarray,
    verksamhet: np.ndarray,
    rank: np.ndarray,
    income: np.ndarray,
    reported: np.ndarray,
    fees: Fees,
) -> np.ndarray:
    """`fee` for whole int64 arrays: the one vectorised copy of the rule, checked against `fee`.

    period indexes fees.perioder, verksamhet indexes VERKSAMHETER, rank ≥ 1 (validated by
    the callers); where `reported` is False the income is ignored and the fee is the cap.
    """
    slot = np.minimum(rank, 3) - 1
    bp, cap, avdrag, tak_inkomst = _tables(fees)
    row_cap = cap[period, verksamhet, slot]
    base = np.clip(income - avdrag[period], 0, tak_inkomst[period])
    computed = np.minimum((2 * bp[period, verksamhet, slot] * base + _BP) // (2 * _BP), row_cap)
    out = np.where(reported, computed, row_cap)
    return np.where(rank >= FREE_FROM_RANK, 0, out).astype(np.int64)


def fees_vectorised(
    months: pd.Series,
    verksamhet: pd.Series,
    rank: pd.Series,
    income: pd.Series,
    fees: Fees,
) -> pd.Series:
    """`fee` over a whole table (int64, aligned to `months`); NA income means the maximum fee."""
    period = period_codes(months, fees)
    v_codes = verksamhet_codes(verksamhet)
    r = child_ranks(rank)
    inc = pd.array(income, dtype="Int64")
    out = fee_array(period, v_codes, r, inc.to_numpy(dtype=np.int64, na_value=0),
                    ~inc.isna(), fees)
    return pd.Series(out, index=months.index, name="avgift")
