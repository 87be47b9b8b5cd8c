"""The admin panel's Requests view in a real browser (Debian chromium via Playwright) before a real stack."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.router.browser import REFRESH_MS
from tests.router.stack import Seeder, Stack
from tests.router.test_admin_panel import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ANTHROPIC = {"anthropic-version": "2023-06-01"}


async def _post(url: str, key: str, model: str = "claude-sonnet-4.5") -> int:
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC})
    return r.status_code


async def test_requests_view_shows_failover_trail_filters_errors_and_refreshes(
    stack: Stack, seeder: Seeder, browser: Browser, shots: Path
) -> None:
    router = stack.start_router(stack.gateway.url, ADMIN_PASSWORD="test-admin-password")
    failing = await seeder.account(weight=1_000_000)
    healthy = await seeder.account(weight=1)
    stack.control.add_fault(account=failing, endpoint="chat", kind="throttled", times=0)
    key = await seeder.client_key()
    _, haiku_only = await seeder.client_keys.create("haiku only", allowed_models=("claude-haiku-4.5",))
    assert await _post(router.url, key) == 200
    assert await _post(router.url, haiku_only) == 403

    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    await page.clock.install()  # the panel's refresh timer: the test moves its clock on, not waits
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Requests").click()
    await expect(page.get_by_role("heading", name="Requests")).to_be_visible()
    rows = page.locator("#requests-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Refused")
    await expect(rows.nth(0)).to_contain_text("model_not_allowed")
    served = rows.nth(1)
    await expect(served).to_contain_text("Served")
    await expect(served).to_contain_text(healthy)
    await expect(served.locator(".trail")).to_have_text(f"failed over: {failing} (throttled)")
    await page.screenshot(path=shots / "requests.png", full_page=True)

    await page.get_by_label("Errors only").check()
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0)).to_contain_text("haiku only")
    await page.get_by_label("Errors only").uncheck()
    await expect(rows).to_have_count(2)

    assert await _post(router.url, key) == 200  # auto refresh brings it in
    await page.clock.run_for(REFRESH_MS + 500)
    await expect(rows).to_have_count(3)
    await page.get_by_label("Auto refresh").uncheck()
    assert await _post(router.url, key) == 200
    await page.clock.run_for(REFRESH_MS + 1_000)  # longer than one refresh period
    await page.wait_for_timeout(1_000)  # what a refresh it started would take to show
    await expect(rows).to_have_count(3)
    assert errors == []
