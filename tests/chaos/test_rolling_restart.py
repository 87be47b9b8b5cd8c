"""Fault suite 5: rolling restart of one router and one gateway replica under steady streaming load.

Topology, as compose and Kubernetes run it: clients → HAProxy (http, health-checked on /ready, like
deploy/haproxy) → two routers → ONE gateway URL → HAProxy (tcp, round robin, checked on /ready, no
retries: what a Kubernetes Service does) → three gateway replicas → the emulator. Gateways keep the
default `SHUTDOWN_DELAY_SECONDS=0`, so the restarted replica refuses connections the balancer still sends
it until its checks notice. Goals: 0 client-visible resets (no stream here outlives the drain window);
readiness 503 ≤ 1 s after SIGTERM (a figure; asserted: the router says not-ready before it closes);
the other router never reports not-ready.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from services.kiro_emulator.control import EmulatorControl, directive
from tests.chaos.conftest import figure
from tests.deploy.tools import tool
from tests.router.stack import Seeder, Stack
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, free_port
from tests.support.redis_server import PrivateRedis

CLIENTS = 20
STREAMS_BETWEEN = 2 * CLIENTS  # streams completed before, between and after the restarts
ANTHROPIC = {"anthropic-version": "2023-06-01"}


def _config(router_lb: int, routers: list[int], gateway_lb: int, gateways: list[int]) -> str:
    router_servers = "\n".join(f"    server router{n} 127.0.0.1:{p}" for n, p in enumerate(routers))
    gateway_servers = "\n".join(f"    server gateway{n} 127.0.0.1:{p}" for n, p in enumerate(gateways))
    return f"""
global
    maxconn 1000

defaults
    timeout connect 5s
    timeout client 660s
    timeout server 660s
    timeout http-request 30s
    timeout http-keep-alive 60s

frontend clients
    mode http
    bind 127.0.0.1:{router_lb}
    default_backend routers

backend routers
    mode http
    balance leastconn
    option http-no-delay
    option httpchk GET /ready
    http-check expect status 200
    default-server check inter 250ms fall 2 rise 2
{router_servers}

frontend gateway_service
    mode tcp
    bind 127.0.0.1:{gateway_lb}
    default_backend gateways

backend gateways
    mode tcp
    balance roundrobin
    retries 0
    option httpchk GET /ready
    http-check expect status 200
    default-server check inter 500ms fall 2 rise 2
{gateway_servers}
"""


@dataclass
class Topology:
    env: dict[str, str]
    router_url: str
    routers: list[ServiceProcess]
    gateways: list[ServiceProcess]
    stack: Stack
    restarted: list[ServiceProcess] = field(default_factory=list)


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return
        except httpx.HTTPError:
            assert proc.poll() is None, "haproxy exited"
            assert time.monotonic() < deadline, "haproxy did not listen"
            time.sleep(0.05)


@pytest.fixture
def topology(
    private_redis: PrivateRedis, secret_key: str, emulator: ServiceProcess, tmp_path: Path
) -> Iterator[Topology]:
    prefix = f"roll:{uuid.uuid4().hex[:8]}:"
    env = {
        "REDIS_URL": private_redis.url,
        "REDIS_KEY_PREFIX": prefix,
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": "chaos-internal-" + uuid.uuid4().hex,
        "LOG_LEVEL": "INFO",
        "GATEWAY_HEALTH_INTERVAL_SECONDS": "1",
        "RUNTIME_SETTINGS_TTL_SECONDS": "0",
    }
    router_lb, gateway_lb = free_port(), free_port()
    gateway_env = {**env, "KIRO_EMULATOR_URL": emulator.url}
    router_env = {**env, "GATEWAY_URLS": f"http://127.0.0.1:{gateway_lb}", "SHUTDOWN_DELAY_SECONDS": "1"}
    gateways = [ServiceProcess("services.gateway", env=gateway_env, name=f"gateway{n}") for n in range(3)]
    routers = [ServiceProcess("services.router", env=router_env, name=f"router{n}") for n in range(2)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(_config(router_lb, [r.port for r in routers], gateway_lb, [g.port for g in gateways]))
    balancer: subprocess.Popen[bytes] | None = None
    stack = Stack(prefix, secret_key, env, emulator, gateways[0], routers, EmulatorControl(emulator.url))
    topo = Topology(env, f"http://127.0.0.1:{router_lb}", routers, gateways, stack)
    try:
        for proc in gateways:
            proc.start()
        balancer = subprocess.Popen([tool("haproxy"), "-f", str(config)], stderr=subprocess.DEVNULL)
        _wait_port(gateway_lb, balancer)
        for proc in routers:
            proc.start()
        yield topo
    finally:
        for proc in [*topo.restarted, *routers, *gateways]:
            proc.stop()
        if balancer is not None:
            balancer.terminate()
            balancer.wait(5)
        stack.control.close()


@pytest.fixture
async def seeder(topology: Topology, private_redis: PrivateRedis) -> AsyncIterator[Seeder]:
    client = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
    yield Seeder(topology.stack, client)
    await client.aclose()


@dataclass
class Load:
    sent: int = 0
    completed: int = 0
    failures: list[str] = field(default_factory=list)


async def _client(url: str, key: str, stop: asyncio.Event, load: Load) -> None:
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": directive(text="s" * 200, chunks=10, delay_ms=60)}],
    }
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            load.sent += 1
            try:
                async with client.stream(
                    "POST", url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC}
                ) as response:
                    raw = await response.aread()
                if response.status_code != 200:
                    load.failures.append(f"{response.status_code} {raw[:200]!r}")
                elif b"message_stop" not in raw:
                    load.failures.append(f"incomplete stream {raw[-200:]!r}")
                else:
                    load.completed += 1
            except httpx.HTTPError as exc:
                load.failures.append(f"{time.monotonic():.2f} {exc!r}")


async def _watch_ready(url: str, stop: asyncio.Event, not_ready: list[str]) -> None:
    """Poll `/ready` every 100 ms; record every answer that is not 200."""
    async with httpx.AsyncClient(timeout=2) as client:
        while not stop.is_set():
            try:
                answer = await client.get(url + "/ready")
                if answer.status_code != 200:
                    not_ready.append(answer.text)
            except httpx.HTTPError as exc:
                not_ready.append(repr(exc))
            await asyncio.sleep(0.1)


def _log(proc: ServiceProcess) -> str:
    """The output of a process, stopped or not."""
    return Path(proc.log_file.name).read_text(errors="replace")


async def _restart(proc: ServiceProcess, topology: Topology) -> tuple[float, bool, ServiceProcess]:
    """SIGTERM `proc`; returns how long its /ready kept answering 200, whether it then answered not-ready
    (rather than being gone already), and its replacement (same port)."""
    async with httpx.AsyncClient(timeout=1) as client:
        proc.signal(signal.SIGTERM)
        sent = time.monotonic()
        while True:
            try:
                said_not_ready = (await client.get(proc.url + "/ready")).status_code != 200
                if said_not_ready:
                    break
            except httpx.HTTPError:
                said_not_ready = False
                break
            await asyncio.sleep(0.02)
        ready_for = time.monotonic() - sent
    assert proc.proc is not None
    await asyncio.to_thread(proc.proc.wait, 40)  # on its own: a second SIGTERM would skip the delay
    proc.stop()
    replacement = ServiceProcess(proc.module, env=proc.env, port=proc.port, name=proc.name + "-new")
    topology.restarted.append(replacement)
    await asyncio.to_thread(replacement.start)
    return ready_for, said_not_ready, replacement


async def test_rolling_restart_of_a_router_and_a_gateway_replica_under_load_resets_nothing(
    topology: Topology, seeder: Seeder
) -> None:
    for _ in range(5):
        await seeder.account()
    key = await seeder.client_key()
    load = Load()
    other_not_ready: list[str] = []
    stop, watching = asyncio.Event(), asyncio.Event()
    clients = [asyncio.create_task(_client(topology.router_url, key, stop, load)) for _ in range(CLIENTS)]
    watcher = asyncio.create_task(_watch_ready(topology.routers[1].url, watching, other_not_ready))

    # each restart meets steady load: streams complete before it, between the two and after both
    await _more_completed(load, STREAMS_BETWEEN)
    gateway_ready_for, _, _ = await _restart(topology.gateways[1], topology)
    await _more_completed(load, STREAMS_BETWEEN)
    router_ready_for, router_said_not_ready, _ = await _restart(topology.routers[0], topology)
    await _more_completed(load, STREAMS_BETWEEN)
    stop.set()
    await asyncio.gather(*clients)
    watching.set()
    await watcher

    resets = len(load.failures)
    retried = sum(_log(p).count("gateway unreachable") for p in [*topology.routers, *topology.restarted])
    figure("rolling-restart", "requests sent", load.sent)
    figure("rolling-restart", "streams completed", load.completed)
    figure("rolling-restart", "client-visible resets or errors", resets, "0")
    figure("rolling-restart", "router readiness 503 after SIGTERM (s)", round(router_ready_for, 3), "≤ 1")
    figure("rolling-restart", "gateway readiness gone after SIGTERM (s)", round(gateway_ready_for, 3), "≤ 1")
    figure("rolling-restart", "not-ready answers of the other router", len(other_not_ready), "0")
    figure("rolling-restart", "gateway connections refused or reset, retried by the routers", retried)
    assert load.completed >= 3 * STREAMS_BETWEEN, load
    assert resets == 0, load.failures[:10]
    # not-ready while it drains (SHUTDOWN_DELAY_SECONDS=1), before it stops listening: the balancer's
    # checks learn it from /ready, not from refused connections
    assert router_said_not_ready
    assert other_not_ready == []


async def _more_completed(load: Load, streams: int) -> None:
    target = load.completed + streams
    await wait_for(
        lambda: asyncio.sleep(0, load.completed >= target), within=60, what=f"{streams} more streams"
    )
