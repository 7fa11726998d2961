"""The vault on disk: staged identities from each source, merged into one record per person.

Source assets stage their plaintext identities encrypted (AES-GCM) under vault/staging/.
The vault step merges them (folkbokföring first: it has names and addresses), seals every
protected person's record with HPKE to the officer and removes it from the AES vault, so
after the step the pipeline host can no longer read any protected identity.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skyddsnat.arrow_strings import isin
from skyddsnat.privacy.keys import Keys
from skyddsnat.privacy.seal import seal_identities
from skyddsnat.privacy.storage import write_parquet
from skyddsnat.privacy.vault import (
    VAULT_COLUMNS,
    VAULT_SCHEMA,
    VaultTampered,
    decrypt_batch,
    decrypt_identities,
    encrypt_batch,
    encrypt_records,
    rewrap,
)
from skyddsnat.value_memo import arrow_text

VAULT_FILE = "identiteter.parquet"
SEALED_FILE = "skyddade_identiteter.parquet"
STAGING = "staging"
PRECEDENCE = ("folkbokforing", "elevregister", "avgifter", "inkomster", "skolpliktsbeslut",
              "atgardsprogram", "betyg", "franvaroarenden", "narvaro")


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if path.exists():
        return pd.read_parquet(path)
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


# --- staging: one AEAD per staged batch -----------------------------------------------------
#
# A staging file holds one row per batch a source staged since the last merge: the
# batch's pseudonyms in the clear (the vault holds them from now on, for the caches'
# look-ups; the warehouse has them anyway) and the batch itself as one ciphertext
# (vault.encrypt_batch, bound to "staging/<source>" and the key id). A staging file
# written before batches (one row per person: VAULT_COLUMNS) still reads.

STAGED_SCHEMA = pa.schema([("personer", pa.list_(pa.string())), ("key_id", pa.string()),
                           ("nonce", pa.binary()), ("ct", pa.binary())])


def _label(path: Path) -> str:
    return f"{STAGING}/{Path(path).stem}"


def _text_table(identities: pd.DataFrame | pa.Table) -> pa.Table:
    """The identities as Arrow text columns, person_id first (vault fields are text)."""
    table = (identities if isinstance(identities, pa.Table)
             else pa.Table.from_pandas(identities, preserve_index=False))
    names = ["person_id", *(n for n in table.column_names if n != "person_id")]
    columns = []
    for name in names:
        column = table.column(name)
        if column.null_count == len(column):  # nothing given (pandas may say float)
            column = pa.nulls(len(column), pa.string())
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                or pa.types.is_null(column.type)):
            raise TypeError(f"identitetsfältet {name} är inte text")
        columns.append(column.cast(pa.string()))
    return pa.table(columns, names=names)


def _batch_row(keys: Keys, path: Path, table: pa.Table) -> pa.Table:
    key_id, nonce, ct = encrypt_batch(keys, table, _label(path))
    ids = table.column("person_id").combine_chunks()
    return pa.table([pa.ListArray.from_arrays(pa.array([0, len(ids)], pa.int32()), ids),
                     pa.array([key_id], pa.string()), pa.array([nonce], pa.binary()),
                     pa.array([ct], pa.binary())], schema=STAGED_SCHEMA)


def _is_batched(path: Path) -> bool:
    return "personer" in pq.read_schema(path).names


def staged_batches(keys: Keys, path: Path) -> list[pa.Table]:
    """A staging file's batches, decrypted, oldest first; VaultTampered if a batch fails
    authentication or does not hold exactly the persons its row names."""
    if not _is_batched(path):  # one record per row (before batches): one batch
        return [_text_table(decrypt_identities(keys, pd.read_parquet(path)))]
    rows = pq.read_table(path).cast(STAGED_SCHEMA)
    named = rows.column("personer").combine_chunks()
    batches = []
    for i, (key_id, nonce, ct) in enumerate(zip(*(rows.column(n).to_pylist()
                                                  for n in ("key_id", "nonce", "ct")),
                                                strict=True)):
        table = decrypt_batch(keys, key_id, nonce, ct, _label(path))
        if ("person_id" not in table.column_names or named[i].values is None
                or not table.column("person_id").combine_chunks().equals(named[i].values)):
            raise VaultTampered("ett parti i identitetsvalvet stämmer inte med sina personer")
        batches.append(table)
    return batches


def _write_staged(keys: Keys, path: Path, batches: list[pa.Table], out: Path) -> None:
    """Write a staging file's batches to `out`, each encrypted under the active key."""
    rows = [_batch_row(keys, path, b) for b in batches if b.num_rows]
    _write_table(pa.concat_tables(rows) if rows else STAGED_SCHEMA.empty_table(), out)


def staged_count(path: Path) -> int:
    """How many records a staging file holds (from the pseudonyms, nothing decrypted)."""
    if not _is_batched(path):
        return pq.read_metadata(path).num_rows
    named = pq.read_table(path, columns=["personer"]).column("personer")
    return int(pc.sum(pc.list_value_length(named)).as_py() or 0)


def _staged_identities(keys: Keys, path: Path) -> pa.Table:
    """What a staging file stages: one batch as it is; several as their concatenation with
    a person's latest record replacing earlier ones whole (as staging did row by row)."""
    batches = staged_batches(keys, path)
    if len(batches) <= 1:
        return batches[0] if batches else pa.table({"person_id": pa.array([], pa.string())})
    table = pa.concat_tables(batches, promote_options="default")
    latest = table.append_column("_rad", pa.array(range(table.num_rows), pa.int64())) \
        .group_by("person_id", use_threads=False).aggregate([("_rad", "max")])
    rows = latest.column("_rad_max")
    return table.take(rows.take(pc.sort_indices(rows)))  # in staging order


def stage_identities(keys: Keys, vault_dir: Path, source: str, identities: pd.DataFrame) -> int:
    """Encrypt a source's new identities into its staging file, as one batch.

    Staging accumulates until the vault step merges it: sources stage only what is new since
    their last ingest, so a night whose merge never ran must not be overwritten by the next.
    Earlier batches are kept as they are (their ciphertext is not opened).
    """
    target = Path(vault_dir) / STAGING / f"{source}.parquet"
    batch = _batch_row(keys, target, _text_table(identities))
    if target.exists():
        earlier = (pq.read_table(target).cast(STAGED_SCHEMA) if _is_batched(target)
                   else pa.concat_tables([_batch_row(keys, target, b)
                                          for b in staged_batches(keys, target)]))
        batch = pa.concat_tables([earlier, batch])
    _write_table(batch, target)
    return len(identities)


def restage(keys: Keys, path: Path, change=None, out: Path | None = None) -> int:
    """Write a staging file again (to `out`, by default in place) with `change` applied to
    each batch (a table to a table), every batch encrypted anew under the active key (a
    file from before batches becomes one batch); returns the records written."""
    batches = [change(b) if change else b for b in staged_batches(keys, path)]
    _write_staged(keys, path, batches, Path(out or path))
    return sum(b.num_rows for b in batches)


def drop_staged(keys: Keys, vault_dir: Path, gone: pa.Array) -> None:
    """Erase persons from staging: each file naming one is opened and written without."""
    for path in sorted((Path(vault_dir) / STAGING).glob("*.parquet")):
        if pc.any(pc.is_in(_person_ids(str(path), *file_version(path)), gone)).as_py():
            left = restage(keys, path, lambda b: b.filter(
                pc.invert(pc.is_in(b.column("person_id"), gone))))
            if not left:
                path.unlink()


# --- merge ------------------------------------------------------------------------------------


def _first_per_person(tables: list[pa.Table]) -> pa.Table:
    """One row per person: each field's first non-missing value in table order
    (folkbokföring first; a source without the field leaves it to the next).

    Column by column over the union of persons, numbered once for all tables (a take and
    a coalesce per table and field), rather than one grouping of every staged row: a
    backfill stages a million. Persons in order of first appearance."""
    tables = [t.filter(pc.is_valid(t.column("person_id"))) for t in tables]
    if not tables:
        return pa.table({"person_id": pa.array([], pa.string())})
    encoded = pc.dictionary_encode(pa.chunked_array(
        [t.column("person_id") for t in tables], type=pa.string()).combine_chunks())
    everyone, codes = encoded.dictionary, encoded.indices.to_numpy()
    fields = list(dict.fromkeys(n for t in tables for n in t.column_names if n != "person_id"))
    columns = {f: pa.nulls(len(everyone), pa.string()) for f in fields}
    start = 0
    for table in tables:
        here, start = codes[start:start + table.num_rows], start + table.num_rows
        row = np.full(len(everyone), -1, dtype=np.int64)
        row[here] = np.arange(table.num_rows)
        if np.count_nonzero(row >= 0) < table.num_rows:  # a person twice in one table
            table = _first_per_row_group(table)
            row[:] = -1
            row[pc.index_in(table.column("person_id"), everyone).to_numpy()] = np.arange(
                table.num_rows)
        rows = pa.array(row, mask=row < 0)
        for f in table.column_names:
            if f != "person_id":
                columns[f] = pc.coalesce(columns[f], table.column(f).take(rows))
    return pa.table({"person_id": everyone, **columns})


def _first_per_row_group(table: pa.Table) -> pa.Table:
    """A table with a person on several rows: one row each, each field's first value."""
    fields = [n for n in table.column_names if n != "person_id"]
    first = table.group_by("person_id", use_threads=False).aggregate(
        [(f, "first") for f in fields])
    return first.select(["person_id", *(f"{f}_first" for f in fields)]).rename_columns(
        ["person_id", *fields])


def merge_vault(keys: Keys, vault_dir: Path, protected: pd.Series) -> dict[str, int]:
    """Fold staged identities into the vault; seal protected persons; drop the staging.

    Only the records that can change are decrypted: persons staged tonight, protected persons
    still in the AES vault (to be sealed) and records under a retired key (to be rewrapped).
    Every other ciphertext is kept as it is, so a night costs what changed, not the register.
    In Arrow throughout: a backfill stages every person of the municipality several times.
    """
    vault_dir = Path(vault_dir)
    staged_paths = sorted((vault_dir / STAGING).glob("*.parquet"),
                          key=lambda p: PRECEDENCE.index(p.stem) if p.stem in PRECEDENCE else 99)
    frames = [_staged_identities(keys, p) for p in staged_paths]
    protected = pc.unique(arrow_text(protected, pa.string()))
    path = vault_dir / VAULT_FILE
    held = _vault_table(path, ["person_id", "key_id"])
    touched = pc.not_equal(held.column("key_id"), keys.vault_active)
    for ids in [protected, *(f.column("person_id") for f in frames)] if held.num_rows else []:
        touched = pc.or_(touched, pc.is_in(held.column("person_id"), ids))
    n_touched = pc.sum(touched).as_py() or 0
    if not staged_paths and not n_touched:
        # Nothing staged, nobody to seal or rewrap: the vault stays as it is, unread.
        sealed_path = vault_dir / SEALED_FILE
        return {"identiteter_i_valvet": held.num_rows,
                "forseglade_identiteter": (pq.read_metadata(sealed_path).num_rows
                                           if sealed_path.exists() else 0),
                "nya_poster": 0}
    existing = _vault_table(path, VAULT_COLUMNS)
    opened = existing.filter(touched)
    untouched = existing.filter(pc.invert(touched))
    previous = (_text_table(decrypt_identities(keys, opened.to_pandas())) if n_touched
                else None)
    sealed_old = _read(vault_dir / SEALED_FILE, ["person_id", "sealed"])
    merged = _first_per_person(frames + ([previous] if previous is not None else []))
    is_protected = pc.is_in(merged.column("person_id"), protected)
    newly_sealed = seal_identities(keys.officer_public, merged.filter(is_protected).to_pandas())
    sealed = pd.concat([sealed_old[~isin(sealed_old["person_id"], newly_sealed["person_id"])],
                        newly_sealed], ignore_index=True).sort_values("person_id")
    sealed_ids = arrow_text(sealed["person_id"], pa.string())
    general = merged.filter(pc.invert(pc.or_(is_protected,
                                             pc.is_in(merged.column("person_id"), sealed_ids))))
    if len(newly_sealed) or not (vault_dir / SEALED_FILE).exists():
        write_parquet(sealed.reset_index(drop=True), vault_dir / SEALED_FILE)
    kept = _unchanged_records(keys, opened, previous, general)
    fresh = encrypt_records(keys, general.filter(pc.invert(
        pc.is_in(general.column("person_id"), kept.column("person_id")))))
    remaining = pc.invert(pc.is_in(untouched.column("person_id"), sealed_ids))
    untouched = untouched.filter(remaining)
    if (fresh.num_rows or kept.num_rows < n_touched or len(untouched) < len(remaining)
            or not path.exists()):
        # Otherwise every record is the one on disk already (a night that re-staged a few
        # unchanged identities): the file is left as it is instead of written again.
        write_vault(pa.concat_tables([untouched, kept, fresh]), path)
    for p in staged_paths:
        p.unlink()
    return {"identiteter_i_valvet": untouched.num_rows + general.num_rows,
            "forseglade_identiteter": len(sealed),
            "nya_poster": sum(f.num_rows for f in frames)}


def _vault_table(path: Path, columns: list[str]) -> pa.Table:
    if not path.exists():
        return VAULT_SCHEMA.empty_table().select(columns)
    table = pq.read_table(path, columns=columns).replace_schema_metadata(None)
    return table.cast(pa.schema([VAULT_SCHEMA.field(c) for c in columns]))


def write_vault(records: pa.Table, path: Path) -> None:
    """The AES vault file, in VAULT_SCHEMA."""
    _write_table(records.cast(VAULT_SCHEMA), path)


def _write_table(table: pa.Table, path: Path) -> None:
    """Atomically (a killed run leaves the previous file). Ciphertexts and nonces are random
    bytes: not compressed, dictionary-encoded or given min/max statistics; the pseudonyms
    keep theirs (a delivery reads its persons with a filter)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    random = {"nonce", "ct"}
    pq.write_table(table, tmp,
                   use_dictionary=[n for n in table.column_names if n not in random],
                   compression={n: "none" if n in random else "snappy"
                                for n in table.column_names},
                   write_statistics=[n for n in table.column_names if n not in random])
    os.replace(tmp, path)


def _unchanged_records(keys: Keys, opened: pa.Table, previous: pa.Table | None,
                       general: pa.Table) -> pa.Table:
    """Opened records whose ciphertext can stay: same person, same content, active key."""
    if previous is None or not previous.num_rows or not general.num_rows:
        return opened.slice(0, 0)
    fields = sorted((set(previous.column_names) | set(general.column_names)) - {"person_id"})
    both = pc.is_in(general.column("person_id"), previous.column("person_id"))
    now = _content(general.filter(both), fields)
    before = _content(previous.filter(pc.is_in(previous.column("person_id"),
                                               now.column("person_id"))), fields)
    equal = pa.array([True] * now.num_rows, pa.bool_())
    for f in fields:  # the same persons in the same order: compared row by row
        a, b = now.column(f), before.column(f)
        same_value = pc.or_(pc.fill_null(pc.equal(a, b), False),
                            pc.and_(pc.is_null(a), pc.is_null(b)))  # missing is no text
        equal = pc.and_(equal, same_value)
    same = now.column("person_id").filter(equal)
    keep = pc.and_(pc.is_in(opened.column("person_id"), same),
                   pc.equal(opened.column("key_id"), keys.vault_active))
    return opened.filter(keep)


def _content(table: pa.Table, fields: list[str]) -> pa.Table:
    """Each person's fields (a field the table lacks is missing), in order of person."""
    table = table.take(pc.sort_indices(table.column("person_id")))
    columns = [table.column("person_id").cast(pa.string())]
    for f in fields:
        columns.append(table.column(f).cast(pa.string()) if f in table.column_names
                       else pa.nulls(table.num_rows, pa.string()))
    return pa.table(columns, names=["person_id", *fields])


def read_identities(keys: Keys, vault_dir: Path, person_ids=None) -> pd.DataFrame:
    """Decrypt the general (non-protected) identities, optionally only some persons.

    Only the persons asked for are read out of the file (a filter in the Parquet reader):
    a delivery needs some ten thousand of a large city's million, and turning every
    ciphertext into a Python object first cost a second.
    """
    path = Path(vault_dir) / VAULT_FILE
    if person_ids is None or not path.exists():
        return decrypt_identities(keys, _read(path, VAULT_COLUMNS))
    wanted = sorted({str(p) for p in person_ids})
    vault = (pd.read_parquet(path, filters=[("person_id", "in", wanted)]) if wanted
             else pd.DataFrame(columns=VAULT_COLUMNS))
    return decrypt_identities(keys, vault)


def read_sealed(vault_dir: Path, person_ids=None) -> pd.DataFrame:
    sealed = _read(Path(vault_dir) / SEALED_FILE, ["person_id", "sealed"])
    if person_ids is not None:
        sealed = sealed[sealed["person_id"].isin(set(person_ids))]
    return sealed.reset_index(drop=True)


def rewrap_vault(keys: Keys, vault_dir: Path) -> dict[str, int]:
    """Re-encrypt every AES record under the active key (after `keys rotate`)."""
    path = Path(vault_dir) / VAULT_FILE
    vault = _read(path, VAULT_COLUMNS)
    before = vault["key_id"].value_counts().to_dict() if not vault.empty else {}
    fresh = rewrap(keys, vault)
    write_parquet(fresh, path)
    for staged in (Path(vault_dir) / STAGING).glob("*.parquet"):
        if key_ids_of(staged) != {keys.vault_active} or not _is_batched(staged):
            restage(keys, staged)
    return {"poster": len(fresh), **{f"tidigare_{k}": int(v) for k, v in before.items()}}


def vault_person_ids(vault_dir: Path) -> pa.Array:
    """Everyone whose identity the vault holds: AES records, sealed records and staging.

    An Arrow array of distinct pseudonyms (for `pyarrow.compute.is_in`): the vault holds
    every person of the municipality, and Python strings for each would cost a second."""
    parts = [_person_ids(str(p), *file_version(p)) for p in vault_files(vault_dir)]
    if not parts:
        return pa.array([], type=pa.string())
    return pc.unique(pa.chunked_array(parts, type=pa.string()))


def vault_files(vault_dir: Path) -> list[Path]:
    """The vault's files that exist: AES records, sealed records, staging (in name order)."""
    vault_dir = Path(vault_dir)
    return [p for p in [vault_dir / VAULT_FILE, vault_dir / SEALED_FILE,
                        *sorted((vault_dir / STAGING).glob("*.parquet"))] if p.exists()]


def file_version(path: Path) -> tuple[int, int, int]:
    """Which version of a file this is (inode, modification time, size): stored files are
    replaced atomically, so a new version is a new inode."""
    st = Path(path).stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


@lru_cache(maxsize=8)
def _person_ids(path: str, _inode: int, _mtime_ns: int, _size: int) -> pa.Array:
    """One vault file's person ids, read once per version of the file (every snapshot source
    of a night asks, and the vault itself changes only when it is merged)."""
    if _is_batched(Path(path)):  # a staging file: each batch's persons
        column = pc.list_flatten(pq.read_table(path, columns=["personer"]).column("personer"))
    else:
        column = pq.read_table(path, columns=["person_id"]).column("person_id")
    return pc.unique(column.cast(pa.string()))


def key_ids_in_use(vault_dir: Path) -> set[str]:
    vault = _read(Path(vault_dir) / VAULT_FILE, VAULT_COLUMNS)
    used = set(vault["key_id"].unique()) if not vault.empty else set()
    for staged in (Path(vault_dir) / STAGING).glob("*.parquet"):
        used |= key_ids_of(staged)
    return used


def key_ids_of(path: Path) -> set[str]:
    """The key ids a vault or staging file's records are encrypted under."""
    return set(pq.read_table(path, columns=["key_id"]).column("key_id").unique().to_pylist())
