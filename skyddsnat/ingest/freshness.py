"""Is a source fit to build the night's lists on? Presence, age and volume, per policy.

A stalled export looks exactly like "no pupil is at risk": an empty attendance feed gives
empty absence lists. So every source asset asks this module, before anything is delivered,
whether its feed is present, fresh enough (`max_alder_dagar` in policies/kallor.yaml) and
plausibly complete (`min_rader`, `max_minskning_andel`, `min_andel_elever`); a finding
either stops the night (`vid_avvikelse: stoppa`) or rides along as a warning on every list
that rests on the source (`varna`). Period files (avgifter, inkomster, betyg) have no
maximum age: the lists built on them state which period they cover.

What each source rested on (file, its date, rows — never a value) is kept in a small
pseudonymous state file per source, so the delivery can state its data basis and the
record outlives the inbox file itself. No Dagster here: the assets call these functions.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.inbox import files_for
from skyddsnat.ingest.inbox_cleanup import removed_dates
from skyddsnat.layout import DataDir
from skyddsnat.policy import Policy, SourceFile

STATE_DIR = "kallor"  # under the data dir's state/

# The sources each list kind (and the board) rests on. Folkbokföringen decides who is
# protected, so every list rests on it.
LIST_SOURCES: dict[str, tuple[str, ...]] = {
    "skolplikt": ("folkbokforing", "elevregister", "skolpliktsbeslut"),
    "franvaro": ("folkbokforing", "elevregister", "narvaro", "franvaroarenden"),
    "atgardsprogram": ("folkbokforing", "elevregister", "atgardsprogram", "betyg", "narvaro"),
    "inkomstkontroll": ("folkbokforing", "avgifter", "inkomster"),
    "kommunbild": ("folkbokforing", "elevregister", "narvaro"),
}


@dataclass(frozen=True)
class Finding:
    """One reason a source cannot be trusted tonight: a single Swedish line, no values."""

    source: str
    action: str  # "stoppa" | "varna"
    message: str

    @property
    def stops(self) -> bool:
        return self.action == "stoppa"


@dataclass
class Basis:
    """What a source rested on for one reference date."""

    source: str
    as_of: str
    file: str | None = None
    date: str | None = None
    rows: int | None = None
    warnings: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | varning | stoppad


def _days(n: int) -> str:
    return f"{n} dag" if n == 1 else f"{n} dagar"


def _allowed(rule: SourceFile) -> str:
    return f"högst {_days(rule.max_alder_dagar)} gammal tillåts"


def days_outside(breaks, after: date, until: date) -> int:
    """Days d with after < d ≤ until that lie in no school break (`franvaro.yaml` `lov`):
    an attendance feed does not age while the schools are closed."""
    days = (after + timedelta(days=i) for i in range(1, (until - after).days + 1))
    return sum(1 for d in days if not any(b.fran <= d <= b.till for b in breaks))


def age_finding(source: str, rule: SourceFile, dates: list[date], as_of: date,
                breaks=()) -> Finding | None:
    """Missing or too old against the reference date; files dated after it do not count.

    `dates` are the dates of every file of the source in the inbox, later ones included
    (a re-run or backfill of an earlier date reads that date's exports, never newer ones),
    and for attendance the days already stored. `breaks` (attendance only: the school
    breaks) are days that do not count towards the age.
    An optional source that was never supplied is fine; once it has files it must be fresh.
    """
    if rule.max_alder_dagar is None:
        return None
    usable = [d for d in dates if d <= as_of]
    later = [d for d in dates if d > as_of]
    if not usable:
        if later:
            return Finding(source, rule.vid_avvikelse,
                           f"{source}: ingen fil daterad på eller före referensdagen {as_of} – "
                           f"bara filer daterade efter den (nyaste {max(later)}), och de läses "
                           f"inte för ett tidigare datum ({_allowed(rule)})")
        if rule.valfri:
            return None
        return Finding(source, rule.vid_avvikelse,
                       f"{source}: ingen fil i inkorgen på eller före referensdagen {as_of} "
                       f"({_allowed(rule)})")
    newest = max(usable)
    age = days_outside(breaks, newest, as_of)
    if age > rule.max_alder_dagar:
        counted = "" if age == (as_of - newest).days else " utanför skollov"
        return Finding(source, rule.vid_avvikelse,
                       f"{source}: nyaste data är daterad {newest}, {_days(age)}{counted} "
                       f"före referensdagen {as_of} ({_allowed(rule)})")
    return None


def stored_days(data: DataDir, source: str, until: date) -> list[date]:
    """Days of a partitioned source already in the warehouse, up to `until`."""
    return data.partition_days(source, until)


def source_dates(data: DataDir, policy: Policy, source: str, as_of: date,
                 partitioned: bool = False) -> list[date]:
    """The dates a source's freshness is judged on: its inbox files (later ones included,
    to say so), the processed files removed from the inbox that its stored table rests on
    (skyddsnat/ingest/inbox_cleanup.py) and, for a partitioned source (attendance), the days
    already stored."""
    dates = [d for d, _ in files_for(data.inbox, entry(policy, source))]
    if data.table(source).exists() or partitioned:
        dates += list(removed_dates(data, source).values())
    return dates + (stored_days(data, source, as_of) if partitioned else [])


def night_findings(data: DataDir, policy: Policy, as_of: date,
                   partitioned: tuple[str, ...] = ("narvaro",)) -> list[Finding]:
    """Every source's presence and age finding for a night (the sensor and schedule ask
    before a run; each source asset asks again for itself)."""
    out = []
    for source, rule in policy.kallor.kallor.items():
        found = age_finding(source, rule, source_dates(data, policy, source, as_of,
                                                       source in partitioned), as_of)
        if found:
            out.append(found)
    return out


def snapshot_volume_finding(source: str, rule: SourceFile, file: str, rows: int,
                            last_accepted: int | None) -> Finding | None:
    """Too few rows, or a fall against the last accepted snapshot larger than policy allows.

    A well-formed but truncated export is the commonest silent failure; a header-only
    population register is never "no residents".
    """
    if rows < rule.min_rader:
        return Finding(source, rule.vid_avvikelse,
                       f"{source}: {file} har {rows} godkända rader (minst {rule.min_rader} "
                       "krävs; en fil utan rader betyder inte att ingen finns)")
    share = rule.max_minskning_andel
    if share is not None and last_accepted and rows < last_accepted * (1 - share):
        fall = 100 * (last_accepted - rows) / last_accepted
        return Finding(source, rule.vid_avvikelse,
                       f"{source}: {file} har {rows} godkända rader, {fall:.0f} % färre än den "
                       f"senast godkända ({last_accepted}); högst {100 * share:g} % minskning "
                       "tillåts")
    return None


def day_volume_finding(source: str, rule: SourceFile, file: str, rows: int,
                       previous: list[int]) -> Finding | None:
    """A day file with far fewer rows (pupils) than the school days before it.

    `previous` are the row counts of the stored school days before this one, oldest first;
    the median of the last `jamforelsedagar` of them is the yardstick.
    """
    share = rule.min_andel_elever
    recent = [n for n in previous if n > 0][-rule.jamforelsedagar:]
    if share is None or not recent:
        return None
    typical = statistics.median(recent)
    if rows < share * typical:
        return Finding(source, rule.vid_avvikelse,
                       f"{source}: {file} har {rows} godkända rader mot i median {typical:g} "
                       f"de {len(recent)} skoldagarna före (minst {100 * share:g} % krävs)")
    return None


def _path(state: Path, source: str) -> Path:
    return Path(state) / STATE_DIR / f"{source}.json"


def _read(state: Path, source: str) -> dict:
    path = _path(state, source)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def last_accepted_rows(state: Path, source: str) -> int | None:
    """Rows of the last snapshot that was accepted (delivered on, with or without warning)."""
    accepted = _read(state, source).get("godkand") or {}
    return accepted.get("rows")


def record(state: Path, basis: Basis) -> None:
    """Store what the source rested on tonight; a basis not stopped becomes the accepted one."""
    doc = _read(state, basis.source)
    doc["senaste"] = asdict(basis)
    if basis.status != "stoppad":
        doc["godkand"] = asdict(basis)
    path = _path(state, basis.source)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True),
                   encoding="utf-8")
    os.replace(tmp, path)


def bases(state: Path, as_of: date) -> dict[str, Basis]:
    """Every source's basis recorded for `as_of` (a source not recorded for it is absent)."""
    out = {}
    folder = Path(state) / STATE_DIR
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        latest = _read(state, path.stem).get("senaste") or {}
        if latest.get("as_of") == as_of.isoformat():
            out[path.stem] = Basis(**latest)
    return out


def warnings_for(kind: str, recorded: dict[str, Basis]) -> list[str]:
    """The warnings of the sources a list kind rests on, in the order of LIST_SOURCES."""
    return [w for s in LIST_SOURCES.get(kind, ()) if s in recorded
            for w in recorded[s].warnings]
