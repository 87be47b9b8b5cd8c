"""The router's client edge: the key is checked from the headers before a body is read; bodies are capped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.router.stack import Seeder, Stack
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
ANTHROPIC = {"anthropic-version": "2023-06-01"}


def _peak_rss_mib(proc: ServiceProcess) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    assert proc.proc is not None
    for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


async def _chunks(total: int, size: int = MIB) -> AsyncIterator[bytes]:
    chunk = b'{"pad":"' + b"x" * (size - 8)
    for _ in range(total // size):
        yield chunk


def _body(text: str = "hello") -> dict[str, object]:
    return {"model": "claude-sonnet-4.5", "max_tokens": 32, "messages": [{"role": "user", "content": text}]}


async def test_unauthenticated_300_mib_post_gets_401_and_the_router_does_not_grow(
    stack: Stack, seeder: Seeder
) -> None:
    router = stack.start_router(stack.gateway.url)
    async with httpx.AsyncClient(timeout=60) as client:  # warm up: imports, first Redis connection
        await client.post(router.url + "/v1/messages", json=_body(), headers={"x-api-key": "sk-nope"})
    before = _peak_rss_mib(router)

    async with httpx.AsyncClient(timeout=120) as client:
        wrong_key = await client.post(
            router.url + "/v1/messages",
            content=_chunks(300 * MIB),
            headers={"x-api-key": "sk-not-a-key", "content-type": "application/json", **ANTHROPIC},
        )
        no_key = await client.post(
            router.url + "/v1/chat/completions",
            content=_chunks(300 * MIB),
            headers={"content-type": "application/json"},
        )

    growth = _peak_rss_mib(router) - before
    print(f"\nrouter peak RSS {before:.0f} MiB -> +{growth:.1f} MiB after 2 x 300 MiB unauthenticated POSTs")
    assert wrong_key.status_code == 401
    assert wrong_key.json()["error"]["type"] == "authentication_error"
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "invalid_api_key"
    assert growth < 8


async def test_unknown_key_is_refused_from_the_headers_alone(stack: Stack, seeder: Seeder) -> None:
    """The head promises a body that never comes: the 401 must not wait for it."""
    host, port = stack.routers[0].url.removeprefix("http://").split(":")
    head = (
        "POST /v1/messages HTTP/1.1\r\nhost: router\r\nx-api-key: sk-unknown\r\n"
        "anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 401")


async def test_over_limit_bodies_get_413_in_each_clients_shape(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key()
    router = stack.start_router(stack.gateway.url, MAX_BODY_BYTES=str(MIB))
    sdk = anthropic.AsyncAnthropic(api_key=key, base_url=router.url, max_retries=0)
    try:
        with pytest.raises(anthropic.RequestTooLargeError) as declared:  # Content-Length says so
            await sdk.messages.create(**_body("x" * (2 * MIB)))  # type: ignore[call-overload]
        small = await sdk.messages.create(**_body("fits"))  # type: ignore[call-overload]
    finally:
        await sdk.close()
    async with httpx.AsyncClient(timeout=30) as client:
        streamed = await client.post(  # chunked: only counting the bytes read can tell
            router.url + "/v1/chat/completions",
            content=_chunks(4 * MIB, 64 * 1024),
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        )
        count = await client.post(
            router.url + "/v1/messages/count_tokens",
            content=b"x" * (MIB + 1),
            headers={"x-api-key": key, **ANTHROPIC},
        )

    assert declared.value.status_code == 413
    assert declared.value.body == {
        "type": "error",
        "error": {"type": "request_too_large", "message": f"request body is larger than {MIB} bytes"},
    }
    assert small.content[0].type == "text"
    assert streamed.status_code == 413
    assert streamed.json()["error"] == {
        "message": f"request body is larger than {MIB} bytes",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_too_large",
    }
    assert count.status_code == 413
    assert count.json()["error"]["type"] == "request_too_large"


async def test_a_key_deleted_after_use_is_refused_at_once(stack: Stack, seeder: Seeder) -> None:
    """The router remembers keys it has seen, but the admission with the pick still decides."""
    await seeder.account()
    plain = await seeder.client_key()
    headers = {"x-api-key": plain, **ANTHROPIC}
    url = stack.routers[0].url + "/v1/messages"
    async with httpx.AsyncClient(timeout=30) as client:
        served = await client.post(url, json=_body("one"), headers=headers)
        (key,) = await seeder.client_keys.list()
        await seeder.client_keys.delete(key.id)
        refused = await client.post(url, json=_body("two"), headers=headers)

    assert served.status_code == 200
    assert refused.status_code == 401


async def test_session_tagged_body_is_routed_on_the_model_the_gateway_serves(
    stack: Stack, seeder: Seeder
) -> None:
    """The router reads only a session-tagged body's opening, yet a later duplicate `model` (the one the
    gateway reads) is what the key's model list is checked against; a body malformed past the opening is
    still a 400 in the client's shape, and costs the account nothing."""
    await seeder.account()
    key = await seeder.client_key(allowed_models=("claude-sonnet-4.5",))
    router = stack.start_router(stack.gateway.url)
    headers = {
        "x-api-key": key,
        "x-claude-code-session-id": "5f0c3c1e-session",
        "content-type": "application/json",
        **ANTHROPIC,
    }
    opening = b'{"model": "claude-sonnet-4.5", "max_tokens": 32, '
    messages = b'"messages": [{"role": "user", "content": "hi"}]'
    async with httpx.AsyncClient(base_url=router.url, timeout=30) as client:
        smuggled = await client.post(
            "/v1/messages", content=opening + messages + b', "model": "claude-opus-4.5"}', headers=headers
        )
        malformed = await client.post(
            "/v1/messages", content=opening + messages + b", oops}", headers=headers
        )
        served = await client.post("/v1/messages", content=opening + messages + b"}", headers=headers)

    assert smuggled.status_code == 403, smuggled.text
    assert smuggled.json()["error"]["type"] == "permission_error"
    assert malformed.status_code == 400, malformed.text
    assert malformed.json()["type"] == "error"
    assert malformed.json()["error"]["type"] == "invalid_request_error"
    assert served.status_code == 200, served.text
