"""With nothing stored, the panel shows what a gateway does; saving it untouched changes nothing.

(The panel once saved `auto_continue: false` on any save while gateways continued.) Real chromium.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from services.gateway.settings import GatewaySettings
from tests.router.test_admin_panel import sign_in
from tests.support.procs import ServiceProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def router(stack_env: dict[str, str]) -> Iterator[ServiceProcess]:
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9"}
    with ServiceProcess("services.router", env=env, name="router") as proc:
        yield proc


async def test_the_panel_shows_the_gateway_defaults_and_an_untouched_save_keeps_them(
    router: ServiceProcess, stack_env: dict[str, str], browser: Browser
) -> None:
    gateway = GatewaySettings()
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Settings").click()

    for field in ("thinking_suffix", "openai_thinking_format", "claude_thinking_format", "endpoint_order"):
        await expect(page.locator(f"#set-{field}")).to_have_value(str(getattr(gateway, field)))
    await expect(page.locator("#set-endpoint_origins")).to_have_value("")
    await expect(page.locator("#set-default_model")).to_have_value("")  # unset: each gateway's own
    await expect(page.locator("#set-model_aliases")).to_have_value("")
    if gateway.auto_continue:
        await expect(page.locator("#set-auto_continue")).to_be_checked()
    else:
        await expect(page.locator("#set-auto_continue")).not_to_be_checked()

    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    async with httpx.AsyncClient(timeout=10, headers=bearer) as client:
        before = (await client.get(router.url + "/admin/api/settings")).json()
        await page.get_by_role("button", name="Save settings").click()
        await expect(page.get_by_text("Settings saved.")).to_be_visible()
        after = (await client.get(router.url + "/admin/api/settings")).json()
    assert after == before
    assert errors == []


async def test_a_choice_made_while_the_settings_load_is_not_lost(
    router: ServiceProcess, stack_env: dict[str, str], browser: Browser
) -> None:
    """A slow settings answer once overwrote a choice made before it arrived, and the save stored the
    old value: the form stays read-only until the stored values are in."""
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    await sign_in(page, router.url)
    held: asyncio.Queue[Route] = asyncio.Queue()

    async def hold(route: Route) -> None:
        if route.request.method == "GET":
            await held.put(route)
        else:
            await route.continue_()

    await page.route("**/admin/api/settings", hold)
    await page.get_by_role("link", name="Settings").click()
    pending = await asyncio.wait_for(held.get(), 10)
    choice = page.get_by_label("Anthropic thinking output")
    await expect(choice).to_be_disabled()
    await expect(page.get_by_role("button", name="Save settings")).to_be_disabled()
    await pending.continue_()
    await page.unroute("**/admin/api/settings")

    await choice.select_option("thinking_tags")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Settings saved.")).to_be_visible()
    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    async with httpx.AsyncClient(timeout=10, headers=bearer) as client:
        stored = (await client.get(router.url + "/admin/api/settings")).json()
    assert stored["claude_thinking_format"] == "thinking_tags"
