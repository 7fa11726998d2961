"""Key material: the pseudonym key, the vault keyring and the officer's public key.

Keys come from a key directory or from the environment. Every loader fails loudly with
`KeyProblem` before any data is read: there is no plaintext fallback. The officer's private
key is written only to the file the operator names, never into the key directory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PSEUDONYM_FILE = "pseudonym.key.json"
KEYRING_FILE = "valv.keyring.json"
OFFICER_PUBLIC_FILE = "skyddsbehorig.pub.pem"
ENV_PSEUDONYM = "SKYDDSNAT_PSEUDONYM_KEY"  # JSON {"id": ..., "key": base64}
ENV_KEYRING = "SKYDDSNAT_VAULT_KEYRING"  # JSON {"active": ..., "keys": {id: base64}}
ENV_OFFICER_PUBLIC = "SKYDDSNAT_OFFICER_PUBLIC_KEY"  # PEM text
KEY_CHECK_FILE = "nyckelkontroll.json"
ROTATION_JOURNAL = "pseudonymrotation.json"  # in state/: a rotation begun, not yet finished
_CHECK_MESSAGE = b"skyddsnat nyckelkontroll v1"


class KeyProblem(RuntimeError):
    """A key is missing, malformed or not the one the data was written with."""


@dataclass(frozen=True)
class Keys:
    pseudonym_id: str
    pseudonym_key: bytes
    vault_active: str
    vault_keys: dict[str, bytes]
    officer_public: X25519PublicKey
    # Earlier pseudonym keys, oldest first, when the key has been rotated: a pseudonym is
    # computed through the whole chain (skyddsnat/privacy/pseudonym.py). Empty before any rotation.
    pseudonym_chain: tuple[bytes, ...] = ()

    @property
    def pseudonym_keys(self) -> tuple[bytes, ...]:
        """The full chain ending in the current key: what ingest hashes a personnummer with."""
        return (*self.pseudonym_chain, self.pseudonym_key)

    def vault_key(self, key_id: str) -> bytes:
        try:
            return self.vault_keys[key_id]
        except KeyError:
            raise KeyProblem(f"valvnyckel {key_id} saknas i nyckelringen") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise KeyProblem(f"{what}: ogiltig kodning") from None
    if len(raw) != length:
        raise KeyProblem(f"{what}: fel längd")
    return raw


def _write_private(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    os.replace(tmp, path)


def init_keys(key_dir: Path, officer_key_out: Path, force: bool = False) -> None:
    """Create the pseudonym key, a vault keyring and the officer's X25519 key pair."""
    key_dir = Path(key_dir)
    officer_key_out = Path(officer_key_out)
    if officer_key_out.resolve().is_relative_to(key_dir.resolve()):
        raise KeyProblem("den privata nyckeln får inte ligga i nyckelkatalogen")
    if (key_dir / PSEUDONYM_FILE).exists() and not force:
        raise KeyProblem(f"{key_dir / PSEUDONYM_FILE} finns redan (använd --force)")
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    _write_private(key_dir / PSEUDONYM_FILE,
                   json.dumps({"id": "p1", "key": _b64(secrets.token_bytes(32))}))
    _write_private(key_dir / KEYRING_FILE,
                   json.dumps({"active": "v1", "keys": {"v1": _b64(AESGCM.generate_key(256))}}))
    private = X25519PrivateKey.generate()
    _write_private(officer_key_out, private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    (key_dir / OFFICER_PUBLIC_FILE).write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def rotate_vault_key(key_dir: Path) -> str:
    """Add a new vault key and make it active; old keys stay until `rewrap` has run."""
    path = Path(key_dir) / KEYRING_FILE
    ring = _read_json(path, "nyckelringen")
    n = 1 + max(int(k[1:]) for k in ring["keys"])
    new_id = f"v{n}"
    ring["keys"][new_id] = _b64(AESGCM.generate_key(256))
    ring["active"] = new_id
    _write_private(path, json.dumps(ring))
    return new_id


def retire_vault_keys(key_dir: Path, keep: set[str]) -> list[str]:
    """Drop keyring entries no longer used by any record (after a rewrap)."""
    path = Path(key_dir) / KEYRING_FILE
    ring = _read_json(path, "nyckelringen")
    dropped = [k for k in ring["keys"] if k not in keep and k != ring["active"]]
    for k in dropped:
        del ring["keys"][k]
    _write_private(path, json.dumps(ring))
    return dropped


def _read_json(path: Path, what: str) -> dict:
    if not path.exists():
        raise KeyProblem(f"{what} saknas: {path.name}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KeyProblem(f"{what} är skadad: {path.name}") from None


def _source(key_dir: Path | None, file: str, env: str, what: str) -> str:
    if key_dir is not None and (Path(key_dir) / file).exists():
        try:
            return (Path(key_dir) / file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise KeyProblem(f"{what} är skadad ({file})") from None
    if os.environ.get(env):
        return os.environ[env]
    where = f"i {key_dir}" if key_dir else f"i miljövariabeln {env}"
    raise KeyProblem(f"{what} saknas ({file} {where})")


def load_keys(key_dir: Path | str | None) -> Keys:
    """Load every key or raise KeyProblem; called before any source file is opened."""
    key_dir = Path(key_dir) if key_dir else None
    if key_dir is not None and not key_dir.is_dir():
        raise KeyProblem("nyckelkatalogen finns inte")
    try:
        pseud = json.loads(_source(key_dir, PSEUDONYM_FILE, ENV_PSEUDONYM, "pseudonymnyckeln"))
        ring = json.loads(_source(key_dir, KEYRING_FILE, ENV_KEYRING, "valvets nyckelring"))
    except json.JSONDecodeError:
        raise KeyProblem("en nyckelfil är skadad") from None
    pem = _source(key_dir, OFFICER_PUBLIC_FILE, ENV_OFFICER_PUBLIC,
                  "den skyddsbehöriga handläggarens publika nyckel")
    try:
        officer = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise KeyProblem("den publika nyckeln är skadad") from None
    if not isinstance(officer, X25519PublicKey):
        raise KeyProblem("den publika nyckeln är inte X25519")
    try:
        vault_keys = {k: _unb64(v, f"valvnyckel {k}", 32) for k, v in ring["keys"].items()}
        active = ring["active"]
        pkey = _unb64(pseud["key"], "pseudonymnyckeln", 32)
        pid = pseud["id"]
        chain = tuple(_unb64(k, "pseudonymkedjan", 32) for k in pseud.get("kedja", []))
    except (KeyError, TypeError, AttributeError):
        raise KeyProblem("en nyckelfil saknar fält") from None
    if active not in vault_keys:
        raise KeyProblem("den aktiva valvnyckeln saknas i nyckelringen")
    return Keys(pid, pkey, active, vault_keys, officer, chain)


def load_officer_private(path: Path | str) -> X25519PrivateKey:
    path = Path(path)
    if not path.exists():
        raise KeyProblem("den privata nyckeln saknas")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise KeyProblem("den privata nyckeln är skadad") from None
    if not isinstance(key, X25519PrivateKey):
        raise KeyProblem("den privata nyckeln är inte X25519")
    return key


def pseudonym_check(chain: tuple[bytes, ...]) -> str:
    """Check value of a pseudonym key chain (a single key: HMAC of a constant, as before)."""
    value = _CHECK_MESSAGE
    for key in chain:
        value = hmac.new(key, value, hashlib.sha256).hexdigest().encode()
    return value.decode()


def verify_against_data(keys: Keys, state_dir: Path) -> None:
    """Stop if these keys are not the ones the data dir was written with (wrong key).

    The first run records a check value per key; later runs must reproduce it. Check values
    reveal nothing about the keys (HMAC of a constant; AES-GCM of a constant).
    """
    state_dir = Path(state_dir)
    path = state_dir / KEY_CHECK_FILE
    pseud_check = pseudonym_check(keys.pseudonym_keys)
    pending = state_dir / ROTATION_JOURNAL
    if pending.exists():
        raise KeyProblem("en rotation av pseudonymnyckeln är avbruten: kör "
                         "`skyddsnat keys rotate-pseudonym` igen för att slutföra den")
    if path.exists():
        recorded = _read_json(path, "nyckelkontrollen")
        if recorded.get("pseudonym", {}).get(keys.pseudonym_id) != pseud_check:
            raise KeyProblem("fel pseudonymnyckel: den stämmer inte med tidigare körningar")
        for key_id, check in recorded.get("valv", {}).items():
            if key_id not in keys.vault_keys:
                continue  # retired after a rewrap
            nonce, ct = base64.b64decode(check["nonce"]), base64.b64decode(check["ct"])
            try:
                AESGCM(keys.vault_keys[key_id]).decrypt(nonce, ct, key_id.encode())
            except InvalidTag:
                raise KeyProblem(f"fel valvnyckel {key_id}") from None
    else:
        recorded = {"pseudonym": {keys.pseudonym_id: pseud_check}, "valv": {}}
    changed = False
    for key_id, key in keys.vault_keys.items():
        if key_id not in recorded["valv"]:
            nonce = secrets.token_bytes(12)
            ct = AESGCM(key).encrypt(nonce, _CHECK_MESSAGE, key_id.encode())
            recorded["valv"][key_id] = {"nonce": _b64(nonce), "ct": _b64(ct)}
            changed = True
    if changed or not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        _write_private(path, json.dumps(recorded, indent=1))


def _seeded(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"skyddsnat/testnycklar/{seed}/{label}".encode()).digest()


def seeded_officer_private(seed: int) -> X25519PrivateKey:
    """Tests only: the officer's private key of `seeded_keys(seed)`."""
    return X25519PrivateKey.from_private_bytes(_seeded(seed, "officer"))


def seeded_keys(seed: int) -> Keys:
    """Tests only: a complete, deterministic key set (never for real data: anyone with the
    seed has the keys)."""
    return Keys("p1", _seeded(seed, "pseudonym"), "v1", {"v1": _seeded(seed, "vault")},
                seeded_officer_private(seed).public_key())
