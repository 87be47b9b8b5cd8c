"""Redis connection factory (hiredis parser, bounded pool), bounded commands, and health check.

Every client comes from `create_redis`. Its commands are never resent once they may have reached the
server: only failures before a byte of the command is written (connect, handshake, the pooled
connection's health check) are retried, and reads (`_READS`) once more. A lost reply therefore never
runs a script, an INCR or any other write twice.

A *bounded* client (the router's: every command a client request waits on) also gives each command and
pipeline a deadline and a circuit breaker (`shared.redis_breaker`). The deadline is an `asyncio.timeout`
around the whole call, not a socket timeout: on cancellation redis-py disconnects a connection that was
mid-read instead of returning it to the pool, and a cancellation from the caller stays a cancellation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import KiroStackError
from shared.redis_breaker import CircuitBreaker
from shared.settings import CommonSettings

Redis = aioredis.Redis
T = TypeVar("T")

#: retries of a failure that happened before the command was written, and the pause before each
_CONNECT_RETRIES = 2
_CONNECT_BACKOFF = 0.02
#: commands that change nothing, so a lost reply may be asked for again (every other command: never)
# fmt: off
_READS = frozenset({
    "GET", "MGET", "HGET", "HMGET", "HGETALL", "HLEN", "HEXISTS", "SMEMBERS", "SISMEMBER", "SCARD",
    "ZRANGE", "ZRANGEBYSCORE", "ZSCORE", "ZCARD", "ZCOUNT", "LRANGE", "LLEN", "EXISTS", "TTL", "PTTL",
    "TYPE", "SCAN", "SSCAN", "HSCAN", "ZSCAN", "PING",
})
# fmt: on
#: what a lost or refused connection raises (the builtin TimeoutError of a deadline is handled first)
_NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisDeadlineExceeded(RedisTimeoutError, KiroStackError):
    """A bounded command got no answer within its deadline (a redis `TimeoutError`, so a `RedisError`)."""


class Guard:
    """The deadline and breaker every command of one client runs under (both optional)."""

    def __init__(self, deadline: float | None = None, breaker: CircuitBreaker | None = None) -> None:
        self.deadline = deadline
        self.breaker = breaker

    async def run(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` within the deadline, refused at once while the breaker is open; outcomes feed it."""
        breaker = self.breaker
        probe = breaker.admit() if breaker is not None else False
        try:
            async with asyncio.timeout(self.deadline):
                result = await call()
        except TimeoutError:  # the deadline (a redis TimeoutError is not a builtin one)
            if breaker is not None:
                breaker.failed(probe)
            raise RedisDeadlineExceeded(f"Redis {what} got no answer within {self.deadline}s") from None
        except _NETWORK_ERRORS:
            if breaker is not None:
                breaker.failed(probe)
            raise
        except BaseException as exc:  # an answer (a script error…) or the caller's cancellation
            if breaker is not None:
                if isinstance(exc, Exception):
                    breaker.succeeded(probe)
                else:
                    breaker.abandoned(probe)
            raise
        if breaker is not None:
            breaker.succeeded(probe)
        return result


class BoundedRedis(aioredis.Redis):
    """`redis.asyncio.Redis` whose commands run under a `Guard` and are retried only before being sent."""

    guard: Guard = Guard()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return await self.guard.run(str(args[0]), lambda: self._execute(args, options))

    async def _execute(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        pool = self.connection_pool
        resend = str(args[0]).upper() in _READS  # a read may be sent twice; nothing else may
        while True:
            conn = await self._ready_connection()
            try:
                await conn.send_command(*args, check_health=False)
                return await self.parse_response(conn, args[0], **options)
            except _NETWORK_ERRORS:
                if not resend:
                    raise
                resend = False
            finally:
                await pool.release(conn)

    async def _ready_connection(self) -> Connection:
        """A connected, healthy pooled connection; failures here are before sending, so retried."""
        attempt = 0
        while True:
            try:
                return await self._connection()
            except _NETWORK_ERRORS:
                if attempt >= _CONNECT_RETRIES:
                    raise
                attempt += 1
                await asyncio.sleep(_CONNECT_BACKOFF * attempt)

    async def _connection(self) -> Connection:
        pool = self.connection_pool
        conn: Connection = await pool.get_connection()  # connects (or reconnects) it
        try:
            # a PING when it sat idle past the interval; a failed check disconnects it
            await conn.check_health()  # type: ignore[no-untyped-call]
        except BaseException:
            await pool.release(conn)
            raise
        return conn

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> BoundedPipeline:
        pipe = BoundedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.guard = self.guard
        return pipe


class BoundedPipeline(Pipeline):
    """A pipeline whose `execute` runs under its client's `Guard` (never retried: the pool has no retry)."""

    guard: Guard = Guard()

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        execute = super().execute
        return await self.guard.run("pipeline", lambda: execute(raise_on_error))


def create_redis(
    settings: CommonSettings, *, max_connections: int | None = None, bounded: bool = False
) -> BoundedRedis:
    """A client with a blocking bounded pool; create it in the app lifespan and `aclose()` it there.

    The client owns its pool, so `aclose()` also closes every pooled connection. With `bounded`, each
    command has `REDIS_COMMAND_TIMEOUT` and the breaker opens after `REDIS_BREAKER_FAILURES` failures
    (`client.guard.breaker`, for metrics).

    No `socket_timeout`: with one, redis-py 5 turns a task cancellation that lands during a read into a
    TimeoutError, so a cancelled request or a background loop at shutdown carries on as if nothing
    happened. No redis-py `retry` either: it would resend a command whose reply was lost.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections or settings.redis_max_connections,
        timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        socket_keepalive=True,
        health_check_interval=30,
        decode_responses=True,
    )
    client = BoundedRedis(connection_pool=pool)
    client.auto_close_connection_pool = True
    if bounded:
        breaker = CircuitBreaker(settings.redis_breaker_failures, settings.redis_breaker_probe_seconds)
        client.guard = Guard(settings.redis_command_timeout, breaker)
    return client


async def ping(client: aioredis.Redis, within: float = 2.0) -> float | None:
    """Round-trip time in milliseconds, or None when Redis does not answer `within` seconds."""
    start = time.perf_counter()
    try:
        await asyncio.wait_for(client.ping(), within)
    except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError):
        return None
    return (time.perf_counter() - start) * 1000
