"""Atomic deliveries to the outbox, their manifest, retention and audit entries.

Every file of a delivery is written into `outbox/.staging/<as_of>-<token>/`; on success
the directory moves to `outbox/.deliveries/<as_of>-<token>` and `outbox/<as_of>` (a
symlink) is swapped to it with `os.replace` of a fresh symlink. A run killed at any point
leaves either the previous delivery or the new one, never a half-written one.

The manifest names files, their SHA-256 and, for GENERAL lists only, row counts and a
content fingerprint. Sealed files get neither: how many protected persons a list holds is
itself sensitive, and a fingerprint of an empty sealed list would be recognisable.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

import pandas as pd

from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.storage import file_sha256

STAGING = ".staging"
DELIVERIES = ".deliveries"
MANIFEST = "manifest.json"
SEALED_SUFFIX = ".sealed"
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:-[0-9a-z]+)*$")


class OutboxProblem(RuntimeError):
    """A delivery could not be staged or published as asked."""


@dataclass
class Delivery:
    """A delivery being staged; write files under `path(rel)` and `record` each list."""

    root: Path
    as_of: str
    policy_version: str
    created: str
    entries: dict[str, dict] = field(default_factory=dict)
    manifest: dict | None = None

    def path(self, relpath: str) -> Path:
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or str(rel) == MANIFEST:
            raise OutboxProblem("ogiltig sökväg i leveransen")
        target = self.root.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def record(self, relpath: str, rows: int | None = None,
               fingerprint: str | None = None) -> None:
        """Record a general list's row count and content fingerprint (not for sealed files)."""
        if relpath.endswith(SEALED_SUFFIX) and (rows is not None or fingerprint is not None):
            raise OutboxProblem("förseglade filer får inte ha radantal eller fingeravtryck")
        entry: dict = {}
        if rows is not None:
            entry["rows"] = int(rows)
        if fingerprint is not None:
            entry["fingerprint"] = fingerprint
        self.entries[str(PurePosixPath(relpath))] = entry

    def build_manifest(self) -> dict:
        files = []
        for p in sorted(q for q in self.root.rglob("*") if q.is_file()):
            rel = p.relative_to(self.root).as_posix()
            if rel == MANIFEST:
                continue
            item = {"path": rel, "sha256": file_sha256(p), "sealed": rel.endswith(SEALED_SUFFIX)}
            if not item["sealed"]:
                item.update(self.entries.get(rel, {}))
            files.append(item)
        unwritten = set(self.entries) - {f["path"] for f in files}
        if unwritten:
            raise OutboxProblem(f"registrerade filer saknas i leveransen: {sorted(unwritten)}")
        return {"as_of": self.as_of, "policy_version": self.policy_version,
                "created": self.created, "files": files}


@contextmanager
def staged_delivery(outbox: Path | str, as_of: date | str, policy_version: str,
                    created: datetime | None = None) -> Iterator[Delivery]:
    """Stage a delivery and publish it atomically when the block ends without error.

    On an exception the staging directory is removed and the previous delivery of the date
    (if any) stays exactly as it was.
    """
    outbox = Path(outbox)
    as_of_s = pd.Timestamp(as_of).date().isoformat()
    token = secrets.token_hex(6)
    staging = outbox / STAGING / f"{as_of_s}-{token}"
    try:
        _remove_leftovers(outbox, as_of_s)
        staging.mkdir(parents=True)
    except OSError as exc:
        raise _unwritable(exc) from None
    stamp = (created or datetime.now(UTC)).isoformat(timespec="seconds")
    delivery = Delivery(staging, as_of_s, policy_version, stamp)
    try:
        yield delivery
        manifest = delivery.build_manifest()
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False),
                                        encoding="utf-8")
        _fsync_tree(staging)
        _publish(outbox, as_of_s, staging, token)
        delivery.manifest = manifest
        delivery.root = outbox / DELIVERIES / f"{as_of_s}-{token}"
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        os_error = _os_error(exc)
        if os_error is not None:
            raise _unwritable(os_error) from None
        raise


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind a failure, also when a writer wrapped it (xlsxwriter does)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno:
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _unwritable(exc: OSError) -> OutboxProblem:
    """Name the problem (errno, e.g. ENOSPC or EACCES) but no path or value."""
    code = errno.errorcode.get(exc.errno or 0, "okänt fel")
    text = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    return OutboxProblem(f"leveransen kunde inte skrivas till utkorgen ({code}: {text}); "
                         "föregående leverans är orörd")


def _remove_leftovers(outbox: Path, as_of: str) -> None:
    """Remove what a killed run of the same date left: its staging dir and temporary link.

    A run killed while staging leaves plaintext lists under `.staging/`; they were never
    delivered, so the next run of the date removes them before it stages its own. (Two
    runs of the same date at once are not supported: the later one removes the other's
    staging, which then fails instead of publishing.)
    """
    for old in (outbox / STAGING).glob(f"{as_of}-*"):
        shutil.rmtree(old)
    for link in outbox.glob(f".{as_of}-*.link"):
        link.unlink()


def _publish(outbox: Path, as_of: str, staging: Path, token: str) -> None:
    deliveries = outbox / DELIVERIES
    deliveries.mkdir(parents=True, exist_ok=True)
    final = deliveries / f"{as_of}-{token}"
    os.rename(staging, final)
    link = outbox / as_of
    target = Path(DELIVERIES) / final.name
    tmp_link = outbox / f".{as_of}-{token}.link"
    try:
        if link.exists() and not link.is_symlink():
            # A plain directory from an older layout: move it aside so the swap can happen.
            os.rename(link, deliveries / f"{as_of}-aldre-{token}")
        os.symlink(target, tmp_link)
        os.replace(tmp_link, link)
        _fsync_dir(outbox)
    except BaseException:
        # Not published: remove the renamed staging too, so no unpublished lists remain.
        if not (link.is_symlink() and Path(os.readlink(link)) == target):
            shutil.rmtree(final, ignore_errors=True)
            tmp_link.unlink(missing_ok=True)
        raise
    for old in deliveries.glob(f"{as_of}-*"):
        if old.name != final.name:
            shutil.rmtree(old, ignore_errors=True)


def read_manifest(outbox: Path | str, as_of: date | str) -> dict:
    as_of_s = pd.Timestamp(as_of).date().isoformat()
    return json.loads((Path(outbox) / as_of_s / MANIFEST).read_text(encoding="utf-8"))


def purge(outbox: Path | str, as_of: date | str, retention_days: int) -> list[str]:
    """Remove deliveries (and leftovers of killed runs) older than the retention period.

    A delivery dated exactly `retention_days` before `as_of` is kept. Returns the dates
    whose published delivery was removed.
    """
    outbox = Path(outbox)
    if not outbox.exists():
        return []
    cutoff = pd.Timestamp(as_of).date() - pd.Timedelta(days=retention_days)
    removed = []
    for entry in sorted(outbox.iterdir()):
        day = _entry_date(entry.name)
        if day is not None and day < cutoff:
            if entry.is_symlink():
                target = entry.resolve()
                entry.unlink()
                shutil.rmtree(target, ignore_errors=True)
            else:
                shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    for hidden in (STAGING, DELIVERIES):
        for entry in sorted((outbox / hidden).glob("*")):
            day = _entry_date(entry.name)
            if day is not None and day < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
    return removed


def list_kind(relpath: str) -> str | None:
    """The list kind of a delivered file ("forseglade" for a sealed list); None for what
    carries no personal data (the manifest, the board's tables)."""
    from skyddsnat.contract import BOARD_TABLES, LISTS

    name = PurePosixPath(relpath).name
    if name.endswith(SEALED_SUFFIX):
        return "forseglade"
    stem = name.split(".", 1)[0]
    if stem in BOARD_TABLES:
        return None
    return next((k for k in LISTS if stem == k or stem.startswith(k + "_")), None)


def purge_lists(outbox: Path | str, as_of: date | str, days_of) -> dict[str, int]:
    """Remove each person list older than its kind's retention (`days_of(kind)` days) from
    the published deliveries; the manifest moves it to `gallrade` with the purge date.

    A list dated exactly its retention before `as_of` is kept. Returns {date: files}."""
    outbox = Path(outbox)
    as_of_d = pd.Timestamp(as_of).date()
    removed: dict[str, int] = {}
    if not outbox.is_dir():
        return removed
    for entry in sorted(outbox.iterdir()):
        day = _entry_date(entry.name)
        if day is None or entry.name.startswith(".") or not (entry / MANIFEST).exists():
            continue
        root = entry.resolve()
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        gone = [f for f in manifest["files"] if (kind := list_kind(f["path"])) is not None
                and day < as_of_d - pd.Timedelta(days=days_of(kind))]
        if not gone:
            continue
        for f in gone:
            (root / f["path"]).unlink(missing_ok=True)
        manifest["files"] = [f for f in manifest["files"] if f not in gone]
        manifest.setdefault("gallrade", []).extend(
            {"path": f["path"], "gallrad": as_of_d.isoformat()} for f in gone)
        tmp = root / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, root / MANIFEST)
        for d in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
        removed[entry.name] = len(gone)
    return removed


def purge_outbox(outbox: Path | str, as_of: date | str, gallring, audit: AuditLog) -> dict:
    """The night's outbox retention: person lists per kind, whole deliveries after
    `utkorg_dagar`; one audit entry naming what went (dates and counts, no content)."""
    lists = purge_lists(outbox, as_of, gallring.list_days)
    deliveries = purge(outbox, as_of, gallring.utkorg_dagar)
    details = {"as_of": pd.Timestamp(as_of).date().isoformat(), "leveranser": deliveries,
               "listor": lists}
    if deliveries or lists:
        audit.append("utkorg_gallring", details, _key("utkorg_gallring", details))
    return details


def record_delivery(audit: AuditLog, as_of: date | str, manifest: dict,
                    reidentifications: list[dict]) -> list[dict]:
    """Append one "aterfidentifiering" entry per list and one "leverans" entry.

    Each `reidentifications` item: list, role, count, policy_version, and optionally file
    (the list's path in the delivery, whose content fingerprint then joins the key). Keys
    are hashes of the content, so a re-run of the same date with the same content adds
    nothing, and a re-run with other content adds new entries. Returns the entries added.
    """
    as_of_s = pd.Timestamp(as_of).date().isoformat()
    by_path = {f["path"]: f for f in manifest["files"]}
    # One read of the log for all checks, parsing only this date's entries (every key
    # hashes its date, and its details name it).
    seen = audit.keys(containing=as_of_s)
    new: list[tuple[str, dict, str]] = []

    def add(event: str, details: dict, key: str) -> None:
        if (event, key) not in seen:
            seen.add((event, key))
            new.append((event, details, key))

    for item in reidentifications:
        details = {"as_of": as_of_s, "list": item["list"], "role": item["role"],
                   "count": int(item["count"]), "policy_version": item["policy_version"]}
        file = by_path.get(item.get("file", ""), {})
        add("aterfidentifiering", details,
            _key("aterfidentifiering", {**details, "fingerprint": file.get("fingerprint")}))
    general = [f for f in manifest["files"] if not f["sealed"]]
    content = {"as_of": as_of_s, "policy_version": manifest["policy_version"],
               "files": [(f["path"], f.get("rows"), f.get("fingerprint", f["sha256"]))
                         for f in general],
               "sealed": sorted(f["path"] for f in manifest["files"] if f["sealed"])}
    add("leverans", {"as_of": as_of_s, "policy_version": manifest["policy_version"],
                     "files": len(manifest["files"]),
                     "general_rows": sum(int(f.get("rows") or 0) for f in general),
                     "sealed_files": len(content["sealed"])}, _key("leverans", content))
    return audit.append_many(new)


def _key(event: str, content: dict) -> str:
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{event}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _entry_date(name: str) -> date | None:
    m = _DATE.match(name)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None



def _fsync_tree(root: Path) -> None:
    """Make every file and directory of the staged delivery durable before it is published.

    Hundreds of files synced one after another cost seconds (each fsync waits for its own
    journal commit); synced from a few threads at once, the commits are shared.
    """
    entries = list(root.rglob("*"))
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(_fsync_file, [p for p in entries if p.is_file()]))
        list(pool.map(_fsync_dir, [p for p in entries if p.is_dir()]))
    _fsync_dir(root)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
