"""Keyed pseudonyms: HMAC-SHA256 of the normalised personnummer, hashed once per unique value.

Per-value Python overhead dominates at register scale, so unique values are hashed with
`hmac.digest` and mapped back vectorised. The pseudonym is 128 bits of hex, enough to make
collisions negligible for any municipality, and carries no key id: rotating the HMAC key is
a deliberate re-pseudonymisation, not a rewrap (see README).
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd

PSEUDONYM_HEX = 32


def pseudonym(key: bytes, pnr12: str) -> str:
    return hmac.digest(key, pnr12.encode(), hashlib.sha256).hex()[:PSEUDONYM_HEX]


def pseudonymize_series(key: bytes, pnr12: pd.Series,
                        memo: dict[str, str] | None = None) -> pd.Series:
    """Map a Series of 12-digit numbers (NA allowed) to pseudonyms, hashing each value once.

    `memo` (number → pseudonym under this key) carries hashes from one file of a run to the
    next; it lives in memory only, for one run."""
    codes, uniques = pd.factorize(pnr12, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)  # iterating a StringArray is ~10x slower
    memo = {} if memo is None else memo
    hashed = [memo.get(u) for u in uniques]
    todo = [u for u, h in zip(uniques, hashed, strict=True) if h is None]
    if todo:
        digest, sha = hmac.digest, hashlib.sha256
        for u in todo:
            memo[u] = digest(key, u.encode(), sha).hex()[:PSEUDONYM_HEX]
        hashed = [memo[u] for u in uniques]
    lookup = pd.array(hashed, dtype="string")
    return pd.Series(lookup.take(codes, allow_fill=True), index=pnr12.index, dtype="string")


def case_id(key: bytes, person_id: str, list_name: str) -> str:
    """A stable, short case id per person and list (same person, same list -> same id)."""
    mac = hmac.digest(key, f"arende|{list_name}|{person_id}".encode(), hashlib.sha256)
    return mac.hex()[:10].upper()
