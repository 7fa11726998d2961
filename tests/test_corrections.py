"""Corrections are never lost: a past day file delivered again with changed rows is re-read.

Night 1, then the day file of three school days earlier re-delivered with one pupil's
absence changed, night 2. The pupil's term figures and level after night 2 are exactly those
of a municipality that had the corrected file from the start, and night 2 counts the
re-read day's rows in that day's accounting.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date

import pandas as pd
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from pipelines.jobs import attendance_range
from pipelines.runner import run_nightly
from skyddsnat.generate import TINY, generate
from skyddsnat.layout import DataDir
from skyddsnat.policy import load_policy
from skyddsnat.privacy.keys import init_keys

pytestmark = pytest.mark.slow

NIGHT1, NIGHT2 = date(2026, 11, 19), date(2026, 11, 20)
CORRECTED = date(2026, 11, 17)
SNAPSHOTS = ("folkbokforing", "elevregister", "skolpliktsbeslut", "atgardsprogram",
             "franvaroarenden")


def _correct(path) -> int:
    """One pupil present all day becomes absent (invalid) all day; returns the data rows."""
    raw = path.read_bytes()
    enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    text = raw.decode(enc)
    nl = "\r\n" if "\r\n" in text else "\n"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    h = [c.strip().lower() for c in rows[0]]
    s, g, o = (h.index(c) for c in ("schemalagd_min", "giltig_franvaro_min",
                                    "ogiltig_franvaro_min"))
    row = next(r for r in rows[1:] if len(r) == len(h) and r[s].isdigit() and int(r[s]) > 0
               and r[g] == "0" and r[o] == "0")
    row[o] = row[s]
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator=nl).writerows(rows)
    path.write_bytes(buf.getvalue().encode(enc))
    return len(rows) - 1


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    base = tmp_path_factory.mktemp("rattelser")
    pristine = base / "pristine"
    generate(TINY, pristine, NIGHT2, seed=5)
    inbox = pristine / "inbox"
    for snap in SNAPSHOTS:  # night 1 sees the same snapshots, exported a day earlier
        shutil.copy(inbox / f"{snap}_{NIGHT2:%Y%m%d}.csv", inbox / f"{snap}_{NIGHT1:%Y%m%d}.csv")
    init_keys(base / "keys", base / "officer.key")
    keys = base / "keys"

    twice = base / "twice"
    shutil.copytree(pristine, twice)
    assert run_nightly(twice, keys, NIGHT1, instance=DagsterInstance.ephemeral()).success
    day_file = twice / "inbox" / f"narvaro_{CORRECTED:%Y%m%d}.csv"
    assert not day_file.exists()  # night 1 processed it and removed it from the inbox
    shutil.copy(pristine / "inbox" / day_file.name, day_file)  # the school re-sends it
    rows = _correct(day_file)
    corrected = shutil.copy(day_file, base / day_file.name)  # night 2 removes it when done
    assert attendance_range(DataDir(twice), NIGHT2, load_policy()) == (CORRECTED, NIGHT2)
    instance = DagsterInstance.ephemeral()
    outcome = run_nightly(twice, keys, NIGHT2, instance=instance)
    assert outcome.success, outcome.failures

    scratch = base / "scratch"
    shutil.copytree(pristine, scratch)
    shutil.copy(corrected, scratch / "inbox" / day_file.name)
    assert run_nightly(scratch, keys, NIGHT2, instance=DagsterInstance.ephemeral()).success
    return twice, scratch, instance, rows


def _table(data, name: str) -> pd.DataFrame:
    t = pd.read_parquet(DataDir(data).table(name))
    return t.sort_values(list(t.columns[:2])).reset_index(drop=True)


def test_the_term_state_and_every_figure_follow_the_correction(nights):
    twice, scratch, _, _ = nights
    for name in ("franvaro_tillstand", "franvaro_termin", "franvaro_elever",
                 "franvaro_manadssummor", "kommunbild_tabell"):
        pd.testing.assert_frame_equal(_table(twice, name), _table(scratch, name),
                                      check_dtype=False, obj=name)


def test_the_absence_lists_are_those_of_the_corrected_data(nights):
    twice, scratch, _, _ = nights
    import openpyxl

    def lists(data):
        root = (data / "outbox" / NIGHT2.isoformat()).resolve()
        out = {}
        for p in sorted((root / "rektor").glob("franvaro_*.xlsx")):
            rows = list(openpyxl.load_workbook(p, read_only=True)["Lista"]
                        .iter_rows(values_only=True))
            names = next(r for r in rows if "status" in r)  # the contract's names row
            i = names.index("status")  # differs: night 1 saw some cases first
            out[p.name] = [r[:i] + r[i + 1:] for r in rows]
        return out

    a, b = lists(twice), lists(scratch)
    assert a.keys() == b.keys() and a == b


def test_the_re_read_day_is_counted_in_that_days_accounting(nights):
    _, _, instance, rows = nights
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("narvaro"),
                           asset_partitions=[CORRECTED.isoformat()]), limit=1).records
    assert records, "night 2 recorded no materialization of the corrected day"
    meta = {k: v.value for k, v in
            records[0].event_log_entry.asset_materialization.metadata.items()}
    assert f"narvaro_{CORRECTED:%Y%m%d}.csv" in meta["filer"]
    assert meta["rader_lasta"] >= rows
    assert meta["rader_lasta"] == meta["rader_godkanda"] + meta["rader_karantan"]
