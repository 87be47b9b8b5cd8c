"""The admin API's account detail, filled by the real code paths: a router failing over, the refresher."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from services.refresher.context import Refresher
from services.refresher.refresh import Outcome, refresh_account
from shared.accounts.store import AccountStore
from shared.crypto import SecretBox
from tests.refresher.conftest import settings_from
from tests.router.stack import Seeder, Stack

pytestmark = pytest.mark.e2e

ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex
PROXY = "http://proxyuser:proxy-password-123@proxy.example:3128"


async def _detail(url: str, account_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(
            f"{url}/admin/api/accounts/{account_id}/detail", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    assert "proxy-password-123" not in r.text and "refresh_token_enc" not in r.text
    return data


async def _ask(url: str, key: str) -> int:
    body = {"model": "claude-sonnet-4.5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            url + "/v1/messages", json=body, headers={"x-api-key": key, "anthropic-version": "2023-06-01"}
        )
    return r.status_code


async def test_detail_shows_the_failure_the_failover_the_served_request_and_the_refresh(
    stack: Stack, seeder: Seeder, redis: aioredis.Redis
) -> None:
    router = stack.start_router(stack.gateway.url, ADMIN_API_KEY=ADMIN_KEY)
    failing = await seeder.account(weight=1_000_000, api_region="eu-central-1")
    healthy = await seeder.account(weight=1)
    stack.control.add_fault(account=failing, endpoint="chat", kind="throttled", times=1)
    key = await seeder.client_key()
    assert await _ask(router.url, key) == 200  # failing throttles, healthy serves
    refresher = Refresher.build(
        settings_from({**stack.env, "KIRO_EMULATOR_URL": stack.emulator.url}, force_refresh_grace_seconds=0)
    )
    try:
        assert await refresh_account(refresher, failing, force=True, requested_at=time.time()) is (
            Outcome.REFRESHED
        )
    finally:
        await refresher.close()
    # set last: the refresher would call Kiro through it
    await AccountStore(redis, stack.keys, SecretBox(stack.secret_key)).update(failing, {"proxy_url": PROXY})

    detail = await _detail(router.url, failing)
    assert detail["state"] == "cooldown" and detail["state_reason"] == "throttled"
    assert detail["usable_at"] > time.time()
    assert detail["proxy_url"] == "http://proxyuser:****@proxy.example:3128"
    assert detail["region"] == {"api": "eu-central-1", "auth": "us-east-1"}
    assert detail["auth_kind"] == "social"
    ((error),) = detail["errors"]
    assert (error["kind"], error["source"]) == ("throttled", "router")
    assert [(r["outcome"], r["trigger"]) for r in detail["refreshes"]] == [("ok", "forced")]
    assert detail["usage_limit"] == 1000  # the refresher fetched the usage limits after the new token
    assert detail["requests"]["served"] == []
    ((over),) = detail["requests"]["failed_over"]
    assert over["account"] == healthy and over["tried"] == [{"account": failing, "reason": "throttled"}]
    assert (detail["stats"]["requests"], detail["stats"]["errors"]) == (1, 1)
    assert detail["last_check"] is None

    served = await _detail(router.url, healthy)
    assert served["state"] == "active" and served["usable_at"] is None
    assert [r["request_id"] for r in served["requests"]["served"]] == [over["request_id"]]
    assert served["requests"]["failed_over"] == [] and served["errors"] == []

    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(
            f"{router.url}/admin/api/accounts/nobody/detail", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    assert r.status_code == 404 and "nobody" in r.text
