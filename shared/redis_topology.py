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
from redis.asyncio.client import Pipeline, PubSub
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
    #: what a node connection needs besides its address (credentials, TLS, timeouts): pub/sub, transactions
    node_options: dict[str, Any]  # set by `cluster_client`
    #: a key of the stack's one slot (its hash-tagged prefix), where MULTI/EXEC transactions run
    home_key: str = ""
    _home: aioredis.Redis | None = None

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

    def pipeline(  # type: ignore[override]  # a transaction is a node's pipeline, not a Cluster one
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline | Pipeline:
        """A Cluster pipeline; with `transaction`, a MULTI/EXEC pipeline on the primary of the stack's slot
        (every key of the stack is there: redis-py's Cluster client has no transactions of its own)."""
        if shard_hint or (transaction and not self.home_key):
            raise RedisClusterException(
                "a Cluster pipeline has no shard hint, nor a transaction without a home slot"
            )
        if transaction:
            if self._home is None:
                wait = self.node_options.get("socket_connect_timeout") or 5.0  # for a free connection
                pool = _SlotPool(self, self.home_key, max_connections=8, timeout=wait, **self.node_options)
                self._home = aioredis.Redis(connection_pool=pool)
            home = _GuardedPipeline(self._home.connection_pool, self._home.response_callbacks, True, None)
            home.guard = self.guard
            return home
        pipe = BoundedClusterPipeline(self)  # type: ignore[abstract]  # redis-py's own class is the same
        pipe.guard = self.guard
        return pipe

    async def aclose(self) -> None:
        await super().aclose()
        if self._home is not None:
            await self._home.connection_pool.disconnect()


class _SlotPool(aioredis.BlockingConnectionPool):
    """Connections to the primary that serves one key's slot, looked up when a connection is taken (after
    a failover the next connection goes to the new primary)."""

    def __init__(self, cluster: RedisCluster, key: str, **options: Any) -> None:
        super().__init__(**options)
        self._cluster, self._key = cluster, key

    async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any) -> Any:
        if self._cluster._initialize:
            await self._cluster.initialize()
        node = self._cluster.get_node_from_key(self._key)
        if node is None:
            raise RedisClusterException(f"no Cluster node serves the slot of {self._key!r}")
        if (node.host, node.port) != (self.connection_kwargs.get("host"), self.connection_kwargs.get("port")):
            await self.disconnect(inuse_connections=False)
            self.connection_kwargs.update(host=node.host, port=node.port)
        if command_name is None and not keys:  # what redis-py 5.3 asks (arguments are deprecated)
            return await super().get_connection(**options)
        return await super().get_connection(command_name, *keys, **options)


class _GuardedPipeline(Pipeline):
    """A transaction pipeline sent once under its Cluster client's `Guard`."""

    guard: Guard = Guard()

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        execute = super().execute
        return await self.guard.run("pipeline", lambda: execute(raise_on_error))


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
