"""Half-sent requests and idle connections are closed by the router; long answers are not cut."""

from __future__ import annotations

import asyncio

import pytest

from tests.router.stack import Seeder, Stack
from tests.support.slow_clients import closed_while_serving, half_head, head_then_part_of_body, open_slow

pytestmark = pytest.mark.e2e

DEADLINE = 2.0
DEADLINES = {"HTTP_HEAD_TIMEOUT_SECONDS": str(DEADLINE), "HTTP_BODY_TIMEOUT_SECONDS": str(DEADLINE)}
#: how long the test watches a slow client: a hang guard, not a speed claim (without the deadline none is
#: ever closed); the seconds each took are in the report line
BOUND = DEADLINE * 10


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
    seen = await closed_while_serving(router.url, slow, BOUND, key)

    seen.report("router", DEADLINE)
    seen.assert_served_while_closing(DEADLINE, BOUND, tail_status=b"401")
