"""The router's background loops survive what they did not expect: logged, counted, restarted.

Both triggers arrive through Redis, as they would in production: a notice that is not UTF-8 on the change
channel (any process with publish rights can send one), and an account record holding bytes that are not
UTF-8 (a hand edit, a tool writing binary). Before supervision each killed its loop silently for good.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from services.router.app import create_app
from services.router.context import AppContext
from services.router.settings import RouterSettings
from shared.accounts.columns import column
from shared.accounts.state import AccountStates
from shared.keys import Keys
from tests.router.conftest import SeedAccount
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess


@pytest.fixture
async def router_app(
    redis_url: str, key_prefix: str, secret_key: str, emulator: ServiceProcess
) -> AsyncIterator[FastAPI]:
    settings = RouterSettings.load(
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        kiro_secret_key=secret_key,
        internal_api_key="test-internal",
        gateway_urls=emulator.url,
        pool_gauge_interval_seconds=0.1,
    )
    app = create_app(settings)
    async with asyncio.timeout(60), app.router.lifespan_context(app):
        yield app


async def _metrics(app: FastAPI) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        return (await client.get("/metrics")).text


def _crash_logged(caplog: pytest.LogCaptureFixture, loop: str) -> bool:
    return any(
        "background loop crashed; restarting" in r.getMessage()
        and getattr(r, "fields", {}).get("loop") == loop
        and (r.exc_info or r.exc_text)
        for r in caplog.records
    )


async def test_change_notices_still_drop_caches_after_a_notice_that_is_not_utf8(
    router_app: FastAPI,
    redis: aioredis.Redis,
    keys: Keys,
    seed_account: SeedAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ctx: AppContext = router_app.state.ctx
    await seed_account("acc-a", token="token-one")
    assert (cached := await ctx.credentials.get("acc-a")) is not None and cached.access_token == "token-one"
    await wait_for(lambda: redis.pubsub_numsub(keys.events()), 10, "the router to subscribe")

    await redis.publish(keys.events(), b"\xff\xfe not utf-8")
    await wait_for(lambda: asyncio.sleep(0, _crash_logged(caplog, "change-notices")), 10, "a log line")

    # the token changes in Redis: only a change notice tells the router to drop its cached copy
    async def notice_applied() -> bool:
        await redis.hset(keys.account("acc-a"), "access_token_enc", ctx.box.encrypt("token-two"))
        await AccountStates(redis, keys).notify("acc-a", "token_refreshed")
        await asyncio.sleep(0.05)
        fresh = await ctx.credentials.get("acc-a")
        return fresh is not None and fresh.access_token == "token-two"

    await wait_for(notice_applied, 15, "a later notice to drop the cached token")
    assert 'kiro_router_background_restarts_total{loop="change-notices"} 1.0' in await _metrics(router_app)


async def test_pool_gauges_update_again_after_an_account_record_that_is_not_utf8(
    router_app: FastAPI,
    redis: aioredis.Redis,
    keys: Keys,
    seed_account: SeedAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await seed_account("acc-a")
    await seed_account("acc-b")

    async def active_gauge() -> float | None:
        page = await _metrics(router_app)
        found = re.search(r'kiro_router_pool_accounts\{state="active"\} ([0-9.]+)', page)
        return float(found.group(1)) if found else None

    await wait_for(lambda: _is(active_gauge, 2.0), 10, "the gauge to count two active accounts")

    await redis.hset(keys.account_columns(), column("state", "acc-b"), b"\xff\xfe")
    await wait_for(lambda: asyncio.sleep(0, _crash_logged(caplog, "pool-gauges")), 10, "a log line")
    await redis.hdel(keys.account_columns(), column("state", "acc-b"))
    await redis.srem(keys.accounts(), "acc-b")

    await wait_for(lambda: _is(active_gauge, 1.0), 15, "the gauge to follow the pool again")
    assert re.search(
        r'kiro_router_background_restarts_total\{loop="pool-gauges"\} [1-9]', await _metrics(router_app)
    )


async def _is(read: Callable[[], Awaitable[float | None]], expected: float) -> bool:
    return await read() == expected
