"""Encrypted account backups: the whole record list sealed with Fernet, by the stack key or a passphrase.

A passphrase backup (scrypt-derived key) moves accounts between stacks with different KIRO_SECRET_KEYs;
without one, only this stack's key opens it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

import orjson

from shared.accounts.importers import ImportFormatError
from shared.crypto import SecretBox, SecretDecryptError

FORMAT = "kiro-stack-accounts-backup"
VERSION = 1
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _passphrase_box(passphrase: str, salt: bytes) -> SecretBox:
    raw = hashlib.scrypt(passphrase.encode(), salt=salt, dklen=32, **_SCRYPT)
    return SecretBox(base64.urlsafe_b64encode(raw).decode())


def seal_backup(
    records: list[dict[str, Any]], box: SecretBox, passphrase: str | None = None
) -> dict[str, Any]:
    """The backup document: format marker, key derivation, and the sealed records."""
    out: dict[str, Any] = {"format": FORMAT, "version": VERSION, "count": len(records)}
    if passphrase:
        salt = secrets.token_bytes(16)
        box = _passphrase_box(passphrase, salt)
        out["kdf"] = {"name": "scrypt", "salt": base64.b64encode(salt).decode(), **_SCRYPT}
    else:
        out["kdf"] = {"name": "stack-key"}
    out["data"] = box.encrypt(orjson.dumps({"accounts": records}).decode())
    return out


def open_backup(backup: Any, box: SecretBox, passphrase: str | None = None) -> list[dict[str, Any]]:
    """The records of a backup; raises ImportFormatError when it is not one or does not open."""
    if (
        not isinstance(backup, dict)
        or backup.get("format") != FORMAT
        or not isinstance(backup.get("data"), str)
    ):
        raise ImportFormatError(f"not a {FORMAT} document")
    kdf_field = backup.get("kdf")
    kdf: dict[str, Any] = kdf_field if isinstance(kdf_field, dict) else {}
    if kdf.get("name") == "scrypt":
        if not passphrase:
            raise ImportFormatError("this backup is sealed with a passphrase; pass it")
        try:
            box = _passphrase_box(passphrase, base64.b64decode(str(kdf.get("salt", ""))))
        except (ValueError, TypeError) as exc:
            raise ImportFormatError("backup key derivation parameters are malformed") from exc
    try:
        payload = orjson.loads(box.decrypt(backup["data"]))
    except SecretDecryptError as exc:
        raise ImportFormatError("backup does not open with this key or passphrase") from exc
    except orjson.JSONDecodeError as exc:
        raise ImportFormatError("backup payload is corrupt") from exc
    records = payload.get("accounts") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        raise ImportFormatError("backup payload has no account list")
    return [r for r in records if isinstance(r, dict)]
