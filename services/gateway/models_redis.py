"""The refresher's per-account model lists in Redis, imported only when a gateway has REDIS_URL.

A standalone gateway never loads the redis client (tests/gateway/test_footprint.py).
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from shared.keys import Keys
from shared.kiro.models import Catalogue, decode_catalogue
from shared.logging import log_fields
from shared.redis_topology import StackRedis

logger = logging.getLogger(__name__)


class RedisCatalogues:
    """Reads `keys.account_models(id)`; each read is bounded by the client's deadline and breaker."""

    def __init__(self, client: StackRedis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def load(self, account_id: str) -> Catalogue | None:
        """The cached list, or None when there is none, it is unreadable or Redis does not answer."""
        try:
            raw = await self._client.get(self._keys.account_models(account_id))
        except RedisError as exc:
            logger.warning(
                "model list cache unavailable", extra=log_fields(account=account_id, error=repr(exc))
            )
            return None
        return decode_catalogue(raw)

    async def close(self) -> None:
        await self._client.aclose()
