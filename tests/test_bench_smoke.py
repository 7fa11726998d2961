"""The bench code runs on the TINY profile: DuckDB SQL agrees with our functions, the next
day's files are valid input, and the results table renders (no timing asserted)."""

from datetime import date

import pandas as pd
import pytest

pytest.importorskip("duckdb")

from bench import duck, scenarios  # noqa: E402
from bench.measure import RunMeasure  # noqa: E402
from bench.report import render  # noqa: E402
from pipelines.runner import run_nightly  # noqa: E402
from skyddsnat.generate.profiles import TINY  # noqa: E402
from skyddsnat.ingest.source_table import ingest_file  # noqa: E402
from skyddsnat.policy import load_policy  # noqa: E402
from skyddsnat.privacy.keys import load_keys  # noqa: E402

AS_OF = date(2026, 6, 10)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    scenarios.generate(TINY, base / "gen", AS_OF)
    keys = scenarios.ensure_keys(base / "keys")
    work = scenarios.work_dir(base / "gen", base / "work")
    outcome = run_nightly(work, keys, AS_OF, TINY.kommunkod)
    assert outcome.success, outcome.failures
    assert scenarios.restock(base / "gen", work)  # the run cleaned what it processed
    return work, keys


def test_duckdb_sql_gives_our_results(tiny):
    work, _ = tiny
    policy = load_policy().with_kommunkod(TINY.kommunkod)
    comparisons = duck.compare(work, AS_OF, policy, repeat=1, with_csv=True)
    assert [c.same_result for c in comparisons] == [True, True, True]
    assert all(c.duck_csv_s is not None and c.rows_in > 0 for c in comparisons)


def test_next_day_is_a_valid_nightly_increment(tiny):
    work, keys = tiny
    nxt = scenarios.next_school_day(AS_OF)
    assert nxt == date(2026, 6, 11)
    made = scenarios.add_next_day(work / "inbox", AS_OF, nxt)
    assert "narvaro_20260611.csv" in made and "folkbokforing_20260611.csv" in made
    pkey = load_keys(keys).pseudonym_key
    policy = load_policy()
    today, tomorrow = (ingest_file(work / "inbox" / f"narvaro_{d:%Y%m%d}.csv", "narvaro", policy,
                                   pkey, nxt) for d in (AS_OF, nxt))
    assert tomorrow.accepted == today.accepted > 0
    assert set(tomorrow.table["datum"]) == {pd.Timestamp(nxt)}


def test_results_table_marks_missed_targets():
    fast = RunMeasure("nightly", "2026-06-11", 0, 10.0, 8.0, 1.0, 500.0, 510.0,
                      steps={"narvaro": 1.0}, rows_read={"narvaro": 100})
    slow = RunMeasure("backfill", "2026-06-10", 0, 301.0, 290.0, 5.0, 5000.0, 5100.0)
    text = render("tiny", {"narvaro": 100}, slow, fast, [])
    lines = text.splitlines()
    assert any("backfill | wall (process)" in ln and "**missed**" in ln for ln in lines)
    assert any("nightly | wall (process)" in ln and "| met |" in ln for ln in lines)
    assert any("backfill | peak RSS" in ln and "**missed**" in ln for ln in lines)
