"""The clients behind `shared.redis.create_redis` for Sentinel and Cluster (one server needs none).

Sentinel: a pool whose connections ask the sentinels for the current primary each time they connect.
Cluster: a `RedisCluster` whose commands and pipelines run under the same `Guard` as every bounded client
and are never sent twice; its pub/sub goes through one node (a Cluster relays classic pub/sub to every
node).
"""

from __future__ import annotations

import random
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import RedisClusterException

from shared.redis_guard import NETWORK_ERRORS, Guard
from shared.redis_location import RedisLocation


class _SentinelPool(SentinelConnectionPool):
    """A Sentinel pool whose close also closes its connections to the sentinels."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # a close (a changed primary disconnects the idle connections only)
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.aclose()


class _BlockingSentinelPool(_SentinelPool, aioredis.BlockingConnectionPool):
    """A Sentinel pool that waits (up to its `timeout`) for a free connection, like the standalone one."""


def sentinel_pool(
    location: RedisLocation, *, blocking: bool = True, **options: Any
) -> SentinelConnectionPool:
    """A pool of connections to the primary the sentinels name now (asked again on each new connection)."""
    sentinel_options = {
        "socket_connect_timeout": options.get("socket_connect_timeout"),
        "socket_keepalive": True,
        "ssl": location.tls,
    }
    manager = Sentinel(list(location.nodes), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    pool_class = _BlockingSentinelPool if blocking else _SentinelPool
    return pool_class(  # type: ignore[no-untyped-call]
        location.service,
        manager,
        db=location.db,
        username=location.username,
        password=location.password,
        ssl=location.tls,
        **options,
    )


class BoundedCluster(RedisCluster):
    """`redis.asyncio.RedisCluster` whose commands and pipelines run under a `Guard`, never resent after
    a connection failure (each node's pool is bounded too, but fails at once when exhausted)."""

    guard: Guard = Guard()
    #: what a node connection needs besides its address (credentials, TLS, timeouts), for `pubsub`
    node_options: dict[str, Any]  # set by `cluster_client`

    def pubsub(self) -> PubSub:
        """Pub/sub through one primary (any: a Cluster delivers a PUBLISH on every node); a subscriber that
        resubscribes after an error may land on another one."""
        nodes = self.get_primaries() or list(self.nodes_manager.startup_nodes.values())
        node = random.choice(nodes)
        pool = aioredis.ConnectionPool(host=node.host, port=node.port, **self.node_options)
        return _NodePubSub(connection_pool=pool)

    async def publish(self, channel: str, message: str | bytes) -> int:
        """PUBLISH through any node (the Cluster relays it to every node's subscribers)."""
        return int(await self.execute_command("PUBLISH", channel, message))

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        execute = super().execute_command
        return await self.guard.run(str(args[0]), lambda: execute(*args, **kwargs))

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if transaction or shard_hint:
            raise RedisClusterException("a Cluster pipeline has no transaction and no shard hint")
        pipe = BoundedClusterPipeline(self)  # type: ignore[abstract]  # redis-py's own class is the same
        pipe.guard = self.guard
        return pipe


class _NodePubSub(PubSub):
    """A PubSub on a pool of its own, which its close disconnects."""

    async def aclose(self) -> None:
        await super().aclose()  # type: ignore[no-untyped-call]
        await self.connection_pool.disconnect()


class BoundedClusterPipeline(ClusterPipeline):
    """A Cluster pipeline sent once under its client's `Guard` (redis-py's would resend it)."""

    guard: Guard = Guard()

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        return await self.guard.run("pipeline", lambda: self._send_once(raise_on_error, allow_redirections))

    async def _send_once(self, raise_on_error: bool, allow_redirections: bool) -> list[Any]:
        commands, self._command_stack = self._command_stack, []
        if not commands:
            return []
        client = self._client
        if client._initialize:
            await client.initialize()
        try:
            result: list[Any] = await self._execute(
                client, commands, raise_on_error=raise_on_error, allow_redirections=allow_redirections
            )
        except NETWORK_ERRORS:
            await client.aclose()  # the next command reads the topology again
            raise
        return result


def cluster_client(
    location: RedisLocation, size: int, connect_retries: int, options: dict[str, Any]
) -> BoundedCluster:
    """A bounded-pool Cluster client seeded with the location's nodes (its guard set by the caller)."""
    cluster = BoundedCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in location.nodes],
        username=location.username,
        password=location.password,
        ssl=location.tls,
        max_connections=size,
        # a command is never sent again after a lost connection (see `shared.redis`); the next
        # command finds the new topology
        cluster_error_retry_attempts=0,
        connection_error_retry_attempts=connect_retries,
        **options,
    )
    cluster.node_options = {
        "username": location.username,
        "password": location.password,
        **({"connection_class": aioredis.SSLConnection} if location.tls else {}),
        **options,
    }
    return cluster  # type: ignore[no-any-return]


#: the stack's Redis client as `shared.redis.create_redis(..., allow_cluster=True)` returns it: one server
#: (or a Sentinel-watched primary) or a Cluster; code that runs on both takes this type
StackRedis = aioredis.Redis | BoundedCluster
