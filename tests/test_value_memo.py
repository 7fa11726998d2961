"""The run's personnummer memo in Arrow: every file of a run reads as a fresh, per-value read."""

from __future__ import annotations

import sys
from datetime import date

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.contract import Column, Source
from skyddsnat.ingest.memo import PnrMemo
from skyddsnat.ingest.parse import parse_frame
from skyddsnat.personnummer import InvalidPersonnummer, all_forms, luhn_digit, normalize
from skyddsnat.privacy.pseudonym import pseudonym, pseudonymize_series
from skyddsnat.value_memo import ValueMemo, stripped

# Centuries of 10-digit numbers and future 12-digit births decide differently at these.
REFS = (date(2025, 9, 15), date(2061, 3, 1))
KEYS = (bytes(range(32)), bytes(32))
ONE_PNR = Source("prov", (Column("personnummer", "pnr"),))
# Whitespace Python strips, ASCII and not: what an export may pad a cell with.
SPACE = st.sampled_from([" ", "\t", "\r", "\x0b", "\x1c", "\x85", "\u00a0", "\u2003", "\u3000"])


def test_arrow_strips_exactly_what_str_strip_strips_for_every_code_point():
    chars = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i < 0xE000]
    padded = [f"{c}x{c}" for c in chars]
    assert stripped(pa.array(padded)).to_pylist() == [p.strip() for p in padded]


@given(st.lists(st.tuples(st.lists(SPACE, max_size=3), st.text(max_size=6),
                          st.lists(SPACE, max_size=3))))
def test_arrow_strip_is_str_strip(parts):
    values = ["".join(a) + t + "".join(b) for a, t, b in parts]
    assert stripped(pa.array(values, type=pa.string())).to_pylist() == [
        v.strip() for v in values]


@given(st.lists(st.lists(st.one_of(st.none(), st.text(alphabet="abc", max_size=3)),
                         max_size=12), max_size=5))
def test_a_value_memo_decides_each_value_once_and_as_the_rule(batches):
    def rule(v: str) -> str | None:
        return None if len(v) % 3 == 0 else v[::-1] + "!"

    memo, asked = ValueMemo(), []

    def decide(todo: pa.Array) -> pa.Array:
        asked.extend(todo.to_pylist())
        return pa.array([rule(v) for v in todo.to_pylist()], type=pa.string())

    for batch in batches:
        got = memo.lookup(pa.array(batch, type=pa.string()), decide).to_pylist()
        assert got == [None if v is None else rule(v) for v in batch]
    assert None not in asked and len(asked) == len(set(asked)) == len(memo)


def _pnr12(born: date, serial: int, samordning: bool) -> str:
    nine = f"{born:%y%m}{born.day + 60 * samordning:02d}{serial:03d}"
    return f"{born.year}{nine[2:]}{luhn_digit(nine)}"


def _flipped(form: str) -> str:
    return form[:-1] + str((int(form[-1]) + 1) % 10)


# YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDD-NNNC, YYMMDD+NNNC, YYMMDDNNNC; some with a wrong
# check digit, padded with whitespace or a space inside; blanks, missing cells, any text.
_FORM = st.builds(
    lambda born, serial, samordning, form, broken, before, after: (
        "".join(before) + (lambda f: _flipped(f) if broken else f)(
            list(all_forms(_pnr12(born, serial, samordning)))[form]) + "".join(after)),
    st.dates(min_value=date(1925, 1, 1), max_value=date(2026, 12, 31)),
    st.integers(0, 999), st.booleans(), st.integers(0, 4), st.booleans(),
    st.lists(SPACE, max_size=2), st.lists(SPACE, max_size=2))
_VALUE = st.one_of(_FORM, st.none(), st.lists(SPACE, max_size=3).map("".join),
                   st.text(alphabet="0123456789-+ ", max_size=13), st.text(max_size=13))


def _fresh(value: str | None, reference: date, key: bytes) -> tuple[str | None, str | None]:
    """Reason and pseudonym of one cell, by the per-value rules alone."""
    if value is None or not value.strip():
        return "saknat_varde", None
    try:
        return None, pseudonym(key, normalize(value, reference))
    except InvalidPersonnummer:
        return "ogiltigt_personnummer", None


@settings(max_examples=150, deadline=None)
@given(pool=st.lists(_VALUE, min_size=1, max_size=25),
       files=st.lists(st.tuples(st.lists(st.integers(0, 24), max_size=30),
                                st.sampled_from(REFS), st.sampled_from(KEYS)),
                      min_size=1, max_size=5))
def test_every_file_of_a_run_reads_as_the_per_value_rules_read_it(pool, files):
    """Files of one run share values (a year of days names the same pupils); the reference
    date or key may change between them, and the memo must then forget."""
    memo = PnrMemo()
    for picks, reference, key in files:
        cells = [pool[i % len(pool)] for i in picks]
        raw = pd.DataFrame({"personnummer": pd.Series(cells, dtype="string")})
        run = memo.scoped(reference, key)
        typed, reason = parse_frame(raw, ONE_PNR, reference, run.normalized)
        ids = pseudonymize_series(key, typed["personnummer"], run.pseudonyms)
        got = list(zip(reason.astype(object).where(reason.notna(), None),
                       ids.astype(object).where(ids.notna(), None), strict=True))
        assert got == [_fresh(c, reference, key) for c in cells]


def test_a_worker_keeps_one_memo_per_source(tmp_path, monkeypatch):
    """A lookup reads the whole memo, so a day file read after a year of invoices must not
    pay for the invoices' households: each source has its memo, and a file's numbers go
    to its own source's only."""
    from skyddsnat.ingest import run
    from tests.test_bad_inputs import KEY, POLICY, REF, row, write

    monkeypatch.setattr(run, "_MEMOS", {})
    invoices = write(tmp_path, "avgifter", [row("avgifter", i) for i in range(30)])
    (day := tmp_path / "narvaro").mkdir()
    run.ingest_checked(invoices, "avgifter", POLICY, KEY, REF)
    households = len(run._MEMOS["avgifter"].normalized)
    run.ingest_checked(write(day, "narvaro", [row("narvaro", i) for i in range(3)]),
                       "narvaro", POLICY, KEY, REF)
    assert len(run._MEMOS["narvaro"].normalized) == 3
    assert len(run._MEMOS["avgifter"].normalized) == households > 3
