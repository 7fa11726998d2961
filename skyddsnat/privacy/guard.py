"""Last line of defence before anything is stored: tables must be pseudonymous.

Every stored table passes these checks (`pseudonymous_table`, through
`storage.write_pseudonymous`): no identity column, and no string value shaped like a
personnummer. They raise without echoing what they found.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skyddsnat.contract import IDENTITY_FIELDS

PNR_SHAPE = r"(?:19|20)?\d{6}[-+]?\d{4}"
# The same shape for RE2 (pyarrow), run over whole columns in C++: \p{Nd} is what Python's
# \d matches in a str pattern (any Unicode decimal digit).
_PNR_RE2 = r"^(?:19|20)?\p{Nd}{6}[-+]?\p{Nd}{4}$"


class PlaintextLeak(RuntimeError):
    """A table about to be stored holds identifiers in plaintext."""


def _leak(name: str, col: object) -> PlaintextLeak:
    return PlaintextLeak(f"{name}: kolumnen {col} innehåller något som liknar personnummer")


def _check_names(columns, name: str) -> None:
    bad_cols = [c for c in columns if str(c).lower() in IDENTITY_FIELDS]
    if bad_cols:
        raise PlaintextLeak(f"{name}: identitetskolumn får inte lagras ({', '.join(bad_cols)})")


def _shaped_like_pnr(values: pa.Array | pa.ChunkedArray) -> bool:
    # Only 10–13 characters can match: the length test passes over pseudonyms and free text
    # in one cheap kernel, so the regex runs on the few values that could be a number.
    n = pc.utf8_length(values)
    candidates = values.filter(pc.and_(pc.greater_equal(n, 10), pc.less_equal(n, 13)))
    return len(candidates) > 0 and bool(
        pc.any(pc.match_substring_regex(candidates, _PNR_RE2)).as_py())


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def _text_column_leaks(s: pd.Series) -> bool:
    return _shaped_like_pnr(pa.array(s.dropna().astype("string").array, type=pa.large_string()))


def assert_pseudonymous(frame: pd.DataFrame, name: str) -> None:
    _check_names(frame.columns, name)
    for col in frame.columns:
        if _is_text(frame[col]) and _text_column_leaks(frame[col]):
            raise _leak(name, col)


def pseudonymous_table(frame: pd.DataFrame, name: str) -> pa.Table:
    """`frame` as the Arrow table to store, after the same checks as `assert_pseudonymous`.

    Text columns are scanned in their Arrow form, so a large table is converted once for
    both the scan and the Parquet write; a text column Arrow does not type as a string
    (an object column of numbers, say) is scanned as the strings pandas would make of it."""
    _check_names(frame.columns, name)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for col in frame.columns:
        if not _is_text(frame[col]):
            continue
        arrow = table.column(str(col))
        if pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type):
            leaks = _shaped_like_pnr(arrow)
        else:
            leaks = _text_column_leaks(frame[col])
        if leaks:
            raise _leak(name, col)
    return table
