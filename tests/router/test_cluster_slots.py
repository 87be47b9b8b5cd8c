"""Every Lua script call of a representative flow names keys of one Redis Cluster slot (a Cluster refuses
any other call), once the key prefix carries a hash tag as a Cluster deployment sets it.

The flow runs on the real Redis through a client that records the KEYS of each EVALSHA, and the slot of
every key is computed as a Cluster computes it (`redis.crc.key_slot`): account creation, token writes and
the refresh lock, state changes, the pick (with and without a conversation), admission + pick, release
and settle with client key usage and the request log, lease renewal, failure reports, admin login.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from redis.crc import key_slot

from services.router.reqlog import Finished, RequestLog
from services.router.routes import admin_login_limit
from shared.accounts.model import Account, AccountState
from shared.accounts.pool import Lease, Pool, PoolLimits
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.accounts.tokens import TokenStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys

Call = tuple[str, tuple[str, ...]]  # (script sha, KEYS)


@pytest.fixture
async def recorded(redis_url: str) -> AsyncIterator[tuple[aioredis.Redis, list[Call]]]:
    """A client whose EVALSHA calls are recorded (sha and KEYS) before they are sent."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    calls: list[Call] = []
    evalsha: Callable[..., Awaitable[Any]] = client.evalsha

    async def recording(sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        calls.append((sha, tuple(str(k) for k in keys_and_args[:numkeys])))
        return await evalsha(sha, numkeys, *keys_and_args)

    client.evalsha = recording  # type: ignore[method-assign]
    yield client, calls
    await client.aclose()


@pytest.fixture
def tagged_keys(redis_url: str) -> Iterator[Keys]:
    """A hash-tagged prefix of the test's own (`{kst-...}:`); its keys are deleted afterwards."""
    keys = Keys(f"{{kst-{uuid.uuid4().hex[:12]}}}:")
    yield keys
    client = sync_redis.Redis.from_url(redis_url)
    try:
        stale = list(client.scan_iter(match=f"{keys.prefix}*", count=1000))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


async def _flow(client: aioredis.Redis, keys: Keys, box: SecretBox) -> None:
    """What the stack does to Redis through its scripts, one of each kind."""
    store, states = AccountStore(client, keys, box), AccountStates(client, keys)
    tokens = TokenStore(client, keys, box)
    pool = Pool(client, keys, PoolLimits(max_concurrency=10, sticky_ttl_seconds=600))
    for account_id in ("a1", "a2"):
        account = Account(id=account_id, label=account_id, refresh_token_enc=box.encrypt("r"))
        assert await store.create(account)
        written = await tokens.write(
            account_id, expected_version=0, access_token="t", access_expires_at=time.time() + 3600
        )
        assert written.written
        assert await states.set(account_id, AccountState.ACTIVE, "ready", 0.0, notify=False)
    owner = await tokens.acquire_lock("a1", 5000)
    assert owner is not None
    assert await tokens.extend_lock("a1", owner, 5000)
    assert await tokens.release_lock("a1", owner)
    assert await store.update("a2", {"weight": 50})

    lease = await pool.pick()
    sticky = await pool.pick(exclude=["a2"], conversation="conv-1")
    assert isinstance(lease, Lease) and isinstance(sticky, Lease)
    assert await pool.renew(lease)
    await pool.release(lease)

    client_keys = ClientKeys(client, keys)
    key, plain = await client_keys.create("flow")
    _, admission = await client_keys.authorize(plain, "claude-sonnet-4.5")
    assert admission.ok
    _, admission, picked = await client_keys.authorize_and_pick(plain, "claude-sonnet-4.5", pool, "conv-2")
    assert admission.ok and isinstance(picked, Lease)
    log = RequestLog(client, keys, 100)
    done = Finished("/v1/messages", "claude-sonnet-4.5", key, "req-1", 200, "ok", account=picked.account_id)
    await pool.release(picked, key_usage=client_keys.usage_call(key, 10, 20), log_entry=log.call(done))
    await log.append(done)

    await pool.cool_down("a1", "throttled", min_seconds=1.0)
    await pool.cool_down("a2", "transient", min_seconds=1.0, after=3)
    assert await states.cool_down("a2", time.time() + 60, "invalid token; refreshing")
    assert await states.end_cooldown("a2", "invalid token; refreshing")

    ctx = SimpleNamespace(redis=client, keys=keys)
    reservation = await admin_login_limit.reserve(ctx, "127.0.0.1")  # type: ignore[arg-type]
    await admin_login_limit.release(ctx, reservation)  # type: ignore[arg-type]
    assert await store.delete("a1")


def _cross_slot(calls: list[Call]) -> list[Call]:
    return [call for call in calls if len({key_slot(k.encode()) for k in call[1]}) > 1]


async def test_every_script_call_stays_in_one_slot_with_a_hash_tagged_prefix(
    recorded: tuple[aioredis.Redis, list[Call]], tagged_keys: Keys, box: SecretBox
) -> None:
    client, calls = recorded

    await _flow(client, tagged_keys, box)

    assert len({sha for sha, _ in calls}) >= 15  # the flow ran (nearly) every script
    assert all(call[1] for call in calls)  # no call without keys: a Cluster could not route it
    assert all("" not in call[1] for call in calls)  # an empty name would hash to a slot of its own
    assert _cross_slot(calls) == []
    slots = {key_slot(k.encode()) for _, names in calls for k in names}
    assert slots == {key_slot(tagged_keys.pool().encode())}


async def test_the_check_catches_the_cross_slot_calls_of_the_default_prefix(
    recorded: tuple[aioredis.Redis, list[Call]], keys: Keys, box: SecretBox
) -> None:
    # `ks:`-style prefixes spread accounts over slots: the pool's scripts then cross them (single server
    # and Sentinel only), and the check above would say so
    client, calls = recorded

    await _flow(client, keys, box)

    assert len(_cross_slot(calls)) > 5
