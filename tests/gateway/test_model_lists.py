"""Each account's own model list: `/v1/models` (with thinking variants) and model resolution follow it,
from Kiro's answer standalone or from the refresher's copy in Redis behind the router."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
import redis as sync_redis

from shared.keys import Keys
from shared.kiro.models import ModelInfo, encode_catalogue
from tests.gateway.support import AnthropicFactory, Emulator, OpenAIFactory, start_gateway
from tests.support.procs import ServiceProcess

NEWEST_OPUS = ["claude-opus-4.7", "claude-sonnet-4.5", "auto", "glm-5"]
OLDER_OPUS = ["claude-opus-4.5", "claude-sonnet-4.5"]


def _chat(gateway: ServiceProcess, headers: dict[str, str], model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=30)


def _sent_models(emu: Emulator, account: str) -> list[str]:
    return [
        r["body"]["conversationState"]["currentMessage"]["userInputMessage"]["modelId"]
        for r in emu.requests(account, "chat_codewhisperer")
    ]


def test_the_sdks_list_each_accounts_models_with_thinking_variants_for_claude(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory, anthropic_sdk: AnthropicFactory
) -> None:
    newest, older = emu.account(models=NEWEST_OPUS), emu.account(models=OLDER_OPUS)

    listed = [m.id for m in openai_sdk(gateway, newest).models.list()]
    assert listed == [
        "claude-opus-4.7",
        "claude-opus-4.7-thinking",
        "claude-sonnet-4.5",
        "claude-sonnet-4.5-thinking",
        "auto",
        "glm-5",
    ]
    paged = list(anthropic_sdk(gateway, older).models.list(limit=2))  # the SDK follows `has_more`
    assert [m.id for m in paged] == [
        "claude-opus-4.5",
        "claude-opus-4.5-thinking",
        "claude-sonnet-4.5",
        "claude-sonnet-4.5-thinking",
    ]
    assert paged[1].display_name == "Claude Opus 4.5 (thinking)"
    assert (
        openai_sdk(gateway, newest).models.retrieve("claude-opus-4.7-thinking").id
        == "claude-opus-4.7-thinking"
    )


def test_the_thinking_suffix_the_operator_set_is_the_one_listed(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account(models=["claude-haiku-4.5"])
    headers = account.headers(**{"X-Kiro-Options": '{"thinking_suffix": "-reasoning"}'})
    r = httpx.get(f"{gateway.url}/v1/models", headers=headers, timeout=30)
    assert [m["id"] for m in r.json()["data"]] == ["claude-haiku-4.5", "claude-haiku-4.5-reasoning"]


def test_a_newer_name_gets_the_newest_the_account_lists_and_the_answer_says_which(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    newest, older = emu.account(models=NEWEST_OPUS), emu.account(models=OLDER_OPUS)
    for account, served in ((newest, "claude-opus-4.7"), (older, "claude-opus-4.5")):
        client = anthropic_sdk(gateway, account)
        list(client.models.list())  # the account's list is known from here on
        message = client.messages.create(
            model="claude-opus-4-8[1m]", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.model == served
        assert _sent_models(emu, account.name) == [served]


def test_an_older_version_the_account_does_not_list_is_refused_in_the_clients_shape_not_upgraded(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account(models=NEWEST_OPUS)
    client = anthropic_sdk(gateway, account)
    list(client.models.list())

    for old in ("claude-opus-4-1-20250805", "claude-opus-4-20250514"):
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(model=old, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 400
        assert old in caught.value.message and "claude-opus-4.7" in caught.value.message
    with pytest.raises(openai.NotFoundError) as not_found:  # OpenAI's own answer to an unknown model
        openai_sdk(gateway, account).chat.completions.create(
            model="claude-opus-4-1-20250805", messages=[{"role": "user", "content": "hi"}]
        )
    assert "claude-opus-4.7" in not_found.value.message
    assert _sent_models(emu, account.name) == []  # nothing reached Kiro


def test_a_retired_name_is_served_by_the_built_in_table_unless_an_operator_alias_says_otherwise(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account(models=["claude-haiku-4.5", "claude-sonnet-4.5"])
    httpx.get(f"{gateway.url}/v1/models", headers=account.headers(), timeout=30)

    retired = _chat(gateway, account.headers(), "claude-3-5-haiku-20241022")
    aliased = _chat(
        gateway,
        account.headers(**{"X-Kiro-Options": '{"model_aliases": {"claude-3.5-haiku": "claude-sonnet-4.5"}}'}),
        "claude-3-5-haiku-20241022",
    )

    assert (retired.status_code, retired.json()["model"]) == (200, "claude-haiku-4.5")
    assert (aliased.status_code, aliased.json()["model"]) == (200, "claude-sonnet-4.5")
    assert _sent_models(emu, account.name) == ["claude-haiku-4.5", "claude-sonnet-4.5"]


@pytest.fixture
def stack_gateway(emulator: ServiceProcess, redis_url: str, key_prefix: str) -> Iterator[ServiceProcess]:
    """A gateway as the stack runs it: REDIS_URL set, under this test's key prefix."""
    proc = start_gateway(emulator.url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)
    yield proc
    proc.stop()


def test_behind_the_router_the_gateway_reads_the_refreshers_list_from_redis(
    stack_gateway: ServiceProcess, emu: Emulator, redis_url: str, key_prefix: str
) -> None:
    account = emu.account()  # Kiro would list all the emulator's models for it
    cached = [
        ModelInfo("claude-sonnet-4.6", "Claude Sonnet 4.6", 1_000_000),
        ModelInfo("qwen3-coder-next", "Qwen"),
    ]
    client = sync_redis.Redis.from_url(redis_url)
    try:
        client.set(
            Keys(key_prefix).account_models(account.name), encode_catalogue(cached, time.time()), ex=600
        )
    finally:
        client.close()

    r = httpx.get(f"{stack_gateway.url}/v1/models", headers=account.headers(), timeout=30)
    assert [m["id"] for m in r.json()["data"]] == [
        "claude-sonnet-4.6",
        "claude-sonnet-4.6-thinking",
        "qwen3-coder-next",
    ]
    refused = _chat(
        stack_gateway, account.headers(), "claude-opus-4-7"
    )  # Kiro lists it, the account's list not
    assert refused.status_code == 400 and "claude-sonnet-4.6" in refused.json()["error"]["message"]
    served = _chat(stack_gateway, account.headers(), "claude-sonnet-4-7")
    assert served.json()["model"] == "claude-sonnet-4.6"
    counts = httpx.get(f"{emu.url}/_emulator/counters", params={"account": account.name}).json()["counts"]
    assert counts.get("models", 0) == 0  # the gateway did not ask Kiro
