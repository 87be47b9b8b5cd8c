"""arq jobs of one stack stay its own: stacks sharing a Redis keep their periodic runs, and a crashed
refresh job never holds up the next refresh of its account for long."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from shared.accounts.model import AccountState
from shared.jobs import enqueue_refresh
from shared.redis import create_queue_redis
from tests.refresher.conftest import StartWorker, emulator_account, refresh_upstream, settings_from
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess
from tests.support.redis_server import PrivateRedis


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture
async def two_stacks(
    refresher_env: dict[str, str], own_redis: PrivateRedis
) -> AsyncIterator[tuple[Refresher, Refresher]]:
    stacks = tuple(
        Refresher.build(
            settings_from(
                refresher_env, redis_url=own_redis.url, redis_key_prefix=f"st{n}:{uuid.uuid4().hex[:6]}:"
            )
        )
        for n in range(2)
    )
    yield stacks  # type: ignore[misc]
    for r in stacks:
        await r.close()


async def _active(r: Refresher, account_id: str) -> bool:
    account = await r.store.get(account_id)
    return account is not None and account.state is AccountState.ACTIVE


async def test_two_stacks_on_one_redis_each_run_every_periodic_refresh(
    own_redis: PrivateRedis,
    two_stacks: tuple[Refresher, Refresher],
    ctl: EmulatorControl,
    start_worker: StartWorker,
) -> None:
    accounts = []
    for r in two_stacks:
        emu = emulator_account(ctl)
        (account_id,) = (await r.ops.add_refresh_token("social", emu["refresh_token"])).added
        accounts.append(account_id)
    workers = [
        start_worker(REDIS_URL=own_redis.url, REDIS_KEY_PREFIX=r.keys.prefix, REFRESH_INTERVAL_SECONDS="1")
        for r in two_stacks
    ]
    for r, account_id in zip(two_stacks, accounts, strict=True):
        await wait_for(lambda r=r, a=account_id: _active(r, a), within=20, what="a periodic refresh")

    # when both stacks named their runs alike, each second's run went to whichever enqueued it first: no
    # scheduled second was ever run by both
    async def both_ran_four_same_seconds() -> bool:
        first, second = (_scheduled_runs(w) for w in workers)
        return len(first & second) >= 4

    await wait_for(both_ran_four_same_seconds, within=30, what="four runs made by both stacks")


def _scheduled_runs(worker: ServiceProcess) -> set[int]:
    """The seconds in which a worker started a periodic run (each run is due on the second and starts
    within a poll delay of it), from the time stamps of arq's start lines in its log."""
    starts = re.findall(r"ts=(\S+) .*→ \S*refresh_due\(\)", worker.logs())
    return {int(datetime.fromisoformat(ts).timestamp()) for ts in starts}


async def test_forced_refresh_after_a_worker_died_mid_job_succeeds_within_30_s_and_loses_no_token(
    refresher: Refresher, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    emu = emulator_account(ctl, rotate_refresh=True)
    # the dead worker's request stays in flight upstream until released (60 s at most): had it been
    # answered first, the token it asked for (and nobody will ever store) would be the only valid one
    held = ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=60_000, times=1)
    (account_id,) = (await refresher.ops.add_refresh_token("social", emu["refresh_token"])).added
    queue = create_queue_redis(refresher.settings, socket_timeout=5.0)
    try:
        doomed = start_worker(REFRESH_LOCK_TTL_SECONDS="10")
        assert await enqueue_refresh(queue, refresher.keys, account_id, force=True, reason="first")
        owner = await wait_for(lambda: refresher.tokens.lock_owner(account_id), what="the lock holder")
        assert doomed.proc is not None and owner.split(":")[1] == str(doomed.proc.pid)

        await refresh_upstream(ctl, emu["name"])
        os.kill(doomed.proc.pid, signal.SIGKILL)  # mid-job, its lock held
        start_worker(REFRESH_LOCK_TTL_SECONDS="10")
        asked = time.monotonic()
        assert await enqueue_refresh(queue, refresher.keys, account_id, force=True, reason="after crash")
        await wait_for(lambda: _active(refresher, account_id), within=30, what="the forced refresh")
        took = time.monotonic() - asked
        # it did not wait for the dead worker's request to end: that is still unanswered
        assert "401" not in ctl.statuses(emu["name"])["social_refresh"]
    finally:
        await queue.aclose(close_connection_pool=True)
    print(f"forced refresh after a worker died mid-job: {took:.1f} s")

    # the dead worker's request is answered at last: with a token rotated away, so nothing is lost
    ctl.release_fault(held)
    await wait_for(
        lambda: asyncio.sleep(0, ctl.statuses(emu["name"])["social_refresh"].get("401")),
        within=25,
        what="the emulator to answer the dead worker's request",
    )
    account = await refresher.store.get(account_id)
    assert account is not None
    current = ctl.account(emu["name"])
    assert refresher.store.refresh_token(account) == current["refresh_token"]
    assert refresher.store.access_token(account) in current["access_tokens"]
