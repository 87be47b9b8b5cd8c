"""The refresher process outlives Redis restarts and stalls: it says so, waits, and carries on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from arq.connections import ArqRedis

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from shared.accounts.model import AccountState
from shared.jobs import enqueue_refresh
from shared.redis import create_queue_redis
from tests.refresher.conftest import StartWorker, emulator_account, settings_from
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess
from tests.support.redis_server import PrivateRedis


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture
async def own_refresher(refresher_env: dict[str, str], own_redis: PrivateRedis) -> AsyncIterator[Refresher]:
    r = Refresher.build(settings_from(refresher_env, redis_url=own_redis.url))
    yield r
    await r.close()


@pytest.fixture
async def own_queue(own_refresher: Refresher, own_redis: PrivateRedis) -> AsyncIterator[ArqRedis]:
    pool = create_queue_redis(own_refresher.settings, socket_timeout=5.0)
    yield pool
    await pool.aclose(close_connection_pool=True)


async def _logged(worker: ServiceProcess, text: str, what: str, times: int = 1) -> None:
    await wait_for(lambda: asyncio.sleep(0, worker.count_in_logs(text) >= times), within=30, what=what)


async def _active(r: Refresher, account_id: str) -> bool:
    account = await r.store.get(account_id)
    return account is not None and account.state is AccountState.ACTIVE


async def test_refresher_survives_a_redis_restart_and_serves_periodic_and_forced_refreshes_after(
    own_redis: PrivateRedis,
    own_refresher: Refresher,
    own_queue: ArqRedis,
    ctl: EmulatorControl,
    start_worker: StartWorker,
) -> None:
    worker = start_worker(REDIS_URL=own_redis.url, REFRESH_INTERVAL_SECONDS="1")
    await _logged(worker, "periodic refresh", "a periodic run")  # polling, with a periodic run each second

    own_redis.kill()
    # it notices, and keeps trying through several backoffs while Redis is gone
    await _logged(worker, "redis unreachable; retrying in", "the outage noticed", times=3)
    assert worker.proc is not None and worker.proc.poll() is None, worker.logs()
    own_redis.start()  # no AOF: it comes back empty, as a Redis without persistence does

    # the periodic run resumes: an account nobody asked for is refreshed
    periodic = emulator_account(ctl)
    (periodic_id,) = (await own_refresher.ops.add_refresh_token("social", periodic["refresh_token"])).added
    await wait_for(lambda: _active(own_refresher, periodic_id), within=20, what="the periodic refresh")

    # and a forced refresh enqueued after the restart is processed
    forced = emulator_account(ctl)
    (forced_id,) = (await own_refresher.ops.add_refresh_token("social", forced["refresh_token"])).added
    assert await enqueue_refresh(own_queue, own_refresher.keys, forced_id, force=True)
    await wait_for(lambda: _active(own_refresher, forced_id), within=20, what="the forced refresh")

    logs = worker.logs()
    assert "redis unreachable; retrying in" in logs
    assert "redis back" in logs
    assert worker.proc.poll() is None


async def test_refresher_survives_a_stalled_redis(
    own_redis: PrivateRedis,
    own_refresher: Refresher,
    own_queue: ArqRedis,
    ctl: EmulatorControl,
    start_worker: StartWorker,
) -> None:
    worker = start_worker(REDIS_URL=own_redis.url)  # started: it polls its queue from now on

    own_redis.pause()  # SIGSTOP: connections stay open, nothing answers
    try:
        # its poll outlasts the socket timeout: it says so and keeps trying
        await _logged(worker, "redis unreachable; retrying in", "the stall noticed", times=2)
        assert worker.proc is not None and worker.proc.poll() is None, worker.logs()
    finally:
        own_redis.resume()

    emu = emulator_account(ctl)
    (account_id,) = (await own_refresher.ops.add_refresh_token("social", emu["refresh_token"])).added
    assert await enqueue_refresh(own_queue, own_refresher.keys, account_id, force=True)
    await wait_for(lambda: _active(own_refresher, account_id), within=20, what="the forced refresh")
    assert "redis unreachable; retrying in" in worker.logs()
    assert worker.proc.poll() is None
