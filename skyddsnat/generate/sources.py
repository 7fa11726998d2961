"""The inbox files as the source systems export them: contract columns, mixed personnummer
forms, decimal commas, and a few planted invalid rows per file, each counted by reason.

Invalid rows are extra rows (or, for attendance, a replaced row of a pupil with no
absence), so the truth computed from the valid data is what the pipeline should find
once it has quarantined them. Duplicates are exact copies: one copy is valid.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

import numpy as np
import pandas as pd

from . import pnr
from .attendance import Attendance
from .fees import Fees
from .grades import Grades
from .people import People
from .schools import Schools
from .writer import kronor, ymd

FOLKBOKFORING = ["personnummer", "fornamn", "efternamn", "fodelsedatum", "utdelningsadress",
                 "postnummer", "postort", "kommunkod", "folkbokford_datum", "sekretessmarkering",
                 "skyddad_folkbokforing", "vardnadshavare_1", "vardnadshavare_2"]
ELEVREGISTER = ["personnummer", "skolenhetskod", "skolenhet_namn", "huvudman", "skolform",
                "arskurs", "startdatum", "slutdatum"]
BESLUT = ["personnummer", "beslutstyp", "giltig_fran", "giltig_till", "diarienummer"]
NARVARO = ["datum", "personnummer", "skolenhetskod", "schemalagd_min", "giltig_franvaro_min",
           "ogiltig_franvaro_min"]
AVGIFTER = ["faktura_manad", "hushall_id", "betalare", "medbetalare", "barn", "verksamhet",
            "barn_ordning", "anmald_inkomst", "debiterad_avgift"]
INKOMSTER = ["inkomstar", "personnummer", "faststalld_inkomst"]
ATGARDSPROGRAM = ["personnummer", "skolenhetskod", "beslutsdatum", "avslutad_datum"]
BETYG = ["personnummer", "skolenhetskod", "termin", "arskurs", "amne", "betyg"]
ARENDEN = ["personnummer", "steg", "datum"]

Invalid = defaultdict[str, Counter]


def _append(df: pd.DataFrame, rows: list[dict], inv: Invalid, name: str, reasons: list[str]):
    for r in reasons:
        inv[name][r] += 1
    return pd.concat([df, pd.DataFrame(rows, columns=df.columns)], ignore_index=True)


def _mixed(rng, pnr12: np.ndarray, forms, as_of: date | None) -> np.ndarray:
    """The test mix, or the profile's forms ('+' for those 100 or older on `as_of`)."""
    if forms is None:
        return pnr.mixed(rng, pnr12)
    return pnr.mixed(rng, pnr12, forms, as_of)


def _row(df: pd.DataFrame, i: int, **changes) -> dict:
    r = df.iloc[i].to_dict()
    r.update(changes)
    return r


class Fakes:
    """Valid numbers of adults outside every register, for invalid rows that must not
    collide with a real person."""

    def __init__(self, outsiders: pd.DataFrame):
        self._pool = list(outsiders.pnr.to_numpy()[-20:])

    def next(self) -> str:
        return self._pool.pop()


def folkbokforing(rng, people: People, fakes: Fakes, inv: Invalid, name: str) -> pd.DataFrame:
    p = people.persons.sort_values("pnr", kind="stable")
    fam = people.families.set_index("family").loc[p.family.to_numpy()]
    protected = ((p.sekretessmarkering == "J") | (p.skyddad_folkbokforing == "J")).to_numpy()
    addr = {c: np.where(protected, "", fam[c].to_numpy())
            for c in ("utdelningsadress", "postnummer", "postort")}
    df = pd.DataFrame({
        "personnummer": p.pnr.to_numpy(), "fornamn": p.fornamn.to_numpy(),
        "efternamn": p.efternamn.to_numpy(), "fodelsedatum": ymd(p.fodelsedatum).to_numpy(),
        **addr, "kommunkod": p.kommunkod.to_numpy(),
        "folkbokford_datum": ymd(p.folkbokford_datum).to_numpy(),
        "sekretessmarkering": p.sekretessmarkering.to_numpy(),
        "skyddad_folkbokforing": p.skyddad_folkbokforing.to_numpy(),
        "vardnadshavare_1": p.vardnadshavare_1.to_numpy(),
        "vardnadshavare_2": p.vardnadshavare_2.to_numpy(),
    })
    adult = np.flatnonzero(~p.is_child.to_numpy() & ~protected)
    template = _row(df, int(adult[0]), vardnadshavare_1="", vardnadshavare_2="")
    rows = [
        {**template, "personnummer": pnr.break_check_digit(fakes.next())},
        {**template, "personnummer": ""},
        _row(df, int(rng.choice(adult))),
        {**template, "personnummer": fakes.next(), "sekretessmarkering": "X"},
        {**template, "personnummer": fakes.next(), "folkbokford_datum": "2099-01-01"},
    ]
    return _append(df, rows, inv, name, ["ogiltigt_personnummer", "saknat_varde", "dubblett",
                                         "okand_kod", "orimligt_varde"])


def elevregister(rng, sch: Schools, covered: list[str], inv: Invalid, name: str, as_of: date,
                 forms: tuple[float, float, float] | None = None):
    pl = sch.placements
    df = pd.DataFrame({
        "personnummer": _mixed(rng, pl.pnr.to_numpy(), forms, as_of),
        "skolenhetskod": pl.skolenhetskod,
        "skolenhet_namn": pl.skolenhet_namn, "huvudman": pl.huvudman, "skolform": pl.skolform,
        "arskurs": pl.arskurs.astype(int).astype(str), "startdatum": ymd(pl.startdatum),
        "slutdatum": ymd(pl.slutdatum),
    })
    i = int(np.flatnonzero(pl.pnr.to_numpy() == covered[0])[0])
    old = {"startdatum": str(as_of.replace(year=as_of.year - 3)),
           "slutdatum": str(as_of.replace(year=as_of.year - 2))}
    rows = [
        _row(df, i, personnummer=pnr.break_check_digit(covered[1]), **old),
        _row(df, i, skolenhetskod="", **old),
        _row(df, int(np.flatnonzero(pl.pnr.to_numpy() == covered[2])[0])),
        _row(df, i, skolform="XX", **old),
        _row(df, i, arskurs="14", **old),
    ]
    return _append(df, rows, inv, name, ["ogiltigt_personnummer", "saknat_varde", "dubblett",
                                         "okand_kod", "orimligt_varde"])


def skolpliktsbeslut(sch: Schools, covered: list[str], inv: Invalid, name: str, as_of: date):
    d = sch.decisions
    df = pd.DataFrame({
        "personnummer": d.pnr, "beslutstyp": d.beslutstyp, "giltig_fran": ymd(d.giltig_fran),
        "giltig_till": ymd(d.giltig_till), "diarienummer": d.diarienummer,
    })
    y = as_of.year
    base = {"personnummer": covered[3], "beslutstyp": "annat_satt",
            "giltig_fran": str(as_of - timedelta(days=30)), "giltig_till": "",
            "diarienummer": f"{sch.decisions.diarienummer.iat[0].split()[0]} {y}/9001"}
    rows = [
        {**base, "personnummer": pnr.break_check_digit(covered[4])},
        {**base, "beslutstyp": ""},
        df.iloc[0].to_dict(),
        {**base, "beslutstyp": "hemundervisning", "diarienummer": f"{base['diarienummer']}1"},
        {**base, "giltig_till": str(as_of - timedelta(days=400)),
         "diarienummer": f"{base['diarienummer']}2"},
    ]
    return _append(df, rows, inv, name, ["ogiltigt_personnummer", "saknat_varde", "dubblett",
                                         "okand_kod", "orimligt_varde"])


class NarvaroDays:
    """Builds one day's attendance file at a time from the matrices."""

    def __init__(self, rng, att: Attendance, plan: dict[int, list[tuple[int, str]]],
                 forms: tuple[float, float, float] | None = None, as_of: date | None = None):
        self.att = att
        self.plan = plan
        self.text = _mixed(rng, att.roll.pnr.to_numpy(), forms, as_of)
        self.code = att.roll.skolenhetskod.to_numpy()

    def frame(self, d: int, inv: Invalid, name: str) -> pd.DataFrame:
        a = self.att
        on = np.flatnonzero(a.sched[:, d] >= 0)
        df = pd.DataFrame({
            "datum": a.days[d].isoformat(), "personnummer": self.text[on],
            "skolenhetskod": self.code[on], "schemalagd_min": a.sched[on, d].astype(str),
            "giltig_franvaro_min": a.valid[on, d].astype(str),
            "ogiltig_franvaro_min": a.invalid[on, d].astype(str),
        })
        extra = []
        pos = {e: k for k, e in enumerate(on)}
        for e, reason in self.plan.get(d, []):
            k = pos[e]
            inv[name][reason] += 1
            if reason == "ogiltigt_personnummer":
                df.iat[k, 1] = pnr.break_check_digit(a.roll.pnr.iat[e])
            elif reason == "saknat_varde":
                df.iat[k, 3] = ""
            elif reason == "orimligt_varde":
                df.iat[k, 4] = "-30"
            else:
                extra.append(df.iloc[k].to_dict())
        if extra:
            df = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
        return df


def avgifter(rng, fees: Fees, fakes: Fakes, inv: Invalid, last_name: str,
             forms: tuple[float, float, float] | None = None,
             as_of: date | None = None) -> dict[str, pd.DataFrame]:
    b = fees.billing
    comma = rng.random(len(b)) < 0.08
    df = pd.DataFrame({
        "faktura_manad": pd.to_datetime(b.month).dt.strftime("%Y-%m").to_numpy(),
        "hushall_id": b.hushall_id.to_numpy(),
        "betalare": _mixed(rng, b.betalare.to_numpy(), forms, as_of),
        "medbetalare": np.where(b.medbetalare.to_numpy() == "", "",
                                _mixed(rng, np.where(b.medbetalare == "", "190001010000",
                                                     b.medbetalare), forms, as_of)),
        "barn": _mixed(rng, b.barn.to_numpy(), forms, as_of), "verksamhet": b.verksamhet.to_numpy(),
        "barn_ordning": b.barn_ordning.astype(str).to_numpy(),
        "anmald_inkomst": kronor(b.anmald_inkomst, comma).to_numpy(),
        "debiterad_avgift": kronor(b.debiterad_avgift).to_numpy(),
    })
    out = {f"avgifter_{m.replace('-', '')}.csv": g.reset_index(drop=True)
           for m, g in df.groupby("faktura_manad", sort=True)}
    last = out[last_name]
    t = last.iloc[0].to_dict()
    rows = [
        {**t, "barn": pnr.break_check_digit(fakes.next())},
        {**t, "barn": fakes.next(), "debiterad_avgift": ""},
        last.iloc[len(last) // 2].to_dict(),
        {**t, "barn": fakes.next(), "verksamhet": "dagis"},
        {**t, "barn": fakes.next(), "debiterad_avgift": "-1688"},
    ]
    out[last_name] = _append(last, rows, inv, last_name,
                             ["ogiltigt_personnummer", "saknat_varde", "dubblett", "okand_kod",
                              "orimligt_varde"])
    return out


def inkomster(fees: Fees, fakes: Fakes, inv: Invalid, name: str) -> pd.DataFrame:
    i = fees.incomes
    df = pd.DataFrame({"inkomstar": i.inkomstar.astype(str), "personnummer": i.pnr,
                       "faststalld_inkomst": i.faststalld_inkomst.astype(str)})
    y = str(fees.income_year)
    rows = [
        {"inkomstar": y, "personnummer": pnr.break_check_digit(fakes.next()),
         "faststalld_inkomst": "412300"},
        {"inkomstar": y, "personnummer": fakes.next(), "faststalld_inkomst": ""},
        df.iloc[len(df) // 2].to_dict(),
        {"inkomstar": y, "personnummer": fakes.next(), "faststalld_inkomst": "-52000"},
    ]
    return _append(df, rows, inv, name, ["ogiltigt_personnummer", "saknat_varde", "dubblett",
                                         "orimligt_varde"])


def atgardsprogram(g: Grades, fakes: Fakes, inv: Invalid, name: str) -> pd.DataFrame:
    p = g.programmes
    df = pd.DataFrame({"personnummer": p.pnr, "skolenhetskod": p.skolenhetskod,
                       "beslutsdatum": ymd(p.beslutsdatum),
                       "avslutad_datum": ymd(p.avslutad_datum)})
    t = {"personnummer": "", "skolenhetskod": g.betyg.skolenhetskod.iat[0],
         "beslutsdatum": str(g.term.start), "avslutad_datum": ""}
    rows = [
        {**t, "personnummer": pnr.break_check_digit(fakes.next())},
        {**t, "personnummer": fakes.next(), "beslutsdatum": ""},
        df.iloc[0].to_dict() if len(df) else {**t, "personnummer": fakes.next()},
        {**t, "personnummer": fakes.next(), "avslutad_datum": str(g.term.start - timedelta(400))},
    ]
    return _append(df, rows, inv, name, ["ogiltigt_personnummer", "saknat_varde", "dubblett",
                                         "orimligt_varde"])


def betyg(g: Grades, fakes: Fakes, inv: Invalid, name: str) -> pd.DataFrame:
    b = g.betyg
    df = pd.DataFrame({"personnummer": b.pnr, "skolenhetskod": b.skolenhetskod,
                       "termin": b.termin, "arskurs": b.arskurs.astype(str), "amne": b.amne,
                       "betyg": b.betyg})
    t = df.iloc[0].to_dict()
    fake = fakes.next()
    rows = [
        {**t, "personnummer": pnr.break_check_digit(fakes.next())},
        {**t, "personnummer": fake, "amne": ""},
        df.iloc[len(df) // 2].to_dict(),
        {**t, "personnummer": fake, "betyg": "G"},
    ]
    return _append(df, rows, inv, name, ["ogiltigt_personnummer", "saknat_varde", "dubblett",
                                         "okand_kod"])


def franvaroarenden(cases: pd.DataFrame, fakes: Fakes, inv: Invalid, name: str) -> pd.DataFrame:
    df = pd.DataFrame({"personnummer": cases.pnr, "steg": cases.steg.astype(str),
                       "datum": ymd(cases.datum)})
    t = {"personnummer": "", "steg": "2", "datum": df.datum.iat[0] if len(df) else "2026-01-15"}
    rows = [
        {**t, "personnummer": pnr.break_check_digit(fakes.next())},
        {**t, "personnummer": fakes.next(), "steg": "7"},
    ]
    reasons = ["ogiltigt_personnummer", "orimligt_varde"]
    if len(df):
        rows.append(df.iloc[0].to_dict())
        reasons.append("dubblett")
    return _append(df, rows, inv, name, reasons)
