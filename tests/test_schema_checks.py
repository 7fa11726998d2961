"""The Arrow-backed `str_fullmatch` pandera check agrees with Python's re on what we store."""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.checks import str_fullmatch
from schemas.sources import PSEUDONYM

PATTERNS = [PSEUDONYM, r"[0-9]{8}", r"[0-9]{4}-[0-9]{2}", r"(HT|VT)[0-9]{4}"]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(
    st.none(),
    st.text(alphabet="0123456789abcdefHTV-x \n", max_size=34),
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)), max_size=20),
    pattern=st.sampled_from(PATTERNS))
def test_str_fullmatch_is_python_fullmatch(values, pattern):
    s = pd.Series(values, dtype="string")
    got = str_fullmatch(s, pattern=pattern)
    want = [v is not None and re.fullmatch(pattern, v) is not None for v in values]
    assert got.tolist() == want
    assert got.index.equals(s.index)
