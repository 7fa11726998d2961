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
    from bench.duck_e2e import NORMALISE, normalised_sql

    numbers = _numbers(7, 400)
    a, b, c = gen_pnr.forms(numbers)
    c = gen_pnr._plus_for_centenarians(numbers, c, AS_OF)
    broken = [gen_pnr.break_check_digit(x) for x in numbers[:20]]
    values = [*a, *b, *c, *broken, "", "12345", numbers[0][:8] + "+" + numbers[0][8:]]
    con = duckdb.connect()
    con.execute(NORMALISE)
    con.register("frame", pd.DataFrame({"v": values}))
    theirs = dict(con.execute(normalised_sql("SELECT v FROM frame", AS_OF)).fetchall())
    theirs[""] = None  # blanks are left out, as no row carries them

    def ours(v):
        try:
            return normalize(v, AS_OF)
        except InvalidPersonnummer:
            return None

    assert all(theirs[v] == ours(v) for v in values)


def test_night_cost_table_marks_targets_and_rewrites_only_its_block(tmp_path):
    from bench import night_cost

    def run(wall, rss, steps=None):
        return {"returncode": 0, "wall_s": wall, "sampled_rss_mib": rss, "steps": steps or {}}

    out = {"label": "after", "code": "/x", "commit": "abc", "started": "s", "finished": "f",
           "as_of": "2026-06-10", "machine": {"cpus": 2, "mem_gib": 24.0, "cpu": "c"},
           "profiles": {"ange": {"source_rows": {"folkbokforing": 10, "narvaro": 100},
                                 "duck": run(10.0, 1000.0), "backfill": run(30.0, 900.0),
                                 "night": run(12.0, 500.0, {"narvaro": 1.0}),
                                 "moves": run(8.0, 500.0)}}}
    text = night_cost.render(out)
    row = next(ln for ln in text.splitlines() if ln.startswith("| ange |"))
    assert "1.20× (**missed**)" in row and "3.00× (met)" in row and "0.90× (met)" in row
    results = tmp_path / "RESULTS.md"
    results.write_text("intro\n\n## Caveats of this measurement\n")
    night_cost._write_block(results, "before", "B1")
    night_cost._write_block(results, "after", "A1")
    night_cost._write_block(results, "after", "A2")
    body = results.read_text()
    assert "B1" in body and "A2" in body and "A1" not in body
    assert body.index("A2") < body.index("## Caveats")


def test_night_cost_repeats_keep_the_fastest_good_run_and_every_wall():
    from bench.night_cost import _fastest

    res: dict = {}
    for wall, rc in ((80.0, 0), (70.0, 1), (75.0, 0), (90.0, 0)):
        _fastest(res, "backfill", {"wall_s": wall, "returncode": rc})
    assert res["backfill"]["wall_s"] == 75.0 and res["backfill"]["returncode"] == 0
    assert res["backfill"]["walls_s"] == [80.0, 70.0, 75.0, 90.0]
