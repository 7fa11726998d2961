"""The vault on disk: staged identities from each source, merged into one record per person.

Source assets stage their plaintext identities encrypted (AES-GCM) under vault/staging/.
The vault step merges them (folkbokföring first: it has names and addresses), seals every
protected person's record with HPKE to the officer and removes it from the AES vault, so
after the step the pipeline host can no longer read any protected identity.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skyddsnat.arrow_strings import isin
from skyddsnat.privacy.keys import Keys
from skyddsnat.privacy.seal import seal_identities
from skyddsnat.privacy.storage import write_parquet
from skyddsnat.privacy.vault import VAULT_COLUMNS, decrypt_identities, encrypt_identities, rewrap

VAULT_FILE = "identiteter.parquet"
SEALED_FILE = "skyddade_identiteter.parquet"
STAGING = "staging"
PRECEDENCE = ("folkbokforing", "elevregister", "avgifter", "inkomster", "skolpliktsbeslut",
              "atgardsprogram", "betyg", "franvaroarenden", "narvaro")


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if path.exists():
        return pd.read_parquet(path)
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def stage_identities(keys: Keys, vault_dir: Path, source: str, identities: pd.DataFrame) -> int:
    """Encrypt a source's new identities into its staging file.

    Staging accumulates until the vault step merges it: sources stage only what is new since
    their last ingest, so a night whose merge never ran must not be overwritten by the next.
    """
    target = Path(vault_dir) / STAGING / f"{source}.parquet"
    fresh = encrypt_identities(keys, identities)
    if target.exists():
        fresh = pd.concat([pd.read_parquet(target), fresh], ignore_index=True).drop_duplicates(
            "person_id", keep="last")
    write_parquet(fresh.reset_index(drop=True), target)
    return len(identities)


def merge_vault(keys: Keys, vault_dir: Path, protected: pd.Series) -> dict[str, int]:
    """Fold staged identities into the vault; seal protected persons; drop the staging.

    Only the records that can change are decrypted: persons staged tonight, protected persons
    still in the AES vault (to be sealed) and records under a retired key (to be rewrapped).
    Every other ciphertext is kept as it is, so a night costs what changed, not the register.
    """
    vault_dir = Path(vault_dir)
    staged_paths = sorted((vault_dir / STAGING).glob("*.parquet"),
                          key=lambda p: PRECEDENCE.index(p.stem) if p.stem in PRECEDENCE else 99)
    frames = [decrypt_identities(keys, pd.read_parquet(p)) for p in staged_paths]
    staged_ids = set().union(*(set(f["person_id"]) for f in frames)) if frames else set()
    protected = set(protected)
    path = vault_dir / VAULT_FILE
    held = (pd.read_parquet(path, columns=["person_id", "key_id"]) if path.exists()
            else pd.DataFrame(columns=["person_id", "key_id"]))
    touched = (held["person_id"].isin(staged_ids | protected)
               | (held["key_id"] != keys.vault_active)).to_numpy()
    if not staged_paths and not touched.any():
        # Nothing staged, nobody to seal or rewrap: the vault stays as it is, unread.
        sealed_path = vault_dir / SEALED_FILE
        return {"identiteter_i_valvet": len(held),
                "forseglade_identiteter": (pq.read_metadata(sealed_path).num_rows
                                           if sealed_path.exists() else 0),
                "nya_poster": 0}
    existing = _read(path, VAULT_COLUMNS)
    previous = decrypt_identities(keys, existing[touched]) if touched.any() else None
    untouched = existing[~touched]
    sealed_old = _read(vault_dir / SEALED_FILE, ["person_id", "sealed"])
    if previous is not None:
        frames.append(previous)
    merged = (pd.concat(frames, ignore_index=True).groupby("person_id", sort=True).first()
              .reset_index()) if frames else pd.DataFrame(columns=["person_id"])
    is_protected = merged["person_id"].isin(protected)
    newly_sealed = seal_identities(keys.officer_public, merged[is_protected])
    sealed = pd.concat([sealed_old[~isin(sealed_old["person_id"], newly_sealed["person_id"])],
                        newly_sealed], ignore_index=True).sort_values("person_id")
    sealed_ids = set(sealed["person_id"])
    general = merged[~is_protected & ~merged["person_id"].isin(sealed_ids)]
    if len(newly_sealed) or not (vault_dir / SEALED_FILE).exists():
        write_parquet(sealed.reset_index(drop=True), vault_dir / SEALED_FILE)
    kept = _unchanged_records(keys, existing[touched], previous, general)
    fresh = encrypt_identities(keys, general[~isin(general["person_id"], kept["person_id"])])
    remaining = ~untouched["person_id"].isin(sealed_ids)
    if len(fresh) or len(kept) < touched.sum() or not remaining.all() or not path.exists():
        # Otherwise every record is the one on disk already (a night that re-staged a few
        # unchanged identities): the file is left as it is instead of written again.
        write_parquet(pd.concat([untouched[remaining], kept, fresh], ignore_index=True),
                      vault_dir / VAULT_FILE)
    untouched = untouched[remaining]
    for p in staged_paths:
        p.unlink()
    return {"identiteter_i_valvet": len(untouched) + len(general),
            "forseglade_identiteter": len(sealed),
            "nya_poster": sum(len(f) for f in frames[: len(staged_paths)])}


def _row_hashes(frame: pd.DataFrame, fields: list[str]) -> pd.Series:
    values = frame.reindex(columns=fields).astype("string").fillna("\x00")
    return pd.Series(pd.util.hash_pandas_object(values, index=False).to_numpy(),
                     index=frame["person_id"].to_numpy())


def _unchanged_records(keys: Keys, existing: pd.DataFrame, previous: pd.DataFrame | None,
                       general: pd.DataFrame) -> pd.DataFrame:
    """Decrypted records whose ciphertext can stay: same person, same content, active key."""
    if previous is None or previous.empty or general.empty:
        return existing.iloc[0:0]
    fields = sorted((set(previous.columns) | set(general.columns)) - {"person_id"})
    before, now = _row_hashes(previous, fields), _row_hashes(general, fields)
    common = now.index.intersection(before.index)
    same = common[before.reindex(common).to_numpy() == now.reindex(common).to_numpy()]
    keep = existing["person_id"].isin(set(same)) & (existing["key_id"] == keys.vault_active)
    return existing[keep].reset_index(drop=True)


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
        write_parquet(rewrap(keys, pd.read_parquet(staged)), staged)
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
    column = pq.read_table(path, columns=["person_id"]).column("person_id").cast(pa.string())
    return pc.unique(column)


def key_ids_in_use(vault_dir: Path) -> set[str]:
    vault = _read(Path(vault_dir) / VAULT_FILE, VAULT_COLUMNS)
    used = set(vault["key_id"].unique()) if not vault.empty else set()
    for staged in (Path(vault_dir) / STAGING).glob("*.parquet"):
        used |= set(pd.read_parquet(staged, columns=["key_id"])["key_id"].unique())
    return used
