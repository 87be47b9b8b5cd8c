"""Secrets at rest (Fernet) and secrets compared (hashes, constant time).

`cryptography` is imported on first use: the gateway only hashes and compares, and saves its ~7 MiB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from shared.errors import ConfigError, KiroStackError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class SecretDecryptError(KiroStackError):
    """A stored secret cannot be decrypted with the configured KIRO_SECRET_KEY."""


def validate_fernet_key(key: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("KIRO_SECRET_KEY is not a Fernet key (urlsafe base64 of 32 bytes)") from exc
    if len(raw) != 32:
        raise ConfigError("KIRO_SECRET_KEY is not a Fernet key (urlsafe base64 of 32 bytes)")


def load_fernet() -> None:
    """Import `cryptography` now: a supervisor does it before forking, so its workers share the pages."""
    from cryptography.fernet import Fernet  # noqa: F401


def generate_fernet_key() -> str:
    from cryptography.fernet import Fernet  # lazily: see the module docstring

    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts stored secrets (refresh tokens, client secrets, access tokens)."""

    PREFIX = "fernet:"

    def __init__(self, key: str) -> None:
        from cryptography.fernet import Fernet  # lazily: see the module docstring

        validate_fernet_key(key)
        self._fernet: Fernet = Fernet(key.encode())

    def encrypt(self, plain: str) -> str:
        return self.PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(self.PREFIX):
            raise SecretDecryptError("stored secret is not encrypted with this stack's format")
        from cryptography.fernet import InvalidToken  # cached by __init__

        try:
            return self._fernet.decrypt(stored[len(self.PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretDecryptError("stored secret does not decrypt with KIRO_SECRET_KEY") from exc


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_api_key(prefix: str = "sk-kiro-") -> str:
    return prefix + secrets.token_urlsafe(32)


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """scrypt hash with a random salt, self-describing: `scrypt$n$r$p$salt$hash`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        **_SCRYPT, salt=base64.b64encode(salt).decode(), digest=base64.b64encode(digest).decode()
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))
