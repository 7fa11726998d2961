"""Skolpliktsbevakning at its boundaries: läsår switch, birth years, grace period, validity."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyddsnat.personnummer import birth_date
from skyddsnat.policy import SchoolDuty
from skyddsnat.rules.school_duty import (
    ORSAKER,
    data_quality_findings,
    date_part,
    exception_schools,
    find_exceptions,
    grade_label,
    in_work_order,
    lasar_start,
    skolpliktiga,
    turning_days,
)

OWN, OTHER = "2260", "0180"
POLICY = SchoolDuty(
    kommunkod=OWN,
    grace_days=30,
    skolformer_som_uppfyller=["FK", "GR", "GRAN", "SPEC", "SAM"],
    beslut_som_uppfyller=["annat_satt", "utlandsvistelse", "uppskjuten_skolplikt",
                          "skolplikt_upphord"],
    forskoleklass_avskaffas_lasar=2028,
)
AS_OF = date(2025, 9, 15)  # läsår 2025/26: birth years 2010 … 2019
DAY = timedelta(days=1)


def pid(i: int) -> str:
    return f"{i:032x}"


def _dates(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="object")).astype("datetime64[ns]")


def personer(rows: list[dict]) -> pd.DataFrame:
    """Warehouse personer: person_id, fodelsedatum, kommunkod, folkbokford_datum, flags."""
    return pd.DataFrame({
        "person_id": pd.Series([r["person_id"] for r in rows], dtype="string"),
        "fodelsedatum": _dates([r["fodelsedatum"] for r in rows]),
        "kommunkod": pd.Series([r.get("kommunkod", OWN) for r in rows], dtype="string"),
        "folkbokford_datum": _dates([r.get("folkbokford_datum") for r in rows]),
        "sekretessmarkering": pd.Series([False] * len(rows), dtype=bool),
        "skyddad_folkbokforing": pd.Series([False] * len(rows), dtype=bool),
        "vardnadshavare_1": pd.Series([pd.NA] * len(rows), dtype="string"),
        "vardnadshavare_2": pd.Series([pd.NA] * len(rows), dtype="string"),
    })


def placeringar(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": pd.Series([r["person_id"] for r in rows], dtype="string"),
        "skolenhetskod": pd.Series([r.get("skolenhetskod", "12345678") for r in rows],
                                   dtype="string"),
        "skolenhet_namn": pd.Series(["Skolan"] * len(rows), dtype="string"),
        "huvudman": pd.Series(["kommunal"] * len(rows), dtype="string"),
        "skolform": pd.Series([r.get("skolform", "GR") for r in rows], dtype="string"),
        "arskurs": pd.Series([r.get("arskurs") for r in rows], dtype="Int64"),
        "startdatum": _dates([r.get("startdatum", date(2019, 8, 15)) for r in rows]),
        "slutdatum": _dates([r.get("slutdatum") for r in rows]),
    })


def beslut(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": pd.Series([r["person_id"] for r in rows], dtype="string"),
        "beslutstyp": pd.Series([r.get("beslutstyp", "annat_satt") for r in rows],
                                dtype="string"),
        "giltig_fran": _dates([r.get("giltig_fran", date(2024, 1, 1)) for r in rows]),
        "giltig_till": _dates([r.get("giltig_till") for r in rows]),
        "diarienummer": pd.Series(["BUN 2025/1"] * len(rows), dtype="string"),
    })


def child(i: int = 1, born: date = date(2015, 3, 3), **kw) -> dict:
    return {"person_id": pid(i), "fodelsedatum": born, **kw}


def reasons(pers, plac=(), bes=(), as_of=AS_OF, policy=POLICY) -> dict[str, str]:
    out = find_exceptions(personer(list(pers)), placeringar(list(plac)), beslut(list(bes)),
                          as_of, policy)
    return dict(zip(out["person_id"], out["orsak"], strict=True))


# --- läsår and labels -------------------------------------------------------------------

@pytest.mark.parametrize(("as_of", "year"), [
    (date(2025, 6, 30), 2024), (date(2025, 7, 1), 2025),
    (date(2025, 12, 31), 2025), (date(2026, 1, 1), 2025),
])
def test_lasar_switches_on_1_july(as_of, year):
    assert lasar_start(as_of) == year


@pytest.mark.parametrize(("grade", "lasar", "label"), [
    (0, 2027, "FK"), (1, 2027, "1"), (9, 2027, "9"),
    (0, 2028, "1"), (9, 2028, "10"), (0, 2030, "1"),
])
def test_grade_label_before_and_after_reform(grade, lasar, label):
    assert grade_label(grade, lasar, 2028) == label


# --- who is skolpliktig -----------------------------------------------------------------

@pytest.mark.parametrize(("born", "as_of", "label"), [
    # as_of 1 July 2025: läsår 2025/26, birth years 2010 … 2019
    (date(2019, 12, 31), date(2025, 7, 1), "FK"),    # Y−6, youngest day
    (date(2010, 1, 1), date(2025, 7, 1), "9"),       # Y−15, oldest day
    (date(2020, 1, 1), date(2025, 7, 1), None),      # Y−5
    (date(2009, 12, 31), date(2025, 7, 1), None),    # Y−16
    # as_of 30 June 2025: still läsår 2024/25, birth years 2009 … 2018
    (date(2019, 12, 31), date(2025, 6, 30), None),
    (date(2018, 1, 1), date(2025, 6, 30), "FK"),
    (date(2009, 12, 31), date(2025, 6, 30), "9"),
    (date(2008, 12, 31), date(2025, 6, 30), None),
])
def test_birth_year_range_and_lasar_switch(born, as_of, label):
    got = skolpliktiga(personer([child(born=born)]), as_of, POLICY)
    assert got["forvantad_arskurs"].tolist() == ([] if label is None else [label])


@pytest.mark.parametrize(("born", "as_of", "label"), [
    (date(2022, 5, 5), date(2028, 7, 1), "1"),     # förskoleklass abolished: åk 1
    (date(2013, 5, 5), date(2028, 7, 1), "10"),
    (date(2021, 5, 5), date(2028, 6, 30), "FK"),   # last läsår with förskoleklass
    (date(2012, 5, 5), date(2028, 6, 30), "9"),
    (date(2023, 5, 5), date(2028, 7, 1), None),    # reform does not change birth years
    (date(2012, 5, 5), date(2028, 7, 1), None),
])
def test_reform_2028_relabels_same_birth_years(born, as_of, label):
    got = skolpliktiga(personer([child(born=born)]), as_of, POLICY)
    assert got["forvantad_arskurs"].tolist() == ([] if label is None else [label])


def test_samordningsnummer_birth_date_is_day_minus_60():
    born = birth_date("201912910000")  # day 91 − 60 = 31 December 2019
    got = skolpliktiga(personer([child(born=born)]), date(2025, 7, 1), POLICY)
    assert got["forvantad_arskurs"].tolist() == ["FK"]
    assert got["fodelsedatum"].iloc[0] == pd.Timestamp(2019, 12, 31)
    assert skolpliktiga(personer([child(born=born)]), date(2025, 6, 30), POLICY).empty


def test_missing_birth_date_is_not_counted():
    assert skolpliktiga(personer([child(born=None)]), AS_OF, POLICY).empty


def test_non_resident_not_skolpliktig_and_not_reported():
    assert reasons([child(kommunkod=OTHER)]) == {}
    assert skolpliktiga(personer([child(kommunkod=OTHER)]), AS_OF, POLICY).empty


def test_kommunkod_override_switches_residents():
    other = POLICY.model_copy(update={"kommunkod": OTHER})
    assert reasons([child(1), child(2, kommunkod=OTHER)], policy=other) == {pid(2): "okand"}


# --- reasons ----------------------------------------------------------------------------

def test_no_placement_no_decision_is_okand():
    assert reasons([child()]) == {pid(1): "okand"}


@pytest.mark.parametrize(("start", "end", "expected"), [
    (AS_OF - 100 * DAY, AS_OF - DAY, "placering_avslutad"),   # ended yesterday
    (AS_OF - 100 * DAY, AS_OF, None),                         # ends today: still active
    (AS_OF, None, None),                                      # starts today
    (AS_OF + DAY, None, "okand"),                             # starts tomorrow
])
def test_placement_validity_boundaries(start, end, expected):
    got = reasons([child()], [{"person_id": pid(1), "startdatum": start, "slutdatum": end}])
    assert got == ({} if expected is None else {pid(1): expected})


@pytest.mark.parametrize("skolform", ["FK", "GR", "GRAN", "SPEC", "SAM"])
def test_each_fulfilling_school_form_covers(skolform):
    assert reasons([child()], [{"person_id": pid(1), "skolform": skolform}]) == {}


@pytest.mark.parametrize("skolform", ["GY", "GYAN"])
def test_gymnasium_only_does_not_cover(skolform):
    assert reasons([child()], [{"person_id": pid(1), "skolform": skolform}]) == {pid(1): "okand"}
    ended = {"person_id": pid(1), "skolform": skolform, "slutdatum": AS_OF - DAY}
    assert reasons([child()], [ended]) == {pid(1): "okand"}


def test_gymnasium_active_after_grundskola_ended_is_placering_avslutad():
    plac = [
        {"person_id": pid(1), "skolform": "GR", "slutdatum": date(2025, 6, 10)},
        {"person_id": pid(1), "skolform": "GY", "startdatum": date(2025, 8, 18)},
    ]
    assert reasons([child()], plac) == {pid(1): "placering_avslutad"}


@pytest.mark.parametrize(("fran", "till", "covered"), [
    (date(2024, 1, 1), AS_OF - DAY, False),   # expired yesterday
    (date(2024, 1, 1), AS_OF, True),          # last valid day
    (AS_OF + DAY, None, False),               # starts tomorrow
    (AS_OF, None, True),                      # starts today, open-ended
    (date(2020, 1, 1), None, True),           # open-ended
])
def test_decision_validity_boundaries(fran, till, covered):
    got = reasons([child()], bes=[{"person_id": pid(1), "giltig_fran": fran, "giltig_till": till}])
    assert got == ({} if covered else {pid(1): "okand"})


def test_decision_type_not_in_policy_does_not_cover():
    narrow = POLICY.model_copy(update={"beslut_som_uppfyller": ["annat_satt"]})
    bes = [{"person_id": pid(1), "beslutstyp": "utlandsvistelse"}]
    assert reasons([child()], bes=bes, policy=narrow) == {pid(1): "okand"}
    assert reasons([child()], bes=bes) == {}


@pytest.mark.parametrize(("days_ago", "expected"), [
    (0, "nyinflyttad"), (29, "nyinflyttad"), (30, "okand"), (31, "okand"),
])
def test_grace_period_boundary(days_ago, expected):
    got = reasons([child(folkbokford_datum=AS_OF - days_ago * DAY)])
    assert got == {pid(1): expected}


def test_nyinflyttad_wins_over_placering_avslutad_and_blank_date_is_not_new():
    plac = [{"person_id": pid(1), "slutdatum": AS_OF - DAY},
            {"person_id": pid(2), "slutdatum": AS_OF - DAY}]
    pers = [child(1, folkbokford_datum=AS_OF - 5 * DAY), child(2, folkbokford_datum=None)]
    assert reasons(pers, plac) == {pid(1): "nyinflyttad", pid(2): "placering_avslutad"}


def test_covered_newcomer_is_not_reported():
    pers = [child(folkbokford_datum=AS_OF - DAY)]
    assert reasons(pers, [{"person_id": pid(1)}]) == {}


@pytest.mark.parametrize("second_school", ["12345678", "87654321"])
def test_two_active_placements_is_dubbel_placering_even_when_covered(second_school):
    plac = [{"person_id": pid(1)}, {"person_id": pid(1), "skolenhetskod": second_school}]
    assert reasons([child()], plac, [{"person_id": pid(1)}]) == {pid(1): "dubbel_placering"}


def test_active_plus_gymnasium_or_ended_placement_is_not_dubbel():
    plac = [{"person_id": pid(1)}, {"person_id": pid(1), "skolform": "GY"},
            {"person_id": pid(1), "slutdatum": AS_OF - DAY}]
    assert reasons([child()], plac) == {}


def test_child_not_in_population_register_is_never_flagged():
    # asylum seeker: placement and attendance, no skolplikt, not in personer
    plac = placeringar([{"person_id": pid(9)}, {"person_id": pid(8), "slutdatum": AS_OF - DAY}])
    out = find_exceptions(personer([child(1)]), plac, beslut([]), AS_OF, POLICY)
    assert set(out["person_id"]) == {pid(1)}


def test_output_shape_and_dtypes():
    pers = [child(1, folkbokford_datum=date(2015, 3, 3)), child(2, born=date(2019, 1, 1))]
    out = find_exceptions(personer(pers), placeringar([]), beslut([]), AS_OF, POLICY)
    assert list(out.columns) == ["person_id", "forvantad_arskurs", "folkbokford_datum", "orsak"]
    assert out["person_id"].dtype == "string" and out["orsak"].dtype == "string"
    assert out["forvantad_arskurs"].dtype == "string"
    assert dict(zip(out["person_id"], out["forvantad_arskurs"], strict=True)) == {
        pid(1): "4", pid(2): "FK"}


def test_list_is_ordered_by_reason_precedence():
    pers = [child(1), child(2, folkbokford_datum=AS_OF), child(3), child(4)]
    plac = [{"person_id": pid(3), "slutdatum": AS_OF - DAY}, {"person_id": pid(4)},
            {"person_id": pid(4)}]
    out = find_exceptions(personer(pers), placeringar(plac), beslut([]), AS_OF, POLICY)
    assert out["orsak"].tolist() == ["dubbel_placering", "nyinflyttad", "placering_avslutad",
                                     "okand"]


# --- data quality ------------------------------------------------------------------------

def narvaro_pupils(rows: list[tuple[int, str]]) -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": pd.Series([pid(i) for i, _ in rows], dtype="string"),
        "skolenhetskod": pd.Series([s for _, s in rows], dtype="string"),
    })


def test_data_quality_findings():
    pers = personer([child(1), child(2), child(3, kommunkod=OTHER), child(4)])
    plac = placeringar([
        {"person_id": pid(1), "skolenhetskod": "11111111"},
        {"person_id": pid(2), "slutdatum": AS_OF - DAY},               # ended yesterday
        {"person_id": pid(3), "skolenhetskod": "33333333"},             # non-resident pupil
        {"person_id": pid(9), "skolenhetskod": "99999999"},             # not in register
        {"person_id": pid(8), "slutdatum": AS_OF - DAY},                # ended, unknown
    ])
    att = narvaro_pupils([(1, "22222222"), (2, "12345678"), (2, "12345678"), (4, "44444444"),
                          (9, "99999999")])
    out = data_quality_findings(pers, plac, att, AS_OF, POLICY)
    got = set(zip(out["person_id"], out["skolenhetskod"], out["fynd"], strict=True))
    assert got == {
        (pid(2), "12345678", "narvaro_utan_placering"),
        (pid(4), "44444444", "narvaro_utan_placering"),
        (pid(9), "99999999", "placering_okand_person"),
    }
    assert list(out.columns) == ["person_id", "skolenhetskod", "fynd"]


# --- properties --------------------------------------------------------------------------

dates = st.dates(date(1998, 1, 1), date(2031, 12, 31))
opt_dates = st.none() | dates
people = st.lists(
    st.fixed_dictionaries({
        "fodelsedatum": st.dates(date(2000, 1, 1), date(2030, 12, 31)),
        "kommunkod": st.sampled_from([OWN, OTHER]),
        "folkbokford_datum": opt_dates,
    }), max_size=12)
placement_rows = st.lists(
    st.fixed_dictionaries({
        "who": st.integers(0, 13), "skolform": st.sampled_from(["FK", "GR", "SPEC", "GY"]),
        "startdatum": dates, "slutdatum": opt_dates,
    }), max_size=15)
decision_rows = st.lists(
    st.fixed_dictionaries({
        "who": st.integers(0, 13), "giltig_fran": dates, "giltig_till": opt_dates,
    }), max_size=6)


def _oracle(person, plac, bes, as_of):
    """Per-child reference implementation of DESIGN.md, written independently."""
    active = [p for p in plac if p["skolform"] != "GY" and p["startdatum"] <= as_of
              and (p["slutdatum"] is None or as_of <= p["slutdatum"])]
    ended = [p for p in plac if p["skolform"] != "GY" and p["slutdatum"] is not None
             and p["slutdatum"] < as_of]
    valid = [b for b in bes if b["giltig_fran"] <= as_of
             and (b["giltig_till"] is None or as_of <= b["giltig_till"])]
    reg = person["folkbokford_datum"]
    if len(active) >= 2:
        return "dubbel_placering"
    if active or valid:
        return None
    if reg is not None and (as_of - reg).days < POLICY.grace_days:
        return "nyinflyttad"
    return "placering_avslutad" if ended else "okand"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people, placement_rows, decision_rows, st.dates(date(2020, 1, 1), date(2031, 12, 31)))
def test_exceptions_match_the_rules(pers, plac, bes, as_of):
    for i, p in enumerate(pers):
        p["person_id"] = pid(i)
    for row in plac + bes:
        row["person_id"] = pid(row["who"])
    y = lasar_start(as_of)
    kids = skolpliktiga(personer(pers), as_of, POLICY)
    out = find_exceptions(personer(pers), placeringar(plac), beslut(bes), as_of, POLICY)

    by_id = {p["person_id"]: p for p in pers}
    residents_in_range = {p["person_id"] for p in pers if p["kommunkod"] == OWN
                          and y - 15 <= p["fodelsedatum"].year <= y - 6}
    assert set(kids["person_id"]) == residents_in_range
    for person_id, label in zip(kids["person_id"], kids["forvantad_arskurs"], strict=True):
        grade = y - by_id[person_id]["fodelsedatum"].year - 6
        assert label == grade_label(grade, y, POLICY.forskoleklass_avskaffas_lasar)
        assert (label == "FK") == (grade == 0 and y < 2028)

    assert out["person_id"].is_unique
    assert set(out["orsak"]) <= set(ORSAKER)
    assert set(out["person_id"]) <= residents_in_range
    expected = {}
    for person_id in residents_in_range:
        mine = [r for r in plac if r["person_id"] == person_id]
        decided = [r for r in bes if r["person_id"] == person_id]
        reason = _oracle(by_id[person_id], mine, decided, as_of)
        if reason is not None:
            expected[person_id] = reason
    assert dict(zip(out["person_id"], out["orsak"], strict=True)) == expected


_PSEUDO = st.sampled_from([f"{i:032x}" for i in range(6)] + ["kort", None])


@settings(max_examples=200, deadline=None)
@given(columns=st.lists(st.lists(_PSEUDO, max_size=8), min_size=1, max_size=3),
       collide=st.booleans())
def test_number_pseudonyms_is_an_exact_numbering(columns, collide):
    """Equal values get equal numbers and different values different ones, whether the words
    path (fixed-width pseudonyms), a forced mix collision or the string fallback decides."""
    import skyddsnat.privacy.pseudonym as ps

    series = [pd.Series(c, dtype="string") for c in columns]
    with pytest.MonkeyPatch.context() as mp:
        if collide:  # every value mixes to the same word: the check must catch it
            mp.setattr(ps, "_MIX", np.zeros(4, dtype=np.uint64))
        codes, n = ps.number_pseudonyms(*series)
    values = [v for c in columns for v in c]
    flat = np.concatenate(codes) if codes else np.array([], dtype=int)
    assert [len(c) for c in codes] == [len(c) for c in columns]
    for v, c in zip(values, flat, strict=True):
        assert (c == -1) == (v is None)
    seen = {}
    for v, c in zip(values, flat, strict=True):
        if v is not None:
            assert seen.setdefault(v, c) == c
    assert len(set(seen.values())) == len(seen) == n


def test_number_pseudonyms_takes_the_word_path_for_pseudonyms():
    from skyddsnat.privacy.pseudonym import _pseudonym_words, pseudonym

    ids = pd.Series([pseudonym(b"k" * 32, str(i)) for i in range(5)], dtype="string")
    words = _pseudonym_words(pd.concat([ids, ids.iloc[1:3]], ignore_index=True))
    assert words is not None and words.shape == (7, 4)
    assert _pseudonym_words(pd.Series(["kort"], dtype="string")) is None


def test_cases_name_the_schools_behind_a_double_or_ended_placement():
    kids = personer([{"person_id": pid(i), "fodelsedatum": date(2015, 3, 1),
                      "folkbokford_datum": date(2020, 1, 1)} for i in range(1, 4)])
    places = placeringar([
        {"person_id": pid(1), "skolenhetskod": "11111111"},
        {"person_id": pid(1), "skolenhetskod": "22222222"},
        {"person_id": pid(2), "skolenhetskod": "33333333", "slutdatum": date(2024, 6, 10)},
        {"person_id": pid(2), "skolenhetskod": "44444444", "slutdatum": date(2025, 6, 10)},
    ])
    cases = find_exceptions(kids, places, beslut([]), AS_OF, POLICY)
    cases["skolenheter"] = exception_schools(cases, places, AS_OF, POLICY)
    got = dict(zip(cases["orsak"], cases["skolenheter"], strict=True))
    assert got == {"dubbel_placering": "11111111 Skolan; 22222222 Skolan",
                   "placering_avslutad": "44444444 Skolan",  # the one that ended last
                   "okand": ""}


def test_the_list_is_in_the_order_a_handlaggare_works_it():
    cases = pd.DataFrame({
        "person_id": pd.Series([pid(i) for i in range(5)], dtype="string"),
        "forvantad_arskurs": pd.Series(["3"] * 5, dtype="string"),
        "folkbokford_datum": _dates([date(2020, 1, 1), date(2025, 9, 1), date(2019, 1, 1),
                                     date(2018, 1, 1), date(2021, 1, 1)]),
        "orsak": pd.Series(["dubbel_placering", "nyinflyttad", "placering_avslutad", "okand",
                            "okand"], dtype="string")})
    ordered = in_work_order(cases)
    assert ordered["orsak"].tolist() == ["okand", "okand", "placering_avslutad",
                                         "dubbel_placering", "nyinflyttad"]
    assert ordered["person_id"].tolist()[:2] == [pid(3), pid(4)]  # longest registered first
    assert sorted(ordered["person_id"]) == sorted(cases["person_id"])  # the same cases


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people, placement_rows, decision_rows, st.dates(date(2020, 1, 1), date(2031, 12, 31)),
       st.integers(1, 45))
def test_between_turning_days_the_reference_date_changes_nothing(pers, plac, bes, as_of, gap):
    """What a night may keep: two dates with the same date part give the same list and the
    same schools behind each case — and a day on which the list changes is a turning day."""
    for i, p in enumerate(pers):
        p["person_id"] = pid(i)
    for row in plac + bes:
        row["person_id"] = pid(row["who"])
    tables = personer(pers), placeringar(plac), beslut(bes)
    turning = turning_days(*tables, POLICY)

    def answer(day: date) -> pd.DataFrame:
        cases = find_exceptions(*tables, day, POLICY)
        return cases.assign(skolenheter=exception_schools(cases, tables[1], day, POLICY))

    for later in (as_of + DAY, as_of + gap * DAY):
        if date_part(as_of, turning) == date_part(later, turning):
            pd.testing.assert_frame_equal(answer(as_of), answer(later))
    if not answer(as_of).equals(answer(as_of + DAY)):
        assert date_part(as_of, turning) != date_part(as_of + DAY, turning)
