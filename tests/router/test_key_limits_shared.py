"""Per-key limits hold across two router processes sharing Redis, seen through the official SDKs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from shared.clientkey_record import ClientKey, next_utc_month
from tests.router.stack import Seeder, Stack
from tests.support.polling import wait_for

pytestmark = pytest.mark.e2e

MODEL = "claude-sonnet-4.5"


class Sdks:
    """The official SDK clients a test opens (no retries: a refusal is seen as it is), closed after it."""

    def __init__(self) -> None:
        self.opened: list[anthropic.AsyncAnthropic | openai.AsyncOpenAI] = []

    def anthropic(self, url: str, key: str) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0, timeout=30)
        self.opened.append(client)
        return client

    def openai(self, url: str, key: str) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(api_key=key, base_url=url + "/v1", max_retries=0, timeout=30)
        self.opened.append(client)
        return client


@pytest.fixture
async def sdks() -> AsyncIterator[Sdks]:
    opened = Sdks()
    yield opened
    for client in opened.opened:
        await client.close()


def _ask(text: str = "hello") -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}


async def _key(seeder: Seeder, **limits: Any) -> tuple[ClientKey, str]:
    return await seeder.client_keys.create("limits", **limits)


async def _in_flight(seeder: Seeder, key: ClientKey, count: int) -> bool:
    return await seeder.client_keys.in_flight(key) == count


async def test_a_concurrency_cap_of_one_holds_across_both_routers(
    stack: Stack, seeder: Seeder, sdks: Sdks
) -> None:
    account = await seeder.account()
    key, plain = await _key(seeder, max_concurrency=1)
    stack.control.queue_script(account=account, text="slow " * 60, chunks=30, delay_ms=300)
    router_a, router_b = (
        sdks.anthropic(stack.routers[0].url, plain),
        sdks.anthropic(stack.routers[1].url, plain),
    )

    async with router_a.messages.stream(**_ask("long answer")) as stream:
        first = await anext(aiter(stream))  # the stream is open on router A
        with pytest.raises(anthropic.RateLimitError) as refused:
            await router_b.messages.create(**_ask("second"))
    await wait_for(lambda: _in_flight(seeder, key, 0), what="the closed stream to free its entry")
    after = await router_b.messages.create(**_ask("after"))

    assert first.type == "message_start"
    assert refused.value.status_code == 429
    assert "1 requests at a time" in refused.value.message
    assert int(refused.value.response.headers["retry-after"]) <= 2
    assert after.content[0].type == "text"


async def test_a_budget_spent_through_router_a_refuses_on_router_b_until_next_month(
    stack: Stack, seeder: Seeder, sdks: Sdks
) -> None:
    account = await seeder.account()
    key, plain = await _key(seeder, monthly_credits=2)
    stack.control.queue_script(account=account, text="an expensive answer", metering=2.5)

    served = await sdks.anthropic(stack.routers[0].url, plain).messages.create(**_ask())
    with pytest.raises(openai.RateLimitError) as refused:
        await sdks.openai(stack.routers[1].url, plain).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "one more"}]
        )

    reset = next_utc_month(time.time())
    assert served.content[0].type == "text"
    assert refused.value.status_code == 429 and refused.value.code == "insufficient_quota"
    assert time.strftime("%Y-%m-%d 00:00 UTC", time.gmtime(reset)) in refused.value.message
    retry_after = int(refused.value.response.headers["retry-after"])
    assert reset - time.time() - 60 <= retry_after <= reset - time.time() + 60
    assert (await seeder.client_keys.usage_total(key))["credits"] == 2.5


async def test_an_expired_key_is_refused_by_both_routers_saying_when_it_expired(
    stack: Stack, seeder: Seeder, sdks: Sdks
) -> None:
    await seeder.account()
    key, plain = await _key(seeder, expires_at=int(time.time()) + 3600)
    served = await sdks.anthropic(stack.routers[0].url, plain).messages.create(**_ask())
    ended = int(time.time()) - 60
    await seeder.client_keys.update(key.id, expires_at=ended)

    with pytest.raises(anthropic.AuthenticationError) as on_a:
        await sdks.anthropic(stack.routers[0].url, plain).messages.create(**_ask())
    with pytest.raises(openai.AuthenticationError) as on_b:
        await sdks.openai(stack.routers[1].url, plain).models.list()

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ended))
    assert served.content[0].type == "text"
    assert on_a.value.status_code == 401 and f"expired at {when}" in on_a.value.message
    assert on_b.value.status_code == 401 and on_b.value.code == "api_key_expired"


async def test_requests_that_end_without_an_answer_free_their_in_flight_entry(
    stack: Stack, seeder: Seeder, sdks: Sdks
) -> None:
    key, plain = await _key(seeder, max_concurrency=1)
    router_a, router_b = (
        sdks.anthropic(stack.routers[0].url, plain),
        sdks.anthropic(stack.routers[1].url, plain),
    )

    for router in (router_a, router_b, router_a):  # no account yet: each 503 must give its entry back
        with pytest.raises(anthropic.APIStatusError) as no_account:
            await router.messages.create(**_ask())
        assert no_account.value.status_code != 429
    account = await seeder.account()
    stack.control.queue_script(account=account, text="late", first_byte_delay_ms=20_000)
    hung_up = asyncio.create_task(router_a.messages.create(**_ask("I will hang up")))
    await wait_for(lambda: _in_flight(seeder, key, 1), what="the request to be admitted")
    hung_up.cancel()  # the client disconnects before the first byte
    await wait_for(lambda: _in_flight(seeder, key, 0), what="the disconnect to free the entry")
    served = await router_b.messages.create(**_ask())

    assert served.content[0].type == "text"


async def test_metrics_name_the_client_key_by_id_with_its_credits(
    stack: Stack, seeder: Seeder, sdks: Sdks
) -> None:
    await seeder.account()
    key, plain = await _key(seeder)
    url = stack.routers[0].url
    await sdks.anthropic(url, plain).messages.create(**_ask("count me"))

    async with httpx.AsyncClient(timeout=10) as client:
        metrics = (await client.get(url + "/metrics")).text

    requests = [line for line in metrics.splitlines() if line.startswith("kiro_router_requests_total{")]
    assert any(f'client_key="{key.id}"' in line and 'status="200"' in line for line in requests)
    assert f'kiro_router_tokens_total{{client_key="{key.id}",direction="input",model="{MODEL}"}}' in metrics
    assert f'kiro_router_credits_total{{client_key="{key.id}",model="{MODEL}"}}' in metrics
    assert plain not in metrics and 'client_key="limits"' not in metrics
