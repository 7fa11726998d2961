"""bench.compare_lists --strikt: every sheet as displayed, but the "Skapad" row."""

from __future__ import annotations

import xlsxwriter

from bench.compare_lists import compare, compare_strict


def _book(path, skapad: str, note: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(path)
    summary = wb.add_worksheet("Sammanfattning")
    summary.write_row(0, 0, ["Skapad", skapad])
    summary.write_row(1, 0, ["Referensdatum", "2026-06-11"])
    wb.add_worksheet("Förklaring").write_row(0, 0, ["Om listan", note])
    data = wb.add_worksheet("Lista")
    data.write_row(0, 0, ["Ärende-id", "Årskurs"])
    data.write_row(1, 0, ["arende_id", "arskurs"])
    data.write_row(2, 0, ["A1", 7])
    wb.close()


def test_strict_sees_an_explanation_the_lenient_comparison_skips(tmp_path):
    _book(tmp_path / "a" / "rektor" / "l.xlsx", "2026-06-11 02:00", "Elever med frånvaro")
    _book(tmp_path / "b" / "rektor" / "l.xlsx", "2026-06-11 03:17", "Elever med frånvaro")
    _book(tmp_path / "c" / "rektor" / "l.xlsx", "2026-06-11 02:00", "Elever med F")
    a, b, c = (tmp_path / x for x in "abc")
    assert compare_strict(a, b) == 0  # only the time of rendering differs
    assert compare(a, c) == 0 and compare_strict(a, c) == 1
