"""Data stored in the one-slot layout moves to the spread one at start, losing nothing (real Redis).

The legacy data is what the former version wrote: account records holding their state, the pool and
accounts set without a hash tag, client keys and the request log beside them.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from shared.accounts import layout
from shared.accounts.model import Account, AccountState
from shared.accounts.pool import Lease, Pool, PoolLimits
from shared.accounts.store import AccountStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys

IN_RECORD = {"state", "state_reason", "cooldown_until", "failures", "weight", "enabled", "errors_in_row"}


async def _legacy_stack(redis: aioredis.Redis, keys: Keys, box: SecretBox) -> str:
    """Two accounts, a client key with some usage and a request log entry, as the former version stored
    them; returns the client key (plain)."""
    until = time.time() + 600
    cooling = Account(
        id="cooling",
        label="cooling",
        refresh_token_enc=box.encrypt("r1"),
        access_token_enc=box.encrypt("t1"),
        access_expires_at=time.time() + 3600,
        token_version=3,
        weight=50,
        state=AccountState.COOLDOWN,
        state_reason="throttled",
        cooldown_until=until,
        failures=2,
    )
    ready = Account(
        id="ready",
        label="ready",
        refresh_token_enc=box.encrypt("r2"),
        access_token_enc=box.encrypt("t2"),
        access_expires_at=time.time() + 3600,
        token_version=1,
        max_concurrency=3,
    )
    parked = Account(id="parked", state=AccountState.DISABLED, state_reason="by the admin", enabled=False)
    for account in (cooling, ready, parked):
        await redis.hset(keys.account(account.id), mapping=account.to_redis() | {"errors_in_row": "1"})
        await redis.sadd(keys.legacy_accounts(), account.id)
    await redis.zadd(keys.legacy_pool(), {"cooling": until, "ready": 0})
    await redis.hset(keys.legacy_pool_weights(), mapping={"cooling": 50, "ready": 100})
    await redis.sadd(keys.legacy_accounts(), "no-record")  # listed, record lost: still listed after

    client_keys = ClientKeys(redis, keys)
    _, plain = await client_keys.create("legacy key", rpm=100)
    assert (await client_keys.authorize(plain))[1].ok
    await redis.xadd(keys.request_log(), {"e": '{"path": "/v1/messages"}'})
    # what the former version named them
    for name in [k async for k in redis.scan_iter(match=keys.pick_prefix + "ckey*")]:
        await redis.rename(name, keys.prefix + name[len(keys.pick_prefix) :])
    await redis.rename(keys.request_log(), keys.legacy_request_log())
    await redis.hset(keys.legacy_admin(), "password", "scrypt$stored-hash")
    await redis.set(f"{keys.prefix}admin:session:abc", "signed in", ex=600)
    return plain


async def test_the_move_keeps_every_account_its_state_and_every_client_key(
    redis: aioredis.Redis, keys: Keys, box: SecretBox
) -> None:
    plain = await _legacy_stack(redis, keys, box)
    store = AccountStore(redis, keys, box)
    assert await store.ids() == []  # the current layout sees nothing before the move

    assert await layout.ensure_layout(redis, keys)

    listing = await store.list()
    found = {a.id: a for a in listing.accounts}
    assert sorted(found) == ["cooling", "parked", "ready"]
    assert [item.id for item in listing.invalid] == ["no-record"]
    cooling = found["cooling"]
    assert (cooling.state, cooling.state_reason, cooling.failures, cooling.weight) == (
        AccountState.COOLDOWN,
        "throttled",
        2,
        50,
    )
    assert cooling.cooldown_until > time.time() + 500 and store.refresh_token(cooling) == "r1"
    assert (found["parked"].state, found["parked"].enabled) == (AccountState.DISABLED, False)
    assert found["ready"].max_concurrency == 3 and found["ready"].token_version == 1
    assert await redis.zrange(keys.pool(), 0, -1, withscores=True) == [
        ("ready", 0.0),
        ("cooling", pytest.approx(cooling.cooldown_until)),
    ]
    # the pick works on the moved data: only the account that is not cooling down
    pool = Pool(redis, keys, PoolLimits(jitter_ratio=0.0))
    picked = await pool.pick()
    assert isinstance(picked, Lease) and picked.account_id == "ready"
    # the client key authenticates and kept its usage
    client_keys = ClientKeys(redis, keys)
    key = await client_keys.authenticate(plain)
    assert key is not None and (await client_keys.usage(key))["requests"] == 1
    assert await redis.xlen(keys.request_log()) == 1
    # the admin's password (set in the panel) and signed-in sessions (with their expiry)
    assert await redis.hget(keys.admin(), "password") == "scrypt$stored-hash"
    assert await redis.get(keys.admin_session("abc")) == "signed in"
    assert 500 < await redis.ttl(keys.admin_session("abc")) <= 600
    # the old keys are left as they were for replicas of the former version, and expire after the grace
    old = [k async for k in redis.scan_iter(match=keys.prefix + "ckey*")]
    old += [k async for k in redis.scan_iter(match=keys.prefix + "admin*")]
    old += [keys.legacy_accounts(), keys.legacy_pool(), keys.legacy_pool_weights(), keys.legacy_request_log()]
    assert len(old) > 8
    for name in old:
        assert 0 < await redis.ttl(name) <= layout.LEGACY_GRACE_SECONDS, name
    assert await redis.ttl(f"{keys.prefix}admin:session:abc") <= 600  # sooner by itself: kept
    assert set(await redis.hkeys(keys.account("cooling"))) >= IN_RECORD

    assert not await layout.ensure_layout(redis, keys)  # done once
    await redis.delete(*old)  # the grace ended
    assert [a.id for a in (await store.list()).accounts] == ["cooling", "parked", "ready"]


async def test_processes_starting_together_move_the_data_once(
    redis: aioredis.Redis, keys: Keys, box: SecretBox
) -> None:
    await _legacy_stack(redis, keys, box)

    moved = await asyncio.gather(*(layout.ensure_layout(redis, keys) for _ in range(4)))

    assert sorted(moved) == [False, False, False, True]
    assert sorted(a.id for a in (await AccountStore(redis, keys, box).list()).accounts) == [
        "cooling",
        "parked",
        "ready",
    ]


async def test_a_move_that_stopped_half_way_finishes_without_losing_a_field(
    redis: aioredis.Redis, keys: Keys, box: SecretBox
) -> None:
    await _legacy_stack(redis, keys, box)
    await layout._move_account(redis, keys, "cooling")  # then the process died
    await redis.delete(keys.layout_lock())

    assert await layout.ensure_layout(redis, keys)

    cooling = await AccountStore(redis, keys, box).get("cooling")
    assert cooling is not None
    assert (cooling.state, cooling.failures, cooling.weight) == (AccountState.COOLDOWN, 2, 50)


async def test_a_new_stack_is_marked_at_once(redis: aioredis.Redis, keys: Keys) -> None:
    assert await layout.ensure_layout(redis, keys)
    assert await redis.get(keys.layout()) == layout.LAYOUT_VERSION
    assert not await redis.exists(keys.layout_lock())
