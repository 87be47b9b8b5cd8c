"""The account check from the admin API: a real router queues it, a real refresher worker runs it against
the emulator, and the result comes back (or 202, then the stored result)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from services.kiro_emulator.control import EmulatorControl, unique_name
from tests.router.test_admin_panel import sign_in
from tests.support.procs import ServiceProcess, StartWorker

pytestmark = pytest.mark.e2e


@pytest.fixture
def router(emulated_router: ServiceProcess) -> ServiceProcess:
    return emulated_router


@pytest.fixture
def refresher(start_refresher: StartWorker) -> ServiceProcess:
    return start_refresher(WORKER_POLL_DELAY_SECONDS="0.05")


@pytest.fixture
async def admin(router: ServiceProcess, stack_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    async with httpx.AsyncClient(base_url=router.url + "/admin/api", headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def ctl(emulator: ServiceProcess) -> Iterator[EmulatorControl]:
    with EmulatorControl(emulator.url) as control:
        yield control


async def _add(admin: httpx.AsyncClient, ctl: EmulatorControl, label: str) -> tuple[str, str]:
    """A social account known to the emulator, added through the admin API: (account id, emulator name)."""
    emu = await asyncio.to_thread(ctl.register_account, unique_name("adm"))
    added = await admin.post(
        "/accounts", json={"auth_kind": "social", "refresh_token": emu["refresh_token"], "label": label}
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"]), str(emu["name"])


def _steps(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in result["steps"]}


async def test_the_check_button_api_answers_the_result_and_the_account_list_shows_it(
    admin: httpx.AsyncClient, refresher: ServiceProcess, ctl: EmulatorControl
) -> None:
    healthy_id, _ = await _add(admin, ctl, "healthy")
    refused_id, refused_name = await _add(admin, ctl, "refused")
    await asyncio.to_thread(ctl.add_fault, account=refused_name, endpoint="chat", kind="suspended", times=0)
    before = time.time()

    good = await admin.post(f"/accounts/{healthy_id}/check")
    bad = await admin.post(f"/accounts/{refused_id}/check")

    assert good.status_code == 200, good.text
    result = good.json()
    assert result["ok"] is True and result["source"] == "admin" and result["checked_at"] >= before
    chat = _steps(result)["chat"]
    assert (chat["status"], chat["endpoint"], chat["origin"]) == ("ok", "codewhisperer", "AI_EDITOR")
    assert bad.status_code == 200
    refused_chat = _steps(bad.json())["chat"]
    assert refused_chat["status"] == "failed"
    assert refused_chat["error"]["status"] == 403 and "suspended" in refused_chat["error"]["message"]
    listing = {a["id"]: a for a in (await admin.get("/accounts")).json()["accounts"]}
    assert listing[healthy_id]["last_check"] == result
    assert listing[refused_id]["last_check"]["ok"] is False
    assert (await admin.get(f"/accounts/{refused_id}")).json()["last_check"] == bad.json()
    assert (await admin.get(f"/accounts/{healthy_id}/check")).json() == result


async def test_a_check_still_running_answers_202_and_its_result_is_stored_when_done(
    admin: httpx.AsyncClient, refresher: ServiceProcess, ctl: EmulatorControl
) -> None:
    account_id, name = await _add(admin, ctl, "slow")
    never = await admin.get(f"/accounts/{account_id}/check")
    assert never.status_code == 404 and "never checked" in never.text
    await asyncio.to_thread(ctl.add_fault, account=name, endpoint="chat", first_byte_delay_ms=1500, times=1)

    queued = await admin.post(f"/accounts/{account_id}/check", params={"wait": 0})

    assert queued.status_code == 202 and queued.json()["queued"] is True
    async with asyncio.timeout(30):  # the panel polls the stored result the same way
        while True:
            stored = await admin.get(f"/accounts/{account_id}/check")
            if stored.status_code != 404:
                break
            await asyncio.sleep(0.1)
    assert stored.status_code == 200 and stored.json()["ok"] is True


async def test_checking_an_unknown_account_is_a_404_and_queues_nothing(
    admin: httpx.AsyncClient, router: ServiceProcess
) -> None:
    missing = await admin.post("/accounts/acc_nobody/check")
    assert missing.status_code == 404
    assert (await admin.get("/accounts/acc_nobody/check")).status_code == 404


@pytest.mark.browser
async def test_the_panels_check_button_shows_each_step_and_kiros_refusal(
    router: ServiceProcess,
    refresher: ServiceProcess,
    admin: httpx.AsyncClient,
    ctl: EmulatorControl,
    browser: Browser,
    shots: Path,
) -> None:
    await _add(admin, ctl, "healthy panel")
    _, refused_name = await _add(admin, ctl, "refused panel")
    await asyncio.to_thread(ctl.add_fault, account=refused_name, endpoint="chat", kind="suspended", times=0)
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Accounts").click()
    healthy = page.locator("#accounts-table tbody tr", has_text="healthy panel")
    refused = page.locator("#accounts-table tbody tr", has_text="refused panel")
    await expect(healthy.locator("td.last-check")).to_have_text("never")

    await healthy.get_by_role("button", name="Check healthy panel").click()
    dialog = page.locator("#check-dialog")
    await expect(dialog).to_be_visible(timeout=30_000)
    await expect(dialog.locator("#check-summary")).to_contain_text("OK")
    for step in ("token", "models", "usage", "chat"):
        await expect(dialog.locator(f'tr[data-step="{step}"] .badge')).to_have_text("OK")
    await expect(dialog.locator('tr[data-step="chat"]')).to_contain_text("codewhisperer (origin AI_EDITOR")
    await page.screenshot(path=shots / "check-ok.png")
    await dialog.get_by_role("button", name="Close").click()
    await expect(healthy.get_by_role("button", name="Last check of healthy panel: OK")).to_be_visible()

    await refused.get_by_role("button", name="Check refused panel").click()
    await expect(dialog.locator("#check-summary")).to_contain_text("Failed", timeout=30_000)
    chat = dialog.locator('tr[data-step="chat"]')
    await expect(chat.locator(".badge")).to_have_text("Failed")
    await expect(chat).to_contain_text("amazonq (origin AI_EDITOR")
    await expect(chat).to_contain_text(
        "HTTP 403 AccessDeniedException: Your account has been temporarily suspended."
    )
    await page.screenshot(path=shots / "check-failed.png")
    await dialog.get_by_role("button", name="Close").click()

    # the stored result stays behind the table's badge
    await refused.get_by_role("button", name="Last check of refused panel: Failed").click()
    await expect(chat).to_contain_text("HTTP 403 AccessDeniedException")
    assert errors == []
