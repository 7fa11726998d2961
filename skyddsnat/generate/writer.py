"""CSV writing the way the exporting systems do it: `;`, a header, and each file's own
encoding (Windows-1252 with CRLF, UTF-8, or UTF-8 with a BOM).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class FileInfo:
    rows: int
    encoding: str  # "cp1252", "utf-8" or "utf-8-sig" (with BOM)

    @property
    def bom(self) -> bool:
        return self.encoding == "utf-8-sig"


def write_csv(path: Path, df: pd.DataFrame, encoding: str = "utf-8") -> FileInfo:
    """Write text columns as given; missing values become empty fields."""
    newline = "\r\n" if encoding == "cp1252" else "\n"
    df.to_csv(path, sep=";", index=False, encoding=encoding, lineterminator=newline, na_rep="")
    return FileInfo(len(df), encoding)


def ymd(values) -> pd.Series:
    """Dates as YYYY-MM-DD text, blank where missing."""
    s = pd.to_datetime(pd.Series(values).reset_index(drop=True))
    return s.dt.strftime("%Y-%m-%d").fillna("")


def kronor(values, decimal_comma=None) -> pd.Series:
    """Whole kronor as text, blank where missing; optionally '31250,00' style."""
    s = pd.Series(values).reset_index(drop=True)
    text = s.round().astype("Int64").astype("string").fillna("")
    if decimal_comma is not None:
        dc = pd.Series(decimal_comma).reset_index(drop=True) & (text != "")
        text = text.where(~dc, text + ",00")
    return text.astype(object)
