"""`forward` never strands an account slot: a request cut short before the relay frees its lease at once."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import orjson
import redis.asyncio as aioredis
from fastapi import FastAPI

from services.router.app import create_app
from services.router.settings import RouterSettings
from shared.accounts.pool import Pool
from shared.clientkeys import ClientKeys
from shared.keys import Keys
from tests.router.conftest import SeedAccount
from tests.support.accounts import columns_of


async def _open_leases(redis: aioredis.Redis, keys: Keys, account: str) -> int:
    return await Pool(redis, keys).in_flight(account)


async def _eventually_none_open(redis: aioredis.Redis, keys: Keys, account: str) -> int:
    """Open leases once they reach 0, or after 5 s."""
    for _ in range(100):
        left = await _open_leases(redis, keys, account)
        if not left:
            return 0
        await asyncio.sleep(0.05)
    return left


async def test_a_request_cancelled_while_the_gateway_is_silent_frees_its_lease(
    redis_url: str,
    key_prefix: str,
    secret_key: str,
    redis: aioredis.Redis,
    keys: Keys,
    seed_account: SeedAccount,
) -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"POST "):  # health checks get an answer
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    continue
                accepted.set()
                await reader.read()  # never answers: the router waits for the gateway's headers
                return

    gateway = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = gateway.sockets[0].getsockname()[1]
    await seed_account("acct-slow", max_concurrency=1)
    _, key = await ClientKeys(redis, keys).create("test")
    app = _router_app(redis_url, key_prefix, secret_key, port, lease_ttl_seconds=120)
    body = {"model": "claude-sonnet-4.5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with asyncio.timeout(30), app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://router", timeout=60) as client:
                request = asyncio.create_task(
                    client.post("/v1/messages", json=body, headers={"x-api-key": key})
                )
                await asyncio.wait_for(accepted.wait(), 10)
                held = await _open_leases(redis, keys, "acct-slow")
                request.cancel()
                await asyncio.gather(request, return_exceptions=True)
                left = await _eventually_none_open(redis, keys, "acct-slow")
    finally:
        gateway.close()

    assert held == 1  # the pick took the only slot ...
    assert left == 0  # ... and the cancelled request gave it back, not after the 120 s lease expiry


def _router_app(redis_url: str, key_prefix: str, secret_key: str, port: int, **settings: object) -> FastAPI:
    """An in-process router on this test's prefix whose only gateway listens on `port`."""
    return create_app(
        RouterSettings.load(
            redis_url=redis_url,
            redis_key_prefix=key_prefix,
            kiro_secret_key=secret_key,
            internal_api_key="test-internal",
            gateway_urls=f"http://127.0.0.1:{port}",
            **settings,
        )
    )


async def _gateway_answering(stream: bytes) -> asyncio.Server:
    """A gateway stand-in that answers every chat POST with `stream` as an SSE body (health checks: ok)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if not head.startswith(b"POST "):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"content-length: " + str(len(stream)).encode() + b"\r\n\r\n" + stream
                )
                await writer.drain()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def _stream_through_router(
    redis_url: str, key_prefix: str, secret_key: str, redis: aioredis.Redis, keys: Keys, stream: bytes
) -> int:
    """One streamed request through an in-process router whose gateway sends `stream`; its status."""
    gateway = await _gateway_answering(stream)
    port = gateway.sockets[0].getsockname()[1]
    _, key = await ClientKeys(redis, keys).create("test")
    app = _router_app(redis_url, key_prefix, secret_key, port)
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 16,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    try:
        async with asyncio.timeout(30), app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://router", timeout=30) as client:
                response = await client.post("/v1/messages", json=body, headers={"x-api-key": key})
    finally:
        gateway.close()
    return response.status_code


_STARTED = b'event: message_start\ndata: {"type":"message_start"}\n\n'


async def test_a_suspension_in_a_started_stream_disables_the_account_with_kiros_reason(
    redis_url: str,
    key_prefix: str,
    secret_key: str,
    redis: aioredis.Redis,
    keys: Keys,
    seed_account: SeedAccount,
) -> None:
    await seed_account("acct-suspended-late")
    why = "Your account has been temporarily suspended. Please contact support to appeal."
    trailer = b": x-kiro-usage " + orjson.dumps({"failure": "suspended", "reason": why}) + b"\n\n"

    status = await _stream_through_router(redis_url, key_prefix, secret_key, redis, keys, _STARTED + trailer)

    state, reason = await columns_of(redis, keys, "acct-suspended-late", "state", "state_reason")
    assert status == 200
    assert state == "disabled"
    assert reason == f"suspended by Kiro: {why}"
    assert await redis.zscore(keys.pool(), "acct-suspended-late") is None


async def test_a_transient_error_in_a_started_stream_counts_once_without_a_cooldown(
    redis_url: str,
    key_prefix: str,
    secret_key: str,
    redis: aioredis.Redis,
    keys: Keys,
    seed_account: SeedAccount,
) -> None:
    await seed_account("acct-blip-late")
    trailer = b": x-kiro-usage " + orjson.dumps({"failure": "upstream_error"}) + b"\n\n"

    status = await _stream_through_router(redis_url, key_prefix, secret_key, redis, keys, _STARTED + trailer)

    state, in_row = await columns_of(redis, keys, "acct-blip-late", "state", "errors_in_row")
    assert status == 200
    assert (state, in_row) == ("active", "1")
    assert await redis.zscore(keys.pool(), "acct-blip-late") == 0
