"""The load balancer in front of the routers (compose): valid config, streams pass unbuffered, drains."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web

from tests.deploy.tools import ROOT, run, tool
from tests.support.polling import wait_for, wait_until
from tests.support.procs import ServiceProcess, free_port

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def test_haproxy_accepts_the_config() -> None:
    result = run([tool("haproxy"), "-c", "-f", str(CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(CONFIG.read_text().replace("balance leastconn", "balance fewest"))
    assert run([tool("haproxy"), "-c", "-f", str(broken)]).returncode != 0


def test_routers_are_found_by_service_dns_and_checked_on_ready() -> None:
    text = CONFIG.read_text()
    assert re.search(r"^\s*server-template router \d+ router:8088\b", text, re.M)
    assert re.search(r"^\s*option httpchk GET /ready$", text, re.M)
    assert re.search(r"default-server .*\bresolvers docker\b.*\binit-addr none\b", text)


@dataclass
class FakeRouter:
    """A router stand-in: /ready answers `ready`, /stream sends numbered chunks with pauses; with
    `?hold=1` it holds the rest of the stream back until `go` is set (or 10 s pass)."""

    name: str
    ready: bool = True
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None
    checks: list[int] = field(default_factory=list)  # the status of each /ready answer
    go: asyncio.Event = field(default_factory=asyncio.Event)
    released: list[bool] = field(default_factory=list)  # per held stream: `go` came before the 10 s

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/stream", self._stream)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _ready(self, request: web.Request) -> web.Response:
        self.checks.append(200 if self.ready else 503)
        return web.Response(status=self.checks[-1])

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "x-router": self.name})
        await response.prepare(request)
        for n in range(int(request.query.get("chunks", "4"))):
            if n == 1 and request.query.get("hold"):
                try:
                    await asyncio.wait_for(self.go.wait(), 10)
                    self.released.append(True)
                except TimeoutError:
                    self.released.append(False)
            elif n:
                await asyncio.sleep(0.3)  # not sync: a stream's pace
            await response.write(f"data: {n}\n\n".encode())
        await response.write_eof()
        return response


def local_config(routers: list[FakeRouter], port: int) -> str:
    """The real config with Docker DNS replaced by the local routers and fast health checks."""
    text = CONFIG.read_text()
    text = re.sub(r"(?ms)^resolvers docker\n.*?(?=^\S)", "", text)
    text = text.replace("bind :8088", f"bind 127.0.0.1:{port}")
    text = text.replace("log stdout format raw local0 info", "")
    text = re.sub(r"maxconn \d+", "maxconn 1000", text)  # this machine's file limit is lower than Docker's
    text = re.sub(r"default-server .*", "default-server check inter 100ms fall 1 rise 1", text)
    servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port}" for r in routers)
    return re.sub(r"^\s*server-template .*$", servers, text, flags=re.M)


@pytest.fixture
async def routers() -> AsyncIterator[list[FakeRouter]]:
    started = [FakeRouter("r1"), FakeRouter("r2")]
    for router in started:
        await router.start()
    yield started
    for router in started:
        assert router.runner is not None
        await router.runner.cleanup()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def balancer(routers: list[FakeRouter], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(local_config(routers, port))
    proc = subprocess.Popen([tool("haproxy"), "-f", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not port_open(port):
        assert proc.poll() is None, "haproxy exited"
        assert time.monotonic() < deadline, "haproxy did not listen"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)


async def test_streams_pass_through_the_balancer_unbuffered(balancer: str, routers: list[FakeRouter]) -> None:
    await wait_for(lambda: _balancer_ready(balancer), what="the first health checks")
    async with aiohttp.ClientSession() as session, session.get(balancer + "/stream?hold=1") as response:
        first = await response.content.readuntil(b"\n\n")
        for router in routers:  # the backend holds the rest back until the client has chunk 0
            router.go.set()
        rest = await response.read()
    assert first == b"data: 0\n\n"
    assert rest.count(b"data:") == 3
    # a buffering balancer would deliver chunk 0 only with the end: the backend waited for `go` in vain
    assert [r for router in routers for r in router.released] == [True]


async def _balancer_ready(balancer: str) -> bool:
    async with aiohttp.ClientSession() as session, session.get(balancer + "/ready") as response:
        return response.status == 200


async def test_a_router_whose_ready_fails_gets_no_new_requests(
    balancer: str, routers: list[FakeRouter]
) -> None:
    routers[0].ready = False
    failed = len(routers[0].checks)
    # two failed checks: haproxy has acted on the first (fall 1) by the time it sends the second
    await wait_for(lambda: asyncio.sleep(0, routers[0].checks[failed:].count(503) >= 2), what="failed checks")
    async with aiohttp.ClientSession() as session:
        served_by = set()
        for _ in range(6):
            async with session.get(balancer + "/stream?chunks=1") as response:
                served_by.add(response.headers["x-router"])
                await response.read()
    assert served_by == {"r2"}


def _up(balancer: str) -> bool:
    try:
        return httpx.get(balancer + "/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def real_router_behind_balancer(stack_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real router (with its gateway) behind the real balancer config: (balancer URL, admin password)."""
    with ServiceProcess("services.gateway", env=stack_env, name="gateway") as gateway:
        env = {**stack_env, "GATEWAY_URLS": gateway.url}
        with ServiceProcess("services.router", env=env, name="router") as router:
            port = free_port()
            config = tmp_path / "haproxy.cfg"
            config.write_text(local_config([FakeRouter("router", port=router.port)], port))
            proc = subprocess.Popen([tool("haproxy"), "-f", str(config)], stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while not port_open(port):
                    assert proc.poll() is None and time.monotonic() < deadline, "haproxy did not listen"
                    time.sleep(0.05)
                # the first health check marks the router up
                wait_until(lambda: _up(f"http://127.0.0.1:{port}"), what="the router marked up")
                yield f"http://127.0.0.1:{port}", stack_env["ADMIN_PASSWORD"]
            finally:
                proc.terminate()
                proc.wait(5)


async def test_login_limits_behind_the_balancer_count_each_client_not_the_balancer(
    real_router_behind_balancer: tuple[str, str],
) -> None:
    url, password = real_router_behind_balancer

    async def login(address: str, attempt: str) -> int:
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(url + "/admin/api/login", json={"password": attempt}) as answer,
        ):
            return answer.status

    wrong = [await login("127.0.0.2", f"guess-{n}") for n in range(11)]
    assert wrong[:10] == [401] * 10 and wrong[10] == 429  # that client has spent its failures
    # another client behind the same balancer is not that client: the admin still gets in
    assert await login("127.0.0.3", password) == 200
