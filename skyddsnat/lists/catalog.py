"""The list catalogue: the output contract joined with policies/mottagare.yaml.

DESIGN.md fixes what each list kind holds (`contract.LISTS`); the policy decides who receives
it (`mottagare`, which is also its outbox folder), which identity fields it carries
(`identitet`), and whether it is one file per school unit (`per_skolenhet`) or per income
year (`per_ar`). A `ListSpec` is that join, the one description of a list that case
tracking, re-identification, sealing and writing all read: narrowing a list's `identitet`
drops the column, moving a list moves its file. Only a policy that gives a list more than
its role may have is refused, by `policy check` before any run.
"""

from __future__ import annotations

from dataclasses import dataclass

from skyddsnat.contract import BOARD_TABLES, LISTS, ListContract, identity_columns
from skyddsnat.policy import Policy

PERSON_ID_COLUMNS = ("person_id", "betalare", "medbetalare", "barn",
                     "vardnadshavare_1", "vardnadshavare_2")
SCHOOL_COLUMN = "skolenhetskod"


@dataclass(frozen=True)
class ListSpec:
    """One list file: its name, recipient role and exactly which columns it may hold."""

    kind: str
    name: str
    role: str
    title: str
    subject: str
    columns: tuple[str, ...]
    identity_prefix: str = ""
    date_columns: tuple[str, ...] = ()
    extra_sheets: tuple[str, ...] = ()
    case_key_columns: tuple[str, ...] = ()
    count_by: tuple[str, ...] = ()
    per_skolenhet: bool = False

    def identity_columns(self) -> dict[str, tuple[str, ...]]:
        """The list's identity columns and the vault fields each is made of."""
        return identity_columns(self.columns, self.identity_prefix)

    def case_key(self) -> tuple[str, ...]:
        return self.case_key_columns or (self.subject,)


class ListCatalog:
    """Every list of a policy: `spec(kind, qualifier)` for general lists, `sealed(kind)` for
    the protected-identity officer's, and the route of each board table."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(LISTS)

    def route(self, kind: str):
        return self.policy.mottagare.listor[kind]

    def per_school(self, kind: str) -> bool:
        return LISTS[kind].cut == "skolenhet" and self.route(kind).per_skolenhet

    def per_year(self, kind: str) -> bool:
        return LISTS[kind].cut == "ar" and self.route(kind).per_ar

    def spec(self, kind: str, qualifier: str | int | None = None) -> ListSpec:
        """A general list: `qualifier` is the school unit code or the income year of a list
        the policy cuts per school or year; None for the kind's one list."""
        route = self.route(kind)
        return _spec(LISTS[kind], route.mottagare, set(route.identitet), qualifier,
                     per_school=self.per_school(kind))

    def sealed(self, kind: str) -> ListSpec:
        """The kind's sealed list (all schools and years in one file) for the officer, with
        every identity column the officer's role may have."""
        m = self.policy.mottagare
        officer = m.roller[m.forseglad_mottagare]
        return _spec(LISTS[kind], m.forseglad_mottagare, set(officer.identitet), None,
                     per_school=LISTS[kind].cut == "skolenhet")

    def board_role(self, name: str) -> str:
        if name not in BOARD_TABLES:
            raise KeyError(name)
        return self.route(name).mottagare


def _spec(contract: ListContract, role: str, fields: set[str], qualifier,
          per_school: bool) -> ListSpec:
    columns = [c for c in contract.columns
               if (need := contract.identity_fields(c)) is None or set(need) <= fields]
    if contract.cut == "skolenhet" and not per_school and SCHOOL_COLUMN not in columns:
        # One list for every school: each row must say which school it is about.
        columns.insert(columns.index("arende_id") + 1, SCHOOL_COLUMN)
    name = contract.kind if qualifier is None else f"{contract.kind}_{qualifier}"
    return ListSpec(
        contract.kind, name, role, _title(contract, qualifier), contract.subject,
        tuple(columns), contract.identity_prefix, contract.date_columns,
        contract.extra_sheets, contract.case_key_columns, contract.count_by, per_school)


def _title(contract: ListContract, qualifier) -> str:
    if contract.cut == "skolenhet":
        return (f"{contract.title}, "
                + ("alla skolenheter" if qualifier is None else f"skolenhet {qualifier}"))
    if contract.cut == "ar" and qualifier is not None:
        return f"{contract.title}, inkomstår {qualifier}"
    return contract.title


def list_spec(kind: str, qualifier: str | int | None = None,
              policy: Policy | None = None) -> ListSpec:
    """`ListCatalog(policy).spec(kind, qualifier)`, with the shipped policies by default."""
    if policy is None:
        from skyddsnat.policy import load_policy

        policy = load_policy()
    return ListCatalog(policy).spec(kind, qualifier)
