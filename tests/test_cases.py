"""Case ids and statuses: ny -> kvarstar -> avslutade, idempotent per reference date."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.lists.cases import (
    CaseProblem,
    assign_case_ids,
    empty_history,
    load_history,
    save_history,
    status_against_previous,
    track_cases,
    update_history,
)
from skyddsnat.lists.catalog import list_spec
from skyddsnat.privacy.pseudonym import case_id

KEY = b"k" * 32
SPEC = list_spec("skolplikt")
A, B, C = ("a" * 32, "b" * 32, "c" * 32)


def rows(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"person_id": pd.Series([p for p, _ in pairs], dtype="string"),
                         "orsak": pd.Series([o for _, o in pairs], dtype="string")})


def deliver(history, as_of, *pairs):
    return track_cases(history, SPEC, rows(*pairs), KEY, as_of)


def test_case_id_is_stable_and_depends_on_reason():
    first = assign_case_ids(rows((A, "okand")), SPEC, KEY)["arende_id"].iloc[0]
    again = assign_case_ids(rows((B, "okand"), (A, "okand")), SPEC, KEY)["arende_id"].iloc[1]
    other_reason = assign_case_ids(rows((A, "nyinflyttad")), SPEC, KEY)["arende_id"].iloc[0]
    assert first == again == case_id(KEY, A, "skolplikt|okand")
    assert other_reason != first
    assert assign_case_ids(rows((A, "okand")), SPEC, KEY).columns[0] == "arende_id"


def test_same_case_twice_is_refused():
    with pytest.raises(CaseProblem):
        assign_case_ids(rows((A, "okand"), (A, "okand")), SPEC, KEY)


def test_ny_kvarstar_avslutade_over_three_dates():
    h = empty_history()
    r1, closed1, h = deliver(h, "2025-09-01", (A, "okand"), (B, "okand"))
    assert list(r1["status"]) == ["ny", "ny"] and closed1.empty
    r2, closed2, h = deliver(h, "2025-09-08", (A, "okand"), (C, "okand"))
    assert dict(zip(r2["person_id"], r2["status"], strict=True)) == {A: "kvarstar", C: "ny"}
    assert list(closed2["person_id"]) == [B]
    assert closed2["dagar_oppet"].iloc[0] == 7
    r3, closed3, h = deliver(h, "2025-09-15")
    assert r3.empty
    assert sorted(closed3["person_id"]) == [A, C]
    days = dict(zip(closed3["person_id"], closed3["dagar_oppet"], strict=True))
    assert days == {A: 14, C: 7}
    # Nothing is open any more: a fourth date closes nothing again.
    _r4, closed4, _ = deliver(h, "2025-09-22")
    assert closed4.empty


def test_rerun_of_same_date_gives_same_statuses_and_no_duplicates():
    h = empty_history()
    _, _, h = deliver(h, "2025-09-01", (A, "okand"), (B, "okand"))
    r2, c2, h2 = deliver(h, "2025-09-08", (A, "okand"), (C, "okand"))
    r2b, c2b, h2b = deliver(h2, "2025-09-08", (A, "okand"), (C, "okand"))
    pd.testing.assert_frame_equal(r2, r2b)
    pd.testing.assert_frame_equal(c2, c2b)
    pd.testing.assert_frame_equal(h2, h2b)
    assert not h2b.duplicated(["lista", "arende_id", "first_seen"]).any()


def test_rerun_with_other_content_replaces_that_date():
    h = empty_history()
    _, _, h = deliver(h, "2025-09-01", (A, "okand"))
    _, _, h_first = deliver(h, "2025-09-08", (A, "okand"), (C, "okand"))
    r, closed, h_second = deliver(h_first, "2025-09-08", (B, "okand"))
    assert list(r["status"]) == ["ny"] and list(closed["person_id"]) == [A]
    _, _, h_direct = deliver(h, "2025-09-08", (B, "okand"))
    pd.testing.assert_frame_equal(h_second, h_direct)


def test_case_that_returns_is_new_again():
    h = empty_history()
    _, _, h = deliver(h, "2025-09-01", (A, "okand"))
    _, _, h = deliver(h, "2025-09-08")
    r, _, h = deliver(h, "2025-09-15", (A, "okand"))
    assert list(r["status"]) == ["ny"]
    assert len(h) == 2  # two episodes of the same case
    # An old date re-run reports against its own previous delivery and keeps history.
    status, closed = status_against_previous(h, "skolplikt", r["arende_id"], "2025-09-08")
    assert list(status) == ["kvarstar"] and closed.empty
    assert update_history(h, "skolplikt", r[["arende_id", "person_id"]], "2025-09-08").equals(h)


def test_lists_are_tracked_separately():
    h = empty_history()
    _, _, h = deliver(h, "2025-09-01", (A, "okand"))
    spec_b = list_spec("franvaro", "12345678")
    other = pd.DataFrame({"person_id": pd.Series([A], dtype="string"),
                          "skolenhetskod": ["12345678"]})
    r, closed, h = track_cases(h, spec_b, other, KEY, "2025-09-08")
    assert list(r["status"]) == ["ny"] and closed.empty
    _, closed_sk, _ = deliver(h, "2025-09-08")
    assert list(closed_sk["person_id"]) == [A]


def test_history_round_trip(tmp_path):
    _, _, h = deliver(empty_history(), "2025-09-01", (A, "okand"))
    save_history(tmp_path / "state" / "arenden.parquet", h)
    pd.testing.assert_frame_equal(load_history(tmp_path / "state" / "arenden.parquet"), h)
    assert load_history(tmp_path / "nope.parquet").empty


PIDS = st.sampled_from([A, B, C, "d" * 32, "e" * 32])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(PIDS), min_size=1, max_size=6))
def test_statuses_follow_set_membership(sets):
    """ny iff not in the previous delivery; closed = previous minus current; re-run stable."""
    h = empty_history()
    previous: set[str] = set()
    for i, current in enumerate(sets):
        day = pd.Timestamp("2025-09-01") + pd.Timedelta(days=7 * i)
        pairs = [(p, "okand") for p in sorted(current)]
        r, closed, h_new = deliver(h, day, *pairs)
        expected = {p: ("kvarstar" if p in previous else "ny") for p in current}
        assert dict(zip(r["person_id"], r["status"], strict=True)) == expected
        assert set(closed["person_id"]) == previous - current
        r_again, closed_again, h_again = deliver(h_new, day, *pairs)
        assert r_again["status"].tolist() == r["status"].tolist()
        assert set(closed_again["person_id"]) == previous - current
        pd.testing.assert_frame_equal(h_again, h_new)
        h, previous = h_new, current


def test_a_recorded_case_keeps_its_id_after_the_pseudonyms_are_rekeyed():
    """Rotation re-keys person_id in the history and changes the HMAC key: the case is
    found by list, person and label, keeps its arende_id and stays `kvarstar`."""
    spec = list_spec("skolplikt")
    rows = pd.DataFrame({"person_id": pd.Series(["a" * 32, "b" * 32], dtype="string"),
                         "orsak": ["okand", "nyinflyttad"]})
    rows = rows.reindex(columns=[*rows.columns, *[c for c in spec.columns if c not in
                                                   rows.columns and c not in
                                                   ("arende_id", "status")]])
    first, _closed, history = track_cases(empty_history(), spec, rows, b"k" * 32, "2026-11-19")
    assert set(history["nyckel"]) == {"skolplikt|okand", "skolplikt|nyinflyttad"}
    rekeyed = {"a" * 32: "c" * 32, "b" * 32: "d" * 32}
    history["person_id"] = history["person_id"].map(rekeyed).astype("string")
    moved = rows.assign(person_id=rows["person_id"].map(rekeyed).astype("string"))
    second, closed, _h = track_cases(history, spec, moved, b"n" * 32, "2026-11-20")
    assert second["arende_id"].tolist() == first["arende_id"].tolist()
    assert second["status"].tolist() == ["kvarstar", "kvarstar"] and closed.empty
    # A changed reason is another case: a new id under the new key.
    changed = moved.assign(orsak=["okand", "okand"])
    third, _c, _h = track_cases(history, spec, changed, b"n" * 32, "2026-11-20")
    assert third["arende_id"].iat[0] == first["arende_id"].iat[0]
    assert third["arende_id"].iat[1] != first["arende_id"].iat[1]
    assert third["status"].tolist() == ["kvarstar", "ny"]
