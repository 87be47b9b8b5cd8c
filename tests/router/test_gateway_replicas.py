"""Three gateway replicas behind one name: the router balances, ejects and readmits per address.

The replicas listen on 127.0.0.2, 127.0.0.3 and 127.0.0.4, all on one port, and the name resolves to
the three of them through the router's `GATEWAY_HOSTS_FILE` (as a headless Service's or compose's DNS
answers with every replica); the emulator is the upstream.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from services.kiro_emulator.control import directive
from tests.router.stack import Seeder, Stack
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, free_port

pytestmark = pytest.mark.e2e

NAME = "kiro-gateways.invalid"  # never in DNS: only the hosts file resolves it
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
ANTHROPIC = {"anthropic-version": "2023-06-01"}


@dataclass
class Replicas:
    stack: Stack
    port: int
    hosts_file: Path
    gateways: dict[str, ServiceProcess] = field(default_factory=dict)
    stopped: list[ServiceProcess] = field(default_factory=list)
    router: ServiceProcess | None = None

    @property
    def router_url(self) -> str:
        assert self.router is not None
        return self.router.url

    def publish(self, *addresses: str) -> None:
        """What the name resolves to from now on (the router reads the file again on each resolution)."""
        self.hosts_file.write_text("".join(f"{a} {NAME}\n" for a in addresses))

    def start_gateway(self, address: str) -> ServiceProcess:
        env = {**self.stack.env, "KIRO_EMULATOR_URL": self.stack.emulator.url}
        proc = ServiceProcess("services.gateway", env=env, port=self.port, host=address, name=f"gw-{address}")
        self.gateways[address] = proc.start()
        return proc

    def stop_gateway(self, address: str) -> None:
        proc = self.gateways.pop(address)
        proc.stop()
        self.stopped.append(proc)


@pytest.fixture
def replicas(stack: Stack, seeder: Seeder, tmp_path: Path) -> Iterator[Replicas]:
    topology = Replicas(stack, free_port(), tmp_path / "hosts")
    try:
        for address in ADDRESSES:
            topology.start_gateway(address)
        topology.publish(*ADDRESSES)
        topology.router = stack.start_router(
            f"http://{NAME}:{topology.port}",
            GATEWAY_HOSTS_FILE=str(topology.hosts_file),
            GATEWAY_HEALTH_INTERVAL_SECONDS="0.5",
            GATEWAY_RESOLVE_INTERVAL_SECONDS="0.5",
            GATEWAY_EJECT_SECONDS="1",
        )
        yield topology
    finally:
        for proc in [*topology.gateways.values(), *topology.stopped]:
            proc.stop()


def _body(content: str = "hi", *, stream: bool = False) -> dict[str, object]:
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 16,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    }


async def _ask(client: httpx.AsyncClient, url: str, key: str) -> int:
    answer = await client.post(url + "/v1/messages", json=_body(), headers={"x-api-key": key, **ANTHROPIC})
    return answer.status_code


def _log(proc: ServiceProcess) -> str:
    """The whole output of a process so far."""
    return Path(proc.log_file.name).read_text(errors="replace")


def _served(proc: ServiceProcess) -> int:
    """Requests the gateway process has finished (its own metrics)."""
    text = httpx.get(proc.url + "/metrics", timeout=5).text
    return int(sum(float(v) for v in re.findall(r"^kiro_gateway_requests_total\{[^}]*\} (\S+)$", text, re.M)))


async def _address_gauge(client: httpx.AsyncClient, url: str, metric: str, address: str) -> float | None:
    text = (await client.get(url + "/metrics")).text
    found = re.search(rf'^{metric}\{{[^}}]*address="{re.escape(address)}"[^}}]*\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


async def test_requests_spread_over_every_replica_and_avoid_the_one_busy_with_a_slow_stream(
    replicas: Replicas, seeder: Seeder
) -> None:
    for _ in range(3):
        await seeder.account()
    key = await seeder.client_key()
    url, gateways = replicas.router_url, replicas.gateways
    async with httpx.AsyncClient(timeout=60) as client:
        before = {a: _served(p) for a, p in gateways.items()}
        statuses = [await _ask(client, url, key) for _ in range(9)]
        spread = {a: _served(p) - before[a] for a, p in gateways.items()}

        slow = asyncio.create_task(
            client.post(
                url + "/v1/messages",
                json=_body(directive(text="s" * 60, chunks=60, delay_ms=250), stream=True),
                headers={"x-api-key": key, **ANTHROPIC},
            )
        )

        async def busy_address() -> str | None:
            for address in ADDRESSES:
                if await _address_gauge(client, url, "kiro_router_gateway_address_inflight", address) == 1:
                    return address
            return None

        busy = await wait_for(busy_address, what="the slow stream to be in flight")
        before = {a: _served(p) for a, p in gateways.items()}
        while_busy = [await _ask(client, url, key) for _ in range(6)]
        during = {a: _served(p) - before[a] for a, p in gateways.items()}
        still_streaming = await busy_address() == busy
        slow.cancel()

    assert statuses == [200] * 9
    assert all(count >= 2 for count in spread.values()), spread
    assert while_busy == [200] * 6
    assert still_streaming
    assert during[busy] == 0, during
    assert all(during[a] >= 2 for a in ADDRESSES if a != busy), during


@dataclass
class Load:
    sent: int = 0
    completed: int = 0
    failures: list[str] = field(default_factory=list)


async def _stream_loop(url: str, key: str, stop: asyncio.Event, load: Load) -> None:
    body = _body(directive(text="s" * 40, chunks=5, delay_ms=40), stream=True)
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            load.sent += 1
            try:
                async with client.stream(
                    "POST", url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC}
                ) as answer:
                    raw = await answer.aread()
            except httpx.HTTPError as exc:
                load.failures.append(repr(exc))
                continue
            if answer.status_code != 200 or b"message_stop" not in raw:
                load.failures.append(f"{answer.status_code} {raw[-200:]!r}")
            else:
                load.completed += 1


async def _watch_ready(url: str, stop: asyncio.Event, answers: list[int]) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.is_set():
            answers.append((await client.get(url + "/ready")).status_code)
            await asyncio.sleep(0.1)


async def test_a_replica_restarting_under_load_costs_no_request_and_the_router_stays_ready(
    replicas: Replicas, seeder: Seeder
) -> None:
    for _ in range(3):
        await seeder.account()
    key = await seeder.client_key()
    url = replicas.router_url
    load, ready, stop = Load(), list[int](), asyncio.Event()
    tasks = [asyncio.create_task(_stream_loop(url, key, stop, load)) for _ in range(6)]
    watcher = asyncio.create_task(_watch_ready(url, stop, ready))
    restarted = "127.0.0.3"
    async with httpx.AsyncClient(timeout=10) as client:
        await wait_for(lambda: asyncio.sleep(0.2, load.completed >= 12), what="steady load")
        old = replicas.gateways[restarted]
        old.signal(signal.SIGTERM)
        assert old.proc is not None
        await asyncio.to_thread(old.proc.wait, 40)
        down_at = time.monotonic()
        replicas.stop_gateway(restarted)
        await asyncio.to_thread(replicas.start_gateway, restarted)
        up_at = time.monotonic()

        async def readmitted() -> bool:
            gauge = "kiro_router_gateway_address_up"
            return await _address_gauge(client, url, gauge, restarted) == 1

        await wait_for(readmitted, what="the restarted replica to be readmitted")
        readmitted_after = time.monotonic() - up_at
        served_before = _served(replicas.gateways[restarted])
        await wait_for(
            lambda: asyncio.sleep(0.2, _served(replicas.gateways[restarted]) > served_before),
            what="load on the restarted replica",
        )
    stop.set()
    await asyncio.gather(*tasks, watcher)
    assert replicas.router is not None
    retried = _log(replicas.router).count("gateway unreachable")
    print(
        f"FIGURE gateway restart under load: sent={load.sent} completed={load.completed} "
        f"failed={len(load.failures)} connections failed over={retried} "
        f"replica down for {up_at - down_at:.2f}s, readmitted {readmitted_after:.2f}s after it listened; "
        f"/ready answers={len(ready)} not 200={sum(s != 200 for s in ready)}"
    )
    assert load.failures == []
    assert set(ready) == {200}


async def test_a_dead_replica_is_ejected_and_readmitted_once_it_is_back(
    replicas: Replicas, seeder: Seeder
) -> None:
    await seeder.account()
    key = await seeder.client_key()
    url, dead = replicas.router_url, "127.0.0.4"
    gauge = "kiro_router_gateway_address_up"
    async with httpx.AsyncClient(timeout=30) as client:
        replicas.stop_gateway(dead)
        stopped_at = time.monotonic()
        while_dying = [await _ask(client, url, key) for _ in range(6)]

        async def ejected() -> bool:
            return await _address_gauge(client, url, gauge, dead) == 0

        await wait_for(ejected, what="the dead replica to be ejected")
        eject_after = time.monotonic() - stopped_at
        while_ejected = [await _ask(client, url, key) for _ in range(4)]
        ready_while_ejected = (await client.get(url + "/ready")).status_code

        await asyncio.to_thread(replicas.start_gateway, dead)
        back_at = time.monotonic()

        async def readmitted() -> bool:
            return await _address_gauge(client, url, gauge, dead) == 1

        await wait_for(readmitted, what="the replica to be readmitted")
        readmit_after = time.monotonic() - back_at
        after = [await _ask(client, url, key) for _ in range(6)]
        served_by_returned = _served(replicas.gateways[dead])
    print(
        f"FIGURE dead replica: ejected {eject_after:.2f}s after it stopped, "
        f"readmitted {readmit_after:.2f}s after it listened"
    )
    assert while_dying == [200] * 6
    assert while_ejected == [200] * 4
    assert ready_while_ejected == 200
    assert after == [200] * 6
    assert served_by_returned >= 1


async def test_the_name_is_resolved_again_and_kept_when_resolution_fails(
    replicas: Replicas, seeder: Seeder
) -> None:
    await seeder.account()
    key = await seeder.client_key()
    url, leaving = replicas.router_url, "127.0.0.4"
    inflight = "kiro_router_gateway_address_inflight"
    async with httpx.AsyncClient(timeout=30) as client:
        replicas.publish("127.0.0.2", "127.0.0.3")

        async def forgotten() -> bool:
            return await _address_gauge(client, url, inflight, leaving) is None

        await wait_for(forgotten, what="the router to drop the address the name no longer gives")
        before = _served(replicas.gateways[leaving])
        without = [await _ask(client, url, key) for _ in range(6)]
        served_without = _served(replicas.gateways[leaving]) - before

        replicas.publish(*ADDRESSES)

        async def known() -> bool:
            return await _address_gauge(client, url, inflight, leaving) is not None

        await wait_for(known, what="the router to pick up the new address")
        before = _served(replicas.gateways[leaving])
        with_it = [await _ask(client, url, key) for _ in range(6)]
        served_with = _served(replicas.gateways[leaving]) - before

        replicas.hosts_file.unlink()  # resolution fails from now on
        router = replicas.router
        assert router is not None
        await wait_for(
            lambda: asyncio.sleep(0.1, "gateway name not resolved" in _log(router)),
            what="a failed resolution",
        )
        before = _served(replicas.gateways[leaving])
        unresolved = [await _ask(client, url, key) for _ in range(6)]
        served_unresolved = _served(replicas.gateways[leaving]) - before
        ready = (await client.get(url + "/ready")).status_code

    assert without == with_it == unresolved == [200] * 6
    assert served_without == 0
    assert served_with >= 1
    assert served_unresolved >= 1
    assert ready == 200
