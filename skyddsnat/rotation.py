"""Rotating the pseudonym key: every stored pseudonym re-keyed, case ids carried over.

The new pseudonym of a person is HMAC(k_new, old pseudonym): composing keyed hashes needs no
plaintext, so persons whose vault records the host cannot open (sealed) are re-keyed too.
Ingest then hashes through the chain (skyddsnat/privacy/pseudonym.py), and no stored pseudonym is
computable from the old key alone. What is stored under a pseudonym moves with it:

- the AES vault and its staging (the pseudonym is the associated data: re-encrypted);
- sealed identities (bound to the old id by HPKE `info`: sealed again in an envelope bound
  to the new id, without opening them — skyddsnat/privacy/seal.py `rebind_identity`);
- every pseudonym column of the warehouse and of state/ (the case history keeps its case
  ids and labels, so the next night finds each case and reports it `kvarstar`);
- the key check values (only the new chain's is kept: the old key no longer runs);
- the file cache's tables are re-keyed like any table (a period file removed from the inbox
  lives on there; a file still in the inbox is read again, its cache key being derived from
  the old key); the row caches (keyed digests of raw rows) are dropped.

Kill-safety: every new file is written beside the old one first, and the old state stays
usable. A journal in state/ is the switch; after it the files are moved into place, the
new key file installed, the rotation audited and the journal removed. A run refuses while
the journal exists; running the command again finishes the switch. Killed before the
journal, the prepared files are discarded and the rotation starts over.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skyddsnat.ingest.source_table import stored_pnr_columns
from skyddsnat.layout import DataDir
from skyddsnat.lists.cases import load_history
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.identity_store import (
    SEALED_FILE,
    STAGING,
    VAULT_FILE,
    restage,
    staged_count,
)
from skyddsnat.privacy.keys import (
    KEY_CHECK_FILE,
    PSEUDONYM_FILE,
    ROTATION_JOURNAL,
    KeyProblem,
    Keys,
    _write_private,
    load_keys,
    pseudonym_check,
    verify_against_data,
)
from skyddsnat.privacy.pseudonym import PSEUDONYM_HEX, pseudonymize_series
from skyddsnat.privacy.seal import rebind_identity
from skyddsnat.privacy.vault import decrypt_identities, encrypt_identities
from skyddsnat.value_memo import ValueMemo

PENDING_KEY = PSEUDONYM_FILE + ".ny"
SUFFIX = ".rotera"
ROW_CACHES = "warehouse/_filcache/*/rader.*.parquet"  # keyed digests: dropped, not re-keyed
# Columns shaped like pseudonyms that are not (keyed digests of raw rows live in the caches).
NOT_PSEUDONYMS = frozenset({"rad_digest"})
_HEX = f"^[0-9a-f]{{{PSEUDONYM_HEX}}}$"
EVENT = "pseudonymrotation"


def _next_id(current: str) -> str:
    m = re.fullmatch(r"p(\d+)", current)
    return f"p{int(m.group(1)) + 1}" if m else f"{current}-2"


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _pseudonym_columns(table: pa.Table) -> list[str]:
    """Text columns holding only pseudonyms (or nothing), plus every stored pnr column."""
    named = stored_pnr_columns()
    out = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        if not _is_text(col.type) or name in NOT_PSEUDONYMS:
            continue
        values = pc.drop_null(col.cast(pa.string()) if pa.types.is_dictionary(col.type)
                              else col)
        if name in named or (len(values) and pc.all(pc.match_substring_regex(values, _HEX))
                             .as_py()):
            out.append(name)
    return out


class Rekey:
    """HMAC(k_new, old) per distinct value; remembers every old value it re-keyed."""

    def __init__(self, key: bytes):
        self.key, self.memo, self.old = key, ValueMemo(), set()

    def series(self, values: pd.Series) -> pd.Series:
        out = pseudonymize_series(self.key, values.astype("string"), self.memo)
        self.old.update(values.dropna().astype(str))
        return out

    def one(self, value: str) -> str:
        return self.series(pd.Series([value], dtype="string")).iat[0]

    def arrow(self, col: pa.ChunkedArray) -> pa.Array:
        new = self.series(col.to_pandas())
        return pa.array(new.astype(object).where(new.notna(), None).tolist(),
                         type=pa.string()).cast(col.type)


def _prepare(path: Path, write) -> Path:
    tmp = path.with_name(path.name + SUFFIX)
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    return tmp


def _table_files(data: DataDir) -> list[Path]:
    found = [*data.warehouse.rglob("*.parquet"), *data.state.rglob("*.parquet")]
    rows = set(data.root.glob(ROW_CACHES))
    return sorted(p for p in found if p not in rows and not p.name.startswith("."))


def _discard_leftovers(key_dir: Path, data: DataDir) -> None:
    for p in data.root.rglob(f"*{SUFFIX}"):
        p.unlink()
    (Path(key_dir) / PENDING_KEY).unlink(missing_ok=True)


def _refuse_unlabelled_open_cases(data: DataDir) -> None:
    h = load_history(data.state / "arenden.parquet")
    if (h["closed_on"].isna() & h["nyckel"].isna()).any():
        raise KeyProblem("ärendehistoriken saknar ärendenycklar för öppna ärenden: kör en "
                         "natt med denna version innan pseudonymnyckeln roteras")


def rotate_pseudonym(key_dir: Path | str, data_dir: Path | str) -> dict:
    """Re-key every stored pseudonym under a new key; returns counts (no values)."""
    key_dir, data = Path(key_dir), DataDir(data_dir)
    journal = data.state / ROTATION_JOURNAL
    if journal.exists():
        return _finish(key_dir, data, json.loads(journal.read_text(encoding="utf-8")))
    _discard_leftovers(key_dir, data)
    keys = load_keys(key_dir)
    verify_against_data(keys, data.state)
    _refuse_unlabelled_open_cases(data)
    new_key, new_id = secrets.token_bytes(32), _next_id(keys.pseudonym_id)
    rekey = Rekey(new_key)
    prepared: list[Path] = []
    counts = {"valvposter": 0, "forseglade": 0, "tabeller": 0, "kolumner": 0}
    prepared += _prepare_vault(keys, data, rekey, counts)
    others: list[tuple[Path, list[str]]] = []  # text columns left as they are, per file
    for path in _table_files(data):  # one table in memory at a time (a year of attendance)
        table = pq.read_table(path)
        cols = _pseudonym_columns(table)
        others.append((path, [n for n, c in zip(table.column_names, table.columns,
                                                 strict=True)
                              if n not in cols and n not in NOT_PSEUDONYMS
                              and _is_text(c.type)]))
        if not cols:
            continue
        for name in cols:
            table = table.set_column(table.column_names.index(name), name,
                                     rekey.arrow(table.column(name)))
        prepared.append(_prepare(path, lambda tmp, t=table: pq.write_table(t, tmp)))
        counts["tabeller"] += 1
        counts["kolumner"] += len(cols)
        del table
    _refuse_leftover_pseudonyms(others, rekey)
    chain = (*keys.pseudonym_keys, new_key)
    check_path = data.state / KEY_CHECK_FILE
    checks = json.loads(check_path.read_text()) if check_path.exists() else {"valv": {}}
    checks["pseudonym"] = {new_id: pseudonym_check(chain)}
    prepared.append(_prepare(check_path, lambda tmp: _write_private(
        tmp, json.dumps(checks, indent=1))))
    _write_private(key_dir / PENDING_KEY, json.dumps({
        "id": new_id, "key": base64.b64encode(new_key).decode(),
        "kedja": [base64.b64encode(k).decode() for k in keys.pseudonym_keys]}))
    plan = {"fran": keys.pseudonym_id, "till": new_id, "antal": counts,
            "filer": [str(p.relative_to(data.root))[: -len(SUFFIX)] for p in prepared],
            "ta_bort": sorted(str(p.relative_to(data.root)) for p in data.root.glob(ROW_CACHES))}
    tmp = journal.with_name(journal.name + ".tmp")
    _write_private(tmp, json.dumps(plan, indent=1))
    os.replace(tmp, journal)  # the switch: from here on the rotation is finished, not undone
    return _finish(key_dir, data, plan)


def _prepare_vault(keys: Keys, data: DataDir, rekey: Rekey, counts: dict) -> list[Path]:
    out = []
    path = data.vault / VAULT_FILE
    if path.exists():
        plain = decrypt_identities(keys, pd.read_parquet(path))
        if len(plain):
            plain["person_id"] = rekey.series(plain["person_id"])
        fresh = encrypt_identities(keys, plain) if len(plain) else pd.read_parquet(path)
        out.append(_prepare(path, lambda tmp, f=fresh: f.to_parquet(tmp, index=False)))
        counts["valvposter"] += len(plain)
    def rekeyed(batch: pa.Table) -> pa.Table:
        return batch.set_column(0, "person_id", rekey.arrow(batch.column("person_id")))

    for path in sorted((data.vault / STAGING).glob("*.parquet")):
        out.append(_prepare(path, lambda tmp, p=path: restage(keys, p, rekeyed, tmp)))
        counts["valvposter"] += staged_count(path)
    sealed_path = data.vault / SEALED_FILE
    if sealed_path.exists():
        sealed = pd.read_parquet(sealed_path)
        new_ids = rekey.series(sealed["person_id"]) if len(sealed) else sealed["person_id"]
        sealed = sealed.assign(
            sealed=[rebind_identity(keys.officer_public, blob, old, new) for blob, old, new
                    in zip(sealed["sealed"], sealed["person_id"], new_ids, strict=True)],
            person_id=new_ids)
        out.append(_prepare(sealed_path, lambda tmp: sealed.to_parquet(tmp, index=False)))
        counts["forseglade"] = len(sealed)
    return out


def _refuse_leftover_pseudonyms(others: list[tuple[Path, list[str]]], rekey: Rekey) -> None:
    """No text column left un-rotated may hold an old pseudonym (file and column named)."""
    old = pa.array(sorted(rekey.old), type=pa.string())
    for path, names in (o for o in others if o[1]):
        table = pq.read_table(path, columns=names)
        for name, col in zip(table.column_names, table.columns, strict=True):
            if pc.any(pc.is_in(col.cast(pa.string()), old)).as_py():
                raise KeyProblem(f"{path.name}: kolumnen {name} innehåller pseudonymer som "
                                 "inte kan roteras; inget är ändrat")


def _finish(key_dir: Path, data: DataDir, plan: dict) -> dict:
    """Move every prepared file into place, install the key, audit, remove the journal."""
    for rel in plan["filer"]:
        tmp = data.root / (rel + SUFFIX)
        if tmp.exists():
            os.replace(tmp, data.root / rel)
    for rel in plan["ta_bort"]:
        (data.root / rel).unlink(missing_ok=True)
    pending = key_dir / PENDING_KEY
    if pending.exists():
        os.replace(pending, key_dir / PSEUDONYM_FILE)
    if load_keys(key_dir).pseudonym_id != plan["till"]:
        raise KeyProblem("pseudonymnyckeln i nyckelkatalogen är inte den rotationen skapade")
    audit = AuditLog(data.audit)
    key = f"{EVENT}:{plan['fran']}:{plan['till']}"
    if not audit.has(EVENT, key):
        audit.append(EVENT, {"fran": plan["fran"], "till": plan["till"], **plan["antal"]}, key)
    (data.state / ROTATION_JOURNAL).unlink()
    return {"fran": plan["fran"], "till": plan["till"], **plan["antal"]}
