"""The source catalogue: the contract's columns joined with policies/ (kallor + klassning).

One entry per source says everything the pipeline does with it: the inbox file pattern
(`fil`), the cadence (`typ`: a full snapshot, one file per day, or period files), whether
it may be absent (`valfri`), its key and vendor aliases, and per column the contract's
rules with the policy's classification and treatment (`behandling`): `pseudonymiseras`
columns are stored as keyed pseudonyms, `valv` columns go only to the identity vault,
`behalls` columns are kept in the pseudonymous table, `tas_bort` columns are never read
further. The inbox patterns, the row/file cache modes, the vault fields, the pandera models
and the GX suites are all derived from it (`schemas/`), so each rule is stated once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skyddsnat.contract import SOURCES, Column, Rule
from skyddsnat.policy import Policy

PLACEHOLDERS = {"{YYYYMMDD}": r"(\d{8})", "{YYYYMM}": r"(\d{6})", "{YYYY}": r"(\d{4})",
                "{TERM}": r"((?:HT|VT)\d{4})"}
# The stamp each cadence's file names carry.
CADENCE_STAMP = {"ogonblicksbild": "{YYYYMMDD}", "daglig": "{YYYYMMDD}",
                 "manatlig": "{YYYYMM}", "arlig": "{YYYY}", "termin": "{TERM}"}
STORED = ("pseudonymiseras", "behalls")


def stored_column(column: str) -> str:
    """A personnummer column's name in the stored table (`personnummer` becomes `person_id`)."""
    return "person_id" if column == "personnummer" else column


@dataclass(frozen=True)
class StoredColumn:
    """A contract column as stored: its name in the table, its rule, and its treatment."""

    name: str
    column: Column
    behandling: str

    @property
    def pseudonym(self) -> bool:
        return self.column.kind == "pnr"

    @property
    def nullable(self) -> bool:
        return not (self.column.required or self.column.filled)


@dataclass(frozen=True)
class SourceEntry:
    name: str
    fil: str
    typ: str
    valfri: bool
    key: tuple[str, ...]  # contract names
    alias: tuple[tuple[str, str], ...]
    columns: tuple[tuple[Column, str], ...]  # every contract column and its behandling
    rules: tuple[Rule, ...]
    never_empty: bool

    @property
    def pattern(self) -> re.Pattern:
        """The file names of this source, the stamp as group 1."""
        return file_pattern(self.fil)

    @property
    def snapshot(self) -> bool:
        """A full snapshot: the newest file on or before the reference date is the source."""
        return self.typ == "ogonblicksbild"

    @property
    def daily(self) -> bool:
        return self.typ == "daglig"

    @property
    def stored(self) -> tuple[StoredColumn, ...]:
        return tuple(StoredColumn(stored_column(c.name), c, b) for c, b in self.columns
                     if b in STORED)

    @property
    def stored_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stored)

    @property
    def vault_fields(self) -> tuple[str, ...]:
        """Columns that go only to the identity vault (names and addresses)."""
        return tuple(c.name for c, b in self.columns if b == "valv")

    @property
    def pnr_columns(self) -> tuple[str, ...]:
        """Personnummer columns read (and pseudonymised); contract names."""
        return tuple(c.name for c, b in self.columns if c.kind == "pnr" and b in STORED)

    @property
    def dropped(self) -> tuple[str, ...]:
        return tuple(c.name for c, b in self.columns if b == "tas_bort")

    @property
    def stored_key(self) -> tuple[str, ...]:
        return tuple(stored_column(k) for k in self.key)

    def aliases(self) -> dict[str, str]:
        return dict(self.alias)


def file_pattern(fil: str) -> re.Pattern:
    """`folkbokforing_{YYYYMMDD}.csv` as a regex matching whole file names, any case."""
    parts = re.split(r"(\{[A-Z]+\})", fil)
    rx = "".join(PLACEHOLDERS.get(p, re.escape(p)) for p in parts)
    return re.compile(rx, re.IGNORECASE)


def placeholders(fil: str) -> list[str]:
    return re.findall(r"\{[A-Z]+\}", fil)


_BUILT: dict[str, dict[str, SourceEntry]] = {}


def _catalog(policy: Policy) -> dict[str, SourceEntry]:
    """Built once per content of the two policy files it rests on (every asset asks)."""
    key = policy.kallor.model_dump_json() + repr(sorted(
        (s, c, v.behandling) for s, cols in policy.klassning.items() for c, v in cols.items()))
    if key not in _BUILT:
        if len(_BUILT) > 16:
            _BUILT.clear()
        _BUILT[key] = _build(policy)
    return _BUILT[key]


def _build(policy: Policy) -> dict[str, SourceEntry]:
    out = {}
    for name, source in SOURCES.items():
        spec = policy.kallor.kallor[name]
        classes = policy.klassning[name]
        out[name] = SourceEntry(
            name, spec.fil, spec.typ, spec.valfri, tuple(spec.nyckel),
            tuple(sorted(policy.kallor.alias.get(name, {}).items())),
            tuple((c, classes[c.name].behandling) for c in source.columns),
            source.rules, source.never_empty)
    return out


def catalog(policy: Policy) -> dict[str, SourceEntry]:
    """Every source's entry under `policy` (built once per policy version)."""
    return _catalog(policy)


def entry(policy: Policy, source: str) -> SourceEntry:
    return _catalog(policy)[source]
