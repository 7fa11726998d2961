"""Typed parsing of raw string columns, with one quarantine reason per bad row.

Reason codes (DESIGN.md): ogiltigt_personnummer, saknat_varde, ogiltigt_format,
orimligt_varde, okand_kod, dubblett, fel_antal_falt. The first failing column decides.
"""

from __future__ import annotations

import functools
from datetime import date

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from skyddsnat.contract import Source
from skyddsnat.personnummer import normalize_uniques
from skyddsnat.value_memo import ValueMemo, arrow_text, stripped, text_series

# Dates that cannot lie after the reference date (a future value is orimligt).
NOT_FUTURE = {"datum", "folkbokford_datum", "fodelsedatum", "beslutsdatum"}


def _blank(s: pd.Series) -> pd.Series:
    """Missing or only whitespace; decided once per distinct text."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    blank = (pd.Series(uniques, dtype="string").str.strip() == "").to_numpy(dtype=bool)
    return pd.Series(np.where(codes >= 0, blank[np.maximum(codes, 0)] if len(blank) else True,
                              True), index=s.index)


def parse_amount(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole kronor/minutes; accepts a decimal comma and space/dot thousands separators.

    Returns (Int64 values, bad-format mask). Decimals are rounded half up. Parsed once per
    distinct text: a day of attendance has 80 000 rows but a few hundred distinct minutes.
    """
    values = _Distinct(s)
    ints, bad = _amounts(values, values.stripped)
    return ints, pd.Series(bad, index=s.index)


def _parse_amount_values(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    t = s.str.strip().str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    has_comma = t.str.contains(",", regex=False).fillna(False)
    dotted_thousands = t.str.fullmatch(r"-?\d{1,3}(\.\d{3})+").fillna(False)
    t = t.mask(has_comma, t.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    t = t.mask(dotted_thousands & ~has_comma, t.str.replace(".", "", regex=False))
    num = pd.to_numeric(t.where(t.str.fullmatch(r"-?\d+(\.\d+)?").fillna(False)), errors="coerce")
    bad = num.isna() & ~_blank(s)
    rounded = np.floor(num.astype("float64") + 0.5)
    return pd.array(rounded, dtype="Int64"), bad


class _Distinct:
    """A raw column as codes into its distinct values, each stripped once, in Arrow.

    Every rule is decided per distinct value and mapped back by code: a day of attendance
    has 84 000 rows but one date, a few hundred school units and minute values."""

    def __init__(self, s: pd.Series) -> None:
        encoded = pc.dictionary_encode(arrow_text(s))
        self._indices = encoded.indices  # null where the cell is NA
        self.codes = self._indices.fill_null(-1).to_numpy().astype(np.intp)
        self.missing = self.codes < 0
        self.distinct = stripped(encoded.dictionary)  # as str.strip (value_memo.py)
        self.blank = self.rows(pc.equal(self.distinct, "").to_numpy(zero_copy_only=False),
                               True)

    @functools.cached_property
    def stripped(self) -> np.ndarray:
        """The stripped distinct values as Python strings, for the rules decided in pandas."""
        return self.distinct.to_numpy(zero_copy_only=False)

    def rows(self, per_value: np.ndarray, missing) -> np.ndarray:
        """Per-row values of a per-distinct-value array; `missing` where the cell is NA."""
        if len(per_value) == 0:
            return np.full(len(self.codes), missing)
        out = per_value[np.maximum(self.codes, 0)]
        if self.missing.any():
            out = out.copy()
            out[self.missing] = missing
        return out

    def strings(self, per_value, index: pd.Index) -> pd.Series:
        """A "string" column from per-distinct-value strings (NA where the cell is NA)."""
        return text_series(arrow_text(per_value).take(self._indices), index)


def _amounts(col: _Distinct, text: np.ndarray) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
    """Per row: the amount parsed from the column's distinct `text`, and the bad-format mask."""
    parsed, bad = _parse_amount_values(pd.Series(text, dtype="string"))
    return (pd.array(parsed, dtype="Int64").take(col.codes, allow_fill=True),
            col.rows(bad.to_numpy(dtype=bool), False))


def _dates(col: _Distinct, index: pd.Index) -> tuple[pd.Series, np.ndarray]:
    d = pd.to_datetime(pd.Series(col.stripped, dtype=object), format="%Y-%m-%d",
                       errors="coerce").to_numpy(dtype="datetime64[ns]")
    return pd.Series(col.rows(d, np.datetime64("NaT", "ns")), index=index), col.rows(
        np.isnat(d), True)


def parse_frame(raw: pd.DataFrame, source: Source, reference: date,
                memo: ValueMemo | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Return (typed frame, reason per row: <NA> when the row parsed cleanly).

    `memo`: personnummer decisions for this reference date from earlier files of the run."""
    n = len(raw)
    reason = np.full(n, None, dtype=object)
    decided = np.zeros(n, dtype=bool)
    out: dict[str, object] = {}
    ref = np.datetime64(pd.Timestamp(reference).to_datetime64(), "ns")

    def flag(mask: np.ndarray, code: str) -> None:
        new = mask & ~decided
        reason[new] = code
        decided[new] = True

    for col in source.columns:
        values = _Distinct(raw[col.name])
        blank = values.blank
        if col.required:
            flag(blank, "saknat_varde")
        if col.kind == "pnr":
            norm = normalize_uniques(values.distinct, reference, memo)
            flag(values.rows(norm.is_null().to_numpy(zero_copy_only=False), True) & ~blank,
                 "ogiltigt_personnummer")
            out[col.name] = values.strings(norm, raw.index)
        elif col.kind == "date":
            d, bad = _dates(values, raw.index)
            flag(bad & ~blank, "ogiltigt_format")
            if col.name in NOT_FUTURE:
                flag((d > ref).to_numpy(dtype=bool), "orimligt_varde")
            out[col.name] = d
        elif col.kind == "int":
            text = values.stripped
            if col.name == "arskurs":
                # Förskoleklass is årskurs 0; school systems often write it "F" or "FK".
                fk = {"F": "0", "FK": "0", "f": "0", "fk": "0"}
                text = np.array([fk.get(t, t) for t in text], dtype=object)
            ints, bad = _amounts(values, text)
            flag(bad, "ogiltigt_format")
            # The contract's bounds bind here, also where the pandera model has none.
            if col.min_value is not None:
                flag((ints < col.min_value).to_numpy(dtype=bool, na_value=False),
                     "orimligt_varde")
            if col.max_value is not None:
                flag((ints > col.max_value).to_numpy(dtype=bool, na_value=False),
                     "orimligt_varde")
            out[col.name] = pd.Series(ints, index=raw.index)
        elif col.kind == "flag":
            upper = pd.Series(values.stripped, dtype="string").str.upper()
            ok = upper.isin(["J", "JA", "N", "NEJ"]).to_numpy(dtype=bool)
            flag(~(blank | values.rows(ok, False)), "okand_kod")
            yes = upper.isin(["J", "JA"]).to_numpy(dtype=bool)
            out[col.name] = pd.Series(values.rows(yes, False), index=raw.index)
        elif col.kind in ("code4", "code8", "month", "term"):
            pattern = {"code4": r"\d{4}", "code8": r"\d{8}", "month": r"\d{4}-(0[1-9]|1[0-2])",
                       "term": r"(HT|VT)\d{4}"}[col.kind]
            v = pd.Series(values.stripped, dtype="string")
            v = v.str.upper() if col.kind == "term" else v
            ok = v.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
            flag(~values.rows(ok, False) & ~blank, "ogiltigt_format")
            out[col.name] = values.strings(v.mask(v == "", pd.NA), raw.index)
        else:
            v = pd.Series(values.stripped, dtype="string")
            if col.codes:
                # Codes match regardless of case ("Kommunal", "gr"); the canonical spelling
                # is kept, and anything else is left for pandera to call okand_kod.
                canonical = {c.lower(): c for c in col.codes}
                v = v.str.lower().map(canonical).fillna(v).astype("string")
            out[col.name] = values.strings(v.mask(values.stripped == "", pd.NA), raw.index)
    return (pd.DataFrame(out, index=raw.index),
            pd.Series(reason, index=raw.index, dtype="string"))
