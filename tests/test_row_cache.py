"""Row-incremental ingest: a snapshot ingested against last night's rows gives exactly the
result of a full ingest, while parsing and staging only what is new."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyddsnat.ingest.row_cache import RowCache, digest_key, row_digester
from skyddsnat.ingest.source_table import ingest_file
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


def test_ten_digit_numbers_are_parsed_again_on_another_day(tmp_path):
    ten = PEOPLE[0][2:8] + "-" + PEOPLE[0][8:]
    lines = [folk_line(ten, "Kort"), folk_line(FATHER, "Lång")]
    first = _ingest(_write(tmp_path, "a.csv", lines), _first_night())
    same_day = _ingest(tmp_path / "a.csv", _next_night(first))
    next_day = _ingest(tmp_path / "a.csv", _next_night(first), REF + timedelta(days=1))
    assert same_day.rows_reused == 2
    assert next_day.rows_reused == 1  # the 10-digit row's century is decided again


def test_digests_are_keyed_and_date_bound_only_for_ten_digit_numbers():
    header = ["fornamn", "personnummer"]

    def digest(key, row, day=REF):
        return row_digester(digest_key(key), day, ("personnummer",))(header)(row)

    long, short = ["Åsa", PEOPLE[0]], ["Åsa", PEOPLE[0][2:]]
    assert digest(KEY, long) != digest(bytes(32), long)
    assert len(digest(KEY, long)) == 32
    assert digest(KEY, long) == digest(KEY, long, REF + timedelta(days=1))
    assert digest(KEY, short) != digest(KEY, short, REF + timedelta(days=1))


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
    from skyddsnat.privacy.identity_store import VAULT_FILE

    class Keys:
        pseudonym_key = KEY

    lines = [folk_line(p, "Barn", v1=MOTHER) for p in PEOPLE] + [folk_line(MOTHER, "Mor")]
    first = _ingest(_write(tmp_path, "a.csv", lines), _first_night())
    cache = tmp_path / "rader.parquet"
    first.row_cache.to_parquet(cache)
    vault = tmp_path / "vault"
    vault.mkdir()
    assert len(_load_rows(cache, Keys, vault, "folkbokforing", POLICY).rows) == 0  # no vault at all
    held = first.table["person_id"].iloc[[0, 1, 6]]  # two children and the mother
    pd.DataFrame({"person_id": held}).to_parquet(vault / VAULT_FILE)
    kept = _load_rows(cache, Keys, vault, "folkbokforing", POLICY).rows
    assert sorted(kept["person_id"]) == sorted(held)
    night = _ingest(tmp_path / "a.csv", RowCache(digest_key(KEY), kept))
    _same(night, first)
    # Four children again, and the mother named as their guardian (number only).
    assert night.rows_reused == 3 and len(night.identities) == 5
