"""GX Core suites: pass on good pseudonymous tables, fail on bad ones, and echo no values."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.gx_suites import RESULT_FORMAT, _context, build_suite, expectations
from schemas.gx_suites import validate as gx_validate
from skyddsnat.contract import SOURCES
from skyddsnat.ingest.catalog import entry
from skyddsnat.policy import load_policy

POLICY = load_policy()


def validate(source, frame):
    return gx_validate(POLICY, source, frame)


def suite_size(source):
    return len(expectations(entry(POLICY, source)))

PIDS = [f"{i:032x}" for i in range(1, 7)]
PLANTED = "201503122384"  # a plaintext personnummer where a pseudonym belongs


def narvaro(person_ids=PIDS, minutes=300) -> pd.DataFrame:
    n = len(person_ids)
    return pd.DataFrame({
        "datum": pd.to_datetime(["2025-09-15"] * n),
        "person_id": pd.Series(person_ids, dtype="string"),
        "skolenhetskod": pd.Series(["12345678"] * n, dtype="string"),
        "schemalagd_min": pd.array([minutes] * n, dtype="Int64"),
        "giltig_franvaro_min": pd.array([0] * n, dtype="Int64"),
        "ogiltig_franvaro_min": pd.array([10] * n, dtype="Int64"),
    })


def personer(person_ids=PIDS) -> pd.DataFrame:
    n = len(person_ids)
    return pd.DataFrame({
        "person_id": pd.Series(person_ids, dtype="string"),
        "fodelsedatum": pd.to_datetime(["2015-03-12"] * n),
        "kommunkod": pd.Series(["2260"] * n, dtype="string"),
        "folkbokford_datum": pd.to_datetime(["2020-01-01"] * n),
        "sekretessmarkering": [False] * n, "skyddad_folkbokforing": [False] * n,
        "vardnadshavare_1": pd.Series([PIDS[0]] + [None] * (n - 1), dtype="string"),
        "vardnadshavare_2": pd.Series([None] * n, dtype="string"),
    })


def test_every_source_has_a_suite():
    for source in SOURCES:
        assert len(build_suite(POLICY, source).expectations) == suite_size(source) > 0


@pytest.mark.parametrize("source,frame", [("narvaro", narvaro()), ("folkbokforing", personer())])
def test_valid_table_passes(source, frame):
    result = validate(source, frame)
    assert result["success"] is True, result
    assert result["evaluated"] == result["successful"] == suite_size(source)
    assert result["failed_expectations"] == []


def test_bad_table_fails_without_values():
    bad = narvaro([*PIDS[:-1], PLANTED], minutes=9999)
    result = validate("narvaro", bad)
    assert result["success"] is False
    assert "expect_column_values_to_match_pattern" in result["failed_expectations"]
    assert "expect_column_values_to_be_between" in result["failed_expectations"]
    assert set(result) == {"success", "evaluated", "successful", "failed_expectations"}
    text = json.dumps(result)
    assert PLANTED not in text and "9999" not in text


def test_duplicate_and_unique_checks():
    dup = narvaro([PIDS[0], PIDS[0]])
    assert "expect_compound_columns_to_be_unique" in validate("narvaro", dup)[
        "failed_expectations"]
    dup_people = personer([PIDS[1], PIDS[1]])
    assert "expect_column_values_to_be_unique" in validate("folkbokforing", dup_people)[
        "failed_expectations"]


def _raw_result(frame: pd.DataFrame, result_format: str) -> dict:
    _ctx, ds = _context()
    name = f"manual_{result_format.lower()}"
    asset = ds.add_dataframe_asset(name=name)
    batch = asset.add_batch_definition_whole_dataframe("hela").get_batch(
        batch_parameters={"dataframe": frame})
    suite = build_suite(POLICY, "narvaro")
    return batch.validate(suite, result_format=result_format).to_json_dict()


def test_the_gx_result_itself_holds_no_unexpected_values():
    bad = narvaro([*PIDS[:-1], PLANTED])
    doc = json.dumps(_raw_result(bad, RESULT_FORMAT), default=str)
    assert RESULT_FORMAT == "BOOLEAN_ONLY"
    assert '"success": false' in doc
    assert PLANTED not in doc
    # Control: a value-carrying format does leak it, so the assertion above can fail.
    assert PLANTED in json.dumps(_raw_result(bad, "SUMMARY"), default=str)


def test_gx_makes_no_fingerprint_of_the_values(monkeypatch):
    """GX would hash every value of a batch for its result's markers; none is hashed."""
    from great_expectations.execution_engine import pandas_execution_engine

    def hashed(frame):
        raise AssertionError("GX fingerprinted the frame")

    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", hashed)
    result = validate("narvaro", narvaro())
    assert result["success"] is True and result["evaluated"] == suite_size("narvaro")


def test_an_expectations_type_name_is_worked_out_once_per_class():
    import great_expectations.expectations.expectation as gx_expectation

    validate("narvaro", narvaro())
    before = gx_expectation.camel_to_snake.cache_info()
    result = validate("narvaro", narvaro())
    after = gx_expectation.camel_to_snake.cache_info()
    assert result["evaluated"] == suite_size("narvaro")
    assert after.misses == before.misses and after.hits > before.hits


# --- GX once over a few files (a backfill's days): each file's own result -------------------

def _day_table(day: str, ids: list[str], minutes: list[int], code: str) -> pd.DataFrame:
    n = len(ids)
    frame = narvaro(ids).assign(datum=pd.to_datetime([day] * n))
    frame["schemalagd_min"] = pd.array(minutes, dtype="Int64")
    frame["skolenhetskod"] = pd.Series([code] * n, dtype="string")
    return frame


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(
    st.lists(st.sampled_from(PIDS + [PLANTED]), min_size=0, max_size=4),  # a repeat: not unique
    st.sampled_from([300, -5, 2000]),  # minutes out of bounds fail a row
    st.sampled_from(["12345678", "1234"])), min_size=2, max_size=4))
def test_validations_of_files_together_are_each_files_own(files):
    """Together or one by one, each file gets the result it gets alone: passing, failing, or
    empty (the table's size is checked per file)."""
    from skyddsnat.ingest.validation import validation, validations

    tables = [_day_table(f"2025-09-{15 + i}", ids, [minutes] * len(ids), code)
              for i, (ids, minutes, code) in enumerate(files)]
    alone = [validation(POLICY, "narvaro", t, pandera_failures=0) for t in tables]
    assert validations(POLICY, "narvaro", tables, [0] * len(tables)) == alone


def test_validations_of_files_together_only_where_the_suite_decomposes(monkeypatch):
    """A rule that most rows must meet is met by two files together though not by one of
    them: such a suite is validated file by file."""
    import great_expectations.expectations as gxe

    from schemas import gx_suites
    from skyddsnat.ingest.validation import validation, validations

    mostly = gx_suites.build_suite(POLICY, "narvaro")
    mostly.expectations[:] = [gxe.ExpectColumnValuesToBeBetween(
        column="schemalagd_min", min_value=0, max_value=1440, mostly=0.75)]
    monkeypatch.setitem(gx_suites._SUITES, (entry(POLICY, "narvaro"), gx_suites.ALL), mostly)
    tables = [_day_table("2025-09-15", PIDS[:2], [300, -5], "12345678"),
              _day_table("2025-09-16", PIDS[:4], [300] * 4, "12345678")]
    alone = [validation(POLICY, "narvaro", t, pandera_failures=0) for t in tables]
    assert [r["success"] for r in alone] == [False, True]
    assert not gx_suites.decomposes(POLICY, "narvaro")
    assert validations(POLICY, "narvaro", tables, [0, 0]) == alone


def test_validations_of_files_together_keep_an_empty_file_failing():
    """A register that must have rows: an empty file fails alone, and so beside a full one."""
    from skyddsnat.ingest.validation import validation, validations

    tables = [personer(), personer().iloc[0:0]]
    alone = [validation(POLICY, "folkbokforing", t, pandera_failures=0) for t in tables]
    assert [r["success"] for r in alone] == [True, False]
    assert validations(POLICY, "folkbokforing", tables, [0, 0]) == alone
