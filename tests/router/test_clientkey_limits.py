"""Per-key credits, monthly credit budget, concurrency cap and expiry, against a real Redis."""

from __future__ import annotations

import calendar
import time

import pytest
import redis.asyncio as aioredis

from shared.accounts.pool import Lease, Pool, PoolLimits
from shared.clientkey_record import next_utc_month
from shared.clientkeys import ClientKeys
from shared.keys import Keys
from tests.router.conftest import SeedAccount
from tests.support.polling import wait_for

MID_DECEMBER = float(calendar.timegm((2026, 12, 15, 12, 0, 0)))
NEW_YEAR = float(calendar.timegm((2027, 1, 1, 0, 0, 0)))


async def test_spent_monthly_credits_refuse_the_key_until_the_first_of_next_month(
    redis: aioredis.Redis, keys: Keys
) -> None:
    december = ClientKeys(redis, keys, clock=lambda: MID_DECEMBER)
    record, _ = await december.create("budget", monthly_credits=2)

    first = await december.admit(record)
    await december.record_usage(record, 10, 20, credits=2.5, request_id=first.request_id)
    refused = await december.admit(record)
    january = await ClientKeys(redis, keys, clock=lambda: NEW_YEAR).admit(record)

    assert first.ok
    assert refused.verdict == "credits" and refused.retry_after == NEW_YEAR - MID_DECEMBER
    assert january.ok
    assert next_utc_month(NEW_YEAR - 1) == NEW_YEAR


async def test_credits_are_counted_per_day_month_and_all_time_and_deleted_with_the_key(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)
    record, _ = await store.create("credits")

    await store.record_usage(record, 100, 50, credits=0.25)
    await store.record_usage(record, 0, 0, credits=0.5, error=True)
    total = await store.usage_total(record)
    month = await redis.hgetall(keys.client_key_month_credits(record.key_hash, time.strftime("%Y-%m")))
    today = await store.usage(record)
    await store.delete(record.id)

    assert total == {"input_tokens": 100, "output_tokens": 50, "tokens": 150, "credits": 0.75, "errors": 1}
    assert today == total and month == {"credits": "0.75"}
    assert await redis.ttl(keys.client_key_usage_total(record.key_hash)) == -2  # gone with the key
    assert await redis.ttl(keys.client_key_month_credits(record.key_hash, time.strftime("%Y-%m"))) > 0


async def test_concurrency_cap_refuses_a_third_request_while_two_are_in_flight(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)
    record, _ = await store.create("two-at-a-time", max_concurrency=2)

    first, second = await store.admit(record), await store.admit(record)
    third = await store.admit(record)
    await store.record_usage(record, 1, 1, request_id=first.request_id)
    after_settle = await store.admit(record)

    assert first.ok and second.ok
    assert third.verdict == "concurrency" and 0 < third.retry_after <= 2
    assert after_settle.ok
    assert await store.in_flight(record) == 2


async def test_settle_with_the_lease_release_frees_the_in_flight_entry(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount, pool: Pool
) -> None:
    store = ClientKeys(redis, keys)
    record, plain = await store.create("one-at-a-time", max_concurrency=1)
    await seed_account("only")

    _, admitted, lease = await store.authorize_and_pick(plain, "claude-sonnet-4.5", pool)
    _, while_busy, _ = await store.authorize_and_pick(plain, "claude-sonnet-4.5", pool)
    assert isinstance(lease, Lease)
    usage = store.usage_call(record, 5, 7, credits=0.125, request_id=admitted.request_id)
    await pool.release(lease, "ok", credits=0.125, key_usage=usage)

    assert while_busy.verdict == "concurrency"
    assert await store.in_flight(record) == 0
    assert (await store.usage_total(record))["credits"] == 0.125


async def test_an_abandoned_in_flight_entry_stops_counting_once_it_expires(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)
    _, plain = await store.create("crashed-router", max_concurrency=1)
    short_leases = Pool(redis, keys, PoolLimits(lease_ttl_seconds=0.3))  # no account: admission only

    _, abandoned, _ = await store.authorize_and_pick(plain, "m", short_leases)  # never settled
    _, refused, _ = await store.authorize_and_pick(plain, "m", short_leases)

    async def admitted() -> bool:
        _, verdict, _ = await store.authorize_and_pick(plain, "m", short_leases)
        return verdict.ok

    assert abandoned.ok and refused.verdict == "concurrency"
    await wait_for(admitted, within=5, what="the abandoned entry to expire")


async def test_expired_key_is_refused_and_a_new_key_cannot_be_created_expired(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)
    record, plain = await store.create("contractor", expires_at=int(time.time()) + 3600, note="until Friday")

    before = await store.admit(record)
    await store.update(record.id, expires_at=int(time.time()) - 1)
    key, after = await store.authorize(plain)

    assert before.ok
    assert after.verdict == "expired" and key is not None and key.expired(time.time())
    assert key.note == "until Friday"
    with pytest.raises(ValueError, match="future"):
        await store.create("late", expires_at=int(time.time()) - 10)
    with pytest.raises(ValueError, match="note"):
        await store.create("wordy", note="x" * 501)
    with pytest.raises(ValueError, match="max_concurrency"):
        await store.update(record.id, max_concurrency=-1)


async def test_a_long_stream_renews_its_in_flight_entry_with_its_lease(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = ClientKeys(redis, keys)
    record, plain = await store.create("streamer", max_concurrency=1)
    short_leases = Pool(redis, keys, PoolLimits(lease_ttl_seconds=0.3))

    _, streaming, _ = await store.authorize_and_pick(plain, "m", short_leases)
    await store.renew_slot(record, streaming.request_id, 60)
    until_ms = await redis.zscore(keys.client_key_inflight(record.key_hash), streaming.request_id)

    assert until_ms is not None and until_ms > (time.time() + 50) * 1000
    assert await redis.pttl(keys.client_key_inflight(record.key_hash)) > 50_000
