"""A client (or the router) that leaves before the first byte stops the gateway's Kiro call at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.support import Emulator, start_gateway
from tests.support.polling import wait_until
from tests.support.procs import ServiceProcess


@pytest.fixture(scope="module")
def patient(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """A gateway that would keep retrying a failing Kiro for ~6 s (20 attempts, 0.2 s each + backoff)."""
    proc = start_gateway(
        emulator.url, RETRY_ATTEMPTS="20", RETRY_BASE_DELAY="0.1", RETRY_MAX_DELAY="0.1", PING_INTERVAL="30"
    )
    yield proc
    proc.stop()


def _chat_calls(emu: Emulator, name: str) -> int:
    counts = emu.counts(name)
    return counts.get("chat_codewhisperer", 0) + counts.get("chat_amazonq", 0)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_before_the_first_byte_stops_every_retry(
    patient: ServiceProcess, emu: Emulator, stream: bool
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=0, kind="server_error", first_byte_delay_ms=200)
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "stream": stream,
        "messages": [{"role": "user", "content": "anyone there?"}],
    }
    abandoned = patient.count_in_logs("Kiro call abandoned")
    with pytest.raises(httpx.ReadTimeout):  # the client gives up after 1 s and closes its connection
        httpx.post(f"{patient.url}/v1/messages", json=body, headers=account.headers(), timeout=1.0)
    assert _chat_calls(emu, account.name) >= 2  # the gateway was retrying

    wait_until(lambda: patient.count_in_logs("Kiro call abandoned") > abandoned, what="the call abandoned")
    settled = _chat_calls(emu, account.name)
    time.sleep(0.6)  # not sync: nothing may happen here; two of the gateway's retry cycles (0.1 s + 0.2 s)
    later = _chat_calls(emu, account.name)
    print(f"\nchat attempts: {settled} when the call was abandoned, {later} 0.6 s later (stream={stream})")
    assert settled < 20, "the gateway ran every retry for a client that had left"
    assert later == settled, "the gateway kept calling Kiro for a client that had left"
