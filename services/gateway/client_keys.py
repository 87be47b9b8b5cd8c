"""Client keys of a standalone gateway: `PROXY_API_KEY` and `PROXY_API_KEYS_SHA256`, checked in constant time.

A gateway reached without the router has no other way to tell its operator's clients from anyone else,
so an untrusted request is served only with one of these keys (docs/architecture.md, "Standalone").
"""

from __future__ import annotations

import re

from shared.crypto import constant_time_equals, sha256_hex
from shared.errors import ConfigError

_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def parse_digests(raw: str) -> tuple[str, ...]:
    """The comma-separated SHA-256 hex digests of `PROXY_API_KEYS_SHA256`; ConfigError on a malformed one."""
    digests = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for digest in digests:
        if not _HEX_DIGEST.match(digest):
            raise ConfigError(
                "PROXY_API_KEYS_SHA256 must be comma-separated SHA-256 hex digests (64 hex characters each)"
            )
    return digests


class ClientKeys:
    """The keys a standalone client may present; none configured means no client is accepted."""

    def __init__(self, plain: str, digests: tuple[str, ...]) -> None:
        self._plain = plain
        self._digests = digests

    @property
    def configured(self) -> bool:
        return bool(self._plain or self._digests)

    def accepts(self, presented: str) -> bool:
        """True when `presented` is the plain key or hashes to a listed digest (every one compared)."""
        ok = bool(self._plain) and constant_time_equals(presented, self._plain)
        digest = sha256_hex(presented)
        for listed in self._digests:  # no early exit: the time taken does not depend on which matched
            ok = constant_time_equals(digest, listed) or ok
        return ok
