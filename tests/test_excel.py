"""Excel lists read back with openpyxl: Swedish headers, frozen header, typed cells."""

from __future__ import annotations

from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest

from skyddsnat.excel import (
    LIST_SHEET,
    SUMMARY_SHEET,
    ListSpecError,
    build_summary,
    write_list_xlsx,
    write_table_xlsx,
)
from skyddsnat.lists.catalog import list_spec
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
        "orsak": ["okand", "okand", "nyinflyttad"],
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


def test_list_sheet_headers_types_and_layout(tmp_path):
    write(tmp_path / "skolplikt.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "skolplikt.xlsx")
    assert wb.sheetnames == [SUMMARY_SHEET, LIST_SHEET]
    ws = wb[LIST_SHEET]
    # The contract's column names head the columns; the Swedish label is the cell's note.
    assert [c.value for c in ws[1]] == ["arende_id", "personnummer", "fornamn", "efternamn",
                                        "forvantad_arskurs", "folkbokford_datum", "orsak",
                                        "status"]
    assert ws["A1"].comment.text == "Ärende-id"
    assert ws["E1"].comment.text == "Förväntad årskurs"
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:H4"
    assert ws["B2"].value == "20150101-1234" and ws["B2"].data_type == "s"
    assert ws["C2"].value == '=HYPERLINK("x")' and ws["C2"].data_type == "s"  # never a formula
    assert ws["E2"].value == 4 and ws["E4"].value is None
    assert isinstance(ws["F2"].value, datetime) and ws["F2"].value.date() == date(2020, 1, 15)
    assert ws["F2"].number_format == "yyyy-mm-dd"
    assert ws["F3"].value is None
    assert ws.column_dimensions["F"].width >= 10


def test_summary_sheet_contents(tmp_path):
    write(tmp_path / "skolplikt.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "skolplikt.xlsx")[SUMMARY_SHEET]
    values = {r[0]: r[1] for r in ws.iter_rows(min_row=3, max_col=2, values_only=True) if r[0]}
    assert values["Referensdatum"].date() == date(2025, 9, 1)
    assert values["Policyversion"] == POLICY.version
    assert values["Antal ärenden"] == 3
    assert values["varav nya"] == 2 and values["varav kvarstående"] == 1
    assert values["Avslutade sedan förra leveransen"] == 1
    assert values["Orsak: okand"] == 2 and values["Orsak: nyinflyttad"] == 1
    assert values["Gallras senast"].date() == date(2026, 9, 1)  # utkorg_dagar 365
    assert values["Hanteringsanvisning"] == POLICY.gallring.hanteringsanvisning
    assert values["Mottagare"].startswith("Skolpliktshandläggare")
    cells = [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "9999999999" in cells and 31 in cells and "Dagar öppet" in cells


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
        "atgard": ["efterdebitering"], "status": ["ny"]})
    details = pd.DataFrame({"arende_id": ["X1", "X1"], "manad": ["2024-01", "2024-02"],
                            "debiterat": [1000, 1000], "korrekt_avgift": [1100, 1100]})
    write_list_xlsx(tmp_path / "i.xlsx", spec, rows,
                    build_summary(spec, POLICY, "2025-11-01", rows), {"Månadsdetaljer": details})
    wb = openpyxl.load_workbook(tmp_path / "i.xlsx")
    assert wb.sheetnames == [SUMMARY_SHEET, LIST_SHEET, "Månadsdetaljer"]
    ws = wb[LIST_SHEET]
    assert ws["C1"].value == "betalare_personnummer" and ws["H2"].value == 1000
    assert ws["C1"].comment.text == "Betalarens personnummer"
    assert wb["Månadsdetaljer"]["B1"].value == "manad"


def test_board_table_keeps_suppressed_cells_as_text(tmp_path):
    table = pd.DataFrame({"skolenhet": ["Skola A", "Skola A"], "arskurs": [7, 8],
                          "manad": ["2025-09", "2025-09"], "antal_elever": [40, ".."],
                          "antal_10": pd.Series([12, ".."], dtype=object)})
    write_table_xlsx(tmp_path / "kommunbild.xlsx", "Kommunbild frånvaro", table,
                     {"Referensdatum": date(2025, 9, 30), "Policyversion": POLICY.version})
    ws = openpyxl.load_workbook(tmp_path / "kommunbild.xlsx")[LIST_SHEET]
    assert [c.value for c in ws[1]] == ["skolenhet", "arskurs", "manad", "antal_elever",
                                        "antal_10"]
    assert ws["E1"].comment.text == "Antal ≥ 10 %"
    assert ws["D2"].value == 40 and ws["D2"].data_type == "n"
    assert ws["D3"].value == ".." and ws["D3"].data_type == "s"
    assert ws.freeze_panes == "A2"


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
