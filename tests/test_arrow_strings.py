"""Arrow-backed strings everywhere, and our `isin` deciding exactly as pandas' own."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.core.arrays.string_arrow import ArrowStringArray

import skyddsnat  # noqa: F401 - switches the string storage
from skyddsnat.arrow_strings import isin

_VALUES = st.lists(st.one_of(st.none(), st.text(alphabet="ab0-é", max_size=3)), max_size=12)


def test_string_columns_are_arrow_backed():
    assert pd.Series(["x"], dtype="string").dtype.storage == "pyarrow"


def test_nothing_in_pandas_is_patched():
    assert ArrowStringArray.isin.__module__.startswith("pandas")


@settings(max_examples=200, deadline=None)
@given(left=_VALUES, right=_VALUES, as_index=st.booleans(), storage=st.sampled_from(
    ["pyarrow", "python"]))
def test_isin_is_pandas_isin(left, right, as_index, storage):
    s = pd.Series(left, dtype=f"string[{storage}]", index=np.arange(len(left)) * 3)
    values = (pd.Index if as_index else pd.Series)(right, dtype="string")
    for value_set in (values, list(right)):
        got = isin(s, value_set)
        assert got.dtype == bool and got.index.equals(s.index)
        np.testing.assert_array_equal(got.to_numpy(), s.isin(value_set).to_numpy())


def test_models_expect_arrow_strings_whatever_was_imported_first():
    """pandera fixes what a bare StringDtype means when it is imported; the models state the
    storage, so a process that imports pandera before skyddsnat still ingests."""
    import subprocess
    import sys

    code = (
        "import pandera.pandas\n"
        "import pandas as pd\n"
        "from schemas.sources import schema\n"
        "from skyddsnat.contract import SOURCES\n"
        "from skyddsnat.policy import load_policy\n"
        "for source in SOURCES:\n"
        "    for name, col in schema(load_policy(), source).columns.items():\n"
        "        if 'string' in str(col.dtype):\n"
        "            assert str(col.dtype) == 'string[pyarrow]', (name, col.dtype)\n"
        "assert pd.Series(['x'], dtype='string').dtype.storage == 'pyarrow'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=__import__("pathlib").Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
