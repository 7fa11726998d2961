"""Pandera models of the pseudonymous tables that leave each source asset.

They run lazily on the typed, pseudonymised rows (never on plaintext identifiers, so their
failure cases can hold nothing but pseudonyms and codes). A failing row is quarantined with
the reason its check names: `isin` -> okand_kod, ranges -> orimligt_varde, nullability ->
saknat_varde; dataframe-wide checks carry their reason code as their name.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

import schemas.checks  # noqa: F401 - registers the str_fullmatch check
from skyddsnat.contract import BESLUTSTYPER, BETYG, HUVUDMAN, SKOLFORMER, VERKSAMHETER

PSEUDONYM = r"[0-9a-f]{32}"
# Text columns are Arrow-backed strings, as everywhere in the program (arrow_strings.py). The
# storage is stated here because pandera fixes the one a bare `pd.StringDtype` means when
# pandera is imported, which may be before skyddsnat sets it.
Text = Annotated[pd.StringDtype, "pyarrow", pd.NA]


class _Base(pa.DataFrameModel):
    class Config:
        coerce = False
        strict = True


class Personer(_Base):
    """Folkbokföring: one resident or guardian per row (names and addresses are in the vault)."""

    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    fodelsedatum: Series[pd.Timestamp] = pa.Field(nullable=False)
    kommunkod: Series[Text] = pa.Field(str_fullmatch=r"[0-9]{4}")
    folkbokford_datum: Series[pd.Timestamp] = pa.Field(nullable=True)
    sekretessmarkering: Series[bool]
    skyddad_folkbokforing: Series[bool]
    vardnadshavare_1: Series[Text] = pa.Field(nullable=True, str_fullmatch=PSEUDONYM)
    vardnadshavare_2: Series[Text] = pa.Field(nullable=True, str_fullmatch=PSEUDONYM)


class Placeringar(_Base):
    """Elevregister: one placement per row."""

    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    skolenhetskod: Series[Text] = pa.Field(str_fullmatch=r"[0-9]{8}")
    skolenhet_namn: Series[Text] = pa.Field(nullable=True)
    huvudman: Series[Text] = pa.Field(isin=list(HUVUDMAN))
    skolform: Series[Text] = pa.Field(isin=list(SKOLFORMER))
    arskurs: Series[pd.Int64Dtype] = pa.Field(nullable=True, in_range={"min_value": 0,
                                                                        "max_value": 10})
    startdatum: Series[pd.Timestamp]
    slutdatum: Series[pd.Timestamp] = pa.Field(nullable=True)

    @pa.dataframe_check(name="orimligt_varde")
    def slut_efter_start(cls, df: pd.DataFrame) -> pd.Series:
        return df["slutdatum"].isna() | (df["slutdatum"] >= df["startdatum"])


class Skolpliktsbeslut(_Base):
    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    beslutstyp: Series[Text] = pa.Field(isin=list(BESLUTSTYPER))
    giltig_fran: Series[pd.Timestamp]
    giltig_till: Series[pd.Timestamp] = pa.Field(nullable=True)
    diarienummer: Series[Text] = pa.Field(nullable=True)

    @pa.dataframe_check(name="orimligt_varde")
    def till_efter_fran(cls, df: pd.DataFrame) -> pd.Series:
        return df["giltig_till"].isna() | (df["giltig_till"] >= df["giltig_fran"])


class Narvaro(_Base):
    """One pupil-day at one school unit."""

    datum: Series[pd.Timestamp]
    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    skolenhetskod: Series[Text] = pa.Field(str_fullmatch=r"[0-9]{8}")
    schemalagd_min: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 0, "max_value": 1440})
    giltig_franvaro_min: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 0,
                                                                    "max_value": 1440})
    ogiltig_franvaro_min: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 0,
                                                                     "max_value": 1440})

    @pa.dataframe_check(name="orimligt_varde")
    def franvaro_inom_schema(cls, df: pd.DataFrame) -> pd.Series:
        return (df["giltig_franvaro_min"] + df["ogiltig_franvaro_min"]) <= df["schemalagd_min"]


class Avgifter(_Base):
    """One child in one invoice month."""

    faktura_manad: Series[Text] = pa.Field(str_fullmatch=r"[0-9]{4}-[0-9]{2}")
    hushall_id: Series[Text]
    betalare: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    medbetalare: Series[Text] = pa.Field(nullable=True, str_fullmatch=PSEUDONYM)
    barn: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    verksamhet: Series[Text] = pa.Field(isin=list(VERKSAMHETER))
    barn_ordning: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 1, "max_value": 20})
    anmald_inkomst: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    debiterad_avgift: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 0,
                                                                  "max_value": 100_000})


class Inkomster(_Base):
    inkomstar: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 1990, "max_value": 2100})
    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    faststalld_inkomst: Series[pd.Int64Dtype] = pa.Field(ge=0)


class Atgardsprogram(_Base):
    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    skolenhetskod: Series[Text] = pa.Field(str_fullmatch=r"[0-9]{8}")
    beslutsdatum: Series[pd.Timestamp]
    avslutad_datum: Series[pd.Timestamp] = pa.Field(nullable=True)

    @pa.dataframe_check(name="orimligt_varde")
    def avslut_efter_beslut(cls, df: pd.DataFrame) -> pd.Series:
        return df["avslutad_datum"].isna() | (df["avslutad_datum"] >= df["beslutsdatum"])


class Betyg(_Base):
    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    skolenhetskod: Series[Text] = pa.Field(str_fullmatch=r"[0-9]{8}")
    termin: Series[Text] = pa.Field(str_fullmatch=r"(HT|VT)[0-9]{4}")
    arskurs: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 0, "max_value": 10})
    amne: Series[Text]
    betyg: Series[Text] = pa.Field(isin=list(BETYG))


class Franvaroarenden(_Base):
    person_id: Series[Text] = pa.Field(str_fullmatch=PSEUDONYM)
    steg: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 1, "max_value": 5})
    datum: Series[pd.Timestamp]


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "folkbokforing": Personer,
    "elevregister": Placeringar,
    "skolpliktsbeslut": Skolpliktsbeslut,
    "narvaro": Narvaro,
    "avgifter": Avgifter,
    "inkomster": Inkomster,
    "atgardsprogram": Atgardsprogram,
    "betyg": Betyg,
    "franvaroarenden": Franvaroarenden,
}
