"""Kiro's "out of quota" on a request makes the refresher fetch the account's usage limits once."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from shared.accounts.model import AccountState
from tests.router.stack import Seeder, Stack
from tests.support.accounts import column_of
from tests.support.polling import wait_for
from tests.support.procs import refresher_workers

ADMIN_KEY = "test-admin-" + uuid.uuid4().hex


async def test_a_quota_error_fetches_the_usage_limits_once_and_the_admin_api_shows_the_reset(
    stack: Stack, seeder: Seeder
) -> None:
    reset = time.time() + 12 * 86400 + 600
    account = await seeder.account(usage_current=10.0, usage_limit=1000.0)
    stack.control.update_account(account, usage={"current": 1000, "limit": 1000, "next_reset": reset})
    stack.control.add_fault(account=account, endpoint="chat", kind="quota", times=0)
    router = stack.start_router(stack.gateway.url, ADMIN_API_KEY=ADMIN_KEY)
    key = await seeder.client_key()
    body = {"model": "claude-sonnet-4.5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=router.url, timeout=30) as http:
        for _ in range(3):
            r = await http.post("/v1/messages", json=body, headers={"x-api-key": key})
            assert r.status_code == 429
        env = {**stack.env, "KIRO_EMULATOR_URL": stack.emulator.url, "USAGE_REFRESH_INTERVAL_SECONDS": "0"}
        with refresher_workers(env) as start_worker:
            start_worker(WORKER_POLL_DELAY_SECONDS="0.05")

            async def fetched() -> bool:
                # the fetch stored the figures and moved the end of the exhaustion to Kiro's reset
                until = await column_of(seeder.redis, seeder.keys, account, "exhausted_until")
                return abs(float(until or 0) - reset) < 1

            await wait_for(fetched, within=15, what="the usage fetch after the quota error")
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            listing = (await http.get("/admin/api/accounts", headers=admin)).json()
    counts = stack.control.counts(account)
    assert counts.get("usage") == 1  # one fetch, though clients kept hearing 429
    assert "social_refresh" not in counts  # usage only: no token refresh
    (view,) = [a for a in listing["accounts"] if a["id"] == account]
    assert view["usage_current"] == 1000
    assert view["usage_reset_at"] == pytest.approx(reset)
    assert view["usage_reset_days"] == 13
    assert view["state"] == AccountState.EXHAUSTED.value  # the fetch agrees: out until the reset
    assert view["exhausted_until"] == pytest.approx(reset)
