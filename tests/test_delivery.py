"""The whole delivery on a small town: the same lists with or without the helper process,
hundreds of lists tracked in one pass like one at a time, and a protected household's
details in no general list (its extra sheets included)."""

from __future__ import annotations

from datetime import date

import numpy as np
import openpyxl
import pandas as pd
import pytest

from assets.delivery.assets import INPUTS
from assets.delivery.lists import delivery_inputs
from skyddsnat.delivery.deliver import deliver
from skyddsnat.layout import DataDir
from skyddsnat.lists import render
from skyddsnat.lists.cases import empty_history, track_cases, track_lists
from skyddsnat.lists.catalog import list_spec
from skyddsnat.lists.excel import HEADERS, read_list
from skyddsnat.lists.labels import LABELS
from skyddsnat.lists.render import WORKERS_ENV
from skyddsnat.parallel import Helper
from skyddsnat.policy import load_policy
from skyddsnat.privacy.identity_store import merge_vault, stage_identities
from skyddsnat.privacy.keys import init_keys, load_keys
from skyddsnat.rules.suppression import TOTAL

POLICY = load_policy()
AS_OF = date(2025, 11, 3)
P = [f"{i:032x}" for i in range(10)]
PROTECTED = [P[8], P[9]]  # a pupil, and the co-payer of household H2
S1, S2 = "00000001", "00000002"


def s(values, dtype="string"):
    return pd.Series(values, dtype=dtype)


def tables() -> dict[str, pd.DataFrame]:
    pupils = [P[0], P[1], P[8]]
    absence = pd.DataFrame({
        "person_id": s(pupils), "skolenhetskod": s([S1, S2, S2]),
        "arskurs": s([4, 5, 5], "Int64"), "franvaro_procent": s([21.5, 16.0, 30.0], "Float64"),
        "ogiltig_procent": s([2.0, 5.5, 0.0], "Float64"),
        "langsta_sammanhangande_dagar": s([6, 1, 2], "Int64"), "niva": s(["hog"] * 3),
        "franvaro_procent_4v": s([25.0, None, 31.0], "Float64"),
        "ogiltig_procent_4v": s([0.0, None, 0.0], "Float64"),
        "langsta_sammanhangande_dagar_4v": s([6, None, 2], "Int64"),
        "niva_4v": s(["hog", None, "hog"]), "ogiltig_flagga": [False, True, False],
        "utredningsplikt": [True, False, True], "fynd": s(["", "x", ""]),
        "skal": s(["hog_franvaro, lang_franvaro", "ogiltig_franvaro", "hog_franvaro"])})
    households = pd.DataFrame({  # H2 (protected co-payer) first, H3 not listed
        "hushall_id": s(["H2", "H1", "H3"]), "betalare": s([P[4], P[3], P[5]]),
        "medbetalare": s([P[9], None, None]), "inkomstar": s([2024] * 3, "Int64"),
        "debiterat": s([100, 200, 300], "Int64"), "korrekt_avgift": s([150, 100, 300], "Int64"),
        "differens": s([50, -100, 0], "Int64"),
        "atgard": s(["efterdebitering", "aterbetalning", "inom_tolerans"]),
        "taxa_bekraftad": pd.array([True, True, True], dtype="boolean")})
    months = pd.DataFrame({
        "hushall_id": s(["H1", "H2", "H3", "H1"]),
        "faktura_manad": s(["2024-01"] * 3 + ["2024-02"]),
        "betalare": s([P[3], P[4], P[5], P[3]]), "medbetalare": s([None, P[9], None, None]),
        "barn": s([P[6], P[7], P[2], P[6]]), "verksamhet": s(["forskola"] * 4),
        "barn_ordning": s([1] * 4, "Int64"), "anmald_inkomst": s([1, 2, 3, 4], "Int64"),
        "hushallsinkomst_manad": s([10, 20, 30, 40], "Int64"),
        "debiterad_avgift": s([5, 6, 7, 8], "Int64"), "korrekt_avgift": s([5, 7, 7, 8], "Int64"),
        "differens": s([0, 1, 0, 0], "Int64"), "inkomstar": [2024] * 4})
    board = pd.DataFrame({
        "skolenhet": s([TOTAL, S1]), "arskurs": s([TOTAL, TOTAL]), "manad": s(["2025-10"] * 2),
        "antal_elever": s(["40", "25"]), "antal_10": s(["12", ".."]), "antal_15": s(["6", ".."]),
        "antal_20": s(["..", ".."]), "skolenhet_namn": s([None, "Skola Ett"])})
    return {
        "skolplikt_arenden": pd.DataFrame({
            "person_id": s([P[0], P[8]]), "forvantad_arskurs": s(["3", "4"]),
            "folkbokford_datum": pd.to_datetime(["2025-08-01", None]),
            "orsak": s(["okand", "okand"]), "skolenheter": s(["", ""])}),
        "skolplikt_datakvalitet": pd.DataFrame({"person_id": s([P[1]]), "skolenhetskod": s([S1]),
                                                "fynd": s(["saknar_skola"])}),
        "inkomstkontroll_hushall": households, "inkomstkontroll_manader": months,
        "inkomstkontroll_signaler": pd.DataFrame({
            "hushall_id": s(["H2", "H1"]), "betalare": s([P[4], P[3]]),
            "signal": s(["a", "b"]), "beskrivning": s(["x", "y"]), "inkomstar": [2024, 2024]}),
        "franvaro_elever": absence,
        "franvaro_termin": pd.DataFrame({"skolenhetskod": s([S1, S2])}),
        "kommunbild_tabell": board,
        "atgardsprogram_elever": pd.DataFrame({
            "person_id": s([P[1]]), "skolenhetskod": s([S2]), "termin": s(["HT2025"]),
            "arskurs": s([8], "Int64"), "antal_f": s([2], "Int64"), "amnen_f": s(["EN, MA"]),
            "antal_streck": s([0], "Int64"), "amnen_streck": s([""]),
            "streck_och_franvaro": [False], "skal": s(["f_utan_atgardsprogram"])}),
        "atgardsprogram_kommun": pd.DataFrame({
            "skolenhet": s([S2]), "elever_med_f": s(["6"]), "elever_med_atgardsprogram": s([".."]),
            "f_utan_atgardsprogram": s([".."]), "elever_med_streck": s(["0"])}),
        "elevregister": pd.DataFrame({"person_id": s(P[:2]), "huvudman": s(["kommunal"] * 2),
                                      "skolenhetskod": s([S1, S2]),
                                      "skolenhet_namn": s(["Skola Ett", "Skola Två"])}),
        "betyg": pd.DataFrame({"skolenhetskod": s([S2]), "termin": s(["HT2025"])}),
        "inkomstkontroll_sammanfattning": pd.DataFrame({  # without protected household H2
            "inkomstar": [2024] * 6, "nyckel": s(["antal_hushall", "antal_aterbetalning",
                                                  "antal_inom_tolerans", "summa_aterbetalning",
                                                  "tolerans_kr_per_ar",
                                                  "alla_perioder_bekraftade"]),
            "varde": s(["2", "1", "1", "100", "600", "True"])}),
        "skyddade": pd.DataFrame({"person_id": s(PROTECTED)}),
    }


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    init_keys(base / "k", base / "officer.pem")
    return load_keys(base / "k")


def run(root, keys, workers: int, monkeypatch) -> DataDir:
    data = DataDir(root)
    data.warehouse.mkdir(parents=True)
    for name, table in tables().items():
        table.to_parquet(data.table(name))
    people = pd.DataFrame({"person_id": s(P), "personnummer": [f"2015010{i}123{i}" for i in
                                                                range(10)],
                           "fornamn": [f"Namn{i}" for i in range(10)], "efternamn": ["Ek"] * 10})
    stage_identities(keys, data.vault, "folkbokforing", people)
    merge_vault(keys, data.vault, s(PROTECTED))
    monkeypatch.setenv(WORKERS_ENV, str(workers + 1))  # helpers + the delivery itself
    loaded = {n: pd.read_parquet(data.table(n)) for n in INPUTS}
    lists, boards = delivery_inputs(data, loaded, POLICY, AS_OF)
    deliver(data, keys, POLICY, AS_OF, lists, boards, loaded["skyddade"]["person_id"])
    return data


def cells(data: DataDir) -> dict[str, list]:
    out = {}
    for path in sorted((data.outbox / AS_OF.isoformat()).rglob("*.xlsx")):
        wb = openpyxl.load_workbook(path)
        rows = []
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                rows.append((ws.title, row if row[0] != "Skapad" else ("Skapad",)))
        out[path.relative_to(data.outbox / AS_OF.isoformat()).as_posix()] = rows
    return out


def test_same_lists_with_and_without_the_helper(tmp_path, keys, monkeypatch):
    alone = run(tmp_path / "alone", keys, 0, monkeypatch)
    sent = []
    start, send = render.Renderer.__init__, Helper.send

    def started(self, helpers):  # a small town is done before the helper is up: wait for it
        start(self, helpers)
        assert self.wait_for_helper()

    monkeypatch.setattr(render.Renderer, "__init__", started)
    monkeypatch.setattr(Helper, "send", lambda self, job: sent.append(job[0].__name__)
                        or send(self, job))
    helped = run(tmp_path / "helped", keys, 1, monkeypatch)
    assert sent  # the helper took part (the board first)
    assert cells(alone) == cells(helped)
    day = AS_OF.isoformat()
    for page in ("namnd/kommunbild.html",):
        assert (alone.outbox / day / page).read_text() == (helped.outbox / day / page).read_text()
    files = [{k: v for k, v in f.items() if k != "sha256"}
             for f in pd.read_json(alone.outbox / day / "manifest.json", typ="series")["files"]]
    files_helped = [{k: v for k, v in f.items() if k != "sha256"} for f in pd.read_json(
        helped.outbox / day / "manifest.json", typ="series")["files"]]
    assert files == files_helped
    assert {f["path"] for f in files} >= {"rektor/franvaro_00000001.xlsx",
                                          "rektor/franvaro_00000002.xlsx",
                                          "rektor/atgardsprogram_00000002.xlsx",
                                          "avgiftshandlaggare/inkomstkontroll_2024.xlsx"}


def test_protected_household_is_in_no_general_sheet(tmp_path, keys, monkeypatch):
    data = run(tmp_path / "town", keys, 0, monkeypatch)
    workbooks = cells(data)
    income = workbooks.pop("avgiftshandlaggare/inkomstkontroll_2024.xlsx")
    path = data.outbox / AS_OF.isoformat() / "avgiftshandlaggare" / "inkomstkontroll_2024.xlsx"
    for sheet in ("Lista", "Månadsdetaljer", "Signaler"):
        assert set(read_list(path, sheet)["hushall_id"]) == {"H1"}, sheet
    summary = {row[0]: row[1] for title, row in income
               if title == "Sammanfattning" and len(row) > 1}
    assert summary["Hushåll i kontrollen"] == 2  # H2 (protected) is not counted
    assert summary["Åtgärd: Efterdebitering"] == 0 and summary["Åtgärd: Återbetalning"] == 1
    assert summary["Åtgärd: Inom tolerans (står inte på listan)"] == 1
    assert summary["Summa återbetalning (kr)"] == 100
    values = {v for rows in [income, *workbooks.values()] for _, row in rows for v in row}
    assert "H2" not in values
    assert not {"20150108-1238", "20150109-1239"} & values  # protected personnummer


def test_many_lists_tracked_in_one_pass_like_one_at_a_time():
    key = b"k" * 32
    specs = [list_spec("franvaro", f"{i:08d}") for i in range(4)]
    rng = np.random.default_rng(7)
    history = {"one": empty_history(), "all": empty_history()}
    for day in pd.date_range("2025-09-01", periods=5, freq="7D"):
        frames = [pd.DataFrame({"person_id": s(sorted(rng.choice(P, rng.integers(0, 5),
                                                                 replace=False))),
                                "skolenhetskod": spec.name[-8:]}) for spec in specs]
        rows = pd.concat(frames, ignore_index=True)
        lists = np.repeat(np.arange(len(specs)), [len(f) for f in frames])
        together = track_lists(history["all"], specs, rows, lists, key, day)
        for i, (spec, frame) in enumerate(zip(specs, frames, strict=True)):
            one, closed, history["one"] = track_cases(history["one"], spec, frame, key, day)
            pd.testing.assert_frame_equal(
                one, together.rows[lists == i].reset_index(drop=True))
            pd.testing.assert_frame_equal(closed, together.closed[i])
        history["all"] = together.history
        pd.testing.assert_frame_equal(history["one"], history["all"])


def test_every_list_reads_as_a_person_and_as_a_script(tmp_path, keys, monkeypatch):
    """Each workbook of a delivery: Swedish labels (å/ä/ö) over the contract's names, display
    values and no bare codes, a Förklaring block after the counts, worst first, printable
    landscape one page wide; and read back by the contract's names it gives the codes."""
    data = run(tmp_path / "town", keys, 0, monkeypatch)
    root = data.outbox / AS_OF.isoformat()
    books = sorted(root.rglob("*.xlsx"))
    assert {p.parent.name for p in books} == {"skolpliktshandlaggare", "rektor",
                                               "avgiftshandlaggare", "namnd"}
    bare = {c for c, shown in LABELS.items() if shown != c}
    for path in books:
        wb = openpyxl.load_workbook(path)
        ws = wb["Lista"]
        labels, names = [c.value for c in ws[1]], [c.value for c in ws[2]]
        assert labels == [HEADERS.get(n, n) for n in names], path.name
        assert any(set(lab) & set("åäöÅÄÖ") for lab in labels), path.name
        shown = [v for row in ws.iter_rows(min_row=3, values_only=True) for v in row]
        assert not bare & {v for v in shown if isinstance(v, str)}, path.name
        summary = [r[0] for r in wb["Sammanfattning"].iter_rows(values_only=True)]
        assert "Förklaring" in summary and summary.index("Förklaring") > summary.index(
            "Policyversion"), path.name
        assert not [k for k in summary if isinstance(k, str) and k.rstrip().endswith(":")]
        for sheet in wb.worksheets:
            assert sheet.page_setup.orientation == "landscape", (path.name, sheet.title)
            assert sheet.sheet_properties.pageSetUpPr.fitToPage, (path.name, sheet.title)
        back = read_list(path)
        assert list(back.columns) == names
        if path.parent.name != "namnd":
            spec = list_spec(path.stem.split("_")[0])
            assert names == list(spec.columns), path.name
    rektor = read_list(root / "rektor" / "franvaro_00000001.xlsx")
    assert rektor["niva"].tolist() == ["hog"] and rektor["skal"].tolist() == [
        "hog_franvaro, lang_franvaro"]
    wb = openpyxl.load_workbook(root / "rektor" / "franvaro_00000001.xlsx")
    assert wb["Lista"]["F3"].value == "Hög frånvaro, Lång sammanhängande frånvaro"
    title = wb["Sammanfattning"]["A1"].value
    assert title == "Problematisk frånvaro, skolenhet 00000001 Skola Ett"
    board = read_list(root / "namnd" / "atgardsprogram_kommun.xlsx")
    assert list(board.columns[:2]) == ["skolenhet_namn", "skolenhet"]
    assert board["skolenhet_namn"].tolist() == ["Skola Två"]
    ap = openpyxl.load_workbook(root / "rektor" / "atgardsprogram_00000002.xlsx")
    facts = {r[0]: r[1] for r in ap["Sammanfattning"].iter_rows(values_only=True)}
    assert facts["Betygstermin"] == "HT2025" and facts["Skolenhet"] == "00000002 Skola Två"
    assert read_list(root / "rektor" / "atgardsprogram_00000002.xlsx")["amnen_f"].tolist() == [
        "EN, MA"]
