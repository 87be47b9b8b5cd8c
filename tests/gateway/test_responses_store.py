"""Where Responses conversations wait for their follow-up: the in-process LRU and Redis, both bounded."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from services.gateway.responses_redis import RedisStore
from services.gateway.responses_store import MemoryStore, StoreUnavailable
from services.gateway.settings import GatewaySettings
from shared.keys import Keys
from shared.redis import create_redis
from tests.support.polling import wait_for

ITEMS = [{"type": "message", "role": "user", "content": "hello"}]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections are accepted (by the kernel's backlog) and never answered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


async def test_memory_store_forgets_after_its_ttl() -> None:
    store = MemoryStore(ttl=0.05, max_bytes=10_000, total_bytes=100_000)
    assert await store.save("resp_a", ITEMS)
    assert await store.load("resp_a") == ITEMS
    await wait_for(lambda: _forgotten(store, "resp_a"), what="the conversation to expire")


async def _forgotten(store: MemoryStore, response_id: str) -> bool:
    return await store.load(response_id) is None


async def test_memory_store_evicts_the_least_recently_used_beyond_its_total_size() -> None:
    one = len(b'[{"type":"message","role":"user","content":"hello"}]')
    store = MemoryStore(ttl=60, max_bytes=10_000, total_bytes=2 * one)
    await store.save("resp_a", ITEMS)
    await store.save("resp_b", ITEMS)
    assert await store.load("resp_a") == ITEMS  # a is now the most recently used
    await store.save("resp_c", ITEMS)
    assert await store.load("resp_b") is None
    assert await store.load("resp_a") == ITEMS and await store.load("resp_c") == ITEMS


async def test_a_conversation_over_the_size_limit_is_not_stored_rather_than_cut() -> None:
    store = MemoryStore(ttl=60, max_bytes=1024, total_bytes=100_000)
    big = [{"type": "message", "role": "user", "content": "x" * 2000}]
    assert await store.save("resp_big", big) is False
    assert await store.load("resp_big") is None


async def test_redis_store_keeps_the_conversation_under_the_stack_prefix_with_its_ttl(
    redis_url: str, key_prefix: str, redis: aioredis.Redis
) -> None:
    settings = GatewaySettings(redis_url=redis_url, redis_key_prefix=key_prefix)
    store = RedisStore(create_redis(settings, bounded=True), Keys(key_prefix), ttl=120, max_bytes=1024)
    try:
        assert await store.save("resp_r", ITEMS)
        assert await store.load("resp_r") == ITEMS
        assert await store.load("resp_unknown") is None
        assert await store.save("resp_big", [{"content": "x" * 2000}]) is False
    finally:
        await store.close()
    assert 100 < await redis.ttl(Keys(key_prefix).response("resp_r")) <= 120
    assert await redis.exists(Keys(key_prefix).response("resp_big")) == 0


async def test_a_silent_redis_costs_one_deadline_not_a_hang(silent_port: int) -> None:
    settings = GatewaySettings(redis_url=f"redis://127.0.0.1:{silent_port}/0", redis_command_timeout=0.2)
    store = RedisStore(create_redis(settings, bounded=True), Keys("kst:silent:"), ttl=60, max_bytes=1024)
    try:
        # an unbounded call never ends: this guard only tells a hang from an answer, whatever the load
        async with asyncio.timeout(60):
            with pytest.raises(StoreUnavailable):
                await store.load("resp_x")
            assert await store.save("resp_x", ITEMS) is False  # logged, never raised into the answer
    finally:
        await store.close()


def test_the_store_is_redis_when_redis_url_is_set_and_memory_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert GatewaySettings(_env_file=None).responses_backend() == "memory"  # type: ignore[call-arg]
    assert GatewaySettings(redis_url="redis://127.0.0.1:6379/0").responses_backend() == "redis"
    assert (
        GatewaySettings(responses_store="memory", redis_url="redis://h:1/0").responses_backend() == "memory"
    )
