"""Ingest: decode, read, parse, pseudonymise at the door, and account for every row."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import skyddsnat.ingest.source_table as source_table
from schemas.sources import schema
from skyddsnat.contract import SOURCES
from skyddsnat.ingest.errors import SourceFileError
from skyddsnat.ingest.parse import parse_amount
from skyddsnat.ingest.reader import decode, read_source
from skyddsnat.ingest.source_table import ingest_file
from skyddsnat.personnummer import all_forms, luhn_digit
from skyddsnat.policy import load_policy
from skyddsnat.privacy.guard import PlaintextLeak, assert_pseudonymous
from skyddsnat.privacy.pseudonym import pseudonym, pseudonymize_series

REF = date(2025, 9, 15)
POLICY = load_policy()
KEY = bytes(range(32))


def pnr(yymmdd: str, serial: str = "238", century: str = "20") -> str:
    nine = yymmdd + serial
    return century + nine + luhn_digit(nine)


def flip(p: str) -> str:
    return p[:-1] + str((int(p[-1]) + 1) % 10)


CHILD, SIBLING = pnr("150312"), pnr("170101", "456")
MOTHER, FATHER = pnr("811218", "987", "19"), pnr("790505", "123", "19")
FOLK_HEADER = ("personnummer;fornamn;efternamn;fodelsedatum;utdelningsadress;postnummer;postort;"
               "kommunkod;folkbokford_datum;sekretessmarkering;skyddad_folkbokforing;"
               "vardnadshavare_1;vardnadshavare_2")


def folk_line(p: str, fornamn: str, fodd: str = "", v1: str = "", v2: str = "",
              flag: str = "") -> str:
    return (f"{p};{fornamn};Ekström;{fodd};Hemliga vägen 12;123 45;Ånge;2260;2020-01-01;"
            f"{flag};;{v1};{v2}")


@pytest.fixture
def folk(tmp_path):
    lines = [FOLK_HEADER,
             folk_line(CHILD[2:8] + "-" + CHILD[8:], "Åsa", v1=MOTHER, v2=FATHER[2:]),
             folk_line(SIBLING, "Olle", fodd="2017-01-01", v1=MOTHER, flag="J"),
             folk_line(MOTHER, "Märta", fodd="1981-12-18"),
             folk_line(FATHER, "Nils"),
             folk_line(flip(pnr("150312", "239")), "Fel"),              # wrong check digit
             folk_line(CHILD, "Dubbel")]                                # same child again
    path = tmp_path / "folkbokforing_20250915.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ingest_file(path, "folkbokforing", POLICY, KEY, REF)


def test_tables_are_pseudonymous_and_accounted_for(folk):
    assert folk.rows_read == 6
    assert folk.accepted == 4
    assert folk.quarantined_by_reason == {"ogiltigt_personnummer": 1, "dubblett": 1}
    table = folk.table
    assert list(table.columns) == list(schema(POLICY, "folkbokforing").columns)
    assert "personnummer" not in table.columns and "fornamn" not in table.columns
    assert_pseudonymous(table, "personer")
    assert table["person_id"].tolist() == [pseudonym(KEY, p) for p in
                                           (CHILD, SIBLING, MOTHER, FATHER)]
    assert table.loc[0, "vardnadshavare_1"] == pseudonym(KEY, MOTHER)
    assert table.loc[0, "vardnadshavare_2"] == pseudonym(KEY, FATHER)
    flat = table.astype(str).to_csv()
    for p in (CHILD, SIBLING, MOTHER, FATHER):
        for form in all_forms(p):
            assert form not in flat
    assert "Åsa" not in flat and "Hemliga" not in flat


def test_birth_date_from_the_register_or_else_the_personnummer(folk):
    born = dict(zip(folk.table["person_id"], folk.table["fodelsedatum"], strict=True))
    assert born[pseudonym(KEY, CHILD)] == pd.Timestamp("2015-03-12")
    assert born[pseudonym(KEY, FATHER)] == pd.Timestamp("1979-05-05")
    assert born[pseudonym(KEY, MOTHER)] == pd.Timestamp("1981-12-18")


def test_flags_become_booleans(folk):
    flags = dict(zip(folk.table["person_id"], folk.table["sekretessmarkering"], strict=True))
    assert flags[pseudonym(KEY, SIBLING)]
    assert not flags[pseudonym(KEY, CHILD)]
    assert folk.table["sekretessmarkering"].dtype == bool


def test_identities_are_returned_for_the_vault_not_stored(folk):
    ident = folk.identities.set_index("person_id")
    assert ident.loc[pseudonym(KEY, CHILD), "personnummer"] == CHILD
    assert ident.loc[pseudonym(KEY, CHILD), "fornamn"] == "Åsa"
    assert ident.loc[pseudonym(KEY, CHILD), "utdelningsadress"] == "Hemliga vägen 12"
    assert set(ident.index) == {pseudonym(KEY, p) for p in (CHILD, SIBLING, MOTHER, FATHER)}
    assert ident.index.is_unique


def test_metadata_holds_counts_only(folk):
    meta = folk.metadata()
    assert meta["rader_lasta"] == 6 and meta["rader_godkanda"] == 4
    assert meta["karantan_dubblett"] == 1 and meta["karantan_ogiltigt_personnummer"] == 1
    text = str(meta)
    for p in (CHILD, MOTHER):
        assert p not in text and p[2:] not in text
    assert "Åsa" not in text


def test_quarantine_carries_line_numbers_and_reasons(folk):
    q = folk.quarantine.set_index("rad")["orsak"].to_dict()
    assert q == {6: "ogiltigt_personnummer", 7: "dubblett"}


def test_guardians_only_referenced_get_an_identity(tmp_path):
    lines = [FOLK_HEADER, folk_line(CHILD, "Åsa", v1=MOTHER)]
    path = tmp_path / "folkbokforing_20250915.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest_file(path, "folkbokforing", POLICY, KEY, REF)
    ident = result.identities.set_index("person_id")
    assert ident.loc[pseudonym(KEY, MOTHER), "personnummer"] == MOTHER


def test_a_quarantined_row_gives_no_name_or_address_to_the_vault(tmp_path):
    """The mother's own row is quarantined (a date in the future); she is still the accepted
    child's guardian, so she is staged, by number only: nothing of the refused row reaches
    the vault, which keeps what it held of her (a missing field leaves it)."""
    lines = [FOLK_HEADER, folk_line(CHILD, "Åsa", v1=MOTHER),
             folk_line(MOTHER, "Märta", fodd="2031-01-01")]
    path = tmp_path / "folkbokforing_20250915.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest_file(path, "folkbokforing", POLICY, KEY, REF)
    assert result.quarantined_by_reason == {"orimligt_varde": 1}
    mother = result.identities.set_index("person_id").loc[pseudonym(KEY, MOTHER)]
    assert mother["personnummer"] == MOTHER
    assert mother[["fornamn", "efternamn", "utdelningsadress", "postnummer"]].isna().all()


def test_case_insensitive_headers_and_vendor_aliases(tmp_path):
    path = tmp_path / "elevregister_20250915.csv"
    path.write_text(
        "Personnr;SKOLENHET;Skolenhet_Namn;Huvudman;Skolform;Arskurs;Startdatum;Slutdatum\n"
        f"{CHILD};12345678;Åkerskolan;kommunal;GR;4;2021-08-17;\n", encoding="utf-8")
    result = ingest_file(path, "elevregister", POLICY, KEY, REF)
    assert result.accepted == 1
    assert result.table.loc[0, "skolenhetskod"] == "12345678"
    assert result.table.loc[0, "person_id"] == pseudonym(KEY, CHILD)
    assert pd.isna(result.table.loc[0, "slutdatum"])


def test_duplicate_header_is_rejected(tmp_path):
    path = tmp_path / "inkomster_2024.csv"
    path.write_text(f"inkomstar;personnummer;Personnummer\n2024;{CHILD};{CHILD}\n")
    with pytest.raises(SourceFileError, match="två gånger") as info:
        read_source(path, SOURCES["inkomster"])
    assert info.value.line == 1 and info.value.column == "3"


def test_reader_keeps_file_line_numbers_and_skips_blank_lines(tmp_path):
    path = tmp_path / "inkomster_2024.csv"
    path.write_text(f'inkomstar;personnummer;faststalld_inkomst\n\n2024;{CHILD};"1;0"\n\n'
                    f"2024;{MOTHER};5\n", encoding="utf-8")
    raw = read_source(path, SOURCES["inkomster"])
    assert raw.rows_read == 2
    assert raw.frame.index.tolist() == [3, 5]
    assert raw.frame.loc[3, "faststalld_inkomst"] == "1;0"  # a quoted delimiter stays a value


def test_decode_encodings_and_positions():
    assert decode("a;ö\n".encode(), "f.csv") == ("a;ö\n", "utf-8")
    assert decode("\ufeffa;ö\n".encode(), "f.csv") == ("a;ö\n", "utf-8-sig")
    assert decode("a;ö\n".encode("cp1252"), "f.csv") == ("a;ö\n", "cp1252")
    with pytest.raises(SourceFileError) as info:
        decode(b"a;b\nc;d\nxy\x81z\n", "f.csv")
    assert info.value.line == 3 and "tecken 3" in str(info.value)
    with pytest.raises(SourceFileError) as info:
        decode(b"a;b\n\x00\n", "f.csv")
    assert info.value.line == 2


def test_parse_amount_rules():
    s = pd.Series(["5", " 1 250 ", "1.250", "1.234,5", "0,5", "0,49", "-3", "", None, "1,2,3",
                   "12kr", "1.25"], dtype="string")
    values, bad = parse_amount(s)
    assert values[:7].tolist() == [5, 1250, 1250, 1235, 1, 0, -3]
    assert values[7] is pd.NA and values[8] is pd.NA
    assert bad.tolist() == [False] * 9 + [True, True, False]
    assert values[11] == 1  # a decimal point without thousands grouping is a decimal


def test_term_and_month_formats(tmp_path):
    path = tmp_path / "betyg_HT2025.csv"
    path.write_text("personnummer;skolenhetskod;termin;arskurs;amne;betyg\n"
                    f"{CHILD};12345678;ht2025;6;Matematik;F\n"
                    f"{SIBLING};12345678;HT25;6;Matematik;E\n", encoding="utf-8")
    result = ingest_file(path, "betyg", POLICY, KEY, REF)
    assert result.table["termin"].tolist() == ["HT2025"]
    assert result.quarantined_by_reason == {"ogiltigt_format": 1}


def test_every_row_ends_in_one_place_on_a_messy_file(tmp_path):
    lines = ["datum;personnummer;skolenhetskod;schemalagd_min;giltig_franvaro_min;"
             "ogiltig_franvaro_min"]
    good = [f"2025-09-15;{pnr(f'1501{d:02d}')};12345678;300;0;0" for d in range(1, 21)]
    bad = [f"2025-09-15;{flip(CHILD)};12345678;300;0;0",          # ogiltigt_personnummer
           f"2025-09-15;{CHILD};1234;300;0;0",                      # ogiltigt_format
           f"2025-09-16;{CHILD};12345678;300;0;0",                  # orimligt_varde (future)
           f"2025-09-15;{CHILD};12345678;300;200;200",              # orimligt_varde
           f"2025-09-15;{pnr('150101')};12345678;300;0;0",          # dubblett
           "2025-09-15;;12345678;300;0;0",                         # saknat_varde
           f"2025-09-15;{CHILD};12345678;300;0"]                    # fel_antal_falt
    path = tmp_path / "narvaro_20250915.csv"
    path.write_text("\n".join(lines + good + bad) + "\n", encoding="utf-8")
    result = ingest_file(path, "narvaro", POLICY, KEY, REF)
    assert result.rows_read == 27
    assert result.accepted == 20
    assert result.quarantined_by_reason == {
        "ogiltigt_personnummer": 1, "ogiltigt_format": 1, "orimligt_varde": 2, "dubblett": 1,
        "saknat_varde": 1, "fel_antal_falt": 1}
    assert sorted(result.quarantine["rad"]) == list(range(22, 29))
    assert result.table["schemalagd_min"].dtype == "Int64"
    assert result.table["datum"].dtype == "datetime64[ns]"


def test_pandera_failure_cases_hold_no_plaintext(tmp_path, monkeypatch):
    """The pandera models see only pseudonymised frames, so failure cases carry no identifier."""
    seen: list[pd.DataFrame] = []
    original = source_table._pandera_reasons

    def spy(model, frame):
        try:
            model.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            seen.append(exc.failure_cases)
            seen.append(pd.DataFrame({"msg": [str(exc)]}))
        return original(model, frame)

    monkeypatch.setattr(source_table, "_pandera_reasons", spy)
    path = tmp_path / "elevregister_20250915.csv"
    path.write_text(
        "personnummer;skolenhetskod;skolenhet_namn;huvudman;skolform;arskurs;startdatum;"
        "slutdatum\n"
        f"{CHILD};12345678;Skola;kommunal;XX;4;2021-08-17;\n"            # okand_kod
        f"{SIBLING};12345678;Skola;kommunal;GR;4;2021-08-17;2020-01-01\n"  # ends before start
        f"{MOTHER};12345678;Skola;privat;GR;4;2021-08-17;\n", encoding="utf-8")
    result = ingest_file(path, "elevregister", POLICY, KEY, REF)
    assert result.quarantined_by_reason == {"okand_kod": 2, "orimligt_varde": 1}
    assert seen, "pandera found nothing: the test would prove nothing"
    dump = "\n".join(f.astype(str).to_csv() for f in seen)
    assert pseudonym(KEY, CHILD) in dump or "XX" in dump
    for p in (CHILD, SIBLING, MOTHER):
        for form in all_forms(p):
            assert form not in dump


def test_guard_rejects_identity_columns_and_pnr_shaped_values():
    ok = pd.DataFrame({"person_id": pseudonymize_series(KEY, pd.Series([CHILD]))})
    assert_pseudonymous(ok, "t")
    with pytest.raises(PlaintextLeak) as info:
        assert_pseudonymous(pd.DataFrame({"x": [CHILD[2:8] + "-" + CHILD[8:]]}), "t")
    assert CHILD[2:] not in str(info.value) and CHILD[8:] not in str(info.value)
    with pytest.raises(PlaintextLeak):
        assert_pseudonymous(pd.DataFrame({"Fornamn": ["x"]}), "t")
    with pytest.raises(PlaintextLeak):
        assert_pseudonymous(pd.DataFrame({"note": pd.Series([CHILD], dtype="string")}), "t")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet="0123456789-+ ٣a", max_size=15),
                 st.from_regex(r"(?:19|20)?\d{6}[-+]?\d{4}", fullmatch=True)))
def test_guard_catches_exactly_the_personnummer_shape(value):
    """The guard's column-wide RE2 match agrees with the Python pattern on every string."""
    import re

    from skyddsnat.privacy.guard import PNR_SHAPE

    leaks = bool(re.fullmatch(PNR_SHAPE, value))
    for column in (pd.Series([value, None], dtype="string"), pd.Series([value, 3], dtype=object)):
        if leaks:
            with pytest.raises(PlaintextLeak):
                assert_pseudonymous(pd.DataFrame({"x": column}), "t")
        else:
            assert_pseudonymous(pd.DataFrame({"x": column}), "t")


def test_a_run_memo_gives_the_same_pseudonyms_as_hashing_each_file():
    from skyddsnat.ingest.memo import PnrMemo

    memo = PnrMemo().scoped(REF, KEY)
    first = pd.Series([CHILD, MOTHER, None], dtype="string")
    pseudonymize_series(KEY, first, memo.pseudonyms)
    second = pd.Series([MOTHER, FATHER, None, CHILD], dtype="string")
    pd.testing.assert_series_equal(pseudonymize_series(KEY, second, memo.pseudonyms),
                                   pseudonymize_series(KEY, second))
    assert len(memo.scoped(REF, bytes(32)).pseudonyms) == 0  # another key forgets everything


_FIELD = st.text(alphabet=st.sampled_from(list("0123456789 -+;\"\r\tåÖé\u00a0xX")), max_size=6)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(_FIELD, min_size=2, max_size=4), min_size=1, max_size=8),
       crlf=st.booleans(), tail=st.booleans(), blank=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_arrow_reader_reads_as_the_line_reader(tmp_path_factory, rows, crlf, tail, blank,
                                               encoding):
    """The Arrow fast path gives the line-by-line reader's frame, line numbers and digests,
    or steps aside (quotes, bare CRs, blank lines, bad field counts), in every encoding."""
    import skyddsnat.ingest.reader as reader
    from skyddsnat.ingest.row_cache import row_digester

    newline = "\r\n" if crlf else "\n"
    lines = ["inkomstar;personnummer;faststalld_inkomst"] + [";".join(r) for r in rows]
    if blank:
        lines.insert(2, "")
    text = newline.join(lines) + (newline if tail else "")
    path = tmp_path_factory.mktemp("r") / "inkomster_2024.csv"
    path.write_bytes(text.encode(encoding))
    digester = row_digester(KEY, REF, ("personnummer",))

    def read():
        try:
            raw = read_source(path, SOURCES["inkomster"], row_digest=digester)
        except SourceFileError as exc:
            return ("error", exc.line, exc.column, str(exc))
        return raw.frame, raw.frame.attrs["bad_field_count_lines"], raw.rows_read, raw.digests

    fast = read()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reader, "_plain_body", lambda *a: None)
        slow = read()
    if isinstance(slow[0], str) or isinstance(fast[0], str):
        assert fast == slow
        return
    pd.testing.assert_frame_equal(fast[0], slow[0])
    assert fast[1:] == slow[1:]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_arrow_reader_takes_plain_exports(tmp_path, monkeypatch, encoding):
    import skyddsnat.ingest.reader as reader

    calls = []
    plain = reader._plain_body
    monkeypatch.setattr(reader, "_plain_body", lambda *a: calls.append(r := plain(*a)) or r)
    path = tmp_path / "folkbokforing_20260101.csv"
    header = ";".join(SOURCES["folkbokforing"].column_names)
    row = ";".join({"personnummer": CHILD, "fornamn": "Åsa", "efternamn": "Öberg"}.get(c, "x")
                   for c in SOURCES["folkbokforing"].column_names)
    path.write_bytes(f"{header}\r\n{row}\r\n".encode(encoding))
    raw = read_source(path, SOURCES["folkbokforing"])
    assert calls and calls[0] is not None  # also a Windows-1252 export with å and ö
    assert raw.frame.index.tolist() == [2] and raw.frame.loc[2, "personnummer"] == CHILD
    assert raw.frame.loc[2, "efternamn"] == "Öberg"


@pytest.mark.parametrize("column", [
    pd.array(["a" * 32, "19800101-1234"], dtype="string"),        # Arrow string scan
    pd.Series([7, 198001011234], dtype=object),                   # object numbers: as text
    pd.Series(["x", None, "8001011234"], dtype=object),
])
def test_write_pseudonymous_refuses_plaintext_before_writing(tmp_path, column):
    from skyddsnat.privacy.storage import write_pseudonymous

    target = tmp_path / "t.parquet"
    with pytest.raises(PlaintextLeak, match="kolumnen x") as info:
        write_pseudonymous(pd.DataFrame({"x": column}), target, "t")
    assert "1234" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_write_pseudonymous_stores_what_pandas_would(tmp_path):
    from skyddsnat.privacy.storage import write_pseudonymous

    frame = pd.DataFrame({"person_id": pd.array(["a" * 32, None], dtype="string"),
                          "n": pd.array([1, None], dtype="Int64"),
                          "d": pd.to_datetime(["2026-01-01", None]), "ok": [True, False]})
    write_pseudonymous(frame, tmp_path / "t.parquet", "t")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), frame)


def test_income_for_a_year_after_the_reference_year_is_refused(tmp_path):
    """A file named for, or a row of, an income year after REF's year stops the source,
    naming the file (and line), never the value."""
    from skyddsnat.ingest.catalog import entry
    from skyddsnat.ingest.income_year import refuse_future_income_files

    ok = tmp_path / "inkomster_2025.csv"
    ok.write_text(f"inkomstar;personnummer;faststalld_inkomst\n2024;{MOTHER};5\n"
                  f"2025;{CHILD};7\n", encoding="utf-8")
    assert ingest_file(ok, "inkomster", POLICY, KEY, REF).accepted == 2
    refuse_future_income_files(tmp_path, entry(POLICY, "inkomster"), REF)
    late = tmp_path / "inkomster_2025b.csv"
    late.write_text(f"inkomstar;personnummer;faststalld_inkomst\n2025;{MOTHER};5\n"
                    f"2026;{CHILD};123456\n", encoding="utf-8")
    with pytest.raises(SourceFileError) as info:
        ingest_file(late, "inkomster", POLICY, KEY, REF)
    assert info.value.file == "inkomster_2025b.csv" and info.value.line == 3
    assert "123456" not in str(info.value) and CHILD not in str(info.value)
    (tmp_path / "inkomster_2026.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match="inkomster_2026.csv: inkomstår efter "
                                              "referensdagens år 2025"):
        refuse_future_income_files(tmp_path, entry(POLICY, "inkomster"), REF)
    refuse_future_income_files(tmp_path, entry(POLICY, "inkomster"), date(2026, 1, 1))


def test_pandera_runs_once_on_the_rows_its_row_wise_pass_decided(tmp_path, monkeypatch):
    """Once the rows pandera failed are quarantined, the rest pass it whole: validation
    reports that instead of running pandera on the accepted table again."""
    import skyddsnat.ingest.validation as checks

    head = "datum;personnummer;skolenhetskod;schemalagd_min;giltig_franvaro_min;" \
           "ogiltig_franvaro_min"
    rows = [f"2025-09-15;{pnr(f'1501{d:02d}')};12345678;300;0;0" for d in range(1, 6)]
    rows += [f"2025-09-15;{CHILD};12345678;300;200;200"]  # pandera: more absence than scheduled
    path = tmp_path / "narvaro_20250915.csv"
    path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    result = ingest_file(path, "narvaro", POLICY, KEY, REF)
    assert result.quarantined_by_reason == {"orimligt_varde": 1}
    assert result.pandera_failures == 0
    assert checks._pandera_failures(POLICY, "narvaro", result.table) == 0  # the run it saves
    ran: list[int] = []
    monkeypatch.setattr(checks, "_pandera_failures", lambda *a: ran.append(1) or 0)
    checked = checks.validation(POLICY, "narvaro", result.table,
                                pandera_failures=result.pandera_failures)
    assert checked["pandera_failures"] == 0 and checked["validated_rows"] == 5 and not ran
    checks.validation(POLICY, "narvaro", result.table)
    assert ran  # without it, pandera runs


def test_a_failure_naming_no_row_leaves_pandera_to_run_again():
    model = schema(POLICY, "narvaro")
    frame = pd.DataFrame({"datum": pd.to_datetime(["2025-09-15"] * 2),
                          "person_id": pd.Series([f"{1:032x}", "x"], dtype="string"),
                          "skolenhetskod": pd.Series(["12345678"] * 2, dtype="string"),
                          "schemalagd_min": [300.0, 300.0],  # a column's type, no row's
                          "giltig_franvaro_min": pd.array([0, 0], dtype="Int64"),
                          "ogiltig_franvaro_min": pd.array([0, 0], dtype="Int64")})
    reasons, by_row = source_table._pandera_reasons(model, frame)
    assert reasons.to_dict() == {1: "ogiltigt_format"} and not by_row
    assert source_table._pandera_reasons(model, frame.assign(
        schemalagd_min=pd.array([300, 300], dtype="Int64")))[1]


_ID = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", ""]))


@given(st.lists(_ID, max_size=15), st.lists(st.lists(_ID, max_size=8), max_size=3))
def test_identities_keep_the_first_row_of_each_person_an_accepted_row_names(ids, named):
    from skyddsnat.ingest.source_table import first_named

    ids_s = pd.Series(ids, dtype="string")
    named_s = [pd.Series(n, dtype="string") for n in named]
    together = pd.concat([pd.Series([], dtype="string"), *named_s]).dropna()
    expected = ids_s[ids_s.isin(together)].drop_duplicates()
    assert list(first_named(ids_s, named_s)) == list(expected.index)
