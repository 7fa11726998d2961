"""Personnummer: every written form to 12 digits, century at the reference date, Luhn, dates."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skyddsnat.personnummer import (
    InvalidPersonnummer,
    all_forms,
    birth_date,
    birth_dates,
    is_samordningsnummer,
    is_valid,
    luhn_digit,
    luhn_ok,
    normalize,
    normalize_series,
    normalize_uniques,
)
from skyddsnat.value_memo import ValueMemo

REF = date(2025, 9, 15)


def pnr12(born: date, serial: str = "238", samordning: bool = False) -> str:
    """A valid 12-digit number for a birth date (day + 60 for a samordningsnummer)."""
    day = born.day + (60 if samordning else 0)
    nine = f"{born:%y%m}{day:02d}{serial}"
    return f"{born.year:04d}{nine[2:]}{luhn_digit(nine)}"


def flip(pnr: str) -> str:
    """The same number with another check digit."""
    return pnr[:-1] + str((int(pnr[-1]) + 1) % 10)


KNOWN = "198112189876"  # Skatteverket's example number


@pytest.mark.parametrize("written", [
    "811218-9876", "8112189876", "198112189876", "19811218-9876", " 811218 - 9876 ",
    "19811218 9876", "811218 9876",
])
def test_every_written_form_normalises_to_twelve_digits(written):
    assert normalize(written, REF) == KNOWN


def test_plus_means_a_hundred_years_or_more():
    assert normalize("811218+9876", REF) == "188112189876"
    born_1925 = pnr12(date(1925, 1, 1))
    assert normalize(f"{born_1925[2:8]}+{born_1925[8:]}", REF) == born_1925


def test_plus_with_a_written_century_is_rejected():
    with pytest.raises(InvalidPersonnummer):
        normalize("19811218+9876", REF)


@pytest.mark.parametrize("born,expected_century", [
    (date(2025, 9, 15), "20"),   # born on the reference day: a newborn
    (date(2025, 1, 1), "20"),
    (date(1926, 1, 1), "19"),    # turns 100 next year: still written with '-'
    (date(2025, 9, 16), "19"),   # after the reference: nobody is born in the future
    (date(2024, 12, 31), "20"),
])
def test_century_of_a_ten_digit_number_at_the_reference_date(born, expected_century):
    full = pnr12(born)
    got = normalize(f"{full[2:8]}-{full[8:]}", REF)
    assert got[:2] == expected_century
    assert got[2:] == full[2:]
    assert birth_date(got) <= REF


def test_century_moves_with_the_reference_date():
    ten = pnr12(date(2010, 5, 5))[2:]
    assert normalize(ten, date(2011, 1, 1)).startswith("20")
    assert normalize(ten, date(2009, 1, 1)).startswith("19")


def test_luhn_rejects_a_wrong_check_digit():
    with pytest.raises(InvalidPersonnummer, match="kontrollsiffra"):
        normalize(flip(KNOWN), REF)
    assert luhn_ok(KNOWN[2:])
    assert not luhn_ok(flip(KNOWN)[2:])


def test_samordningsnummer_accepted_and_birth_date_derived():
    sam = pnr12(date(2014, 3, 7), samordning=True)
    assert sam[6:8] == "67"
    assert normalize(sam[2:8] + "-" + sam[8:], REF) == sam
    assert is_samordningsnummer(sam)
    assert not is_samordningsnummer(KNOWN)
    assert birth_date(sam) == date(2014, 3, 7)
    assert birth_dates(pd.Series([sam, KNOWN, None])).tolist()[:2] == [
        pd.Timestamp("2014-03-07"), pd.Timestamp("1981-12-18")]
    assert pd.isna(birth_dates(pd.Series([sam, None])).iloc[1])


@pytest.mark.parametrize("yymmdd", ["150230", "150231", "151301", "150000", "150100",
                                    "150160", "150290", "150289"])  # 89 = 29 Feb + 60
def test_impossible_dates_rejected(yymmdd):
    nine = yymmdd + "238"
    with pytest.raises(InvalidPersonnummer, match="datum"):
        normalize("20" + nine + luhn_digit(nine), REF)


def test_leap_day_valid_only_in_leap_years():
    assert is_valid(pnr12(date(2016, 2, 29)), REF)
    nine = "150229238"
    assert not is_valid("20" + nine + luhn_digit(nine), REF)


def test_future_twelve_digit_birth_rejected():
    tomorrow = pnr12(REF + timedelta(days=1))
    with pytest.raises(InvalidPersonnummer, match="framtiden"):
        normalize(tomorrow, REF)
    assert is_valid(pnr12(REF), REF)


@pytest.mark.parametrize("bad", ["", "abc", "81121-89876", "8112189876123", "811218--9876",
                                 "811218/9876", "1981121898760"])
def test_malformed_rejected(bad):
    assert not is_valid(bad, REF)


@given(st.dates(min_value=date(1925, 9, 16), max_value=REF),
       st.integers(min_value=0, max_value=999), st.booleans())
def test_every_written_form_gives_the_same_twelve_digits(born, serial, samordning):
    full = pnr12(born, f"{serial:03d}", samordning)
    ten = full[2:]
    forms = [full, f"{full[:8]}-{full[8:]}", f"{ten[:6]}-{ten[6:]}", ten,
             f"{ten[:6]} {ten[6:]}", f" {full} "]
    assert {normalize(f, REF) for f in forms} == {full}
    assert birth_date(full) == born


@given(st.dates(min_value=date(1826, 1, 1), max_value=date(1925, 12, 31)),
       st.integers(min_value=0, max_value=999))
def test_plus_form_for_the_hundred_year_olds(born, serial):
    full = pnr12(born, f"{serial:03d}")
    assert normalize(f"{full[2:8]}+{full[8:]}", REF) == full


@given(st.dates(min_value=date(1926, 1, 1), max_value=REF),
       st.integers(min_value=0, max_value=999))
def test_flipping_the_check_digit_is_rejected(born, serial):
    full = flip(pnr12(born, f"{serial:03d}"))
    for form in (full, full[2:], f"{full[2:8]}-{full[8:]}"):
        with pytest.raises(InvalidPersonnummer) as info:
            normalize(form, REF)
        assert full[2:] not in str(info.value)
        assert full[2:8] not in str(info.value)


@given(st.text(max_size=20))
def test_the_message_never_contains_the_input(raw):
    try:
        normalize(raw, REF)
    except InvalidPersonnummer as exc:
        digits = "".join(ch for ch in raw if ch.isdigit())
        if len(digits) >= 4:
            assert digits not in str(exc)
        assert str(exc) in {"felaktigt format", "felaktig kontrollsiffra", "ogiltigt datum",
                            "födelsedatum i framtiden"}


def test_normalize_series_maps_uniques_and_blanks_to_na():
    sam = pnr12(date(2014, 3, 7), samordning=True)
    s = pd.Series(["811218-9876", "198112189876", flip(KNOWN), None, "  ", sam[2:]])
    out = normalize_series(s, REF)
    assert str(out.dtype) == "string"
    assert out.iloc[0] == out.iloc[1] == KNOWN
    assert out.iloc[2:5].isna().all()
    assert out.iloc[5] == sam


def test_all_forms_are_the_canary_spellings():
    forms = set(all_forms(KNOWN))
    assert forms == {"198112189876", "19811218-9876", "811218-9876", "811218+9876",
                     "8112189876"}
    assert {normalize(f, REF) for f in forms - {"811218+9876"}} == {KNOWN}


_WRITTEN = st.builds(
    lambda born, serial, form, broken: (
        (lambda p: flip(p) if broken else p)(list(all_forms(pnr12(born, serial)))[form])),
    st.dates(min_value=date(1930, 1, 1), max_value=REF), st.from_regex(r"\d{3}", fullmatch=True),
    st.integers(0, 4), st.booleans())


@given(st.lists(st.one_of(_WRITTEN, st.text(max_size=13)), max_size=20),
       st.lists(st.one_of(_WRITTEN, st.text(max_size=13)), max_size=20))
def test_a_memo_from_an_earlier_file_never_changes_the_result(first, second):
    memo = ValueMemo()
    normalize_series(pd.Series(first, dtype=object), REF, memo)
    with_memo = normalize_series(pd.Series(second, dtype=object), REF, memo)
    pd.testing.assert_series_equal(with_memo, normalize_series(pd.Series(second, dtype=object),
                                                               REF))


@given(st.lists(st.one_of(_WRITTEN, st.text(alphabet="0123456789-+ ", max_size=13),
                          st.text(max_size=13)), max_size=30),
       st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_the_vectorised_path_decides_as_normalize_does(values, ref):
    """normalize_uniques decides most numbers with Arrow and numpy: each one as normalize."""
    uniques = pd.unique(pd.Series(values, dtype=object))
    got = normalize_uniques(uniques, ref).to_pylist()
    for value, decided in zip(uniques, got, strict=True):
        try:
            expected = normalize(value, ref)
        except InvalidPersonnummer:
            expected = None
        assert decided == expected
