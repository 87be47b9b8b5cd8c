"""WORKERS=2: one port served by two worker processes, one `/metrics` that counts what both served."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from bench.load import Scenario
from bench.stack import children
from services.kiro_emulator.control import EmulatorControl, unique_name
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, free_port

pytestmark = pytest.mark.e2e

INTERNAL_KEY = "deploy-workers-key"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it has already exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def served_by_pid(metrics_dir: Path, metric: str, files: str = "counter") -> dict[int, float]:
    """What each worker wrote for `metric` (summed over labels), from its own metric file."""
    served: dict[int, float] = {}
    for path in metrics_dir.glob(f"{files}_*.db"):
        pid = int(re.findall(r"_(\d+)\.db$", path.name)[0])
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == metric:
                served[pid] = served.get(pid, 0.0) + value
    return served


def scraped_total(exposition: str, metric: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == metric
    )


async def get_text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        assert response.status == 200
        return await response.text()


@pytest.fixture
def gateway_env(emulator: ServiceProcess, tmp_path: Path) -> dict[str, str]:
    return {
        "KIRO_EMULATOR_URL": emulator.url,
        "INTERNAL_API_KEY": INTERNAL_KEY,
        "WORKERS": "2",
        "TMPDIR": str(tmp_path),  # where the supervisor makes its private directory of metric files
    }


def metric_dirs(tmp_path: Path, service: str) -> list[Path]:
    """The directories of per-worker metric files supervisors of `service` made under TMPDIR."""
    return list(tmp_path.glob(f"kiro-{service}-metrics-*"))


def files_of(tmp_path: Path, service: str) -> Path:
    (found,) = metric_dirs(tmp_path, service)
    return found


@pytest.fixture
def access_token(emulator: ServiceProcess) -> str:
    with EmulatorControl(emulator.url) as control:
        return str(control.register_account(unique_name("workers"), auth_kind="social")["access_token"])


@pytest.fixture
def gateway(gateway_env: dict[str, str]) -> Iterator[ServiceProcess]:
    with ServiceProcess("services.gateway", env=gateway_env, name="gateway") as proc:
        yield proc


def message_headers(access_token: str) -> dict[str, str]:
    return {
        "x-internal-key": INTERNAL_KEY,
        "x-kiro-access-token": access_token,
        "anthropic-version": "2023-06-01",
    }


async def test_gateway_workers_both_serve_and_metrics_count_every_request(
    gateway: ServiceProcess, tmp_path: Path, access_token: str
) -> None:
    assert gateway.proc is not None
    supervisor = gateway.proc.pid
    workers = await wait_for(lambda: _two(children(supervisor)), what="two worker processes")
    metrics_dir = files_of(tmp_path, "gateway")
    body = {"model": "claude-sonnet-4.5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    sent = 0
    # a fresh connection per request: the kernel hands each to whichever worker accepts it first
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:

        async def one() -> None:
            async with session.post(
                gateway.url + "/v1/messages", json=body, headers=message_headers(access_token)
            ) as response:
                assert response.status == 200, await response.text()

        async def both_served() -> bool:
            nonlocal sent
            await asyncio.gather(*(one() for _ in range(8)))
            sent += 8
            served = served_by_pid(metrics_dir, "kiro_gateway_requests_total")
            return set(served) == workers and all(served.values())

        await wait_for(both_served, within=30, what="requests served by both workers")
        for _ in range(4):  # whichever worker answers the scrape reports both workers' counts
            exposition = await get_text(session, gateway.url + "/metrics")
            assert scraped_total(exposition, "kiro_gateway_requests_total") == sent
        pids = {
            int(sample.labels["pid"])
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
            if sample.name == "process_resident_memory_bytes"
        }
        assert pids == workers

        # a worker killed outright is replaced; what it had counted is still counted
        killed = next(iter(workers))
        os.kill(killed, signal.SIGKILL)
        replaced = await wait_for(
            lambda: _two(children(supervisor) - {killed}),
            what="a replacement worker",
        )
        assert killed not in replaced
        await one()
        exposition = await get_text(session, gateway.url + "/metrics")
        assert scraped_total(exposition, "kiro_gateway_requests_total") == sent + 1


async def _two(pids: set[int]) -> set[int] | None:
    return pids if len(pids) == 2 else None


def mapped_files(pid: int) -> str:
    """The files a process has mapped (shared libraries included), as /proc lists them."""
    return Path(f"/proc/{pid}/maps").read_text()


async def test_router_workers_share_the_metrics_port_and_sum_their_counters(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = {
        **stack_env,
        "WORKERS": "2",
        "METRICS_PORT": str(metrics_port),
        "GATEWAY_URLS": f"http://127.0.0.1:{free_port()}",
        "TMPDIR": str(tmp_path),
    }
    with ServiceProcess("services.router", env=env, name="router") as router:
        assert router.proc is not None
        supervisor = router.proc.pid
        workers = await wait_for(lambda: _two(children(supervisor)), what="two worker processes")
        # cryptography (every worker decrypts tokens) is loaded before the fork: its pages are shared
        assert "cryptography" in mapped_files(supervisor)
        sent = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:

            async def refused() -> None:
                async with session.post(router.url + "/v1/messages", json={}) as response:
                    assert response.status == 401

            async def both_refused() -> bool:
                nonlocal sent
                await asyncio.gather(*(refused() for _ in range(8)))
                sent += 8
                counted = served_by_pid(
                    files_of(tmp_path, "router"), "kiro_router_client_key_rejections_total"
                )
                return set(counted) == workers and all(counted.values())

            await wait_for(both_refused, within=30, what="requests refused by both workers")
            for _ in range(4):
                exposition = await get_text(session, f"http://127.0.0.1:{metrics_port}/metrics")
                assert scraped_total(exposition, "kiro_router_client_key_rejections_total") == sent


async def test_sigterm_lets_every_worker_finish_its_streams(
    gateway: ServiceProcess, tmp_path: Path, access_token: str
) -> None:
    assert gateway.proc is not None
    supervisor = gateway.proc.pid
    workers = await wait_for(lambda: _two(children(supervisor)), what="two worker processes")
    metrics_dir = files_of(tmp_path, "gateway")
    slow = Scenario("slow", stream=True, events=20, delay_ms=200)
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "drain\n" + slow.script()}],
    }

    async def stream(session: aiohttp.ClientSession) -> bytes:
        received = b""
        async with session.post(
            gateway.url + "/v1/messages", json=body, headers=message_headers(access_token)
        ) as response:
            assert response.status == 200
            async for chunk in response.content.iter_any():
                received += chunk
        return received

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        streams: list[asyncio.Task[bytes]] = []

        async def both_streaming() -> bool:
            streams.append(asyncio.create_task(stream(session)))
            open_streams = served_by_pid(metrics_dir, "kiro_gateway_inflight_streams", "gauge_livesum")
            return sum(1 for pid in workers if open_streams.get(pid)) == 2

        await wait_for(both_streaming, within=3, what="a stream open on each worker")
        gateway.signal(signal.SIGTERM)
        received = await asyncio.gather(*streams)
    exit_code = await asyncio.to_thread(gateway.proc.wait, 15)
    for one in received:
        assert len(set(re.findall(rb"m(\d{3})\.", one))) == 20, gateway.logs()
        assert b"message_stop" in one
    assert exit_code == 0, gateway.logs()
    assert gateway.count_in_logs("worker stopped") == 2
    assert not any(alive(pid) for pid in workers)
    assert not metric_dirs(tmp_path, "gateway")  # its metric files went with it


async def test_workers_stop_when_their_supervisor_is_killed(gateway: ServiceProcess) -> None:
    """SIGKILL leaves no orphan serving on the port without supervision (and holding it)."""
    assert gateway.proc is not None
    supervisor = gateway.proc.pid
    workers = await wait_for(lambda: _two(children(supervisor)), what="two worker processes")
    gateway.signal(signal.SIGKILL)

    async def all_gone() -> bool:
        return not any(alive(pid) for pid in workers)

    await wait_for(all_gone, within=15, what="the orphaned workers to exit")


def test_a_worker_that_cannot_start_stops_the_service(stack_env: dict[str, str]) -> None:
    """The supervisor does not restart a worker whose app failed to start (here: no Redis) forever: it
    exits 3 and the orchestrator restarts the container, as it would a single process."""
    env = {**stack_env, "WORKERS": "2", "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    router = ServiceProcess("services.router", env=env, name="router", health_path=None).start()
    try:
        assert router.proc is not None
        exit_code = router.proc.wait(30)
        assert exit_code == 3, router.logs()
        assert router.count_in_logs("worker failed to start") >= 1
    finally:
        router.stop()
