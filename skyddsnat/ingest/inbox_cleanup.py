"""Inbox cleanup: a processed export leaves the inbox once the run that archived it succeeded.

The inbox is the only plaintext outside the vault and the sealed archive, and only until
an export is processed and archived (privacy model point 6). At the end of a successful
run (`gallring.inkorg_rensas: efter_lyckad_korning`) every source file dated on or before
the reference day whose exact content is in the archive is removed; a failed run never
gets there, so its inbox stays as it was.

What later nights need from a removed file, the warehouse keeps, pseudonymised: a period
file's (invoices, incomes, grades) ingested table stays in the file cache, found by name
(`cached_removed`), and a snapshot source with no newer file rests on its stored table. A
register in state/ (`inkorg_rensade.json`: file name, source, content digest, night — no
content) says which files were removed, so a removed file is never mistaken for one that
never came; the night's removal is written there before any file goes, so a re-run of a
night killed half-way through its cleanup finds its way.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

from skyddsnat.ingest.catalog import catalog
from skyddsnat.ingest.inbox import _stamp_date
from skyddsnat.layout import DataDir
from skyddsnat.policy import Policy
from skyddsnat.privacy.archive import archived_name
from skyddsnat.privacy.audit import AuditLog

REGISTRY = "inkorg_rensade.json"
EVENT = "inkorg_rensad"


def _registry(data: DataDir) -> dict:
    path = data.state / REGISTRY
    if not path.exists():
        return {"filer": {}, "natt": None}
    return json.loads(path.read_text(encoding="utf-8"))


def _save(data: DataDir, reg: dict) -> None:
    data.state.mkdir(parents=True, exist_ok=True)
    path = data.state / REGISTRY
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(reg, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def source_of(name: str, policy: Policy) -> tuple[str, date] | None:
    """The source a file name belongs to (the catalogue's `fil` patterns) and its date."""
    for source, entry in catalog(policy).items():
        m = entry.pattern.fullmatch(name)
        if m:
            try:
                return source, _stamp_date(m.group(1).upper())
            except ValueError:
                return None
    return None


def _archived_digests(archive_dir: Path) -> set[str]:
    """Every `<name>.<digest>` in the archive (blob names carry the content's digest)."""
    if not Path(archive_dir).is_dir():
        return set()
    return {p.name.removesuffix(".enc") for p in Path(archive_dir).glob("*/*.enc")}


def processed_exports(data: DataDir, as_of: date, policy: Policy
                      ) -> list[tuple[str, date, Path, str]]:
    """(source, date, path, digest) of each inbox file dated on or before `as_of` whose
    exact content the archive holds."""
    archived = _archived_digests(data.archive)
    out = []
    if not data.inbox.is_dir():
        return out
    for p in sorted(data.inbox.iterdir()):
        found = source_of(p.name, policy)
        if found is None or found[1] > as_of or not p.is_file():
            continue
        name = archived_name(p.name, p.read_bytes())
        if name in archived:
            out.append((found[0], found[1], p, name.rsplit(".", 1)[1]))
    return out


def clean(data: DataDir, as_of: date, audit: AuditLog, policy: Policy) -> list[str]:
    """Remove the night's processed exports; register them first; audit the removal."""
    files = processed_exports(data, as_of, policy)
    reg = _registry(data)
    night = reg["natt"] if reg["natt"] and reg["natt"]["referensdag"] == as_of.isoformat() \
        else None
    if not files:
        return []
    for source, day, path, digest in files:
        reg["filer"][path.name] = {"kalla": source, "datum": day.isoformat(), "sha256": digest,
                                   "referensdag": as_of.isoformat()}
    # A night whose cleanup was killed half-way names all its files once, as the first try
    # would have: the audit entry of a re-run is the same entry.
    names = sorted({p.name for _, _, p, _ in files} | set(night["filer"] if night else ()))
    reg["natt"] = {"referensdag": as_of.isoformat(), "filer": names}
    _save(data, reg)
    for _, _, path, _ in files:
        path.unlink(missing_ok=True)
    digest = hashlib.sha256(json.dumps([as_of.isoformat(), names]).encode()).hexdigest()
    key = f"{EVENT}:{digest[:32]}"
    if not audit.has(EVENT, key):
        audit.append(EVENT, {"as_of": as_of.isoformat(), "antal": len(names), "filer": names},
                     key)
    return names


def removed(data: DataDir, source: str, as_of: date) -> list[str]:
    """Names of this source's removed files dated on or before `as_of`, oldest first, that
    the inbox does not hold again."""
    out = []
    for name, info in _registry(data)["filer"].items():
        if (info["kalla"] == source and date.fromisoformat(info["datum"]) <= as_of
                and not (data.inbox / name).exists()):
            out.append((info["datum"], name))
    return [n for _, n in sorted(out)]


def removed_dates(data: DataDir, source: str) -> dict[str, date]:
    """Each removed file of the source and the date its name carries."""
    return {name: date.fromisoformat(info["datum"])
            for name, info in _registry(data)["filer"].items() if info["kalla"] == source}
