"""Maxtaxa fee rule at its boundaries, against the real policies/maxtaxa.yaml."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.policy import load_policy
from skyddsnat.rules.maxtaxa import (
    VERKSAMHETER,
    UncoveredMonth,
    fee,
    fees_vectorised,
    period_for,
)

FEES = load_policy().maxtaxa
P2024 = period_for("2024-05", FEES)
P2026_H2 = period_for("2026-07", FEES)


def test_period_for_picks_the_month_s_period_and_open_end():
    assert period_for("2026-06", FEES).fran == "2026-01"
    assert period_for("2026-07", FEES).avdrag == 10_000
    assert period_for("2099-12", FEES).fran == "2026-07"
    assert period_for("2022-01", FEES).inkomsttak == 52_410


def test_uncovered_month_is_an_error_naming_the_month():
    with pytest.raises(UncoveredMonth, match="2021-12"):
        period_for("2021-12", FEES)
    months = pd.Series(["2022-01", "2021-11", "2021-12", "2021-11"], dtype="string")
    with pytest.raises(UncoveredMonth) as err:
        fees_vectorised(months, pd.Series(["forskola"] * 4), pd.Series([1] * 4, dtype="Int64"),
                        pd.Series([1000] * 4, dtype="Int64"), FEES)
    assert err.value.months == ["2021-11", "2021-12"]


@pytest.mark.parametrize("bad", ["2024-13", "2024-1", "202401", ""])
def test_malformed_month_is_rejected(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        period_for(bad, FEES)


@pytest.mark.parametrize(("verksamhet", "caps"), [
    ("forskola", [1688, 1125, 563]),
    ("pedagogisk_omsorg", [1688, 1125, 563]),
    ("fritidshem", [1125, 563, 563]),
])
def test_income_above_ceiling_pays_the_cap(verksamhet, caps):
    for rank, cap in enumerate(caps, start=1):
        assert fee(56_250, verksamhet, rank, P2024) == cap
        assert fee(10_000_000, verksamhet, rank, P2024) == cap
        assert fee(56_249, verksamhet, rank, P2024) <= cap


def test_no_reported_income_pays_the_cap():
    assert fee(None, "forskola", 1, P2024) == 1688
    assert fee(None, "fritidshem", 3, P2024) == 563
    assert fee(None, "forskola", 1, P2026_H2) == 1547


@pytest.mark.parametrize("rank", [4, 5, 20])
@pytest.mark.parametrize("income", [None, 0, 30_000, 10_000_000])
def test_fourth_child_and_later_are_free(rank, income):
    assert fee(income, "forskola", rank, P2024) == 0
    assert fee(income, "fritidshem", rank, P2024) == 0


def test_fritidshem_and_forskola_percentages_differ():
    assert [fee(30_000, "forskola", r, P2024) for r in (1, 2, 3)] == [900, 600, 300]
    assert [fee(30_000, "fritidshem", r, P2024) for r in (1, 2, 3)] == [600, 300, 300]


@given(st.integers(0, 200_000), st.integers(1, 6), st.sampled_from(FEES.perioder))
def test_pedagogisk_omsorg_is_priced_as_forskola(income, rank, period):
    assert fee(income, "pedagogisk_omsorg", rank, period) == fee(income, "forskola", rank, period)


def test_july_2026_deduction_and_lower_ceiling():
    assert fee(10_000, "forskola", 1, P2026_H2) == 0
    assert fee(0, "forskola", 1, P2026_H2) == 0
    assert fee(61_560, "forskola", 1, P2026_H2) == 1547
    assert fee(61_560, "forskola", 2, P2026_H2) == 1031
    assert fee(61_560, "forskola", 3, P2026_H2) == 516
    assert fee(40_000, "forskola", 1, P2026_H2) == 900  # 3 % of 30 000, not of 40 000
    # June 2026 still has no deduction and the old ceiling.
    assert fee(40_000, "forskola", 1, period_for("2026-06", FEES)) == 1200


@pytest.mark.parametrize(("income", "verksamhet", "rank", "period", "expected"), [
    (50, "fritidshem", 2, P2024, 1),  # 1 % of 50 = 0.50 -> 1
    (49, "fritidshem", 2, P2024, 0),  # 0.49 -> 0
    (250, "fritidshem", 2, P2024, 3),  # 2.50 -> 3 (banker's rounding would give 2)
    (125, "fritidshem", 1, P2024, 3),  # 2 % of 125 = 2.50 -> 3
    (10_050, "forskola", 3, P2026_H2, 1),  # 1 % of (10 050 - 10 000) = 0.50 -> 1
    (10_049, "forskola", 3, P2026_H2, 0),
])
def test_half_up_rounding_at_half_krona(income, verksamhet, rank, period, expected):
    assert fee(income, verksamhet, rank, period) == expected
    vec = fees_vectorised(
        pd.Series([period.fran], dtype="string"), pd.Series([verksamhet], dtype="string"),
        pd.Series([rank], dtype="Int64"), pd.Series([income], dtype="Int64"), FEES,
    )
    assert vec.tolist() == [expected]


def test_fractional_percent_is_exact():
    # 1.15 % of 1 000 is 11.5 kr; in floats 1.15 / 100 * 1000 is 11.4999... and would round down.
    odd = P2024.model_copy(update={"procent": {v: [1.15, 1, 1] for v in VERKSAMHETER}})
    assert fee(1000, "forskola", 1, odd) == 12


def test_invalid_rank_and_verksamhet_are_rejected():
    with pytest.raises(ValueError, match="barn_ordning"):
        fee(1000, "forskola", 0, P2024)
    with pytest.raises(ValueError, match="verksamhet"):
        fee(1000, "skola", 1, P2024)
    with pytest.raises(ValueError, match="verksamhet"):
        fees_vectorised(pd.Series(["2024-01"]), pd.Series(["skola"]), pd.Series([1]),
                        pd.Series([1000], dtype="Int64"), FEES)


@given(
    st.integers(0, 150_000), st.integers(0, 150_000), st.sampled_from(VERKSAMHETER),
    st.integers(1, 5), st.sampled_from(FEES.perioder),
)
def test_fee_is_monotone_in_income_and_never_above_cap(a, b, verksamhet, rank, period):
    low, high = sorted((a, b))
    cap = 0 if rank >= 4 else period.tak[verksamhet][rank - 1]
    assert 0 <= fee(low, verksamhet, rank, period) <= fee(high, verksamhet, rank, period) <= cap
    assert fee(high, verksamhet, rank, period) <= fee(None, verksamhet, rank, period) == cap


MONTHS = [f"{y}-{m:02d}" for y in range(2022, 2029) for m in range(1, 13)]
ROW = st.tuples(
    st.sampled_from(MONTHS), st.sampled_from(VERKSAMHETER), st.integers(1, 6),
    st.one_of(st.none(), st.integers(0, 120_000)),
)


@settings(max_examples=200)
@given(st.lists(ROW, min_size=0, max_size=40))
def test_fees_vectorised_agrees_with_fee(rows):
    months = pd.Series([r[0] for r in rows], dtype="string", index=range(100, 100 + len(rows)))
    vec = fees_vectorised(
        months,
        pd.Series([r[1] for r in rows], dtype="string", index=months.index),
        pd.Series([r[2] for r in rows], dtype="Int64", index=months.index),
        pd.Series([r[3] for r in rows], dtype="Int64", index=months.index),
        FEES,
    )
    assert vec.dtype == "int64"
    assert vec.index.equals(months.index)
    assert vec.tolist() == [fee(i, v, r, period_for(m, FEES)) for m, v, r, i in rows]
