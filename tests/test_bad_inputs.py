"""Issue 10's corpus of bad inputs, generated per source from the contract.

Each case ends in a clear SourceFileError that names file and line and holds no value from
the file, or in accepted + quarantined == rows read with the expected reason code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from skyddsnat.contract import SOURCES, Column
from skyddsnat.ingest.errors import SourceFileError
from skyddsnat.ingest.parse import NOT_FUTURE
from skyddsnat.ingest.source_table import IngestResult, ingest_file
from skyddsnat.personnummer import luhn_digit
from skyddsnat.policy import load_policy
from skyddsnat.privacy.pseudonym import pseudonym

REF = date(2025, 9, 15)
POLICY = load_policy()
KEY = bytes(range(32))
NAME = "Östergårdh"  # a planted name: must never appear in a message


def pnr(yymmdd: str, serial: str = "238", century: str = "20") -> str:
    nine = yymmdd + serial
    return century + nine + luhn_digit(nine)


PLANTED = pnr("150312")          # a child born 2015-03-12
GUARDIAN = pnr("811218", "987", "19")
SAMORDNING = pnr("150372")       # day 12 + 60


def flip(p: str) -> str:
    return p[:-1] + str((int(p[-1]) + 1) % 10)


def value(col: Column, i: int) -> str:
    if col.codes:
        return col.codes[0]
    if col.kind == "pnr":
        return PLANTED if i == 0 and col.name in ("personnummer", "barn") else (
            pnr(f"1503{12 + i:02d}") if col.name in ("personnummer", "barn") else GUARDIAN)
    if col.kind == "int":
        return str(max(col.min_value or 0, 5))
    return {"date": "2025-09-01", "str": NAME, "flag": "", "code4": "2260",
            "code8": "12345678", "month": "2025-08", "term": "HT2025"}[col.kind]


def row(source: str, i: int = 0, **override: str) -> dict[str, str]:
    vals = {c.name: value(c, i) for c in SOURCES[source].columns}
    vals.update({"narvaro": {"schemalagd_min": "300", "giltig_franvaro_min": "10",
                             "ogiltig_franvaro_min": "0"},
                 "inkomster": {"inkomstar": "2024", "faststalld_inkomst": "400000"},
                 "avgifter": {"anmald_inkomst": "30000", "debiterad_avgift": "900"},
                 "elevregister": {"arskurs": "4"}, "betyg": {"arskurs": "6"},
                 "franvaroarenden": {"steg": "2"},
                 "skolpliktsbeslut": {"giltig_till": ""},
                 "atgardsprogram": {"avslutad_datum": ""}}.get(source, {}))
    vals.update(override)
    return vals


def write(tmp: Path, source: str, rows: list[dict[str, str]], *, columns=None,
          sep: str = ";", encoding: str = "utf-8", newline: str = "\n",
          end: str = "\n") -> Path:
    columns = list(columns or SOURCES[source].column_names)
    lines = [sep.join(columns)] + [sep.join(r.get(c, "") for c in columns) for r in rows]
    path = tmp / f"{source}_20250915.csv"
    path.write_bytes((newline.join(lines) + end).encode(encoding))
    return path


def ingest(path: Path, source: str) -> IngestResult:
    result = ingest_file(path, source, POLICY, KEY, REF)
    assert result.accepted + result.quarantined == result.rows_read
    meta = str(result.metadata())
    for secret in (PLANTED, PLANTED[2:], NAME, GUARDIAN):
        assert secret not in meta
    return result


def file_error(path: Path, source: str) -> SourceFileError:
    with pytest.raises(SourceFileError) as info:
        ingest_file(path, source, POLICY, KEY, REF)
    msg = str(info.value)
    assert path.name in msg
    assert "rad " in msg
    for secret in (PLANTED, PLANTED[2:], PLANTED[2:8], NAME, GUARDIAN[2:]):
        assert secret not in msg
    return info.value


def only_reason(result: IngestResult, reason: str, n: int = 1) -> None:
    assert result.quarantined_by_reason == {reason: n}, result.quarantined_by_reason


SOURCE_NAMES = list(SOURCES)
PNR_COLUMNS = [(s, c) for s in SOURCES for c in SOURCES[s].pnr_columns]
DATE_COLUMNS = [(s, c.name) for s in SOURCES for c in SOURCES[s].columns if c.kind == "date"]
CODE_COLUMNS = [(s, c.name) for s in SOURCES for c in SOURCES[s].columns
                if c.codes or c.kind == "flag"]
BOUNDED = [(s, c.name) for s in SOURCES for c in SOURCES[s].columns
           if c.kind == "int" and c.min_value is not None]


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_valid_file_is_accepted_whole(tmp_path, source):
    result = ingest(write(tmp_path, source, [row(source, i) for i in range(3)]), source)
    assert (result.rows_read, result.accepted) == (3, 3)


@pytest.mark.parametrize("source,column", [(s, c) for s in SOURCES
                                           for c in SOURCES[s].column_names])
def test_missing_column(tmp_path, source, column):
    cols = [c for c in SOURCES[source].column_names if c != column]
    err = file_error(write(tmp_path, source, [row(source)], columns=cols), source)
    assert err.line == 1
    assert column in err.column


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_unknown_extra_column(tmp_path, source):
    cols = [*SOURCES[source].column_names, "favoritfarg"]
    err = file_error(write(tmp_path, source, [row(source, favoritfarg="blå")], columns=cols),
                     source)
    assert err.line == 1 and err.column == str(len(cols))
    assert "favoritfarg" not in str(err)  # not a contract name: it could be a value


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_headerless_file_echoes_no_value(tmp_path, source):
    path = tmp_path / f"{source}_20250915.csv"
    path.write_text(";".join(row(source).values()) + "\n", encoding="utf-8")
    file_error(path, source)


@pytest.mark.parametrize("sep,hint", [(",", "kommaseparerad"), ("\t", "tabbseparerad")])
@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_wrong_delimiter(tmp_path, source, sep, hint):
    err = file_error(write(tmp_path, source, [row(source)], sep=sep), source)
    assert err.line == 1
    assert hint in str(err)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_windows_1252_with_swedish_letters(tmp_path, source):
    path = write(tmp_path, source, [row(source)], encoding="cp1252", newline="\r\n",
                 end="\r\n")
    text_cols = [c.name for c in SOURCES[source].columns if c.kind == "str" and not c.codes]
    result = ingest(path, source)
    assert result.accepted == 1
    if not text_cols:
        return  # no free text: a Windows-1252 export of it is plain ASCII
    assert "Ö".encode("cp1252") in path.read_bytes()
    assert result.encoding == "cp1252"
    kept = [c for c in text_cols if c in result.table.columns]
    for col in kept:
        assert result.table.loc[0, col] == NAME
    if source == "folkbokforing":
        assert result.identities.loc[0, "fornamn"] == NAME


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_utf8_with_bom(tmp_path, source):
    result = ingest(write(tmp_path, source, [row(source)], encoding="utf-8-sig"), source)
    assert result.encoding == "utf-8-sig"
    assert result.accepted == 1


@pytest.mark.parametrize("source,column", PNR_COLUMNS)
def test_mixed_personnummer_forms_give_one_pseudonym(tmp_path, source, column):
    ten = PLANTED[2:]
    forms = [PLANTED, f"{PLANTED[:8]}-{PLANTED[8:]}", f"{ten[:6]}-{ten[6:]}", ten,
             f"{ten[:6]} {ten[6:]}"]
    rows = [row(source, i, **{column: f}) for i, f in enumerate(forms)]
    result = ingest(write(tmp_path, source, rows), source)
    out = "person_id" if column == "personnummer" else column
    assert set(result.table[out]) == {pseudonym(KEY, PLANTED)}
    assert result.accepted + result.quarantined_by_reason.get("dubblett", 0) == len(forms)


@pytest.mark.parametrize("source,column", PNR_COLUMNS)
def test_wrong_check_digit_is_quarantined(tmp_path, source, column):
    bad = flip(PLANTED)
    rows = [row(source, 1), row(source, 2, **{column: bad[2:8] + "-" + bad[8:]})]
    result = ingest(write(tmp_path, source, rows), source)
    only_reason(result, "ogiltigt_personnummer")
    assert result.quarantine.loc[0, "rad"] == 3


@pytest.mark.parametrize("source,column", PNR_COLUMNS)
def test_samordningsnummer_accepted(tmp_path, source, column):
    result = ingest(write(tmp_path, source, [row(source, 0, **{column: SAMORDNING})]), source)
    assert result.accepted == 1
    out = "person_id" if column == "personnummer" else column
    assert result.table.loc[0, out] == pseudonym(KEY, SAMORDNING)


def test_samordningsnummer_birth_date_derived(tmp_path):
    result = ingest(write(tmp_path, "folkbokforing",
                          [row("folkbokforing", personnummer=SAMORDNING, fodelsedatum="")]),
                    "folkbokforing")
    assert result.table.loc[0, "fodelsedatum"] == pd.Timestamp("2015-03-12")


@pytest.mark.parametrize("source,column", DATE_COLUMNS)
def test_future_dates(tmp_path, source, column):
    others = {c.name: "" for c in SOURCES[source].columns
              if c.kind == "date" and not c.required and c.name != column}
    rows = [row(source, 0), row(source, 1, **{**others, column: "2025-09-16"})]
    result = ingest(write(tmp_path, source, rows), source)
    if column in NOT_FUTURE:
        only_reason(result, "orimligt_varde")
    else:
        assert result.accepted == 2


@pytest.mark.parametrize("source,column", DATE_COLUMNS)
def test_impossible_dates_are_bad_format(tmp_path, source, column):
    rows = [row(source, 0, **{column: "2025-02-30"}), row(source, 1, **{column: "15/9 2025"})]
    only_reason(ingest(write(tmp_path, source, rows), source), "ogiltigt_format", 2)


@pytest.mark.parametrize("source,column", BOUNDED)
def test_values_below_the_contract_minimum(tmp_path, source, column):
    minimum = next(c.min_value for c in SOURCES[source].columns if c.name == column)
    rows = [row(source, 0), row(source, 1, **{column: str(minimum - 1)})]
    only_reason(ingest(write(tmp_path, source, rows), source), "orimligt_varde")


@pytest.mark.parametrize("source,column", [(s, c.name) for s in SOURCES
                                           for c in SOURCES[s].columns
                                           if c.kind == "int" and c.max_value is not None])
def test_values_above_the_contract_maximum(tmp_path, source, column):
    maximum = next(c.max_value for c in SOURCES[source].columns if c.name == column)
    rows = [row(source, 0), row(source, 1, **{column: str(maximum + 1)})]
    only_reason(ingest(write(tmp_path, source, rows), source), "orimligt_varde")


@pytest.mark.parametrize("column", ["schemalagd_min", "giltig_franvaro_min",
                                    "ogiltig_franvaro_min"])
def test_negative_minutes(tmp_path, column):
    rows = [row("narvaro", 0), row("narvaro", 1, **{column: "-1"})]
    only_reason(ingest(write(tmp_path, "narvaro", rows), "narvaro"), "orimligt_varde")


@pytest.mark.parametrize("giltig,ogiltig,ok", [("200", "100", True), ("200", "101", False),
                                               ("301", "0", False), ("0", "300", True)])
def test_absence_above_scheduled_time(tmp_path, giltig, ogiltig, ok):
    rows = [row("narvaro", 0, schemalagd_min="300", giltig_franvaro_min=giltig,
                ogiltig_franvaro_min=ogiltig)]
    result = ingest(write(tmp_path, "narvaro", rows), "narvaro")
    if ok:
        assert result.accepted == 1
    else:
        only_reason(result, "orimligt_varde")


@pytest.mark.parametrize("source,column,written,expected", [
    ("avgifter", "anmald_inkomst", "31250,50", 31251),
    ("avgifter", "anmald_inkomst", "31250,49", 31250),
    ("avgifter", "anmald_inkomst", "31 250", 31250),
    ("avgifter", "anmald_inkomst", "31\u00a0250", 31250),
    ("avgifter", "anmald_inkomst", "31.250", 31250),
    ("avgifter", "debiterad_avgift", "1 572,00", 1572),
    ("inkomster", "faststalld_inkomst", "1 250 000", 1250000),
    ("inkomster", "faststalld_inkomst", "412 345,5", 412346),
])
def test_amounts_with_decimal_comma_and_thousands_separator(tmp_path, source, column, written,
                                                            expected):
    result = ingest(write(tmp_path, source, [row(source, **{column: written})]), source)
    assert result.accepted == 1
    assert result.table.loc[0, column] == expected


@pytest.mark.parametrize("written", ["31,250,50", "3l250", "31 250 kr"])
def test_malformed_amounts_are_quarantined(tmp_path, written):
    result = ingest(write(tmp_path, "avgifter", [row("avgifter", anmald_inkomst=written)]),
                    "avgifter")
    only_reason(result, "ogiltigt_format")


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_duplicate_keys(tmp_path, source):
    rows = [row(source, 0), row(source, 1), row(source, 0)]
    result = ingest(write(tmp_path, source, rows), source)
    only_reason(result, "dubblett")
    assert result.quarantine.loc[0, "rad"] == 4  # the second occurrence goes to quarantine


@pytest.mark.parametrize("source,column", CODE_COLUMNS)
def test_unknown_code(tmp_path, source, column):
    rows = [row(source, 0), row(source, 1, **{column: "XYZ"})]
    only_reason(ingest(write(tmp_path, source, rows), source), "okand_kod")


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_missing_required_value(tmp_path, source):
    required = [c.name for c in SOURCES[source].columns if c.required]
    rows = [row(source, 0)] + [row(source, i + 1, **{c: "  "}) for i, c in enumerate(required)]
    only_reason(ingest(write(tmp_path, source, rows), source), "saknat_varde", len(required))


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_wrong_field_count_in_a_middle_row(tmp_path, source):
    path = write(tmp_path, source, [row(source, 0), row(source, 1), row(source, 2)])
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + ";extra"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(path, source)
    only_reason(result, "fel_antal_falt")
    assert result.quarantine["rad"].tolist() == [3]


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_empty_file(tmp_path, source):
    path = tmp_path / f"{source}_20250915.csv"
    path.write_text("\n \n", encoding="utf-8")
    with pytest.raises(SourceFileError, match="tom"):
        ingest_file(path, source, POLICY, KEY, REF)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_zero_byte_file(tmp_path, source):
    path = tmp_path / f"{source}_20250915.csv"
    path.write_bytes(b"")
    with pytest.raises(SourceFileError, match="0 byte") as info:
        ingest_file(path, source, POLICY, KEY, REF)
    assert path.name in str(info.value)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_header_only_file(tmp_path, source):
    result = ingest(write(tmp_path, source, []), source)
    assert (result.rows_read, result.accepted, result.quarantined) == (0, 0, 0)
    assert set(result.table.columns) <= set(SOURCES[source].column_names) | {"person_id"}


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_truncated_last_line(tmp_path, source):
    path = write(tmp_path, source, [row(source, 0), row(source, 1)])
    data = path.read_bytes().rstrip(b"\n")
    path.write_bytes(data[: data.rindex(b";")])  # cut inside the last row, no newline
    err = file_error(path, source)
    assert err.line == 3
    assert "avkortad" in str(err)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_undecodable_bytes(tmp_path, source):
    path = write(tmp_path, source, [row(source, 0), row(source, 1)])
    data = path.read_bytes().replace(NAME.encode(), b"\x81" + NAME.encode(), 1)
    if data == path.read_bytes():  # a source without free text: break the last field
        data = data[:-1] + b"\x81\n"
    path.write_bytes(data)
    err = file_error(path, source)
    assert err.line in (2, 3)
    assert "teckenkodning" in str(err)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_nul_bytes(tmp_path, source):
    path = write(tmp_path, source, [row(source, 0), row(source, 1)])
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2][:5] + b"\x00" + lines[2][5:]
    path.write_bytes(b"\n".join(lines))
    err = file_error(path, source)
    assert err.line == 3
    assert "NUL" in str(err)


def test_quarantine_keeps_the_raw_row_for_the_encrypted_archive(tmp_path):
    bad = flip(PLANTED)
    result = ingest(write(tmp_path, "folkbokforing",
                          [row("folkbokforing", 0, personnummer=bad)]), "folkbokforing")
    q = result.quarantine
    assert q.loc[0, "personnummer"] == bad and q.loc[0, "orsak"] == "ogiltigt_personnummer"
    assert result.identities.empty  # identities only for accepted persons
    assert result.table.empty
