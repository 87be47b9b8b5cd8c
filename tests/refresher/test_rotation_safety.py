"""Rotation safety with real worker processes: bursts, paused workers, killed workers.

Users of other proxies lose accounts here: two refreshes of a rotating token race, the loser's token is
dead, and the account needs a re-login. These tests pin down that it cannot happen here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from arq.connections import ArqRedis

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from services.refresher.refresh import Outcome, refresh_account
from shared.accounts.model import AccountState
from shared.jobs import enqueue_refresh
from tests.refresher.conftest import StartWorker, emulator_account, refresh_upstream
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess


async def _lock_holder_pid(r: Refresher, account_id: str) -> int:
    owner = await wait_for(lambda: r.tokens.lock_owner(account_id), what="a worker to take the refresh lock")
    return int(owner.split(":")[1])


def _pid(proc: ServiceProcess) -> int:
    assert proc.proc is not None
    return proc.proc.pid


async def _assert_holds_the_emulators_current_tokens(
    r: Refresher, ctl: EmulatorControl, name: str, account_id: str
) -> None:
    account = await r.store.get(account_id)
    assert account is not None
    current = ctl.account(name)
    assert r.store.refresh_token(account) == current["refresh_token"]
    assert r.store.access_token(account) in current["access_tokens"]


async def test_burst_of_100_triggers_on_5_workers_makes_exactly_one_upstream_refresh(
    refresher: Refresher, arq_pool: ArqRedis, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    emu = emulator_account(ctl, rotate_refresh=True)
    # a slow answer keeps the first refresh in flight while the triggers arrive
    ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=1500, times=1)
    (account_id,) = (await refresher.ops.add_refresh_token("social", emu["refresh_token"])).added
    with ThreadPoolExecutor(5) as pool:
        # every worker also runs the periodic refresh each second: two paths race for the account;
        # the default grace collapses forced triggers that arrive just after a refresh
        env = {"REFRESH_INTERVAL_SECONDS": "1", "FORCE_REFRESH_GRACE_SECONDS": "5"}
        workers = list(pool.map(lambda _: start_worker(**env), range(5)))

    # the account has no access token yet; half the triggers are forced, as after a 401
    queued = await asyncio.gather(
        *(
            enqueue_refresh(arq_pool, refresher.keys, account_id, force=i % 2 == 0, reason="burst")
            for i in range(100)
        )
    )

    await wait_for(lambda: _active(refresher, account_id), what="account active")
    # straggler jobs and the next periodic runs must find it fresh: wait until no trigger is queued and two
    # more periodic runs have finished
    await wait_for(lambda: _no_trigger_queued(arq_pool, refresher), what="every queued trigger to end")
    runs = _periodic_runs(workers)
    await wait_for(lambda: asyncio.sleep(0, _periodic_runs(workers) >= runs + 2), what="two periodic runs")
    assert sum(queued) >= 1
    assert ctl.counts(emu["name"])["social_refresh"] == 1
    assert ctl.statuses(emu["name"])["social_refresh"] == {"200": 1}  # no invalid_grant
    await _assert_holds_the_emulators_current_tokens(refresher, ctl, emu["name"], account_id)


async def _no_trigger_queued(arq_pool: ArqRedis, r: Refresher) -> bool:
    """No refresh job left in the queue (arq keeps a job there until it ends; the next periodic run
    waits there too)."""
    queued = await arq_pool.zrange(r.keys.arq_queue(), 0, -1)
    return all(b"refresh_due" in job_id for job_id in queued)


def _periodic_runs(workers: list[ServiceProcess]) -> int:
    return sum(w.count_in_logs("periodic refresh") for w in workers)


async def _unlocked(r: Refresher, account_id: str) -> bool:
    return await r.tokens.lock_owner(account_id) is None


async def _active(r: Refresher, account_id: str) -> bool:
    account = await r.store.get(account_id)
    return account is not None and account.state is AccountState.ACTIVE


async def test_worker_paused_past_its_lock_never_writes_a_stale_token(
    refresher: Refresher, arq_pool: ArqRedis, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    emu = emulator_account(ctl, rotate_refresh=True)
    # its answer is held until another worker has rotated the token (60 s at most)
    held = ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=60_000, times=1)
    (account_id,) = (await refresher.ops.add_refresh_token("social", emu["refresh_token"])).added
    paused = start_worker(REFRESH_LOCK_TTL_SECONDS="1", REFRESH_TIMEOUT_SECONDS="20")
    await enqueue_refresh(arq_pool, refresher.keys, account_id, force=True)
    assert await _lock_holder_pid(refresher, account_id) == _pid(paused)
    await refresh_upstream(ctl, emu["name"])

    paused.signal(signal.SIGSTOP)
    try:
        # its lock expires while it waits for its (slow) answer
        await wait_for(lambda: _unlocked(refresher, account_id), what="the paused worker's lock to expire")
        # meanwhile another worker refreshes (this test process plays it), rotating the token
        assert await refresh_account(refresher, account_id, force=True, requested_at=time.time()) is (
            Outcome.REFRESHED
        )
        after_second = await refresher.store.get(account_id)
        assert after_second is not None and after_second.token_version == 1
        ctl.release_fault(held)
    finally:
        paused.signal(signal.SIGCONT)

    # the paused worker's request used the rotated-away token; whatever it got, it must not write
    async def paused_worker_done() -> bool:
        return (
            "dropped a stale refresh result" in paused.logs() or "rotated by another writer" in paused.logs()
        )

    await wait_for(paused_worker_done, within=15, what="the resumed worker to give up")
    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.token_version == 1
    assert refresher.store.access_token(account) == refresher.store.access_token(after_second)
    assert account.state is AccountState.ACTIVE
    await _assert_holds_the_emulators_current_tokens(refresher, ctl, emu["name"], account_id)


async def test_worker_killed_mid_refresh_loses_no_token_and_the_next_run_refreshes(
    refresher: Refresher, arq_pool: ArqRedis, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    emu = emulator_account(ctl, rotate_refresh=True)
    # the dead worker's request is held until the next run has refreshed (60 s at most)
    held = ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=60_000, times=1)
    (account_id,) = (await refresher.ops.add_refresh_token("social", emu["refresh_token"])).added
    doomed = start_worker(REFRESH_LOCK_TTL_SECONDS="1")
    await enqueue_refresh(arq_pool, refresher.keys, account_id)
    assert await _lock_holder_pid(refresher, account_id) == _pid(doomed)

    await refresh_upstream(ctl, emu["name"])
    os.kill(_pid(doomed), signal.SIGKILL)
    start_worker(REFRESH_LOCK_TTL_SECONDS="1", REFRESH_INTERVAL_SECONDS="1")

    await wait_for(lambda: _active(refresher, account_id), within=15, what="refresh by the next run")
    ctl.release_fault(held)
    await _assert_holds_the_emulators_current_tokens(refresher, ctl, emu["name"], account_id)
    account = await refresher.store.get(account_id)
    assert account is not None and account.token_version == 1
