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


def arrow_text(values, as_type: pa.DataType = TEXT) -> pa.Array:
    """A pandas or Arrow string column (or a list of texts) as one Arrow array of `as_type`
    (missing values null): the one conversion the memo, the vault and the identity store
    share."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.array if isinstance(values.dtype, pd.StringDtype) else (
            values.astype("string").array)
    arr = pa.array(values, type=TEXT, from_pandas=True) if not isinstance(
        values, pa.Array | pa.ChunkedArray) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(as_type)


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
        values not seen before, once each, and returns their results in that order.

        The file's distinct values are hashed and the memo probed against them, not the
        other way round: Arrow's hash of the memo (600 k numbers after a year of invoices)
        costs several times a file's own, and would be built again for every file."""
        codes = pc.dictionary_encode(arrow_text(values))
        distinct, at = codes.dictionary, codes.indices  # a null value: a null index
        where = pc.index_in(self._keys, value_set=distinct)  # memo key -> its distinct value
        known = pc.is_valid(where)
        slot = np.full(len(distinct), -1, dtype=np.int64)  # distinct value -> its memo key
        slot[pc.drop_null(where).to_numpy()] = np.flatnonzero(known.to_numpy(
            zero_copy_only=False))
        unseen = slot < 0
        if unseen.any():
            new = distinct.filter(pa.array(unseen))
            decided = arrow_text(decide(new))
            if len(decided) != len(new):
                raise ValueError("the rule must decide every value it is given")
            slot[unseen] = np.arange(len(self._keys), len(self._keys) + len(new))
            self._keys = pa.concat_arrays([self._keys, new])
            self._results = pa.concat_arrays([self._results, decided])
        return self._results.take(pa.array(slot).take(at))


def stripped(values: pa.Array) -> pa.Array:
    """`str.strip()` of each value, in Arrow: Arrow's Unicode whitespace is exactly the set
    Python strips (tests/test_value_memo.py checks every code point)."""
    return pc.utf8_trim_whitespace(values)
