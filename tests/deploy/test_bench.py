"""The benchmark harness measures what it claims: first content, lost events, percentiles, profiles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis as sync_redis
from aiohttp import web

from bench import report
from bench.load import Job, Scenario, Target, _run
from bench.profile import summarize as summarize_profile
from bench.stats import percentile, summarize
from tests.support.procs import ROOT, free_port

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

STREAM = Scenario("stream5", stream=True, events=5)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """Streams the markers of 5 events, 50 ms apart, dropping event 3 (`x-drop: 1`) or sending it before
    event 2 (`x-swap: 1`) when asked to."""
    seen = {"requests": 0}

    async def answer(request: web.Request) -> web.StreamResponse:
        seen["requests"] += 1
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"event: message_start\n\n")
        await asyncio.sleep(0.05)  # not sync: the upstream's pace the load client measures
        order = [0, 1, 3, 2, 4] if request.headers.get("x-swap") else range(5)
        for n in order:
            if n == 3 and request.headers.get("x-drop"):
                continue
            await response.write(f'data: {{"text":"m{n:03d}."}}\n\n'.encode())
            await asyncio.sleep(0.05)  # not sync: the upstream's pace
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


def job(base: str, duration: float = 0.3, headers: tuple[tuple[str, str], ...] = ()) -> Job:
    target = Target("t", (base,), headers, "anthropic")
    return Job(target, STREAM, concurrency=2, start_at=time.time(), warmup=0.0, duration=duration, worker=0)


async def test_load_client_times_first_content_not_first_byte(upstream: tuple[str, dict[str, int]]) -> None:
    base, _ = upstream
    samples = await _run(job(base))
    assert samples
    ok, status, first_byte, first_content, total, lost, measured, reordered = samples[0]
    assert ok and status == 200 and measured
    # message_start at once, the first marker 50 ms later (the upstream's pause), long before the end
    assert first_content - first_byte >= 0.04
    assert first_content < total
    assert lost == 0 and reordered == 0


async def test_load_client_counts_events_lost_on_the_way(upstream: tuple[str, dict[str, int]]) -> None:
    base, _ = upstream
    samples = await _run(job(base, duration=0.2, headers=(("x-drop", "1"),)))
    assert samples
    assert all(s[0] and s[5] == 1 for s in samples)


async def test_load_client_counts_events_out_of_order(upstream: tuple[str, dict[str, int]]) -> None:
    base, _ = upstream
    samples = await _run(job(base, duration=0.2, headers=(("x-swap", "1"),)))
    assert samples
    assert all(s[0] and s[5] == 0 and s[7] == 1 for s in samples)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 99) == 0.0


def test_summary_leaves_out_warmup_and_counts_errors_apart() -> None:
    samples = [
        (True, 200, 0.001, 0.002, 0.01, 0, True, 0),
        (True, 200, 0.001, 0.004, 0.01, 1, True, 2),
        (False, 503, 0.0, 0.0, 0.01, 50, True, 0),
        (True, 200, 0.5, 0.9, 1.0, 0, False, 1),  # warm-up: ignored
    ]
    row = summarize(samples, duration=2.0)
    assert (row["requests"], row["ok"], row["errors"], row["events_lost"]) == (3, 2, 1, 1)
    assert row["events_reordered"] == 2
    assert row["error_statuses"] == {"503": 1}
    assert row["ttft_p99_ms"] == 4.0
    assert row["throughput_rps"] == 1.0


def test_closed_loop_throughput_follows_littles_law() -> None:
    # 10 loops, answers of 2 s: 5 per second, however few answers started in a short window
    samples = [(True, 200, 0.001, 0.002, 2.0, 0, True, 0)] * 7 + [(False, 502, 0.0, 0.0, 0.5, 50, True, 0)]
    row = summarize(samples, duration=1.0, closed_loop=10)
    assert row["throughput_rps"] == round(10 * 7 / 8 / 2.0, 1)


def test_goals_compare_the_router_hop_with_the_gateway_alone() -> None:
    def row(target: str, ttft: float, rps: float, scenario: str = "stream50") -> dict[str, object]:
        base = {"scenario": scenario, "concurrency": 1, "target": target, "events_lost": 0}
        return base | {"ttft_p50_ms": ttft, "ttft_p99_ms": ttft * 2, "throughput_rps": rps}

    paced = report.PACED_SCENARIO
    results = report.with_ratios(
        [
            *(row("direct", 1.0, 1000), row("gateway", 1.5, 800), row("router", 3.0, 400)),
            *(row("direct", 30.0, 200, paced), row("router", 33.0, 190, paced)),
        ]
    )
    checks = {c["goal"]: c for c in report.goals(results, None, {"router-1": 70.0, "gateway": 90.0})}
    hop = checks["router hop p50 ms (stream50, c=1)"]
    assert hop["value"] == 1.5 and not hop["ok"]
    gateway = checks["gateway added p50 ms (stream50, c=1)"]
    assert gateway["value"] == 0.5 and gateway["ok"]
    assert checks["stack added p50 ms (stream50, c=1)"]["value"] == 2.0
    unpaced = checks["router+gateway throughput / direct (upstream answers at once, CPU-bound)"]
    assert unpaced["value"] == 0.4 and not unpaced["ok"]
    assert checks[f"router+gateway throughput / direct ({report.PACED_LABEL})"]["value"] == 0.95
    assert checks["router-1 idle RSS MiB"]["ok"] and not checks["gateway idle RSS MiB"]["ok"]


def test_the_two_worker_point_counts_every_worker_and_compares_with_one_worker() -> None:
    def row(target: str, rps: float, cpu: dict[str, float]) -> dict[str, object]:
        base = {"scenario": "stream50", "concurrency": 200, "target": target, "events_lost": 0}
        return base | {
            "ttft_p50_ms": 5.0,
            "ttft_p99_ms": 9.0,
            "throughput_rps": rps,
            "cpu_ms_per_request": cpu,
        }

    one = {"router-1": 0.5, "gateway": 1.0, "emulator": 0.2, "w2-router/0": 0.01}
    two = {"router-1": 0.01, "w2-router": 0.02, "w2-router/0": 0.3, "w2-router/1": 0.3, "w2-gateway/1": 1.1}
    results = report.with_worker_ratios(
        report.with_ratios(
            [row("direct", 1000, {}), row("router", 400, one), row(report.WORKERS_TARGET, 600, two)]
        )
    )
    by_target = {r["target"]: r for r in results}
    assert by_target["router"]["stack_cpu_ms_per_request"] == 1.5  # the idle 2-worker processes left out
    assert by_target[report.WORKERS_TARGET]["stack_cpu_ms_per_request"] == 1.72  # supervisor and workers
    assert by_target[report.WORKERS_TARGET]["throughput_vs_1_worker"] == 1.5
    assert by_target[report.WORKERS_TARGET]["throughput_vs_direct"] == 0.6
    shown = report.workers_table(results, {"w2-gateway/1": 80.0, "refresher": 60.0}, {"w2-gateway/1": 50.0})
    assert "idle RSS MiB: w2-gateway/1=80\n" in shown and shown.endswith("w2-gateway/1=50")


def test_profile_summary_adds_up_lines_of_one_function(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (app.py:1);relay (services/router/relay.py:10);encode (starlette/sse.py:5) 30\n"
        "main (app.py:1);relay (services/router/relay.py:12);encode (starlette/sse.py:7) 10\n"
        "main (app.py:1);pick (shared/accounts/pool.py:3) 60\n"
    )
    summary = summarize_profile(
        raw, phases={"relay": ("relay",), "pick or relay": ("pick", "relay"), "none": ("x",)}
    )
    assert summary["samples"] == 100
    assert summary["phases"] == {"relay": 40.0, "pick or relay": 100.0, "none": 0.0}
    assert summary["own_by_package"] == [("shared/accounts", 60.0), ("starlette", 40.0)]
    assert summary["own"][0] == ("pick (pool.py)", 60.0)
    assert ("encode (sse.py)", 40.0) in summary["own"]
    assert ("relay (relay.py)", 40.0) in summary["inclusive"]


def _run_bench(redis_url: str, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` against the test Redis, output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pick_bench_times_picks_on_real_redis_and_leaves_no_keys(redis_url: str) -> None:
    done = _run_bench(redis_url, "bench.pick_bench", "--accounts", "3", "--picks", "100")
    assert done.returncode == 0, done.stderr
    assert "pick, one at a time" in done.stdout and "admission + pick" in done.stdout
    client = sync_redis.Redis.from_url(redis_url)
    try:
        assert not list(client.scan_iter(match="bench-pick-*", count=1000))
    finally:
        client.close()


def test_refresh_bench_gets_every_account_its_first_token(redis_url: str) -> None:
    done = _run_bench(redis_url, "bench.refresh_bench", "--accounts", "5", "--bursts", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "until all active (5/5)" in done.stdout
