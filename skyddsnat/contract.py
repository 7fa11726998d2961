"""The source contract of DESIGN.md: file kinds and their columns, in one place.

Column kinds drive parsing: `pnr` personnummer, `date`, `int` (whole kronor/minutes, decimal
comma accepted), `str`, `flag` (J/blank), `month` (YYYY-MM).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = True
    codes: tuple[str, ...] | None = None  # closed code list, else okand_kod
    min_value: int | None = None
    max_value: int | None = None


@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def pnr_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.kind == "pnr")


C = Column
SKOLFORMER = ("FK", "GR", "GRAN", "SPEC", "SAM", "GY", "GYAN")
HUVUDMAN = ("kommunal", "fristaende", "annan_kommun", "statlig")
BESLUTSTYPER = ("annat_satt", "utlandsvistelse", "uppskjuten_skolplikt", "skolplikt_upphord")
VERKSAMHETER = ("forskola", "pedagogisk_omsorg", "fritidshem")
BETYG = ("A", "B", "C", "D", "E", "F", "-")

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("folkbokforing", (
            C("personnummer", "pnr"), C("fornamn", "str"), C("efternamn", "str"),
            C("fodelsedatum", "date", required=False), C("utdelningsadress", "str", required=False),
            C("postnummer", "str", required=False), C("postort", "str", required=False),
            C("kommunkod", "code4"), C("folkbokford_datum", "date", required=False),
            C("sekretessmarkering", "flag", required=False),
            C("skyddad_folkbokforing", "flag", required=False),
            C("vardnadshavare_1", "pnr", required=False),
            C("vardnadshavare_2", "pnr", required=False),
        )),
        Source("elevregister", (
            C("personnummer", "pnr"), C("skolenhetskod", "code8"),
            C("skolenhet_namn", "str", required=False),
            C("huvudman", "str", codes=HUVUDMAN), C("skolform", "str", codes=SKOLFORMER),
            C("arskurs", "int", required=False, min_value=0, max_value=10),
            C("startdatum", "date"), C("slutdatum", "date", required=False),
        )),
        Source("skolpliktsbeslut", (
            C("personnummer", "pnr"), C("beslutstyp", "str", codes=BESLUTSTYPER),
            C("giltig_fran", "date"), C("giltig_till", "date", required=False),
            C("diarienummer", "str", required=False),
        )),
        Source("narvaro", (
            C("datum", "date"), C("personnummer", "pnr"), C("skolenhetskod", "code8"),
            C("schemalagd_min", "int", min_value=0, max_value=1440),
            C("giltig_franvaro_min", "int", min_value=0, max_value=1440),
            C("ogiltig_franvaro_min", "int", min_value=0, max_value=1440),
        )),
        Source("avgifter", (
            C("faktura_manad", "month"), C("hushall_id", "str"), C("betalare", "pnr"),
            C("medbetalare", "pnr", required=False), C("barn", "pnr"),
            C("verksamhet", "str", codes=VERKSAMHETER),
            C("barn_ordning", "int", min_value=1, max_value=20),
            C("anmald_inkomst", "int", required=False, min_value=0, max_value=10_000_000),
            C("debiterad_avgift", "int", min_value=0, max_value=100_000),
        )),
        Source("inkomster", (
            C("inkomstar", "int", min_value=1990, max_value=2100), C("personnummer", "pnr"),
            C("faststalld_inkomst", "int", min_value=0, max_value=1_000_000_000),
        )),
        Source("atgardsprogram", (
            C("personnummer", "pnr"), C("skolenhetskod", "code8"), C("beslutsdatum", "date"),
            C("avslutad_datum", "date", required=False),
        )),
        Source("betyg", (
            C("personnummer", "pnr"), C("skolenhetskod", "code8"), C("termin", "term"),
            C("arskurs", "int", min_value=0, max_value=10), C("amne", "str"),
            C("betyg", "str", codes=BETYG),
        )),
        Source("franvaroarenden", (
            C("personnummer", "pnr"), C("steg", "int", min_value=1, max_value=5),
            C("datum", "date"),
        )),
    )
}

IDENTITY_FIELDS = ("personnummer", "fornamn", "efternamn", "utdelningsadress", "postnummer",
                   "postort")
ADDRESS_FIELDS = ("utdelningsadress", "postnummer", "postort")
