"""What a generation wrote and what it planted. The truth stays in memory: it holds
personnummer, so it is never written outside the inbox (only counts go to disk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .writer import FileInfo

Key = tuple[str, str]  # (12-digit personnummer, skolenhetskod)


@dataclass
class Truth:
    kommunkod: str
    skolplikt: dict[str, str]  # pnr -> orsak, as the school-duty list must report it
    skolplikt_planted: dict[str, set[str]]  # role -> pnrs (incl. covered and not-resident)
    not_resident_children: set[str]
    franvaro_levels: dict[str, dict[Key, str]]  # window ("termin", "4_veckor") -> niva
    franvaro_ogiltig: dict[str, set[Key]]  # window -> invalid absence >= 5 %
    franvaro_planted: dict[str, set[str]]
    changed_school: set[str]
    hog_without_case: set[str]  # term window
    case_step5: set[str]
    inkomstar: int
    inkomstkontroll: dict[str, str]  # hushall_id -> atgard (incl. inom_tolerans)
    inkomstkontroll_diff: dict[str, int]  # hushall_id -> correct - billed, kr
    fee_planted: dict[str, set[str]]  # kind -> hushall_id
    shared_copayer: dict[str, tuple[str, ...]]  # co-payer pnr -> hushall_ids
    child_in_two_households: dict[str, tuple[str, ...]]
    betyg_termin: str
    f_students: set[Key]
    programme_students: set[Key]
    f_without_programme: set[Key]
    grades_planted: dict[str, set[str]]
    protected_flagged: set[str]
    protected_associated: set[str]  # household members of a flagged person, not flagged
    protected_households: set[str]  # hushall_id with a protected member

    @property
    def protected(self) -> set[str]:
        return self.protected_flagged | self.protected_associated


@dataclass
class GenerationReport:
    profile: str
    as_of: date
    seed: int
    out_dir: Path
    files: dict[str, FileInfo] = field(default_factory=dict)
    invalid: dict[str, dict[str, int]] = field(default_factory=dict)
    truth: Truth | None = None
    seconds: float = 0.0

    def rows(self, prefix: str) -> int:
        return sum(f.rows for n, f in self.files.items() if n.startswith(prefix))

    def summary(self) -> dict:
        """Counts only: safe to write next to the inbox."""
        t = self.truth
        kinds = ("folkbokforing", "elevregister", "skolpliktsbeslut", "narvaro", "avgifter",
                 "inkomster", "atgardsprogram", "betyg", "franvaroarenden")
        out = {
            "profile": self.profile, "as_of": self.as_of.isoformat(), "seed": self.seed,
            "seconds": round(self.seconds, 1), "files": len(self.files),
            "rows": {k: self.rows(k) for k in kinds},
            "invalid_rows": {k: sum(sum(v.values()) for n, v in self.invalid.items()
                                    if n.startswith(k)) for k in kinds},
            "bytes": sum((self.out_dir / "inbox" / n).stat().st_size for n in self.files),
        }
        if t is not None:
            levels = t.franvaro_levels["termin"].values()
            out["truth"] = {
                "skolplikt": {r: sum(1 for v in t.skolplikt.values() if v == r)
                              for r in sorted(set(t.skolplikt.values()))},
                "franvaro_termin": {n: sum(1 for v in levels if v == n)
                                    for n in ("uppmarksamma", "oroande", "hog")},
                "hog_without_case": len(t.hog_without_case),
                "inkomstkontroll": {a: sum(1 for v in t.inkomstkontroll.values() if v == a)
                                    for a in sorted(set(t.inkomstkontroll.values()))},
                "f_without_programme": len(t.f_without_programme),
                "protected_flagged": len(t.protected_flagged),
                "protected_associated": len(t.protected_associated),
            }
        return out
