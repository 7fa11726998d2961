"""Swedish personnummer and samordningsnummer: normalise to 12 digits, Luhn-check, birth date.

Errors never carry the value: callers report file, line and column, not the number.

>>> normalize("811218-9876", reference=date(2025, 1, 1))
'198112189876'
>>> normalize("19811218-9876")
'198112189876'
>>> birth_date("198112789872")  # samordningsnummer: day + 60
datetime.date(1981, 12, 18)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skyddsnat.value_memo import TEXT, ValueMemo, arrow_text, stripped, text_series

_FORM = re.compile(r"^(\d{2})?(\d{6})([-+]?)(\d{4})$")


class InvalidPersonnummer(ValueError):
    """A personnummer failed normalisation. The message names the rule, never the value."""


def luhn_ok(ten_digits: str) -> bool:
    """Luhn check over the 10-digit form YYMMDDNNNC."""
    total = 0
    for i, ch in enumerate(ten_digits):
        d = (ord(ch) - 48) * (2 - i % 2)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def luhn_digit(nine_digits: str) -> str:
    """The control digit that makes YYMMDDNNN + C pass the Luhn check."""
    total = 0
    for i, ch in enumerate(nine_digits):
        d = (ord(ch) - 48) * (2 - i % 2)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def is_samordningsnummer(pnr12: str) -> bool:
    return int(pnr12[6:8]) > 60


def birth_date(pnr12: str) -> date:
    """Birth date of a normalised number; samordningsnummer have day + 60."""
    day = int(pnr12[6:8])
    if day > 60:
        day -= 60
    return date(int(pnr12[0:4]), int(pnr12[4:6]), day)


def normalize(raw: str, reference: date | None = None) -> str:
    """Return the 12-digit form or raise InvalidPersonnummer.

    A 10-digit number gets the century that makes the person at most 99 years old at
    `reference` ('+' separator: 100 or older), as Skatteverket writes them.
    """
    s = str(raw).strip().replace(" ", "")
    m = _FORM.match(s)
    if not m:
        raise InvalidPersonnummer("felaktigt format")
    century, yymmdd, sep, tail = m.groups()
    given_century = century is not None
    if given_century and sep == "+":
        raise InvalidPersonnummer("felaktigt format")
    ten = yymmdd + tail
    if not luhn_ok(ten):
        raise InvalidPersonnummer("felaktig kontrollsiffra")
    ref = reference or date.today()
    if not given_century:
        return decided_century(yymmdd, sep == "+", ref) + ten
    pnr12 = century + ten
    try:
        born = birth_date(pnr12)
    except ValueError:
        raise InvalidPersonnummer("ogiltigt datum") from None
    if born > ref:
        raise InvalidPersonnummer("födelsedatum i framtiden")
    return pnr12


def decided_century(yymmdd: str, plus: bool, reference: date) -> str:
    """The century of a 10-digit number at `reference`: that of the latest date with these
    digits not after it ('+': a hundred years earlier), as Skatteverket writes them.

    It is all the reference date decides about a 10-digit number, and it changes only
    when the reference passes the day with these digits (the 100-year boundary), so the
    row cache binds its digests to it (ingest/row_cache.py). Raises InvalidPersonnummer
    when no such date exists.
    """
    year = (reference.year // 100) * 100 + int(yymmdd[:2])
    if year > reference.year:
        year -= 100
    if plus:
        year -= 100
    century = str(year // 100)
    try:
        if birth_date(century + yymmdd) > reference:
            # Later this year than the reference: nobody is born in the future, so the
            # person turns 100 this year (an export that dropped or mis-set the sign).
            century = str(int(century) - 1)
            birth_date(century + yymmdd)
    except ValueError:
        raise InvalidPersonnummer("ogiltigt datum") from None
    return century


def reading_changes(raw: str, reference: date) -> date | None:
    """The first day after `reference` from which `normalize(raw, day)` may differ from
    `normalize(raw, reference)`; None when no later day can change it.

    A 10-digit number changes at its century's next boundary (`decided_century`; a '+'
    number on New Year's Day, a 29 February at the start of a year without one), a
    12-digit one born after the reference on its birth day. Period files are cached until
    then (ingest/caches.py). Only the digits are read: conservative for invalid numbers."""
    s = str(raw).strip().replace(" ", "")
    m = _FORM.match(s)
    if not m:
        return None
    century, yymmdd, sep, _ = m.groups()
    if century is not None:
        try:
            born = birth_date(century + yymmdd)
        except ValueError:
            return None
        return born if born > reference and sep != "+" else None
    try:
        year = int(decided_century(yymmdd, sep == "+", reference)) * 100 + int(yymmdd[:2])
    except InvalidPersonnummer:  # no such date this year: perhaps in a later one
        return date(reference.year + 1, 1, 1)
    if sep == "+":
        return date(year + 200, 1, 1)
    day = int(yymmdd[4:6])
    try:
        return date(year + 100, int(yymmdd[2:4]), day - 60 if day > 60 else day)
    except ValueError:
        return date(year + 100, 1, 1)


def is_valid(raw: str, reference: date | None = None) -> bool:
    try:
        normalize(raw, reference)
    except InvalidPersonnummer:
        return False
    return True


# RE2 (pyarrow), once per column: optional century, six digits, optional '-', four digits.
_PLAIN = r"^(?P<century>[0-9]{2})?(?P<six>[0-9]{6})-?(?P<four>[0-9]{4})$"
_LUHN_WEIGHTS = np.array([2, 1] * 5, dtype=np.int64)


def _plainly_valid(uniques: pa.Array, ref: date) -> pa.Array:
    """The 12-digit form of each value that is plainly valid (ASCII digits, no '+', Luhn ok,
    a real birth date not after ref), else null: those go through `normalize` one by one.
    Same result as `normalize` wherever it is not null, at Arrow and numpy speed."""
    out = pa.nulls(len(uniques), type=TEXT)
    if not len(uniques):
        return out
    parts = pc.extract_regex(uniques.cast(pa.string()), _PLAIN)
    ok = parts.is_valid().to_numpy(zero_copy_only=False)
    if not ok.any():
        return out
    parts = parts.filter(pa.array(ok))
    ten = pc.binary_join_element_wise(parts.field("six"), parts.field("four"), "")
    digits = (np.frombuffer("".join(ten.to_pylist()).encode("ascii"), dtype=np.uint8)
              .reshape(-1, 10).astype(np.int64) - 48)
    weighted = digits * _LUHN_WEIGHTS
    luhn = (np.where(weighted > 9, weighted - 9, weighted).sum(axis=1) % 10) == 0
    yy = digits[:, 0] * 10 + digits[:, 1]
    year = (ref.year // 100) * 100 + yy
    year = np.where(year > ref.year, year - 100, year)
    century = parts.field("century")  # "" where the number has ten digits
    given = pc.greater(pc.binary_length(century), 0).to_numpy(zero_copy_only=False)
    written = pc.cast(pc.if_else(given, century, "0"), pa.int64()).to_numpy()
    year = np.where(given, written * 100 + yy, year)
    day = digits[:, 4] * 10 + digits[:, 5]
    born = pd.to_datetime(pd.DataFrame({
        "year": year, "month": digits[:, 2] * 10 + digits[:, 3],
        "day": np.where(day > 60, day - 60, day)}), errors="coerce")
    good = (luhn & (year >= 1000) & born.notna().to_numpy()
            & (born <= pd.Timestamp(ref)).to_numpy())
    pnr12 = pc.binary_join_element_wise(pc.cast(pa.array(year // 100), pa.string()), ten, "")
    mask = np.zeros(len(uniques), dtype=bool)
    mask[np.flatnonzero(ok)[good]] = True
    return pc.replace_with_mask(out, pa.array(mask), pnr12.filter(pa.array(good)).cast(TEXT))


def _normalized(todo: pa.Array, reference: date | None) -> pa.Array:
    """The 12-digit form of each value, or null: plainly valid numbers decided with numpy,
    the rest (other forms, '+', invalid) one by one with `normalize`, the one statement of
    the rules."""
    fast = _plainly_valid(todo, reference or date.today())
    rest = fast.is_null().to_numpy(zero_copy_only=False)
    if not rest.any():
        return fast
    decided = []
    for raw in todo.filter(pa.array(rest)).to_pylist():
        try:
            decided.append(normalize(raw, reference))
        except InvalidPersonnummer:
            decided.append(None)
    return pc.replace_with_mask(fast, pa.array(rest), pa.array(decided, type=TEXT))


def normalize_uniques(uniques, reference: date | None = None,
                      memo: ValueMemo | None = None) -> pa.Array:
    """The 12-digit form of each (stripped) value, or null where invalid or missing.

    `memo` (raw value -> result, for this reference date only) carries decisions from one
    file of a run to the next: a year of attendance files names the same pupils every day,
    so only values not seen before are decided (`_normalized`)."""
    memo = ValueMemo() if memo is None else memo
    return memo.lookup(arrow_text(uniques), lambda todo: _normalized(todo, reference))


def normalize_series(values: pd.Series, reference: date | None = None,
                     memo: ValueMemo | None = None) -> pd.Series:
    """Vectorised over unique values: the 12-digit form, or <NA> where invalid or blank."""
    norm = normalize_uniques(stripped(arrow_text(values)), reference, memo)
    return text_series(norm, values.index)


def birth_dates(pnr12: pd.Series) -> pd.Series:
    """Vectorised birth dates (datetime64) of normalised numbers; <NaT> where missing."""
    s = pnr12.astype("string")
    year = pd.to_numeric(s.str[0:4], errors="coerce").astype("float64")
    month = pd.to_numeric(s.str[4:6], errors="coerce").astype("float64")
    day = pd.to_numeric(s.str[6:8], errors="coerce").astype("float64")
    day = day.where(day <= 60, day - 60)
    frame = pd.DataFrame({"year": year, "month": month, "day": day})
    return pd.to_datetime(frame, errors="coerce")


def all_forms(pnr12: str) -> Iterable[str]:
    """Every common written form of one number, for canary scans in tests and audits."""
    ten = pnr12[2:]
    yield pnr12
    yield f"{pnr12[:8]}-{pnr12[8:]}"
    yield f"{ten[:6]}-{ten[6:]}"
    yield f"{ten[:6]}+{ten[6:]}"
    yield ten


__all__ = [
    "InvalidPersonnummer",
    "all_forms",
    "birth_date",
    "birth_dates",
    "decided_century",
    "is_samordningsnummer",
    "is_valid",
    "luhn_digit",
    "luhn_ok",
    "normalize",
    "normalize_series",
    "normalize_uniques",
    "reading_changes",
]

