"""Redis connection factory and health check (hiredis parser, bounded pool, timeouts)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.settings import CommonSettings

Redis = aioredis.Redis


def create_redis(settings: CommonSettings, *, max_connections: int | None = None) -> Redis:
    """A client with a blocking bounded pool; create it in the app lifespan and `aclose()` it there.

    The client owns its pool, so `aclose()` also closes every pooled connection.

    No `socket_timeout`: with one, redis-py 5 turns a task cancellation that lands during a read into a
    TimeoutError, so a cancelled request or a background loop at shutdown carries on as if nothing
    happened. Dead servers are found by the connect timeout, TCP keepalive and health checks instead, and
    `ping()` bounds its own wait.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections or settings.redis_max_connections,
        timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        socket_keepalive=True,
        health_check_interval=30,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis.from_pool(pool)


async def ping(client: Redis, within: float = 2.0) -> float | None:
    """Round-trip time in milliseconds, or None when Redis does not answer `within` seconds."""
    start = time.perf_counter()
    try:
        await asyncio.wait_for(client.ping(), within)
    except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError):
        return None
    return (time.perf_counter() - start) * 1000
