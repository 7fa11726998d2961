"""GX Core suites: pass on good pseudonymous tables, fail on bad ones, and echo no values."""

from __future__ import annotations

import json

import pandas as pd
import pytest

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
