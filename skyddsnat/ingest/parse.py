"""Typed parsing of raw string columns, with one quarantine reason per bad row.

Reason codes (DESIGN.md): ogiltigt_personnummer, saknat_varde, ogiltigt_format,
orimligt_varde, okand_kod, dubblett, fel_antal_falt. The first failing column decides.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from skyddsnat.contract import Source
from skyddsnat.personnummer import normalize_series

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
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if len(uniques) * 2 > len(s):
        return _parse_amount_values(s)
    values, bad = _parse_amount_values(pd.Series(uniques, dtype=s.dtype))
    taken = pd.array(values, dtype="Int64").take(codes, allow_fill=True)
    bad_rows = np.where(codes >= 0, bad.to_numpy(dtype=bool)[codes], False)
    return taken, pd.Series(bad_rows, index=s.index)


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


def parse_frame(raw: pd.DataFrame, source: Source, reference: date,
                memo: dict[str, object] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Return (typed frame, reason per row: <NA> when the row parsed cleanly).

    `memo`: personnummer decisions for this reference date from earlier files of the run."""
    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    out: dict[str, object] = {}
    ref = pd.Timestamp(reference)

    def flag(mask: pd.Series, code: str) -> None:
        nonlocal reason
        reason = reason.mask(mask.fillna(False).astype(bool) & reason.isna(), code)

    for col in source.columns:
        s = raw[col.name]
        blank = _blank(s)
        if col.required:
            flag(blank, "saknat_varde")
        if col.kind == "pnr":
            norm = normalize_series(s, reference, memo)
            flag(norm.isna() & ~blank, "ogiltigt_personnummer")
            out[col.name] = norm
        elif col.kind == "date":
            d = pd.to_datetime(s.str.strip(), format="%Y-%m-%d", errors="coerce")
            flag(d.isna() & ~blank, "ogiltigt_format")
            if col.name in NOT_FUTURE:
                flag(d > ref, "orimligt_varde")
            out[col.name] = d
        elif col.kind == "int":
            if col.name == "arskurs":
                # Förskoleklass is årskurs 0; school systems often write it "F" or "FK".
                s = s.str.strip().replace({"F": "0", "FK": "0", "f": "0", "fk": "0"})
            values, bad = parse_amount(s)
            flag(bad, "ogiltigt_format")
            # The contract's bounds bind here, also where the pandera model has none.
            if col.min_value is not None:
                flag(pd.Series(values < col.min_value, index=raw.index), "orimligt_varde")
            if col.max_value is not None:
                flag(pd.Series(values > col.max_value, index=raw.index), "orimligt_varde")
            out[col.name] = values
        elif col.kind == "flag":
            v = s.str.strip().str.upper()
            ok = blank | v.isin(["J", "JA", "N", "NEJ"])
            flag(~ok, "okand_kod")
            out[col.name] = v.isin(["J", "JA"]).fillna(False).astype(bool)
        elif col.kind in ("code4", "code8", "month", "term"):
            pattern = {"code4": r"\d{4}", "code8": r"\d{8}", "month": r"\d{4}-(0[1-9]|1[0-2])",
                       "term": r"(HT|VT)\d{4}"}[col.kind]
            v = s.str.strip()
            v = v.str.upper() if col.kind == "term" else v
            flag(~v.str.fullmatch(pattern).fillna(False) & ~blank, "ogiltigt_format")
            out[col.name] = v.mask(blank, pd.NA).astype("string")
        else:
            v = s.str.strip()
            if col.codes:
                # Codes match regardless of case ("Kommunal", "gr"); the canonical spelling
                # is kept, and anything else is left for pandera to call okand_kod.
                canonical = {c.lower(): c for c in col.codes}
                v = v.str.lower().map(canonical).fillna(v).astype("string")
            out[col.name] = v.mask(blank, pd.NA).astype("string")
    return pd.DataFrame(out, index=raw.index), reason
