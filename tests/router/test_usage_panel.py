"""The panel's accounts table shows the quota reset date and days left, and follows the usage schedule."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.router.browser import REFRESH_MS
from tests.router.test_admin_panel import sign_in
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, StartWorker

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def router(emulated_router: ServiceProcess) -> ServiceProcess:
    return emulated_router


@pytest.fixture
def refresher(start_refresher: StartWorker) -> ServiceProcess:
    """A worker fetching usage limits every second (no token refresh in between)."""
    return start_refresher(USAGE_REFRESH_INTERVAL_SECONDS="1", WORKER_POLL_DELAY_SECONDS="0.05")


async def _stored_usage(router: ServiceProcess, admin_key: str, label: str) -> float | None:
    """The usage figure the admin API has for the account labelled `label` (None before it has one)."""
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as api:
        r = await api.get("/admin/api/accounts", headers={"Authorization": f"Bearer {admin_key}"})
    found = [a for a in r.raise_for_status().json()["accounts"] if a["label"] == label]
    return float(found[0]["usage_current"]) if found and found[0]["usage_limit"] else None


async def test_accounts_table_shows_the_reset_date_and_days_left_and_new_usage_figures(
    router: ServiceProcess,
    refresher: ServiceProcess,
    emulator: ServiceProcess,
    stack_env: dict[str, str],
    browser: Browser,
    shots: Path,
) -> None:
    async def usage_stored(current: float) -> bool:
        return await _stored_usage(router, stack_env["ADMIN_API_KEY"], "quota watch") == current

    reset = time.time() + 9 * 86400 + 600  # 9 days and 10 minutes: "in 10 days"
    name = f"usage-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as emu:
        usage = {"current": 5, "limit": 100, "next_reset": reset}
        r = await emu.post("/_emulator/accounts", json={"name": name, "usage": usage})
        r.raise_for_status()
        refresh_token = r.json()["refresh_token"]
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    await page.clock.install()  # the table's refresh timer: moved on by the test once the figures are stored
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Accounts").click()
    await page.get_by_role("button", name="Add account").click()
    dialog = page.locator("#add-dialog")
    await dialog.get_by_label("Refresh token").fill(refresh_token)
    await dialog.get_by_label("Label").fill("quota watch")
    await dialog.get_by_role("button", name="Add account").click()
    row = page.locator("#accounts-table tbody tr", has_text="quota watch")
    usage_cell = row.locator("td.usage")
    await wait_for(lambda: usage_stored(5), within=15, what="the first usage figures")
    await page.clock.run_for(REFRESH_MS + 500)
    await expect(usage_cell).to_contain_text("5 / 100")
    shown_date = await page.evaluate(  # the browser's own locale, as the panel formats it
        "ts => new Date(ts * 1000).toLocaleDateString(undefined, "
        "{year: 'numeric', month: 'short', day: 'numeric'})",
        reset,
    )
    await expect(usage_cell.locator(".usage-reset")).to_have_text(f"resets {shown_date} (in 10 days)")

    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as emu:
        usage = {"current": 42, "limit": 100, "next_reset": reset}
        (await emu.patch(f"/_emulator/accounts/{name}", json={"usage": usage})).raise_for_status()
        await wait_for(lambda: usage_stored(42), within=20, what="the new usage figures")
        await page.clock.run_for(REFRESH_MS + 500)
        await expect(usage_cell).to_contain_text("42 / 100")  # the table refreshes itself
        counts = (await emu.get("/_emulator/counters", params={"account": name})).json()["counts"]
    assert counts["social_refresh"] == 1  # new figures without a token refresh
    await page.screenshot(path=shots / "accounts-usage-reset.png")
