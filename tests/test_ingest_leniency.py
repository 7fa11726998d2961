"""What real exports write differently and must still be accepted (or refused) as the
contract means it: code case, förskoleklass written as F/FK."""

from datetime import date

from skyddsnat.ingest.source_table import ingest_file
from skyddsnat.policy import load_policy

POLICY = load_policy()
HEADER = ("personnummer;skolenhetskod;skolenhet_namn;huvudman;skolform;arskurs;startdatum;"
          "slutdatum\n")


def _ingest(tmp_path, body: str):
    path = tmp_path / "elevregister_20251120.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return ingest_file(path, "elevregister", POLICY, b"k" * 32, date(2025, 11, 20))


def test_codes_match_regardless_of_case_and_keep_the_canonical_spelling(tmp_path):
    r = _ingest(tmp_path, "121212-1212;12345678;A;Kommunal;gr;3;2025-08-01;\n"
                          "811218-9876;12345678;A;FRISTAENDE;Gran;4;2025-08-01;\n")
    assert r.quarantined == 0
    assert r.table["huvudman"].tolist() == ["kommunal", "fristaende"]
    assert r.table["skolform"].tolist() == ["GR", "GRAN"]


def test_forskoleklass_written_as_f_or_fk_is_grade_zero(tmp_path):
    r = _ingest(tmp_path, "121212-1212;12345678;A;kommunal;FK;FK;2025-08-01;\n"
                          "811218-9876;12345678;A;kommunal;FK;F;2025-08-01;\n")
    assert r.table["arskurs"].tolist() == [0, 0]


def test_an_unknown_code_is_still_quarantined(tmp_path):
    r = _ingest(tmp_path, "121212-1212;12345678;A;kommunal;XX;3;2025-08-01;\n")
    assert r.quarantined_by_reason == {"okand_kod": 1}
