"""The pick Lua script against a real Redis: weights, exclusions, caps, leases, governor, stickiness."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
import redis.asyncio as aioredis

from services.router.runtime import RuntimeSettings
from shared.accounts.model import AccountState
from shared.accounts.pool import Lease, PickMiss, Pool, PoolLimits, run_script, today
from shared.accounts.store import AccountStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys
from tests.router.conftest import SeedAccount
from tests.support.accounts import column_of, columns_of
from tests.support.polling import wait_for


async def _picks(pool: Pool, n: int, **kwargs: object) -> list[Lease | PickMiss]:
    results: list[Lease | PickMiss] = []
    for start in range(0, n, 250):
        batch = [pool.pick(**kwargs) for _ in range(min(250, n - start))]  # type: ignore[arg-type]
        results.extend(await asyncio.gather(*batch))
    return results


def _ids(results: list[Lease | PickMiss]) -> Counter[str]:
    return Counter(r.account_id for r in results if isinstance(r, Lease))


async def test_pick_distribution_follows_weights(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    weights = {"w1": 100, "w2": 200, "w3": 300, "w4": 400}
    for account_id, weight in weights.items():
        await seed_account(account_id, weight=weight)
    pool = Pool(redis, keys, PoolLimits(max_concurrency=100_000))

    counts = _ids(await _picks(pool, 10_000))

    assert sum(counts.values()) == 10_000
    total = sum(weights.values())
    chi2 = sum((counts[a] - 10_000 * w / total) ** 2 / (10_000 * w / total) for a, w in weights.items())
    assert chi2 < 16.27, (chi2, counts)  # chi-square, 3 degrees of freedom, p = 0.001


async def test_a_weight_changed_through_the_store_applies_to_the_next_picks(
    redis: aioredis.Redis, keys: Keys, box: SecretBox, seed_account: SeedAccount
) -> None:
    # the pick keeps weights in a hash of its own: a changed weight must not be served stale
    for account_id in ("even-1", "even-2"):
        await seed_account(account_id, weight=100)
    pool = Pool(redis, keys, PoolLimits(max_concurrency=100_000))
    store = AccountStore(redis, keys, box)
    before = _ids(await _picks(pool, 2_000))
    assert await store.update("even-1", {"weight": 900})
    after = _ids(await _picks(pool, 2_000))
    await store.delete("even-2")
    await seed_account("even-2", weight=900)  # the same id again, heavier: no stale weight either
    again = _ids(await _picks(pool, 2_000))

    assert 800 < before["even-1"] < 1_200
    assert 1_700 < after["even-1"] < 1_900  # 90 %
    assert 800 < again["even-1"] < 1_200


async def test_unusable_accounts_are_never_picked(pool: Pool, seed_account: SeedAccount) -> None:
    future = time.time() + 600
    await seed_account("good")
    await seed_account("disabled", state=AccountState.DISABLED)
    await seed_account("cooling", state=AccountState.COOLDOWN, until=future)
    await seed_account("exhausted", state=AccountState.EXHAUSTED, until=future)
    await seed_account("relogin", state=AccountState.NEEDS_RELOGIN)
    await seed_account("expired", expires_in=-10)
    await seed_account("expiring", expires_in=30)  # inside the 60 s margin
    await seed_account("no-token", access_token_enc="")
    await seed_account("zero-weight", weight=0)
    await seed_account("switched-off", enabled=False)

    counts = _ids(await _picks(pool, 300))

    assert counts == Counter({"good": 300})


async def test_cooldown_that_has_ended_makes_the_account_pickable_again(
    pool: Pool, seed_account: SeedAccount
) -> None:
    await seed_account("back", state=AccountState.COOLDOWN, until=time.time() - 1)

    result = await pool.pick()

    assert isinstance(result, Lease) and result.account_id == "back"


async def test_concurrency_cap_holds_under_200_concurrent_picks(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("a", max_concurrency=5)
    await seed_account("b", max_concurrency=3)
    await seed_account("c")  # the stack default below
    pool = Pool(redis, keys, PoolLimits(max_concurrency=7))

    results = await asyncio.gather(*(pool.pick() for _ in range(200)))

    assert _ids(list(results)) == Counter({"a": 5, "b": 3, "c": 7})
    misses = [r for r in results if isinstance(r, PickMiss)]
    assert len(misses) == 185 and {m.reason for m in misses} == {"busy"}
    assert await pool.in_flight("a") == 5


async def test_release_frees_the_slot(redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount) -> None:
    await seed_account("solo", max_concurrency=1)
    pool = Pool(redis, keys)
    first = await pool.pick()
    assert isinstance(first, Lease)
    assert isinstance(await pool.pick(), PickMiss)

    await pool.release(first)

    assert isinstance(await pool.pick(), Lease)


async def test_expired_leases_are_reclaimed(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("solo", max_concurrency=1)
    pool = Pool(redis, keys, PoolLimits(lease_ttl_seconds=0.2))
    assert isinstance(await pool.pick(), Lease)  # never released: its replica "died"
    assert isinstance(await pool.pick(), PickMiss)

    assert isinstance(await wait_for(lambda: _lease(pool), what="the lease to expire"), Lease)


async def test_renewed_lease_outlives_its_first_ttl(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("solo", max_concurrency=1)
    pool = Pool(redis, keys, PoolLimits(lease_ttl_seconds=0.5))
    lease = await pool.pick()
    assert isinstance(lease, Lease)
    picked = time.monotonic()

    while time.monotonic() - picked < 1.0:  # twice its TTL, on the test's own clock
        await asyncio.sleep(0.1)  # not sync: the renewal interval under test
        assert await pool.renew(lease)

    assert isinstance(await pool.pick(), PickMiss)


async def test_excluded_accounts_are_skipped(pool: Pool, seed_account: SeedAccount) -> None:
    for account_id in ("a", "b", "c"):
        await seed_account(account_id)

    counts = _ids(await _picks(pool, 100, exclude=["a", "c"]))
    everything_tried = await pool.pick(exclude=["a", "b", "c"])

    assert counts == Counter({"b": 100})
    assert isinstance(everything_tried, PickMiss) and everything_tried.reason == "excluded"


async def test_governor_spaces_request_starts_across_replicas(
    redis_url: str, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("slow", min_interval_ms=300)
    replica_a = aioredis.Redis.from_url(redis_url, decode_responses=True)
    replica_b = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        pool_a, pool_b = Pool(replica_a, keys), Pool(replica_b, keys)
        started = time.monotonic()
        assert isinstance(await pool_a.pick(), Lease)

        too_soon = await pool_b.pick()
        asked = time.monotonic()

        assert isinstance(too_soon, PickMiss) and too_soon.reason == "busy"
        # 300 ms plus up to 20 % jitter, less what already passed between the two picks
        assert 0.3 - (asked - started) - 0.01 < too_soon.retry_after <= 0.36
        await wait_for(lambda: _lease(pool_b), what="the next start")
        assert time.monotonic() - started >= 0.29  # spaced by the interval (ms rounding aside)
    finally:
        await replica_a.aclose()
        await replica_b.aclose()


async def test_conversation_sticks_to_its_account_until_it_is_excluded(
    pool: Pool, seed_account: SeedAccount
) -> None:
    for account_id in ("a", "b", "c", "d", "e"):
        await seed_account(account_id)
    first = await pool.pick(conversation="conv-1")
    assert isinstance(first, Lease)

    again = _ids(await _picks(pool, 30, conversation="conv-1"))
    moved = await pool.pick(exclude=[first.account_id], conversation="conv-1")
    after_move = await pool.pick(conversation="conv-1")

    assert again == Counter({first.account_id: 30})
    assert isinstance(moved, Lease) and moved.account_id != first.account_id
    assert isinstance(after_move, Lease) and after_move.account_id == moved.account_id


async def test_empty_pool_and_cooling_pool_say_why(pool: Pool, seed_account: SeedAccount) -> None:
    empty = await pool.pick()
    await seed_account("later", state=AccountState.COOLDOWN, until=time.time() + 90)
    cooling = await pool.pick()

    assert isinstance(empty, PickMiss) and empty.reason == "empty"
    assert isinstance(cooling, PickMiss) and cooling.reason == "cooling"
    assert 85 < cooling.retry_after <= 91


async def test_accounts_without_a_usable_token_are_reported(pool: Pool, seed_account: SeedAccount) -> None:
    await seed_account("stale", expires_in=-5)

    result = await pool.pick()

    assert isinstance(result, PickMiss) and result.reason == "no_token"


async def test_consecutive_failures_grow_the_cooldown_up_to_the_cap(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("flaky")
    waits = []
    for _ in range(4):
        start = time.time()
        until = await pool.cool_down("flaky", "throttled", min_seconds=0, breaker_base=60, breaker_cap=200)
        assert until is not None
        waits.append(round(until - start))

    assert waits == [60, 120, 200, 200]
    assert await column_of(redis, keys, "flaky", "state") == "cooldown"
    assert float(await redis.zscore(keys.pool(), "flaky") or 0) > time.time() + 150


async def test_retry_hint_beats_a_shorter_breaker_wait(pool: Pool, seed_account: SeedAccount) -> None:
    await seed_account("hinted")
    start = time.time()

    until = await pool.cool_down("hinted", "throttled", min_seconds=300, breaker_base=60, breaker_cap=1800)

    assert until is not None and round(until - start) == 300


async def test_success_after_a_finished_cooldown_closes_the_breaker(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("healed", state=AccountState.COOLDOWN, until=time.time() - 1, failures=3)
    lease = await pool.pick()
    assert isinstance(lease, Lease)

    await pool.release(lease, "ok", input_tokens=10, output_tokens=5)

    record = await columns_of(redis, keys, "healed", "state", "failures")
    assert record == ["active", "0"]
    assert await redis.zscore(keys.pool(), "healed") == 0


async def _transient(pool: Pool, account: str) -> float | None:
    return await pool.cool_down(
        account, "upstream error", min_seconds=5, breaker_base=5, breaker_cap=60, after=3
    )


async def test_transient_errors_cool_an_account_only_after_three_in_a_row(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("blip")

    first, second = await _transient(pool, "blip"), await _transient(pool, "blip")
    state_after_two = await column_of(redis, keys, "blip", "state")
    score_after_two = await redis.zscore(keys.pool(), "blip")
    third = await _transient(pool, "blip")

    assert (first, second, state_after_two, score_after_two) == (0.0, 0.0, "active", 0)
    assert third is not None and third >= time.time() + 4
    assert await column_of(redis, keys, "blip", "state") == "cooldown"


async def test_a_success_between_transient_errors_starts_the_count_again(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("mostly-fine")
    results = []
    for _ in range(3):
        results += [await _transient(pool, "mostly-fine"), await _transient(pool, "mostly-fine")]
        lease = await pool.pick()
        assert isinstance(lease, Lease)
        await pool.release(lease, "ok")

    assert results == [0.0] * 6
    assert await column_of(redis, keys, "mostly-fine", "state") == "active"


async def test_errors_of_requests_in_flight_do_not_extend_an_ejection(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("ejected")
    for _ in range(3):
        ejected_until = await _transient(pool, "ejected")

    later = [await _transient(pool, "ejected") for _ in range(6)]

    assert ejected_until is not None and ejected_until > time.time()
    assert later == [pytest.approx(ejected_until)] * 6
    assert await column_of(redis, keys, "ejected", "failures") == "1"


async def test_a_verdict_cools_an_account_with_errors_in_row_at_once(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("throttled-now")
    await _transient(pool, "throttled-now")

    until = await pool.cool_down(
        "throttled-now", "throttled", min_seconds=0, breaker_base=60, breaker_cap=600
    )

    assert until is not None and until >= time.time() + 59
    assert await column_of(redis, keys, "throttled-now", "state") == "cooldown"


async def test_cool_down_leaves_disabled_accounts_out_of_the_pool(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("off", state=AccountState.DISABLED)

    until = await pool.cool_down("off", "throttled", min_seconds=10)

    assert until is None
    assert await redis.zscore(keys.pool(), "off") is None


async def test_release_records_the_days_account_stats(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("counted")
    served, failed, unused = [await pool.pick() for _ in range(3)]
    assert isinstance(served, Lease) and isinstance(failed, Lease) and isinstance(unused, Lease)

    await pool.release(served, "ok", input_tokens=120, output_tokens=30, credits=0.02)
    await pool.release(failed, "error")
    await pool.release(unused, "none")

    stats = await redis.hgetall(keys.account_stats("counted", today()))
    assert {k: stats[k] for k in ("requests", "errors", "input_tokens", "output_tokens")} == {
        "requests": "2",
        "errors": "1",
        "input_tokens": "120",
        "output_tokens": "30",
    }
    assert float(stats["credits"]) == 0.02
    assert await pool.in_flight("counted") == 0


async def test_release_adds_each_served_request_to_the_accounts_all_time_totals(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("veteran")
    total = keys.account_stats_total("veteran")
    await redis.hset(total, mapping={"requests": 40, "errors": 2, "input_tokens": 9000, "credits": "1.5"})
    served, failed, unused = [await pool.pick() for _ in range(3)]
    assert isinstance(served, Lease) and isinstance(failed, Lease) and isinstance(unused, Lease)
    record, _ = await ClientKeys(redis, keys).create("settling")

    await pool.release(served, "ok", input_tokens=120, output_tokens=30, credits=0.25)
    usage = ClientKeys(redis, keys).usage_call(record, 5, 0, error=True)
    await pool.release(failed, "error", input_tokens=5, key_usage=usage)  # the settle script
    await pool.release(unused, "none")

    totals = await redis.hgetall(total)
    assert {k: totals[k] for k in ("requests", "errors", "input_tokens", "output_tokens")} == {
        "requests": "42",
        "errors": "3",
        "input_tokens": "9125",
        "output_tokens": "30",
    }
    assert float(totals["credits"]) == 1.75
    assert await redis.ttl(total) == -1  # all-time: never expires, unlike the day's hash
    assert await redis.ttl(keys.account_stats("veteran", today())) > 0


async def test_release_with_key_usage_settles_lease_stats_and_key_in_one_call(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("settled")
    store = ClientKeys(redis, keys)
    record, _ = await store.create("settling")
    served, failed = await pool.pick(), await pool.pick()
    assert isinstance(served, Lease) and isinstance(failed, Lease)

    await pool.release(
        served, "ok", input_tokens=70, output_tokens=30, key_usage=store.usage_call(record, 70, 30)
    )
    await pool.release(failed, "error", key_usage=store.usage_call(record, 0, 0, error=True))

    stats = await redis.hgetall(keys.account_stats("settled", today()))
    assert (stats["requests"], stats["errors"], stats["input_tokens"]) == ("2", "1", "70")
    usage = await store.usage(record)
    assert (usage["input_tokens"], usage["output_tokens"], usage["tokens"], usage["errors"]) == (
        70,
        30,
        100,
        1,
    )
    assert await pool.in_flight("settled") == 0


async def test_run_script_loads_a_script_redis_does_not_know_yet(redis: aioredis.Redis, keys: Keys) -> None:
    script = redis.register_script(f"return {{KEYS[1], ARGV[1]}} -- {uuid.uuid4().hex}")
    assert await redis.script_exists(script.sha) == [False]

    result = await run_script(script, [keys.pool()], ["x"])

    assert result == [keys.pool(), "x"]
    assert await redis.script_exists(script.sha) == [True]


async def test_governor_defaults_from_the_panel_apply_to_accounts_without_their_own(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("no-own-cap")
    await seed_account("own-cap", max_concurrency=5)
    pool = Pool(redis, keys, PoolLimits(max_concurrency=8, jitter_ratio=0.0))
    runtime = RuntimeSettings(redis, keys, ttl=60, default_failover_attempts=3, pool=pool)

    await redis.hset(keys.settings(), mapping={"max_concurrency": "1", "min_interval_ms": "0"})
    await runtime.current()
    capped = [await pool.pick(exclude=["own-cap"]) for _ in range(3)]
    own = [await pool.pick(exclude=["no-own-cap"]) for _ in range(3)]
    await redis.hdel(keys.settings(), "max_concurrency")
    runtime.invalidate()  # as a settings_changed notice does
    await runtime.current()
    back = await pool.pick(exclude=["own-cap"])

    assert [type(r).__name__ for r in capped] == ["Lease", "PickMiss", "PickMiss"]
    assert all(isinstance(r, Lease) for r in own)  # its own cap (5) still rules
    assert isinstance(back, Lease)  # the environment's default (8) again


async def _lease(pool: Pool) -> Lease | None:
    picked = await pool.pick()
    return picked if isinstance(picked, Lease) else None
