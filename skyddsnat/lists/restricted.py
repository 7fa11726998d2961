"""Sealed restricted lists: the cases of protected persons, for the officer's key only.

One file per list KIND (`restricted/<kind>.sealed`), never per school, always written even
when empty, and padded to a 64 KiB bucket: neither the existence nor the size of a file
may tell that a protected child is on a school's list. The pipeline seals a JSON document
(spec, pseudonymous rows with case ids and statuses, closed cases, and each subject's
identity blob as already HPKE-sealed in the vault, which the pipeline itself cannot open)
to the officer's public key. The HPKE `info` binds kind, date and policy version; those
three, and nothing personal, stand in a clear header line so `unseal_file` can rebuild it.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from dataclasses import asdict, replace
from dataclasses import fields as dataclass_fields
from datetime import date
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from skyddsnat.contract import ADDRESS_FIELDS, LISTS
from skyddsnat.lists.catalog import ListSpec
from skyddsnat.lists.excel import FORKLARING, write_list_xlsx
from skyddsnat.lists.forklaring import COLUMNS
from skyddsnat.lists.reidentify import attach_identities
from skyddsnat.privacy.seal import SealBroken, open_bytes, open_identities, seal_bytes

BUCKET = 64 * 1024
HEADER_MAGIC = "SKYDDSNAT-RESTRICTED-1"
_LENGTH = struct.Struct(">Q")
_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def restricted_path(kind: str) -> str:
    """The path of a kind's sealed list inside a delivery."""
    return f"restricted/{kind}.sealed"


def list_info(kind: str, as_of: str, policy_version: str) -> bytes:
    return f"skyddsnat/lista/{kind}/{as_of}/{policy_version}".encode()


def write_sealed_list(path: Path | str, spec: ListSpec, rows: pd.DataFrame,
                      sealed_identities: pd.DataFrame, officer_public: X25519PublicKey,
                      as_of: date | str, policy_version: str, officer_fields: list[str],
                      summary: dict[str, object] | None = None,
                      avslutade: pd.DataFrame | None = None,
                      forklaring: pd.DataFrame | None = None) -> Path:
    """Seal the restricted rows of one list kind (all schools) into `path`.

    `sealed_identities` is the vault's sealed store (person_id, sealed); only the blobs of
    this list's subjects go in. `officer_fields` are the identity fields the officer may
    see (policy); they travel inside the seal so the officer's tool needs no policy, and
    so does the summary's "Förklaring" block (`forklaring`, written with the policy).
    """
    as_of_s = pd.Timestamp(as_of).date().isoformat()
    header = json.dumps({"kind": spec.kind, "as_of": as_of_s, "policy_version": policy_version},
                        sort_keys=True, separators=(",", ":"))
    subjects = rows[spec.subject].astype("string") if len(rows) else pd.Series(dtype="string")
    blobs = sealed_identities[sealed_identities["person_id"].isin(subjects)]
    doc = {
        "spec": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(spec).items()},
        "as_of": as_of_s,
        "policy_version": policy_version,
        "officer_fields": list(officer_fields),
        "columns": [str(c) for c in rows.columns],
        "rows": _records(rows),
        "avslutade": _records(avslutade if avslutade is not None else pd.DataFrame()),
        "forklaring": _records(forklaring if forklaring is not None else pd.DataFrame()),
        "summary": {k: str(v) for k, v in (summary or {}).items()
                    if not isinstance(v, pd.DataFrame)},
        "identities": {pid: base64.b64encode(blob).decode()
                       for pid, blob in zip(blobs["person_id"], blobs["sealed"], strict=True)},
    }
    body = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()
    info = list_info(spec.kind, as_of_s, policy_version)
    head = f"{HEADER_MAGIC} {header}\n".encode()
    overhead = len(head) + len(seal_bytes(officer_public, b"", info))
    plain = _LENGTH.pack(len(body)) + body
    total = -(-(overhead + len(plain)) // BUCKET) * BUCKET
    plain += b"\0" * (total - overhead - len(plain))
    sealed = head + seal_bytes(officer_public, plain, info)
    if len(sealed) % BUCKET:
        raise RuntimeError("förseglad lista fick fel storlek (utfyllnaden stämmer inte)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sealed)
    return path


def open_sealed_list(path: Path | str, private_key: X25519PrivateKey) -> dict:
    """Open the outer seal and return the document; SealBroken if anything is off."""
    data = Path(path).read_bytes()
    head, sep, blob = data.partition(b"\n")
    try:
        magic, header_json = head.decode("ascii").split(" ", 1)
        header = json.loads(header_json)
        kind, as_of, version = header["kind"], header["as_of"], header["policy_version"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise SealBroken("filhuvudet är skadat") from None
    if magic != HEADER_MAGIC or not sep or kind not in LISTS \
            or not all(_SAFE.match(str(v)) for v in (as_of, version)):
        raise SealBroken("inte en förseglad Skyddsnät-lista")
    plain = open_bytes(private_key, blob, list_info(kind, as_of, version))
    (length,) = _LENGTH.unpack_from(plain)
    doc = json.loads(plain[_LENGTH.size:_LENGTH.size + length])
    if (doc.get("as_of"), doc.get("policy_version"), doc.get("spec", {}).get("kind")) != (
            as_of, version, kind):
        raise SealBroken("filhuvudet stämmer inte med innehållet")
    return doc


def unseal_file(path: Path | str, private_key: X25519PrivateKey, out_dir: Path | str
                ) -> list[Path]:
    """Open a restricted list and write it as Excel with the officer's identity columns.

    Per-school kinds give one file per school (`franvaro_<kod>.xlsx`); an empty list gives
    one empty `<kind>.xlsx`. Raises SealBroken on a wrong key or a tampered file.
    """
    return unseal_doc(open_sealed_list(path, private_key), private_key, out_dir)


def unseal_doc(doc: dict, private_key: X25519PrivateKey, out_dir: Path | str) -> list[Path]:
    """`unseal_file` for a document already opened (the officer's log counts its rows)."""
    spec = _spec_from(doc["spec"])
    fields = list(doc["officer_fields"])
    rows = _frame(doc["rows"], spec.date_columns, doc.get("columns", []))
    if rows.empty:  # an empty kind (no income year tonight) carries no columns: give it the
        # spec's own, so the officer can open every sealed file, an empty one included
        rows = pd.DataFrame({c: pd.Series(dtype="string")
                             for c in dict.fromkeys([spec.subject, *spec.columns])})
    sealed = pd.DataFrame({"person_id": pd.Series(list(doc["identities"]), dtype="string"),
                           "sealed": [base64.b64decode(v) for v in doc["identities"].values()]})
    identities = open_identities(private_key, sealed)
    for f in fields:
        if f not in identities.columns:
            identities[f] = pd.NA
    officer_spec = _officer_spec(spec, fields)
    closed = _frame(doc.get("avslutade", []), ("forst_sedd", "avslutad"), [])
    summary: dict[str, object] = {**doc.get("summary", {}), "Lista": spec.title,
                                  "Referensdatum": pd.Timestamp(doc["as_of"]).date(),
                                  "Policyversion": doc["policy_version"],
                                  "Antal ärenden": len(rows),
                                  "Sekretess": "Skyddade personuppgifter. Får endast hanteras "
                                               "av särskilt behörig handläggare."}
    if doc.get("forklaring"):
        summary[FORKLARING] = pd.DataFrame.from_records(doc["forklaring"], columns=COLUMNS)
    if len(closed):
        summary["Avslutade ärenden"] = closed.drop(columns=["person_id"], errors="ignore")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if spec.per_skolenhet and "skolenhetskod" in rows.columns and len(rows):
        groups = list(rows.groupby("skolenhetskod", sort=True))
    else:
        groups = [(None, rows)]
    for kod, part in groups:
        name = f"{spec.kind}_{kod}" if kod is not None else spec.kind
        if not _SAFE.match(name):
            raise SealBroken("ogiltigt listnamn i förseglad lista")
        general = attach_identities(part, officer_spec, identities, fields)
        target = out_dir / f"{name}.xlsx"
        school = officer_spec if kod is None else replace(  # this school's file, not "alla"
            officer_spec, title=f"{officer_spec.title.rsplit(', ', 1)[0]}, skolenhet {kod}")
        write_list_xlsx(target, school, general, {**summary, "Lista": school.title,
                                                  "Fil": name, "Antal ärenden": len(part)})
        written.append(target)
    return written


def _officer_spec(spec: ListSpec, fields: list[str]) -> ListSpec:
    """The list's columns plus the address fields the officer may have, after the names."""
    p = spec.identity_prefix
    extra = tuple(f"{p}{f}" for f in ADDRESS_FIELDS if f in fields)
    cols = list(spec.columns)
    ident = [i for i, c in enumerate(cols) if c in spec.identity_columns()]
    at = (max(ident) + 1) if ident else 1
    cols[at:at] = [c for c in extra if c not in cols]
    return replace(spec, columns=tuple(cols), extra_sheets=())


def _spec_from(raw: dict) -> ListSpec:
    known = {f.name for f in dataclass_fields(ListSpec)}  # older files carried more
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
    return ListSpec(**fields)


def _records(df: pd.DataFrame) -> list[dict]:
    if df is None or df.empty:
        return []
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return json.loads(out.to_json(orient="records", force_ascii=False))


def _frame(records: list[dict], date_columns: tuple[str, ...], columns: list[str]
           ) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=columns or None)
    for c in date_columns:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c])
    return df
