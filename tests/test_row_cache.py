"""Row-incremental ingest: a snapshot ingested against last night's rows gives exactly the
result of a full ingest, while parsing and staging only what is new."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyddsnat.ingest.row_cache import RowCache, digest_key, row_digester
from skyddsnat.ingest.source_table import ingest_file
from skyddsnat.personnummer import InvalidPersonnummer, luhn_digit, normalize, reading_changes
from skyddsnat.policy import load_policy
from tests.test_ingest import FATHER, FOLK_HEADER, MOTHER, REF, folk_line, pnr

POLICY = load_policy()
KEY = bytes(range(32))
PEOPLE = [pnr(f"15{m:02d}{d:02d}", f"{s:03d}") for m, d, s in
          ((1, 3, 101), (2, 4, 202), (3, 5, 303), (4, 6, 404), (5, 7, 505), (6, 8, 606))]


def _write(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join([FOLK_HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _ingest(path, known=None, reference=REF):
    return ingest_file(path, "folkbokforing", POLICY, KEY, reference, known)


def _first_night() -> RowCache:
    return RowCache(digest_key(KEY))


def _next_night(result) -> RowCache:
    return RowCache(digest_key(KEY), result.row_cache)


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.quarantined_by_reason == b.quarantined_by_reason
    assert (a.rows_read, a.accepted) == (b.rows_read, b.accepted)
    pd.testing.assert_frame_equal(a.quarantine.drop(columns=["orsak"]),
                                  b.quarantine.drop(columns=["orsak"]))
    assert list(a.quarantine["orsak"]) == list(b.quarantine["orsak"])


def test_unchanged_snapshot_reuses_every_valid_row_and_stages_nothing(tmp_path):
    lines = [folk_line(p, "Barn", v1=MOTHER) for p in PEOPLE] + [folk_line(MOTHER, "Mor")]
    first = _ingest(_write(tmp_path, "folkbokforing_20250915.csv", lines), _first_night())
    again = _ingest(_write(tmp_path, "folkbokforing_20250916.csv", lines), _next_night(first))
    _same(again, first)
    assert again.rows_reused == first.accepted == len(lines)
    assert again.identities.empty  # already in the vault since last night


def test_changed_row_is_parsed_and_its_identity_staged(tmp_path):
    lines = [folk_line(p, "Barn", v1=MOTHER) for p in PEOPLE] + [folk_line(MOTHER, "Mor")]
    first = _ingest(_write(tmp_path, "a.csv", lines), _first_night())
    moved = lines.copy()
    moved[2] = moved[2].replace("Hemliga vägen 12", "Nya gatan 1")
    night = _ingest(_write(tmp_path, "b.csv", moved), _next_night(first))
    full = _ingest(tmp_path / "b.csv")
    _same(night, full)
    assert night.rows_reused == len(lines) - 1
    # The moved child with its new address, and the guardian named in its row (number only:
    # her own row is unchanged, so the vault keeps her name and address).
    staged = night.identities.set_index("personnummer")
    assert set(staged.index) == {PEOPLE[2], MOTHER}
    assert staged.loc[PEOPLE[2], "utdelningsadress"] == "Nya gatan 1"
    assert pd.isna(staged.loc[MOTHER, "utdelningsadress"])


def test_duplicates_across_reused_and_new_rows_are_decided_in_file_order(tmp_path):
    lines = [folk_line(p, "Barn") for p in PEOPLE]
    first = _ingest(_write(tmp_path, "a.csv", lines), _first_night())
    # A new first row for a person whose later row is unchanged: the new row wins, the
    # reused one becomes the duplicate, exactly as in a full ingest.
    later = [folk_line(PEOPLE[3], "Ny"), *lines]
    night = _ingest(_write(tmp_path, "b.csv", later), _next_night(first))
    _same(night, _ingest(tmp_path / "b.csv"))
    assert night.quarantined_by_reason == {"dubblett": 1}


def test_ten_digit_numbers_are_reused_on_a_new_date(tmp_path):
    """Real exports write most numbers YYMMDD-NNNC: a new night must not parse them again."""
    short = [p[2:8] + "-" + p[8:] for p in PEOPLE]
    lines = [folk_line(p, "Kort", v1=MOTHER[2:]) for p in short] + [folk_line(FATHER, "Lång")]
    first = _ingest(_write(tmp_path, "a.csv", lines), _first_night())
    next_day = _ingest(tmp_path / "a.csv", _next_night(first), REF + timedelta(days=1))
    _same(next_day, _ingest(tmp_path / "a.csv", None, REF + timedelta(days=1)))
    assert next_day.rows_reused == len(lines)
    assert next_day.identities.empty


def _digest(row: list[str], day: date, key: bytes = KEY) -> str:
    header = FOLK_HEADER.split(";")
    columns = ("personnummer", "vardnadshavare_1", "vardnadshavare_2")
    return row_digester(digest_key(key), day, columns)(header)(
        [pa.array([v], pa.string()) for v in row])[0]


# Digests the row cache holds from earlier nights (computed row by row before the digest
# was computed on Arrow columns): the same rows must give the same digests, or every
# stored row would be parsed again. Forms with and without century, spaces, a sign, odd
# whitespace and letters, on a date and on one a hundred years later.
STORED = [["201503122384", "Åsa", ""], ["150312-2384", "Åsa", "811218-9876"],
          [" 150312 - 2384 ", "x", "811218+9876"], ["1503122384", "", "\t8112189876\u00a0"],
          ["150399-2384", "Ölle", "19811218-9876"], ["", "", ""], ["15031223845", "a;b", "abc"]]
STORED_DIGESTS = {
    date(2026, 6, 10): ["4628b7844b98a07f2bcd06761637aaef", "941fd21678ed6ff163a777e4688d9c02",
                        "64926efc3f4e2696c2de3786330887a6", "a38288f98a0f286a615f9ee6c29adfdf",
                        "440e01be25735c8cc830442f04e7fe79", "74c91be953153ab3874257d9e66632cd",
                        "43cf53c01dd072931ec076c9fdebbb04"],
    date(2115, 1, 3): ["4628b7844b98a07f2bcd06761637aaef", "bdb80fc05522ba38aaf8620505b449df",
                       "603c52a503db99cb321f22df135a296f", "3b843c6644165b833a9e8413ff34feb9",
                       "440e01be25735c8cc830442f04e7fe79", "74c91be953153ab3874257d9e66632cd",
                       "43cf53c01dd072931ec076c9fdebbb04"]}


@pytest.mark.parametrize("day", sorted(STORED_DIGESTS))
def test_digests_are_those_stored_by_earlier_nights(day):
    digests = row_digester(bytes(range(32)), day, ("personnummer", "vardnadshavare_1"))(
        ["personnummer", "namn", "vardnadshavare_1"])
    columns = [pa.array([r[i] for r in STORED], pa.string()) for i in range(3)]
    assert digests(columns) == STORED_DIGESTS[day]


def test_digests_are_keyed_and_bound_to_the_decided_century_not_the_date():
    twelve = folk_line(PEOPLE[0], "Åsa").split(";")
    ten = folk_line(PEOPLE[0][2:], "Åsa").split(";")
    assert _digest(twelve, REF) != _digest(twelve, REF, bytes(32))
    assert len(_digest(twelve, REF)) == 32
    assert _digest(twelve, REF) == _digest(twelve, REF + timedelta(days=1))
    assert _digest(ten, REF) == _digest(ten, REF + timedelta(days=1))
    assert _digest(ten, REF) == _digest(ten, date(2114, 12, 31))
    # Born 2015-01-03: from that day in 2115 the same ten digits name a newborn.
    assert _digest(ten, date(2115, 1, 2)) != _digest(ten, date(2115, 1, 3))


def _form(p12: str, form: str) -> str:
    ten = p12[2:]
    return {"12": p12, "12-": f"{p12[:8]}-{p12[8:]}", "10": ten, "10-": f"{ten[:6]}-{ten[6:]}",
            "10+": f"{ten[:6]}+{ten[6:]}", "10 ": f" {ten[:6]} - {ten[6:]} "}[form]


FORMS = st.sampled_from(["12", "12-", "10", "10-", "10+", "10 "])


@st.composite
def numbers(draw) -> str:
    """A personnummer or samordningsnummer in any written form (a wrong control digit now
    and then), born 1890–2099."""
    born = draw(st.dates(date(1890, 1, 1), date(2099, 12, 31)))
    day = born.day + (60 if draw(st.booleans()) and draw(st.booleans()) else 0)
    nine = f"{born:%y%m}{day:02d}{draw(st.integers(0, 999)):03d}"
    check = luhn_digit(nine) if draw(st.integers(0, 9)) else str((int(luhn_digit(nine)) + 1) % 10)
    return _form(f"{born.year // 100}{nine}{check}", draw(FORMS))


REFERENCES = st.dates(date(1995, 1, 1), date(2135, 12, 31))


def _pnr_at(value: str, day: date) -> str | None:
    try:
        return normalize(value, day)
    except InvalidPersonnummer:
        return None


@settings(max_examples=300, deadline=None)
@given(child=numbers(), guardian=numbers(), d1=REFERENCES, d2=REFERENCES)
def test_equal_digests_exactly_when_every_number_reads_the_same(child, guardian, d1, d2):
    """The digest changes between two dates exactly when the date changes how one of the
    row's numbers reads (its century, on the 100-year boundary): never a stale century,
    and no needless miss. (A number refused on the earlier date, a birth after it, can
    only be accepted later; a cache is never used on a night before its own.)"""
    row = folk_line(child, "Barn", v1=guardian).split(";")
    same = all(_pnr_at(v, d1) == _pnr_at(v, d2) for v in (child, guardian)
               if _pnr_at(v, min(d1, d2)) is not None)
    equal = _digest(row, d1) == _digest(row, d2)
    assert same or not equal
    if all(_pnr_at(v, max(d1, d2)) for v in (child, guardian)):  # a refused row is not kept
        assert equal or not same


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(child=numbers(), guardian=numbers(), moved=st.dates(date(1995, 1, 1), date(2135, 12, 31)),
       d1=REFERENCES, d2=REFERENCES)
def test_a_row_cache_from_any_night_serves_any_other_night_its_full_ingest(
        tmp_path, child, guardian, moved, d1, d2):
    """Any row (any number forms, a date that must not lie in the future), cached on one
    night and read on any other, earlier or later: the result is that night's full
    ingest, through the stored cache as the source asset uses it."""
    from skyddsnat.ingest.caches import load_rows, store_rows
    from skyddsnat.privacy.identity_store import VAULT_FILE

    class Keys:
        pseudonym_key = KEY

    line = folk_line(child, "Barn", v1=guardian).replace("2020-01-01", moved.isoformat())
    path = _write(tmp_path, "f.csv", [line, folk_line(MOTHER, "Mor")])
    first = _ingest(path, _first_night(), d1)
    cache, vault = tmp_path / "cache", tmp_path / "vault"
    vault.mkdir(exist_ok=True)
    pd.DataFrame({"person_id": pd.concat([first.table["person_id"],
                                          first.table["vardnadshavare_1"]]).dropna()}
                 ).to_parquet(vault / VAULT_FILE)
    store_rows(cache, "k", d1, first)
    known = load_rows(cache, "k", Keys, vault, "folkbokforing", POLICY, d2)
    _same(_ingest(path, known, d2), _ingest(path, None, d2))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(yesterday=st.lists(st.integers(0, 9), max_size=12),
       today=st.lists(st.integers(0, 9), max_size=12))
def test_row_incremental_equals_full_ingest(tmp_path, yesterday, today):
    """Any two nights (rows drawn from a pool with invalid and duplicate rows): the
    incremental result is the full result."""
    pool = [folk_line(p, "Barn", v1=MOTHER) for p in PEOPLE] + [
        folk_line(MOTHER, "Mor"), folk_line(PEOPLE[0], "Samma person, annan rad"),
        folk_line(pnr("150101", "111")[:-1] + "0", "Fel kontrollsiffra"),
        folk_line(PEOPLE[1], "Framtid", fodd=str(REF + timedelta(days=400)))]
    first = _ingest(_write(tmp_path, "y.csv", [pool[i] for i in yesterday] or [pool[0]]),
                    _first_night())
    path = _write(tmp_path, "t.csv", [pool[i] for i in today] or [pool[1]])
    _same(_ingest(path, _next_night(first), date(2025, 9, 16)),
          _ingest(path, None, date(2025, 9, 16)))


def test_rows_naming_a_person_the_vault_lacks_are_not_reused(tmp_path):
    """A vault deleted or restored from an older backup: those rows are parsed (and their
    identities staged) again instead of being trusted."""
    from skyddsnat.ingest.caches import load_rows as _load_rows
    from skyddsnat.ingest.caches import store_rows
    from skyddsnat.privacy.identity_store import VAULT_FILE

    class Keys:
        pseudonym_key = KEY

    lines = [folk_line(p, "Barn", v1=MOTHER) for p in PEOPLE] + [folk_line(MOTHER, "Mor")]
    first = _ingest(_write(tmp_path, "a.csv", lines), _first_night())
    store_rows(tmp_path, "k", REF, first)
    vault = tmp_path / "vault"
    vault.mkdir()
    assert len(_load_rows(tmp_path, "k", Keys, vault, "folkbokforing", POLICY, REF).rows) == 0
    held = first.table["person_id"].iloc[[0, 1, 6]]  # two children and the mother
    pd.DataFrame({"person_id": held}).to_parquet(vault / VAULT_FILE)
    kept = _load_rows(tmp_path, "k", Keys, vault, "folkbokforing", POLICY, REF).rows
    assert sorted(kept["person_id"]) == sorted(held)
    night = _ingest(tmp_path / "a.csv", RowCache(digest_key(KEY), kept))
    _same(night, first)
    # Four children again, and the mother named as their guardian (number only).
    assert night.rows_reused == 3 and len(night.identities) == 5


def test_a_duplicate_of_a_reused_row_stages_no_identity(tmp_path):
    """Yesterday's accepted row is reused; tonight's later row for the same person is a
    duplicate: its name must not reach the vault (a full ingest keeps the first row's)."""
    lines = [folk_line(p, "Barn") for p in PEOPLE]
    first = _ingest(_write(tmp_path, "a.csv", lines), _first_night())
    night = _ingest(_write(tmp_path, "b.csv", [*lines, folk_line(PEOPLE[2], "Annan")]),
                    _next_night(first))
    _same(night, _ingest(tmp_path / "b.csv"))
    assert night.quarantined_by_reason == {"dubblett": 1}
    assert night.identities.empty


@settings(max_examples=400, deadline=None)
@given(value=numbers(), day=REFERENCES, later=st.integers(1, 80 * 366))
def test_a_number_reads_the_same_until_its_reading_changes(value, day, later):
    """What caches a period file until (caches.py): before that day no later night reads
    any number of the file otherwise."""
    until = reading_changes(value, day)
    assert until is None or until > day
    other = day + timedelta(days=later)
    if until is None or other < until:
        assert _pnr_at(value, other) == _pnr_at(value, day)
    if until is not None and _pnr_at(value, day) is not None:  # exactly then, not later
        assert _pnr_at(value, until - timedelta(days=1)) == _pnr_at(value, day)
        assert _pnr_at(value, until) != _pnr_at(value, day)


@settings(max_examples=150, deadline=None)
@given(files=st.lists(st.tuples(st.lists(numbers(), max_size=6), st.lists(numbers(), max_size=6),
                                st.sampled_from([REF, date(2099, 12, 31), date(2100, 1, 1)])),
                      min_size=1, max_size=5))
def test_a_files_horizon_is_its_earliest_reading_change_across_a_run(files):
    """A period file is cached until the first night any of its numbers may read otherwise
    (caches.py); the run's remembered heads (memo.py `changes`) give exactly the fresh
    answer, file after file and across a change of reference date."""
    from skyddsnat.ingest.memo import PnrMemo
    from skyddsnat.ingest.source_table import _stable_until

    memo = PnrMemo()
    for first, second, day in files:
        n = max(len(first), len(second))
        frame = pd.DataFrame({"a": first + [None] * (n - len(first)),
                              "b": second + ["  "] * (n - len(second))}, dtype="string")
        fresh = [c for v in first + second
                 if (c := reading_changes(v, day)) is not None]
        changes = memo.scoped(day, KEY).changes
        assert _stable_until(frame, ("a", "b"), day, changes) == min(fresh, default=None)
