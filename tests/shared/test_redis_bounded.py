"""The router's bounded Redis client: a deadline per command, a breaker that fails fast and heals itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.redis import BoundedRedis, create_redis
from shared.redis_breaker import BreakerState, RedisUnavailable
from shared.redis_guard import RedisDeadlineExceeded
from shared.settings import CommonSettings
from tests.support.polling import wait_for
from tests.support.redis_server import PrivateRedis

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

DEADLINE = 0.2
PROBE = 0.2
GUARD = 10.0  # `_timed` stops waiting here: what a client without a deadline would reach


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as redis_server:
        yield redis_server


@pytest.fixture
async def client(server: PrivateRedis) -> AsyncIterator[BoundedRedis]:
    settings = CommonSettings(
        redis_url=server.url,
        redis_command_timeout=DEADLINE,
        redis_breaker_failures=3,
        redis_breaker_probe_seconds=PROBE,
        redis_max_connections=1,  # one connection: a dirty one would be reused at once
        _env_file=None,
    )
    bounded = create_redis(settings, bounded=True)
    yield bounded
    await bounded.aclose()


async def _timed(call: object) -> tuple[float, BaseException | None]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(GUARD):  # the old client waits for as long as the pause lasts
            await call  # type: ignore[misc]
    except (RedisError, TimeoutError) as exc:
        return time.perf_counter() - start, exc
    return time.perf_counter() - start, None


async def test_a_command_to_a_stopped_redis_fails_at_its_deadline(
    server: PrivateRedis, client: BoundedRedis
) -> None:
    await client.set("k", "v")
    server.pause()
    try:
        seconds, error = await _timed(client.get("k"))
    finally:
        server.resume()

    assert isinstance(error, RedisDeadlineExceeded)
    assert isinstance(error, RedisTimeoutError)  # every `except RedisError` still catches it
    assert DEADLINE <= seconds < GUARD / 2  # at its deadline, long before the pause would end


async def test_a_pipeline_to_a_client_paused_redis_fails_at_its_deadline(
    server: PrivateRedis, client: BoundedRedis
) -> None:
    server.client_pause(3)
    async with client.pipeline(transaction=False) as pipe:
        pipe.get("a")
        pipe.get("b")
        seconds, error = await _timed(pipe.execute())

    assert isinstance(error, RedisDeadlineExceeded)
    assert seconds < 3  # before Redis answered again


async def test_the_connection_a_deadline_cut_mid_read_is_never_reused_with_its_late_reply(
    server: PrivateRedis, client: BoundedRedis
) -> None:
    await client.set("first", "1")
    await client.set("second", "2")
    server.pause()
    try:
        _, error = await _timed(client.get("first"))
    finally:
        server.resume()

    assert isinstance(error, RedisDeadlineExceeded)
    # the only pooled connection had `GET first` in flight: its late "1" must not answer this one
    assert await client.get("second") == "2"


async def test_after_repeated_failures_the_breaker_refuses_at_once_without_waiting(
    server: PrivateRedis, client: BoundedRedis
) -> None:
    breaker = client.guard.breaker
    assert breaker is not None
    await client.ping()
    server.pause()
    try:
        waited = []
        for _ in range(3):
            seconds, error = await _timed(client.get("k"))
            assert isinstance(error, RedisDeadlineExceeded)
            waited.append(seconds)
        seconds, error = await _timed(client.get("k"))
    finally:
        server.resume()

    assert breaker.state is BreakerState.OPEN
    assert isinstance(error, RedisUnavailable)
    assert seconds < min(waited)  # a closed breaker would wait the whole deadline, as these calls did
    assert breaker.rejected == 1


async def test_an_open_breaker_lets_one_probe_through_and_closes_when_redis_answers(
    server: PrivateRedis, client: BoundedRedis
) -> None:
    breaker = client.guard.breaker
    assert breaker is not None
    server.pause()
    try:
        await asyncio.gather(*(_timed(client.get("k")) for _ in range(3)))
        assert breaker.state is BreakerState.OPEN
        await asyncio.sleep(PROBE)  # not sync: the breaker's probe interval under test
        # one probe goes out (and waits on the stopped server); the others are refused meanwhile
        results = await asyncio.gather(*(_timed(client.get("k")) for _ in range(5)))
    finally:
        server.resume()
    errors = [type(error) for _, error in results]
    assert errors.count(RedisDeadlineExceeded) == 1
    assert errors.count(RedisUnavailable) == 4
    assert breaker.state is BreakerState.OPEN

    # refused until the next probe, which finds Redis back and closes the breaker; never a deadline again
    async def stored() -> bool:
        _, error = await _timed(client.set("k", "back"))
        assert error is None or isinstance(error, RedisUnavailable)
        return error is None

    await wait_for(stored, what="the breaker to close")
    assert breaker.state is BreakerState.CLOSED
    assert await client.get("k") == "back"


async def test_a_killed_and_restarted_redis_is_used_again_without_a_failed_command(
    server: PrivateRedis, client: BoundedRedis
) -> None:
    """The pooled connection died with the server: a read is asked again on a fresh connection."""
    await client.set("k", "v")
    server.kill()
    server.start()

    assert await client.get("k") is None  # no AOF: a fresh, empty server, reached on the first try


async def test_an_unbounded_client_has_no_deadline_and_no_breaker(server: PrivateRedis) -> None:
    client = create_redis(CommonSettings(redis_url=server.url, _env_file=None))
    try:
        server.client_pause(1)
        start = time.perf_counter()
        assert await client.ping()
        assert time.perf_counter() - start >= 0.5
        assert client.guard.breaker is None
    finally:
        await client.aclose()
