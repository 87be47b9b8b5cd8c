"""Moving from kiro-go: its `data/config.json` (tests/fixtures/kiro_go) imported through the admin API and
the refresher CLI carries accounts with their weight and enabled state, the thinking settings, and the
`apiKey` its clients send, stored hashed, so those clients keep working against the router unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
import redis as sync_redis

from shared.crypto import sha256_hex
from shared.keys import Keys
from tests.gateway.support import directive, start_gateway
from tests.refresher.test_cli import _cli
from tests.support.polling import wait_for
from tests.support.procs import ROOT, ServiceProcess, free_port

pytestmark = pytest.mark.e2e

FIXTURE = ROOT / "tests" / "fixtures" / "kiro_go" / "config.json"
CONFIG: dict[str, Any] = json.loads(FIXTURE.read_text())
OLD_KEY = CONFIG["apiKey"]
CARRIED = {
    "thinking_suffix": "-think",
    "openai_thinking_format": "think_tags",
    "claude_thinking_format": "thinking_tags",
    "endpoint_order": "amazonq,codewhisperer",  # kiro-go's preferredEndpoint first, the other as fallback
    "model_aliases": {"gpt-4o": "claude-sonnet-4.5", "gpt-4o-mini": "claude-haiku-4.5"},
}


@pytest.fixture
def router(stack_env: dict[str, str], emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """emulator → gateway → router, with a refresher worker fetching the imported accounts' tokens."""
    port = free_port()
    worker_env = {**stack_env, "KIRO_EMULATOR_URL": emulator.url, "REFRESHER_METRICS_PORT": str(port)}
    gateway = start_gateway(emulator.url, **stack_env)
    try:
        with (
            ServiceProcess("services.refresher", ["worker"], env=worker_env, port=port, name="refresher"),
            ServiceProcess("services.router", env={**stack_env, "GATEWAY_URLS": gateway.url}) as proc,
        ):
            yield proc
    finally:
        gateway.stop()


def emulated_config(emulator: ServiceProcess, names: list[str] | None = None) -> dict[str, Any]:
    """The fixture with fresh refresh tokens that the emulator knows (their names added to `names`)."""
    config = json.loads(FIXTURE.read_text())
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        for entry in config["accounts"]:
            entry["refreshToken"] = f"aor-kirogo-{entry['nickname']}-{uuid.uuid4().hex}"
            login: dict[str, Any] = {"auth_kind": entry["authMethod"], "refresh_token": entry["refreshToken"]}
            if entry["authMethod"] == "idc":
                login |= {"client_id": entry["clientId"], "client_secret": entry["clientSecret"]}
            name = f"kirogo-{uuid.uuid4().hex[:8]}"
            if names is not None:
                names.append(name)
            client.post("/_emulator/accounts", json={"name": name, **login}).raise_for_status()
    return config


async def test_admin_import_carries_accounts_settings_and_the_old_api_key(
    router: ServiceProcess, emulator: ServiceProcess, stack_env: dict[str, str]
) -> None:
    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    async with httpx.AsyncClient(base_url=router.url + "/admin/api", headers=bearer, timeout=15) as admin:
        names: list[str] = []
        config = emulated_config(emulator, names)
        r = await admin.post("/accounts/import", json=config)
        assert r.status_code == 200, r.text
        report = r.json()
        print("\nimport summary:", report["summary"])
        assert len(report["added"]) == 3 and report["skipped"] == []
        assert report["settings"] == CARRIED
        assert report["client_keys"] == {"created": 1, "existing": 0}
        assert report["summary"].startswith("3 accounts (3 new, 0 updated, 0 skipped)")
        assert "1 client key created" in report["summary"]
        assert OLD_KEY not in r.text and OLD_KEY[-12:] not in r.text

        accounts = {a["label"]: a for a in (await admin.get("/accounts")).json()["accounts"]}
        assert {label: (a["weight"], a["enabled"]) for label, a in accounts.items()} == {
            "dana-google": (300, True),
            "erin-builder": (100, False),
            "finn-github": (100, True),
        }
        settings = (await admin.get("/settings")).json()
        assert {name: settings[name] for name in CARRIED} == CARRIED
        [key] = (await admin.get("/keys")).json()["keys"]
        assert key["name"] == "kiro-go apiKey" and OLD_KEY not in json.dumps(key)

        async def active() -> bool:
            listing = (await admin.get("/accounts")).json()["accounts"]
            return sum(a["state"] == "active" for a in listing) == 2

        await wait_for(active, within=20, what="the two enabled imported accounts to become active")
        again = (await admin.post("/accounts/import", json=config)).json()
        assert sorted(again["updated"]) == sorted(report["added"]) and again["added"] == []
        assert again["client_keys"] == {"created": 0, "existing": 1}

    # a kiro-go client, unchanged: same key, the kiro-go thinking suffix, reasoning in <think> tags
    prompt = directive(thinking="Two plus two.", text="4")
    with openai.OpenAI(base_url=router.url + "/v1", api_key=OLD_KEY, max_retries=0, timeout=30) as client:
        completion = client.chat.completions.create(
            model="claude-sonnet-4.5-think", messages=[{"role": "user", "content": prompt}]
        )
    content = completion.choices[0].message.content or ""
    assert content.startswith("<think>") and "Two plus two." in content and content.endswith("4")
    with anthropic.Anthropic(base_url=router.url, api_key=OLD_KEY, max_retries=0, timeout=30) as claude:
        message = claude.messages.create(
            model="claude-sonnet-4.5",
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": prompt}],
        )
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as control:
        chats = [
            r["endpoint"]
            for name in names
            for r in (await control.get("/_emulator/requests", params={"account": name})).json()
            if r["endpoint"].startswith("chat_")
        ]
    assert chats == ["chat_amazonq", "chat_amazonq"]  # kiro-go's preferredEndpoint, now the endpoint order
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "<thinking>Two plus two.</thinking>\n\n4"  # type: ignore[union-attr]
    with (
        openai.OpenAI(base_url=router.url + "/v1", api_key="sk-not-the-old-key", max_retries=0) as other,
        pytest.raises(openai.AuthenticationError),
    ):
        other.models.list()


def test_cli_import_prints_what_was_carried_and_stores_the_key_hashed(stack_env: dict[str, str]) -> None:
    result = _cli(stack_env, "import", str(FIXTURE))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    print("\nCLI import summary:", report["summary"])
    assert report["settings"] == CARRIED and report["client_keys"]["created"] == 1
    assert "3 accounts" in report["summary"] and "1 client key created" in report["summary"]
    assert OLD_KEY not in result.stdout + result.stderr
    client = sync_redis.Redis.from_url(stack_env["REDIS_URL"], decode_responses=True)
    try:
        record = client.hgetall(Keys(stack_env["REDIS_KEY_PREFIX"]).client_key(sha256_hex(OLD_KEY)))
    finally:
        client.close()
    assert record["name"] == "kiro-go apiKey", "the old apiKey is stored under its SHA-256"
    assert OLD_KEY not in json.dumps(record)
