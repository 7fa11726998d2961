"""Arrow-backed strings everywhere, and our `isin` deciding exactly as pandas' own."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import skyddsnat  # noqa: F401 - switches the string storage
from skyddsnat.arrow_strings import _pandas_isin

_VALUES = st.lists(st.one_of(st.none(), st.text(alphabet="ab0-é", max_size=3)), max_size=12)


def test_string_columns_are_arrow_backed():
    assert pd.Series(["x"], dtype="string").dtype.storage == "pyarrow"


@settings(max_examples=200, deadline=None)
@given(left=_VALUES, right=_VALUES, as_index=st.booleans())
def test_isin_is_pandas_isin(left, right, as_index):
    s = pd.Series(left, dtype="string")
    values = (pd.Index if as_index else pd.Series)(right, dtype="string")
    got = s.isin(values)
    assert got.dtype == bool
    np.testing.assert_array_equal(got.to_numpy(), _pandas_isin(s.array, values))
    np.testing.assert_array_equal(got.to_numpy(), _pandas_isin(s.array, list(right)))
