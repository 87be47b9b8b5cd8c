"""Which Kiro chat endpoints the gateway calls, in which order, with which origin and X-Amz-Target
(docs/kiro-endpoints.md), seen from the emulator: every host is the emulator, told apart by path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway.support import Account, Emulator, start_gateway
from tests.support.procs import ServiceProcess

MODEL = "claude-sonnet-4-6"
CW_TARGET = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
Q_TARGET = "AmazonQDeveloperStreamingService.SendMessage"
CODEWHISPERER = "/codewhisperer/generateAssistantResponse"
AMAZONQ = "/q/generateAssistantResponse"
KIRO = "/kiro/generateAssistantResponse"
#: well formed, but no Kiro client is known to use it
UNKNOWN_REGION = "ap-southeast-7"


def _account(emu: Emulator, region: str) -> Account:
    return emu.account(profile_arn=f"arn:aws:codewhisperer:{region}:111122223333:profile/ENDPOINTS")


def _ask(gateway: ServiceProcess, account: Account, text: str, **options: Any) -> httpx.Response:
    """A trusted request whose account is refreshed by the gateway itself (standalone credentials), so a
    throttled endpoint falls back to the next one instead of handing the failure to the router."""
    headers = account.headers(**{"X-Kiro-Access-Token": "", "X-Kiro-Refresh-Token": account.refresh_token})
    if options:
        headers["X-Kiro-Options"] = json.dumps(options)
    body = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=30)


def _sent(emu: Emulator, account: Account) -> list[tuple[str, str | None, str | None, int]]:
    """(path, origin, X-Amz-Target, status) of every chat call the account made, in order."""
    return [
        (r["path"], r["origin"], r["amz_target"], r["status"])
        for r in emu.requests(account.name)
        if r["endpoint"].startswith("chat_")
    ]


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", [(CODEWHISPERER, "AI_EDITOR", CW_TARGET, 429), (AMAZONQ, "AI_EDITOR", None, 200)]),
        ("eu-central-1", [(AMAZONQ, "AI_EDITOR", None, 200)]),
        (UNKNOWN_REGION, [(AMAZONQ, "AI_EDITOR", None, 200)]),
    ],
)
def test_the_default_sequence_per_region_with_the_first_endpoint_throttled(
    gateway: ServiceProcess, emu: Emulator, region: str, expected: list[tuple[str, str, str | None, int]]
) -> None:
    account = _account(emu, region)
    # throttles CodeWhisperer, the first endpoint in us-east-1; elsewhere it is never called
    emu.fault(account=account.name, endpoint="chat_codewhisperer", times=0, kind="throttled")
    r = _ask(gateway, account, f"hello from {region}")
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"] == f"hello from {region}"
    assert _sent(emu, account) == expected


def test_a_listed_order_falls_back_from_the_kiro_host_with_each_endpoints_origin(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = _account(emu, "eu-central-1")
    emu.fault(account=account.name, endpoint="chat_kiro", times=0, kind="throttled")
    r = _ask(gateway, account, "kiro first", endpoint_order="kiro,amazonq")
    assert r.status_code == 200, r.text
    assert _sent(emu, account) == [(KIRO, "AI_EDITOR", None, 429), (AMAZONQ, "AI_EDITOR", None, 200)]
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'kiro_gateway_upstream_attempts_total{endpoint="kiro",outcome="throttled"}' in metrics
    assert 'kiro_gateway_upstream_fallbacks_total{endpoint="kiro",kind="throttled"}' in metrics


def test_an_origin_override_is_sent_with_the_target_that_goes_with_it(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = _account(emu, "us-east-1")
    emu.fault(account=account.name, endpoint="chat_codewhisperer", times=0, kind="throttled")
    r = _ask(gateway, account, "as the CLI", endpoint_origins={"amazonq": "CLI"})
    assert r.status_code == 200, r.text
    assert _sent(emu, account) == [
        (CODEWHISPERER, "AI_EDITOR", CW_TARGET, 429),
        (AMAZONQ, "CLI", Q_TARGET, 200),
    ]
    # the rewritten origin reaches history messages too
    history = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}]
    body = {"model": MODEL, "max_tokens": 50, "messages": [*history, {"role": "user", "content": "three"}]}
    headers = account.headers(
        **{
            "X-Kiro-Access-Token": "",
            "X-Kiro-Refresh-Token": account.refresh_token,
            "X-Kiro-Options": json.dumps(
                {"endpoint_order": "amazonq", "endpoint_origins": {"amazonq": "CLI"}}
            ),
        }
    )
    assert httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=30).status_code == 200
    sent = emu.requests(account.name, "chat_amazonq")[-1]["body"]["conversationState"]
    assert [h["userInputMessage"]["origin"] for h in sent["history"] if "userInputMessage" in h] == ["CLI"]


def test_options_that_are_not_valid_leave_the_gateways_own_order(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = _account(emu, "us-east-1")
    r = _ask(gateway, account, "bad options", endpoint_order="bedrock", endpoint_origins={"amazonq": "IDE"})
    assert r.status_code == 200, r.text
    assert _sent(emu, account) == [(CODEWHISPERER, "AI_EDITOR", CW_TARGET, 200)]


@pytest.fixture(scope="module")
def kiro_gateway(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """A gateway whose environment puts the Kiro host first, with CLI as its origin."""
    proc = start_gateway(emulator.url, ENDPOINT_ORDER="kiro,amazonq", ENDPOINT_ORIGINS='{"kiro": "CLI"}')
    yield proc
    proc.stop()


def test_the_environment_sets_the_order_and_the_model_list_follows_the_first_host(
    kiro_gateway: ServiceProcess, emu: Emulator
) -> None:
    account = _account(emu, "eu-central-1")
    r = _ask(kiro_gateway, account, "env order")
    assert r.status_code == 200, r.text
    assert _sent(emu, account) == [(KIRO, "CLI", Q_TARGET, 200)]
    models = httpx.get(f"{kiro_gateway.url}/v1/models", headers=account.headers(), timeout=30)
    assert models.status_code == 200
    listed = [r for r in emu.requests(account.name) if r["endpoint"].startswith("models")]
    assert listed and {(r["endpoint"], r["path"], r["origin"]) for r in listed} == {
        ("models_kiro", "/kiro/ListAvailableModels", "AI_EDITOR")
    }
