"""Last line of defence before anything is stored: tables must be pseudonymous.

Every stored table passes through `assert_pseudonymous`: no identity column, and no string
value shaped like a personnummer. It raises without echoing what it found.
"""

from __future__ import annotations

import pandas as pd

from skyddsnat.contract import IDENTITY_FIELDS

PNR_SHAPE = r"(?:19|20)?\d{6}[-+]?\d{4}"


class PlaintextLeak(RuntimeError):
    """A table about to be stored holds identifiers in plaintext."""


def assert_pseudonymous(frame: pd.DataFrame, name: str) -> None:
    bad_cols = [c for c in frame.columns if str(c).lower() in IDENTITY_FIELDS]
    if bad_cols:
        raise PlaintextLeak(f"{name}: identitetskolumn får inte lagras ({', '.join(bad_cols)})")
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            distinct = pd.Series(pd.unique(s.dropna().astype("string")), dtype="string")
            hits = distinct.str.fullmatch(PNR_SHAPE).fillna(False)
            if bool(hits.any()):
                raise PlaintextLeak(f"{name}: kolumnen {col} innehåller något som liknar "
                                    "personnummer")
