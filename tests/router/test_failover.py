"""Failover before the first byte, through real router processes, a gateway and the Kiro emulator."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from services.router.hints import read_hints
from shared.accounts.model import AccountState
from shared.accounts.pool import Pool
from tests.router.stack import Seeder, Stack
from tests.support.accounts import column_of
from tests.support.polling import wait_for

pytestmark = pytest.mark.e2e

ANTHROPIC = {"anthropic-version": "2023-06-01"}


def _body(text: str = "hello through the pool", *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    }


async def _post(url: str, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC, **headers}
        )


@pytest.mark.parametrize(
    ("fault", "expected_state"),
    [
        ("invalid_token", AccountState.COOLDOWN),
        ("suspended", AccountState.DISABLED),
        ("quota", AccountState.EXHAUSTED),
        ("throttled", AccountState.COOLDOWN),
        ("server_error", AccountState.ACTIVE),  # one transient error is no verdict (outlier detection)
    ],
)
async def test_account_level_failure_fails_over_to_another_account(
    stack: Stack, seeder: Seeder, fault: str, expected_state: AccountState
) -> None:
    failing = await seeder.account(weight=1_000_000)  # picked first unless it is the one excluded
    healthy = await seeder.account(weight=1)
    stack.control.add_fault(account=failing, endpoint="chat", kind=fault, times=0)
    key = await seeder.client_key()

    response = await _post(stack.routers[0].url, key, _body("failover please"))

    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "failover please"
    assert seeder.chat_calls(failing) >= 1
    assert seeder.chat_calls(healthy) == 1
    assert await column_of(seeder.redis, seeder.keys, failing, "state") == expected_state.value
    assert not any(h.lower().startswith("x-kiro-") for h in response.headers)
    if fault == "suspended":  # disabled with Kiro's own words (X-Kiro-Failure-Reason)
        reason = await column_of(seeder.redis, seeder.keys, failing, "state_reason")
        assert reason.startswith("suspended by Kiro: ") and "temporarily suspended" in reason


async def test_invalid_token_queues_a_refresh_job(stack: Stack, seeder: Seeder) -> None:
    failing = await seeder.account(weight=1_000_000)
    await seeder.account(weight=1)
    stack.control.add_fault(account=failing, endpoint="chat", kind="invalid_token", times=0)
    key = await seeder.client_key()

    response = await _post(stack.routers[1].url, key, _body())

    assert response.status_code == 200
    assert await seeder.refresh_queued(failing)


async def test_client_error_is_returned_as_is_without_trying_another_account(
    stack: Stack, seeder: Seeder
) -> None:
    first = await seeder.account(weight=1_000_000)
    second = await seeder.account(weight=1)
    stack.control.add_fault(account=first, endpoint="chat", kind="bad_request", times=0)
    key = await seeder.client_key()

    response = await _post(stack.routers[0].url, key, _body())

    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert seeder.chat_calls(second) == 0
    assert await column_of(seeder.redis, seeder.keys, first, "state") == "active"


async def test_every_account_throttled_is_a_429_with_the_pools_retry_after(
    stack: Stack, seeder: Seeder
) -> None:
    accounts = [await seeder.account() for _ in range(2)]
    for name in accounts:
        stack.control.add_fault(account=name, endpoint="chat", kind="throttled", times=0)
    key = await seeder.client_key()

    response = await _post(stack.routers[0].url, key, _body())

    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert 59 <= int(response.headers["retry-after"]) <= 73  # the throttle cooldown (60 s, +20 % jitter)
    for name in accounts:
        assert seeder.chat_calls(name) == 1  # never the same account twice, not even its other endpoint
        assert await column_of(seeder.redis, seeder.keys, name, "state") == "cooldown"


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
async def test_every_account_out_of_quota_is_a_429_with_retry_after_until_the_reset(
    stack: Stack, seeder: Seeder, protocol: str
) -> None:
    # Kiro's 402 names no reset time; the refresher's usage limits said when the quota comes back
    reset_at = time.time() + 7200
    account = await seeder.account(usage_reset_at=reset_at)
    stack.control.add_fault(account=account, endpoint="chat", kind="quota", times=0)
    key = await seeder.client_key()
    caught: anthropic.APIStatusError | openai.APIStatusError
    if protocol == "anthropic":
        client = anthropic.AsyncAnthropic(api_key=key, base_url=stack.routers[0].url, max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as anthropic_error:
            await client.messages.create(**_body("out of quota"))
        await client.close()
        caught = anthropic_error.value
    else:
        oai = openai.AsyncOpenAI(api_key=key, base_url=stack.routers[1].url + "/v1", max_retries=0)
        with pytest.raises(openai.RateLimitError) as openai_error:
            await oai.chat.completions.create(
                model="claude-sonnet-4.5", messages=[{"role": "user", "content": "out of quota"}]
            )
        await oai.close()
        caught = openai_error.value
        assert openai_error.value.code == "insufficient_quota"

    headers = caught.response.headers
    assert caught.response.status_code == 429
    assert abs(int(headers["retry-after"]) - (reset_at - time.time())) <= 60
    assert headers["x-should-retry"] == "false"  # two hours: longer than any SDK waits


async def test_one_transient_kiro_error_leaves_the_only_account_serving(stack: Stack, seeder: Seeder) -> None:
    account = await seeder.account()
    stack.control.add_fault(account=account, endpoint="chat", kind="server_error", times=0)
    key = await seeder.client_key()

    failed = await _post(stack.routers[0].url, key, _body("during the blip"))
    stack.control.clear_faults(account)
    served = await _post(stack.routers[1].url, key, _body("after the blip"))

    assert failed.status_code == 529
    assert failed.json()["error"]["type"] == "overloaded_error"
    assert failed.headers["x-should-retry"] == "true"
    assert served.status_code == 200, served.text
    assert served.json()["content"][0]["text"] == "after the blip"
    assert await column_of(seeder.redis, seeder.keys, account, "state") == "active"


async def test_every_accounts_token_rejected_is_a_retryable_503_not_an_authentication_error(
    stack: Stack, seeder: Seeder
) -> None:
    accounts = [await seeder.account() for _ in range(2)]
    for name in accounts:
        stack.control.add_fault(account=name, endpoint="chat", kind="invalid_token", times=0)
    key = await seeder.client_key()
    message = [{"role": "user", "content": "hi"}]
    claude = anthropic.AsyncAnthropic(api_key=key, base_url=stack.routers[0].url, max_retries=0)
    gpt = openai.AsyncOpenAI(api_key=key, base_url=stack.routers[1].url + "/v1", max_retries=0)

    with pytest.raises(anthropic.APIStatusError) as from_claude:
        await claude.messages.create(model="claude-sonnet-4.5", max_tokens=16, messages=message)  # type: ignore[arg-type]
    for name in accounts:  # back in rotation, as after their refresh: the OpenAI call tries them again
        await seeder.states.activate(name)
    with pytest.raises(openai.APIStatusError) as from_gpt:
        await gpt.chat.completions.create(model="claude-sonnet-4.5", messages=message)  # type: ignore[arg-type]
    await claude.close()
    await gpt.close()

    for caught in (from_claude.value, from_gpt.value):
        assert not isinstance(caught, anthropic.AuthenticationError | openai.AuthenticationError)
        assert caught.response.headers["x-should-retry"] == "true"
        assert 1 <= int(caught.response.headers["retry-after"]) <= 31  # the refresh pause
    assert isinstance(from_claude.value, anthropic.InternalServerError)
    assert from_claude.value.status_code == 529  # Anthropic's SDKs know no 503
    assert from_claude.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert isinstance(from_gpt.value, openai.InternalServerError)
    assert from_gpt.value.status_code == 503
    assert from_gpt.value.code == "accounts_unavailable"


async def test_no_retry_after_the_first_byte(stack: Stack, seeder: Seeder) -> None:
    first = await seeder.account(weight=1_000_000)
    second = await seeder.account(weight=1)
    stack.control.queue_script(account=first, text="x" * 400, chunks=10, reset_after_frames=3)
    key = await seeder.client_key()

    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST",
            stack.routers[0].url + "/v1/messages",
            json=_body(stream=True),
            headers={"x-api-key": key, **ANTHROPIC},
        ) as response,
    ):
        body = b"".join([chunk async for chunk in response.aiter_raw()])

    assert response.status_code == 200
    assert b"event: message_start" in body
    assert b"event: error" in body
    assert seeder.chat_calls(first) == 1
    assert seeder.chat_calls(second) == 0


async def test_gateway_dying_mid_stream_gives_an_in_band_error_and_frees_the_lease(
    stack: Stack, seeder: Seeder
) -> None:
    account = await seeder.account(max_concurrency=1)
    gateway = stack.start_gateway()
    router = stack.start_router(gateway.url)
    stack.control.queue_script(account=account, text="y" * 2000, chunks=40, delay_ms=100)
    key = await seeder.client_key()

    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST",
            router.url + "/v1/chat/completions",
            json={**_body(stream=True)},
            headers={"authorization": f"Bearer {key}"},
        ) as response,
    ):
        chunks = []
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            if len(chunks) == 3:
                gateway.signal(signal.SIGKILL)
        body = b"".join(chunks)

    assert response.status_code == 200
    assert body.rstrip().endswith(b"}")
    last = body.rstrip().rsplit(b"\n\n", 1)[-1]
    assert last.startswith(b'data: {"error"')
    assert await _eventually_zero(seeder, account)


async def _eventually_zero(seeder: Seeder, account: str) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if await Pool(seeder.redis, seeder.keys).in_flight(account) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_empty_pool_answers_503_saying_why(stack: Stack, seeder: Seeder) -> None:
    key = await seeder.client_key()

    anthropic = await _post(stack.routers[0].url, key, _body())
    async with httpx.AsyncClient(timeout=30) as client:
        openai = await client.post(
            stack.routers[1].url + "/v1/chat/completions",
            json=_body(),
            headers={"authorization": f"Bearer {key}"},
        )

    assert anthropic.status_code == 500  # nothing to wait for: Anthropic's api_error, not a 529
    assert anthropic.json()["error"]["type"] == "api_error"
    assert "no Kiro account is configured" in anthropic.json()["error"]["message"]
    assert anthropic.headers["x-should-retry"] == "false"
    assert openai.status_code == 503
    assert openai.json()["error"]["code"] == "none_configured"


async def test_cooling_pool_answers_retryable_overloaded_with_retry_after(
    stack: Stack, seeder: Seeder
) -> None:
    await seeder.account(state=AccountState.COOLDOWN, until=time.time() + 30)
    key = await seeder.client_key()

    response = await _post(stack.routers[0].url, key, _body())

    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"
    assert 25 <= int(response.headers["retry-after"]) <= 31
    assert response.headers["x-should-retry"] == "true"


async def test_a_pool_whose_every_account_is_out_of_quota_answers_429_until_the_reset(
    stack: Stack, seeder: Seeder
) -> None:
    reset_at = time.time() + 2 * 3600
    await seeder.account(state=AccountState.EXHAUSTED, until=reset_at)
    key = await seeder.client_key()

    claude = await _post(stack.routers[0].url, key, _body())
    async with httpx.AsyncClient(timeout=30) as client:
        gpt = await client.post(
            stack.routers[1].url + "/v1/chat/completions",
            json=_body(),
            headers={"authorization": f"Bearer {key}"},
        )

    # the same answer as when each account tried said "out of quota" (was a 503 "cooling")
    assert claude.status_code == gpt.status_code == 429
    assert claude.json()["error"]["type"] == "rate_limit_error"
    assert gpt.json()["error"]["code"] == "insufficient_quota"
    for answer in (claude, gpt):
        assert abs(int(answer.headers["retry-after"]) - (reset_at - time.time())) <= 60
        assert answer.headers["x-should-retry"] == "false"  # two hours: longer than any SDK waits


async def test_accounts_needing_relogin_answer_503_without_retry(stack: Stack, seeder: Seeder) -> None:
    await seeder.account(state=AccountState.NEEDS_RELOGIN)
    key = await seeder.client_key()

    response = await _post(stack.routers[0].url, key, _body())

    assert response.status_code == 500
    assert "log in again" in response.json()["error"]["message"]
    assert response.headers["x-should-retry"] == "false"


async def test_pool_without_a_usable_token_answers_503_and_asks_for_refreshes(
    stack: Stack, seeder: Seeder
) -> None:
    stale = await seeder.account(access_expires_at=time.time() - 60)
    key = await seeder.client_key()

    response = await _post(stack.routers[1].url, key, _body())

    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"
    assert "being refreshed" in response.json()["error"]["message"]
    assert await seeder.refresh_queued(stale)


async def test_throttling_inside_a_started_stream_cools_the_account_without_a_retry(
    stack: Stack, seeder: Seeder
) -> None:
    account = await seeder.account()
    other = await seeder.account(weight=1)
    stack.control.queue_script(
        account=account,
        text="partial answer " * 10,
        chunks=5,
        exception={"after_frames": 2, "type": "ThrottlingException", "message": "Too many requests"},
    )
    key = await seeder.client_key()
    sticky = {"X-Claude-Code-Session-Id": f"s-{account}"}
    await seeder.redis.set(seeder.keys.sticky(_session_hash(f"s-{account}")), account)

    response = await _post(stack.routers[0].url, key, _body(stream=True), **sticky)

    assert response.status_code == 200
    assert b"event: error" in response.content
    assert seeder.chat_calls(account) == 1 and seeder.chat_calls(other) == 0
    assert await column_of(seeder.redis, seeder.keys, account, "state") == "cooldown"


def _session_hash(session: str) -> str:
    hints = read_hints(b"{}", session)
    assert hints.conversation is not None
    return hints.conversation


async def test_a_gateway_answering_garbage_is_a_502_and_frees_the_lease(stack: Stack, seeder: Seeder) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT-HTTP \x00\x01 garbage\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    account = await seeder.account(max_concurrency=1)
    router = stack.start_router(f"http://127.0.0.1:{port}")
    key = await seeder.client_key()
    try:
        response = await _post(router.url, key, _body())
    finally:
        server.close()

    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"
    assert "gateway" in response.json()["error"]["message"]
    assert await _eventually_zero(seeder, account)


async def test_a_client_gone_before_the_first_byte_stops_failover_at_the_call_in_progress(
    stack: Stack, seeder: Seeder
) -> None:
    accounts = [await seeder.account() for _ in range(4)]
    for name in accounts:  # every account answers slowly, then throttled: failover would go on for 2 s
        stack.control.add_fault(
            account=name, endpoint="chat", kind="throttled", first_byte_delay_ms=500, times=0
        )
    key = await seeder.client_key()
    body = orjson.dumps(_body("nobody waits for this"))
    router = stack.routers[0]
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:{router.port}\r\nx-api-key: {key}\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()

    def calls() -> int:
        return sum(seeder.chat_calls(name) for name in accounts)

    _, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(head + body)
    await writer.drain()
    await wait_for(lambda: asyncio.sleep(0, calls() >= 1), what="the first upstream call")
    writer.close()  # the client gives up before the first byte

    # the router ends the request (it logs it as a 499) and frees every lease; failover never goes on
    gone = "client disconnected before the first byte"
    await wait_for(
        lambda: asyncio.sleep(0, router.count_in_logs(gone)), what="the router to see the client gone"
    )
    await wait_for(lambda: _no_open_lease(seeder, accounts), what="every lease freed")
    assert calls() == 1  # the call in progress when the client left, and no other


async def _no_open_lease(seeder: Seeder, accounts: list[str]) -> bool:
    return all([await _open_leases(seeder, name) == 0 for name in accounts])


async def _open_leases(seeder: Seeder, account: str) -> int:
    return await Pool(seeder.redis, seeder.keys).in_flight(account)
