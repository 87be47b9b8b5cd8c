"""Where Responses API conversations wait for a `previous_response_id` follow-up: Redis or this process.

A stored value is the conversation as input items (what was sent, then the answer's output items), JSON,
at most `RESPONSES_MAX_BYTES`; a longer one is not stored (its follow-up gets the 400 of an unknown id,
never a silently shortened history). Entries live `RESPONSES_TTL_SECONDS`.

Behind the router every gateway replica must see every answer: Redis (`keys.response(id)`, SET EX), on
the bounded client (a deadline per command, a circuit breaker). A standalone gateway without Redis keeps
them in an LRU bounded in bytes. The store is chosen once at start (`RESPONSES_STORE`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

import orjson

from shared.errors import KiroStackError
from shared.logging import log_fields

logger = logging.getLogger(__name__)

Items = list[dict[str, Any]]


class StoreUnavailable(KiroStackError):
    """The store did not answer (Redis down or past its deadline): the follow-up cannot be served now."""


class ConversationStore(Protocol):
    async def load(self, response_id: str) -> Items | None:
        """The stored conversation, or None when unknown or expired; StoreUnavailable when it cannot tell."""
        ...

    async def save(self, response_id: str, items: Items) -> bool:
        """Keep the conversation; False when it was not stored (too large, store failing: logged)."""
        ...

    async def start(self) -> None:
        """At start-up: check what the store needs (`ConfigError` when it cannot work)."""
        ...

    async def close(self) -> None: ...


def encode(response_id: str, items: Items, max_bytes: int) -> bytes | None:
    value = orjson.dumps(items)
    if len(value) > max_bytes:
        logger.warning(
            "responses conversation too large to store; a follow-up naming it will be refused",
            extra=log_fields(response_id=response_id, bytes=len(value), limit=max_bytes),
        )
        return None
    return value


class MemoryStore:
    """In-process LRU with a TTL, bounded by the total size of the stored values."""

    def __init__(self, ttl: float, max_bytes: int, total_bytes: int) -> None:
        self._ttl = ttl
        self._max_bytes = max_bytes
        self._total_limit = total_bytes
        self._total = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def load(self, response_id: str) -> Items | None:
        entry = self._entries.get(response_id)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            self._drop(response_id)
            return None
        self._entries.move_to_end(response_id)
        items: Items = orjson.loads(value)
        return items

    async def save(self, response_id: str, items: Items) -> bool:
        value = encode(response_id, items, min(self._max_bytes, self._total_limit))
        if value is None:
            return False
        self._drop(response_id)
        self._entries[response_id] = (time.monotonic() + self._ttl, value)
        self._total += len(value)
        while self._total > self._total_limit:
            self._drop(next(iter(self._entries)))
        return True

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is not None:
            self._total -= len(entry[1])

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._total = 0
