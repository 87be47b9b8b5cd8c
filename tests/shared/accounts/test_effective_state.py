"""The state operators see: a cooldown or exhaustion whose time has passed is active, in every view."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from shared.accounts.model import Account, AccountState
from shared.accounts.pool import Pool
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.keys import Keys
from tests.support.polling import wait_for


async def _throttled(store: AccountStore, pool: Pool, seconds: float) -> float:
    """Account a1 in the pool, then throttled by Kiro for `seconds` (the router's cooldown script)."""
    await store.create(Account(id="a1", label="one"))
    until = await pool.cool_down("a1", "throttled", min_seconds=seconds)
    assert until
    return until


async def test_a_running_cooldown_shows_when_the_account_is_usable_again(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    until = await _throttled(store, Pool(redis, keys), 60)
    account = await store.get("a1")
    assert account is not None

    view = store.public_view(account)
    assert (view["state"], view["state_reason"]) == ("cooldown", "throttled")
    assert view["usable_at"] == until and view["usable_since"] is None


async def test_a_lapsed_cooldown_shows_as_active_since_it_lapsed_before_the_next_success(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    until = await _throttled(store, Pool(redis, keys), 60)
    account = await store.get("a1")
    assert account is not None and account.state is AccountState.COOLDOWN  # the stored field lags

    view = account.public_view(now=until + 120)
    assert (view["state"], view["state_reason"]) == ("active", "")
    assert view["usable_since"] == until and view["usable_at"] is None


async def test_a_lapsed_exhaustion_shows_as_active(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await store.create(Account(id="a1"))
    back = time.time() + 3600
    await AccountStates(redis, keys).exhaust("a1", back)
    account = await store.get("a1")
    assert account is not None

    view = account.public_view()
    assert (view["state"], view["usable_at"]) == ("exhausted", pytest.approx(back))
    assert account.public_view(now=back + 1)["state"] == "active"


async def test_pool_summary_counts_a_lapsed_cooldown_as_active(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    pool = Pool(redis, keys)
    await _throttled(store, pool, 0.1)
    assert (await pool.summary()).counts["cooldown"] == 1

    async def active() -> bool:
        counts = (await pool.summary()).counts
        return counts["active"] == 1 and counts["cooldown"] == 0

    await wait_for(active, within=5, what="the cooldown to lapse")
