"""Half-sent requests and idle connections are closed by the gateway; long answers are not cut."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.gateway.support import Emulator, start_gateway
from tests.support.procs import ServiceProcess
from tests.support.slow_clients import closed_while_serving, half_head, head_then_part_of_body, open_slow

DEADLINE = 2.0
DEADLINES = {"HTTP_HEAD_TIMEOUT_SECONDS": str(DEADLINE), "HTTP_BODY_TIMEOUT_SECONDS": str(DEADLINE)}
#: how long the test watches a slow client: a hang guard, not a speed claim (without the deadline none is
#: ever closed); the seconds each took are in the report line
BOUND = DEADLINE * 10


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
    seen = await closed_while_serving(url, slow, BOUND, "unused", headers)

    seen.report("gateway", DEADLINE)
    seen.assert_served_while_closing(DEADLINE, BOUND, tail_status=b"413")
