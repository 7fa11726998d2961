"""Inkomstkontroll at the rule boundaries, on hand-built frames in the warehouse dtypes."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.policy import load_policy
from skyddsnat.rules.income_check import income_check, years_to_check
from skyddsnat.rules.maxtaxa import VERKSAMHETER, UncoveredMonth, fee, period_for, round_half_up_div

FEES = load_policy().maxtaxa
PAYER, COPAYER, CHILD, OTHER_PAYER, OTHER_CHILD = (f"{n:032x}" for n in range(1, 6))


def avgifter(rows: list[dict]) -> pd.DataFrame:
    defaults = {"hushall_id": "H1", "betalare": PAYER, "medbetalare": None, "barn": CHILD,
                "verksamhet": "forskola", "barn_ordning": 1, "anmald_inkomst": 30_000}
    rows = [{**defaults, **r} for r in rows]
    return pd.DataFrame({
        "faktura_manad": pd.array([r["faktura_manad"] for r in rows], dtype="string"),
        **{c: pd.array([r[c] for r in rows], dtype="string")
           for c in ("hushall_id", "betalare", "medbetalare", "barn", "verksamhet")},
        **{c: pd.array([r[c] for r in rows], dtype="Int64")
           for c in ("barn_ordning", "anmald_inkomst", "debiterad_avgift")},
    })


def inkomster(rows: dict[str, int | None], year: int = 2024) -> pd.DataFrame:
    return pd.DataFrame({
        "inkomstar": pd.array([year] * len(rows), dtype="Int64"),
        "person_id": pd.array(list(rows), dtype="string"),
        "faststalld_inkomst": pd.array(list(rows.values()), dtype="Int64"),
    })


def year_of(billed: int, anmald: int | None = 30_000, **kw) -> list[dict]:
    return [{"faktura_manad": f"2024-{m:02d}", "debiterad_avgift": billed,
             "anmald_inkomst": anmald, **kw} for m in range(1, 13)]


def one_household(result) -> dict:
    assert len(result.households) == 1
    return result.households.iloc[0].to_dict()


def test_correct_billing_is_within_tolerance_and_not_listed():
    result = income_check(avgifter(year_of(900)), inkomster({PAYER: 360_000}), 2024, FEES)
    row = one_household(result)
    assert (row["debiterat"], row["korrekt_avgift"], row["differens"]) == (10_800, 10_800, 0)
    assert row["atgard"] == "inom_tolerans"
    assert result.list_rows.empty
    assert result.summary["antal_inom_tolerans"] == 1


@pytest.mark.parametrize(("billed", "atgard", "differens"), [
    (300, "inom_tolerans", 600),
    (299, "efterdebitering", 601),
    (1500, "inom_tolerans", -600),
    (1501, "aterbetalning", -601),
])
def test_tolerance_is_inclusive_at_600(billed, atgard, differens):
    rows = [{"faktura_manad": "2024-03", "debiterad_avgift": billed}]
    result = income_check(avgifter(rows), inkomster({PAYER: 360_000}), 2024, FEES)
    row = one_household(result)
    assert (row["differens"], row["atgard"]) == (differens, atgard)
    assert (len(result.list_rows) == 1) == (atgard != "inom_tolerans")


def test_totals_to_reinvoice_and_refund():
    rows = (
        [{"faktura_manad": "2024-01", "debiterad_avgift": 100, "hushall_id": "H1"}]
        + [{"faktura_manad": "2024-01", "debiterad_avgift": 1688, "hushall_id": "H2",
            "betalare": OTHER_PAYER, "barn": OTHER_CHILD}]
    )
    ink = inkomster({PAYER: 360_000, OTHER_PAYER: 0})
    summary = income_check(avgifter(rows), ink, 2024, FEES).summary
    assert summary["summa_efterdebitering"] == 800
    assert summary["summa_aterbetalning"] == 1688
    assert (summary["antal_efterdebitering"], summary["antal_aterbetalning"]) == (1, 1)


def test_month_without_reported_income_is_recomputed_at_max_fee_and_never_refunded():
    # Tax data say 0 kr; the household did not report, so the maximum fee stands.
    result = income_check(avgifter(year_of(1688, anmald=None)), inkomster({PAYER: 0}), 2024, FEES)
    row = one_household(result)
    assert (row["korrekt_avgift"], row["differens"]) == (12 * 1688, 0)
    assert row["atgard"] == "inom_tolerans"
    # Billed below the maximum without a reported income: the difference is re-invoiced.
    result = income_check(
        avgifter([{"faktura_manad": "2024-05", "debiterad_avgift": 1000, "anmald_inkomst": None}]),
        inkomster({PAYER: 0}), 2024, FEES,
    )
    assert (one_household(result)["differens"], one_household(result)["atgard"]) == (
        688, "efterdebitering")


def test_copayer_without_tax_data_means_saknar_inkomstuppgift():
    rows = year_of(900, medbetalare=COPAYER)
    result = income_check(avgifter(rows), inkomster({PAYER: 360_000}), 2024, FEES)
    row = one_household(result)
    assert row["atgard"] == "saknar_inkomstuppgift"
    assert row["debiterat"] == 10_800
    assert pd.isna(row["korrekt_avgift"]) and pd.isna(row["differens"])
    assert result.list_rows["hushall_id"].tolist() == ["H1"]
    assert result.months["korrekt_avgift"].isna().all()
    assert result.summary["antal_saknar_inkomstuppgift"] == 1


def test_blank_faststalld_income_counts_as_missing():
    result = income_check(avgifter(year_of(900)), inkomster({PAYER: None}), 2024, FEES)
    assert one_household(result)["atgard"] == "saknar_inkomstuppgift"


def test_missing_tax_data_flags_the_household_even_where_income_was_not_reported():
    rows = year_of(1688, anmald=None, medbetalare=COPAYER)
    result = income_check(avgifter(rows), inkomster({PAYER: 360_000}), 2024, FEES)
    row = one_household(result)
    assert row["atgard"] == "saknar_inkomstuppgift"
    # Every month's correct fee is still known: the maximum fee, as billed.
    assert result.months["korrekt_avgift"].tolist() == [1688] * 12


def test_income_of_another_year_is_not_used():
    ink = pd.concat([inkomster({PAYER: 360_000}, year=2023), inkomster({COPAYER: 1}, year=2024)])
    result = income_check(avgifter(year_of(900)), ink, 2024, FEES)
    assert one_household(result)["atgard"] == "saknar_inkomstuppgift"


def test_copayer_is_taken_per_month():
    rows = [{"faktura_manad": f"2024-{m:02d}", "debiterad_avgift": 0,
             "medbetalare": COPAYER if m <= 6 else None} for m in range(1, 13)]
    result = income_check(avgifter(rows), inkomster({PAYER: 240_000, COPAYER: 240_000}), 2024, FEES)
    months = result.months
    assert months["hushallsinkomst_manad"].tolist() == [40_000] * 6 + [20_000] * 6
    assert months["korrekt_avgift"].tolist() == [1200] * 6 + [600] * 6
    row = one_household(result)
    assert row["korrekt_avgift"] == 10_800
    assert pd.isna(row["medbetalare"])  # the latest month's co-payer: none


@pytest.mark.parametrize(("arsinkomst", "manad", "avgift"), [
    (594, 50, 1),  # 49.5 -> 50 kr/month; 1 % of 50 = 0.50 -> 1
    (593, 49, 0),  # 49.42 -> 49 kr/month -> 0.49 -> 0
])
def test_monthly_income_rounds_half_up_to_whole_kronor(arsinkomst, manad, avgift):
    rows = [{"faktura_manad": "2024-02", "debiterad_avgift": 0, "verksamhet": "fritidshem",
             "barn_ordning": 2}]
    result = income_check(avgifter(rows), inkomster({PAYER: arsinkomst}), 2024, FEES)
    assert result.months["hushallsinkomst_manad"].tolist() == [manad]
    assert result.months["korrekt_avgift"].tolist() == [avgift]


def test_each_month_uses_its_own_period_and_summary_reports_confirmation():
    rows = [{"faktura_manad": m, "debiterad_avgift": 0} for m in ("2026-06", "2026-07")]
    result = income_check(avgifter(rows), inkomster({PAYER: 12 * 61_560}, 2026), 2026, FEES)
    assert result.months["korrekt_avgift"].tolist() == [1773, 1547]
    periods = result.summary["perioder"]
    assert [(p["fran"], p["bekraftad"]) for p in periods] == [("2026-01", False), ("2026-07", True)]
    assert result.summary["alla_perioder_bekraftade"] is False


def test_only_the_income_year_s_months_are_checked():
    rows = year_of(900) + [{"faktura_manad": "2023-12", "debiterad_avgift": 0}]
    result = income_check(avgifter(rows), inkomster({PAYER: 360_000}), 2024, FEES)
    assert len(result.months) == 12
    assert one_household(result)["atgard"] == "inom_tolerans"


def test_uncovered_billed_month_is_an_error_naming_the_month():
    rows = [{"faktura_manad": "2021-05", "debiterad_avgift": 0}]
    with pytest.raises(UncoveredMonth, match="2021-05") as err:
        income_check(avgifter(rows), inkomster({PAYER: 1}, 2021), 2021, FEES)
    assert PAYER not in str(err.value)


def test_duplicate_income_rows_are_rejected_without_naming_the_person():
    ink = pd.concat([inkomster({PAYER: 1}), inkomster({PAYER: 2})])
    with pytest.raises(ValueError, match="mer än en rad") as err:
        income_check(avgifter(year_of(900)), ink, 2024, FEES)
    assert PAYER not in str(err.value)


def test_summary_leaves_out_protected_households_but_lists_keep_them():
    rows = (
        [{"faktura_manad": "2024-01", "debiterad_avgift": 0, "hushall_id": "H1"}]
        + [{"faktura_manad": "2024-01", "debiterad_avgift": 0, "hushall_id": "H2",
            "betalare": OTHER_PAYER, "barn": OTHER_CHILD}]
    )
    ink = inkomster({PAYER: 360_000, OTHER_PAYER: 480_000})
    open_result = income_check(avgifter(rows), ink, 2024, FEES)
    assert open_result.summary["antal_efterdebitering"] == 2
    for skyddade in ({OTHER_CHILD}, pd.Series([OTHER_PAYER], dtype="string")):
        result = income_check(avgifter(rows), ink, 2024, FEES, skyddade=skyddade)
        assert result.summary["antal_efterdebitering"] == 1
        assert result.summary["summa_efterdebitering"] == 900
        assert result.summary["antal_hushall"] == 1
        assert sorted(result.list_rows["hushall_id"]) == ["H1", "H2"]


def test_household_row_names_the_latest_payer_and_shapes_are_stable():
    rows = [
        {"faktura_manad": "2024-01", "debiterad_avgift": 900},
        {"faktura_manad": "2024-02", "debiterad_avgift": 900, "betalare": OTHER_PAYER},
    ]
    result = income_check(avgifter(rows), inkomster({PAYER: 360_000, OTHER_PAYER: 360_000}),
                          2024, FEES)
    row = one_household(result)
    assert row["betalare"] == OTHER_PAYER and row["inkomstar"] == 2024
    assert list(result.households.columns) == [
        "hushall_id", "betalare", "medbetalare", "inkomstar", "debiterat", "korrekt_avgift",
        "differens", "atgard", "taxa_bekraftad"]
    assert {"faktura_manad", "barn", "verksamhet", "barn_ordning", "anmald_inkomst",
            "hushallsinkomst_manad", "debiterad_avgift", "korrekt_avgift",
            "differens"} <= set(result.months.columns)
    assert str(result.households["differens"].dtype) == "Int64"


def test_year_without_billing_gives_empty_frames():
    result = income_check(avgifter(year_of(900)), inkomster({PAYER: 1}, 2025), 2025, FEES)
    assert result.households.empty and result.months.empty and result.list_rows.empty
    assert result.summary["antal_hushall"] == 0 and result.summary["perioder"] == []


def test_years_to_check_is_every_income_year():
    assert years_to_check([2025, "2023", 2023]) == [2023, 2025]
    assert years_to_check([]) == []


def test_saknar_household_still_shows_the_months_whose_fee_is_known():
    rows = [
        {"faktura_manad": "2024-01", "debiterad_avgift": 900, "medbetalare": COPAYER},
        {"faktura_manad": "2024-02", "debiterad_avgift": 1688, "medbetalare": COPAYER,
         "anmald_inkomst": None},
    ]
    result = income_check(avgifter(rows), inkomster({PAYER: 360_000}), 2024, FEES)
    assert one_household(result)["atgard"] == "saknar_inkomstuppgift"
    assert result.months["korrekt_avgift"].tolist() == [pd.NA, 1688]
    assert result.months["hushallsinkomst_manad"].isna().all()


def test_month_detail_is_ordered_by_household_month_rank_and_child_whatever_the_input_order():
    rows = [
        {"faktura_manad": "2024-02", "debiterad_avgift": 0, "hushall_id": "H2"},
        {"faktura_manad": "2024-02", "debiterad_avgift": 0, "barn": OTHER_CHILD, "barn_ordning": 2},
        {"faktura_manad": "2024-01", "debiterad_avgift": 0, "barn": OTHER_CHILD},
        {"faktura_manad": "2024-02", "debiterad_avgift": 0},
        {"faktura_manad": "2024-01", "debiterad_avgift": 0},  # shares rank 1 with OTHER_CHILD
    ]
    frame = avgifter(rows)
    frame.index = [40, 30, 20, 10, 0]
    months = income_check(frame, inkomster({PAYER: 360_000}), 2024, FEES).months
    assert list(zip(months["hushall_id"], months["faktura_manad"], months["barn"],
                    strict=True)) == [
        ("H1", "2024-01", CHILD), ("H1", "2024-01", OTHER_CHILD), ("H1", "2024-02", CHILD),
        ("H1", "2024-02", OTHER_CHILD), ("H2", "2024-02", CHILD)]
    assert months.index.equals(pd.RangeIndex(5))


def test_billed_row_without_household_is_an_error_naming_no_one():
    frame = avgifter(year_of(900))
    frame.loc[3, "hushall_id"] = pd.NA
    with pytest.raises(ValueError, match="hushall_id saknas") as err:
        income_check(frame, inkomster({PAYER: 360_000}), 2024, FEES)
    assert PAYER not in str(err.value)


ADULTS = (PAYER, COPAYER, OTHER_PAYER)
BILLED_ROW = st.fixed_dictionaries({
    "faktura_manad": st.sampled_from([f"2024-{m:02d}" for m in (1, 2, 7, 12)] + ["2023-12"]),
    "hushall_id": st.sampled_from(["H1", "H2", "H3"]),
    "betalare": st.sampled_from(ADULTS),
    "medbetalare": st.one_of(st.none(), st.sampled_from(ADULTS)),
    "barn": st.sampled_from([CHILD, OTHER_CHILD]),
    "verksamhet": st.sampled_from(VERKSAMHETER),
    "barn_ordning": st.integers(1, 5),
    "anmald_inkomst": st.one_of(st.none(), st.integers(0, 80_000)),
    "debiterad_avgift": st.integers(0, 2_000),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(BILLED_ROW, max_size=25),
       st.dictionaries(st.sampled_from(ADULTS), st.one_of(st.none(), st.integers(0, 1_500_000))))
def test_every_month_follows_the_scalar_rule_and_households_sum_their_months(rows, incomes):
    result = income_check(avgifter(rows), inkomster(incomes), 2024, FEES)
    months = result.months
    keys = list(zip(months["hushall_id"], months["faktura_manad"], months["barn_ordning"],
                    months["barn"], strict=True))
    assert keys == sorted(keys)
    assert len(months) == sum(r["faktura_manad"].startswith("2024-") for r in rows)
    for m in months.itertuples():
        adults = [m.betalare] + ([] if pd.isna(m.medbetalare) else [m.medbetalare])
        known = [incomes.get(a) for a in adults]
        reported = not pd.isna(m.anmald_inkomst)
        period = period_for(m.faktura_manad, FEES)
        if None in known:  # a member lacks fastställd income
            assert pd.isna(m.hushallsinkomst_manad)
            expected = pd.NA if reported else fee(None, m.verksamhet, m.barn_ordning, period)
        else:
            manad = round_half_up_div(sum(known), 12)
            assert m.hushallsinkomst_manad == manad
            expected = fee(manad if reported else None, m.verksamhet, m.barn_ordning, period)
        assert (pd.isna(m.korrekt_avgift) and pd.isna(expected)) or m.korrekt_avgift == expected
    for h in result.households.itertuples():
        own = months.loc[months["hushall_id"] == h.hushall_id]
        assert h.debiterat == own["debiterad_avgift"].sum()
        latest = own.iloc[-1]  # the addressee: the latest month's payer and co-payer
        assert h.betalare == latest["betalare"]
        assert pd.isna(h.medbetalare) == pd.isna(latest["medbetalare"])
        assert pd.isna(h.medbetalare) or h.medbetalare == latest["medbetalare"]
        lacking = any(
            incomes.get(a) is None for a in pd.concat([own["betalare"], own["medbetalare"]])
            if not pd.isna(a))
        if lacking:
            assert h.atgard == "saknar_inkomstuppgift" and pd.isna(h.korrekt_avgift)
        else:
            assert h.korrekt_avgift == own["korrekt_avgift"].sum()
            d, tol = h.differens, FEES.tolerans_kr_per_ar
            assert h.atgard == ("efterdebitering" if d > tol else
                                "aterbetalning" if d < -tol else "inom_tolerans")


def _billed_2025(billed: int) -> pd.DataFrame:
    return avgifter([{"faktura_manad": f"2025-{m:02d}", "debiterad_avgift": billed}
                     for m in range(1, 13)])


def test_an_unconfirmed_period_marks_the_household_and_holds_its_efterdebitering():
    """2025 is not confirmed against Skolverket's notice (policies/maxtaxa.yaml): the row
    is marked, and the policy decides whether it may carry efterdebitering."""
    income = inkomster({PAYER: 360_000}, year=2025)
    held = one_household(income_check(_billed_2025(300), income, 2025, FEES))
    assert FEES.efterdebitering_obekraftad_taxa is False
    assert held["atgard"] == "obekraftad_taxa" and held["taxa_bekraftad"] is False
    allowed = FEES.model_copy(update={"efterdebitering_obekraftad_taxa": True})
    billed = one_household(income_check(_billed_2025(300), income, 2025, allowed))
    assert billed["atgard"] == "efterdebitering" and billed["taxa_bekraftad"] is False
    assert billed["differens"] == held["differens"]
    # a refund and a confirmed year are not held back
    refund = one_household(income_check(_billed_2025(5_000), income, 2025, FEES))
    assert refund["atgard"] == "aterbetalning"
    confirmed = one_household(income_check(avgifter(year_of(300)), inkomster({PAYER: 360_000}),
                                           2024, FEES))
    assert confirmed["atgard"] == "efterdebitering" and confirmed["taxa_bekraftad"] is True
    summary = income_check(_billed_2025(300), income, 2025, FEES).summary
    assert summary["antal_obekraftad_taxa"] == 1 and not summary["alla_perioder_bekraftade"]
