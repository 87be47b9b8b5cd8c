"""Half-sent requests and idle connections are closed by the router; long answers are not cut."""

from __future__ import annotations

import asyncio
import time

import anthropic
import httpx
import pytest

from services.kiro_emulator.control import directive
from tests.router.stack import Seeder, Stack
from tests.support.slow_clients import Closed, half_head, head_then_part_of_body, open_slow, until_closed

pytestmark = pytest.mark.e2e

DEADLINE = 2.0
DEADLINES = {"HTTP_HEAD_TIMEOUT_SECONDS": str(DEADLINE), "HTTP_BODY_TIMEOUT_SECONDS": str(DEADLINE)}
BOUND = DEADLINE + 6.0  # generous: two shared cores, 260 connections timing out at once


async def _long_stream(url: str, key: str) -> tuple[str, float]:
    """A streamed answer of 10 pieces 600 ms apart: it outlasts both deadlines several times."""
    started = time.monotonic()
    content = directive(text="0123456789", chunks=10, delay_ms=600)
    async with (
        anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0) as client,
        client.messages.stream(
            model="claude-sonnet-4.5", max_tokens=64, messages=[{"role": "user", "content": content}]
        ) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
    return text, time.monotonic() - started


async def test_half_sent_requests_are_closed_while_normal_clients_are_served(
    stack: Stack, seeder: Seeder
) -> None:
    await seeder.account()
    key = await seeder.client_key()
    router = await asyncio.to_thread(stack.start_router, stack.gateway.url, **DEADLINES)
    anthropic_head = {"anthropic-version": "2023-06-01"}
    slow = await asyncio.gather(
        *(open_slow(router.url, "half head", half_head()) for _ in range(200)),
        *(open_slow(router.url, "silent", b"") for _ in range(20)),
        *(
            open_slow(
                router.url, "stalled body", head_then_part_of_body({"x-api-key": key, **anthropic_head})
            )
            for _ in range(20)
        ),
        *(
            open_slow(
                router.url, "unread tail", head_then_part_of_body({"x-api-key": "sk-nope", **anthropic_head})
            )
            for _ in range(20)
        ),
    )
    stream = asyncio.create_task(_long_stream(router.url, key))
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.monotonic()
        health = await client.get(router.url + "/health")
        health_ms = (time.monotonic() - started) * 1000

    closed = await asyncio.gather(*(until_closed(c, BOUND) for c in slow))
    text, stream_seconds = await stream

    _report("router", closed, stream_seconds, health_ms)
    assert health.status_code == 200
    assert text == "0123456789"
    assert stream_seconds > 2 * DEADLINE
    assert all(c.seconds is not None and DEADLINE - 0.5 < c.seconds <= BOUND for c in closed), closed
    assert all(c.answer.startswith(b"HTTP/1.1 408") for c in closed if c.kind == "half head")
    assert all(c.answer == b"" for c in closed if c.kind == "silent")
    assert all(c.answer.startswith(b"HTTP/1.1 401") for c in closed if c.kind == "unread tail")


def _report(service: str, closed: list[Closed], stream_seconds: float, health_ms: float) -> None:
    seconds = [c.seconds for c in closed if c.seconds is not None]
    span = f"{min(seconds):.1f}-{max(seconds):.1f} s" if seconds else "-"
    print(
        f"\n{service}: {len(seconds)} of {len(closed)} half-sent connections closed in {span} "
        f"(deadline {DEADLINE} s); meanwhile a {stream_seconds:.1f} s stream finished and /health "
        f"answered in {health_ms:.0f} ms"
    )
