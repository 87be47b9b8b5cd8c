"""Client key store and limiter against a real Redis."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from shared.accounts.columns import column
from shared.accounts.pool import Lease, Pool, PoolLimits
from shared.clientkeys import ClientKeys
from shared.crypto import sha256_hex
from shared.keys import Keys
from tests.router.conftest import SeedAccount


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


async def test_admitted_request_gets_its_pick_in_the_same_call(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount, pool: Pool
) -> None:
    store = ClientKeys(redis, keys)
    record, plain = await store.create("picker")
    await seed_account("only")

    key, admission, picked = await store.authorize_and_pick(plain, "claude-sonnet-4.5", pool, "conv-1")

    assert admission.ok and key is not None and key.id == record.id
    assert isinstance(picked, Lease) and picked.account_id == "only"
    assert await pool.in_flight("only") == 1
    assert await redis.get(keys.sticky("conv-1")) == "only"
    assert (await store.usage(record))["requests"] == 1


async def test_refused_requests_take_no_account_slot_nor_governor_spacing(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    store = ClientKeys(redis, keys)
    _, limited = await store.create("one-per-minute", rpm=1)
    _, haiku_only = await store.create("haiku-only", allowed_models=("claude-haiku-4.5",))
    await seed_account("spaced", min_interval_ms=60_000)
    pool = Pool(redis, keys, PoolLimits(jitter_ratio=0.0))

    _, first, lease = await store.authorize_and_pick(limited, "claude-sonnet-4.5", pool)
    assert first.ok and isinstance(lease, Lease)
    await pool.release(lease)
    await redis.hdel(
        keys.account_columns(), column("next_start", "spaced")
    )  # the next start may come at once
    refusals = [
        await store.authorize_and_pick(limited, "claude-sonnet-4.5", pool),
        await store.authorize_and_pick(haiku_only, "claude-sonnet-4.5", pool),
        await store.authorize_and_pick("sk-unknown", "claude-sonnet-4.5", pool),
        await store.authorize_and_pick("", "claude-sonnet-4.5", pool),
    ]

    assert [(a.verdict, p) for _, a, p in refusals] == [
        ("rpm", None),
        ("model", None),
        ("gone", None),
        ("gone", None),
    ]
    assert await pool.in_flight("spaced") == 0
    assert not await redis.hexists(keys.account_columns(), column("next_start", "spaced"))
    assert isinstance(await pool.pick(), Lease)
