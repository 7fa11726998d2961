"""A per-value rule's decisions remembered as two Arrow arrays, looked up a file at a time.

A run reads the same values file after file: a year of attendance names the same pupils
every day. Looking a file's values up in Arrow (`index_in`, one hash join) costs a few
milliseconds where a Python dict lookup per value cost a tenth of a second; only values
not yet seen go to the rule, which stays the one statement of what it decides. The memo
holds whatever the rule decides about (plaintext personnummer included), so it lives in
memory only and is never written (ingest/memo.py scopes it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()  # the type of pandas' Arrow "string" columns


def arrow_text(values) -> pa.Array:
    """A pandas or Arrow string column as one Arrow array (missing values null)."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.array if isinstance(values.dtype, pd.StringDtype) else (
            values.astype("string").array)
    arr = pa.array(values, type=TEXT, from_pandas=True) if not isinstance(
        values, pa.Array | pa.ChunkedArray) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(TEXT)


def text_series(values: pa.Array, index: pd.Index) -> pd.Series:
    """An Arrow string array as a pandas "string" column, without a Python object a value."""
    return pd.Series(pd.arrays.ArrowStringArray(values.cast(TEXT)), index=index)


class ValueMemo:
    """Distinct value -> the rule's result (a string, or null), for one scope of a run."""

    def __init__(self) -> None:
        self._keys = pa.array([], type=TEXT)
        self._results = pa.array([], type=TEXT)

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, values: pa.Array, decide: Callable[[pa.Array], pa.Array]) -> pa.Array:
        """The result for each of `values` (null stays null). `decide` gets the distinct
        values not seen before, once each, and returns their results in that order."""
        values = arrow_text(values)
        at = pc.index_in(values, value_set=self._keys)
        unseen = pc.and_(pc.is_null(at), pc.is_valid(values))
        if pc.any(unseen).as_py():
            new = pc.unique(values.filter(unseen))
            decided = arrow_text(decide(new))
            if len(decided) != len(new):
                raise ValueError("the rule must decide every value it is given")
            base = len(self._keys)
            self._keys = pa.concat_arrays([self._keys, new])
            self._results = pa.concat_arrays([self._results, decided])
            fresh = pc.add(pc.index_in(values, value_set=new), np.int32(base))
            at = pc.coalesce(at, fresh)
        return self._results.take(at)


def stripped(values: pa.Array) -> pa.Array:
    """`str.strip()` of each value, in Arrow: Arrow's Unicode whitespace is exactly the set
    Python strips (tests/test_value_memo.py checks every code point)."""
    return pc.utf8_trim_whitespace(values)
