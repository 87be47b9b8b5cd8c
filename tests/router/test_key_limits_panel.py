"""The key dialogs set the concurrency cap, monthly credit budget, expiry and note; the table shows them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.router.test_admin_panel import sign_in
from tests.support.procs import ServiceProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_key_dialogs_set_the_limits_expiry_and_note_and_the_table_marks_an_expired_key(
    router: ServiceProcess, browser: Browser, shots: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1500, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Client keys").click()

    await page.get_by_role("button", name="Create key").click()
    creator = page.locator("#key-dialog")
    await creator.get_by_label("Name").fill("contractor")
    await creator.get_by_label("Requests at a time").fill("2")
    await creator.get_by_label("Monthly credit budget").fill("150")
    next_year = time.gmtime(time.time() + 366 * 86400).tm_year
    await creator.get_by_label("Expires (UTC").fill(f"{next_year}-03-01T18:30")
    await creator.get_by_label("Note").fill("until the migration is done")
    await creator.get_by_role("button", name="Create key").click()
    await expect(page.get_by_label("New client key")).not_to_have_value("")
    await creator.get_by_role("button", name="Done").click()

    row = page.locator("#keys-table tbody tr", has_text="contractor")
    await expect(row.locator(".key-concurrency")).to_have_text("0 / 2")
    await expect(row.locator(".key-credits-month")).to_have_text("0 / 150")
    await expect(row.locator(".key-expires")).to_have_text(f"{next_year}-03-01 18:30 UTC")
    await expect(row).to_contain_text("until the migration is done")

    await row.get_by_role("button", name="Edit").click()
    editor = page.locator("#key-edit-dialog")
    await expect(editor.get_by_label("Requests at a time")).to_have_value("2")
    await expect(editor.get_by_label("Note")).to_have_value("until the migration is done")
    await editor.get_by_label("Expires (UTC").fill("2020-01-01T00:00")
    await editor.get_by_role("button", name="Save").click()
    await expect(row.locator(".key-expires")).to_have_text("Expired 2020-01-01 00:00 UTC")
    await expect(row).to_contain_text("Expired")
    await page.screenshot(path=shots / "key-limits.png")
    assert errors == []
