"""AccountStore: records round-trip, malformed ones are flagged not dropped, deletes leave nothing."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from shared.accounts.columns import column
from shared.accounts.model import Account, AccountState, AuthKind
from shared.accounts.store import AccountStore
from shared.keys import Keys


async def test_created_account_reads_back_with_its_secrets_encrypted(store: AccountStore) -> None:
    account = Account(
        id="a1",
        auth_kind=AuthKind.IDC,
        refresh_token_enc=store.box.encrypt("rt-plain-value"),
        client_id="cid",
    )
    assert await store.create(account)
    loaded = await store.get("a1")
    assert loaded is not None
    assert loaded.auth_kind is AuthKind.IDC
    assert loaded.refresh_token_enc.startswith("fernet:")
    assert store.refresh_token(loaded) == "rt-plain-value"


async def test_create_refuses_an_id_that_is_taken(store: AccountStore) -> None:
    assert await store.create(Account(id="a1", label="first"))
    assert not await store.create(Account(id="a1", label="second"))
    loaded = await store.get("a1")
    assert loaded is not None and loaded.label == "first"


async def test_list_flags_malformed_records_with_a_reason_instead_of_dropping_them(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await store.create(Account(id="good"))
    await store.create(Account(id="bad-kind"))
    await redis.hset(keys.account("bad-kind"), "auth_kind", "kerberos")
    await store.create(Account(id="bad-number"))
    await redis.hset(keys.account_columns(), column("weight", "bad-number"), "heavy")
    await redis.sadd(keys.accounts(), "ghost")

    listing = await store.list()

    assert [a.id for a in listing.accounts] == ["good"]
    reasons = {item.id: item.reason for item in listing.invalid}
    assert set(reasons) == {"bad-kind", "bad-number", "ghost"}
    assert "auth_kind" in reasons["bad-kind"]
    assert "weight" in reasons["bad-number"]
    assert "no record" in reasons["ghost"]


async def test_update_changes_editable_fields_and_refuses_tokens_and_state(store: AccountStore) -> None:
    await store.create(Account(id="a1"))
    assert await store.update("a1", {"label": "renamed", "weight": 5, "enabled": False})
    loaded = await store.get("a1")
    assert loaded is not None
    assert (loaded.label, loaded.weight, loaded.enabled) == ("renamed", 5, False)
    with pytest.raises(ValueError, match="not editable"):
        await store.update("a1", {"refresh_token_enc": "x"})
    with pytest.raises(ValueError, match="not editable"):
        await store.update("a1", {"state": "active"})
    with pytest.raises(ValueError, match="TokenStore"):
        await store.set_fields("a1", {"access_token_enc": "x"})


async def test_writes_to_a_deleted_account_never_resurrect_it(
    store: AccountStore, redis: aioredis.Redis
) -> None:
    await store.create(Account(id="a1"))
    await store.delete("a1")
    assert not await store.update("a1", {"label": "late writer"})
    assert not await store.set_fields("a1", {"last_refresh_error": "boom"}, increment="refresh_failures")
    assert await store.get("a1") is None


async def test_delete_leaves_no_key_of_the_account_behind(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await store.create(Account(id="a1", state=AccountState.ACTIVE))
    await store.create(Account(id="a2"))
    await redis.zadd(keys.pool(), {"a1": 0, "a2": 0})
    await redis.zadd(keys.leases(), {"a1|lease": 1, "a2|lease": 1})
    await redis.hset(
        keys.account_columns(), mapping={column("inflight", "a1"): 1, column("inflight", "a2"): 1}
    )
    await redis.set(keys.account_refresh_lock("a1"), "owner")
    await redis.set(keys.usage_limits("a1"), "{}")
    await redis.hset(keys.account_stats("a1", "2026-11-26"), "requests", 3)
    await redis.hset(keys.account_stats_total("a1"), "requests", 30)

    assert await store.delete("a1")

    left = [k async for k in redis.scan_iter(match=keys.account_prefix("a1") + "*")]
    assert left == []
    assert await redis.zrange(keys.pool(), 0, -1) == ["a2"]
    assert await redis.smembers(keys.accounts()) == {"a2"}
    assert await redis.zrange(keys.leases(), 0, -1) == ["a2|lease"]
    assert [f for f in await redis.hkeys(keys.account_columns()) if f.endswith(":a1")] == []
    assert not await store.delete("a1")
