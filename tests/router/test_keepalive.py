"""Keep-alive through router and gateway: the client never waits longer than the ping interval for a byte.

Kiro may keep its own connection busy with frames the client never sees (metering, context usage) while
no text comes; the pings must follow what the client receives, not what Kiro sends (client-compat.md §3:
a keep-alive at least every 15 s).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import httpx
import pytest

from services.kiro_emulator.control import directive
from tests.router.stack import Seeder, Stack
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

PING_INTERVAL = 1.0
#: how long Kiro sends only frames the client never sees (below): the old timer left all of it silent
INVISIBLE_SECONDS = 4.5
METERING = {"event": "meteringEvent", "payload": {"unit": "credit", "unitPlural": "credits", "usage": 0.001}}
CONTEXT = {"event": "contextUsageEvent", "payload": {"contextUsagePercentage": 1.5}}
#: "before", then ~4.5 s of frames only Kiro and the gateway see (one every 0.5 s), then "after"
INVISIBLE_GAP = directive(
    text=["before"],
    events=[METERING, CONTEXT] * 4 + [{"event": "assistantResponseEvent", "payload": {"content": " after"}}],
    delay_ms=500,
)


@pytest.fixture
def pinging_router(stack: Stack) -> Iterator[ServiceProcess]:
    """A router in front of a gateway that pings after 1 s without a byte to the client."""
    gateway = stack.start_gateway(PING_INTERVAL=str(PING_INTERVAL))
    yield stack.start_router(gateway.url)


async def _gaps(
    url: str, path: str, headers: dict[str, str], body: dict[str, object]
) -> tuple[list[float], str]:
    """Seconds between consecutive byte arrivals (from the request on), and the body received."""
    arrivals: list[float] = []
    received: list[bytes] = []
    started = time.monotonic()
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", url + path, json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            arrivals.append(time.monotonic())
            received.append(chunk)
    times = [started, *arrivals]
    return [b - a for a, b in itertools.pairwise(times)], b"".join(received).decode()


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
async def test_frames_the_client_never_sees_do_not_hold_back_pings(
    stack: Stack, seeder: Seeder, pinging_router: ServiceProcess, protocol: str
) -> None:
    await seeder.account()
    key = await seeder.client_key()
    message = [{"role": "user", "content": INVISIBLE_GAP}]
    if protocol == "anthropic":
        path, headers = "/v1/messages", {"x-api-key": key, "anthropic-version": "2023-06-01"}
        body: dict[str, object] = {"model": "claude-sonnet-4.5", "max_tokens": 64, "stream": True}
        ping = "event: ping"
    else:
        path, headers = "/v1/chat/completions", {"authorization": f"Bearer {key}"}
        body = {"model": "claude-sonnet-4.5", "stream": True}
        ping = ": ping"

    gaps, text = await _gaps(pinging_router.url, path, headers, {**body, "messages": message})

    assert "before" in text and "after" in text
    # no silence comes near the invisible stretch (half of it leaves a busy machine a second of slack)
    assert max(gaps) < INVISIBLE_SECONDS / 2, [round(g, 2) for g in gaps]
    assert text.count(ping) >= 3  # ~4.5 s of invisible frames at one ping a second
