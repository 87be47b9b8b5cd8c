"""State transitions keep the account hash and the pool sorted set in agreement (real Redis)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from shared.accounts.model import Account, AccountState
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.crypto import SecretBox
from shared.keys import Keys
from tests.support.accounts import put_account


async def _seed(redis: aioredis.Redis, keys: Keys, account: Account) -> None:
    await put_account(redis, keys, account)


async def test_cooldown_keeps_account_in_pool_with_future_score(
    redis: aioredis.Redis, key_prefix: str, box: SecretBox
) -> None:
    keys = Keys(key_prefix)
    await _seed(redis, keys, Account(id="a1"))
    states = AccountStates(redis, keys)
    until = time.time() + 60
    assert await states.cool_down("a1", until, "throttled")
    assert abs(float(await redis.zscore(keys.pool(), "a1") or 0) - until) < 1
    stored = await AccountStore(redis, keys, box).get("a1")
    assert stored is not None and stored.state is AccountState.COOLDOWN
    assert stored.state_reason == "throttled"


async def test_disable_and_relogin_remove_from_pool_and_activate_restores(
    redis: aioredis.Redis, key_prefix: str, box: SecretBox
) -> None:
    keys = Keys(key_prefix)
    await _seed(redis, keys, Account(id="a1", failures=3))
    states = AccountStates(redis, keys)
    await states.activate("a1")
    assert await redis.zscore(keys.pool(), "a1") == 0
    await states.needs_relogin("a1", "invalid_grant")
    assert await redis.zscore(keys.pool(), "a1") is None
    await states.disable("a1", "suspended")
    assert await redis.zscore(keys.pool(), "a1") is None
    await states.activate("a1")
    stored = await AccountStore(redis, keys, box).get("a1")
    assert stored is not None and stored.state is AccountState.ACTIVE and stored.failures == 0
    assert await redis.zscore(keys.pool(), "a1") == 0


async def test_admin_disabled_account_never_enters_pool(redis: aioredis.Redis, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    await _seed(redis, keys, Account(id="a1", enabled=False))
    await AccountStates(redis, keys).activate("a1")
    assert await redis.zscore(keys.pool(), "a1") is None


async def test_unknown_account_is_reported_not_created(redis: aioredis.Redis, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    assert not await AccountStates(redis, keys).activate("ghost")
    assert not await redis.exists(keys.account("ghost"))
    assert not await redis.sismember(keys.accounts(), "ghost")
    assert await redis.zscore(keys.pool(), "ghost") is None
