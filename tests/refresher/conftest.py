"""Refresher fixtures: an in-process Refresher, worker processes, an arq pool, the emulator control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from services.kiro_emulator.control import EmulatorControl, unique_name
from services.refresher.context import Refresher
from services.refresher.settings import RefresherSettings
from shared.accounts.ops import AccountOps
from shared.keys import Keys
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, StartWorker, refresher_workers


@pytest.fixture
def ctl(emulator: ServiceProcess) -> Iterator[EmulatorControl]:
    with EmulatorControl(emulator.url) as control:
        yield control


@pytest.fixture
def refresher_env(stack_env: dict[str, str], emulator: ServiceProcess) -> dict[str, str]:
    """Worker environment: this test's prefix and secrets, the emulator as Kiro, quick retries."""
    return {
        **stack_env,
        "KIRO_EMULATOR_URL": emulator.url,
        "REFRESH_RETRY_BASE_SECONDS": "0.2",
        "WORKER_POLL_DELAY_SECONDS": "0.05",
        "REFRESH_TIMEOUT_SECONDS": "5",
        "REFRESH_LOCK_TTL_SECONDS": "10",
        "FORCE_REFRESH_GRACE_SECONDS": "0",
    }


def settings_from(env: dict[str, str], **overrides: Any) -> RefresherSettings:
    fields = {
        name.lower(): value for name, value in env.items() if name.lower() in RefresherSettings.model_fields
    }
    return RefresherSettings.load(**{**fields, **overrides})


@pytest.fixture
async def refresher(refresher_env: dict[str, str]) -> AsyncIterator[Refresher]:
    """The refresher's machinery in the test process (no arq): call its functions directly."""
    r = Refresher.build(settings_from(refresher_env))
    yield r
    await r.close()


@pytest.fixture
async def arq_pool(redis_url: str, key_prefix: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(
        RedisSettings.from_dsn(redis_url), default_queue_name=Keys(key_prefix).arq_queue()
    )
    yield pool
    await pool.aclose()


@pytest.fixture
def queued_ops(refresher: Refresher, arq_pool: ArqRedis) -> AccountOps:
    """Account operations that enqueue refresh jobs, as the admin API does."""
    return AccountOps(refresher.redis, refresher.keys, refresher.store.box, arq_pool)


@pytest.fixture
def start_worker(refresher_env: dict[str, str]) -> Iterator[StartWorker]:
    """Start `python -m services.refresher worker` processes (metrics on a free port); stopped after."""
    with refresher_workers(refresher_env) as start:
        yield start


def emulator_account(ctl: EmulatorControl, prefix: str = "refr", **fields: Any) -> dict[str, Any]:
    """Register an emulator account under a unique name; returns its view (tokens included)."""
    return ctl.register_account(unique_name(prefix), **fields)


async def refresh_upstream(ctl: EmulatorControl, name: str) -> None:
    """Wait until the emulator has the account's refresh request (one a fault rule holds is in flight)."""
    await wait_for(
        lambda: asyncio.sleep(0, ctl.counts(name).get("social_refresh", 0) >= 1),
        what=f"the refresh request of {name} upstream",
    )
