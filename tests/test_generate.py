"""The synthetic generator: contract shape, messiness as planted, determinism, privacy."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from skyddsnat.generate import TINY, generate
from skyddsnat.generate import pnr as gen_pnr
from skyddsnat.generate.fees import fee
from skyddsnat.generate.school_calendar import current_term, previous_term, term
from skyddsnat.personnummer import InvalidPersonnummer, luhn_digit, normalize

AS_OF = date(2026, 3, 16)
HEADERS = {
    "folkbokforing": "personnummer;fornamn;efternamn;fodelsedatum;utdelningsadress;postnummer;"
    "postort;kommunkod;folkbokford_datum;sekretessmarkering;skyddad_folkbokforing;"
    "vardnadshavare_1;vardnadshavare_2",
    "elevregister": "personnummer;skolenhetskod;skolenhet_namn;huvudman;skolform;arskurs;"
    "startdatum;slutdatum",
    "skolpliktsbeslut": "personnummer;beslutstyp;giltig_fran;giltig_till;diarienummer",
    "narvaro": "datum;personnummer;skolenhetskod;schemalagd_min;giltig_franvaro_min;"
    "ogiltig_franvaro_min",
    "avgifter": "faktura_manad;hushall_id;betalare;medbetalare;barn;verksamhet;barn_ordning;"
    "anmald_inkomst;debiterad_avgift",
    "inkomster": "inkomstar;personnummer;faststalld_inkomst",
    "atgardsprogram": "personnummer;skolenhetskod;beslutsdatum;avslutad_datum",
    "betyg": "personnummer;skolenhetskod;termin;arskurs;amne;betyg",
    "franvaroarenden": "personnummer;steg;datum",
}
PNR_COLUMNS = {"personnummer", "vardnadshavare_1", "vardnadshavare_2", "betalare",
               "medbetalare", "barn"}
NAME = re.compile(r"^(?P<kind>[a-z]+)_(?P<stamp>\d{8}|\d{6}|\d{4}|(HT|VT)\d{4})\.csv$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return generate(TINY, out, AS_OF, seed=7)


@pytest.fixture(scope="module")
def ange(tmp_path_factory):
    out = tmp_path_factory.mktemp("ange")
    return generate("ange", out, AS_OF, seed=1)


def _read(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    enc = "cp1252" if path.name.startswith("folkbokforing") else "utf-8-sig"
    return list(csv.DictReader(io.StringIO(raw.decode(enc), newline=""), delimiter=";"))


def test_same_seed_same_bytes(tiny, tmp_path):
    again = generate(TINY, tmp_path, AS_OF, seed=7)
    assert again.files.keys() == tiny.files.keys()
    for name in tiny.files:
        first = (tiny.out_dir / "inbox" / name).read_bytes()
        assert first == (tmp_path / "inbox" / name).read_bytes(), name


def test_other_seed_other_people(tiny, tmp_path):
    other = generate(TINY, tmp_path, AS_OF, seed=8)
    name = f"folkbokforing_{AS_OF:%Y%m%d}.csv"
    assert (tiny.out_dir / "inbox" / name).read_bytes() != (tmp_path / "inbox" / name).read_bytes()
    assert other.truth.skolplikt


def test_file_names_and_headers(tiny):
    inbox = tiny.out_dir / "inbox"
    names = sorted(p.name for p in inbox.iterdir())
    assert names == sorted(tiny.files)
    kinds = set()
    for name in names:
        m = NAME.match(name)
        assert m, name
        kinds.add(m["kind"])
        text = (inbox / name).read_bytes().decode(
            "cp1252" if m["kind"] == "folkbokforing" else "utf-8-sig")
        assert text.splitlines()[0] == HEADERS[m["kind"]], name
    assert kinds == set(HEADERS)
    assert previous_term(current_term(AS_OF)).label == "HT2025"
    assert "betyg_HT2025.csv" in names
    months = sorted(n for n in names if n.startswith("avgifter_"))
    assert months[0] == "avgifter_202501.csv" and months[-1] == "avgifter_202602.csv"
    assert len(months) == 14
    assert "inkomster_2025.csv" in names


def test_attendance_days(tiny):
    days = sorted(n[8:16] for n in tiny.files if n.startswith("narvaro_"))
    assert days[0] == term("HT", 2025).start.strftime("%Y%m%d")  # the läsår's first day
    assert days[-1] == "20260316"
    parsed = [date(int(d[:4]), int(d[4:6]), int(d[6:])) for d in days]
    assert all(d.weekday() < 5 for d in parsed)
    assert not any(d.isocalendar().week in (44, 8) for d in parsed)  # höstlov, sportlov
    assert not any(date(2025, 12, 21) <= d <= date(2026, 1, 7) for d in parsed)  # jullov


def test_terms():
    assert term("HT", 2026).start == date(2026, 8, 17)
    assert term("VT", 2026).start == date(2026, 1, 8)
    assert current_term(date(2026, 9, 1)).label == "HT2026"
    assert previous_term(current_term(date(2026, 9, 1))).label == "VT2026"


def test_every_personnummer_normalises_except_the_planted(ange):
    inbox = ange.out_dir / "inbox"
    for name in ange.files:
        bad = 0
        for row in _read(inbox / name):
            for col in PNR_COLUMNS & row.keys():
                value = row[col]
                if not value:
                    continue
                try:
                    normalize(value, reference=AS_OF)
                except InvalidPersonnummer:
                    bad += 1
        expected = ange.invalid.get(name, {}).get("ogiltigt_personnummer", 0)
        assert bad == expected, name


def test_invalid_rows_counted(ange):
    total = {k: sum(v.values()) for k, v in ange.invalid.items()}
    assert total[f"folkbokforing_{AS_OF:%Y%m%d}.csv"] == 5
    reasons = {r for v in ange.invalid.values() for r in v}
    assert reasons == {"ogiltigt_personnummer", "saknat_varde", "dubblett", "okand_kod",
                       "orimligt_varde"}
    elev = _read(ange.out_dir / "inbox" / f"elevregister_{AS_OF:%Y%m%d}.csv")
    assert sum(r["skolform"] == "XX" for r in elev) == 1
    assert sum(r["skolenhetskod"] == "" for r in elev) == 1
    narvaro = [r for n in ange.files if n.startswith("narvaro_")
               for r in _read(ange.out_dir / "inbox" / n)]
    assert sum(r["giltig_franvaro_min"].startswith("-") for r in narvaro) == 1


def test_personnummer_forms_are_mixed(ange):
    elev = _read(ange.out_dir / "inbox" / f"elevregister_{AS_OF:%Y%m%d}.csv")
    lengths = {len(r["personnummer"]) for r in elev}
    assert {11, 12, 13} <= lengths
    folk = _read(ange.out_dir / "inbox" / f"folkbokforing_{AS_OF:%Y%m%d}.csv")
    samordning = [r for r in folk if len(r["personnummer"]) == 12
                  and int(r["personnummer"][6:8]) > 60]
    assert 0.003 < len(samordning) / len(folk) < 0.03


def test_luhn_matches_the_project_rule(ange):
    folk = _read(ange.out_dir / "inbox" / f"folkbokforing_{AS_OF:%Y%m%d}.csv")
    for r in folk[:500]:
        p = r["personnummer"]
        if len(p) == 12:
            assert p[-1] == luhn_digit(p[2:11])
    assert gen_pnr.break_check_digit("198112189876") != "198112189876"


def test_encodings_and_bom(ange):
    inbox = ange.out_dir / "inbox"
    folk = (inbox / f"folkbokforing_{AS_OF:%Y%m%d}.csv").read_bytes()
    text = folk.decode("cp1252")
    assert any(ch in text for ch in "åäöÅÄÖ")
    with pytest.raises(UnicodeDecodeError):
        folk.decode("utf-8")
    for name, info in ange.files.items():
        assert (inbox / name).read_bytes().startswith(b"\xef\xbb\xbf") == info.bom, name
    assert (inbox / f"elevregister_{AS_OF:%Y%m%d}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert sum(i.bom for n, i in ange.files.items() if n.startswith("narvaro_")) > 5


def test_decimal_comma_in_reported_income(ange):
    rows = [r for n in ange.files if n.startswith("avgifter_")
            for r in _read(ange.out_dir / "inbox" / n)]
    commas = [r["anmald_inkomst"] for r in rows if "," in r["anmald_inkomst"]]
    assert commas and all(re.fullmatch(r"\d+,00", v) for v in commas)
    assert any(r["anmald_inkomst"] == "" for r in rows)


def test_protected_share_about_half_a_percent(ange):
    t = ange.truth
    persons = ange.rows("folkbokforing") - 5
    assert 0.003 <= len(t.protected_flagged) / persons <= 0.008
    assert t.protected_associated
    # The restricted lists are never empty.
    assert t.protected & {p for p, r in t.skolplikt.items() if r == "okand"}
    assert t.protected & {k[0] for k, v in t.franvaro_levels["termin"].items() if v == "hog"}
    assert t.protected_households & {h for h, a in t.inkomstkontroll.items()
                                     if a == "efterdebitering"}
    assert t.protected & {k[0] for k in t.f_without_programme}


def test_planted_anomalies_are_in_the_truth(ange):
    t = ange.truth
    reasons = set(t.skolplikt.values())
    assert reasons == {"okand", "nyinflyttad", "placering_avslutad", "dubbel_placering"}
    assert not t.not_resident_children & t.skolplikt.keys()
    for role in ("annat_satt", "utlandsvistelse", "uppskjuten_skolplikt", "skolplikt_upphord"):
        assert not t.skolplikt_planted[role] & t.skolplikt.keys(), role
    levels = t.franvaro_levels["termin"]
    by_pnr: dict[str, list[str]] = {}
    for (p, _), v in levels.items():
        by_pnr.setdefault(p, []).append(v)
    for level in ("uppmarksamma", "oroande", "hog"):
        assert all(by_pnr[p] == [level] for p in t.franvaro_planted[level]), level
    assert all(by_pnr[p] == ["hog"] for p in t.franvaro_planted["run_over_helg"])
    assert not t.franvaro_planted["run_4_dagar"] & {p for p, v in by_pnr.items() if "hog" in v}
    changer = next(iter(t.franvaro_planted["bytt_skola_franvaro"]))
    assert len(by_pnr[changer]) == 2  # on both schools' lists
    ogiltig = {k[0] for k in t.franvaro_ogiltig["termin"]}
    assert t.franvaro_planted["ogiltig"] <= ogiltig - set(by_pnr)
    assert t.hog_without_case and t.case_step5
    expect = {"underrapporterad": "efterdebitering", "overrapporterad": "aterbetalning",
              "inom_tolerans": "inom_tolerans", "oforandrad_inkomst": "efterdebitering",
              "saknar_betalare": "saknar_inkomstuppgift",
              "saknar_medbetalare": "saknar_inkomstuppgift"}
    for kind, atgard in expect.items():
        assert {t.inkomstkontroll[h] for h in t.fee_planted[kind]} == {atgard}, kind
    assert t.shared_copayer and t.child_in_two_households
    assert t.grades_planted["program_avslutat_fore_terminen"] <= {k[0] for k in
                                                                   t.f_without_programme}
    assert t.f_students - t.f_without_programme  # most with F do have a programme


def test_fee_helper_follows_the_rules():
    import numpy as np

    v = np.array(["forskola", "forskola", "fritidshem", "forskola"], dtype=object)
    rank = np.array([1, 2, 1, 4])
    nan = float("nan")
    got = fee(date(2024, 5, 1), v, rank, np.array([70_000, 30_000, 41_250.0, 10_000]))
    assert got.tolist() == [1688, 600, 825, 0]
    got = fee(date(2026, 8, 1), v, rank, np.array([nan, 20_000, 30_000, 5_000]))
    assert got.tolist() == [1547, 200, 400, 0]


def test_no_personnummer_outside_the_inbox(tiny):
    numbers = re.compile(r"\d{6}[-+]?\d{4}")
    for path in tiny.out_dir.rglob("*"):
        if path.is_file() and "inbox" not in path.relative_to(tiny.out_dir).parts:
            assert not numbers.search(path.read_text(encoding="utf-8")), path
    summary = json.loads((tiny.out_dir / "generator_summary.json").read_text(encoding="utf-8"))
    assert summary["rows"]["folkbokforing"] == tiny.rows("folkbokforing")


def test_custom_profile_and_overwrite_guard(tmp_path):
    small = replace(TINY, name="mini", children=60, kommunkod="9999")
    report = generate(small, tmp_path, date(2026, 10, 5), seed=3)
    assert report.truth.kommunkod == "9999"
    assert "betyg_VT2026.csv" in report.files
    with pytest.raises(FileExistsError):
        generate(small, tmp_path, date(2026, 10, 5), seed=3)
