"""The one ingest entry point: a source's files in, its table, tallies and checks out.

`ingest_source` does for a snapshot or period source everything between the inbox and the
stored table: the file and row caches (caches.py), the plaintext memo shared by the
night's files (memo.py), staging the identities encrypted for the vault, archiving each
processed file and its quarantine sealed, and the per-file accounting with pandera and GX
results (validation.py). `ingest_days` does the same for the attendance day files, one
partition per day. Both return plain data; the source assets only turn it into Dagster
outputs and check results.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from schemas.sources import empty
from skyddsnat.ingest import caches
from skyddsnat.ingest.catalog import SourceEntry, entry
from skyddsnat.ingest.day_files import DayFiles
from skyddsnat.ingest.errors import IngestRefused
from skyddsnat.ingest.freshness import Finding, day_volume_finding, stored_days
from skyddsnat.ingest.inbox import files_for, newest_snapshot
from skyddsnat.ingest.inbox_cleanup import removed, removed_dates
from skyddsnat.ingest.income_year import refuse_future_income_files
from skyddsnat.ingest.memo import PnrMemo
from skyddsnat.ingest.source_table import IngestResult, ingest_file
from skyddsnat.ingest.validation import Tally, passed, validation, validations
from skyddsnat.layout import DataDir
from skyddsnat.parallel import helper_count, mapped
from skyddsnat.policy import Policy
from skyddsnat.privacy.archive import archive_file, archive_quarantine, custodian_key
from skyddsnat.privacy.identity_store import stage_identities
from skyddsnat.privacy.storage import file_sha256, write_pseudonymous

ACCOUNT = "konto.json"  # what a source's stored table was made from, and its row counts
ACCOUNT_FORMAT = 2
# Processes that ingest, this one included (1: no helper); by default one per core.
WORKERS_ENV = "SKYDDSNAT_INGEST_WORKERS"
PER_WORKER = 4  # invoice or grade files (~100 k rows each) a worker must have
PER_WORKER_DAYS = 10  # day files a worker must have to be worth its start-up
# Per worker process and source: the same pupils every day, the same households month
# after month. One memo per source, not one for all: a lookup probes every number the
# memo holds (value_memo.py), so a day file read after a year of invoices would pay for
# their 600 k households as well as its own 130 k pupils.
_MEMOS: dict[str, PnrMemo] = {}


@dataclass
class IngestOutcome:
    """A source's night: its files' results, the table to store and the accounting.

    `table` is None when the stored table is kept (`kept`): it is exactly the one these
    files gave last time, `stored` its SHA-256, and it is neither read nor written again."""

    source: str
    table: pd.DataFrame | None
    tally: Tally
    results: list[IngestResult] = field(default_factory=list)
    rests_on: str | None = None  # a processed file removed from the inbox, its table kept
    stored: str | None = None  # SHA-256 of the stored table file (after `store_table`)
    columns: int = 0
    vault: str | None = None  # the vault version found to hold everyone the table names

    @property
    def kept(self) -> bool:
        return self.table is None


def _concat(policy: Policy, source: str, results: list[IngestResult]) -> pd.DataFrame:
    frames = [r.table for r in results]
    return pd.concat(frames, ignore_index=True) if frames else empty(policy, source)


def source_files(inbox: Path, source: SourceEntry, as_of: date) -> list[Path]:
    """A snapshot's newest file on or before the reference date, or every period file."""
    if source.name == "inkomster":
        refuse_future_income_files(inbox, source, as_of)
    if source.snapshot:
        newest = newest_snapshot(inbox, source, as_of)
        return [newest] if newest else []
    return [p for _, p in files_for(inbox, source, as_of)]


def ingest_checked(path: Path, source: str, policy, pseudonym_key: bytes,
                   reference: date, horizon: bool = False) -> IngestResult:
    """One file ingested and validated; in a worker process during a backfill."""
    result = _ingest(path, source, policy, pseudonym_key, reference, horizon)
    result.checked = validation(policy, source, result.table,
                                pandera_failures=result.pandera_failures)
    return result


def _ingest(path: Path, source: str, policy, pseudonym_key: bytes, reference: date,
            horizon: bool = False) -> IngestResult:
    """One file ingested with this process's memo of the source's personnummer."""
    return ingest_file(path, source, policy, pseudonym_key, reference,
                       memo=_MEMOS.setdefault(source, PnrMemo()), horizon=horizon)


def _account(store: DataDir, source: str) -> Path:
    return store.warehouse / caches.CACHE_DIR / source / ACCOUNT


def resting(source: str, policy: Policy, store: DataDir, reference: date) -> IngestOutcome | None:
    """The night's snapshot was processed, archived and removed (inbox_cleanup.py): the
    source rests on the table stored from it, with that file's accounting."""
    gone = removed(store, source, reference)
    account = _account(store, source)
    if not (gone and store.table(source).exists() and account.exists()):
        return None
    kept = json.loads(account.read_text(encoding="utf-8"))
    if kept["file"] != gone[-1]:
        return None
    tally = Tally(source, policy, [kept["file"]], kept["read"], kept["accepted"],
                  kept["quarantined"], kept["accepted"], Counter(kept["reasons"]))
    digest = file_sha256(store.table(source))
    if kept.get("table") == digest:  # the table this account was kept for: not read again
        return IngestOutcome(source, None, tally, rests_on=gone[-1], stored=digest,
                             columns=kept["kolumner"])
    return IngestOutcome(source, pd.read_parquet(store.table(source)), tally,
                         rests_on=gone[-1])


def store_table(store: DataDir, outcome: IngestOutcome) -> str:
    """Write the night's table where the warehouse keeps it (unless kept); its SHA-256 is
    the source's data version and what the account vouches for."""
    if not outcome.kept:
        write_pseudonymous(outcome.table, store.table(outcome.source), outcome.source)
        outcome.stored, outcome.columns = (file_sha256(store.table(outcome.source)),
                                           len(outcome.table.columns))
    return outcome.stored


def _file_record(r: IngestResult) -> dict[str, object]:
    return {"file": r.file, "key": r.cache_key, "encoding": r.encoding,
            "rows_read": r.rows_read, "accepted": r.accepted,
            "quarantined_by_reason": r.quarantined_by_reason, "checked": r.checked,
            "las_dag": r.read_on.isoformat() if r.read_on else None,
            "lasning_till": r.stable_until.isoformat() if r.stable_until else None}


def keep_account(store: DataDir, outcome: IngestOutcome) -> None:
    """What the stored table was made from: each file's content key, the nights its
    reading holds for, its counts and checks, and the table's SHA-256. A night resting on
    the snapshot after it left the inbox accounts for it from here, and a night given the
    same files again keeps the table (`kept`). Called once the table is stored."""
    tally = outcome.tally
    if outcome.rests_on or not outcome.results or outcome.stored is None:
        return
    account = _account(store, outcome.source)
    account.parent.mkdir(parents=True, exist_ok=True)
    tmp = account.with_suffix(".tmp")
    tmp.write_text(json.dumps({
        "file": tally.files[-1], "read": tally.read, "accepted": tally.accepted,
        "quarantined": tally.quarantined, "reasons": dict(tally.reasons),
        "format": ACCOUNT_FORMAT,
        "table": outcome.stored, "kolumner": outcome.columns, "valv": outcome.vault,
        "files": [_file_record(r) for r in outcome.results]}), encoding="utf-8")
    tmp.replace(account)


def _holds_on(record: dict, reference: date) -> bool:
    until = record["lasning_till"]
    return (record["las_dag"] is not None and date.fromisoformat(record["las_dag"]) <= reference
            and (until is None or reference < date.fromisoformat(until)))


def _kept_result(source: str, record: dict, name: str) -> IngestResult:
    """A file's counts as the account recorded them, under tonight's name."""
    checked = {**record["checked"], "validated_rows": 0, "reused_rows": record["accepted"]}
    return IngestResult(source, name, record["encoding"], pd.DataFrame(), pd.DataFrame(),
                        pd.DataFrame(), record["rows_read"], record["quarantined_by_reason"],
                        checked, cache_key=record["key"], kept_rows=record["accepted"],
                        read_on=date.fromisoformat(record["las_dag"]),
                        stable_until=(date.fromisoformat(record["lasning_till"])
                                      if record["lasning_till"] else None))


def kept(names: list[str], keys_of: dict[str, str], source: str, keys, policy: Policy,
         store: DataDir, reference: date) -> IngestOutcome | None:
    """The stored table, when tonight's files are exactly those it was made from (by
    content key: the same content, policy, schema and pseudonym key), every number and date in
    them reads tonight as it did then (`lasning_till`: personnummer.reading_changes and
    refused future dates), their checks passed, the table file is the one stored then and,
    for a snapshot, the vault still holds everyone it names. Nothing is parsed, staged,
    validated or written; each file is accounted for with the counts it had.

    `names`: tonight's files in the source's order; `keys_of`: their content keys (a
    snapshot's file is matched by content alone: it is re-delivered under a new date)."""
    account = _account(store, source)
    table = store.table(source)
    if not (account.exists() and table.exists()):
        return None
    try:
        kept_for = json.loads(account.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if kept_for.get("format") != ACCOUNT_FORMAT:
        return None
    spec = entry(policy, source)
    records = kept_for["files"]
    if spec.snapshot:
        if len(names) != 1 or len(records) != 1 or keys_of.get(names[0]) != records[0]["key"]:
            return None
        by_name = {names[0]: records[0]}
    else:
        by_name = {r["file"]: r for r in records}
        if (len(by_name) != len(names) or set(by_name) != set(names)
                or any(keys_of.get(n) != by_name[n]["key"] for n in names)):
            return None
    if not all(_holds_on(r, reference) and passed(r["checked"]) for r in records):
        return None
    digest = file_sha256(table)
    if digest != kept_for["table"]:
        return None
    vault = None
    if spec.snapshot:
        vault = caches.vault_holds_all(table, spec.pnr_columns, store.vault,
                                       kept_for.get("valv"))
        if vault is None:
            return None
    results = [_kept_result(source, by_name[n], n) for n in names]
    tally = Tally.of(source, policy, results, pd.DataFrame(), kept_for["accepted"])
    return IngestOutcome(source, None, tally, results, stored=digest,
                         columns=kept_for["kolumner"], vault=vault)


def ingest_source(files: list[Path], source: str, keys, policy: Policy, store: DataDir,
                  reference: date) -> IngestOutcome:
    """Ingest a snapshot's or period source's files for the night at `reference`.

    A snapshot (one file) is ingested row-incrementally against last night's rows: only
    rows new since then are parsed and staged (row_cache.py). Period files, which rarely
    change once written, are ingested once per content and policy (caches.py); a period
    file removed from the inbox after an earlier night is still part of the source.
    Identities are staged encrypted for the vault; every processed file and its quarantine
    are archived sealed; caches are written only after both.
    """
    spec = entry(policy, source)
    cache, rows = not spec.snapshot, spec.snapshot
    cache_dir = store.warehouse / caches.CACHE_DIR / source
    keys_of = {p.name: caches.file_key(p, keys, policy, source) for p in files}
    # A period file removed from the inbox after an earlier night (inbox_cleanup.py) is
    # still part of the source: its ingested table is kept in the cache, found by name.
    gone = ([n for n in removed(store, source, reference) if n not in keys_of] if cache
            else [])
    dated = ({**removed_dates(store, source),
              **{p.name: d for d, p in files_for(store.inbox, spec)}} if gone else {})
    names = sorted([*keys_of, *gone], key=lambda n: (dated.get(n, date.min), n)) if gone \
        else list(keys_of)
    schema = caches.schema_digest(policy, source)
    found = kept(names, {**keys_of, **{n: caches.kept_key(cache_dir, n, schema, reference)
                                       for n in gone}},
                 source, keys, policy, store, reference)
    if found is not None:
        custodian = custodian_key(keys, policy)
        for path in files if spec.snapshot else []:
            # Processed tonight under its own name: archived sealed, so the inbox cleanup
            # and a restore of tonight find it. Its quarantine, the same rows as when it
            # was first read, was sealed that night.
            archive_file(custodian, store.archive, reference, path)
        return found
    memo = PnrMemo()
    rows_key = caches.rows_key(keys, policy, source) if rows else None
    results: list[IngestResult | None] = []
    unchanged = False  # a snapshot whose accepted table is last night's
    todo: list[tuple[int, Path, str]] = []
    for path in files:
        key = keys_of[path.name]
        results.append(caches.cached(cache_dir, path, key, source, reference) if cache
                       else None)
        if results[-1] is None:
            todo.append((len(results) - 1, path, key))
    if cache and (helpers := helper_count(len(todo), PER_WORKER, WORKERS_ENV)):
        # Many new files of a cached source (a first night): ingested in worker processes.
        jobs = [(p, source, policy, keys.pseudonym_keys, reference, True) for _, p, _ in todo]
        with mapped(ingest_checked, jobs, helpers) as done:
            for (i, _, _), result in zip(todo, done, strict=True):
                results[i] = result
    else:
        for i, path, _ in todo:
            known = (caches.load_rows(cache_dir, rows_key, keys, store.vault, source, policy,
                                      reference) if rows_key else None)
            results[i] = ingest_file(path, source, policy, keys.pseudonym_keys, reference,
                                     known, memo, horizon=True)
            if known is not None:  # the same table as last night: validated then
                results[i].checked = known.validated_as(results[i].row_cache)
                unchanged = results[i].checked is not None
    for i, _, key in todo:
        results[i].cache_key = key
    fresh = [(path, results[i]) for i, path, _ in todo]
    if cache and gone:
        results += [caches.cached_removed(cache_dir, name, source, schema, reference)
                    for name in gone]
        results.sort(key=lambda r: (dated.get(r.file, date.min), r.file))
    if cache:
        caches.forget_others(cache_dir, {p.name for p in files} | set(gone))
    idents = [r.identities for r in results if not r.identities.empty]
    if idents:
        merged = pd.concat(idents, ignore_index=True).drop_duplicates("person_id")
        stage_identities(keys, store.vault, source, merged)
    for _, r in fresh:
        r.checked = r.checked or validation(policy, source, r.table, r.reused,
                                            r.pandera_failures)
    # Sealed into the archive before anything is remembered: a cached file is never read
    # again, so a run killed between the two would leave it neither sealed nor read, and
    # the inbox cleanup (which removes only archived files) would keep its plaintext.
    custodian = custodian_key(keys, policy)
    for path, r in fresh:
        _archive(custodian, store, reference, path, r.file, r.quarantine)
    # Caches are written after staging: a cached file or row stages no identity again, so
    # it may only be remembered once its identities are safely staged.
    if cache:
        for i, path, key in todo:
            caches.store(cache_dir, path, key, results[i], schema)
    if rows_key is not None and not unchanged:
        for _, r in fresh:
            # A reused row is not validated again: only rows that passed are remembered.
            if r.row_cache is not None and passed(r.checked):
                caches.store_rows(cache_dir, rows_key, reference, r)
    table = _concat(policy, source, results)
    return IngestOutcome(source, table, Tally.of(source, policy, results, table, len(table)),
                         results)


DAYS_PER_JOB = 4  # day files GX validates together (one call's fixed cost shared by four)


def ingest_day_group(group: list[tuple[Path, date, Path]], policy: Policy,
                     pseudonym_key: bytes, reference: date) -> list[tuple[IngestResult, int]]:
    """Ingest, check and store a few consecutive day files (`path, day, target` each); in a
    worker process during a backfill.

    Each day is read, checked and stored on its own, as one file; only GX runs once over
    the group where that gives each day its own result (`validation.validations`). Returns
    each day's result with its validation and quarantined rows (for the encrypted archive);
    the caller drops each day's rows as soon as they are counted.
    """
    results = []
    for path, day, _ in group:
        result = _ingest(path, "narvaro", policy, pseudonym_key, reference)
        if not (result.table["datum"] == pd.Timestamp(day)).all():
            # Rows dated another day than the file: quarantining here would hide them from
            # the accounting, so the whole file is refused instead.
            raise IngestRefused(result.file, ": rader med annat datum än filens")
        results.append(result)
    checks = validations(policy, "narvaro", [r.table for r in results],
                         [r.pandera_failures for r in results])
    out = []
    for (_, _, target), result, checked in zip(group, results, checks, strict=True):
        result.checked = checked
        write_pseudonymous(result.table, target, "narvaro")
        result.identities = result.identities.iloc[0:0]  # the elevregister has the pupils
        out.append((result, len(result.table)))
    return out


def _archive(custodian, store: DataDir, reference: date, path: Path, file: str,
             quarantine: pd.DataFrame) -> None:
    """A processed file and its quarantine, sealed into the night's archive."""
    archive_file(custodian, store.archive, reference, path)
    archive_quarantine(custodian, store.archive, reference, file, quarantine)


@dataclass
class DaysOutcome:
    """The attendance days of a run: the whole tally, each day's metadata, the findings."""

    tally: Tally
    per_day: dict[str, dict[str, object]]  # partition key -> that day's metadata
    findings: list[Finding]
    read: int  # day files read


def _stored_rows_before(store: DataDir, source: str, day: date, n: int = 20) -> list[int]:
    """Row counts of the last stored days before `day` (from the Parquet footers)."""
    before = [d for d in stored_days(store, source, day) if d < day][-n:]
    return [pq.read_metadata(store.partition(source, d.isoformat())).num_rows for d in before]


def ingest_days(days: list[date], present: list[tuple[date, Path]], keys, policy: Policy,
                store: DataDir, reference: date,
                log: Callable[[str], None] = lambda _: None) -> DaysOutcome:
    """Ingest each present day file into its partition, one day at a time per process (a
    backfill holds a day's rows in memory, never the year); archive it and its quarantine;
    account for every day asked for, each partition counting its own day file only."""
    source = "narvaro"
    custodian = custodian_key(keys, policy)
    rule = policy.kallor.kallor[source]
    days_of = [(p, d, store.partition(source, d.isoformat())) for d, p in present]
    jobs = [(days_of[i:i + DAYS_PER_JOB], policy, keys.pseudonym_keys, reference)
            for i in range(0, len(days_of), DAYS_PER_JOB)]
    tally = Tally(source, policy)
    per_day: dict[str, dict[str, object]] = {}
    findings: list[Finding] = []
    ledger = DayFiles(store.state)
    stopped: list[date] = []
    helpers = helper_count(len(days_of), PER_WORKER_DAYS, WORKERS_ENV)
    if helpers:
        log(f"{len(days_of)} dagfiler läses i {helpers + 1} processer")
    sealing: list[Future] = []
    # Each day file and its quarantine are sealed into the archive beside the ingest, in one
    # thread (its writes and fsyncs, and its sealing while this process waits for a helper);
    # a failure stops the days as soon as it is seen, and all are sealed before the return.
    with ThreadPoolExecutor(1, thread_name_prefix="arkiv") as archiver, \
            mapped(ingest_day_group, jobs, helpers) as done:
        for (path, day, _), (result, stored) in zip(
                days_of, (one for group in done for one in group), strict=True):
            sealing.append(archiver.submit(_archive, custodian, store, reference, path,
                                           result.file, result.quarantine))
            for sealed in [f for f in sealing if f.done()]:
                sealed.result()  # raises a failed archive's error here
                sealing.remove(sealed)
            tally.add(result, stored)
            one = Tally(source, policy)
            one.add(result, stored)
            per_day[day.isoformat()] = one.metadata(policy.version)
            ledger.note(day, path)
            volume = day_volume_finding(source, rule, result.file, stored,
                                        _stored_rows_before(store, source, day))
            if volume:
                findings.append(volume)
                if volume.stops:  # kept out of the warehouse: the day is read again
                    stopped.append(day)
            del result  # one day's rows at a time
    for sealed in sealing:
        sealed.result()
    for day in stopped:
        store.partition(source, day.isoformat()).unlink(missing_ok=True)
        ledger.forget(day)
    ledger.save()
    dated = removed_dates(store, source)
    gone = {dated[n]: n for n in removed(store, source, reference)}
    for d in sorted(set(days) - {d for d, _ in present}):
        meta = {**Tally(source, policy).metadata(policy.version), "filer": "-"}
        name, kept = gone.get(d), store.partition(source, d.isoformat())
        if name and kept.exists():  # read on an earlier run, then removed from the inbox
            meta.update({"vilar_pa": name, "rader_lagrade": pq.read_metadata(kept).num_rows})
        per_day[d.isoformat()] = meta
    return DaysOutcome(tally, per_day, findings, len(present))
