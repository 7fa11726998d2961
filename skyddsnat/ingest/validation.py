"""Pandera and GX results of the stored tables, and the row accounting, as plain counts.

Checks run per file, so a year of attendance is never validated, or held in memory, in one
piece; a check passes when every file's part passes. Nothing here names a value: only
counts and expectation names leave (the asset turns them into Dagster check results).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from schemas.sources import schema
from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.source_table import IngestResult
from skyddsnat.parallel import on_warm
from skyddsnat.policy import Policy

ROWS, PANDERA, GX = "rows", "pandera", "gx"  # the three blocking checks of a source


def _gx(policy: Policy, source: str, table: pd.DataFrame, part: str) -> dict:
    """GX on a table, imported only when there are rows to check: its whole suite, or only
    the row-by-row ("rows") or the table-wide ("table") expectations."""
    from schemas import gx_suites

    parts = {"rows": gx_suites.ROWS, "table": gx_suites.TABLE}
    return gx_suites.validate(policy, source, table, parts.get(part, gx_suites.ALL))


def gx_validate(policy: Policy, source: str, table: pd.DataFrame, part: str = "all") -> dict:
    """`_gx` in the run's warm helper, which imported GX beside the run's start
    (`parallel.on_warm`), for the first few tables of a run; here once GX is imported here
    or a run has many tables (a backfill's days: shipping each costs more than one import)."""
    if "schemas.gx_suites" in sys.modules or _SHIPPED["tables"] >= SHIP_AT_MOST:
        return _gx(policy, source, table, part)
    _SHIPPED["tables"] += 1
    return on_warm(_gx, (policy, source, table, part))


SHIP_AT_MOST = 4  # a night validates one attendance day (and a changed snapshot or two)
_SHIPPED = {"tables": 0}


def _key_columns(policy: Policy, source: str) -> list[str]:
    """The columns GX's table-wide expectations read (the key; one column at least)."""
    e = entry(policy, source)
    key = [k for k in e.stored_key if k in e.stored_names]
    return key or list(e.stored_names[:1])


def _pandera_failures(policy: Policy, source: str, table: pd.DataFrame) -> int:
    try:
        schema(policy, source).validate(table, lazy=True)
    except Exception as exc:  # noqa: BLE001 - SchemaErrors; only its size is reported
        return len(getattr(exc, "failure_cases", [])) or 1
    return 0


def validation(policy: Policy, source: str, table: pd.DataFrame,
               reused: np.ndarray | None = None, pandera_failures: int | None = None
               ) -> dict[str, object]:
    """Pandera and GX on one file's pseudonymous table: counts and expectation names only.

    With `reused` (a snapshot's rows taken from last night's row cache, validated when they
    were first accepted under the same policy and schema), the row-by-row rules run on the
    new rows only; the table-wide ones (size, unique key) on the whole table's key columns.
    `pandera_failures`, when ingest already knows it of the new rows
    (`IngestResult.pandera_failures`), is reported instead of running pandera on them again.
    """
    every = reused is None or not reused.any()
    new = table if every else table[~reused]
    if pandera_failures is None:
        pandera_failures = _pandera_failures(policy, source, new)
    if every:
        gx = gx_validate(policy, source, table)
        return {"pandera_failures": pandera_failures, **gx,
                "validated_rows": len(table), "reused_rows": 0}
    rows = gx_validate(policy, source, new, "rows")
    whole = gx_validate(policy, source, table[_key_columns(policy, source)], "table")
    return {"pandera_failures": pandera_failures,
            "success": rows["success"] and whole["success"],
            "evaluated": rows["evaluated"] + whole["evaluated"],
            "successful": rows["successful"] + whole["successful"],
            "failed_expectations": sorted({*rows["failed_expectations"],
                                           *whole["failed_expectations"]}),
            "validated_rows": len(new), "reused_rows": int(reused.sum())}


def validations(policy: Policy, source: str, tables: list[pd.DataFrame],
                pandera_failures: list[int]) -> list[dict[str, object]]:
    """`validation` of each of a few files' tables (a backfill's consecutive days), with GX
    run once over them all where that gives each file its own result: each table has rows
    and the same column types, and the suite decomposes (`gx_suites.decomposes`). GX's
    fixed cost, ~80 ms a call, was a third of what a day of attendance cost. A whole that
    fails is validated again file by file, so a failing file's result is its own."""
    if (len(tables) > 1 and all(len(t) for t in tables)
            and all(t.dtypes.equals(tables[0].dtypes) for t in tables) and _decomposes(
                policy, source)):
        whole = gx_validate(policy, source, pd.concat(tables, ignore_index=True))
        if whole["success"]:
            return [{"pandera_failures": (_pandera_failures(policy, source, table)
                                          if failures is None else failures),
                     **whole, "validated_rows": len(table), "reused_rows": 0}
                    for table, failures in zip(tables, pandera_failures, strict=True)]
    return [validation(policy, source, table, pandera_failures=failures)
            for table, failures in zip(tables, pandera_failures, strict=True)]


def _decomposes(policy: Policy, source: str) -> bool:
    from schemas import gx_suites

    return gx_suites.decomposes(policy, source)


def passed(checked: dict[str, object]) -> bool:
    return int(checked["pandera_failures"]) == 0 and bool(checked["success"])


@dataclass
class CheckOutcome:
    """One blocking check's verdict and its metadata (counts only)."""

    check: str  # ROWS, PANDERA or GX
    passed: bool
    metadata: dict[str, object]


@dataclass
class Tally:
    """Row accounting, pandera and GX results summed file by file — counts only."""

    source: str
    policy: Policy
    files: list[str] = field(default_factory=list)
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    stored: int = 0
    reasons: Counter = field(default_factory=Counter)
    pandera_failures: int = 0
    gx_ok: bool = True
    gx_evaluated: int = 0
    gx_successful: int = 0
    gx_failed: set[str] = field(default_factory=set)
    validated: int = 0  # rows pandera and GX checked row by row tonight
    reused: int = 0  # rows taken from last night's row cache, checked when first accepted
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, result: IngestResult, stored_rows: int) -> None:
        self.files.append(result.file)
        self.per_file[result.file] = {"lasta": result.rows_read, "godkanda": result.accepted,
                                      "karantan": result.quarantined}
        self.read += result.rows_read
        self.accepted += result.accepted
        self.quarantined += result.quarantined
        self.stored += stored_rows
        self.reasons.update(result.quarantined_by_reason)
        self.count(result.checked or validation(self.policy, self.source, result.table,
                                                pandera_failures=result.pandera_failures))

    def count(self, checked: dict) -> None:
        self.pandera_failures += int(checked["pandera_failures"])
        self.gx_ok &= bool(checked["success"])
        self.gx_evaluated += int(checked["evaluated"])
        self.gx_successful += int(checked["successful"])
        self.gx_failed.update(checked["failed_expectations"])
        # Results cached before these counts were kept validated every row.
        self.validated += int(checked.get("validated_rows", 0))
        self.reused += int(checked.get("reused_rows", 0))

    @classmethod
    def of(cls, source: str, policy: Policy, results: list[IngestResult], table: pd.DataFrame,
           stored_rows: int) -> Tally:
        tally = cls(source, policy)
        for r in results:
            tally.add(r, 0)
        tally.stored = stored_rows
        if not results:  # an absent optional source: its empty table is checked
            tally.count(validation(policy, source, table))
        return tally

    def metadata(self, policy_version: str) -> dict[str, object]:
        return {"filer": ", ".join(self.files) if len(self.files) <= 12 else
                f"{len(self.files)} filer: {self.files[0]} … {self.files[-1]}",
                "rader_lasta": self.read, "rader_godkanda": self.accepted,
                "rader_karantan": self.quarantined,
                **{f"karantan_{k}": v for k, v in sorted(self.reasons.items())},
                # A source of many files accounts for each file as well as the total.
                **({"rader_per_fil": self.per_file} if len(self.per_file) > 1 else {}),
                "policyversion": policy_version}

    def checks(self) -> list[CheckOutcome]:
        rows_ok = (self.read == self.accepted + self.quarantined
                   and self.accepted == self.stored)
        # Honest about what was checked tonight: new rows, and rows reused as validated.
        rows = {"rader_validerade": self.validated, "rader_ateranvanda": self.reused}
        return [
            CheckOutcome(ROWS, rows_ok, {"lasta": self.read, "godkanda": self.accepted,
                                         "karantan": self.quarantined}),
            CheckOutcome(PANDERA, self.pandera_failures == 0,
                         {"fel": self.pandera_failures, **rows}),
            CheckOutcome(GX, self.gx_ok, {"utvarderade": self.gx_evaluated,
                                          "lyckade": self.gx_successful,
                                          "misslyckade": ", ".join(sorted(self.gx_failed)) or "-",
                                          **rows}),
        ]
