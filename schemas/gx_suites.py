"""Great Expectations (GX Core 1.x) suites for the pseudonymous tables, one per source.

Called directly from Dagster asset checks (dagster-ge is built on the removed GX 0.x API).
Validation uses result_format BOOLEAN_ONLY, so results carry no unexpected values — only
which expectation passed — and the context is ephemeral: nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402

from schemas.sources import KIND_PATTERNS, PSEUDONYM  # noqa: E402
from skyddsnat.ingest.catalog import SourceEntry, entry  # noqa: E402
from skyddsnat.policy import Policy  # noqa: E402

RESULT_FORMAT = "BOOLEAN_ONLY"


def expectations(source: SourceEntry) -> list:
    """The suite of a source's stored table, derived from its catalogue entry: a table that
    must never be empty, not-null for required columns, the pseudonym and code patterns,
    code lists, bounds, and the key unique — counts and names only ever leave GX."""
    out: list = []
    if source.never_empty:
        out.append(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    for col in source.stored:
        c, name = col.column, col.name
        if not col.nullable:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if col.pseudonym:
            out.append(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=f"^{PSEUDONYM}$"))
        elif c.kind in KIND_PATTERNS:
            out.append(gxe.ExpectColumnValuesToMatchRegex(
                column=name, regex=f"^(?:{KIND_PATTERNS[c.kind]})$"))
        elif c.codes:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=list(c.codes)))
        elif c.kind == "int" and (c.min_value is not None or c.max_value is not None):
            out.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=c.min_value,
                                                         max_value=c.max_value))
    key = [k for k in source.stored_key if k in source.stored_names]
    if len(key) == 1:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=key[0]))
    elif key:
        out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=key))
    return out


@lru_cache(maxsize=1)
def _context():
    ctx = gx.get_context(mode="ephemeral")
    with contextlib.suppress(Exception):  # cosmetic setting, absent in some versions
        ctx.variables.progress_bars = {"globally": False}
    return ctx, ctx.data_sources.add_pandas("skyddsnat")


# Expectations about the table as a whole (its size, its key unique); every other
# expectation holds row by row, so rows validated once need not be validated again.
TABLE_WIDE = (gxe.ExpectTableRowCountToBeBetween, gxe.ExpectColumnValuesToBeUnique,
              gxe.ExpectCompoundColumnsToBeUnique)
ALL, ROWS, TABLE = "alla", "rader", "tabell"


def build_suite(policy: Policy, source: str, part: str = ALL) -> gx.ExpectationSuite:
    _context()  # GX builds suites only inside an active (ephemeral) context
    suite = gx.ExpectationSuite(name=f"skyddsnat_{source}_{part}")
    for exp in expectations(entry(policy, source)):
        if part == ALL or (part == TABLE) == isinstance(exp, TABLE_WIDE):
            suite.add_expectation(exp)
    return suite


def _numpy_ints(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable Int64 columns as numpy int64 (float64 where a value is missing).

    GX compares an extension-typed column value by value in Python, a numpy one vectorised;
    the values, and which of them GX counts as missing, are the same either way."""
    ints = [c for c, t in frame.dtypes.items() if isinstance(t, pd.Int64Dtype)]
    if not ints:
        return frame
    return frame.assign(**{c: frame[c].astype("float64" if frame[c].hasnans else "int64")
                           for c in ints})


def validate(policy: Policy, source: str, frame: pd.DataFrame, part: str = ALL
             ) -> dict[str, object]:
    """Validate a pseudonymous table (or one `part` of its suite); returns only counts and the
    failing expectation types."""
    _ctx, ds = _context()
    try:
        asset = ds.get_asset(source)
    except LookupError:
        asset = ds.add_dataframe_asset(name=source)
    try:
        bd = asset.get_batch_definition("hela")
    except (LookupError, KeyError):
        bd = asset.add_batch_definition_whole_dataframe("hela")
    suite = build_suite(policy, source, part)
    if not suite.expectations:
        return {"success": True, "evaluated": 0, "successful": 0, "failed_expectations": []}
    batch = bd.get_batch(batch_parameters={"dataframe": _numpy_ints(frame)})
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    failed = sorted({r.expectation_config.type for r in result.results if not r.success})
    stats = result.statistics
    return {"success": bool(result.success),
            "evaluated": int(stats["evaluated_expectations"]),
            "successful": int(stats["successful_expectations"]),
            "failed_expectations": failed}


def table_columns(policy: Policy, source: str) -> list[str]:
    """The columns the table-wide expectations read (the key; one column at least)."""
    e = entry(policy, source)
    key = [k for k in e.stored_key if k in e.stored_names]
    return key or list(e.stored_names[:1])
