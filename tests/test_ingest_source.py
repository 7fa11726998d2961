"""The ingest entry point over two nights: an unchanged snapshot written YYMMDD-NNNC, as real
exports are, costs the next night no parse, no staging and no vault write, and stores the
same table a full ingest would."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from skyddsnat.ingest import run
from skyddsnat.ingest.run import ingest_source
from skyddsnat.layout import DataDir
from skyddsnat.policy import load_policy
from skyddsnat.privacy.identity_store import STAGING, VAULT_FILE, merge_vault, read_identities
from skyddsnat.privacy.keys import init_keys, load_keys
from tests.test_ingest import FOLK_HEADER, folk_line, pnr

POLICY = load_policy()
NIGHT = date(2025, 9, 15)
CHILDREN = [pnr(f"15{m:02d}{d:02d}", f"{s:03d}") for m, d, s in
            ((1, 3, 101), (2, 4, 202), (3, 5, 303), (4, 6, 404))]
MOTHER = pnr("811218", "987", "19")


def _short(p12: str) -> str:
    return f"{p12[2:8]}-{p12[8:]}"


def _night(root, keys, day: date, lines: list[str]):
    data = DataDir(root)
    data.inbox.mkdir(parents=True, exist_ok=True)
    path = data.inbox / f"folkbokforing_{day:%Y%m%d}.csv"
    path.write_text("\n".join([FOLK_HEADER, *lines]) + "\n", encoding="utf-8")
    out = ingest_source([path], "folkbokforing", keys, POLICY, data, day)
    staged = (data.vault / STAGING / "folkbokforing.parquet").exists()
    merge_vault(keys, data.vault, pd.Series([], dtype="string"))
    path.unlink()
    return out, staged


def test_an_unchanged_ten_digit_snapshot_is_reused_on_the_next_date(tmp_path, monkeypatch):
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys = load_keys(tmp_path / "k")
    lines = ([folk_line(_short(c), "Barn", v1=_short(MOTHER)) for c in CHILDREN]
             + [folk_line(_short(MOTHER), "Mor")])
    first, staged_first = _night(tmp_path / "d", keys, NIGHT, lines)
    vault = tmp_path / "d" / "vault" / VAULT_FILE
    before = vault.stat().st_mtime_ns, vault.read_bytes()
    rows = sorted((tmp_path / "d" / "warehouse").rglob("rader.*"))

    def validation(*_):
        raise AssertionError("the table validated last night was validated again")

    monkeypatch.setattr(run, "validation", validation)
    second, staged_second = _night(tmp_path / "d", keys, NIGHT + timedelta(days=1), lines)
    monkeypatch.undo()
    assert sorted((tmp_path / "d" / "warehouse").rglob("rader.*")) == rows

    assert staged_first and not staged_second  # nothing new to stage
    assert (vault.stat().st_mtime_ns, vault.read_bytes()) == before  # nor decrypted, rewritten
    assert second.results[0].rows_reused == len(lines)
    fresh, _ = _night(tmp_path / "fresh", keys, NIGHT + timedelta(days=1), lines)
    pd.testing.assert_frame_equal(second.table, fresh.table)
    pd.testing.assert_frame_equal(second.table, first.table)
    assert len(read_identities(keys, tmp_path / "d" / "vault")) == len(lines)
    # Honest tallies: tonight validated nothing new, and says how much it reused.
    checks = {c.check: c for c in second.tally.checks()}
    assert all(c.passed for c in checks.values())
    assert checks["gx"].metadata["rader_validerade"] == 0
    assert checks["gx"].metadata["rader_ateranvanda"] == len(lines)
    assert {c.check: c.metadata["rader_validerade"] for c in first.tally.checks()
            if c.check != "rows"} == {"pandera": len(lines), "gx": len(lines)}
    assert checks["gx"].metadata["utvarderade"] == {
        c.check: c for c in first.tally.checks()}["gx"].metadata["utvarderade"]


def test_a_changed_row_is_validated_and_staged_alone(tmp_path):
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys = load_keys(tmp_path / "k")
    lines = [folk_line(_short(c), "Barn") for c in CHILDREN]
    _night(tmp_path / "d", keys, NIGHT, lines)
    moved = [*lines[:-1], lines[-1].replace("Hemliga vägen 12", "Nya gatan 1")]
    second, staged = _night(tmp_path / "d", keys, NIGHT + timedelta(days=1), moved)
    assert staged and second.results[0].rows_reused == len(lines) - 1
    gx = {c.check: c for c in second.tally.checks()}["gx"].metadata
    assert (gx["rader_validerade"], gx["rader_ateranvanda"]) == (1, len(lines) - 1)
    back = read_identities(keys, tmp_path / "d" / "vault").set_index("personnummer")
    assert back.loc[CHILDREN[-1], "utdelningsadress"] == "Nya gatan 1"


def test_a_duplicate_key_across_reused_rows_still_fails_the_table_wide_check(tmp_path):
    """Row-by-row rules run on new rows only; the key's uniqueness over the whole table."""
    from skyddsnat.ingest.validation import validation

    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys = load_keys(tmp_path / "k")
    out, _ = _night(tmp_path / "d", keys, NIGHT, [folk_line(_short(c), "Barn") for c in CHILDREN])
    table = pd.concat([out.table, out.table.iloc[[0]]], ignore_index=True)
    reused = pd.Series([True] * len(table)).to_numpy()
    result = validation(POLICY, "folkbokforing", table, reused)
    assert not result["success"] and result["validated_rows"] == 0
    assert result["pandera_failures"] == 0  # no row-by-row rule ran on reused rows


def test_a_cached_period_file_is_read_again_when_a_number_in_it_would_read_otherwise(tmp_path):
    """inkomster_2024.csv names someone born 10 June 1925 as 250610-NNNC: 99 years old on
    9 June 2025, a newborn's number from the 10th. The file cache serves the next normal
    night, not a night past that day."""
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys = load_keys(tmp_path / "k")
    old = pnr("250610", "123", "19")
    data = DataDir(tmp_path / "d")
    data.inbox.mkdir(parents=True)
    path = data.inbox / "inkomster_2024.csv"
    path.write_text("inkomstar;personnummer;faststalld_inkomst\n"
                    f"2024;{_short(old)};300000\n2024;{_short(MOTHER)};400000\n",
                    encoding="utf-8")

    def night(day: date, store: DataDir = data):
        return ingest_source([path], "inkomster", keys, POLICY, store, day)

    first = night(date(2025, 6, 8))
    again = night(date(2025, 6, 9))
    assert again.results[0].checked["validated_rows"] == 0  # from the cache
    pd.testing.assert_frame_equal(again.table, first.table)
    later = night(date(2025, 6, 10))
    assert later.results[0].checked["validated_rows"] == 2  # read again
    pd.testing.assert_frame_equal(later.table,
                                  night(date(2025, 6, 10), DataDir(tmp_path / "fresh")).table)
    assert later.table["person_id"].iloc[0] != first.table["person_id"].iloc[0]
    assert night(date(2025, 6, 7)).results[0].checked["validated_rows"] == 2  # an earlier night
