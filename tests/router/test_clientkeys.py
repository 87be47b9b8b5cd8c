"""Client key store and limiter against a real Redis."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from shared.clientkeys import ClientKeys
from shared.crypto import sha256_hex
from shared.keys import Keys


async def test_created_key_authenticates_and_only_its_hash_is_stored(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)

    record, plain = await store.create("ci", rpm=5)
    found = await store.authenticate(plain)

    assert found is not None and found.id == record.id and found.rpm == 5
    assert await redis.exists(keys.client_key(sha256_hex(plain)))
    assert plain not in str(await redis.hgetall(keys.client_key(sha256_hex(plain))))
    assert await store.authenticate(plain + "x") is None
    assert await store.authenticate("") is None


async def test_bootstrap_key_is_stored_once(redis: aioredis.Redis, keys: Keys) -> None:
    store = ClientKeys(redis, keys)

    first = await store.ensure("sk-bootstrap-from-env")
    second = await store.ensure("sk-bootstrap-from-env")

    assert (first, second) == (True, False)
    assert len(await store.list()) == 1


async def test_rpm_window_admits_exactly_the_limit_under_concurrency(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)
    record, _ = await store.create("burst", rpm=10)

    verdicts = await asyncio.gather(*(store.admit(record) for _ in range(50)))

    assert sum(v.ok for v in verdicts) == 10
    refused = [v for v in verdicts if not v.ok]
    assert {v.verdict for v in refused} == {"rpm"}
    assert all(0 < v.retry_after <= 60 for v in refused)


async def test_daily_budget_refuses_once_used_up(redis: aioredis.Redis, keys: Keys) -> None:
    store = ClientKeys(redis, keys)
    record, _ = await store.create("budget", daily_tokens=100)

    before = await store.admit(record)
    await store.record_usage(record, 60, 40)
    after = await store.admit(record)

    assert before.ok
    assert after.verdict == "tokens" and 0 < after.retry_after <= 86400
    assert (await store.usage(record))["tokens"] == 100


async def test_update_and_delete_by_id(redis: aioredis.Redis, keys: Keys) -> None:
    store = ClientKeys(redis, keys)
    record, plain = await store.create("editable")

    updated = await store.update(record.id, enabled=False, allowed_models=["claude-sonnet-4.5"])
    reread = await store.authenticate(plain)
    deleted = await store.delete(record.id)

    assert updated is not None and not updated.enabled
    assert reread is not None and reread.allowed_models == ("claude-sonnet-4.5",)
    assert not reread.allows_model("claude-opus-4.5")
    assert (await store.admit(reread)).verdict == "gone"
    assert deleted and await store.authenticate(plain) is None


async def test_authorize_checks_the_model_list_and_counts_only_admitted_requests(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)
    record, plain = await store.create("haiku-only", allowed_models=("claude-haiku-4.5",))

    allowed_key, allowed = await store.authorize(plain, "claude-haiku-4.5")
    _, refused = await store.authorize(plain, "claude-opus-4.5")
    unknown_key, unknown = await store.authorize("sk-unknown", "claude-haiku-4.5")

    assert allowed.ok and allowed_key is not None and allowed_key.id == record.id
    assert refused.verdict == "model"
    assert unknown_key is None and unknown.verdict == "gone"
    assert (await store.usage(record))["requests"] == 1


async def test_recorded_usage_adds_tokens_and_counts_errors(redis: aioredis.Redis, keys: Keys) -> None:
    store = ClientKeys(redis, keys)
    record, _ = await store.create("usage")

    await store.record_usage(record, 10, 5)
    await store.record_usage(record, 0, 0, error=True)

    assert await store.usage(record) == {"input_tokens": 10, "output_tokens": 5, "tokens": 15, "errors": 1}
    assert (
        await redis.ttl(keys.client_key_usage(record.key_hash, time.strftime("%Y-%m-%d", time.gmtime()))) > 0
    )
