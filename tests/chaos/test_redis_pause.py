"""Fault suite 2: Redis paused (SIGSTOP) for 30 s under 50 concurrent clients.

Every request must end within a second of the router's Redis deadline — served, or refused with a 503 an
SDK retries — while the routers' memory and CPU per request stay within twice what they were just before.
"""

from __future__ import annotations

import asyncio
import time

from shared.settings import CommonSettings
from tests.chaos.conftest import figure
from tests.chaos.redis_load import Answer, Load, percentile
from tests.router.stack import Seeder, Stack
from tests.support.redis_server import PrivateRedis, cpu_seconds, rss_kib

TEST = "chaos2_redis_paused"
#: REDIS_COMMAND_TIMEOUT's default: what a request may wait on one Redis call
COMMAND_DEADLINE: float = CommonSettings.model_fields["redis_command_timeout"].default
PAUSE_SECONDS = 30.0
CLIENTS = 50


def _pids(stack: Stack) -> list[int]:
    pids = [router.proc.pid for router in stack.routers if router.proc is not None]
    assert len(pids) == 2
    return pids


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def _rss(pids: list[int]) -> int:
    return max(rss_kib(pid)[0] for pid in pids)


async def _sample_rss(pids: list[int], until: float) -> int:
    peak = 0
    while time.monotonic() < until:
        peak = max(peak, _rss(pids))
        await asyncio.sleep(0.5)
    return peak


def _describe(answers: list[Answer], paused_at: float) -> str:
    slow = sorted(answers, key=lambda a: -a.seconds)[:3]
    return ", ".join(
        f"{a.status} in {a.seconds:.2f}s sent {a.started - paused_at:+.2f}s {a.failure}" for a in slow
    )


async def test_paused_redis_answers_every_request_within_a_second_of_its_deadline(
    chaos_stack: Stack, chaos_seeder: Seeder, private_redis: PrivateRedis
) -> None:
    for _ in range(2):
        await chaos_seeder.account(max_concurrency=500)
    key = await chaos_seeder.client_key()
    pids = _pids(chaos_stack)
    load = Load([r.url for r in chaos_stack.routers], key, CLIENTS, timeout=PAUSE_SECONDS + 10).start()
    try:
        await asyncio.sleep(2.0)  # warm up: connections, caches
        base_start, base_cpu = time.monotonic(), _cpu(pids)
        await asyncio.sleep(5.0)
        base_end, base_cpu = time.monotonic(), _cpu(pids) - base_cpu
        base_rss = _rss(pids)

        private_redis.pause()
        paused_at, paused_cpu, client_cpu = time.monotonic(), _cpu(pids), time.process_time()
        try:
            peak_rss = await _sample_rss(pids, paused_at + PAUSE_SECONDS)
        finally:
            private_redis.resume()
        resumed_at, paused_cpu = time.monotonic(), _cpu(pids) - paused_cpu
        client_cpu = time.process_time() - client_cpu
        await asyncio.sleep(3.0)
    finally:
        await load.stop()

    baseline = load.sent_between(base_start, base_end)
    # requests sent in the pause, and those still waiting on Redis when it began
    during = [a for a in load.answers if a.started < resumed_at and a.started + a.seconds > paused_at]
    after = [a for a in load.sent_between(resumed_at, float("inf")) if a.status == 200]
    base_ok = [a for a in baseline if a.status == 200]
    # how long each waited once Redis had stopped (a request sent earlier waited from the pause on)
    waits = [a.started + a.seconds - max(a.started, paused_at) for a in during]
    worst = max(waits)
    bound = COMMAND_DEADLINE + 1.0
    base_cpu_per_request = base_cpu / max(1, len(baseline))
    paused_cpu_per_request = paused_cpu / max(1, len(load.sent_between(paused_at, resumed_at)))
    first_ok = min(a.started + a.seconds for a in after) - resumed_at if after else float("inf")

    figure(TEST, "baseline_requests_per_second", round(len(baseline) / (base_end - base_start), 1))
    figure(TEST, "requests_during_pause", len(during))
    figure(TEST, "max_wait_seconds_during_pause", round(worst, 3), f"<= {bound}")
    figure(TEST, "p99_wait_seconds_during_pause", round(percentile(waits, 0.99), 3))
    figure(TEST, "test_client_cpu_share_during_pause", round(client_cpu / PAUSE_SECONDS, 2))
    figure(TEST, "unanswered_during_pause", sum(1 for a in during if a.status == 0), "0")
    figure(TEST, "rss_kib_baseline", base_rss)
    figure(TEST, "rss_kib_peak_during_pause", peak_rss, "<= 2x baseline")
    figure(TEST, "cpu_ms_per_request_baseline", round(base_cpu_per_request * 1000, 3))
    figure(TEST, "cpu_ms_per_request_during_pause", round(paused_cpu_per_request * 1000, 3), "<= 2x baseline")
    figure(TEST, "first_200_seconds_after_resume", round(first_ok, 3), "<= 2")

    assert len(base_ok) > 50, "the stack did not serve before the pause"
    assert worst <= bound, f"slowest answers during the pause: {_describe(during, paused_at)}"
    refused = [a for a in during if a.status != 200]
    assert refused, "no request met the paused Redis"
    assert all(a.clean_refusal for a in refused), {(a.status, a.retry_after, a.error_type) for a in refused}
    assert peak_rss <= 2 * base_rss
    assert paused_cpu_per_request <= 2 * base_cpu_per_request
    assert first_ok <= 2.0
