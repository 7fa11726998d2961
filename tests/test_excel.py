"""Excel lists read back with openpyxl: Swedish labels over the contract names, display
values, a Förklaring block, print settings, typed cells; and read back by contract name."""

from __future__ import annotations

from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skyddsnat.lists.catalog import list_spec
from skyddsnat.lists.excel import (
    LIST_SHEET,
    SUMMARY_SHEET,
    ListSpecError,
    build_summary,
    read_list,
    write_list_xlsx,
    write_table_xlsx,
)
from skyddsnat.lists.labels import LABELS, codes, display, label, to_code
from skyddsnat.policy import load_policy

POLICY = load_policy()
SPEC = list_spec("skolplikt")


def general_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "arende_id": ["A1B2C3D4E5", "F6A7B8C9D0", "0011223344"],
        "personnummer": pd.Series(["20150101-1234", "20160202-2345", "20170303-3456"],
                                  dtype="string"),
        "fornamn": ["=HYPERLINK(\"x\")", "Bo", "Cilla"],
        "efternamn": ["Ek", "Berg", "Holm"],
        "forvantad_arskurs": pd.array([4, 3, pd.NA], dtype="Int64"),
        "folkbokford_datum": pd.to_datetime(["2020-01-15", None, "2025-08-20"]),
        "orsak": ["okand", "placering_avslutad", "nyinflyttad"],
        "skolenheter": ["", "12345678 Åsskolan", ""],
        "status": ["ny", "kvarstar", "ny"]})


def closed() -> pd.DataFrame:
    return pd.DataFrame({"arende_id": ["9999999999"],
                         "forst_sedd": pd.to_datetime(["2025-08-01"]),
                         "avslutad": pd.to_datetime(["2025-09-01"]),
                         "dagar_oppet": pd.array([31], dtype="Int64")})


def write(path, created=datetime(2025, 9, 1, 2, 0)):
    rows = general_rows()
    summary = build_summary(SPEC, POLICY, "2025-09-01", rows, closed(), created=created)
    return write_list_xlsx(path, SPEC, rows, summary)


CONTRACT = ["arende_id", "personnummer", "fornamn", "efternamn", "forvantad_arskurs",
            "folkbokford_datum", "orsak", "skolenheter", "status"]


def test_list_sheet_swedish_labels_over_contract_names_and_typed_cells(tmp_path):
    write(tmp_path / "skolplikt.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "skolplikt.xlsx")
    assert wb.sheetnames == [SUMMARY_SHEET, LIST_SHEET]
    ws = wb[LIST_SHEET]
    # Row 1: the Swedish labels for people; row 2, small and grey: the contract's names.
    assert [c.value for c in ws[1]] == ["Ärende-id", "Personnummer", "Förnamn", "Efternamn",
                                        "Förväntad årskurs", "Folkbokförd datum", "Orsak",
                                        "Skolenhet(er)", "Status"]
    assert [c.value for c in ws[2]] == CONTRACT
    assert ws["A2"].font.sz < 11 and ws["A2"].font.color.rgb.endswith("7F7F7F")
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref == "A2:I5"
    assert ws["B3"].value == "20150101-1234" and ws["B3"].data_type == "s"
    assert ws["C3"].value == '=HYPERLINK("x")' and ws["C3"].data_type == "s"  # never a formula
    assert ws["E3"].value == 4 and ws["E5"].value is None
    assert isinstance(ws["F3"].value, datetime) and ws["F3"].value.date() == date(2020, 1, 15)
    assert ws["F3"].number_format == "yyyy-mm-dd"
    assert ws["F4"].value is None
    # Codes are shown in Swedish.
    assert [ws[f"G{r}"].value for r in (3, 4, 5)] == ["Okänd", "Placering avslutad",
                                                       "Nyinflyttad"]
    assert [ws[f"I{r}"].value for r in (3, 4, 5)] == ["Ny", "Kvarstår", "Ny"]
    # Widths fit the visible label (not a hidden one) and the longest value.
    assert ws.column_dimensions["F"].width >= 10
    assert ws.column_dimensions["E"].width >= len("Förväntad") + 1
    assert ws.column_dimensions["A"].width < 20


def test_every_sheet_prints_landscape_one_page_wide_with_repeated_headers(tmp_path):
    write(tmp_path / "skolplikt.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "skolplikt.xlsx")
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        # fitToWidth left out is 1 (the OOXML default); fitToHeight 0 = as many pages as needed
        assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0
    assert wb[LIST_SHEET].print_title_rows.replace("$", "") == "1:2"


def test_read_list_gives_back_the_codes_by_contract_name(tmp_path):
    write(tmp_path / "skolplikt.xlsx")
    back = read_list(tmp_path / "skolplikt.xlsx")
    rows = general_rows()
    assert list(back.columns) == CONTRACT
    assert back["orsak"].tolist() == rows["orsak"].tolist()
    assert back["status"].tolist() == rows["status"].tolist()
    assert back["personnummer"].tolist() == rows["personnummer"].tolist()
    assert back["forvantad_arskurs"].tolist() == [4, 3, None]
    assert back["skolenheter"].tolist() == ["", "12345678 Åsskolan", ""]


def _variants(text: str) -> list[str]:
    plain = text.translate(str.maketrans("åäöÅÄÖ", "aaoAAO"))
    return [text, text.upper(), text.lower(), plain, plain.replace(" ", "_"),
            plain.replace(" ", "-").lower()]


@given(st.sampled_from(sorted(LABELS)), st.integers(0, 5))
def test_display_values_read_back_ignoring_case_accents_and_separators(code, variant):
    """What a script or a person types for a value is matched to its code: "Hög" = "hog"."""
    assert to_code(_variants(label(code))[variant]) == code
    assert to_code(_variants(code)[variant]) == code


def test_multi_valued_columns_and_uncoded_columns():
    fynd = pd.Series(["anmalan_till_huvudman, hog_utan_arende", "", None])
    shown = display("fynd", fynd)
    assert shown.tolist()[:2] == ["Anmälan till huvudman, Hög frånvaro utan ärende", ""]
    assert codes("fynd", shown).tolist()[:2] == fynd.tolist()[:2]
    assert display("fornamn", pd.Series(["hog"])).tolist() == ["hog"]  # a name stays a name
    assert label("ny_kod_som_inte_finns") == "ny_kod_som_inte_finns"


def summary_values(path) -> dict:
    ws = openpyxl.load_workbook(path)[SUMMARY_SHEET]
    return {r[0]: r[1] for r in ws.iter_rows(min_row=3, max_col=2, values_only=True) if r[0]}


def test_summary_sheet_contents(tmp_path):
    write(tmp_path / "skolplikt.xlsx")
    values = summary_values(tmp_path / "skolplikt.xlsx")
    assert values["Lista"] == "Skolpliktsbevakning: barn vars skolgång behöver kontrolleras"
    assert values["Referensdatum"].date() == date(2025, 9, 1)
    assert values["Policyversion"] == POLICY.version
    assert values["Antal ärenden"] == 3
    assert values["varav nya"] == 2 and values["varav kvarstående"] == 1
    assert values["Avslutade sedan förra leveransen"] == 1
    assert values["Orsak: Okänd"] == 1 and values["Orsak: Nyinflyttad"] == 1
    assert values["Orsak: Dubbel placering"] == 0  # every reason counted, zero too
    assert not [k for k in values if str(k).rstrip().endswith(":")]
    assert values["Gallras senast"].date() == date(2025, 9, 15)  # listor_dagar.skolplikt 14
    assert values["Hanteringsanvisning"] == POLICY.gallring.hanteringsanvisning
    assert values["Mottagare"].startswith("Skolpliktshandläggare")
    ws = openpyxl.load_workbook(tmp_path / "skolplikt.xlsx")[SUMMARY_SHEET]
    cells = [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "9999999999" in cells and 31 in cells and "Dagar öppet" in cells


def test_summary_explains_every_value_after_the_counts(tmp_path):
    write(tmp_path / "skolplikt.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "skolplikt.xlsx")[SUMMARY_SHEET]
    column_a = [r[0] for r in ws.iter_rows(values_only=True)]
    start = column_a.index("Förklaring")
    assert start > column_a.index("Orsak: Okänd")
    first = start + 3  # 1-based row of the block's first value, under its header row
    explained = {r[0]: r[1] for r in ws.iter_rows(min_row=first, max_col=2, values_only=True)
                 if r[0]}
    for code in ("okand", "placering_avslutad", "nyinflyttad", "dubbel_placering", "ny",
                 "kvarstar"):
        assert label(code) in explained, code
    assert "7 kap. 21 §" in explained["Om listan"] and "22 §" in explained["Om listan"]
    # A wrapped explanation gets the row height its lines need.
    row = first + list(explained).index("Okänd")
    assert ws.row_dimensions[row].height >= 30


def test_bytes_stable_apart_from_created_and_fingerprint_ignores_it(tmp_path):
    f1 = write(tmp_path / "a.xlsx")
    f2 = write(tmp_path / "b.xlsx")
    f3 = write(tmp_path / "c.xlsx", created=datetime(2025, 9, 2, 3, 0))
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    assert f1 == f2 == f3
    props = openpyxl.load_workbook(tmp_path / "a.xlsx").properties
    assert props.created.date() == date(2025, 9, 1)


def test_fingerprint_changes_with_content(tmp_path):
    rows = general_rows()
    summary = build_summary(SPEC, POLICY, "2025-09-01", rows)
    base = write_list_xlsx(tmp_path / "a.xlsx", SPEC, rows, summary)
    rows.loc[1, "fornamn"] = "Britt"
    assert write_list_xlsx(tmp_path / "b.xlsx", SPEC, rows, summary) != base


def test_fingerprint_follows_every_part_of_the_content(tmp_path):
    """Row order, a summary line, a table on the summary sheet (the closed cases) and an
    extra sheet each change it; only "Skapad" does not."""
    rows = general_rows()

    def fp(rows=rows, gone=None, created=datetime(2025, 9, 1, 2, 0), extra=None, **facts):
        summary = build_summary(SPEC, POLICY, "2025-09-01", rows,
                                closed() if gone is None else gone, created=created,
                                facts=facts)
        return write_list_xlsx(tmp_path / "x.xlsx", SPEC, rows, summary, extra)

    base = fp()
    assert fp(created=datetime(2025, 9, 2, 3, 0)) == base
    variants = [fp(rows=rows.iloc[::-1].reset_index(drop=True)), fp(Extra="rad"),
                fp(gone=closed().assign(dagar_oppet=pd.array([32], dtype="Int64")))]
    spec = list_spec("inkomstkontroll", 2024)
    income = pd.DataFrame({c: ["1"] for c in spec.columns})
    summary = build_summary(spec, POLICY, "2025-09-01", income)
    sheets = [write_list_xlsx(tmp_path / "y.xlsx", spec, income, summary,
                              {"Signaler": pd.DataFrame({"signal": [s]})}) for s in ("a", "b")]
    assert len({base, *variants}) == 4 and sheets[0] != sheets[1]


def test_missing_column_and_person_ids_in_extra_sheets_refused(tmp_path):
    with pytest.raises(ListSpecError):
        write_list_xlsx(tmp_path / "x.xlsx", SPEC, general_rows().drop(columns="orsak"), {})
    spec = list_spec("inkomstkontroll", 2024)
    rows = pd.DataFrame({c: ["1"] for c in spec.columns})
    with pytest.raises(ListSpecError):
        write_list_xlsx(tmp_path / "x.xlsx", spec, rows, {},
                        {"Månadsdetaljer": pd.DataFrame({"betalare": ["a" * 32]})})
    with pytest.raises(ListSpecError):
        write_list_xlsx(tmp_path / "x.xlsx", spec, rows, {}, {"Annat": pd.DataFrame()})


def test_income_list_with_month_details(tmp_path):
    spec = list_spec("inkomstkontroll", 2024)
    rows = pd.DataFrame({
        "arende_id": ["X1"], "hushall_id": ["H1"],
        "betalare_personnummer": ["19800101-1234"], "betalare_namn": ["Eva Ström"],
        "inkomstar": pd.array([2024], dtype="Int64"), "debiterat": pd.array([12000], "Int64"),
        "korrekt_avgift": pd.array([13000], "Int64"), "differens": pd.array([1000], "Int64"),
        "atgard": ["efterdebitering"], "taxa_bekraftad": [True], "status": ["ny"]})
    details = pd.DataFrame({"arende_id": ["X1", "X1"], "manad": ["2024-01", "2024-02"],
                            "debiterat": [1000, 1000], "korrekt_avgift": [1100, 1100]})
    write_list_xlsx(tmp_path / "i.xlsx", spec, rows,
                    build_summary(spec, POLICY, "2025-11-01", rows), {"Månadsdetaljer": details})
    wb = openpyxl.load_workbook(tmp_path / "i.xlsx")
    assert wb.sheetnames == [SUMMARY_SHEET, LIST_SHEET, "Månadsdetaljer"]
    ws = wb[LIST_SHEET]
    assert ws["C2"].value == "betalare_personnummer" and ws["H3"].value == 1000
    assert ws["C1"].value == "Betalarens personnummer" and ws["I3"].value == "Efterdebitering"
    assert [c.value for c in wb["Månadsdetaljer"][1]][:2] == ["Ärende-id", "Månad"]
    assert wb["Månadsdetaljer"]["B2"].value == "manad"
    assert read_list(tmp_path / "i.xlsx")["atgard"].tolist() == ["efterdebitering"]


def test_board_table_keeps_suppressed_cells_as_text(tmp_path):
    table = pd.DataFrame({"skolenhet": ["Skola A", "Skola A"], "arskurs": [7, 8],
                          "manad": ["2025-09", "2025-09"], "antal_elever": [40, ".."],
                          "antal_10": pd.Series([12, ".."], dtype=object)})
    write_table_xlsx(tmp_path / "kommunbild.xlsx", "Kommunbild frånvaro", table,
                     {"Referensdatum": date(2025, 9, 30), "Policyversion": POLICY.version})
    ws = openpyxl.load_workbook(tmp_path / "kommunbild.xlsx")[LIST_SHEET]
    assert [c.value for c in ws[2]] == ["skolenhet", "arskurs", "manad", "antal_elever",
                                        "antal_10"]
    assert ws["B1"].value == "Årskurs" and ws["E1"].value == "Antal ≥ 10 %"
    assert ws["D3"].value == 40 and ws["D3"].data_type == "n"
    assert ws["D4"].value == ".." and ws["D4"].data_type == "s"
    assert ws.freeze_panes == "A3"
    assert ws.page_setup.orientation == "landscape"


def test_summary_drops_protected_closed_cases_and_person_ids(tmp_path):
    closed_cases = pd.DataFrame({"arende_id": ["OPEN000001", "HIDDEN0002"],
                                 "person_id": pd.Series(["a" * 32, "b" * 32], dtype="string"),
                                 "forst_sedd": pd.to_datetime(["2025-08-01"] * 2),
                                 "avslutad": pd.to_datetime(["2025-09-01"] * 2),
                                 "dagar_oppet": pd.array([31, 31], dtype="Int64")})
    summary = build_summary(SPEC, POLICY, "2025-09-01", general_rows(), closed_cases,
                            skyddade={"b" * 32})
    assert summary["Avslutade sedan förra leveransen"] == 1
    assert list(summary["Avslutade ärenden"]["arende_id"]) == ["OPEN000001"]
    assert "person_id" not in summary["Avslutade ärenden"].columns
    with pytest.raises(ListSpecError):
        write_list_xlsx(tmp_path / "x.xlsx", SPEC, general_rows(),
                        {"Avslutade ärenden": closed_cases})
    with pytest.raises(ListSpecError):
        write_table_xlsx(tmp_path / "t.xlsx", "t", pd.DataFrame({"person_id": ["a"]}), {})


def test_amounts_in_kronor_show_a_thousands_separator(tmp_path):
    spec = list_spec("inkomstkontroll", 2024)
    rows = pd.DataFrame({
        "arende_id": ["X1"], "hushall_id": ["H1"],
        "betalare_personnummer": ["19800101-1234"], "betalare_namn": ["Eva Ström"],
        "inkomstar": pd.array([2024], dtype="Int64"), "debiterat": pd.array([19260], "Int64"),
        "korrekt_avgift": pd.array([20000], "Int64"), "differens": pd.array([740], "Int64"),
        "atgard": ["efterdebitering"], "taxa_bekraftad": [True], "status": ["ny"]})
    write_list_xlsx(tmp_path / "i.xlsx", spec, rows, build_summary(spec, POLICY, "2025-11-01",
                                                                    rows))
    ws = openpyxl.load_workbook(tmp_path / "i.xlsx")[LIST_SHEET]
    assert ws["F3"].number_format == "#,##0" and ws["F3"].value == 19260  # Debiterat (kr)
    assert ws["E3"].number_format == "0"  # the income year is no amount
