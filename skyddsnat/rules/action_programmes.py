"""Åtgärdsprogram (skollagen 3 kap. 8–9 §§): pupils with F who lack a programme.

A pupil at risk of not reaching the knowledge requirements must be investigated and, if
support is needed, given an åtgärdsprogram. Per school unit and term we count pupils with
at least one F, pupils with an active programme, and pupils with F but no programme (the
rektor's list). A '-' (no grade: too little basis) is counted on its own; a '-' together
with high absence is flagged, since absence is the usual reason for a missing basis.

Decisions made here, beyond DESIGN.md:
- Terms: HT Y = 1 July – 31 December Y; VT Y = 1 January – 30 June Y.
- A programme is active in a term when beslutsdatum ≤ term end and (avslutad_datum blank
  or ≥ term start): it overlaps the term by at least one day.
- A programme is matched per school unit: it is the rektor's decision at that unit (3 kap.
  9 §), so a pupil who changed school needs a programme decided at the new unit; one left
  at the old unit does not cover the F given by the new one.
- Pupils with an active programme but no grades that term (åk 1–5 get no grades) still
  count for the school unit of the programme in `elever_med_atgardsprogram`.
- Absence is matched per (person_id, skolenhetskod): the '-' was given by that school.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skyddsnat.arrow_strings import isin
from skyddsnat.rules.disclosure_audit import TableStructure

_TERM = re.compile(r"^(HT|VT)(\d{4})$")
KEY = ["person_id", "skolenhetskod"]
# Why a pupil is on the rektor's list (`skal`).
SKAL_F = "f_utan_atgardsprogram"
SKAL_STRECK = "streck_och_franvaro"
SKAL = (SKAL_F, SKAL_STRECK)


class InvalidTerm(ValueError):
    """A term code is not of the form HTYYYY or VTYYYY."""


def term_bounds(termin: str) -> tuple[date, date]:
    """First and last calendar day of a term.

    >>> term_bounds("HT2025")
    (datetime.date(2025, 7, 1), datetime.date(2025, 12, 31))
    >>> term_bounds("VT2026")
    (datetime.date(2026, 1, 1), datetime.date(2026, 6, 30))
    """
    match = _TERM.fullmatch(termin)
    if match is None:
        raise InvalidTerm("termin ska skrivas HTÅÅÅÅ eller VTÅÅÅÅ")
    year = int(match.group(2))
    if match.group(1) == "HT":
        return date(year, 7, 1), date(year, 12, 31)
    return date(year, 1, 1), date(year, 6, 30)


def _programmes_in_term(atgardsprogram: pd.DataFrame, termin: str) -> pd.DataFrame:
    start, end = (pd.Timestamp(d) for d in term_bounds(termin))
    ap = atgardsprogram
    not_ended = ap["avslutad_datum"].isna() | (ap["avslutad_datum"] >= start)
    overlaps = (ap["beslutsdatum"] <= end) & not_ended
    return ap.loc[overlaps.fillna(False).astype(bool), KEY].drop_duplicates()


def _joined(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """KEY and the distinct subjects of each KEY, sorted and ", "-joined (in Arrow: one
    kernel over all pupils instead of a Python join per pupil)."""
    rows = rows.drop_duplicates().sort_values([*KEY, "amne"])
    table = pa.Table.from_pandas(rows.astype("string"), preserve_index=False)
    grouped = table.group_by(KEY, use_threads=False).aggregate([("amne", "list")])
    return pd.DataFrame({
        **{k: grouped.column(k).to_pandas().astype(rows[k].dtype) for k in KEY},
        name: pc.binary_join(grouped.column("amne_list").cast(pa.list_(pa.string())), ", ")
              .to_pandas().astype("string")})


def pupil_summary(
    betyg: pd.DataFrame,
    atgardsprogram: pd.DataFrame,
    termin: str,
    absence: pd.DataFrame | None = None,
    streck_franvaro_grans: float = 15.0,
) -> pd.DataFrame:
    """One row per pupil and school unit for the term: F and '-' counts, programme, flag.

    Returns person_id, skolenhetskod, termin, arskurs, antal_f, antal_streck, amnen_f,
    amnen_streck (the subjects, ", "-joined), har_atgardsprogram, streck_och_franvaro.
    `absence` holds franvaro_procent per (person_id, skolenhetskod); a '-' with absence ≥
    streck_franvaro_grans is flagged.
    """
    graded = betyg.loc[betyg["termin"] == termin]
    grades = graded.assign(
        antal_f=(graded["betyg"] == "F").astype("Int64"),
        antal_streck=(graded["betyg"] == "-").astype("Int64"),
    ).groupby(KEY, as_index=False, observed=True).agg(
        arskurs=("arskurs", "max"), antal_f=("antal_f", "sum"), antal_streck=("antal_streck", "sum")
    )
    for col, mark in (("amnen_f", "F"), ("amnen_streck", "-")):
        subjects = _joined(graded.loc[graded["betyg"] == mark, [*KEY, "amne"]], col)
        grades = grades.merge(subjects, on=KEY, how="left")
    programmes = _programmes_in_term(atgardsprogram, termin)
    out = grades.merge(programmes.assign(_ap=True), on=KEY, how="outer")
    out["har_atgardsprogram"] = out.pop("_ap").notna().to_numpy()
    out = out.astype({
        "person_id": "string", "skolenhetskod": "string", "arskurs": "Int64",
        "antal_f": "Int64", "antal_streck": "Int64", "amnen_f": "string",
        "amnen_streck": "string",
    }).fillna({"antal_f": 0, "antal_streck": 0, "amnen_f": "", "amnen_streck": ""})

    if absence is None:
        out["streck_och_franvaro"] = False
    else:
        pct = absence.groupby(KEY, observed=True)["franvaro_procent"].max().rename("_pct")
        pct_here = out.join(pct, on=KEY)["_pct"].astype("Float64")
        high = (pct_here >= streck_franvaro_grans).fillna(False)
        out["streck_och_franvaro"] = ((out["antal_streck"] > 0) & high).astype(bool)
    out.insert(2, "termin", pd.Series(termin, index=out.index, dtype="string"))
    return out.sort_values(KEY).reset_index(drop=True)


def rektor_list(pupils: pd.DataFrame) -> pd.DataFrame:
    """The rektor's list: pupils with F and no programme, and pupils with '-' and high absence,
    with the term, the subjects and the reason (`skal`); most F first.

    Protected pupils stay in: the delivery layer moves them to the sealed list.
    """
    f_without = ((pupils["antal_f"] > 0) & ~pupils["har_atgardsprogram"]).astype(bool)
    streck = pupils["streck_och_franvaro"].astype(bool)
    rows = pupils.loc[f_without | streck].copy()
    rows["skal"] = pd.array([", ".join(s for s, on in ((SKAL_F, f), (SKAL_STRECK, d)) if on)
                             for f, d in zip(f_without[rows.index], streck[rows.index],
                                             strict=True)], dtype="string")
    cols = ["person_id", "skolenhetskod", "termin", "arskurs", "antal_f", "amnen_f",
            "antal_streck", "amnen_streck", "streck_och_franvaro", "skal"]
    rows = rows.sort_values(["antal_f", "antal_streck", *KEY], ascending=[False, False,
                                                                          True, True])
    return rows[cols].reset_index(drop=True)


def school_table(pupils: pd.DataFrame, skyddade: pd.Series | set) -> pd.DataFrame:
    """Counts per school unit (and term) without protected pupils; suppression comes later.

    Returns skolenhetskod, termin, elever_med_f, elever_med_atgardsprogram,
    f_utan_atgardsprogram, elever_med_streck.
    """
    protected = pd.Series(list(skyddade), dtype="string")
    kept = pupils.loc[~isin(pupils["person_id"], protected)]
    has_f = kept["antal_f"] > 0
    flags = pd.DataFrame({
        "skolenhetskod": kept["skolenhetskod"],
        "termin": kept["termin"],
        "elever_med_f": has_f,
        "elever_med_atgardsprogram": kept["har_atgardsprogram"],
        "f_utan_atgardsprogram": has_f & ~kept["har_atgardsprogram"],
        "elever_med_streck": kept["antal_streck"] > 0,
    })
    counts = flags.groupby(["skolenhetskod", "termin"], as_index=False, observed=True).sum()
    value_cols = counts.columns[2:]
    return counts.astype(dict.fromkeys(value_cols, "Int64"))


MEASURES = ["elever_med_f", "elever_med_atgardsprogram", "f_utan_atgardsprogram",
            "elever_med_streck"]
# The board's table as declared to the suppression and the audit: one row per school unit
# and "Totalt"; F without a programme is a part of F (a group: "all pupils with F lack one"),
# and F with a programme (elever_med_f − f_utan_atgardsprogram) a part of those with one.
BOARD_STRUCTURE = TableStructure(
    keys=("skolenhet",), margins=("skolenhet",), measures=tuple(MEASURES),
    relations=({"f_utan_atgardsprogram": 1, "elever_med_f": -1},
               {"elever_med_f": 1, "f_utan_atgardsprogram": -1,
                "elever_med_atgardsprogram": -1}),
    groups=(("f_utan_atgardsprogram", "elever_med_f"),))
