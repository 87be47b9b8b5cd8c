"""Redis connection factory (hiredis parser, bounded pool), bounded commands, version and health checks.

Every client comes from `create_redis` (the stack's Redis: one server, Sentinel or Cluster, as
`shared.redis_location` reads the settings) or `create_queue_redis` (the arq job queue). Commands of
`create_redis` clients are never resent once they may have reached the server: only failures before a
byte of the command is written (connect, handshake, the pooled connection's health check) are retried,
and reads (`_READS`) once more. A lost reply therefore never runs a script, an INCR or any other write
twice.

A *bounded* client (the router's: every command a client request waits on) also gives each command and
pipeline a deadline and a circuit breaker (`shared.redis_breaker`). The deadline is an `asyncio.timeout`
around the whole call, not a socket timeout: on cancellation redis-py disconnects a connection that was
mid-read instead of returning it to the pool, and a cancellation from the caller stays a cancellation.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.accounts.layout import ensure_layout
from shared.errors import ConfigError
from shared.keys import Keys
from shared.redis_breaker import CircuitBreaker
from shared.redis_guard import NETWORK_ERRORS, Guard
from shared.redis_location import Topology
from shared.redis_topology import BoundedCluster, StackRedis, cluster_client, sentinel_pool
from shared.settings import CommonSettings

if TYPE_CHECKING:
    from arq.connections import ArqRedis

Redis = aioredis.Redis

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
_GetConnection = Callable[[Any], Awaitable[Connection]]
_get_connection_of: dict[type[aioredis.ConnectionPool], _GetConnection] = {}


def _get_connection(pool_class: type[aioredis.ConnectionPool]) -> _GetConnection:
    """A pool class's `get_connection` without redis-py's deprecated-argument wrapper, which inspects the
    call's arguments every time (~1.3 % of the router's CPU per proxied request; we pass none)."""
    found = _get_connection_of.get(pool_class)
    if found is None:
        found = cast(_GetConnection, inspect.unwrap(pool_class.get_connection))
        _get_connection_of[pool_class] = found
    return found


class _HiredisPacking:
    """Commands packed by hiredis (in C), as redis-py's synchronous client packs them; its asyncio connection
    packs in Python. Byte for byte the same output (tests/shared/test_redis_packing.py), ~7 µs less for a
    script call of 20 arguments, two of which every proxied request makes."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


_packing_of: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def hiredis_packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` (plain, TLS, Sentinel-managed…) packing its commands with hiredis."""
    found = _packing_of.get(connection_class)
    if found is None:
        bases = (_HiredisPacking, connection_class)
        found = cast(type[AbstractConnection], type(connection_class.__name__, bases, {}))
        _packing_of[connection_class] = found
    return found


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
            except NETWORK_ERRORS:
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
            except NETWORK_ERRORS:
                if attempt >= _CONNECT_RETRIES:
                    raise
                attempt += 1
                await asyncio.sleep(_CONNECT_BACKOFF * attempt)

    async def _connection(self) -> Connection:
        pool = self.connection_pool
        conn: Connection = await _get_connection(type(pool))(pool)  # connects (or reconnects) it
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


@overload
def create_redis(
    settings: CommonSettings,
    *,
    max_connections: int | None = None,
    bounded: bool = False,
    allow_cluster: Literal[False] = False,
) -> BoundedRedis: ...


@overload
def create_redis(
    settings: CommonSettings,
    *,
    max_connections: int | None = None,
    bounded: bool = False,
    allow_cluster: Literal[True],
) -> BoundedRedis | BoundedCluster: ...


def create_redis(
    settings: CommonSettings,
    *,
    max_connections: int | None = None,
    bounded: bool = False,
    allow_cluster: bool = False,
) -> BoundedRedis | BoundedCluster:
    """A client of the stack's Redis (one server, a Sentinel-watched primary or a Cluster) with a
    bounded pool; create it in the app lifespan and `aclose()` it there.

    The client owns its pool, so `aclose()` also closes every pooled connection. With `bounded`, each
    command has `REDIS_COMMAND_TIMEOUT` and the breaker opens after `REDIS_BREAKER_FAILURES` failures
    (`client.guard.breaker`, for metrics), whatever the topology. Behind Sentinel each new connection asks
    the sentinels for the current primary, so after a failover the next connection reaches the promoted
    one; a connection to a demoted primary is dropped on its first refused write.

    A Cluster is refused unless `allow_cluster` (the caller's Redis calls are Cluster-safe) and the key
    prefix carries a hash tag: the pool's Lua scripts touch pool-wide keys and several accounts' keys in
    one call, which a Cluster runs only when they share a slot (docs/architecture.md, Redis topologies).

    No `socket_timeout`: with one, redis-py 5 turns a task cancellation that lands during a read into a
    TimeoutError, so a cancelled request or a background loop at shutdown carries on as if nothing
    happened. No redis-py `retry` either: it would resend a command whose reply was lost.
    """
    location = settings.redis_location()
    size = max_connections or settings.redis_max_connections
    guard = Guard()
    if bounded:
        breaker = CircuitBreaker(settings.redis_breaker_failures, settings.redis_breaker_probe_seconds)
        guard = Guard(settings.redis_command_timeout, breaker)
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_socket_timeout,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "decode_responses": True,
    }
    if location.topology is Topology.CLUSTER:
        if not allow_cluster:
            raise ConfigError(
                f"REDIS_URL names a Redis Cluster ({location.describe()}), which this program cannot use; "
                "use a single server or Sentinel"
            )
        cluster = cluster_client(location, size, _CONNECT_RETRIES, options)
        cluster.guard = guard
        cluster.home_key = Keys(settings.redis_key_prefix).pick_prefix  # MULTI/EXEC keys live in its slot
        return cluster
    pool: aioredis.ConnectionPool
    if location.topology is Topology.SENTINEL:
        pool = sentinel_pool(location, max_connections=size, timeout=settings.redis_socket_timeout, **options)
    else:
        pool = aioredis.BlockingConnectionPool.from_url(
            location.url, max_connections=size, timeout=settings.redis_socket_timeout, **options
        )
    pool.connection_class = hiredis_packing(pool.connection_class)
    client = BoundedRedis(connection_pool=pool)
    client.auto_close_connection_pool = True
    client.guard = guard
    return client


def create_queue_redis(settings: CommonSettings, *, socket_timeout: float | None = None) -> ArqRedis:
    """The refresh job queue's client (`arq.connections.ArqRedis`) on `QUEUE_REDIS_URL` or the stack's
    Redis: one server or Sentinel (arq cannot use a Cluster; the settings check refuses one).

    Unbounded pool and bytes replies, as arq expects; `socket_timeout` for the worker, whose polls must
    notice a stalled Redis (it has no request to cancel).
    """
    from arq.connections import ArqRedis

    location = settings.queue_redis_location()
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_socket_timeout,
        "socket_timeout": socket_timeout,
        "socket_keepalive": True,
    }
    pool: aioredis.ConnectionPool
    if location.topology is Topology.SENTINEL:
        pool = sentinel_pool(location, blocking=False, **options)
    else:
        pool = aioredis.ConnectionPool.from_url(location.url, **options)
    queue = ArqRedis(pool, default_queue_name=Keys(settings.redis_key_prefix).arq_queue())
    queue.auto_close_connection_pool = True
    return queue


#: the oldest Redis the stack runs on: before 7, Lua's math.random starts from the same seed in every
#: script call, and the pool pick draws its weighted choice with it
MIN_REDIS_VERSION = (7, 0)


async def check_redis_version(client: aioredis.Redis | RedisCluster, what: str = "REDIS_URL") -> str:
    """The server's `redis_version`; `ConfigError` when older than `MIN_REDIS_VERSION` (on a Cluster,
    when any node is). Call at start-up."""
    if isinstance(client, RedisCluster):
        replies = await client.info("server", target_nodes=RedisCluster.ALL_NODES)
        versions = [str(reply.get("redis_version", "")) for reply in replies.values()]
    else:
        versions = [str((await client.info("server")).get("redis_version", ""))]
    oldest = min(versions, key=_version_tuple)
    if _version_tuple(oldest) < MIN_REDIS_VERSION:
        raise ConfigError(
            f"{what}: Redis {oldest or '(version unknown)'} is too old; Kiro Stack needs Redis 7.0 or newer "
            "(older versions give Lua's math.random the same seed in every script call, and the pool "
            "pick uses it)"
        )
    return oldest


async def redis_version_once_up(
    client: aioredis.Redis | RedisCluster, within: float, what: str = "REDIS_URL"
) -> str:
    """`check_redis_version`, waiting up to `within` seconds for a Redis that is still starting (under
    compose or Kubernetes it may come up after the service); its last error when it never answers."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await check_redis_version(client, what)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(0.25)


@asynccontextmanager
async def command_line_redis(settings: CommonSettings, max_connections: int) -> AsyncIterator[StackRedis]:
    """The stack's Redis for a one-shot command (the CLIs): any topology, its version checked once it
    answers (within 5 s), its data in the current key layout, closed with its pool afterwards."""
    redis = create_redis(settings, max_connections=max_connections, allow_cluster=True)
    try:
        await redis_version_once_up(redis, within=5.0)
        await ensure_layout(redis, Keys(settings.redis_key_prefix))
        yield redis
    finally:
        await redis.aclose()


def _version_tuple(version: str) -> tuple[int, int]:
    head = re.match(r"(\d+)\.(\d+)", version)
    return (int(head[1]), int(head[2])) if head else (0, 0)


async def ping(client: StackRedis, within: float = 2.0) -> float | None:
    """Round-trip time in milliseconds, or None when Redis does not answer `within` seconds."""
    start = time.perf_counter()
    try:
        await asyncio.wait_for(client.ping(), within)
    except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError):
        return None
    return (time.perf_counter() - start) * 1000
