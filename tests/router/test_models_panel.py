"""The admin panel shows the built-in table of retired model names and what served each request, in a
real browser (Debian chromium via Playwright) before a real stack."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.router.stack import Seeder, Stack
from tests.router.test_admin_panel import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_operator_sees_the_retired_names_table_overrides_it_and_sees_requested_to_served(
    stack: Stack, seeder: Seeder, browser: Browser, shots: Path
) -> None:
    router = stack.start_router(stack.gateway.url, ADMIN_PASSWORD="test-admin-password")
    await seeder.account()
    key = await seeder.client_key()
    body = {
        "model": "claude-3-5-haiku-20241022",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            router.url + "/v1/messages",
            json=body,
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        )
    assert r.status_code == 200

    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Requests").click()
    row = page.locator("#requests-table tbody tr").first
    await expect(row.locator(".model-mapped")).to_have_text("claude-3-5-haiku-20241022 → claude-haiku-4.5")

    await page.get_by_role("link", name="Settings").click()
    table = page.get_by_role("table", name="Built-in aliases for retired models")
    haiku = table.locator("tr[data-name='claude-3.5-haiku']")
    await expect(haiku).to_contain_text("claude-haiku-4.5")
    await expect(haiku.locator("td").nth(2)).to_have_text("—")
    aliases = "claude-3-5-haiku-20241022 = claude-sonnet-4.5\nclaude-3.7-sonnet = claude-sonnet-4"
    await page.get_by_label("Model aliases").fill(aliases)
    await page.get_by_role("button", name="Save settings").click()
    await expect(haiku.locator("td").nth(2)).to_have_text("claude-3-5-haiku-20241022 = claude-sonnet-4.5")
    await expect(haiku).not_to_have_class("overridden")  # only that spelling is replaced
    sonnet = table.locator("tr[data-name='claude-3.7-sonnet']")
    await expect(sonnet.locator("td").nth(2)).to_have_text("claude-3.7-sonnet = claude-sonnet-4")
    await expect(sonnet).to_have_class("overridden")
    await expect(table.locator("tr[data-name='claude-3-opus'] td").nth(2)).to_have_text("—")
    await page.screenshot(path=shots / "settings-built-in-aliases.png", full_page=True)
    assert errors == []
