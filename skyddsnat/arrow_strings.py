"""Arrow-backed "string" columns for the whole program, and one fix pandas 2.3 lacks.

The warehouse holds millions of pseudonyms; as Arrow strings they are read, hashed, joined
and written without a Python object per value. pandas 2.3's `ArrowStringArray.isin` still
builds its value set one Python scalar at a time (seconds for a register-sized set), so a
string-typed value set is handed to Arrow whole; anything else takes pandas' own path,
which decides exactly the same (strings and missing values match, nothing else).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.core.arrays.string_arrow import ArrowStringArray

_pandas_isin = ArrowStringArray.isin


def _isin(self: ArrowStringArray, values) -> np.ndarray:
    if isinstance(getattr(values, "dtype", None), pd.StringDtype):
        value_set = pa.array(pd.array(values, dtype="string"), from_pandas=True)
        if len(value_set) == 0:
            return np.zeros(len(self), dtype=bool)
        result = pc.is_in(self._pa_array, value_set=value_set.cast(self._pa_array.type))
        return np.array(result, dtype=np.bool_)
    return _pandas_isin(self, values)


def use_arrow_strings() -> None:
    pd.set_option("mode.string_storage", "pyarrow")
    ArrowStringArray.isin = _isin
