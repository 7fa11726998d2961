"""Finding inbox files: newest snapshot on or before the reference date; complete files only."""

from __future__ import annotations

import os
import time
from datetime import date

import pytest

from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.inbox import daily_file, fingerprint, is_complete
from skyddsnat.ingest.inbox import files_for as _files_for
from skyddsnat.ingest.inbox import newest_snapshot as _newest
from skyddsnat.policy import load_policy

POLICY = load_policy()


def files_for(inbox, source, as_of=None):
    return _files_for(inbox, entry(POLICY, source), as_of)


def newest_snapshot(inbox, source, as_of):
    return _newest(inbox, entry(POLICY, source), as_of)

AS_OF = date(2025, 9, 15)


@pytest.fixture
def inbox(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    for name in ("folkbokforing_20250901.csv", "folkbokforing_20250914.csv",
                 "folkbokforing_20250915.csv", "folkbokforing_20250916.csv",
                 "FOLKBOKFORING_20250910.CSV", "folkbokforing_20250931.csv",
                 "folkbokforing_2025091.csv", "folkbokforing_20250912.csv.part",
                 "elevregister_20250920.csv",
                 "narvaro_20250912.csv", "narvaro_20250915.csv",
                 "avgifter_202508.csv", "avgifter_202509.csv", "avgifter_202510.csv",
                 "inkomster_2024.csv", "inkomster_2026.csv",
                 "betyg_VT2025.csv", "betyg_HT2025.csv", "betyg_ht2026.csv"):
        (box / name).write_text("a;b\n1;2\n")
    (box / "folkbokforing_20250913.csv").mkdir()  # a directory is not a file
    return box


def test_newest_snapshot_on_or_before_as_of(inbox):
    assert newest_snapshot(inbox, "folkbokforing", AS_OF).name == "folkbokforing_20250915.csv"
    assert newest_snapshot(inbox, "folkbokforing", date(2025, 9, 14)).name == \
        "folkbokforing_20250914.csv"
    assert newest_snapshot(inbox, "folkbokforing", date(2025, 9, 12)).name == \
        "FOLKBOKFORING_20250910.CSV"
    assert newest_snapshot(inbox, "folkbokforing", date(2025, 8, 31)) is None
    assert newest_snapshot(inbox, "elevregister", AS_OF) is None
    assert newest_snapshot(inbox.parent / "missing", "folkbokforing", AS_OF) is None


def test_files_for_is_sorted_and_skips_impossible_names(inbox):
    days = [d for d, _ in files_for(inbox, "folkbokforing")]
    assert days == sorted(days)
    assert date(2025, 9, 16) in days
    names = {p.name for _, p in files_for(inbox, "folkbokforing")}
    assert "folkbokforing_20250931.csv" not in names
    assert "folkbokforing_2025091.csv" not in names
    assert "folkbokforing_20250912.csv.part" not in names
    assert "folkbokforing_20250913.csv" not in names


def test_monthly_yearly_and_term_stamps(inbox):
    assert [p.name for _, p in files_for(inbox, "avgifter", AS_OF)] == [
        "avgifter_202508.csv", "avgifter_202509.csv"]
    assert [p.name for _, p in files_for(inbox, "inkomster", AS_OF)] == ["inkomster_2024.csv"]
    assert [p.name for _, p in files_for(inbox, "betyg", AS_OF)] == [
        "betyg_VT2025.csv", "betyg_HT2025.csv"]
    assert [p.name for _, p in files_for(inbox, "betyg", date(2025, 6, 30))] == [
        "betyg_VT2025.csv"]


def test_daily_file_only_for_that_day(inbox):
    assert daily_file(inbox, entry(POLICY, "narvaro"), AS_OF).name == "narvaro_20250915.csv"
    day = date(2025, 9, 12)
    assert daily_file(inbox, entry(POLICY, "narvaro"), day).name == "narvaro_20250912.csv"
    assert daily_file(inbox, entry(POLICY, "narvaro"), date(2025, 9, 13)) is None


def _aged(path, seconds):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_complete_file_ends_in_newline_and_has_settled(tmp_path):
    f = tmp_path / "narvaro_20250915.csv"
    f.write_bytes(b"datum;personnummer\n2025-09-15;x\n")
    _aged(f, 120)
    assert is_complete(f, settle_seconds=30)
    f.write_bytes(b"datum;personnummer\r\n2025-09-15;x\r\n")
    _aged(f, 120)
    assert is_complete(f, settle_seconds=30)


def test_no_trailing_newline_is_incomplete(tmp_path):
    f = tmp_path / "narvaro_20250915.csv"
    f.write_bytes(b"datum;personnummer\n2025-09-15;x")
    _aged(f, 3600)
    assert not is_complete(f, settle_seconds=30)


def test_recently_modified_is_incomplete(tmp_path):
    f = tmp_path / "narvaro_20250915.csv"
    f.write_bytes(b"datum;personnummer\n2025-09-15;x\n")
    mtime = f.stat().st_mtime
    assert not is_complete(f, settle_seconds=30, now=mtime + 29.9)
    assert is_complete(f, settle_seconds=30, now=mtime + 30)
    assert not is_complete(f, settle_seconds=30)  # just written


def test_empty_or_vanished_file_is_incomplete(tmp_path):
    f = tmp_path / "narvaro_20250915.csv"
    f.write_bytes(b"")
    _aged(f, 3600)
    assert not is_complete(f, settle_seconds=0)
    assert not is_complete(tmp_path / "gone.csv", settle_seconds=0)


def test_fingerprint_changes_when_the_file_grows(tmp_path):
    f = tmp_path / "narvaro_20250915.csv"
    f.write_bytes(b"a\n")
    before = fingerprint(f)
    f.write_bytes(b"a\nb\n")
    assert fingerprint(f) != before
