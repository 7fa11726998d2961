"""Last line of defence before anything is stored: tables must be pseudonymous.

Every stored table passes through `assert_pseudonymous`: no identity column, and no string
value shaped like a personnummer. It raises without echoing what it found.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skyddsnat.contract import IDENTITY_FIELDS

PNR_SHAPE = r"(?:19|20)?\d{6}[-+]?\d{4}"
# The same shape for RE2 (pyarrow), run over whole columns in C++: \p{Nd} is what Python's
# \d matches in a str pattern (any Unicode decimal digit).
_PNR_RE2 = r"^(?:19|20)?\p{Nd}{6}[-+]?\p{Nd}{4}$"


class PlaintextLeak(RuntimeError):
    """A table about to be stored holds identifiers in plaintext."""


def assert_pseudonymous(frame: pd.DataFrame, name: str) -> None:
    bad_cols = [c for c in frame.columns if str(c).lower() in IDENTITY_FIELDS]
    if bad_cols:
        raise PlaintextLeak(f"{name}: identitetskolumn får inte lagras ({', '.join(bad_cols)})")
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            values = pa.array(s.dropna().astype("string").array, type=pa.large_string())
            if pc.any(pc.match_substring_regex(values, _PNR_RE2)).as_py():
                raise PlaintextLeak(f"{name}: kolumnen {col} innehåller något som liknar "
                                    "personnummer")
