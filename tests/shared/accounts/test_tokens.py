"""TokenStore: compare-and-set on token_version, rotation bookkeeping, and the refresh lock."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from shared.accounts.model import Account
from shared.accounts.store import AccountStore
from shared.accounts.tokens import TokenStore
from shared.keys import Keys
from tests.support.polling import wait_for


async def _account(store: AccountStore, refresh_token: str = "rt-1") -> Account:
    account = Account(id="a1", refresh_token_enc=store.box.encrypt(refresh_token))
    await store.create(account)
    return account


async def test_write_with_the_read_version_stores_tokens_and_bumps_the_version(
    store: AccountStore, tokens: TokenStore
) -> None:
    await _account(store)
    result = await tokens.write(
        "a1", expected_version=0, access_token="at-1", access_expires_at=2e9, profile_arn="arn:x"
    )
    assert result.written and result.version == 1
    loaded = await store.get("a1")
    assert loaded is not None
    assert store.access_token(loaded) == "at-1"
    assert loaded.access_expires_at == 2e9
    assert loaded.profile_arn == "arn:x"
    assert loaded.last_refresh_at > 0


async def test_a_stale_writer_cannot_overwrite_a_newer_token(store: AccountStore, tokens: TokenStore) -> None:
    await _account(store)
    assert (await tokens.write("a1", expected_version=0, access_token="new", access_expires_at=1)).written
    stale = await tokens.write(
        "a1", expected_version=0, access_token="stale", access_expires_at=1, rotated_refresh_token="rt-stale"
    )
    assert not stale.written and stale.version == 1
    loaded = await store.get("a1")
    assert loaded is not None
    assert store.access_token(loaded) == "new"
    assert store.refresh_token(loaded) == "rt-1"


async def test_concurrent_writers_with_the_same_version_produce_exactly_one_write(
    store: AccountStore, tokens: TokenStore
) -> None:
    await _account(store)
    results = await asyncio.gather(
        *(
            tokens.write("a1", expected_version=0, access_token=f"at-{i}", access_expires_at=1)
            for i in range(20)
        )
    )
    assert sum(r.written for r in results) == 1


async def test_rotation_keeps_the_replaced_token_until_the_new_one_has_worked_once(
    store: AccountStore, tokens: TokenStore
) -> None:
    await _account(store, "rt-1")
    await tokens.write(
        "a1", expected_version=0, access_token="a", access_expires_at=1, rotated_refresh_token="rt-2"
    )
    loaded = await store.get("a1")
    assert loaded is not None
    assert (store.refresh_token(loaded), store.prev_refresh_token(loaded)) == ("rt-2", "rt-1")
    # rt-2 used successfully without rotation: rt-1 is no longer needed
    await tokens.write("a1", expected_version=1, access_token="b", access_expires_at=1)
    loaded = await store.get("a1")
    assert loaded is not None
    assert (store.refresh_token(loaded), store.prev_refresh_token(loaded)) == ("rt-2", "")


async def test_a_token_write_never_resurrects_a_deleted_account(
    store: AccountStore, tokens: TokenStore
) -> None:
    await _account(store)
    await store.delete("a1")
    result = await tokens.write("a1", expected_version=0, access_token="a", access_expires_at=1)
    assert not result.written and result.version == -1
    assert await store.get("a1") is None


async def test_lock_is_exclusive_and_an_expired_owner_cannot_release_the_next_owners_lock(
    tokens: TokenStore, redis: aioredis.Redis, keys: Keys
) -> None:
    first = await tokens.acquire_lock("a1", 100)
    assert first is not None
    assert await tokens.acquire_lock("a1", 100) is None
    await wait_for(lambda: _unlocked(tokens, "a1"), what="the first lock to expire")
    second = await tokens.acquire_lock("a1", 5000)
    assert second is not None
    assert not await tokens.release_lock("a1", first)
    assert await tokens.lock_owner("a1") == second
    assert await tokens.release_lock("a1", second)
    assert await redis.exists(keys.account_refresh_lock("a1")) == 0


async def _unlocked(tokens: TokenStore, account_id: str) -> bool:
    return await tokens.lock_owner(account_id) is None
