"""Keyed pseudonyms: HMAC-SHA256 of the normalised personnummer, hashed once per unique value.

Per-value Python overhead dominates at register scale, so unique values are hashed with
`hmac.digest` and mapped back vectorised. The pseudonym is 128 bits of hex, enough to make
collisions negligible for any municipality, and carries no key id: rotating the HMAC key is
a deliberate re-pseudonymisation, not a rewrap (see README).

After a rotation (`skyddsnat.rotation`) the key is a chain: the pseudonym is HMAC under the
first key, then HMAC of that pseudonym under each later key. Composing keyed hashes needs no
plaintext, so stored pseudonyms of persons the host cannot read (sealed) can be re-keyed,
and no stored pseudonym is computable from an earlier key alone.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pyarrow as pa

from skyddsnat.value_memo import TEXT, ValueMemo, arrow_text, text_series

PSEUDONYM_HEX = 32


PseudonymKey = bytes | tuple[bytes, ...]  # one key, or a chain (oldest first)


def _chain(key: PseudonymKey) -> tuple[bytes, ...]:
    return (key,) if isinstance(key, bytes) else tuple(key)


def pseudonym(key: PseudonymKey, pnr12: str) -> str:
    """The pseudonym of one normalised personnummer: HMAC-SHA256 (through each key of a
    rotated chain, oldest first), 128 bits as hex. The one rule: the batch path calls it."""
    value = pnr12
    for k in _chain(key):
        value = hmac.digest(k, value.encode(), hashlib.sha256).hex()[:PSEUDONYM_HEX]
    return value


def pseudonymize_series(key: PseudonymKey, pnr12: pd.Series,
                        memo: ValueMemo | None = None) -> pd.Series:
    """Map a Series of 12-digit numbers (NA allowed) to pseudonyms, hashing each value once.

    `memo` (number -> pseudonym under this key) carries hashes from one file of a run to the
    next; it lives in memory only, for one run."""
    memo = ValueMemo() if memo is None else memo
    ids = memo.lookup(arrow_text(pnr12), lambda todo: pa.array(
        [pseudonym(key, u) for u in todo.to_pylist()], type=TEXT))  # the one rule
    return text_series(ids, pnr12.index)


def case_id(key: bytes, person_id: str, list_name: str) -> str:
    """A stable, short case id per person and list (same person, same list -> same id)."""
    mac = hmac.digest(key, f"arende|{list_name}|{person_id}".encode(), hashlib.sha256)
    return mac.hex()[:10].upper()


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 1],
                dtype=np.uint64)


def _pseudonym_words(ids: pd.Series) -> np.ndarray | None:
    """The ids' bytes as rows of four uint64 words, when every id is a 32-byte string
    (what `pseudonym` makes); else None."""
    if len(ids) == 0 or ids.isna().any():
        return None
    arr = pa.array(ids.array, type=pa.large_string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    if not (np.diff(offsets) == PSEUDONYM_HEX).all():
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.copy().view(np.uint64).reshape(len(arr), 4)


def number_pseudonyms(*columns: pd.Series) -> tuple[list[np.ndarray], int]:
    """One numbering (0…n-1) of the values of several pseudonym columns; NA is -1.

    Pseudonyms are fixed-width hex, so each is four machine words, mixed into one uint64 and
    numbered in an integer hash table instead of a string one; the numbering is then checked
    word by word, and any mismatch (a mix collision) or a value of another shape falls back
    to numbering the strings themselves. Either way the result is exact."""
    lengths = [len(c) for c in columns]
    joined = pd.concat([c.astype("string") for c in columns], ignore_index=True)
    words = _pseudonym_words(joined)
    codes = None
    if words is not None:
        mixed = (words * _MIX).sum(axis=1, dtype=np.uint64)
        codes, uniques = pd.factorize(mixed)
        first = np.empty(len(uniques), dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
        if not (words[first[codes]] == words).all():
            codes = None
    if codes is None:
        codes, uniques = pd.factorize(joined, use_na_sentinel=True)
    bounds = np.cumsum([0, *lengths])
    return [codes[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], len(uniques)
