"""Router process behaviour: runtime settings from Redis, draining on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from services.kiro_emulator.control import directive
from shared.crypto import sha256_hex
from tests.router.stack import Seeder, Stack
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e

ANTHROPIC = {"anthropic-version": "2023-06-01"}


async def test_failover_attempts_setting_from_the_panel_is_honoured(stack: Stack, seeder: Seeder) -> None:
    failing = await seeder.account(weight=1_000_000)
    healthy = await seeder.account(weight=1)
    stack.control.add_fault(account=failing, endpoint="chat", kind="throttled", times=0)
    await seeder.redis.hset(seeder.keys.settings(), "failover_attempts", "1")
    key = await seeder.client_key()

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            stack.routers[0].url + "/v1/messages",
            json={
                "model": "claude-sonnet-4.5",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"x-api-key": key, **ANTHROPIC},
        )

    assert response.status_code == 429
    assert seeder.chat_calls(healthy) == 0


async def test_sigterm_lets_an_open_stream_finish_then_exits(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    router = stack.start_router(stack.gateway.url)
    key = await seeder.client_key()
    slow = directive(text="z" * 400, chunks=20, delay_ms=50)
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": slow}],
    }

    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST", router.url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC}
        ) as r,
    ):
        chunks = []
        async for chunk in r.aiter_raw():
            if not chunks:
                router.signal(signal.SIGTERM)
            chunks.append(chunk)
    received = b"".join(chunks)
    assert router.proc is not None
    exit_code = await asyncio.to_thread(router.proc.wait, 10)

    assert b"event: message_stop" in received
    assert received.count(b"z") >= 400
    assert exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown


async def test_unreachable_gateway_is_skipped_for_a_healthy_one(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    dead = f"http://127.0.0.1:{free_port()}"
    router = stack.start_router(f"{dead},{stack.gateway.url}")
    key = await seeder.client_key()

    async with httpx.AsyncClient(timeout=30) as client:
        statuses = [
            (
                await client.post(
                    router.url + "/v1/messages",
                    json={
                        "model": "claude-sonnet-4.5",
                        "max_tokens": 8,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                    headers={"x-api-key": key, **ANTHROPIC},
                )
            ).status_code
            for _ in range(4)
        ]
        ready = await client.get(router.url + "/ready")
        metrics = (await client.get(router.url + "/metrics")).text

    assert statuses == [200, 200, 200, 200]
    assert ready.status_code == 200
    assert f'kiro_router_gateway_up{{gateway="{dead}"}} 0.0' in metrics


def _slow_stream(text: str, chunks: int) -> dict[str, object]:
    """A streamed Messages request whose answer comes in `chunks` pieces 100 ms apart."""
    slow = directive(text=text, chunks=chunks, delay_ms=100)
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": slow}],
    }


async def test_client_disconnect_mid_stream_frees_the_lease_at_once(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key()
    body = _slow_stream("w" * 2000, chunks=100)  # ten seconds of stream
    leases = seeder.keys.leases()  # this stack's only account holds them all

    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST", stack.routers[0].url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC}
        ) as r,
    ):
        async for _ in r.aiter_raw():
            assert await seeder.redis.zcard(leases) == 1
            break

    assert await _eventually(lambda: seeder.redis.zcard(leases), 0)
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = (await client.get(stack.routers[0].url + "/metrics")).text
    assert 'kiro_router_attempts_total{outcome="disconnected"}' in metrics


async def test_a_long_stream_keeps_renewing_its_lease(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    router = stack.start_router(stack.gateway.url, LEASE_TTL_SECONDS="1.5")  # renewed every 0.5 s
    key = await seeder.client_key()
    body = _slow_stream("r" * 600, chunks=30)  # three seconds of stream
    leases = seeder.keys.leases()  # this stack's only account holds them all
    expiries: list[float] = []

    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST", router.url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC}
        ) as r,
    ):
        started = time.time()
        async for _ in r.aiter_raw():
            if time.time() - started > 2.5 and not expiries:
                expiries = [score for _, score in await seeder.redis.zrange(leases, 0, -1, withscores=True)]

    assert len(expiries) == 1 and expiries[0] / 1000 > time.time() - 0.5  # far past its first 1.5 s
    assert await _eventually(lambda: seeder.redis.zcard(leases), 0)


async def test_count_tokens_needs_no_account(stack: Stack, seeder: Seeder) -> None:
    key = await seeder.client_key()

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            stack.routers[1].url + "/v1/messages/count_tokens?beta=true",
            json={
                "model": "claude-sonnet-4.5",
                "messages": [{"role": "user", "content": "how many tokens is this"}],
            },
            headers={"x-api-key": key, **ANTHROPIC},
        )

    assert response.status_code == 200
    assert response.json()["input_tokens"] > 0


async def _eventually(read: Callable[[], Awaitable[int]], expected: int, within: float = 10.0) -> bool:
    for _ in range(int(within / 0.05)):
        if await read() == expected:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_model_aliases_from_the_panel_reach_the_gateway(stack: Stack, seeder: Seeder) -> None:
    account = await seeder.account()
    await seeder.redis.hset(seeder.keys.settings(), "model_aliases", '{"team-default": "claude-haiku-4.5"}')
    key = await seeder.client_key()

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            stack.routers[1].url + "/v1/messages",
            json={
                "model": "team-default",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "alias"}],
            },
            headers={"x-api-key": key, **ANTHROPIC},
        )

    assert response.status_code == 200, response.text
    chats = [r for r in stack.control.requests(account=account) if r["endpoint"].startswith("chat")]
    sent = chats[-1]["body"]["conversationState"]["currentMessage"]["userInputMessage"]
    assert sent["modelId"] == "claude-haiku-4.5"


async def test_bootstrap_key_from_the_environment_is_stored_hashed_and_works(
    stack: Stack, seeder: Seeder
) -> None:
    await seeder.account()
    bootstrap = "sk-bootstrap-" + "b" * 24
    router = stack.start_router(stack.gateway.url, PROXY_API_KEY=bootstrap)

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            router.url + "/v1/messages",
            json={
                "model": "claude-sonnet-4.5",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "boot"}],
            },
            headers={"x-api-key": bootstrap, **ANTHROPIC},
        )

    assert response.status_code == 200
    assert await seeder.redis.exists(seeder.keys.client_key(sha256_hex(bootstrap)))
    assert [k.name for k in await seeder.client_keys.list()] == ["bootstrap"]
