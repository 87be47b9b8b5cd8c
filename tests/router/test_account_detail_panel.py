"""The admin panel's account detail view in a real browser, before a real stack (and the refresher's code)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, expect

from services.refresher.context import Refresher
from services.refresher.refresh import Outcome, refresh_account
from shared.accounts.model import AccountState
from shared.accounts.store import AccountStore
from shared.crypto import SecretBox
from tests.refresher.conftest import settings_from
from tests.router.stack import Seeder, Stack
from tests.router.test_admin_panel import sign_in
from tests.support.polling import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PROXY = "http://proxyuser:proxy-password-123@proxy.example:3128"


async def _ask(url: str, key: str, text: str) -> str:
    """One request (a conversation of its own: no affinity to the account of another); its id."""
    body = {"model": "claude-sonnet-4.5", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            url + "/v1/messages", json=body, headers={"x-api-key": key, "anthropic-version": "2023-06-01"}
        )
    assert r.status_code == 200
    return r.headers["request-id"]


async def test_details_show_state_errors_requests_refreshes_proxy_and_region(
    stack: Stack, seeder: Seeder, redis: aioredis.Redis, browser: Browser, shots: Path
) -> None:
    # short throttle cooldowns: the account is back in rotation for the second request
    router = stack.start_router(
        stack.gateway.url, ADMIN_PASSWORD="test-admin-password", COOLDOWN_BASE_SECONDS="0.3"
    )
    failing = await seeder.account(weight=1_000_000, api_region="eu-central-1")
    healthy = await seeder.account(weight=1)
    stack.control.add_fault(
        account=failing, endpoint="chat", kind="throttled", headers={"Retry-After": "0.2"}, times=1
    )
    key = await seeder.client_key()
    failed_over = await _ask(router.url, key, "first")

    async def usable() -> bool:
        score = await redis.zscore(stack.keys.pool(), failing)
        return score is not None and score <= await _redis_now(redis)

    await wait_for(usable, within=10, what="the throttle cooldown to lapse")
    served = await _ask(router.url, key, "second")

    refresher = Refresher.build(settings_from({**stack.env, "KIRO_EMULATOR_URL": stack.emulator.url}))
    try:  # what the refresher does for the Refresh button (or a token Kiro rejected)
        assert await refresh_account(refresher, failing, force=True, requested_at=time.time()) is (
            Outcome.REFRESHED
        )
    finally:
        await refresher.close()
    # set last: the refresher would have called Kiro through it
    await AccountStore(redis, stack.keys, SecretBox(stack.secret_key)).update(failing, {"proxy_url": PROXY})

    # stored as cooling down (weight 0: never picked): one for ten more minutes, one whose time has passed
    cooling = await seeder.account(weight=0, state=AccountState.COOLDOWN, until=time.time() + 600)
    lapsed = await seeder.account(weight=0, state=AccountState.COOLDOWN, until=time.time() - 60)
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Accounts").click()
    cooling_row = page.locator(f'#accounts-table tr[data-account-id="{cooling}"]')
    await expect(cooling_row.locator(".badge-cooldown")).to_have_text("Cooldown")
    await expect(cooling_row.locator(".usable-at")).to_have_text(re.compile(r"usable again in (9|10) min"))
    lapsed_row = page.locator(f'#accounts-table tr[data-account-id="{lapsed}"]')
    await expect(lapsed_row.locator(".badge-active")).to_have_text("Active")
    await lapsed_row.get_by_role("button", name="Details").click()
    await expect(page.locator("#detail-state")).to_contain_text("usable since")
    await page.locator("#detail-dialog").get_by_role("button", name="Close").click()

    row = page.locator(f'#accounts-table tr[data-account-id="{failing}"]')
    await row.get_by_role("button", name="Details").click()
    dialog = page.locator("#detail-dialog")
    await expect(dialog).to_be_visible()
    error_row = dialog.locator("#detail-errors tbody tr")
    await expect(error_row).to_have_count(1)
    await expect(error_row).to_contain_text("throttled")
    await expect(error_row).to_contain_text("router")
    await expect(dialog.locator(f'#detail-failed-over tr[data-request-id="{failed_over}"]')).to_contain_text(
        f"throttled; served by {healthy}"
    )
    await expect(dialog.locator(f'#detail-served tr[data-request-id="{served}"]')).to_contain_text(
        "claude-sonnet-4.5"
    )
    refresh_row = dialog.locator("#detail-refreshes tbody tr")
    await expect(refresh_row).to_have_count(1)
    await expect(refresh_row).to_contain_text("OK")
    await expect(refresh_row).to_contain_text("forced")
    connection = dialog.locator("#detail-connection")
    await expect(connection).to_contain_text("http://proxyuser:****@proxy.example:3128")
    await expect(connection).to_contain_text("eu-central-1")
    await expect(dialog.locator("#detail-state")).to_contain_text("Active")
    await expect(dialog).not_to_contain_text("proxy-password-123")
    await dialog.screenshot(path=shots / "account-detail.png")
    assert errors == []


async def _redis_now(client: aioredis.Redis) -> float:
    """Redis's clock: the one the cooldown script scored the account with."""
    seconds, micros = await client.time()
    return seconds + micros / 1e6
