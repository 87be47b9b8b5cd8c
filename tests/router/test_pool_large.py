"""The pick over a pool larger than it reads whole (it draws a bounded sample first, see pick.lua): weights,
exclusions, stickiness and the reasons it gives when nothing can be picked still hold."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import redis.asyncio as aioredis

from shared.accounts.model import AccountState
from shared.accounts.pool import PICK_FULL_SCAN, Lease, PickMiss, Pool, PoolLimits
from shared.keys import Keys
from tests.router.conftest import SeedAccount
from tests.router.test_pool import _ids, _picks

SIZE = 200
assert SIZE > 4 * PICK_FULL_SCAN  # the sampled path is the one under test


async def _seed(seed_account: SeedAccount, count: int = SIZE, **fields: object) -> list[str]:
    ids = [f"acct-{n:03d}" for n in range(count)]
    for start in range(0, count, 50):
        await asyncio.gather(*(seed_account(i, **fields) for i in ids[start : start + 50]))
    return ids


async def test_a_large_pool_spreads_picks_over_every_account_by_weight(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    light = await _seed(seed_account, SIZE // 2, weight=100)
    heavy = [f"heavy-{n:03d}" for n in range(SIZE // 2)]
    for start in range(0, len(heavy), 50):
        await asyncio.gather(*(seed_account(i, weight=300) for i in heavy[start : start + 50]))
    pool = Pool(redis, keys, PoolLimits(max_concurrency=100_000))

    counts = _ids(await _picks(pool, 10_000))

    assert sum(counts.values()) == 10_000
    assert set(counts) == set(light) | set(heavy)  # every account gets picks, not only a few
    heavy_share = sum(counts[i] for i in heavy) / 10_000
    # 3:1 weights give the heavy half 75 % of the picks (the sample's draw is within a few points of it)
    assert 0.70 < heavy_share < 0.80, heavy_share


async def test_a_large_pool_never_picks_an_excluded_account(pool: Pool, seed_account: SeedAccount) -> None:
    ids = await _seed(seed_account)

    counts = _ids(await _picks(pool, 50, exclude=ids[1:]))
    everything_tried = await pool.pick(exclude=ids)

    assert counts == Counter({ids[0]: 50})
    assert isinstance(everything_tried, PickMiss) and everything_tried.reason == "excluded"


async def test_a_conversation_sticks_to_its_account_in_a_large_pool(
    pool: Pool, seed_account: SeedAccount
) -> None:
    await _seed(seed_account)
    first = await pool.pick(conversation="conv-large")
    assert isinstance(first, Lease)

    again = _ids(await _picks(pool, 30, conversation="conv-large"))
    moved = await pool.pick(exclude=[first.account_id], conversation="conv-large")

    assert again == Counter({first.account_id: 30})
    assert isinstance(moved, Lease) and moved.account_id != first.account_id


async def test_the_one_account_with_room_is_found_and_then_the_pool_is_busy(
    redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    ids = await _seed(seed_account, max_concurrency=1)
    pool = Pool(redis, keys)
    held = _ids(await _picks(pool, SIZE - 1))
    assert len(held) == SIZE - 1  # one lease on each of all accounts but one

    last = await pool.pick()
    full = await pool.pick()

    assert isinstance(last, Lease) and last.account_id == (set(ids) - set(held)).pop()
    assert isinstance(full, PickMiss) and full.reason == "busy"


async def test_a_large_pool_says_why_nothing_can_be_picked(pool: Pool, seed_account: SeedAccount) -> None:
    await _seed(seed_account, expires_in=-5)
    no_token = await pool.pick()
    fresh = await seed_account("fresh-one")
    found = await pool.pick()
    for account_id in [f"acct-{n:03d}" for n in range(SIZE)] + [fresh.id]:
        await seed_account(account_id, state=AccountState.COOLDOWN, until=time.time() + 90)
    cooling = await pool.pick()

    assert isinstance(no_token, PickMiss) and no_token.reason == "no_token"
    assert isinstance(found, Lease) and found.account_id == "fresh-one"
    assert isinstance(cooling, PickMiss) and cooling.reason == "cooling" and 85 < cooling.retry_after <= 91
