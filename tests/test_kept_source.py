"""A source given the same files as last time keeps its stored table: nothing parsed, staged,
validated or written, each row accounted for with the counts it had, and only while every
number and date in them reads tonight as it did (skyddsnat/ingest/run.py `kept`)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import pandas as pd
import pytest

from skyddsnat.ingest import run
from skyddsnat.ingest.run import ingest_source, keep_account, store_table
from skyddsnat.layout import DataDir
from skyddsnat.policy import load_policy
from skyddsnat.privacy.identity_store import merge_vault
from skyddsnat.privacy.keys import init_keys, load_keys
from skyddsnat.privacy.storage import file_sha256
from tests.test_ingest import FOLK_HEADER, folk_line, pnr

POLICY = load_policy()
NIGHT = date(2025, 6, 8)
OLD = pnr("250610", "123", "19")  # 250610-1234 is a newborn's number from 10 June 2025
MOTHER, FATHER = pnr("811218", "987", "19"), pnr("790101", "123", "19")
CHILDREN = [pnr(f"15{m:02d}0{m}", f"{m}01") for m in range(1, 5)]


def _short(p12: str) -> str:
    return f"{p12[2:8]}-{p12[8:]}"


LINES = [folk_line(_short(c), "Barn", v1=_short(OLD)) for c in CHILDREN] + [
    folk_line(_short(OLD), "Mor"),
    folk_line("nonsens", "Fel"),  # quarantined: ogiltigt_personnummer
]


@pytest.fixture
def keys(tmp_path):
    init_keys(tmp_path / "k", tmp_path / "o.key")
    return load_keys(tmp_path / "k")


def _night(root, keys, day: date, lines: list[str] = LINES):
    """One night of the source asset's sequence: ingest, store the table, keep the account."""
    data = DataDir(root)
    data.inbox.mkdir(parents=True, exist_ok=True)
    path = data.inbox / f"folkbokforing_{day:%Y%m%d}.csv"
    path.write_text("\n".join([FOLK_HEADER, *lines]) + "\n", encoding="utf-8")
    out = ingest_source([path], "folkbokforing", keys, POLICY, data, day)
    store_table(data, out)
    keep_account(data, out)
    merge_vault(keys, data.vault, pd.Series([], dtype="string"))
    path.unlink()
    return out


def _said(out) -> tuple:
    return out.tally.metadata("v"), [(c.check, c.passed, c.metadata) for c in out.tally.checks()]


def test_the_same_snapshot_under_a_new_date_is_kept_unread(tmp_path, keys, monkeypatch):
    first = _night(tmp_path / "d", keys, NIGHT)
    shutil.copytree(tmp_path / "d", tmp_path / "today")  # without the account: as before
    next((tmp_path / "today" / "warehouse").rglob("konto.json")).unlink()
    table = DataDir(tmp_path / "d").table("folkbokforing")
    stamp = table.stat().st_mtime_ns, file_sha256(table)

    def unread(*_, **__):
        raise AssertionError("a kept file was parsed or validated again")

    monkeypatch.setattr(run, "ingest_file", unread)
    monkeypatch.setattr(run, "validation", unread)
    second = _night(tmp_path / "d", keys, NIGHT + timedelta(days=1))
    monkeypatch.undo()
    assert second.kept and second.stored == stamp[1] == first.stored
    assert (table.stat().st_mtime_ns, file_sha256(table)) == stamp  # not written again
    # Every row accounted for, and checks said, as when tonight's file is read row by row.
    read = _night(tmp_path / "today", keys, NIGHT + timedelta(days=1))
    assert not read.kept and _said(second) == _said(read)
    pd.testing.assert_frame_equal(pd.read_parquet(table), read.table)
    assert second.tally.files == ["folkbokforing_20250609.csv"]
    assert (second.tally.read, second.tally.quarantined) == (len(LINES), 1)
    # Tonight's file is archived sealed; the account names it for a night resting on it.
    assert list((tmp_path / "d" / "archive" / "2025-06-09").glob("folkbokforing_20250609*"))
    account = json.loads(next((tmp_path / "d" / "warehouse").rglob("konto.json")).read_text())
    assert account["file"] == "folkbokforing_20250609.csv"


def test_a_number_that_reads_otherwise_tonight_is_read_again(tmp_path, keys):
    """250610-1234 names a 99-year-old on 9 June 2025 and a newborn from the 10th."""
    _night(tmp_path / "d", keys, NIGHT)
    assert _night(tmp_path / "d", keys, date(2025, 6, 9)).kept
    later = _night(tmp_path / "d", keys, date(2025, 6, 10))
    assert not later.kept
    fresh = _night(tmp_path / "fresh", keys, date(2025, 6, 10))
    pd.testing.assert_frame_equal(later.table, fresh.table)
    assert _night(tmp_path / "d", keys, date(2025, 6, 11)).kept


def test_a_refused_future_date_is_read_again_the_day_it_arrives(tmp_path, keys):
    """A move registered for the 9th is orimligt before then, accepted from that day on."""
    moving = folk_line(_short(pnr("150909", "909")), "Ny").replace("2020-01-01", "2025-06-09")
    lines = [folk_line(_short(c), "Barn") for c in CHILDREN] + [moving]
    first = _night(tmp_path / "d", keys, NIGHT, lines)
    assert first.tally.reasons["orimligt_varde"] == 1
    arrived = _night(tmp_path / "d", keys, date(2025, 6, 9), lines)
    assert not arrived.kept and "orimligt_varde" not in arrived.tally.reasons
    assert _night(tmp_path / "d", keys, date(2025, 6, 10), lines).kept


def test_period_files_are_kept_while_they_are_the_same_files(tmp_path, keys):
    data = DataDir(tmp_path / "d")
    data.inbox.mkdir(parents=True)
    for year, who in ((2023, MOTHER), (2024, FATHER)):
        (data.inbox / f"inkomster_{year}.csv").write_text(
            f"inkomstar;personnummer;faststalld_inkomst\n{year};{_short(who)};300000\n"
            f"{year};nonsens;1\n", encoding="utf-8")

    def night(day: date, store: DataDir = data):
        files = sorted(store.inbox.glob("inkomster_*.csv"))
        out = ingest_source(files, "inkomster", keys, POLICY, store, day)
        store_table(store, out)
        keep_account(store, out)
        return out

    night(NIGHT)
    shutil.copytree(tmp_path / "d", tmp_path / "today")  # without the account: as before
    next((tmp_path / "today" / "warehouse").rglob("konto.json")).unlink()
    again = night(NIGHT + timedelta(days=1))
    read = night(NIGHT + timedelta(days=1), DataDir(tmp_path / "today"))
    assert again.kept and not read.kept and _said(again) == _said(read)
    assert len(again.tally.per_file) == 2
    (data.inbox / "inkomster_2023.csv").unlink()
    fewer = night(NIGHT + timedelta(days=2))
    assert not fewer.kept and len(fewer.table) == 1


@pytest.mark.parametrize("change", ["one_byte", "table", "vault", "policy"])
def test_not_kept_when_anything_it_rests_on_changed(tmp_path, keys, change):
    root = tmp_path / "d"
    _night(root, keys, NIGHT)
    assert _night(root, keys, NIGHT + timedelta(days=1)).kept  # the vault checked once
    data, lines, policy = DataDir(root), LINES, POLICY
    if change == "one_byte":
        lines = [*LINES[:-2], LINES[-2].replace("Mor", "Moa"), LINES[-1]]
    elif change == "table":  # the stored table is not the one the account vouches for
        table = pd.read_parquet(data.table("folkbokforing")).iloc[1:]
        table.to_parquet(data.table("folkbokforing"), index=False)
    elif change == "vault":  # restored from a backup without these persons
        for p in data.vault.rglob("*"):
            if p.is_file():
                p.unlink()
    else:
        policy = POLICY.model_copy(update={"version": POLICY.version + "-ny"})
    day = NIGHT + timedelta(days=1)  # the same night again: nothing but `change` differs
    path = data.inbox / f"folkbokforing_{day:%Y%m%d}.csv"
    path.write_text("\n".join([FOLK_HEADER, *lines]) + "\n", encoding="utf-8")
    out = ingest_source([path], "folkbokforing", keys, policy, data, day)
    assert not out.kept and len(out.table) == len(LINES) - 1
    if change == "vault":  # its rows' identities are staged again
        assert list((data.vault).rglob("*.parquet"))


def test_a_partly_changed_snapshot_reads_only_its_new_rows_for_the_horizon(tmp_path, keys):
    """The reused rows read as on their night until its horizon: 250610-1234, reused on the
    9th, still stops the snapshot from being kept on the 10th."""
    _night(tmp_path / "d", keys, NIGHT)
    moved = [folk_line(_short(CHILDREN[0]), "Barn"), *LINES[1:]]  # no longer names her
    partly = _night(tmp_path / "d", keys, date(2025, 6, 9), moved)
    assert not partly.kept and partly.results[0].rows_reused == len(LINES) - 2
    assert partly.results[0].stable_until == date(2025, 6, 10)
    assert _night(tmp_path / "d", keys, date(2025, 6, 9), moved).kept
    assert not _night(tmp_path / "d", keys, date(2025, 6, 10), moved).kept
