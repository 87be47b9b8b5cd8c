"""The one Redis factory on real topologies: a Sentinel group and a 3-primary Cluster on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from shared.accounts.model import Account
from shared.accounts.store import AccountStore
from shared.crypto import SecretBox
from shared.errors import ConfigError
from shared.jobs import enqueue_refresh
from shared.keys import Keys
from shared.redis import BoundedCluster, BoundedRedis, check_redis_version, create_queue_redis, create_redis
from shared.redis_breaker import CircuitBreaker
from shared.settings import CommonSettings
from tests.support.redis_topologies import ClusterGroup, SentinelGroup

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sentinel_group() -> Iterator[SentinelGroup]:
    with SentinelGroup() as group:
        yield group


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterGroup]:
    with ClusterGroup() as group:
        yield group


def _settings(url: str, **values: object) -> CommonSettings:
    prefix = f"kst-{uuid.uuid4().hex[:12]}:"  # plain: a Cluster spreads its keys
    return CommonSettings(redis_url=url, redis_key_prefix=prefix, _env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
async def sentinel_client(sentinel_group: SentinelGroup) -> AsyncIterator[BoundedRedis]:
    client = create_redis(_settings(sentinel_group.url), bounded=True)
    yield client
    await client.aclose()


async def test_a_sentinel_url_reaches_the_primary_with_deadline_and_breaker(
    sentinel_group: SentinelGroup, sentinel_client: BoundedRedis
) -> None:
    await sentinel_client.set("kst:topology:probe", "written", ex=60)
    assert sentinel_group.replicate() == 1
    primary = create_redis(_settings(sentinel_group.primary.url))
    try:
        assert await primary.get("kst:topology:probe") == "written"  # it went to the primary
    finally:
        await primary.aclose()
    assert sentinel_client.guard.deadline == 0.5
    assert isinstance(sentinel_client.guard.breaker, CircuitBreaker)
    assert (await check_redis_version(sentinel_client)).startswith("7.")


async def test_refresh_jobs_are_queued_through_sentinel(
    sentinel_group: SentinelGroup, sentinel_client: BoundedRedis
) -> None:
    settings = _settings(sentinel_group.url)
    keys = Keys(settings.redis_key_prefix)
    queue = create_queue_redis(settings)
    try:
        assert await enqueue_refresh(queue, keys, "acc-1", force=True, reason="test")
    finally:
        await queue.aclose()
    (job,) = await sentinel_client.zrange(keys.arq_queue(), 0, -1)
    assert job.startswith(keys.refresh_job_id("acc-1", ""))


async def test_the_cluster_client_spreads_keys_over_every_primary(cluster: ClusterGroup) -> None:
    client = create_redis(_settings(cluster.url), bounded=True, allow_cluster=True)
    assert isinstance(client, BoundedCluster)
    try:
        names = [f"kst:cluster:{i}" for i in range(30)]
        for name in names:
            await client.set(name, name, ex=60)
        assert [await client.get(name) for name in names] == names
        pipe = client.pipeline()
        for name in names[:5]:
            pipe.incr(f"{name}:n")
        assert await pipe.execute() == [1] * 5
        assert (await check_redis_version(client)).startswith("7.")
        assert client.guard.breaker is not None
    finally:
        await client.aclose()
    for node in cluster.nodes:  # every primary got some of them: the client followed the slots
        single = create_redis(_settings(node.url))
        try:
            assert await single.dbsize() > 0
        finally:
            await single.aclose()


async def test_a_cluster_needs_a_cluster_safe_caller(cluster: ClusterGroup) -> None:
    with pytest.raises(ConfigError, match=r"cannot use"):
        create_redis(_settings(cluster.url))


async def test_cluster_pubsub_transactions_and_scripts_of_the_stacks_slot(cluster: ClusterGroup) -> None:
    settings = _settings(cluster.url)
    client = create_redis(settings, bounded=True, allow_cluster=True)
    keys = Keys(settings.redis_key_prefix)
    assert isinstance(client, BoundedCluster)
    listener = client.pubsub()
    try:
        await listener.subscribe(keys.events())
        await client.publish(keys.events(), "changed")  # counts only the publishing node's subscribers
        heard = [m async for m in _messages(listener, 2)]
        async with client.pipeline(transaction=True) as pipe:  # MULTI/EXEC on the slot's primary
            pipe.hset(keys.client_key("h"), "name", "one")
            pipe.sadd(keys.client_keys(), "h")
            pipe.hget(keys.client_key("h"), "name")
            done = await pipe.execute()
        store = AccountStore(client, keys, SecretBox(Fernet.generate_key().decode()))
        created = await store.create(Account(id="a1", label="a1"))
        listed = await store.ids()
        deleted = await store.delete("a1")
    finally:
        await listener.aclose()
        await client.aclose()

    assert heard[-1]["data"] == "changed"  # the Cluster relayed it to the subscriber's node
    assert done == [1, 1, "one"]
    assert created and listed == ["a1"] and deleted


async def _messages(listener: Any, count: int) -> AsyncIterator[dict[str, Any]]:
    async for message in listener.listen():
        yield message
        count -= 1
        if count == 0:
            return
