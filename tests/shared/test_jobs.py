"""Enqueueing a refresh: one waiting job per account and kind, a deadline, never an exception."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio as aioredis
from arq.connections import ArqRedis

from shared.jobs import USAGE_SCHEDULED, enqueue_refresh, enqueue_usage_refresh
from shared.keys import Keys
from shared.redis import create_queue_redis
from shared.settings import CommonSettings
from tests.support.redis_server import PrivateRedis


def _queue(url: str, keys: Keys) -> ArqRedis:
    """The queue client the refresher worker uses (a 5 s socket timeout)."""
    settings = CommonSettings(redis_url=url, redis_key_prefix=keys.prefix, _env_file=None)
    return create_queue_redis(settings, socket_timeout=5.0)


async def test_a_burst_collapses_into_the_waiting_job_and_forced_ones_wait_apart(
    redis_url: str, keys: Keys, redis: aioredis.Redis
) -> None:
    queue = _queue(redis_url, keys)
    try:
        plain = [await enqueue_refresh(queue, keys, "acc-1") for _ in range(5)]
        forced = [await enqueue_refresh(queue, keys, "acc-1", force=True) for _ in range(5)]
    finally:
        await queue.aclose(close_connection_pool=True)
    assert plain == [True, False, False, False, False]
    assert forced == [True, False, False, False, False]
    jobs = await redis.zrange(keys.arq_queue(), 0, -1)
    assert len(jobs) == 2 and all(job.startswith(keys.refresh_job_id("acc-1", "")) for job in jobs)
    assert await redis.exists(*(f"arq:job:{job}" for job in jobs)) == 2  # arq's keys carry our prefix


async def test_usage_fetches_collapse_into_one_waiting_job_per_account_and_trigger(
    redis_url: str, keys: Keys, redis: aioredis.Redis
) -> None:
    queue = _queue(redis_url, keys)
    try:
        after_quota = [await enqueue_usage_refresh(queue, keys, "acc-1") for _ in range(4)]
        scheduled = [
            await enqueue_usage_refresh(queue, keys, "acc-1", trigger=USAGE_SCHEDULED, defer_seconds=30)
            for _ in range(2)
        ]
        other = await enqueue_usage_refresh(queue, keys, "acc-2")
    finally:
        await queue.aclose(close_connection_pool=True)
    assert after_quota == [True, False, False, False]
    assert scheduled == [True, False]
    assert other
    jobs = await redis.zrange(keys.arq_queue(), 0, -1, withscores=True)
    assert {job for job, _ in jobs} == {
        keys.usage_job_id("acc-1", "quota"),
        keys.usage_job_id("acc-1", USAGE_SCHEDULED),
        keys.usage_job_id("acc-2", "quota"),
    }
    when = {job: score for job, score in jobs}
    assert (
        when[keys.usage_job_id("acc-1", USAGE_SCHEDULED)] - when[keys.usage_job_id("acc-1", "quota")]
        >= 29_000
    )


@pytest.mark.e2e
async def test_enqueue_gives_up_within_its_deadline_when_redis_stalls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    keys = Keys("stall:")
    with PrivateRedis() as server:
        queue: ArqRedis = _queue(server.url, keys)
        try:
            await queue.ping()
            server.pause()
            started = time.monotonic()
            # Redis stays stopped until this returns: without a deadline it never would (the guard fails)
            async with asyncio.timeout(60):
                queued = await enqueue_refresh(queue, keys, "acc-1", force=True, reason="invalid_token")
            print(f"enqueue gave up after {time.monotonic() - started:.2f} s")
        finally:
            server.resume()
            await queue.aclose(close_connection_pool=True)
    assert queued is False
    assert any(r.getMessage() == "refresh job not queued" for r in caplog.records)
