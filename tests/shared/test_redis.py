"""The Redis client factory: cancellation always reaches the caller; ping is bounded."""

from __future__ import annotations

import asyncio

from shared.redis import create_redis, ping
from shared.settings import CommonSettings


async def _busy(client: object, key: str) -> None:
    while True:
        await client.zrangebyscore(key, 0, 10)  # type: ignore[attr-defined]


async def test_a_cancelled_task_stops_even_when_cancelled_mid_command(
    redis_url: str, key_prefix: str
) -> None:
    """A swallowed cancellation would keep a dead request or a shutdown waiting forever."""
    client = create_redis(CommonSettings(redis_url=redis_url, _env_file=None))
    try:
        stuck = 0
        for i in range(100):
            task = asyncio.create_task(_busy(client, f"{key_prefix}z"))
            await asyncio.sleep(0.001 * (i % 7))  # not sync: cancel at a different point of the command
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=5)  # a kept task ends at once; a stuck one never
            if not done:
                stuck += 1
                while not task.done():
                    task.cancel()
                    await asyncio.sleep(0.01)
        assert stuck == 0, f"{stuck} of 100 cancellations were swallowed"
    finally:
        await client.aclose()


async def test_ping_reports_an_unreachable_server_as_none_quickly() -> None:
    client = create_redis(
        CommonSettings(redis_url="redis://127.0.0.1:9/0", redis_socket_timeout=0.5, _env_file=None)
    )
    try:
        assert await ping(client, within=1.0) is None
    finally:
        await client.aclose()


async def test_ping_measures_a_live_server(redis_url: str) -> None:
    client = create_redis(CommonSettings(redis_url=redis_url, _env_file=None))
    try:
        rtt = await ping(client)
        assert rtt is not None and rtt >= 0
    finally:
        await client.aclose()
