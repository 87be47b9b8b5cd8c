"""The chat endpoint order and origins in the admin panel's settings, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.router.test_admin_panel import sign_in
from tests.support.procs import ServiceProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def router(stack_env: dict[str, str]) -> Iterator[ServiceProcess]:
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9"}
    with ServiceProcess("services.router", env=env, name="router") as proc:
        yield proc


async def test_operator_sets_the_endpoint_order_and_an_origin_and_sees_them_after_a_reload(
    router: ServiceProcess, stack_env: dict[str, str], browser: Browser, shots: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Settings").click()
    order = page.get_by_label("Chat endpoint order")
    origins = page.get_by_label("Endpoint origins")
    await expect(order).to_have_value("auto")
    await expect(origins).to_have_value("")

    await order.fill("bedrock")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("alert")).to_contain_text("codewhisperer, amazonq, kiro")
    await order.fill("amazonq, kiro")
    await origins.fill("amazonq = IDE")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("alert")).to_contain_text("AI_EDITOR, CLI")

    await origins.fill("amazonq = CLI")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Settings saved.")).to_be_visible()
    await page.reload()
    await page.get_by_role("link", name="Settings").click()
    await expect(order).to_have_value("amazonq,kiro")
    await expect(origins).to_have_value("amazonq = CLI")
    await page.screenshot(path=shots / "settings-endpoints.png", full_page=True)

    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    async with httpx.AsyncClient(timeout=10, headers=bearer) as client:
        stored = (await client.get(router.url + "/admin/api/settings")).json()
    assert (stored["endpoint_order"], stored["endpoint_origins"]) == ("amazonq,kiro", {"amazonq": "CLI"})
    assert errors == []
