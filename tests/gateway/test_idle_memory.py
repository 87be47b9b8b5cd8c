"""After a burst of large requests, an idle gateway gives the memory they left behind back to the kernel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import orjson
import pytest

from tests.gateway.support import Emulator, start_gateway
from tests.support.polling import wait_for
from tests.support.procs import ROOT, ServiceProcess
from tests.support.redis_server import rss_kib

pytestmark = pytest.mark.e2e  # starts a gateway of its own: its heap is this test's alone

#: Claude Code's captured first turn: 76 KB, 24 tools, 3 system blocks
FIRST_TURN = ROOT / "tests" / "fixtures" / "clients" / "claude_code_02_messages_stream_first_turn.json"
MIB_IN_KIB = 1024


@pytest.fixture
def own_gateway(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    proc = start_gateway(emulator.url)
    yield proc
    proc.stop()


async def test_an_idle_gateway_returns_the_heap_a_burst_of_claude_code_turns_left(
    own_gateway: ServiceProcess, emu: Emulator
) -> None:
    assert own_gateway.proc is not None
    pid = own_gateway.proc.pid
    account = emu.account()
    body = orjson.dumps(orjson.loads(FIRST_TURN.read_bytes())["body"])
    headers = account.headers(**{"content-type": "application/json", "anthropic-version": "2023-06-01"})
    gate = asyncio.Semaphore(50)
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with (
                gate,
                session.post(own_gateway.url + "/v1/messages", data=body, headers=headers) as answer,
            ):
                assert answer.status == 200
                await answer.read()

        await asyncio.gather(*(one() for _ in range(400)))
    after_burst, _ = rss_kib(pid)

    async def given_back() -> int | None:
        now, _ = rss_kib(pid)
        return now if now < after_burst - 8 * MIB_IN_KIB else None

    # within a few seconds of the last request (shared.server.IdleTrim); it held on to it before
    await wait_for(given_back, within=15, what="the gateway to give back the burst's memory")
