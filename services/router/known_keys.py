"""Per-process memory of client keys seen to exist, so a request's key is checked before its body is read.

The memory is advisory: it only decides whether a request is worth reading. The admission script that
runs with the pick (`ClientKeys.authorize_and_pick`) stays the authority, so a key deleted or disabled
after it was remembered still gets its 401/403, only after its (size-limited) body was read. That is why
entries need no change notices: they expire after `ttl` seconds and are dropped as soon as the admission
says the key is gone. Unknown keys are never remembered (a flood of random keys must not fill memory or
be answered from a stale "unknown" once the key is created).
"""

from __future__ import annotations

import time

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_SIZE = 10_000


class KnownKeys:
    """SHA-256 digests of client keys that existed and were enabled within the last `ttl` seconds."""

    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, size: int = DEFAULT_SIZE) -> None:
        self._ttl = ttl
        self._size = size
        self._until: dict[str, float] = {}

    def known(self, digest: str) -> bool:
        until = self._until.get(digest)
        return until is not None and until > time.monotonic()

    def remember(self, digest: str) -> None:
        if digest not in self._until and len(self._until) >= self._size:
            del self._until[next(iter(self._until))]  # the oldest entry: dicts keep insertion order
        self._until.pop(digest, None)
        self._until[digest] = time.monotonic() + self._ttl

    def forget(self, digest: str) -> None:
        self._until.pop(digest, None)
