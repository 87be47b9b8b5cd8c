"""The gateway's per-account model lists: the refresher's copy in Redis first, Kiro's answer otherwise,
the built-in list (unconfirmed) until either is known."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.gateway.credentials import KiroCredentials
from services.gateway.kiro.models import ModelCatalog
from services.gateway.models_redis import RedisCatalogues
from services.gateway.settings import GatewaySettings
from shared.errors import InvalidRequestError
from shared.keys import Keys
from shared.kiro.models import ModelInfo, encode_catalogue
from shared.redis import create_redis

ALICE = KiroCredentials(access_token="a", account_id="alice")
BOB = KiroCredentials(access_token="b", account_id="bob")


class Kiro:
    """ListAvailableModels per account, counting the calls."""

    def __init__(self, lists: dict[str, list[object]]) -> None:
        self.lists = lists
        self.calls: list[str] = []

    async def __call__(self, creds: KiroCredentials) -> list[object]:
        self.calls.append(creds.account_id)
        return self.lists[creds.account_id]


@pytest.fixture
async def shared(redis_url: str, key_prefix: str) -> AsyncIterator[RedisCatalogues]:
    settings = GatewaySettings(redis_url=redis_url, redis_key_prefix=key_prefix)
    catalogues = RedisCatalogues(create_redis(settings, bounded=True), Keys(key_prefix))
    yield catalogues
    await catalogues.close()


async def _write(redis: aioredis.Redis, key_prefix: str, account_id: str, *ids: str) -> None:
    value = encode_catalogue([ModelInfo(i, i.upper(), 1_000_000) for i in ids], time.time())
    await redis.set(Keys(key_prefix).account_models(account_id), value, ex=3600)


async def _settled(catalog: ModelCatalog) -> None:
    """Wait for the background renewals started so far."""
    tasks = [t for t in catalog._renewing.values() if not t.done()]
    if tasks:
        await asyncio.wait(tasks, timeout=5)


async def test_entries_that_name_no_model_are_skipped_not_fatal_to_the_list() -> None:
    kiro = Kiro(
        {"alice": [{"modelName": "no id"}, "not an object", {"modelId": ""}, {"modelId": "claude-new-9"}]}
    )
    catalog = ModelCatalog(kiro, ttl=60, default_window=200_000)
    await catalog.renew(ALICE)

    assert [m.id for m in (await catalog.for_account(ALICE)).models] == ["claude-new-9"]


async def test_a_refresh_that_fails_unexpectedly_is_logged_when_it_happens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fetch(_: KiroCredentials) -> list[object]:
        raise RuntimeError("a bug in the fetch")

    catalog = ModelCatalog(fetch, ttl=60, default_window=200_000)
    with caplog.at_level(logging.ERROR):
        await catalog.for_account(ALICE)
        await _settled(catalog)

    assert any("background task failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_standalone_each_account_gets_its_own_list_from_kiro() -> None:
    kiro = Kiro({"alice": [{"modelId": "claude-opus-4.7"}], "bob": [{"modelId": "claude-sonnet-4.5"}]})
    catalog = ModelCatalog(kiro, ttl=60, default_window=200_000)

    first = await catalog.for_account(ALICE)
    assert first.source == "built-in" and not first.confirmed  # never waits for Kiro on a request
    await _settled(catalog)
    await catalog.for_account(BOB)
    await _settled(catalog)

    alice, bob = await catalog.for_account(ALICE), await catalog.for_account(BOB)
    assert ([m.id for m in alice.models], alice.source) == (["claude-opus-4.7"], "kiro")
    assert [m.id for m in bob.models] == ["claude-sonnet-4.5"]
    assert sorted(kiro.calls) == ["alice", "bob"]  # once each: fresh lists are not asked for again
    resolve = catalog.resolver(alice, {}, "claude-sonnet-4.5", "-thinking").resolve
    assert resolve("claude-opus-4-8").kiro_id == "claude-opus-4.7"
    with pytest.raises(Exception, match="not available"):
        catalog.resolver(bob, {}, "claude-sonnet-4.5", "-thinking").resolve("claude-opus-4-8")


async def test_in_the_stack_the_refresher_list_in_redis_is_used_and_kiro_is_not_asked(
    shared: RedisCatalogues, redis: aioredis.Redis, key_prefix: str
) -> None:
    await _write(redis, key_prefix, "alice", "claude-haiku-4.5", "claude-opus-4.7")
    kiro = Kiro({"alice": [{"modelId": "auto"}], "bob": [{"modelId": "claude-sonnet-4"}]})
    catalog = ModelCatalog(kiro, ttl=3600, default_window=200_000, shared=shared)

    alice = await catalog.for_account(ALICE)
    await _settled(catalog)

    assert ([m.id for m in alice.models], alice.source) == (
        ["claude-haiku-4.5", "claude-opus-4.7"],
        "refresher",
    )
    assert catalog.context_window(alice, "claude-opus-4.7") == 1_000_000
    assert kiro.calls == []
    # an account the refresher has no list for yet: the built-in list now, its own from Kiro soon
    assert (await catalog.for_account(BOB)).source == "built-in"
    await _settled(catalog)
    bob = await catalog.for_account(BOB)
    assert ([m.id for m in bob.models], bob.source) == (["claude-sonnet-4"], "kiro")


async def test_a_list_the_refresher_renews_replaces_the_process_copy_once_it_is_looked_at_again(
    shared: RedisCatalogues, redis: aioredis.Redis, key_prefix: str
) -> None:
    await _write(redis, key_prefix, "alice", "claude-sonnet-4.5")
    catalog = ModelCatalog(Kiro({}), ttl=3600, default_window=200_000, shared=shared, shared_ttl=3600)
    assert [m.id for m in (await catalog.for_account(ALICE)).models] == ["claude-sonnet-4.5"]

    await _write(redis, key_prefix, "alice", "claude-sonnet-4.5", "claude-sonnet-4.6")
    assert [m.id for m in (await catalog.for_account(ALICE)).models] == ["claude-sonnet-4.5"]  # cached
    await catalog.renew(ALICE)  # what the process cache does after `shared_ttl`
    assert [m.id for m in (await catalog.for_account(ALICE)).models] == [
        "claude-sonnet-4.5",
        "claude-sonnet-4.6",
    ]


async def test_when_the_refresher_copy_expires_the_last_list_stays_until_kiro_is_asked(
    shared: RedisCatalogues, redis: aioredis.Redis, key_prefix: str
) -> None:
    await _write(redis, key_prefix, "alice", "claude-sonnet-4.5")
    kiro = Kiro({"alice": [{"modelId": "claude-opus-4.6"}]})
    catalog = ModelCatalog(kiro, ttl=3600, default_window=200_000, shared=shared, shared_ttl=0)
    await catalog.for_account(ALICE)
    await _settled(catalog)

    await redis.delete(Keys(key_prefix).account_models("alice"))
    await catalog.renew(ALICE)

    alice = await catalog.for_account(ALICE)
    assert ([m.id for m in alice.models], alice.source) == (["claude-sonnet-4.5"], "kiro")
    assert kiro.calls == []


async def test_a_name_the_built_in_list_can_only_guess_at_waits_for_the_accounts_own_list() -> None:
    kiro = Kiro({"alice": [{"modelId": "claude-opus-4.5"}, {"modelId": "claude-sonnet-4.5"}]})
    catalog = ModelCatalog(kiro, ttl=60, default_window=200_000)

    sure, entry = await catalog.resolve(ALICE, "claude-sonnet-4-5", {}, "claude-sonnet-4.5", "-thinking")
    assert (sure.kiro_id, entry.source) == ("claude-sonnet-4.5", "built-in")  # served at once
    newer, entry = await catalog.resolve(ALICE, "claude-opus-4-8", {}, "claude-sonnet-4.5", "-thinking")
    assert (newer.kiro_id, entry.source) == ("claude-opus-4.5", "kiro")  # not the built-in list's 4.7
    with pytest.raises(InvalidRequestError, match=r"claude-opus-4\.5"):
        await catalog.resolve(ALICE, "gemini-pro", {}, "claude-sonnet-4.5", "-thinking")


async def test_when_kiro_cannot_say_the_guess_stands() -> None:
    async def fetch(_: KiroCredentials) -> list[object]:
        raise TimeoutError

    catalog = ModelCatalog(fetch, ttl=60, default_window=200_000)
    newer, _ = await catalog.resolve(ALICE, "claude-opus-4-8", {}, "claude-sonnet-4.5", "-thinking")
    unknown, _ = await catalog.resolve(ALICE, "kimi-k3", {}, "claude-sonnet-4.5", "-thinking")
    assert (newer.kiro_id, unknown.kiro_id) == ("claude-opus-4.7", "kimi-k3")
