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
    # Filled at ingest when blank (fodelsedatum from the personnummer): never blank stored.
    filled: bool = False
    # A domain rule or the protection of households needs it: it may not be `tas_bort`.
    essential: bool = True


@dataclass(frozen=True)
class Rule:
    """A rule between columns of one row: `ordered` (a ≤ b when b is given) or `sum_at_most`
    (the sum of `columns[:-1]` ≤ `columns[-1]`)."""

    kind: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = ()
    # Cadences the grain allows (policies/kallor.yaml `typ` picks one): a person or
    # placement register is a full snapshot; invoices, incomes and grades come per period
    # or as one file with every period in it.
    cadences: tuple[str, ...] = ("ogonblicksbild",)
    never_empty: bool = False  # a header-only file is never "no residents"

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
            C("personnummer", "pnr"), C("fornamn", "str", essential=False),
            C("efternamn", "str", essential=False),
            C("fodelsedatum", "date", required=False, filled=True),
            C("utdelningsadress", "str", required=False, essential=False),
            C("postnummer", "str", required=False, essential=False),
            C("postort", "str", required=False, essential=False),
            C("kommunkod", "code4"), C("folkbokford_datum", "date", required=False),
            C("sekretessmarkering", "flag", required=False),
            C("skyddad_folkbokforing", "flag", required=False),
            C("vardnadshavare_1", "pnr", required=False),
            C("vardnadshavare_2", "pnr", required=False),
        ), never_empty=True),
        Source("elevregister", (
            C("personnummer", "pnr"), C("skolenhetskod", "code8"),
            C("skolenhet_namn", "str", required=False, essential=False),
            C("huvudman", "str", codes=HUVUDMAN), C("skolform", "str", codes=SKOLFORMER),
            C("arskurs", "int", required=False, min_value=0, max_value=10),
            C("startdatum", "date"), C("slutdatum", "date", required=False),
        ), rules=(Rule("ordered", ("startdatum", "slutdatum")),), never_empty=True),
        Source("skolpliktsbeslut", (
            C("personnummer", "pnr"), C("beslutstyp", "str", codes=BESLUTSTYPER),
            C("giltig_fran", "date"), C("giltig_till", "date", required=False),
            C("diarienummer", "str", required=False, essential=False),
        ), rules=(Rule("ordered", ("giltig_fran", "giltig_till")),)),
        Source("narvaro", (
            C("datum", "date"), C("personnummer", "pnr"), C("skolenhetskod", "code8"),
            C("schemalagd_min", "int", min_value=0, max_value=1440),
            C("giltig_franvaro_min", "int", min_value=0, max_value=1440),
            C("ogiltig_franvaro_min", "int", min_value=0, max_value=1440),
        ), rules=(Rule("sum_at_most", ("giltig_franvaro_min", "ogiltig_franvaro_min",
                                       "schemalagd_min")),), cadences=("daglig",)),
        Source("avgifter", (
            C("faktura_manad", "month"), C("hushall_id", "str"), C("betalare", "pnr"),
            C("medbetalare", "pnr", required=False), C("barn", "pnr"),
            C("verksamhet", "str", codes=VERKSAMHETER),
            C("barn_ordning", "int", min_value=1, max_value=20),
            C("anmald_inkomst", "int", required=False, min_value=0, max_value=10_000_000),
            C("debiterad_avgift", "int", min_value=0, max_value=100_000),
        ), cadences=("manatlig", "ogonblicksbild")),
        Source("inkomster", (
            C("inkomstar", "int", min_value=1990, max_value=2100), C("personnummer", "pnr"),
            C("faststalld_inkomst", "int", min_value=0, max_value=1_000_000_000),
        ), cadences=("arlig", "ogonblicksbild")),
        Source("atgardsprogram", (
            C("personnummer", "pnr"), C("skolenhetskod", "code8"), C("beslutsdatum", "date"),
            C("avslutad_datum", "date", required=False),
        ), rules=(Rule("ordered", ("beslutsdatum", "avslutad_datum")),)),
        Source("betyg", (
            C("personnummer", "pnr"), C("skolenhetskod", "code8"), C("termin", "term"),
            C("arskurs", "int", min_value=0, max_value=10), C("amne", "str"),
            C("betyg", "str", codes=BETYG),
        ), cadences=("termin", "ogonblicksbild")),
        Source("franvaroarenden", (
            C("personnummer", "pnr"), C("steg", "int", min_value=1, max_value=5),
            C("datum", "date"),
        )),
    )
}

IDENTITY_FIELDS = ("personnummer", "fornamn", "efternamn", "utdelningsadress", "postnummer",
                   "postort")
ADDRESS_FIELDS = ("utdelningsadress", "postnummer", "postort")


# --- the output contract (DESIGN.md "Outputs") ------------------------------------------------

@dataclass(frozen=True)
class ListContract:
    """What a list kind holds, whoever receives it: its full columns and how cases are keyed.

    `cut` is the dimension a list may be split by (one file per school unit or per income
    year); policies/mottagare.yaml decides whether it is. Identity columns (`personnummer`,
    `fornamn`, …, with `identity_prefix`; `<prefix>namn` is first + last name) are filled by
    re-identification, and only those whose fields the list's route in the policy names.
    The case key is what makes a case: the subject plus, for skolplikt, the reason (a child
    whose reason changes closes one case and opens another); for absence and action
    programmes the school unit (a pupil on two schools' lists has one case at each); for the
    income check the household and year.
    """

    kind: str
    title: str
    subject: str
    columns: tuple[str, ...]
    identity_prefix: str = ""
    date_columns: tuple[str, ...] = ()
    extra_sheets: tuple[str, ...] = ()
    case_key_columns: tuple[str, ...] = ()
    count_by: tuple[str, ...] = ()
    cut: str | None = None  # "skolenhet" | "ar"

    def identity_fields(self, column: str) -> tuple[str, ...] | None:
        return identity_fields(column, self.identity_prefix)

    def identity_columns(self) -> dict[str, tuple[str, ...]]:
        return identity_columns(self.columns, self.identity_prefix)


def identity_fields(column: str, prefix: str = "") -> tuple[str, ...] | None:
    """The vault fields an identity column is made of (`<prefix>namn` is first + last name);
    None for a column that is not an identity."""
    if column == f"{prefix}namn":
        return ("fornamn", "efternamn")
    for f in IDENTITY_FIELDS:
        if column == f"{prefix}{f}":
            return (f,)
    return None


def identity_columns(columns: tuple[str, ...], prefix: str = "") -> dict[str, tuple[str, ...]]:
    return {c: need for c in columns if (need := identity_fields(c, prefix)) is not None}


_PERSON = ("arende_id", "personnummer", "fornamn", "efternamn")
# Columns beyond DESIGN.md's "at least" are marked "added:": they tell the recipient why a
# row is there and whom to turn to (issue 17).
LISTS: dict[str, ListContract] = {
    c.kind: c for c in (
        ListContract(
            # Not "barn som inte går i skolan": dubbel_placering children do go to school.
            "skolplikt", "Skolpliktsbevakning: barn vars skolgång behöver kontrolleras",
            "person_id",
            (*_PERSON, "forvantad_arskurs", "folkbokford_datum", "orsak",
             "skolenheter",  # added: the school(s) behind dubbel_placering/placering_avslutad
             "status"),
            date_columns=("folkbokford_datum",), extra_sheets=("Datakvalitet",),
            case_key_columns=("person_id", "orsak"), count_by=("orsak",)),
        ListContract(
            "franvaro", "Problematisk frånvaro", "person_id",
            (*_PERSON, "arskurs",
             "skal",  # added: why the pupil is listed (level, long run, invalid absence)
             "franvaro_procent", "ogiltig_procent",
             "langsta_sammanhangande_dagar", "niva", "franvaro_procent_4v",
             "ogiltig_procent_4v", "langsta_sammanhangande_dagar_4v", "niva_4v",
             "utredningsplikt", "fynd", "status"),
            case_key_columns=("person_id", "skolenhetskod"), count_by=("niva", "niva_4v"),
            cut="skolenhet"),
        ListContract(
            "atgardsprogram", "Elever med F utan åtgärdsprogram", "person_id",
            (*_PERSON, "arskurs", "antal_f",
             "amnen_f",  # added: the subjects graded F
             "antal_streck",
             "amnen_streck",  # added: the subjects with '-'
             "streck_och_franvaro",
             "skal",  # added: F without programme, or '-' with high absence
             "status"),
            case_key_columns=("person_id", "skolenhetskod"), count_by=("skal",),
            cut="skolenhet"),
        ListContract(
            "inkomstkontroll", "Inkomstkontroll av barnomsorgsavgift", "betalare",
            ("arende_id", "hushall_id", "betalare_personnummer", "betalare_namn", "inkomstar",
             "debiterat", "korrekt_avgift", "differens", "atgard", "taxa_bekraftad",
             "status"),
            identity_prefix="betalare_", extra_sheets=("Månadsdetaljer", "Signaler"),
            case_key_columns=("betalare", "hushall_id", "inkomstar"), count_by=("atgard",),
            cut="ar"),
    )
}
# Aggregates for the board: never an identity, whoever receives them.
BOARD_TABLES = ("kommunbild", "atgardsprogram_kommun")
