"""Vault retention: a person absent from every source longer than the policy allows is purged.

The vault keeps an identity only while some source still names the person. Each merge
records, per pseudonym, the last reference date on which a source table named them
(`state/valv_senast_sedd.parquet`: pseudonym and date only); a person not named for more
than `gallring.valv_dagar` days is removed from the AES vault and the sealed store, and the
purge is audited (how many, the cut-off — no pseudonym). A person last seen exactly
`valv_dagar` days ago is kept. Someone who comes back is staged again like anyone new
(the row cache re-reads rows naming a person the vault no longer holds).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.identity_store import SEALED_FILE, STAGING, VAULT_FILE, vault_person_ids
from skyddsnat.privacy.storage import write_arrow, write_parquet

SEEN_FILE = "valv_senast_sedd.parquet"
EVENT = "valv_gallring"


def named_in(tables: list[Path], columns: set[str]) -> pa.Array:
    """Every pseudonym in the given columns of the given source tables (distinct)."""
    parts = []
    for path in (p for p in tables if p.exists()):
        schema = pq.read_schema(path)
        cols = [c for c in schema.names if c in columns]
        if cols:
            t = pq.read_table(path, columns=cols)
            parts.extend(c.cast(pa.string()) for c in t.columns)
    if not parts:
        return pa.array([], type=pa.string())
    return pc.unique(pc.drop_null(pa.chunked_array(parts, type=pa.string())))


SEEN_SCHEMA = pa.schema([("person_id", pa.string()), ("senast_sedd", pa.timestamp("ns"))])


def _load_seen(path: Path) -> pa.Table:
    if path.exists():
        return pq.read_table(path).select(SEEN_SCHEMA.names).cast(SEEN_SCHEMA)
    return SEEN_SCHEMA.empty_table()


def purge_absent(vault_dir: Path, state_dir: Path, audit: AuditLog, present: pa.Array,
                 as_of: date, retention_days: int) -> int:
    """Record who the sources name tonight; purge who has been absent too long.

    Returns how many persons were purged. Idempotent for a date: a re-run purges nothing
    more (and audits nothing more) than the first run did. In Arrow throughout: the
    register names every person of the municipality every night.
    """
    vault_dir, state_dir = Path(vault_dir), Path(state_dir)
    day = pa.scalar(pd.Timestamp(as_of), type=pa.timestamp("ns"))
    seen = _load_seen(state_dir / SEEN_FILE)
    present = pc.unique(pc.drop_null(present))
    # Persons the vault holds with no record yet start their clock now.
    candidates = pc.unique(pa.chunked_array([vault_person_ids(vault_dir), present],
                                            type=pa.string()))
    new = candidates.filter(pc.invert(pc.is_in(candidates, seen.column("person_id"))))
    if len(new):
        seen = pa.concat_tables([seen, pa.table(
            {"person_id": new, "senast_sedd": pa.repeat(day, len(new))}, schema=SEEN_SCHEMA)])
    named = pc.is_in(seen.column("person_id"), present)
    last = seen.column("senast_sedd")
    last = pc.if_else(pc.and_(named, pc.less(last, day)), day, last)
    cutoff = pd.Timestamp(as_of) - timedelta(days=retention_days)
    expired = pc.less(last, pa.scalar(cutoff, type=pa.timestamp("ns")))
    gone = set(seen.column("person_id").filter(expired).to_pylist())
    if gone:
        for name in (VAULT_FILE, SEALED_FILE):
            path = vault_dir / name
            if path.exists():
                table = pd.read_parquet(path)
                write_parquet(table[~table["person_id"].isin(gone)].reset_index(drop=True),
                              path)
        for path in (vault_dir / STAGING).glob("*.parquet"):
            table = pd.read_parquet(path)
            write_parquet(table[~table["person_id"].isin(gone)].reset_index(drop=True), path)
        key = f"{EVENT}:{as_of.isoformat()}"
        if not audit.has(EVENT, key):
            audit.append(EVENT, {"as_of": as_of.isoformat(), "antal": len(gone),
                                 "senast_sedd_fore": cutoff.date().isoformat(),
                                 "valv_dagar": retention_days}, key)
    kept = pa.table({"person_id": seen.column("person_id"), "senast_sedd": last},
                    schema=SEEN_SCHEMA).filter(pc.invert(expired))
    kept = kept.take(pc.sort_indices(kept, [("person_id", "ascending")]))
    write_arrow(kept, state_dir / SEEN_FILE)
    return len(gone)
