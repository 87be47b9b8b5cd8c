"""The Redis side of the Responses store, imported only when a gateway has REDIS_URL.

A standalone gateway never loads the redis client (tests/gateway/test_footprint.py).
"""

from __future__ import annotations

import logging

import orjson
from redis.exceptions import RedisError

from services.gateway.responses_store import Items, StoreUnavailable, encode
from shared.keys import Keys
from shared.logging import log_fields
from shared.redis import check_redis_version
from shared.redis_topology import StackRedis

logger = logging.getLogger(__name__)


class RedisStore:
    """Conversations in Redis under `keys.response(id)`, each command bounded by the client's deadline."""

    def __init__(self, client: StackRedis, keys: Keys, ttl: float, max_bytes: int) -> None:
        self._client = client
        self._keys = keys
        self._ttl = max(1, round(ttl))
        self._max_bytes = max_bytes

    async def load(self, response_id: str) -> Items | None:
        try:
            value = await self._client.get(self._keys.response(response_id))
        except RedisError as exc:
            logger.warning("responses store unavailable", extra=log_fields(error=repr(exc)))
            raise StoreUnavailable(str(exc)) from None
        if value is None:
            return None
        items: Items = orjson.loads(value)
        return items

    async def save(self, response_id: str, items: Items) -> bool:
        value = encode(response_id, items, self._max_bytes)
        if value is None:
            return False
        try:
            await self._client.set(self._keys.response(response_id), value, ex=self._ttl)
        except RedisError as exc:
            logger.warning(
                "responses conversation not stored",
                extra=log_fields(response_id=response_id, error=repr(exc)),
            )
            return False
        return True

    async def start(self) -> None:
        """Refuse a Redis older than 7; a Redis that does not answer yet is only logged (the store is
        optional: it fails its commands until Redis is back)."""
        try:
            version = await check_redis_version(self._client)
        except RedisError as exc:
            logger.warning("responses store: redis unreachable at start", extra=log_fields(error=repr(exc)))
            return
        logger.info("responses store on redis", extra=log_fields(redis_version=version))

    async def close(self) -> None:
        await self._client.aclose()
