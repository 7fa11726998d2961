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

from skyddsnat.contract import BESLUTSTYPER, BETYG, HUVUDMAN, SKOLFORMER, VERKSAMHETER  # noqa: E402

PSEUDONYM = r"^[0-9a-f]{32}$"
RESULT_FORMAT = "BOOLEAN_ONLY"


def _pseudonyms(*cols: str, nullable: bool = False) -> list:
    out = []
    for c in cols:
        if not nullable:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=c))
        out.append(gxe.ExpectColumnValuesToMatchRegex(column=c, regex=PSEUDONYM))
    return out


def _minutes(*cols: str) -> list:
    return [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1440) for c in cols]


SUITES: dict[str, list] = {
    "folkbokforing": [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_pseudonyms("person_id"),
        *_pseudonyms("vardnadshavare_1", "vardnadshavare_2", nullable=True),
        gxe.ExpectColumnValuesToBeUnique(column="person_id"),
        gxe.ExpectColumnValuesToMatchRegex(column="kommunkod", regex=r"^\d{4}$"),
        gxe.ExpectColumnValuesToNotBeNull(column="fodelsedatum"),
    ],
    "elevregister": [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_pseudonyms("person_id"),
        gxe.ExpectColumnValuesToMatchRegex(column="skolenhetskod", regex=r"^\d{8}$"),
        gxe.ExpectColumnValuesToBeInSet(column="skolform", value_set=list(SKOLFORMER)),
        gxe.ExpectColumnValuesToBeInSet(column="huvudman", value_set=list(HUVUDMAN)),
        gxe.ExpectColumnValuesToNotBeNull(column="startdatum"),
    ],
    "skolpliktsbeslut": [
        *_pseudonyms("person_id"),
        gxe.ExpectColumnValuesToBeInSet(column="beslutstyp", value_set=list(BESLUTSTYPER)),
        gxe.ExpectColumnValuesToNotBeNull(column="giltig_fran"),
    ],
    "narvaro": [
        *_pseudonyms("person_id"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["datum", "person_id", "skolenhetskod"]),
        *_minutes("schemalagd_min", "giltig_franvaro_min", "ogiltig_franvaro_min"),
    ],
    "avgifter": [
        *_pseudonyms("betalare", "barn"),
        *_pseudonyms("medbetalare", nullable=True),
        gxe.ExpectColumnValuesToBeInSet(column="verksamhet", value_set=list(VERKSAMHETER)),
        gxe.ExpectColumnValuesToMatchRegex(column="faktura_manad", regex=r"^\d{4}-\d{2}$"),
        gxe.ExpectColumnValuesToBeBetween(column="barn_ordning", min_value=1, max_value=20),
        gxe.ExpectColumnValuesToBeBetween(column="debiterad_avgift", min_value=0,
                                          max_value=100_000),
    ],
    "inkomster": [
        *_pseudonyms("person_id"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["inkomstar", "person_id"]),
        gxe.ExpectColumnValuesToBeBetween(column="faststalld_inkomst", min_value=0),
    ],
    "atgardsprogram": [
        *_pseudonyms("person_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="beslutsdatum"),
    ],
    "betyg": [
        *_pseudonyms("person_id"),
        gxe.ExpectColumnValuesToBeInSet(column="betyg", value_set=list(BETYG)),
        gxe.ExpectColumnValuesToMatchRegex(column="termin", regex=r"^(?:HT|VT)\d{4}$"),
    ],
    "franvaroarenden": [
        *_pseudonyms("person_id"),
        gxe.ExpectColumnValuesToBeBetween(column="steg", min_value=1, max_value=5),
    ],
}


@lru_cache(maxsize=1)
def _context():
    ctx = gx.get_context(mode="ephemeral")
    with contextlib.suppress(Exception):  # cosmetic setting, absent in some versions
        ctx.variables.progress_bars = {"globally": False}
    return ctx, ctx.data_sources.add_pandas("skyddsnat")


def build_suite(source: str) -> gx.ExpectationSuite:
    _context()  # GX builds suites only inside an active (ephemeral) context
    suite = gx.ExpectationSuite(name=f"skyddsnat_{source}")
    for exp in SUITES[source]:
        suite.add_expectation(exp.copy(deep=True))
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


def validate(source: str, frame: pd.DataFrame) -> dict[str, object]:
    """Validate a pseudonymous table; returns only counts and the failing expectation types."""
    _ctx, ds = _context()
    try:
        asset = ds.get_asset(source)
    except LookupError:
        asset = ds.add_dataframe_asset(name=source)
    try:
        bd = asset.get_batch_definition("hela")
    except (LookupError, KeyError):
        bd = asset.add_batch_definition_whole_dataframe("hela")
    batch = bd.get_batch(batch_parameters={"dataframe": _numpy_ints(frame)})
    result = batch.validate(build_suite(source), result_format=RESULT_FORMAT)
    failed = sorted({r.expectation_config.type for r in result.results if not r.success})
    stats = result.statistics
    return {"success": bool(result.success),
            "evaluated": int(stats["evaluated_expectations"]),
            "successful": int(stats["successful_expectations"]),
            "failed_expectations": failed}
