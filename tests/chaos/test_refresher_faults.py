"""Fault suite 6: the refresher killed mid-job, Redis restarted under it (AOF), a lock holder stopped past
its lease. Goals: 0 lost or stale refresh tokens (the emulator rotates them and knows the current one);
a forced refresh of the account works again within 30 s (each wait's deadline; the seconds are figures)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from arq.connections import ArqRedis

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from shared.accounts.model import Account
from shared.jobs import enqueue_refresh
from shared.redis import create_queue_redis
from tests.chaos.conftest import figure
from tests.refresher.conftest import emulator_account, refresh_upstream, settings_from
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, StartWorker, refresher_workers
from tests.support.redis_server import PrivateRedis


@pytest.fixture
def ctl(emulator: ServiceProcess) -> Iterator[EmulatorControl]:
    with EmulatorControl(emulator.url) as control:
        yield control


@pytest.fixture
def env(private_redis: PrivateRedis, secret_key: str, emulator: ServiceProcess) -> dict[str, str]:
    return {
        "REDIS_URL": private_redis.url,
        "REDIS_KEY_PREFIX": f"chaos:{uuid.uuid4().hex[:8]}:",
        "KIRO_SECRET_KEY": secret_key,
        "KIRO_EMULATOR_URL": emulator.url,
        "LOG_LEVEL": "INFO",
        "REFRESH_RETRY_BASE_SECONDS": "0.2",
        "WORKER_POLL_DELAY_SECONDS": "0.05",
        "REFRESH_TIMEOUT_SECONDS": "20",
        "FORCE_REFRESH_GRACE_SECONDS": "0",
    }


@pytest.fixture
async def r(env: dict[str, str]) -> AsyncIterator[Refresher]:
    refresher = Refresher.build(settings_from(env))
    yield refresher
    await refresher.close()


@pytest.fixture
async def queue(r: Refresher) -> AsyncIterator[ArqRedis]:
    pool = create_queue_redis(r.settings, socket_timeout=5.0)
    yield pool
    await pool.aclose(close_connection_pool=True)


@pytest.fixture
def start_worker(env: dict[str, str]) -> Iterator[StartWorker]:
    with refresher_workers(env) as start:
        yield start


def _pid(proc: ServiceProcess) -> int:
    assert proc.proc is not None
    return proc.proc.pid


async def _account(r: Refresher, account_id: str) -> Account:
    account = await r.store.get(account_id)
    assert account is not None
    return account


async def _lost_or_stale(r: Refresher, ctl: EmulatorControl, accounts: dict[str, str]) -> int:
    """Accounts whose stored refresh token is not the one the emulator would accept now."""
    lost = 0
    for account_id, name in accounts.items():
        account = await _account(r, account_id)
        lost += r.store.refresh_token(account) != ctl.account(name)["refresh_token"]
    return lost


async def _refreshed_since(r: Refresher, account_id: str, since: float) -> bool:
    account = await r.store.get(account_id)
    return account is not None and account.last_refresh_at > since


def _answered(ctl: EmulatorControl, name: str) -> int:
    """Refresh calls the emulator has answered for one account (delayed ones count once answered)."""
    return sum(ctl.statuses(name).get("social_refresh", {}).values())


async def _forced_refresh_takes(r: Refresher, queue: ArqRedis, account_id: str) -> float:
    asked_wall, asked = time.time(), time.monotonic()
    assert await enqueue_refresh(queue, r.keys, account_id, force=True, reason="chaos check")
    await wait_for(lambda: _refreshed_since(r, account_id, asked_wall), within=30, what="a forced refresh")
    return time.monotonic() - asked


async def test_refresher_killed_mid_job_loses_no_token_and_a_forced_refresh_needs_not_wait_for_its_request(
    r: Refresher, queue: ArqRedis, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    emu = emulator_account(ctl, rotate_refresh=True)
    # the killed worker's request stays in flight upstream until released (60 s at most): had it been
    # answered first, the token it asked for — that nobody will ever store — would be the only valid one
    held = ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=60_000, times=1)
    (account_id,) = (await r.ops.add_refresh_token("social", emu["refresh_token"])).added
    doomed = start_worker()
    assert await enqueue_refresh(queue, r.keys, account_id, force=True, reason="first")
    owner = await wait_for(lambda: r.tokens.lock_owner(account_id), what="the lock holder")
    assert owner.split(":")[1] == str(_pid(doomed))

    await refresh_upstream(ctl, emu["name"])
    os.kill(_pid(doomed), signal.SIGKILL)
    start_worker()
    took = await _forced_refresh_takes(r, queue, account_id)
    # it did not wait for the killed worker's request to end: that is still unanswered
    assert "401" not in ctl.statuses(emu["name"])["social_refresh"]
    ctl.release_fault(held)
    await wait_for(
        lambda: asyncio.sleep(0, ctl.statuses(emu["name"])["social_refresh"].get("401")),
        within=25,
        what="the emulator to answer the killed worker's request",
    )
    lost = await _lost_or_stale(r, ctl, {account_id: emu["name"]})
    again = await _forced_refresh_takes(r, queue, account_id)  # the stored token still refreshes

    figure(
        "refresher-faults",
        "forced refresh after the refresher was killed mid-job (s)",
        round(took, 1),
        "≤ 30",
    )
    figure("refresher-faults", "lost or stale refresh tokens after the kill", lost, "0")
    figure("refresher-faults", "forced refresh after the killed worker's request ended (s)", round(again, 1))
    assert lost == 0


async def test_redis_restarted_with_aof_under_refreshes_in_flight_loses_no_token(
    r: Refresher,
    queue: ArqRedis,
    ctl: EmulatorControl,
    start_worker: StartWorker,
    private_redis: PrivateRedis,
) -> None:
    accounts: dict[str, str] = {}
    for _ in range(5):
        emu = emulator_account(ctl, rotate_refresh=True)
        (account_id,) = (await r.ops.add_refresh_token("social", emu["refresh_token"])).added
        accounts[account_id] = emu["name"]
    worker = start_worker()
    for account_id in accounts:
        assert await enqueue_refresh(queue, r.keys, account_id, force=True, reason="initial")
    for account_id in accounts:
        await wait_for(lambda a=account_id: _refreshed_since(r, a, 0), within=20, what="first tokens")

    # every answer arrives while Redis is down: each holds the only copy of a rotated refresh token
    for name in accounts.values():
        ctl.add_fault(account=name, endpoint="social_refresh", first_byte_delay_ms=1500, times=1)
    since = time.time()
    for account_id in accounts:
        assert await enqueue_refresh(queue, r.keys, account_id, force=True, reason="in flight")
    for account_id in accounts:
        await wait_for(lambda a=account_id: r.tokens.lock_owner(a), what="refreshes in flight")
    private_redis.kill()
    # every delayed answer arrives while Redis is down, and the worker holds on to what it got
    for name in accounts.values():
        await wait_for(lambda n=name: asyncio.sleep(0, _answered(ctl, n) >= 2), what="the answer in flight")
    unreachable = "storing refreshed tokens: redis unreachable"
    await wait_for(lambda: asyncio.sleep(0, worker.count_in_logs(unreachable)), what="the store to fail")
    private_redis.start()  # same data dir: the AOF is replayed

    for account_id in accounts:
        await wait_for(lambda a=account_id: _refreshed_since(r, a, since), within=30, what="the refresh")
    lost = await _lost_or_stale(r, ctl, accounts)
    took = await _forced_refresh_takes(r, queue, next(iter(accounts)))

    figure("refresher-faults", "lost or stale refresh tokens across a Redis restart (AOF)", lost, "0")
    figure("refresher-faults", "forced refresh after the Redis restart (s)", round(took, 1), "≤ 30")
    assert lost == 0
    assert worker.proc is not None and worker.proc.poll() is None
    assert "redis back" in worker.logs()
    assert "storing refreshed tokens: redis unreachable" in worker.logs()  # the answers were held


async def test_lock_holder_stopped_past_its_lease_never_writes_a_stale_token(
    r: Refresher, queue: ArqRedis, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    rotating = emulator_account(ctl, rotate_refresh=True)
    fixed = emulator_account(ctl)  # the same refresh token answers twice: the stale result reaches the write
    accounts: dict[str, str] = {}
    held: list[str] = []  # the holder's refresh requests, answered once the other worker has refreshed
    for emu in (rotating, fixed):
        held.append(
            ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=60_000, times=1)
        )
        (account_id,) = (await r.ops.add_refresh_token("social", emu["refresh_token"])).added
        accounts[account_id] = emu["name"]
    lease = {"REFRESH_LOCK_TTL_SECONDS": "3"}
    holder = start_worker(**lease)
    for account_id in accounts:
        assert await enqueue_refresh(queue, r.keys, account_id, force=True, reason="first")
    for account_id in accounts:
        owner = await wait_for(lambda a=account_id: r.tokens.lock_owner(a), what="the lock holder")
        assert owner.split(":")[1] == str(_pid(holder))

    for name in accounts.values():
        await refresh_upstream(ctl, name)
    holder.signal(signal.SIGSTOP)  # holding both locks, both answers on their way
    try:
        start_worker(**lease)
        started, since = time.monotonic(), time.time()
        for account_id in accounts:
            assert await enqueue_refresh(queue, r.keys, account_id, force=True, reason="while stopped")
        for account_id in accounts:
            await wait_for(lambda a=account_id: _refreshed_since(r, a, since), within=30, what="the other")
        took = time.monotonic() - started
        newer = {a: r.store.access_token(await _account(r, a)) for a in accounts}
        for rule in held:
            ctl.release_fault(rule)
        for name in accounts.values():  # both delayed answers are sent while the holder is still stopped
            await wait_for(lambda n=name: asyncio.sleep(0, _answered(ctl, n) >= 2), what="the delayed answer")
    finally:
        holder.signal(signal.SIGCONT)

    def gave_up() -> bool:
        logs = holder.logs()
        return "dropped a stale refresh result" in logs and "rotated by another writer" in logs

    await wait_for(lambda: asyncio.sleep(0, gave_up()), within=25, what="the resumed holder to give up")
    stale = 0
    for account_id in accounts:
        account = await _account(r, account_id)
        stale += r.store.access_token(account) != newer[account_id] or account.token_version != 1
    lost = await _lost_or_stale(r, ctl, accounts)
    again = max([await _forced_refresh_takes(r, queue, a) for a in accounts])

    figure("refresher-faults", "stale token writes by a lock holder resumed past its lease", stale, "0")
    figure("refresher-faults", "lost or stale refresh tokens after the stopped holder", lost, "0")
    figure("refresher-faults", "forced refresh while the lock holder was stopped (s)", round(took, 1), "≤ 30")
    figure("refresher-faults", "forced refresh after the holder resumed (s)", round(again, 1), "≤ 30")
    assert stale == 0 and lost == 0
