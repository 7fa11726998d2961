"""Row-incremental ingest of snapshots: a row accepted last night is not parsed again.

A snapshot (folkbokföring, elevregister, …) arrives whole every night but differs from the
last one in a few rows. Each raw row gets a keyed 128-bit BLAKE2b digest; a row whose digest
was accepted last time reuses its stored pseudonymous row, and only new or changed rows are
parsed, pseudonymised and checked. Only their identities are staged for the vault: an
unchanged row's identity is already there.

The digest key is derived from the pseudonym key, so a stored digest of a row holding a name
and a personnummer cannot be recomputed, or guessed at, without the key. A 10-digit
personnummer (YYMMDD-NNNC, as most exports write them) depends on the reference date only
through the century decided at it (`personnummer.decided_century`), which changes only on
the 100-year boundary: the digest binds that century, not the date, so an unchanged row is
reused night after night and parsed again exactly when its century would change. Every
other rule that reads the reference date (dates and 12-digit birth dates not in the
future) can only turn a row from refused to accepted as the date moves on, so a cache is
used only for nights on or after its own (`usable_on`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skyddsnat.personnummer import InvalidPersonnummer, decided_century

DIGEST = "rad_digest"
# Bump when parsing changes in a way the policy version does not capture.
FORMAT = b"radcache/2"


def digest_key(pseudonym_key: bytes) -> bytes:
    return hmac.digest(pseudonym_key, b"skyddsnat/" + FORMAT, hashlib.sha256)


# Values of only these characters: Python's strip() removes nothing of them that removing
# every space does not (the only whitespace among them is the space itself).
_PLAIN = r"^[0-9+\- ]*$"


def row_digester(key: bytes, reference: date, pnr_columns: tuple[str, ...]):
    """For a file's header: the function from its raw columns (Arrow strings in header
    order, no nulls) to each row's digest. Only the keyed hash runs per row in Python."""
    blake = hashlib.blake2b
    centuries: dict[str, str] = {}  # YYMMDD, '+' appended when written -> century

    def century(head: str) -> str:
        if head not in centuries:
            try:
                centuries[head] = decided_century(head[:6], head[6:] == "+", reference)
            except (InvalidPersonnummer, ValueError):  # refused whatever the date
                centuries[head] = "-"
        return centuries[head]

    def written(raw: str) -> str | None:
        """The number as personnummer.normalize reads it, when no century is written."""
        value = raw.strip().replace(" ", "")
        if len(value) in (10, 11):  # no century written: the reference decides it
            return value[:6] + ("+" if len(value) == 11 and value[6] == "+" else "")
        return None

    def decided(column: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Per row: "\x1e" and the decided century (or only "\x1e"), and whether one was."""
        plain = pc.match_substring_regex(column, _PLAIN)
        value = pc.replace_substring(column, " ", "")
        n = pc.utf8_length(value)
        plus = pc.and_(pc.equal(n, 11), pc.equal(pc.utf8_slice_codeunits(value, 6, 7), "+"))
        six = pc.utf8_slice_codeunits(value, 0, 6)
        head = pc.if_else(plus, pc.binary_join_element_wise(six, "+", ""), six)
        head = pc.if_else(pc.or_(pc.equal(n, 10), pc.equal(n, 11)), head,
                          pa.scalar(None, pa.string()))
        odd = pc.invert(plain)
        if pc.any(odd).as_py():  # anything else is read as Python reads it
            head = pc.replace_with_mask(head, odd, pa.array(
                [written(v) for v in column.filter(odd).to_pylist()], pa.string()))
        heads = pc.unique(head.drop_null())
        centuries = pa.array(["\x1e" + century(h) for h in heads.to_pylist()], pa.string())
        return (pc.fill_null(pc.take(centuries, pc.index_in(head, heads)), "\x1e"),
                pc.is_valid(head))

    def for_header(header: list[str]):
        positions = [i for i, name in enumerate(header) if name in pnr_columns]

        def digests(columns: list) -> list[str]:
            columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c
                       for c in columns]
            text = pc.binary_join_element_wise(*columns, "\x1f")
            if positions:
                parts = [decided(columns[i]) for i in positions]
                suffix = pc.binary_join_element_wise(*[s for s, _ in parts], "")
                any_decided = parts[0][1]
                for _, d in parts[1:]:
                    any_decided = pc.or_(any_decided, d)
                text = pc.if_else(any_decided, pc.binary_join_element_wise(text, suffix, ""),
                                  text)
            return [blake(t, digest_size=16, key=key).hexdigest()
                    for t in text.cast(pa.binary()).to_pylist()]

        return digests

    return for_header


@dataclass
class RowCache:
    """Last night's row-wise valid rows (pseudonymous), keyed by their raw row's digest."""

    key: bytes
    rows: pd.DataFrame | None = None  # DIGEST + the source model's columns
    # The accepted table these rows were, and its validation (caches.py remembers both).
    fingerprint: str | None = None
    checked: dict | None = None
    # The first night after theirs on which a number of that night's rows may read otherwise
    # (caches.py keeps it; `horizon` False when not kept): a reused row reads the same until.
    stable_until: date | None = None
    horizon: bool = False

    def validated_as(self, tonight: pd.DataFrame | None) -> dict | None:
        """Last night's validation, when tonight's accepted rows are last night's, row for
        row in the same order: equal digests read alike on a later night (row_cache.py),
        so the table is the one validated then."""
        if tonight is None or self.checked is None or self.fingerprint != fingerprint(tonight):
            return None
        return {**self.checked, "validated_rows": 0, "reused_rows": len(tonight)}

    def match(self, digests: np.ndarray, index: pd.Index) -> tuple[pd.DataFrame, np.ndarray]:
        """Stored rows for the digests seen before (indexed like `index`), and the hit mask."""
        if self.rows is None or self.rows.empty or len(digests) == 0:
            return pd.DataFrame(), np.zeros(len(digests), dtype=bool)
        known = self.rows.drop_duplicates(DIGEST)
        pos = pd.Index(known[DIGEST]).get_indexer(pd.Index(digests, dtype=object))
        hit = pos >= 0
        reused = known.iloc[pos[hit]].drop(columns=DIGEST)
        reused.index = index[hit]
        return reused, hit

    @staticmethod
    def table(valid: pd.DataFrame, digests: pd.Series) -> pd.DataFrame:
        """What to keep for tomorrow: every row-wise valid row with its digest."""
        return valid.assign(**{DIGEST: digests.reindex(valid.index).to_numpy()}).reset_index(
            drop=True)


def fingerprint(rows: pd.DataFrame) -> str:
    """The accepted table's identity: its rows' digests in order."""
    return hashlib.blake2b("\n".join(rows[DIGEST]).encode(), digest_size=16).hexdigest()
