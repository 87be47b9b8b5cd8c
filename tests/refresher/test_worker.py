"""The refresher as a process: on-demand jobs, the periodic run, device login, metrics."""

from __future__ import annotations

import re

import httpx
from arq.connections import ArqRedis

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from shared.accounts.model import Account, AccountState
from shared.accounts.ops import AccountOps
from tests.refresher.conftest import StartWorker, emulator_account
from tests.support.polling import wait_for


async def _state_is(r: Refresher, account_id: str, state: AccountState) -> Account | None:
    account = await r.store.get(account_id)
    return account if account is not None and account.state is state else None


async def test_added_account_is_refreshed_by_the_worker_and_counted_in_metrics(
    refresher: Refresher, queued_ops: AccountOps, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    worker = start_worker()
    emu = emulator_account(ctl)
    (account_id,) = (await queued_ops.add_refresh_token("social", emu["refresh_token"])).added

    account = await wait_for(lambda: _state_is(refresher, account_id, AccountState.ACTIVE), what="active")

    assert refresher.store.access_token(account) == ctl.account(emu["name"])["access_token"]
    async with httpx.AsyncClient(base_url=worker.url) as http:
        metrics = (await http.get("/metrics")).text
        health = (await http.get("/health")).json()
    assert 'kiro_refresher_refresh_attempts_total{auth_kind="social",result="ok"} 1.0' in metrics
    assert 'kiro_refresher_accounts{state="active"} 1.0' in metrics
    expiry = re.search(
        rf'kiro_refresher_token_seconds_to_expiry{{account_id="{account_id}"}} ([0-9.e+]+)', metrics
    )
    assert expiry is not None and 3000 < float(expiry.group(1)) <= 3600
    assert health == {"status": "ok"}


async def test_periodic_run_refreshes_accounts_nobody_asked_for(
    refresher: Refresher, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    emu = emulator_account(ctl)
    # added without a queue: only the periodic run can pick it up
    (account_id,) = (await refresher.ops.add_refresh_token("social", emu["refresh_token"])).added
    start_worker(REFRESH_INTERVAL_SECONDS="1")

    await wait_for(lambda: _state_is(refresher, account_id, AccountState.ACTIVE), what="periodic refresh")
    assert ctl.counts(emu["name"])["social_refresh"] == 1


async def test_device_login_creates_an_active_idc_account_once_the_user_approves(
    refresher: Refresher, queued_ops: AccountOps, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    start_worker()
    flow = await queued_ops.device_flows.start(refresher.auth, refresher.http, label="my builder id")
    assert flow.user_code and flow.verification_uri_complete.endswith(flow.user_code)
    assert (await queued_ops.device_flows.status(flow.flow_id))["status"] == "pending"

    emu = ctl.approve_device(flow.user_code, usage={"current": 1, "limit": 50})

    async def complete() -> dict[str, str] | None:
        status = await queued_ops.device_flows.status(flow.flow_id)
        return status if status["status"] == "complete" else None

    status = await wait_for(complete, within=15, what="device login")
    account = await wait_for(lambda: _state_is(refresher, status["account_id"], AccountState.ACTIVE))
    assert account.label == "my builder id"
    assert account.auth_kind.value == "idc"
    assert refresher.store.refresh_token(account) == ctl.account(emu["name"])["refresh_token"]
    assert account.usage_limit == 50


async def test_denied_device_login_ends_as_denied_without_an_account(
    refresher: Refresher, queued_ops: AccountOps, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    start_worker()
    flow = await queued_ops.device_flows.start(refresher.auth, refresher.http)
    ctl.deny_device(flow.user_code)

    async def denied() -> bool:
        return (await queued_ops.device_flows.status(flow.flow_id))["status"] == "denied"

    await wait_for(denied, within=15, what="denied status")
    assert (await refresher.store.list()).accounts == []


async def test_trigger_for_a_missing_account_is_harmless(
    refresher: Refresher, arq_pool: ArqRedis, queued_ops: AccountOps, start_worker: StartWorker
) -> None:
    worker = start_worker()
    assert await queued_ops.request_refresh("acc_does_not_exist", force=True)

    async def drained() -> bool:
        return await refresher.redis.zcard(refresher.keys.arq_queue()) == 0

    await wait_for(drained, what="queue drained")
    assert "Traceback" not in worker.logs()
