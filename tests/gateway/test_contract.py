"""The router ↔ gateway contract and side endpoints: internal key, request ids, models, health, metrics."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.gateway.support import AnthropicFactory, Emulator, OpenAIFactory
from tests.support.procs import ServiceProcess

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_kiro_headers_are_ignored_without_a_valid_internal_key(
    gateway: ServiceProcess, emu: Emulator, key: str | None
) -> None:
    account = emu.account()
    headers = account.headers()
    del headers["X-Internal-Key"]
    if key:
        headers["X-Internal-Key"] = key
    r = httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert emu.counts(account.name) == {}


def test_the_routers_request_id_is_echoed(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    r = httpx.post(
        f"{gateway.url}/v1/messages",
        json=BODY,
        headers=account.headers(**{"X-Request-Id": "req_router_1"}),
        timeout=30,
    )
    assert r.headers["request-id"] == "req_router_1"


def test_a_refresh_token_header_from_the_router_is_refreshed_once_for_many_requests(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    headers = {
        "X-Internal-Key": account.headers()["X-Internal-Key"],
        "X-Kiro-Refresh-Token": account.refresh_token,
    }
    for _ in range(3):
        assert (
            httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=headers, timeout=30).status_code
            == 200
        )
    counts = emu.counts(account.name)
    assert counts["social_refresh"] == 1
    assert counts["chat_codewhisperer"] == 3


def test_root_and_health_answer_probes(gateway: ServiceProcess) -> None:
    assert httpx.head(gateway.url + "/").status_code == 200
    assert httpx.get(gateway.url + "/health").json()["status"] == "ok"
    assert httpx.get(gateway.url + "/ready").status_code == 200


def test_metrics_count_requests_upstream_attempts_and_ttfb(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=account.headers(), timeout=30)
    text = httpx.get(gateway.url + "/metrics").text
    assert 'kiro_gateway_requests_total{model="claude-sonnet-4.6",route="messages",status="200"}' in text
    assert 'kiro_gateway_upstream_attempts_total{endpoint="codewhisperer",outcome="ok"}' in text
    assert "kiro_gateway_ttfb_seconds_bucket" in text
    assert "kiro_gateway_inflight_streams 0.0" in text


def test_anthropic_model_list_pages_through_every_kiro_model(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account(
        models=["auto", "claude-sonnet-4.5", "claude-sonnet-4.6", "claude-opus-4.6", "glm-5"]
    )
    client = anthropic_sdk(gateway, account)
    first = client.models.list(limit=2)
    assert first.has_more is True
    assert len(first.data) == 2 and first.first_id == first.data[0].id and first.last_id == first.data[1].id
    all_ids = [m.id for m in client.models.list(limit=2)]  # the SDK follows after_id pages
    assert len(all_ids) == len(set(all_ids)) >= 5
    assert all_ids[:2] == [m.id for m in first.data]
    before = httpx.get(
        f"{gateway.url}/v1/models",
        params={"before_id": all_ids[3], "limit": 2},
        headers=account.headers(**{"x-api-key": "k"}),
    ).json()
    assert [m["id"] for m in before["data"]] == all_ids[1:3]
    one = client.models.retrieve(all_ids[0])
    assert one.id == all_ids[0] and one.type == "model" and one.display_name


def test_openai_model_list_has_the_openai_shape(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert "claude-sonnet-4.6" in ids
    assert all(m.object == "model" and m.owned_by and m.created for m in models.data)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("definitely-not-a-model")


def test_models_answer_from_the_built_in_list_without_credentials(gateway: ServiceProcess) -> None:
    r = httpx.get(f"{gateway.url}/v1/models")
    assert r.status_code == 200
    assert r.json()["object"] == "list" and r.json()["data"]


def test_router_options_choose_the_default_model_and_aliases(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    options = {"default_model": "claude-haiku-4.5", "model_aliases": {"team-model": "claude-opus-4.6"}}
    headers = account.headers(**{"X-Kiro-Options": json.dumps(options)})
    for model, served in (("gpt-4o", "claude-haiku-4.5"), ("team-model", "claude-opus-4.6")):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()["model"] == served  # the mapping shows in the answer
        assert r.headers["x-kiro-served-model"] == served
    sent = [
        r["body"]["conversationState"]["currentMessage"]["userInputMessage"]["modelId"]
        for r in emu.requests(account.name, "chat_codewhisperer")
    ]
    assert sent == ["claude-haiku-4.5", "claude-opus-4.6"]
