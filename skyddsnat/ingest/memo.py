"""Personnummer decisions remembered across the files of one run, in memory only.

A backfill reads a year of attendance files, and a night seventeen invoice months, naming
the same people again and again; normalising and HMAC-hashing each number once per run
instead of once per file is most of what ingesting a day file costs, and each file's values
are looked up in Arrow (value_memo.py). The memo holds plaintext numbers, so it is never
written anywhere and lives as long as the run's process.
"""

from __future__ import annotations

from datetime import date

from skyddsnat.value_memo import ValueMemo


class PnrMemo:
    """Raw value → 12-digit form, 12-digit form → pseudonym, and a written birth date and
    form → the first later night it may read otherwise, for one date and key."""

    def __init__(self) -> None:
        self._scope: tuple[date, bytes] | None = None
        self.normalized = ValueMemo()  # stripped raw value -> 12-digit form, or null
        self.pseudonyms = ValueMemo()  # 12-digit form -> pseudonym
        self.changes = ValueMemo()  # number without its last four digits -> ISO date, or null

    def scoped(self, reference: date, key: bytes) -> PnrMemo:
        """Forget everything when the reference date (10-digit centuries) or key changes."""
        if self._scope != (reference, key):
            self._scope = (reference, key)
            self.normalized, self.pseudonyms = ValueMemo(), ValueMemo()
            self.changes = ValueMemo()
        return self
