"""Client keys, per-key limits across replicas, header hygiene and affinity, through real routers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from tests.router.stack import Seeder, Stack

pytestmark = pytest.mark.e2e

ANTHROPIC = {"anthropic-version": "2023-06-01"}


def _body(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def _post(
    url: str, headers: dict[str, str], body: dict[str, Any], path: str = "/v1/messages"
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url + path, json=body, headers=headers)


async def test_missing_or_unknown_key_is_refused_in_each_clients_shape(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    url = stack.routers[0].url

    no_key = await _post(url, ANTHROPIC, _body())
    wrong = await _post(url, {"x-api-key": "sk-not-a-key", **ANTHROPIC}, _body())
    openai = await _post(url, {"authorization": "Bearer sk-nope"}, _body(), "/v1/chat/completions")

    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert wrong.status_code == 401
    assert wrong.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid API key"},
    }
    assert openai.status_code == 401
    assert openai.json()["error"]["code"] == "invalid_api_key"


async def test_malformed_body_is_a_400_in_the_clients_shape(stack: Stack, seeder: Seeder) -> None:
    key = await seeder.client_key()

    async with httpx.AsyncClient(timeout=30) as client:
        anthropic = await client.post(
            stack.routers[0].url + "/v1/messages", content=b"{oops", headers={"x-api-key": key, **ANTHROPIC}
        )
        openai = await client.post(
            stack.routers[0].url + "/v1/chat/completions",
            content=b"[]",
            headers={"authorization": f"Bearer {key}"},
        )

    assert anthropic.status_code == 400
    assert anthropic.json()["error"]["type"] == "invalid_request_error"
    assert openai.status_code == 400
    assert openai.json()["error"]["type"] == "invalid_request_error"


async def test_bearer_and_x_api_key_are_both_accepted(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key()

    by_header = await _post(stack.routers[0].url, {"x-api-key": key, **ANTHROPIC}, _body("one"))
    by_bearer = await _post(stack.routers[1].url, {"authorization": f"Bearer {key}"}, _body("two"))

    assert by_header.status_code == 200
    assert by_bearer.status_code == 200


async def test_keys_are_stored_only_as_hashes(stack: Stack, seeder: Seeder) -> None:
    key = await seeder.client_key()

    stored = [k async for k in seeder.redis.scan_iter(match=f"{stack.prefix}*")]
    values = [str(await seeder.redis.hgetall(k)) for k in stored if await seeder.redis.type(k) == "hash"]

    assert stored
    assert not any(key in name for name in stored)
    assert not any(key in value for value in values)


async def test_disabled_key_and_disallowed_model_are_forbidden(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    limited = await seeder.client_key(allowed_models=("claude-haiku-4.5",))
    disabled_key = await seeder.client_key()
    record = await seeder.client_keys.authenticate(disabled_key)
    assert record is not None
    await seeder.client_keys.update(record.id, enabled=False)

    wrong_model = await _post(stack.routers[0].url, {"x-api-key": limited, **ANTHROPIC}, _body())
    off = await _post(stack.routers[0].url, {"x-api-key": disabled_key, **ANTHROPIC}, _body())

    assert wrong_model.status_code == 403
    assert wrong_model.json()["error"]["type"] == "permission_error"
    assert off.status_code == 403


async def test_requests_per_minute_are_shared_by_both_replicas(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key(rpm=3)
    headers = {"x-api-key": key, **ANTHROPIC}

    statuses = [
        (await _post(stack.routers[i % 2].url, headers, _body(f"request {i}"))).status_code for i in range(3)
    ]
    refused = await _post(stack.routers[1].url, headers, _body("one too many"))

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_daily_token_budget_is_shared_by_both_replicas(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key(daily_tokens=20)

    first = await _post(stack.routers[0].url, {"x-api-key": key, **ANTHROPIC}, _body("spend " * 30))
    second = await _post(
        stack.routers[1].url, {"authorization": f"Bearer {key}"}, _body(), "/v1/chat/completions"
    )

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "insufficient_quota"
    record = await seeder.client_keys.authenticate(key)
    assert record is not None
    usage = await seeder.client_keys.usage(record)
    assert usage["tokens"] > 20


async def test_client_supplied_internal_headers_never_reach_the_gateway(stack: Stack, seeder: Seeder) -> None:
    pooled = await seeder.account()
    outsider = stack.control.register_account(f"{pooled}-outsider")
    key = await seeder.client_key()
    spoofed = {
        "x-api-key": key,
        **ANTHROPIC,
        "X-Kiro-Access-Token": outsider["access_token"],
        "X-Kiro-Account-Id": outsider["name"],
        "X-Internal-Key": "guessed",
        "X-Kiro-Proxy-Url": "http://127.0.0.1:9/",
    }

    response = await _post(stack.routers[0].url, spoofed, _body("who pays?"))

    assert response.status_code == 200
    assert seeder.chat_calls(pooled) == 1
    assert seeder.chat_calls(outsider["name"]) == 0


async def test_a_conversation_sticks_to_one_account_across_replicas(stack: Stack, seeder: Seeder) -> None:
    accounts = [await seeder.account() for _ in range(4)]
    key = await seeder.client_key()
    headers = {"x-api-key": key, **ANTHROPIC, "X-Claude-Code-Session-Id": "session-42"}

    for turn in range(6):
        response = await _post(stack.routers[turn % 2].url, headers, _body(f"turn {turn}"))
        assert response.status_code == 200

    calls = sorted(seeder.chat_calls(a) for a in accounts)
    assert calls == [0, 0, 0, 6]


async def test_health_readiness_root_and_metrics(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key()
    url = stack.routers[0].url
    await _post(url, {"x-api-key": key, **ANTHROPIC}, _body("count me"))

    async with httpx.AsyncClient(timeout=10) as client:
        head = await client.head(url + "/")
        health = await client.get(url + "/health")
        ready = await client.get(url + "/ready")
        metrics = (await client.get(url + "/metrics")).text

    assert head.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert 'kiro_router_requests_total{account="' in metrics
    assert "kiro_router_pick_seconds_bucket" in metrics
    assert "kiro_router_ttfb_seconds_bucket" in metrics
    assert re.search(
        r'kiro_router_tokens_total\{client_key="\w+",direction="input",model="claude-sonnet-4.5"\}', metrics
    )
    assert key not in metrics
    assert await _pool_gauge_shows_one_active(url)


async def _pool_gauge_shows_one_active(url: str) -> bool:
    """The pool-by-state gauge is refreshed from Redis in the background (every second in these tests)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(40):
            if 'kiro_router_pool_accounts{state="active"} 1.0' in (await client.get(url + "/metrics")).text:
                return True
            await asyncio.sleep(0.1)
    return False
