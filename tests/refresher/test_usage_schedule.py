"""Usage limits on their own schedule: fetched every USAGE_REFRESH_INTERVAL_SECONDS, no token refresh."""

from __future__ import annotations

import time

import pytest

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from services.refresher.jobs import usage_due_accounts, usage_retry_after
from services.refresher.refresh import Outcome, refresh_account
from services.refresher.settings import RefresherSettings
from services.refresher.usage import after_token
from shared.accounts.model import Account, AccountState
from shared.accounts.ops import AccountOps
from shared.errors import ConfigError
from tests.refresher.conftest import StartWorker, emulator_account
from tests.support.accounts import set_columns
from tests.support.polling import wait_for


async def _usage_is(r: Refresher, account_id: str, current: float) -> Account | None:
    account = await r.store.get(account_id)
    if account is None or account.usage_current != current or account.state is not AccountState.ACTIVE:
        return None
    return account


async def test_usage_figures_change_after_the_interval_without_a_token_refresh(
    refresher: Refresher, queued_ops: AccountOps, ctl: EmulatorControl, start_worker: StartWorker
) -> None:
    reset = time.time() + 9 * 86400
    emu = emulator_account(ctl, usage={"current": 5, "limit": 100, "next_reset": reset})
    start_worker(USAGE_REFRESH_INTERVAL_SECONDS="1")
    (account_id,) = (await queued_ops.add_refresh_token("social", emu["refresh_token"])).added
    first = await wait_for(lambda: _usage_is(refresher, account_id, 5), what="usage after the first refresh")
    assert first.usage_reset_at == pytest.approx(reset)
    assert first.public_view()["usage_reset_days"] == 9

    ctl.update_account(emu["name"], usage={"current": 42, "limit": 100, "next_reset": reset})
    await wait_for(lambda: _usage_is(refresher, account_id, 42), within=15, what="the scheduled usage fetch")
    counts = ctl.counts(emu["name"])
    assert counts["social_refresh"] == 1  # the figures moved without a token refresh
    assert counts["usage"] >= 2


async def test_only_enabled_accounts_with_a_live_token_and_old_figures_are_due(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    ops = refresher.ops
    added = [await ops.add_refresh_token("social", emulator_account(ctl)["refresh_token"]) for _ in range(4)]
    fresh, stale, expired, disabled = (report.added[0] for report in added)
    now = time.time()
    for account_id, updated, expires in (
        (fresh, now, now + 3000),
        (stale, now - 1000, now + 3000),
        (expired, now - 1000, now - 1),
        (disabled, now - 1000, now + 3000),
    ):
        await refresher.redis.hset(
            refresher.keys.account(account_id),
            mapping={
                "access_token_enc": refresher.store.box.encrypt("access-" + account_id),
                "access_expires_at": repr(expires),
                "usage_updated_at": repr(updated),
            },
        )
        await set_columns(refresher.redis, refresher.keys, account_id, {"state": "active"})
    await set_columns(refresher.redis, refresher.keys, disabled, {"enabled": "0"})
    assert refresher.settings.usage_refresh_interval_seconds == 900
    assert set(await usage_due_accounts(refresher)) & {fresh, stale, expired, disabled} == {stale}


def test_after_failures_in_a_row_the_schedule_waits_longer_up_to_the_interval() -> None:
    assert [usage_retry_after(n, 900) for n in range(7)] == [0, 60, 120, 240, 480, 900, 900]
    assert usage_retry_after(1_000, 900) == 900
    assert usage_retry_after(3, 20) == 20  # a short interval is never stretched


async def test_an_account_whose_usage_fetch_keeps_failing_is_not_asked_every_minute(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl)
    (account_id,) = (await refresher.ops.add_refresh_token("social", emu["refresh_token"])).added
    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED
    rule = ctl.add_fault(account=emu["name"], endpoint="usage", status=500, times=0)
    await refresher.redis.hset(refresher.keys.account(account_id), "usage_updated_at", "0")
    for _ in range(3):
        await after_token(refresher, account_id)
    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.usage_failures == 3
    assert time.time() - account.usage_failed_at < 60
    assert account_id not in await usage_due_accounts(refresher)  # asked again in 4 minutes, not 1
    long_ago = repr(time.time() - usage_retry_after(3, 900) - 1)
    await refresher.redis.hset(refresher.keys.account(account_id), "usage_failed_at", long_ago)
    assert account_id in await usage_due_accounts(refresher)

    ctl.delete_fault(rule)
    await after_token(refresher, account_id)
    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.usage_failures == 0
    assert account_id not in await usage_due_accounts(refresher)  # fresh figures: due in 15 minutes


@pytest.mark.parametrize("interval", [7, 45])
def test_a_short_interval_that_does_not_divide_a_minute_refuses_to_start(
    interval: int, secret_key: str
) -> None:
    with pytest.raises(ConfigError, match="USAGE_REFRESH_INTERVAL_SECONDS"):
        RefresherSettings.load(kiro_secret_key=secret_key, usage_refresh_interval_seconds=interval)
    for fine in (20, interval * 60, 0):
        assert RefresherSettings.load(kiro_secret_key=secret_key, usage_refresh_interval_seconds=fine)
