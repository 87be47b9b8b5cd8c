"""The gateway's retry budget: a blip is retried, an outage is not multiplied by the retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.support import Emulator, start_gateway
from tests.support.procs import ServiceProcess


@pytest.fixture
def budgeted(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """A gateway of this test's own with the default budget (5 % of calls, at least 3 per 10 s)."""
    proc = start_gateway(emulator.url, RETRY_BUDGET_MIN="3", RETRY_BUDGET_RATIO="0.05")
    yield proc
    proc.stop()


async def _ask(client: httpx.AsyncClient, url: str, headers: dict[str, str], text: str) -> int:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": [{"role": "user", "content": text}]}
    response = await client.post(url + "/v1/messages", json=body, headers=headers)
    return response.status_code


async def test_a_quiet_gateway_retries_a_blip_but_an_outage_gets_about_one_call_per_request(
    budgeted: ServiceProcess, emu: Emulator
) -> None:
    blip, down = emu.account(), emu.account()
    emu.fault(account=blip.name, endpoint="chat", times=1, kind="server_error")
    emu.fault(account=down.name, endpoint="chat", times=0, kind="unavailable")
    requests = 60

    async with httpx.AsyncClient(timeout=30) as client:
        healed = await _ask(client, budgeted.url, blip.headers(), "blip")
        statuses = await asyncio.gather(
            *(_ask(client, budgeted.url, down.headers(), f"outage {i}") for i in range(requests))
        )

    calls = emu.counts(down.name).get("chat_codewhisperer", 0)
    print(f"outage: {calls} Kiro calls for {requests} requests ({calls / requests:.2f} per request)")
    assert healed == 200 and emu.counts(blip.name) == {"chat_codewhisperer": 2}
    assert set(statuses) == {529}
    assert calls <= requests + 3  # the blip's retry used 1 of the minimum 3; 5 % of 61 calls is 3
