"""The policies/ YAML, loaded into typed models and checked as a whole.

Privacy officers review the YAML; this module is what makes it binding. Every error names
the file and key, so `skyddsnat policy check` can list them all at once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from skyddsnat.contract import ADDRESS_FIELDS, BOARD_TABLES, IDENTITY_FIELDS, LISTS, SOURCES

SHIPPED_POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
POLICY_DIR_ENV = "SKYDDSNAT_POLICY_DIR"
# A municipality keeps its reviewed policy outside the code: SKYDDSNAT_POLICY_DIR (or
# `--policy-dir`) points at it; without either the shipped policies/ are used.
DEFAULT_POLICY_DIR = Path(os.environ.get(POLICY_DIR_ENV) or SHIPPED_POLICY_DIR)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnClass(Strict):
    klass: Literal["direkt_identifierare", "kvasi_identifierare", "kanslig", "operativ"]
    behandling: Literal["pseudonymiseras", "valv", "behalls", "tas_bort"]


class SourceFile(Strict):
    """One source's file pattern and keys, and what makes its feed fit for the night.

    `max_alder_dagar`: the newest file may be this many days older than the reference date
    (snapshots and daily files only; period files are never stale). `vid_avvikelse`: a
    missing, stale or implausibly small feed stops the night, or is delivered with a
    warning on every list that rests on it. See skyddsnat/ingest/freshness.py.
    """

    fil: str
    typ: Literal["ogonblicksbild", "daglig", "manatlig", "arlig", "termin"]
    nyckel: list[str]
    valfri: bool = False
    max_alder_dagar: int | None = Field(default=None, ge=0)
    vid_avvikelse: Literal["stoppa", "varna"] = "stoppa"
    min_rader: int = Field(default=0, ge=0)
    max_minskning_andel: float | None = Field(default=None, gt=0, lt=1)
    min_andel_elever: float | None = Field(default=None, gt=0, le=1)
    jamforelsedagar: int = Field(default=5, ge=1)


class Sources(Strict):
    kallor: dict[str, SourceFile]
    alias: dict[str, dict[str, str]] = Field(default_factory=dict)


class Role(Strict):
    beskrivning: str
    identitet: list[str]
    andamal: str
    rattslig_grund: str
    forseglad: bool = False


class ListRoute(Strict):
    mottagare: str
    identitet: list[str]
    per_skolenhet: bool = False
    per_ar: bool = False


class Recipients(Strict):
    roller: dict[str, Role]
    listor: dict[str, ListRoute]
    forseglad_mottagare: str


class Protection(Strict):
    markeringar: list[Literal["sekretessmarkering", "skyddad_folkbokforing"]]
    spridning: dict[Literal["vardnadshavare", "hushall_avgifter"], bool]


class Suppression(Strict):
    k: int
    komplement: bool = True  # suppress a count c of a group n when c > 0 and n - c < k
    minsta_bas_andel: int = 10
    symbol: str = ".."

    @field_validator("k")
    @classmethod
    def _k_at_least_3(cls, v: int) -> int:
        if v < 3:
            raise ValueError("tröskeln k får inte vara lägre än 3")
        return v


class Retention(Strict):
    arkiv_dagar: int = Field(ge=1)
    # Who may open the sealed archive: a sealed role; its key is the officer's public key in
    # the key directory, or `arkiv_nyckel` (a reviewed X25519 public key, base64 of 32 bytes).
    arkiv_forvarare: str
    arkiv_nyckel: str | None = None
    utkorg_dagar: int = Field(ge=1)
    valv_dagar: int = Field(ge=1)  # a person no source names for longer leaves the vault
    # Lists with personal data leave the outbox sooner than the delivery around them: per
    # list kind ("forseglade": the sealed lists), else the standard.
    listor_dagar: dict[str, int] = Field(default_factory=dict)
    listor_dagar_standard: int = Field(ge=1)
    # When a processed, archived export leaves the inbox (skyddsnat/ingest/inbox_cleanup.py).
    inkorg_rensas: Literal["efter_lyckad_korning", "aldrig"]

    def list_days(self, kind: str) -> int:
        """How many days a list of this kind (or "forseglade") stays in the outbox."""
        return self.listor_dagar.get(kind, self.listor_dagar_standard)
    revisionslogg_ar: int = Field(ge=1)
    hanteringsanvisning: str

    @field_validator("arkiv_nyckel")
    @classmethod
    def _x25519_public(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError:
            raise ValueError("arkivnyckeln är inte base64") from None
        if len(raw) != 32:
            raise ValueError("arkivnyckeln ska vara en publik X25519-nyckel (32 byte)")
        return v


class SchoolDuty(Strict):
    kommunkod: str = Field(pattern=r"^\d{4}$")
    grace_days: int = Field(ge=0)
    skolformer_som_uppfyller: list[str]
    beslut_som_uppfyller: list[str]
    forskoleklass_avskaffas_lasar: int


class SchoolBreak(Strict):
    """A break in the school year (sportlov, jullov, ...): days without attendance files."""

    fran: date
    till: date


class Absence(Strict):
    nivaer: dict[Literal["uppmarksamma", "oroande", "hog"], float]
    hog_sammanhangande_dagar: int = Field(ge=1)
    ogiltig_flagga_procent: float
    senaste_dagar: int = Field(ge=1)
    terminer: dict[str, date] = Field(default_factory=dict)
    # School breaks: their days do not count towards the attendance's age (freshness.py).
    lov: list[SchoolBreak] = Field(default_factory=list)
    trappa_anmalan_steg: int = 5
    streck_franvaro_procent: float = 15.0
    # A month with fewer school days than this is left out of the board (kommunbild).
    kommunbild_minsta_skoldagar: int = Field(default=10, ge=1)


class FeePeriod(Strict):
    fran: str = Field(pattern=r"^\d{4}-\d{2}$")
    till: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    inkomsttak: int = Field(gt=0)
    avdrag: int = Field(ge=0)
    bekraftad: bool
    procent: dict[Literal["forskola", "pedagogisk_omsorg", "fritidshem"], list[float]]
    tak: dict[Literal["forskola", "pedagogisk_omsorg", "fritidshem"], list[int]]


class FeeSignals(Strict):
    faktor: float = Field(default=1.5, gt=1)
    marginal_kr_per_manad: int = Field(default=10_000, ge=0)


class Fees(Strict):
    tolerans_kr_per_ar: int = Field(ge=0)
    # May an efterdebitering rest on a period not confirmed against Skolverket's notice?
    efterdebitering_obekraftad_taxa: bool = False
    signaler: FeeSignals = Field(default_factory=FeeSignals)
    perioder: list[FeePeriod]


class Policy(Strict):
    klassning: dict[str, dict[str, ColumnClass]]
    kallor: Sources
    mottagare: Recipients
    skydd: Protection
    undertryckning: Suppression
    gallring: Retention
    skolplikt: SchoolDuty
    franvaro: Absence
    maxtaxa: Fees
    version: str

    def with_kommunkod(self, kommunkod: str | None) -> Policy:
        if not kommunkod:
            return self
        duty = self.skolplikt.model_copy(update={"kommunkod": kommunkod})
        return self.model_copy(update={"skolplikt": duty})


FILES = {
    "klassning": "klassning.yaml",
    "kallor": "kallor.yaml",
    "mottagare": "mottagare.yaml",
    "skydd": "skydd.yaml",
    "undertryckning": "undertryckning.yaml",
    "gallring": "gallring.yaml",
    "skolplikt": "skolplikt.yaml",
    "franvaro": "franvaro.yaml",
    "maxtaxa": "maxtaxa.yaml",
}


class PolicyError(Exception):
    """All problems found in policies/, each as (file, key, message)."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{f}: {k}: {m}" for f, k, m in problems))


def policy_hash(policy_dir: Path = DEFAULT_POLICY_DIR) -> str:
    """SHA-256 over every YAML file name and content, recorded in every run and output."""
    h = hashlib.sha256()
    for path in sorted(Path(policy_dir).glob("*.yaml")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def load_policy(policy_dir: Path | str = DEFAULT_POLICY_DIR) -> Policy:
    """Load and check policies/; raise PolicyError listing every problem with file and key.

    Every asset of a run asks for the policy; the checked model (frozen) is kept per
    content of the directory, so a changed file is always read again."""
    return _load_policy(str(Path(policy_dir).resolve()), policy_hash(policy_dir))


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


@lru_cache(maxsize=4)
def _load_policy(policy_dir: str, version: str) -> Policy:
    policy_dir = Path(policy_dir)
    problems: list[tuple[str, str, str]] = []
    raw: dict[str, object] = {}
    for key, fname in FILES.items():
        path = policy_dir / fname
        if not path.exists():
            problems.append((fname, "-", "filen saknas"))
            continue
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"rad {mark.line + 1}" if mark else "-"
            problems.append((fname, where, "ogiltig YAML"))
            continue
        raw[key] = doc.get("kallor", doc) if key == "klassning" else doc
    if problems:
        raise PolicyError(problems)
    try:
        policy = Policy.model_validate({**raw, "version": version})
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            loc = [str(p) for p in err["loc"]]
            fname = FILES.get(loc[0], "?")
            problems.append((fname, ".".join(loc[1:]) or "-", err["msg"]))
        # The files that did validate are still cross-checked: report every error at once.
        problems.extend(_section_checks(_valid_sections(raw)))
        raise PolicyError(problems) from None
    problems.extend(_cross_checks(policy))
    if problems:
        raise PolicyError(problems)
    return policy


def _valid_sections(raw: dict[str, object]) -> dict[str, object]:
    """Each policy file that validates on its own, as its typed model."""
    out: dict[str, object] = {}
    for key, value in raw.items():
        try:
            out[key] = TypeAdapter(Policy.model_fields[key].annotation).validate_python(value)
        except ValidationError:
            continue
    return out


def _cross_checks(p: Policy) -> list[tuple[str, str, str]]:
    return _section_checks({key: getattr(p, key) for key in FILES})


def _section_checks(sections: dict[str, object]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if "klassning" in sections:
        out.extend(_classification_checks(sections["klassning"]))
    if "kallor" in sections:
        out.extend(_source_checks(sections["kallor"]))
    if "mottagare" in sections:
        out.extend(_recipient_checks(sections["mottagare"]))
    if "maxtaxa" in sections:
        out.extend(_fee_period_checks(sections["maxtaxa"]))
    if "franvaro" in sections:
        out.extend(("franvaro.yaml", f"lov.{i}", "till ligger före fran")
                   for i, b in enumerate(sections["franvaro"].lov) if b.till < b.fran)
    if "gallring" in sections:
        out.extend(_list_retention_checks(sections["gallring"]))
    if "gallring" in sections and "mottagare" in sections:
        out.extend(_custodian_checks(sections["gallring"], sections["mottagare"]))
    if "klassning" in sections and "mottagare" in sections:
        out.extend(_identity_source_checks(sections["klassning"], sections["mottagare"]))
    return out


SEALED_LISTS = "forseglade"


def _list_retention_checks(g: Retention) -> list[tuple[str, str, str]]:
    from skyddsnat.contract import LISTS

    out = []
    for kind, days in {**g.listor_dagar, "standard": g.listor_dagar_standard}.items():
        key = f"listor_dagar.{kind}" if kind != "standard" else "listor_dagar_standard"
        if kind not in (*LISTS, SEALED_LISTS, "standard"):
            out.append((FILES["gallring"], key, "okänd listtyp"))
        elif not 1 <= days <= g.utkorg_dagar:
            out.append((FILES["gallring"], key, "ska vara 1 till utkorg_dagar dagar"))
    return out


def _custodian_checks(gallring: Retention, mottagare: Recipients) -> list[tuple[str, str, str]]:
    """The archive's custodian is a sealed role whose public key the run can name."""
    role = mottagare.roller.get(gallring.arkiv_forvarare)
    where = (FILES["gallring"], "arkiv_forvarare")
    if role is None:
        return [(*where, f"okänd roll {gallring.arkiv_forvarare}")]
    if not role.forseglad:
        return [(*where, "arkivets förvarare måste vara en förseglad roll")]
    if gallring.arkiv_forvarare != mottagare.forseglad_mottagare and not gallring.arkiv_nyckel:
        return [(FILES["gallring"], "arkiv_nyckel",
                 "en annan förvarare än den skyddsbehöriga behöver en granskad publik nyckel")]
    return []


def _classification_checks(klassning: dict[str, dict[str, ColumnClass]]
                           ) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    kl = FILES["klassning"]
    for name, source in SOURCES.items():
        classified = klassning.get(name)
        if classified is None:
            out.append((kl, name, "källan saknar klassning"))
            continue
        for col in source.column_names:
            if col not in classified:
                out.append((kl, f"{name}.{col}", "kolumnen är oklassad"))
        for col in classified:
            if col not in source.column_names:
                out.append((kl, f"{name}.{col}", "okänd kolumn (finns inte i källkontraktet)"))
        if classified.get("personnummer") and classified["personnummer"].behandling not in (
            "pseudonymiseras",
        ):
            out.append((kl, f"{name}.personnummer", "personnummer måste pseudonymiseras"))
        for col, cls in classified.items():
            if cls.klass == "direkt_identifierare" and cls.behandling == "behalls":
                out.append((kl, f"{name}.{col}",
                            "direkt identifierare får inte behållas i klartext"))
            column = next((c for c in source.columns if c.name == col), None)
            if column is not None:
                out.extend((kl, f"{name}.{col}.behandling", m)
                           for m in _treatment_problems(name, column, cls.behandling))
    for name in klassning:
        if name not in SOURCES:
            out.append((kl, name, "okänd källa"))
    return out


_STAMPS = {"ogonblicksbild": "{YYYYMMDD}", "daglig": "{YYYYMMDD}", "manatlig": "{YYYYMM}",
           "arlig": "{YYYY}", "termin": "{TERM}"}


def _treatment_problems(source: str, column, behandling: str) -> list[str]:
    """What a column's treatment may be: personnummer columns are pseudonymised, names and
    addresses live only in the vault (from folkbokföring, a person's own record), and a
    column a rule or the protection of households needs is never removed."""
    out = []
    if behandling == "pseudonymiseras" and column.kind != "pnr":
        out.append("bara personnummerkolumner kan pseudonymiseras")
    if column.kind == "pnr" and behandling not in ("pseudonymiseras", "tas_bort"):
        out.append("personnummer måste pseudonymiseras")
    if behandling == "valv" and not (source == "folkbokforing"
                                     and column.name in IDENTITY_FIELDS):
        out.append("bara folkbokföringens namn och adresser lagras i identitetsvalvet")
    if column.name in IDENTITY_FIELDS and column.kind != "pnr" and behandling == "behalls":
        out.append("namn och adresser får bara lagras krypterade i identitetsvalvet")
    if behandling == "tas_bort" and column.essential:
        out.append("kolumnen behövs av reglerna eller skyddet av hushåll och kan inte tas bort")
    return out


def _source_checks(kallor: Sources) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    ka = FILES["kallor"]
    for name in SOURCES:
        if name not in kallor.kallor:
            out.append((ka, f"kallor.{name}", "källan saknas"))
    for name, spec in kallor.kallor.items():
        source = SOURCES.get(name)
        if source is None:
            out.append((ka, f"kallor.{name}", "okänd källa"))
            continue
        if spec.typ not in source.cadences:
            out.append((ka, f"kallor.{name}.typ", "källans kornighet tillåter bara "
                        + " eller ".join(source.cadences)))
        stamps = re.findall(r"\{[A-Z]+\}", spec.fil)
        if stamps != [_STAMPS[spec.typ]]:
            out.append((ka, f"kallor.{name}.fil",
                        f"mönstret ska innehålla {_STAMPS[spec.typ]} en gång (typ {spec.typ})"))
        for col in spec.nyckel:
            if col not in source.column_names:
                out.append((ka, f"kallor.{name}.nyckel", f"okänd kolumn {col}"))
        if spec.typ not in ("ogonblicksbild", "daglig") and spec.max_alder_dagar is not None:
            out.append((ka, f"kallor.{name}.max_alder_dagar",
                        "periodfiler (månad, år, termin) har ingen högsta ålder"))
        if spec.typ != "ogonblicksbild" and spec.max_minskning_andel is not None:
            out.append((ka, f"kallor.{name}.max_minskning_andel",
                        "gäller bara ögonblicksbilder"))
        if spec.typ != "daglig" and spec.min_andel_elever is not None:
            out.append((ka, f"kallor.{name}.min_andel_elever", "gäller bara dagliga filer"))
    for name, mapping in kallor.alias.items():
        for alias, target in mapping.items():
            if name not in SOURCES or target not in SOURCES[name].column_names:
                out.append((ka, f"alias.{name}.{alias}", "alias pekar på okänd kolumn"))
    return out


def _recipient_checks(mottagare: Recipients) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    mo = FILES["mottagare"]
    for role_name, role in mottagare.roller.items():
        for field in role.identitet:
            if field not in IDENTITY_FIELDS:
                out.append((mo, f"roller.{role_name}.identitet", f"okänt identitetsfält {field}"))
            elif field in ADDRESS_FIELDS and not role.forseglad:
                out.append((mo, f"roller.{role_name}.identitet",
                            f"{field} får bara lämnas till förseglad mottagare"))
    for list_name in (*LISTS, *BOARD_TABLES):
        if list_name not in mottagare.listor:
            out.append((mo, f"listor.{list_name}", "listan saknar mottagare"))
    for list_name, route in mottagare.listor.items():
        out.extend(_list_route_checks(list_name, route))
        role = mottagare.roller.get(route.mottagare)
        if role is None:
            out.append((mo, f"listor.{list_name}.mottagare", f"okänd roll {route.mottagare}"))
            continue
        if role.forseglad:
            out.append((mo, f"listor.{list_name}.mottagare",
                        "allmänna listor går inte till den förseglade mottagaren"))
        for field in route.identitet:
            if field not in role.identitet:
                out.append((mo, f"listor.{list_name}.identitet",
                            f"{field} är en direkt identifierare som rollen {route.mottagare} "
                            "inte får ta emot"))
    officer = mottagare.roller.get(mottagare.forseglad_mottagare)
    if officer is None:
        out.append((mo, "forseglad_mottagare", "okänd roll"))
    elif not officer.forseglad:
        out.append((mo, "forseglad_mottagare", "rollen måste vara förseglad"))
    return out


def _identity_source_checks(klassning, mottagare) -> list[tuple[str, str, str]]:
    """A list can only carry the identity fields the vault keeps."""
    people = klassning.get("folkbokforing", {})
    kept = {"personnummer"} | {c for c, v in people.items() if v.behandling == "valv"}
    return [(FILES["mottagare"], f"listor.{name}.identitet",
             f"{field} lagras inte i identitetsvalvet (klassning.yaml: tas_bort)")
            for name, route in mottagare.listor.items() for field in route.identitet
            if field in IDENTITY_FIELDS and field not in kept]


def _list_route_checks(name: str, route: ListRoute) -> list[tuple[str, str, str]]:
    """What a list's route may ask for: identity fields the list has columns for, and a cut
    (per school unit, per year) the list kind has."""
    mo = FILES["mottagare"]
    key = f"listor.{name}"
    if name in BOARD_TABLES:
        out = [(mo, f"{key}.identitet", "nämndens tabeller får inte ha identitetsuppgifter")
               ] if route.identitet else []
        if route.per_skolenhet or route.per_ar:
            out.append((mo, key, "nämndens tabeller delas inte per skolenhet eller år"))
        return out
    contract = LISTS.get(name)
    if contract is None:
        return [(mo, key, "okänd lista (finns inte i utdatakontraktet)")]
    out = []
    possible = {f for need in contract.identity_columns().values() for f in need}
    for field in route.identitet:
        if field in IDENTITY_FIELDS and field not in possible:
            out.append((mo, f"{key}.identitet", f"listan har ingen kolumn för {field}"))
    if route.per_skolenhet and contract.cut != "skolenhet":
        out.append((mo, f"{key}.per_skolenhet", "listan kan inte delas per skolenhet"))
    if route.per_ar and contract.cut != "ar":
        out.append((mo, f"{key}.per_ar", "listan kan inte delas per år"))
    return out


def month_index(yyyy_mm: str) -> int:
    return int(yyyy_mm[:4]) * 12 + int(yyyy_mm[5:7]) - 1


def _fee_period_checks(fees: Fees) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    f = FILES["maxtaxa"]
    spans = []
    for i, per in enumerate(fees.perioder):
        start = month_index(per.fran)
        end = month_index(per.till) if per.till else 10**9
        if end < start:
            out.append((f, f"perioder.{i}", "till ligger före fran"))
        for verksamhet in ("forskola", "pedagogisk_omsorg", "fritidshem"):
            if len(per.procent.get(verksamhet, [])) != 3 or len(per.tak.get(verksamhet, [])) != 3:
                out.append((f, f"perioder.{i}.{verksamhet}", "procent och tak behöver tre värden"))
        spans.append((start, end, i))
    spans.sort()
    reach, reach_i = -1, -1  # the latest end so far: a long period can cover several later ones
    for start, end, i in spans:
        if start <= reach:
            out.append((f, f"perioder.{i}", f"överlappar period {reach_i}"))
        if end > reach:
            reach, reach_i = end, i
    return out
