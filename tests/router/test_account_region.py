"""An account's own API region, set in the admin API or the CLI, is where the gateway sends its calls.

The gateway here uses the Amazon Q host template (`KIRO_Q_HOST`) pointed at the emulator's regional
paths instead of KIRO_EMULATOR_URL, so each recorded chat shows the region its URL was built for.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.refresher.test_cli import _cli
from tests.router.stack import Seeder, Stack
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex


@pytest.fixture
def router(stack: Stack, seeder: Seeder) -> ServiceProcess:
    emulator = stack.emulator.url
    gateway = stack.start_gateway(
        KIRO_EMULATOR_URL="",
        KIRO_Q_HOST=emulator + "/regions/{region}",
        KIRO_CODEWHISPERER_HOST=emulator + "/codewhisperer",
    )
    return stack.start_router(gateway.url, ADMIN_API_KEY=ADMIN_KEY)


async def chat_path(stack: Stack, router: ServiceProcess, key: str, account: str) -> str:
    """Send one chat through the router; the path the emulator recorded for it, less the method name."""
    body = {"model": "claude-sonnet-4.5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(router.url + "/v1/messages", json=body, headers={"x-api-key": key})
    assert r.status_code == 200, r.text
    chats = [r for r in stack.control.requests(account) if r["endpoint"].startswith("chat_")]
    return str(chats[-1]["path"]).removesuffix("/generateAssistantResponse")


async def test_api_region_set_by_the_admin_api_and_the_cli_carries_the_accounts_calls(
    stack: Stack, seeder: Seeder, router: ServiceProcess
) -> None:
    account = await seeder.account()  # its profile ARN is in us-east-1
    key = await seeder.client_key()
    assert await chat_path(stack, router, key, account) == "/codewhisperer"

    admin = httpx.AsyncClient(
        base_url=router.url + "/admin/api", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=15
    )
    async with admin:
        r = await admin.patch(f"/accounts/{account}", json={"api_region": "eu-central-1"})
        assert r.status_code == 200, r.text
        assert r.json()["api_region"] == "eu-central-1"
        assert await chat_path(stack, router, key, account) == "/regions/eu-central-1"

        bad = await admin.patch(f"/accounts/{account}", json={"api_region": "eu-central-1.evil.example#"})
        assert bad.status_code == 400, bad.text
        assert "api_region" in bad.json()["detail"] and "not an AWS region" in bad.json()["detail"]
        assert (await admin.get(f"/accounts/{account}")).json()["api_region"] == "eu-central-1"

    env = {**stack.env, "ADMIN_API_KEY": ADMIN_KEY}
    done = _cli(env, "set", account, "--api-region", "ap-southeast-2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["api_region"] == "ap-southeast-2"
    assert await chat_path(stack, router, key, account) == "/regions/ap-southeast-2"

    refused = _cli(env, "set", account, "--api-region", "x@127.0.0.1:9/#")
    assert refused.returncode == 2 and "not an AWS region" in refused.stderr

    cleared = _cli(env, "set", account, "--api-region", "")
    assert cleared.returncode == 0 and json.loads(cleared.stdout)["api_region"] == ""
    assert await chat_path(stack, router, key, account) == "/codewhisperer"
