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
import great_expectations.expectations.expectation as gx_expectation  # noqa: E402
from great_expectations.execution_engine import (  # noqa: E402
    PandasExecutionEngine,
    pandas_execution_engine,
)
from great_expectations.expectations.expectation import ColumnMapExpectation  # noqa: E402
from great_expectations.expectations.metrics import (  # noqa: E402
    ColumnMapMetricProvider,
    column_condition_partial,
)
from great_expectations.validator.v1_validator import Validator  # noqa: E402

from schemas.checks import fullmatch  # noqa: E402
from schemas.sources import KIND_PATTERNS, PSEUDONYM  # noqa: E402
from skyddsnat.ingest.catalog import SourceEntry, entry  # noqa: E402
from skyddsnat.policy import Policy  # noqa: E402

RESULT_FORMAT = "BOOLEAN_ONLY"
# GX fingerprints every batch below this many bytes (an MD5 over a hash of every value) for
# the batch markers of a result we never read: a fifth of what GX cost on a day of
# attendance, and a digest of the values we would rather it did not make. None is.
pandas_execution_engine.HASH_THRESHOLD = 0
# An expectation's configuration names its type by two regex substitutions on its class name,
# and GX asks for the configuration ~80 times per expectation and table: the name, a pure
# function of the class name, is worked out once per class.
gx_expectation.camel_to_snake = lru_cache(maxsize=256)(gx_expectation.camel_to_snake)


class ColumnValuesFullMatch(ColumnMapMetricProvider):
    """Whole-value match in Arrow (RE2): GX's own regex metric makes one Python `re` call
    per value, which was most of what GX cost on a day of attendance (schemas/checks.py)."""

    condition_metric_name = "column_values.skyddsnat_full_match"
    condition_value_keys = ("pattern",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, pattern, **kwargs):
        return pd.Series(fullmatch(column, pattern), index=column.index)


class ExpectColumnValuesToMatchPattern(ColumnMapExpectation):
    """Every non-null value matches `pattern` whole (RE2 syntax, as pandera's check)."""

    pattern: str
    map_metric = "column_values.skyddsnat_full_match"
    success_keys = ("pattern", "mostly")
    args_keys = ("column", "pattern")


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
            out.append(ExpectColumnValuesToMatchPattern(column=name, pattern=PSEUDONYM))
        elif c.kind in KIND_PATTERNS:
            out.append(ExpectColumnValuesToMatchPattern(column=name,
                                                        pattern=KIND_PATTERNS[c.kind]))
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


# Expectations whose verdict on tables put together is each table's own whenever it passes:
# a row meets a row-by-row rule wherever it stands, and a value unique in the whole is
# unique in each part. (Every rule here must hold for every row: none sets `mostly`.)
EVERY_ROW = (gxe.ExpectColumnValuesToNotBeNull, ExpectColumnValuesToMatchPattern,
             gxe.ExpectColumnValuesToBeInSet, gxe.ExpectColumnValuesToBeBetween,
             gxe.ExpectColumnValuesToBeUnique, gxe.ExpectCompoundColumnsToBeUnique)


def decomposes(policy: Policy, source: str) -> bool:
    """Whether a source's suite, passed by tables put together that each have rows, is passed
    by each of them: every expectation is one of `EVERY_ROW` for every row, or the table's
    size with no upper bound and a lower one of at most one row."""
    for exp in _suite(policy, source, ALL).expectations:
        if isinstance(exp, gxe.ExpectTableRowCountToBeBetween):
            if exp.max_value is not None or (exp.min_value or 0) > 1:
                return False
        elif not (isinstance(exp, EVERY_ROW) and getattr(exp, "mostly", 1) == 1):
            return False
    return True


_SUITES: dict[tuple[SourceEntry, str], gx.ExpectationSuite] = {}


def _suite(policy: Policy, source: str, part: str) -> gx.ExpectationSuite:
    """A source's suite, built once per catalogue entry and part (a backfill validates
    182 day files against the same one)."""
    key = (entry(policy, source), part)
    if key not in _SUITES:
        _SUITES[key] = build_suite(policy, source, part)
    return _SUITES[key]


def _batch_definition(source: str):
    _ctx, ds = _context()
    try:
        asset = ds.get_asset(source)
    except LookupError:
        asset = ds.add_dataframe_asset(name=source)
    try:
        return asset.get_batch_definition("hela")
    except (LookupError, KeyError):
        return asset.add_batch_definition_whole_dataframe("hela")


def validate(policy: Policy, source: str, frame: pd.DataFrame, part: str = ALL
             ) -> dict[str, object]:
    """Validate a pseudonymous table (or one `part` of its suite); returns only counts and the
    failing expectation types.

    GX's validator is built on the batch definition and the frame directly, as
    `Batch.validate` does inside: getting a `Batch` first would load (and fingerprint,
    hashing every value) the frame twice."""
    suite = _suite(policy, source, part)
    if not suite.expectations:
        return {"success": True, "evaluated": 0, "successful": 0, "failed_expectations": []}
    validator = Validator(batch_definition=_batch_definition(source),
                          batch_parameters={"dataframe": _numpy_ints(frame)},
                          result_format=RESULT_FORMAT)
    result = validator.validate_expectation_suite(suite)
    failed = sorted({r.expectation_config.type for r in result.results if not r.success})
    stats = result.statistics
    return {"success": bool(result.success),
            "evaluated": int(stats["evaluated_expectations"]),
            "successful": int(stats["successful_expectations"]),
            "failed_expectations": failed}
