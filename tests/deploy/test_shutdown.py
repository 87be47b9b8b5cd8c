"""Rolling updates and scale-downs stop pods with SIGTERM: a gateway must let its open streams finish.

The Kubernetes grace period and compose's stop_grace_period are sized from DRAIN_TIMEOUT_SECONDS; this
checks the gateway really waits that long instead of cutting streams.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time

import aiohttp
import pytest

from bench.load import Scenario
from services.kiro_emulator.control import EmulatorControl, unique_name
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e


async def test_gateway_lets_an_open_stream_finish_after_sigterm(emulator: ServiceProcess) -> None:
    with EmulatorControl(emulator.url) as control:
        account = control.register_account(unique_name("deploy-drain"), auth_kind="social")
    gateway = ServiceProcess(
        "services.gateway",
        env={"KIRO_EMULATOR_URL": emulator.url, "INTERNAL_API_KEY": "deploy-drain-key"},
        name="gateway",
    ).start()
    slow = Scenario("slow", stream=True, events=30, delay_ms=200)  # 6 s: longer than the old fixed 5 s
    headers = {
        "x-internal-key": "deploy-drain-key",
        "x-kiro-access-token": account["access_token"],
        "anthropic-version": "2023-06-01",
    }
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "drain\n" + slow.script()}],
    }
    received = b""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(gateway.url + "/v1/messages", json=body, headers=headers) as response,
        ):
            assert response.status == 200
            started = time.monotonic()
            signalled = False
            async for chunk in response.content.iter_any():
                received += chunk
                if not signalled and time.monotonic() - started > 0.5:
                    gateway.signal(signal.SIGTERM)
                    signalled = True
            assert signalled
        exit_code = await asyncio.to_thread(gateway.proc.wait, 15) if gateway.proc else None
    finally:
        gateway.stop()
    assert len(set(re.findall(rb"m(\d{3})\.", received))) == 30, gateway.logs()
    assert b"message_stop" in received
    # uvicorn re-raises the signal it handled once it is done: exiting by SIGTERM is a clean exit here
    assert exit_code in (0, -signal.SIGTERM)


@pytest.mark.parametrize("service", ["gateway", "router"])
async def test_with_a_shutdown_delay_readiness_fails_first_and_requests_are_still_served(
    service: str, emulator: ServiceProcess, stack_env: dict[str, str]
) -> None:
    """SIGTERM: /ready is 503 at once (balancers stop sending), the listener stays open and serves for
    SHUTDOWN_DELAY_SECONDS (what a balancer still sends is not refused), then the process exits."""
    with EmulatorControl(emulator.url) as control:
        account = control.register_account(unique_name("deploy-delay"), auth_kind="social")
    env = {**stack_env, "INTERNAL_API_KEY": "deploy-delay-key"}
    delayed = {"SHUTDOWN_DELAY_SECONDS": "3"}
    gateway = ServiceProcess(
        "services.gateway",
        env={**env, "KIRO_EMULATOR_URL": emulator.url, **(delayed if service == "gateway" else {})},
        name="gateway",
    ).start()
    router = ServiceProcess(
        "services.router", env={**env, "GATEWAY_URLS": gateway.url, **delayed}, name="router"
    ).start()
    target = gateway if service == "gateway" else router
    body = {"model": "claude-sonnet-4.5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-internal-key": "deploy-delay-key", "x-kiro-access-token": account["access_token"]}
    try:
        async with aiohttp.ClientSession() as session:
            assert await _status(session, target.url + "/ready") == 200
            target.signal(signal.SIGTERM)
            signalled = time.monotonic()
            ready = await _status(session, target.url + "/ready")
            async with session.post(target.url + "/v1/messages", json=body, headers=headers) as response:
                served = response.status
        # it exits on its own after the delay (a hang fails the wait)
        exit_code = await asyncio.to_thread(target.proc.wait, 30) if target.proc else None
        lasted = time.monotonic() - signalled
    finally:
        router.stop()
        gateway.stop()
    assert ready == 503
    # the router needs a client key; a 401 in the client's shape still shows it answered
    assert served == (200 if service == "gateway" else 401)
    assert lasted >= 3.0, lasted  # it served for the whole delay
    assert exit_code in (0, -signal.SIGTERM)


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        return response.status
