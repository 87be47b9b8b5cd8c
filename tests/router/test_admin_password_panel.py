"""Changing the admin password in the panel, in a real browser against a real router: the other browser
is signed out at its next step, and the new password signs in."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.router.test_admin_panel import sign_in
from tests.support.procs import ServiceProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

NEW_PASSWORD = "changed-in-the-panel"


async def fill_change(page: Page, current: str, new: str, repeat: str) -> None:
    dialog = page.locator("#password-dialog")
    await dialog.get_by_label("Current password").fill(current)
    await dialog.get_by_label("New password", exact=True).fill(new)
    await dialog.get_by_label("Repeat new password").fill(repeat)
    await dialog.get_by_role("button", name="Change password").click()


async def test_a_password_changed_in_one_browser_signs_the_other_out_and_the_new_one_signs_in(
    router: ServiceProcess, stack_env: dict[str, str], browser: Browser, shots: Path
) -> None:
    old_password = stack_env["ADMIN_PASSWORD"]
    one, other = [
        await (await browser.new_context(viewport={"width": 1360, "height": 900})).new_page() for _ in "ab"
    ]
    errors: list[str] = []
    for page in (one, other):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(page, router.url)

    await one.get_by_role("button", name="Change password").click()
    dialog = one.locator("#password-dialog")
    await fill_change(one, old_password, NEW_PASSWORD, NEW_PASSWORD + "!")
    await expect(dialog.get_by_role("alert")).to_have_text("The new passwords do not match.")
    await fill_change(one, old_password, "too-short", "too-short")
    await expect(dialog.get_by_role("alert")).to_contain_text("at least 12 characters")
    await one.screenshot(path=shots / "password-dialog.png")
    await fill_change(one, "not the password", NEW_PASSWORD, NEW_PASSWORD)
    await expect(dialog.get_by_role("alert")).to_have_text("the current password is wrong")
    await fill_change(one, old_password, NEW_PASSWORD, NEW_PASSWORD)
    await expect(one.locator("#toast")).to_contain_text("Password changed")
    await expect(dialog).to_be_hidden()

    # this browser stays signed in; the other lands on the login form at its next step
    await one.get_by_role("link", name="Client keys").click()
    await expect(one.get_by_role("heading", name="Client keys")).to_be_visible()
    await other.get_by_role("link", name="Client keys").click()
    await expect(other.get_by_label("Admin password")).to_be_visible()
    await other.get_by_label("Admin password").fill(old_password)
    await other.get_by_role("button", name="Sign in").click()
    await expect(other.get_by_role("alert")).to_contain_text("wrong password")
    await other.get_by_label("Admin password").fill(NEW_PASSWORD)
    await other.get_by_role("button", name="Sign in").click()
    await expect(other.get_by_role("heading", name="Client keys")).to_be_visible()
    assert errors == []
