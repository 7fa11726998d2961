"""The bench's real-export personnummer mix reads back as the same numbers, and the DuckDB
script's normalisation agrees with ours (no timing asserted)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.generate import pnr as gen_pnr
from skyddsnat.personnummer import InvalidPersonnummer, normalize

AS_OF = date(2026, 6, 10)


def _numbers(seed: int, n: int, oldest: int = 103) -> np.ndarray:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, oldest * 365, n)
    birth = pd.Series(pd.Timestamp(AS_OF) - pd.to_timedelta(days, unit="D"))
    return gen_pnr.make_unique(rng, birth, rng.random(n) < 0.5, rng.random(n) < 0.02)


@given(seed=st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_realistic_forms_read_back_as_the_same_numbers(seed):
    numbers = _numbers(seed, 200)
    written = gen_pnr.rewritten(np.random.default_rng(seed), numbers, (0.12, 0.03, 0.85), AS_OF)
    assert [normalize(w, AS_OF) for w in written] == list(numbers)
    born = pd.Series(numbers).str[:8].astype(int)
    day = born % 100
    born = born.where(day <= 60, born - 60)
    old = (born + 1_000_000 <= int(AS_OF.strftime("%Y%m%d"))).to_numpy()
    plus = np.array(["+" in w for w in written])
    assert not (plus & ~old).any()  # '+' only for those 100 or older


def test_rewritten_leaves_blanks_and_other_forms_and_keeps_duplicates_exact():
    numbers = list(_numbers(1, 5, oldest=60))
    values = np.array([numbers[0], "", numbers[0], numbers[1][2:8] + "-" + numbers[1][8:]],
                      dtype=object)
    out = gen_pnr.rewritten(np.random.default_rng(0), values, (0.0, 0.0, 1.0), AS_OF)
    assert out[1] == "" and out[3] == values[3] and out[0] == out[2]
    assert out[0] == numbers[0][2:8] + "-" + numbers[0][8:]


def test_duckdb_normalisation_agrees_with_ours():
    duckdb = pytest.importorskip("duckdb")
    from bench.duck_e2e import NORMALISE

    numbers = _numbers(7, 400)
    a, b, c = gen_pnr.forms(numbers)
    c = gen_pnr._plus_for_centenarians(numbers, c, AS_OF)
    broken = [gen_pnr.break_check_digit(x) for x in numbers[:20]]
    values = [*a, *b, *c, *broken, "", "12345", numbers[0][:8] + "+" + numbers[0][8:]]
    con = duckdb.connect()
    con.execute(NORMALISE)
    con.register("frame", pd.DataFrame({"v": values}))
    theirs = dict(con.execute("SELECT v, pnr(v, 2026, 610) FROM frame").fetchall())

    def ours(v):
        try:
            return normalize(v, AS_OF)
        except InvalidPersonnummer:
            return None

    assert all(theirs[v] == ours(v) for v in values)
