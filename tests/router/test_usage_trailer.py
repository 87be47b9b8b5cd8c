"""The gateway's usage trailer is the router's: it is counted, and not a byte of it reaches the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web

from services.kiro_emulator.control import directive
from tests.router.stack import Seeder, Stack
from tests.support.polling import wait_for
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e


async def _raw_stream(url: str, path: str, headers: dict[str, str], body: dict[str, object]) -> bytes:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", url + path, json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        return b"".join([chunk async for chunk in response.aiter_raw()])


async def _today(seeder: Seeder) -> dict[str, int]:
    """The client key's usage of the day, once a request's tokens are in it: the router settles a request
    just after its last byte, so the client can read that byte first."""
    (key,) = await seeder.client_keys.list()

    async def settled() -> dict[str, int] | None:
        usage = await seeder.client_keys.usage(key)
        return usage if "input_tokens" in usage else None

    found: dict[str, int] = await wait_for(settled, 10, "the request's tokens in the key's usage")
    return found


async def test_no_internal_line_reaches_clients_and_usage_is_still_counted(
    stack: Stack, seeder: Seeder
) -> None:
    await seeder.account()
    key = await seeder.client_key()
    text = directive(text="one two three four five six", chunks=6)
    url = stack.routers[0].url

    anthropic_raw = await _raw_stream(
        url,
        "/v1/messages",
        {"x-api-key": key, "anthropic-version": "2023-06-01"},
        {
            "model": "claude-sonnet-4.5",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": text}],
        },
    )
    openai_raw = await _raw_stream(
        url,
        "/v1/chat/completions",
        {"authorization": f"Bearer {key}"},
        {"model": "claude-sonnet-4.5", "stream": True, "messages": [{"role": "user", "content": text}]},
    )
    usage = await _today(seeder)

    assert b"message_stop" in anthropic_raw
    assert openai_raw.rstrip().endswith(b"data: [DONE]")
    assert b"x-kiro" not in anthropic_raw.lower()
    assert b"x-kiro" not in openai_raw.lower()
    assert usage["requests"] == 2
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0


@asynccontextmanager
async def _gateway_splitting_the_trailer() -> AsyncIterator[str]:
    """A gateway stand-in whose stream ends with the usage line cut into pieces, sent 50 ms apart."""
    pieces = [
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n: x-k',
        b"iro-us",
        b'age {"input_tokens":11,"output_tokens":13,"cre',
        b'dits":0.02,"failure":null}\n',
        b"\n",
    ]

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for piece in pieces:
            await response.write(piece)
            await asyncio.sleep(0.05)  # not sync: the fake gateway's pace
        await response.write_eof()
        return response

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/messages", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_trailer_split_across_chunks_is_counted_and_never_shown(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key()
    async with _gateway_splitting_the_trailer() as gateway:
        router = await asyncio.to_thread(stack.start_router, gateway)
        raw = await _raw_stream(
            router.url,
            "/v1/messages",
            {"x-api-key": key, "anthropic-version": "2023-06-01"},
            {
                "model": "claude-sonnet-4.5",
                "max_tokens": 8,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    usage = await _today(seeder)

    assert raw == b'event: message_stop\ndata: {"type":"message_stop"}\n\n\n'
    assert usage["input_tokens"] == 11
    assert usage["output_tokens"] == 13
