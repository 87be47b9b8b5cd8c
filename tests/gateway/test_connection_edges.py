"""Half-sent requests and idle connections are closed by the gateway; long answers are not cut."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.gateway.support import Emulator, directive, start_gateway
from tests.support.procs import ServiceProcess
from tests.support.slow_clients import half_head, head_then_part_of_body, open_slow, until_closed

DEADLINE = 2.0
DEADLINES = {"HTTP_HEAD_TIMEOUT_SECONDS": str(DEADLINE), "HTTP_BODY_TIMEOUT_SECONDS": str(DEADLINE)}
BOUND = DEADLINE + 6.0  # generous: two shared cores, 260 connections timing out at once


@pytest.fixture
def gateway_with_deadlines(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    proc = start_gateway(emulator.url, **DEADLINES)
    yield proc
    proc.stop()


async def test_half_sent_requests_are_closed_while_normal_clients_are_served(
    gateway_with_deadlines: ServiceProcess, emu: Emulator
) -> None:
    url = gateway_with_deadlines.url
    account = emu.account()
    headers = {"anthropic-version": "2023-06-01", **account.headers()}
    oversized = head_then_part_of_body(headers).replace(b"content-length: 1000", b"content-length: 9000000")
    slow = await asyncio.gather(
        *(open_slow(url, "half head", half_head()) for _ in range(200)),
        *(open_slow(url, "silent", b"") for _ in range(20)),
        *(open_slow(url, "stalled body", head_then_part_of_body(headers)) for _ in range(20)),
        *(open_slow(url, "unread tail", oversized) for _ in range(20)),
    )
    stream = asyncio.create_task(_long_stream(url, headers))
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.monotonic()
        health = await client.get(url + "/health")
        health_ms = (time.monotonic() - started) * 1000

    closed = await asyncio.gather(*(until_closed(c, BOUND) for c in slow))
    text, stream_seconds = await stream

    seconds = [c.seconds for c in closed if c.seconds is not None]
    span = f"{min(seconds):.1f}-{max(seconds):.1f} s" if seconds else "-"
    print(
        f"\ngateway: {len(seconds)} of {len(closed)} half-sent connections closed in {span} (deadline "
        f"{DEADLINE} s); meanwhile a {stream_seconds:.1f} s stream finished, /health in {health_ms:.0f} ms"
    )
    assert health.status_code == 200
    assert text == "0123456789"
    assert stream_seconds > 2 * DEADLINE
    assert all(c.seconds is not None and DEADLINE - 0.5 < c.seconds <= BOUND for c in closed), closed
    assert all(c.answer.startswith(b"HTTP/1.1 408") for c in closed if c.kind == "half head")
    assert all(c.answer == b"" for c in closed if c.kind == "silent")
    assert all(c.answer.startswith(b"HTTP/1.1 413") for c in closed if c.kind == "unread tail")


async def _long_stream(url: str, headers: dict[str, str]) -> tuple[str, float]:
    """A streamed answer of 10 pieces 600 ms apart: it outlasts both deadlines several times."""
    started = time.monotonic()
    async with (
        anthropic.AsyncAnthropic(
            api_key="unused", base_url=url, max_retries=0, default_headers=headers
        ) as client,
        client.messages.stream(
            model="claude-sonnet-4.5",
            max_tokens=64,
            messages=[{"role": "user", "content": directive(text="0123456789", chunks=10, delay_ms=600)}],
        ) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
    return text, time.monotonic() - started
