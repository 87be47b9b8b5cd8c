"""The panel parts that match kiro-go and kiro-gateway: the Anthropic thinking output setting, an
enterprise (external IdP) login in the add dialog, an account's API region in the edit dialog, and what a
kiro-go import carried, in a real browser against a real router, refresher and emulator."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, FilePayload, expect

from tests.router.browser import REFRESH_MS
from tests.router.test_admin_panel import admin_api, refresher, router, sign_in, until_active  # noqa: F401 - fixtures
from tests.support.procs import ROOT, ServiceProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

KIRO_GO = ROOT / "tests" / "fixtures" / "kiro_go" / "config.json"


async def test_operator_sets_claude_thinking_adds_an_entra_login_sets_its_region_and_imports_kiro_go(
    router: ServiceProcess,  # noqa: F811
    refresher: ServiceProcess,  # noqa: F811
    emulator: ServiceProcess,
    stack_env: dict[str, str],
    browser: Browser,
    shots: Path,
) -> None:
    name = f"entra-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as control:
        r = await control.post("/_emulator/accounts", json={"name": name, "auth_kind": "external_idp"})
        login = r.raise_for_status().json()
    async with admin_api(router, stack_env) as api:
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        await page.clock.install()  # the panel's refresh timer: moved on once the account is active
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(page, router.url)

        # settings: Anthropic clients get thinking as <thinking> tags
        await page.get_by_role("link", name="Settings").click()
        choice = page.get_by_label("Anthropic thinking output")
        await expect(choice).to_have_value("blocks")
        await choice.select_option("thinking_tags")
        await page.get_by_role("button", name="Save settings").click()
        await expect(page.locator(".toast").last).to_contain_text("Settings saved.")
        assert (await api.get("/settings")).json()["claude_thinking_format"] == "thinking_tags"
        await page.reload()
        await expect(page.get_by_label("Anthropic thinking output")).to_have_value("thinking_tags")

        # an Entra ID login: the refresher refreshes it at its token endpoint and it turns active
        await page.get_by_role("link", name="Accounts").click()
        await page.get_by_role("button", name="Add account").click()
        dialog = page.locator("#add-dialog")
        await dialog.get_by_role("tab", name="Enterprise IdP").click()
        await expect(dialog.get_by_label("Client secret")).to_be_hidden()
        await dialog.get_by_label("Refresh token").fill(login["refresh_token"])
        await dialog.get_by_label("Client ID").fill(login["client_id"])
        await dialog.get_by_label("Token endpoint").fill("http://10.0.0.7/oauth2/token")
        await dialog.get_by_label("Scopes").fill("openid offline_access")
        await dialog.get_by_label("Label").fill("entra login")
        await dialog.get_by_role("button", name="Add account").click()
        await expect(dialog.locator("#add-error")).to_contain_text("https")
        await dialog.get_by_label("Token endpoint").fill(emulator.url + "/external-idp/oauth2/token")
        await page.screenshot(path=shots / "add-external-idp.png")
        await dialog.get_by_role("button", name="Add account").click()
        row = page.locator("#accounts-table tbody tr", has_text="entra login")
        await expect(row).to_contain_text("external_idp")
        await until_active(api, "entra login")
        await page.clock.run_for(REFRESH_MS + 500)  # the table refreshes by itself
        await expect(row.locator(".badge")).to_have_text("Active")

        # its API region: a bad one is refused with the reason, a good one is stored
        await row.get_by_role("button", name="Edit").click()
        editor = page.locator("#edit-dialog")
        await editor.get_by_label("API region").fill("eu-central-1.evil.example")
        await editor.get_by_role("button", name="Save").click()
        await expect(editor.locator("#edit-error")).to_contain_text("not an AWS region")
        await editor.get_by_label("API region").fill("eu-central-1")
        await editor.get_by_role("button", name="Save").click()
        await expect(editor).to_be_hidden()
        accounts = (await api.get("/accounts")).json()["accounts"]
        [account] = [a for a in accounts if a["label"] == "entra login"]
        assert (account["auth_kind"], account["api_region"], account["scopes"]) == (
            "external_idp",
            "eu-central-1",
            "openid offline_access",
        )

        # a kiro-go config: the report says what was carried besides the accounts
        await page.get_by_role("button", name="Import accounts").click()
        importer = page.locator("#import-dialog")
        config = FilePayload(name="config.json", mimeType="application/json", buffer=KIRO_GO.read_bytes())
        await importer.get_by_label("config.json file").set_input_files(files=[config])
        await importer.get_by_role("button", name="Import").click()
        await expect(importer.locator(".report-summary")).to_have_text("3 added, 0 updated, 0 skipped.")
        carried = importer.locator(".report-carried")
        await expect(carried).to_contain_text("Settings applied: thinking_suffix = -think")
        await expect(carried).to_contain_text("1 client key created: its clients keep their key.")
        await expect(carried).to_contain_text("endpoint_order = amazonq,codewhisperer")
        await expect(importer).not_to_contain_text("sk-kirogo")
        await page.screenshot(path=shots / "import-kiro-go-carried.png")
    assert errors == []
