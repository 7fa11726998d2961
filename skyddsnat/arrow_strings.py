"""Arrow-backed "string" columns for the whole program, and a named fast `isin` for them.

The warehouse holds millions of pseudonyms; as Arrow strings they are read, hashed, joined
and written without a Python object per value. The storage is pandas' documented option
`mode.string_storage`, set once when `skyddsnat` is imported, so every "string" column
behaves the same in the run, the worker processes, the tests and the UI's code location.

pandas 2.3's `Series.isin` on Arrow strings still builds its value set one Python scalar at
a time (seconds for a register-sized set). Hot paths call `isin` here instead, which hands a
string value set to Arrow whole and decides exactly as pandas does (strings and missing
values match, nothing else); nothing in pandas is patched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def use_arrow_strings() -> None:
    pd.set_option("mode.string_storage", "pyarrow")


def _arrow(values) -> pa.Array | None:
    """The values as an Arrow string array (pandas' public Arrow protocol), when they are a
    string-typed pandas object."""
    if not isinstance(getattr(values, "dtype", None), pd.StringDtype):
        return None
    return pa.array(getattr(values, "array", values), from_pandas=True).cast(pa.large_string())


def isin(values: pd.Series | pd.Index, value_set) -> pd.Series:
    """`values.isin(value_set)` as a bool Series aligned with `values`, in Arrow when both
    are strings; anything else takes pandas' own path."""
    index = values.index if isinstance(values, pd.Series) else pd.RangeIndex(len(values))
    left, right = _arrow(values), _arrow(value_set)
    if left is None or right is None:
        return pd.Series(np.asarray(values.isin(value_set), dtype=bool), index=index)
    if len(right) == 0 or len(left) == 0:
        return pd.Series(np.zeros(len(values), dtype=bool), index=index)
    result = pc.is_in(left, value_set=pc.unique(right).cast(left.type))
    return pd.Series(np.asarray(result, dtype=np.bool_), index=index)
