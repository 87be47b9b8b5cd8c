"""The admin panel in a real browser (Debian chromium via Playwright) against a real router process."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.async_api import Browser, FilePayload, Page, expect

from tests.router.browser import REFRESH_MS
from tests.router.test_admin_api import kiro_go_config
from tests.support.kiro_cli import social_login_db_bytes
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, StartWorker

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: the add dialog asks how a device login goes this often (add_account.js: the flow's interval, at least
#: 2 s; the emulator's is 1 s)
DEVICE_POLL_MS = 2_000


@pytest.fixture
def router(emulated_router: ServiceProcess) -> ServiceProcess:
    return emulated_router


@pytest.fixture
def refresher(start_refresher: StartWorker) -> ServiceProcess:
    """The worker that fetches new accounts' first tokens and finishes device logins."""
    return start_refresher()


async def emulator_account(emulator: ServiceProcess) -> str:
    """A social account known to the emulator; returns its refresh token."""
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        name = f"panel-{uuid.uuid4().hex[:8]}"
        r = await client.post("/_emulator/accounts", json={"name": name, "auth_kind": "social"})
        r.raise_for_status()
        return str(r.json()["refresh_token"])


def admin_api(router: ServiceProcess, stack_env: dict[str, str]) -> httpx.AsyncClient:
    """The router's admin API, as the panel reads it."""
    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    return httpx.AsyncClient(base_url=router.url + "/admin/api", headers=bearer, timeout=10)


async def until_active(api: httpx.AsyncClient, label: str) -> None:
    """Wait until the refresher has fetched the first token of the account labelled `label`."""

    async def active() -> bool:
        accounts = (await api.get("/accounts")).raise_for_status().json()["accounts"]
        return any(a["label"] == label and a["state"] == "active" for a in accounts)

    await wait_for(active, within=15, what=f"the refresher to activate {label!r}")


async def until_device_login_done(api: httpx.AsyncClient, flow_id: str) -> None:
    """Wait until the refresher has finished (or given up on) the device login `flow_id`."""

    async def done() -> bool:
        status = (await api.get(f"/accounts/device-flow/{flow_id}")).raise_for_status().json()
        return status["status"] != "pending"

    await wait_for(done, within=15, what="the refresher to finish the device login")


async def sign_in(page: Page, url: str) -> None:
    await page.goto(url + "/admin/")
    await page.get_by_label("Admin password").fill("test-admin-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


async def test_operator_adds_edits_imports_creates_a_key_and_logs_out(
    router: ServiceProcess,
    refresher: ServiceProcess,
    emulator: ServiceProcess,
    stack_env: dict[str, str],
    browser: Browser,
    shots: Path,
) -> None:
    refresh_token = await emulator_account(emulator)
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    await page.clock.install()  # the panel's timers: the test moves its clock on once the server is done
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)

    await page.goto(router.url + "/admin/")
    await page.get_by_label("Admin password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("wrong password")
    await page.screenshot(path=shots / "login.png")
    await sign_in(page, router.url)
    await page.screenshot(path=shots / "dashboard.png", full_page=True)

    # add a social account from its refresh token
    await page.get_by_role("link", name="Accounts").click()
    await page.get_by_role("button", name="Add account").click()
    dialog = page.locator("#add-dialog")
    await dialog.get_by_label("Refresh token").fill(refresh_token)
    await dialog.get_by_label("Label").fill("emulated social")
    await dialog.get_by_role("button", name="Add account").click()
    row = page.locator("#accounts-table tbody tr", has_text="emulated social")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("social")
    # the refresher fetches its first token from the emulator; the table refreshes by itself
    async with admin_api(router, stack_env) as api:
        await until_active(api, "emulated social")
    await page.clock.run_for(REFRESH_MS + 500)
    await expect(row.locator(".badge")).to_have_text("Active")

    # change its weight
    await row.get_by_role("button", name="Edit").click()
    await page.locator("#edit-dialog").get_by_label("Weight").fill("300")
    await page.locator("#edit-dialog").get_by_role("button", name="Save").click()
    await expect(row.locator("td.weight")).to_have_text("300")

    # a Builder ID device login: the user code is shown, the login is confirmed, the account appears
    await page.get_by_role("button", name="Add account").click()
    await dialog.get_by_role("tab", name="Device login").click()
    await dialog.get_by_label("Label").fill("device builder")
    async with page.expect_response(re.compile(r"/admin/api/accounts/device-flow$")) as started:
        await dialog.get_by_role("button", name="Start device login").click()
    flow_id = (await (await started.value).json())["flow_id"]
    user_code = (await dialog.locator("#device-user-code").text_content() or "").strip()
    assert user_code
    await expect(dialog.get_by_role("link")).to_have_attribute("href", re.compile(re.escape(user_code)))
    await page.screenshot(path=shots / "device-login.png")
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        (await client.post("/_emulator/device/approve", json={"user_code": user_code})).raise_for_status()
    async with admin_api(router, stack_env) as api:
        await until_device_login_done(api, flow_id)
    await page.clock.run_for(DEVICE_POLL_MS + 500)  # the dialog asks again and shows it
    await expect(dialog).to_contain_text("Signed in. The account was added.")
    await dialog.get_by_role("button", name="Done").click()
    await expect(page.locator("#accounts-table tbody tr", has_text="device builder")).to_be_visible()

    # import a kiro-go config and read the report
    await page.get_by_role("button", name="Import accounts").click()
    importer = page.locator("#import-dialog")
    content = orjson.dumps(kiro_go_config())
    config = FilePayload(name="config.json", mimeType="application/json", buffer=content)
    await importer.get_by_label("config.json file").set_input_files(files=[config])
    await expect(importer.get_by_label("…or paste its contents")).to_have_value(re.compile("accounts"))
    await importer.get_by_role("button", name="Import").click()
    await expect(importer.locator(".report-summary")).to_have_text("2 added, 0 updated, 1 skipped.")
    await expect(importer).to_contain_text("broken: no refresh token")
    await importer.get_by_role("button", name="Close").click()
    await expect(page.locator("#accounts-table tbody tr")).to_have_count(4)
    await expect(page.locator("#accounts-table")).not_to_contain_text(refresh_token)
    await page.screenshot(path=shots / "accounts.png", full_page=True)

    # delete asks first; cancelling keeps the account
    title = page.locator(".cell-title", has_text=re.compile(r"^builder$"))
    doomed = page.locator("#accounts-table tbody tr").filter(has=title)
    await doomed.get_by_role("button", name="Delete builder").click()
    confirm = page.locator("#confirm-dialog")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#accounts-table tbody tr")).to_have_count(4)
    await doomed.get_by_role("button", name="Delete builder").click()
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.locator("#accounts-table tbody tr")).to_have_count(3)

    # create a client key: shown once, with a copy button
    await page.get_by_role("link", name="Client keys").click()
    await page.get_by_role("button", name="Create key").click()
    creator = page.locator("#key-dialog")
    await creator.get_by_label("Name").fill("laptop claude code")
    await creator.get_by_role("button", name="Create key").click()
    plain = page.get_by_label("New client key")
    await expect(plain).to_have_value(re.compile(r"^sk-"))
    key = await plain.input_value()
    assert key.startswith("sk-") and len(key) > 30
    await expect(creator.get_by_role("button", name="Copy")).to_be_visible()
    await page.screenshot(path=shots / "key-created.png")
    await creator.get_by_role("button", name="Done").click()
    key_row = page.locator("#keys-table tbody tr", has_text="laptop claude code")
    await expect(key_row).to_contain_text(key[-4:])
    assert key not in await page.content()

    await page.get_by_role("link", name="Settings").click()
    await expect(page.get_by_label("Thinking model suffix")).to_have_value("-thinking")
    await page.get_by_label("Model aliases").fill("gpt-4o claude")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("alert")).to_contain_text("alias = model")
    await page.screenshot(path=shots / "settings.png", full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.get_by_role("link", name="Accounts").click()
    await page.screenshot(path=shots / "accounts-phone.png", full_page=True)

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_label("Admin password")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("Admin password")).to_be_visible()
    assert errors == []


async def test_operator_imports_a_kiro_cli_login_from_its_database(
    router: ServiceProcess, browser: Browser, shots: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, router.url)
    await page.get_by_role("link", name="Accounts").click()
    await page.get_by_role("button", name="Import accounts").click()
    importer = page.locator("#import-dialog")
    database = FilePayload(
        name="data.sqlite3",
        mimeType="application/octet-stream",
        buffer=social_login_db_bytes("aorCliPanelRefresh0001"),
    )
    await importer.get_by_label("config.json file").set_input_files(files=[database])
    await expect(importer.locator("#import-json")).to_have_attribute(
        "placeholder", "kiro-cli database: data.sqlite3"
    )
    await importer.get_by_role("button", name="Import").click()
    await expect(importer.locator(".report-summary")).to_have_text("1 added, 0 updated, 0 skipped.")
    await expect(importer.locator("#import-report")).not_to_contain_text("null")  # empty sections left out
    await page.screenshot(path=shots / "import-kiro-cli.png")
    await importer.get_by_role("button", name="Close").click()
    await expect(page.locator("#accounts-table tbody tr")).to_have_count(1)
    assert errors == []
