"""The officer's own log of opened sealed lists, on the officer's machine.

The pipeline host never sees what the officer opens, so the officer's tool keeps the trace:
every `skyddsnat unseal` appends which file (name and SHA-256), which list and date, when
and how many rows to a hash-chained log (the same format as the host's audit log, checked
with `skyddsnat audit verify --log-dir`). Counts and names only: no person's data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from skyddsnat.privacy.audit import AuditLog

EVENT = "oppnad_forseglad_lista"


def default_log_dir(private_key_file: Path | str) -> Path:
    """Next to the officer's private key: the log lives where the lists are opened."""
    return Path(private_key_file).resolve().parent / "oppningslogg"


def record_unseal(log_dir: Path | str, sealed_file: Path | str, doc: dict,
                  written: list[Path]) -> dict:
    """Append one entry for an opened list; returns the entry."""
    data = Path(sealed_file).read_bytes()
    details = {"fil": Path(sealed_file).name, "sha256": hashlib.sha256(data).hexdigest(),
               "lista": doc["spec"]["kind"], "referensdatum": doc["as_of"],
               "policyversion": doc["policy_version"], "rader": len(doc["rows"]),
               "avslutade": len(doc.get("avslutade", [])),
               "utfiler": sorted(p.name for p in written)}
    return AuditLog(Path(log_dir)).append(EVENT, details)
