"""Fee plausibility signals: when they fire, when they do not, and that they say no amounts."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.rules.fee_signals import signals

P1, P2, M, C1, C2 = (f"{n:032x}" for n in range(11, 16))


def avgifter(rows: list[dict]) -> pd.DataFrame:
    defaults = {"hushall_id": "H1", "betalare": P1, "medbetalare": None, "barn": C1,
                "verksamhet": "forskola", "barn_ordning": 1, "anmald_inkomst": 20_000,
                "debiterad_avgift": 600}
    rows = [{**defaults, **r} for r in rows]
    return pd.DataFrame({
        **{c: pd.array([r[c] for r in rows], dtype="string")
           for c in ("faktura_manad", "hushall_id", "betalare", "medbetalare", "barn",
                     "verksamhet")},
        **{c: pd.array([r[c] for r in rows], dtype="Int64")
           for c in ("barn_ordning", "anmald_inkomst", "debiterad_avgift")},
    })


def inkomster(rows: dict[str, int], year: int = 2024) -> pd.DataFrame:
    return pd.DataFrame({
        "inkomstar": pd.array([year] * len(rows), dtype="Int64"),
        "person_id": pd.array(list(rows), dtype="string"),
        "faststalld_inkomst": pd.array(list(rows.values()), dtype="Int64"),
    })


def full_year(**kw) -> list[dict]:
    return [{"faktura_manad": f"2024-{m:02d}", **kw} for m in range(1, 13)]


def fired(frame: pd.DataFrame, signal: str) -> list[str]:
    return sorted(frame.loc[frame["signal"] == signal, "hushall_id"])


UNCHANGED = "oforandrad_inkomst_hog_taxering"


@pytest.mark.parametrize(("anmald", "taxed_per_month", "fires"), [
    (20_000, 40_000, True),
    (30_000, 45_001, True),  # above 1.5 × and more than 10 000 above
    (30_000, 45_000, False),  # exactly 1.5 × is not above it
    (10_000, 20_001, True),
    (10_000, 20_000, False),  # exactly 10 000 above is not more than the margin
])
def test_unchanged_income_against_much_higher_taxation(anmald, taxed_per_month, fires):
    out = signals(avgifter(full_year(anmald_inkomst=anmald)),
                  inkomster({P1: 12 * taxed_per_month}), 2024)
    assert fired(out, UNCHANGED) == (["H1"] if fires else [])


def test_unchanged_income_needs_all_twelve_months_and_one_value():
    ink = inkomster({P1: 12 * 40_000})
    assert fired(signals(avgifter(full_year()[:11]), ink, 2024), UNCHANGED) == []
    changed = full_year()
    changed[5]["anmald_inkomst"] = 21_000
    assert fired(signals(avgifter(changed), ink, 2024), UNCHANGED) == []
    unreported = full_year()
    unreported[5]["anmald_inkomst"] = None
    assert fired(signals(avgifter(unreported), ink, 2024), UNCHANGED) == []


def test_unchanged_income_counts_the_copayer_and_takes_parameters():
    rows = avgifter(full_year(medbetalare=M))
    ink = inkomster({P1: 12 * 20_000, M: 12 * 20_000})
    assert fired(signals(rows, ink, 2024), UNCHANGED) == ["H1"]
    assert fired(signals(rows, ink, 2024, faktor=2.5), UNCHANGED) == []
    assert fired(signals(rows, ink, 2024, marginal_kr_per_manad=25_000), UNCHANGED) == []


def test_no_income_data_gives_no_unchanged_income_signal():
    assert fired(signals(avgifter(full_year()), inkomster({}), 2024), UNCHANGED) == []


def test_same_copayer_in_two_households_the_same_month():
    rows = [
        {"faktura_manad": "2024-03", "medbetalare": M},
        {"faktura_manad": "2024-03", "hushall_id": "H2", "betalare": P2, "barn": C2,
         "medbetalare": M},
    ]
    out = signals(avgifter(rows), inkomster({}), 2024)
    assert fired(out, "samma_medbetalare_flera_hushall") == ["H1", "H2"]
    assert set(out.loc[out["hushall_id"] == "H2", "betalare"]) == {P2}


def test_copayer_who_pays_in_another_household_the_same_month():
    rows = [
        {"faktura_manad": "2024-03", "medbetalare": M},
        {"faktura_manad": "2024-03", "hushall_id": "H2", "betalare": M, "barn": C2},
    ]
    out = signals(avgifter(rows), inkomster({}), 2024)
    assert fired(out, "samma_medbetalare_flera_hushall") == ["H1", "H2"]


def test_same_copayer_in_different_months_is_no_signal():
    rows = [
        {"faktura_manad": "2024-03", "medbetalare": M},
        {"faktura_manad": "2024-04", "hushall_id": "H2", "betalare": P2, "barn": C2,
         "medbetalare": M},
    ]
    assert signals(avgifter(rows), inkomster({}), 2024).empty


def test_payer_in_two_households_without_copayer_role_is_no_copayer_signal():
    rows = [
        {"faktura_manad": "2024-03"},
        {"faktura_manad": "2024-03", "hushall_id": "H2", "barn": C2},
    ]
    out = signals(avgifter(rows), inkomster({}), 2024)
    assert fired(out, "samma_medbetalare_flera_hushall") == []


def test_child_billed_in_two_households_the_same_month():
    rows = [
        {"faktura_manad": "2024-03"},
        {"faktura_manad": "2024-04"},
        {"faktura_manad": "2024-03", "hushall_id": "H2", "betalare": P2},
        {"faktura_manad": "2024-04", "hushall_id": "H2", "betalare": P2},
        {"faktura_manad": "2024-05", "hushall_id": "H3", "betalare": P2, "barn": C2},
    ]
    out = signals(avgifter(rows), inkomster({}), 2024)
    assert fired(out, "barn_i_flera_hushall") == ["H1", "H2"]
    text = out.loc[out["hushall_id"] == "H1", "beskrivning"].iloc[0]
    assert "2 hushåll" in text and "2 månad" in text


def test_other_years_are_ignored():
    rows = [
        {"faktura_manad": "2023-03"},
        {"faktura_manad": "2023-03", "hushall_id": "H2", "betalare": P2},
    ]
    out = signals(avgifter(rows), inkomster({}), 2024)
    assert out.empty and list(out.columns) == ["hushall_id", "betalare", "signal", "beskrivning"]


def test_descriptions_are_neutral_and_carry_no_amounts_or_ids():
    rows = avgifter(full_year(anmald_inkomst=23_456, medbetalare=M) + [
        {"faktura_manad": "2024-01", "hushall_id": "H2", "betalare": P2, "medbetalare": M},
    ])
    out = signals(rows, inkomster({P1: 12 * 98_765}), 2024)
    assert set(out["signal"]) == {
        UNCHANGED, "samma_medbetalare_flera_hushall", "barn_i_flera_hushall"}
    for text in out["beskrivning"]:
        assert "bör kontrolleras" in text
        for secret in ("23456", "23 456", "98765", "98 765", P1, P2, M, C1):
            assert secret not in text
    assert all(str(out[c].dtype) == "string" for c in out.columns)


SHARED_ROW = st.fixed_dictionaries({
    "faktura_manad": st.sampled_from(["2024-01", "2024-02", "2024-03", "2023-12"]),
    "hushall_id": st.sampled_from(["H1", "H2", "H3", "H4"]),
    "betalare": st.sampled_from([P1, P2, M]),
    "medbetalare": st.one_of(st.none(), st.sampled_from([P1, P2, M])),
    "barn": st.sampled_from([C1, C2]),
    "barn_ordning": st.integers(1, 3),
})


def expected_shared(rows: list[dict], roles: tuple[str, ...], flag_role: str | None) -> dict:
    """hushall_id -> (betalare, households, months): the signal spelled out row by row."""
    rows = [r for r in rows if r["faktura_manad"].startswith("2024-")]
    seen: dict[tuple, set] = {}
    in_role: set[tuple] = set()
    for r in rows:
        for role in roles:
            if r[role] is not None:
                key = (r["faktura_manad"], r[role])
                seen.setdefault(key, set()).add(r["hushall_id"])
                if flag_role in (None, role):
                    in_role.add(key)
    hits: dict[str, list] = {}
    for (month, person), households in seen.items():
        if len(households) >= 2 and (month, person) in in_role:
            for h in households:
                hits.setdefault(h, []).append((month, len(households)))
    ordered = sorted(rows, key=lambda r: (r["hushall_id"], r["faktura_manad"], r["barn_ordning"],
                                          r["barn"]))
    out = {}
    for h, found in hits.items():
        latest = max(m for m, _ in found)
        payer = next(r["betalare"] for r in ordered
                     if (r["hushall_id"], r["faktura_manad"]) == (h, latest))
        out[h] = (payer, max(n for _, n in found), len({m for m, _ in found}))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(SHARED_ROW, max_size=20))
def test_shared_person_signals_match_a_row_by_row_reading(rows):
    out = signals(avgifter(rows), inkomster({}), 2024)
    for signal, roles, flag_role in [
        ("samma_medbetalare_flera_hushall", ("betalare", "medbetalare"), "medbetalare"),
        ("barn_i_flera_hushall", ("barn",), None),
    ]:
        got = out.loc[out["signal"] == signal]
        expected = expected_shared(rows, roles, flag_role)
        assert list(got["hushall_id"]) == sorted(expected)
        for h, payer, text in zip(got["hushall_id"], got["betalare"], got["beskrivning"],
                                  strict=True):
            want_payer, households, months = expected[h]
            assert payer == want_payer
            assert f"{households} hushåll" in text and f"under {months} månad(er)" in text
