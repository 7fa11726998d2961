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


HEX32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(
    st.none(), HEX32, st.text(alphabet="0123456789abcdef \n", max_size=34),
    st.builds(str.__add__, HEX32, st.sampled_from(["\n", " ", "0"]))), min_size=1, max_size=8))
def test_gx_pattern_expectation_is_the_same_rule(values):
    """GX's pattern expectation passes exactly where every non-null value matches whole (the
    rule pandera's check states): nulls are not its business, a trailing newline is."""
    import great_expectations as gx

    from schemas.gx_suites import RESULT_FORMAT, ExpectColumnValuesToMatchPattern, _context

    _ctx, ds = _context()
    name = "monster_prov"
    try:
        asset = ds.get_asset(name)
    except LookupError:
        asset = ds.add_dataframe_asset(name=name)
    bd = asset.add_batch_definition_whole_dataframe(f"b{len(asset.batch_definitions)}")
    frame = pd.DataFrame({"v": pd.Series(values, dtype="string")})
    suite = gx.ExpectationSuite(name="monster")
    suite.add_expectation(ExpectColumnValuesToMatchPattern(column="v", pattern=PSEUDONYM))
    got = bd.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format=RESULT_FORMAT).success
    want = all(re.fullmatch(PSEUDONYM, v) for v in values if v is not None)
    assert got == want
