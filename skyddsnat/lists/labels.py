"""Swedish display values for every code a list can hold, and the way back.

Lists store and compute on codes (`hog`, `placering_avslutad`); a person reads "Hög",
"Placering avslutad". This module is the one table between the two: `display` turns codes
into labels when a workbook is written, `to_code` turns whatever a reader finds back into
the code. Matching back ignores case, accents (å/ä/ö → a/a/o) and the difference between
a space, a hyphen and an underscore, so "Hög", "hog", "HOG" and "placering avslutad" are
all read as the codes they stand for (DESIGN.md "Outputs").
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

LABELS: dict[str, str] = {
    # skolplikt: orsak
    "okand": "Okänd",
    "placering_avslutad": "Placering avslutad",
    "nyinflyttad": "Nyinflyttad",
    "dubbel_placering": "Dubbel placering",
    # frånvaro: nivå
    "uppmarksamma": "Uppmärksamma",
    "oroande": "Oroande",
    "hog": "Hög",
    # every list: status
    "ny": "Ny",
    "kvarstar": "Kvarstår",
    # inkomstkontroll: åtgärd
    "efterdebitering": "Efterdebitering",
    "aterbetalning": "Återbetalning",
    "saknar_inkomstuppgift": "Saknar inkomstuppgift",
    "inom_tolerans": "Inom tolerans",
    "obekraftad_taxa": "Obekräftad taxa (avvakta)",
    # frånvaro: fynd mot ärenderegistret; skolplikt: datakvalitet
    "hog_utan_arende": "Hög frånvaro utan ärende",
    "anmalan_till_huvudman": "Anmälan till huvudman",
    "narvaro_utan_placering": "Närvaro utan placering",
    "placering_okand_person": "Placering för person som inte är folkbokförd",
    # avgifter: verksamhet
    "forskola": "Förskola",
    "pedagogisk_omsorg": "Pedagogisk omsorg",
    "fritidshem": "Fritidshem",
    # inkomstkontroll: signal
    "oforandrad_inkomst_hog_taxering": "Oförändrad anmäld inkomst men hög taxering",
    "samma_medbetalare_flera_hushall": "Samma medbetalare i flera hushåll",
    "barn_i_flera_hushall": "Barn i flera hushåll",
    # skäl (why a row is on the list)
    "hog_franvaro": "Hög frånvaro",
    "lang_franvaro": "Lång sammanhängande frånvaro",
    "oroande_franvaro": "Oroande frånvaro",
    "uppmarksamma_franvaro": "Frånvaro att uppmärksamma",
    "ogiltig_franvaro": "Ogiltig frånvaro",
    "f_utan_atgardsprogram": "F utan åtgärdsprogram",
    "streck_och_franvaro": "Streck (-) och hög frånvaro",
}
# Skolverket's subject codes (grundskolan), as a rektor names the subjects.
SUBJECTS: dict[str, str] = {
    "BI": "Biologi", "BL": "Bild", "EN": "Engelska", "FY": "Fysik", "GE": "Geografi",
    "HI": "Historia", "HKK": "Hem- och konsumentkunskap", "IDH": "Idrott och hälsa",
    "KE": "Kemi", "MA": "Matematik", "ML": "Modersmål", "M1": "Moderna språk (elevens val)",
    "M2": "Moderna språk (språkval)", "MU": "Musik", "RE": "Religionskunskap",
    "SH": "Samhällskunskap", "SL": "Slöjd", "SV": "Svenska",
    "SVA": "Svenska som andraspråk", "TK": "Teknik", "TN": "Teckenspråk",
}
LABELS.update(SUBJECTS)

# Columns whose values are codes from LABELS; the multi-valued ones hold several, ", "-joined.
CODED_COLUMNS = ("orsak", "niva", "niva_4v", "status", "atgard", "fynd", "verksamhet",
                 "signal", "skal", "amnen_f", "amnen_streck")
MULTI_VALUED = ("fynd", "skal", "amnen_f", "amnen_streck")
SEPARATOR = ", "


def normalise(text: str) -> str:
    """Case, accents and space/hyphen/underscore folded: "Hög frånvaro" -> "hog_franvaro"."""
    plain = unicodedata.normalize("NFKD", str(text))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return re.sub(r"[\s_\-]+", "_", plain).strip("_")


_BACK = {**{normalise(label): code for code, label in LABELS.items()},
         **{normalise(code): code for code in LABELS}}


def label(code: str) -> str:
    """The display value of a code (an unknown code is shown as it is)."""
    return LABELS.get(code, code)


def to_code(value: str) -> str:
    """The code a display value (or a code, in any case or accents) stands for."""
    return _BACK.get(normalise(value), value)


def display(column: str, values: pd.Series) -> pd.Series:
    """A column's codes as display values; columns that hold no codes are returned as is."""
    if column not in CODED_COLUMNS:
        return values
    # Each distinct code once: a list repeats a handful of codes over hundreds of rows.
    shown: dict = {}

    def convert(v):
        if v not in shown:
            shown[v] = _convert(v, column, label)
        return shown[v]

    return values.map(convert, na_action="ignore")


def codes(column: str, values: pd.Series) -> pd.Series:
    """The inverse of `display` for what a reader finds in a column."""
    if column not in CODED_COLUMNS:
        return values
    return values.map(lambda v: _convert(v, column, to_code), na_action="ignore")


def _convert(value, column: str, fn) -> object:
    if not isinstance(value, str) or value == "":
        return value
    if column in MULTI_VALUED:
        return SEPARATOR.join(fn(p.strip()) for p in value.split(",") if p.strip())
    return fn(value)
