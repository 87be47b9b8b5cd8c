"""The refresh history and error history the refresher leaves on an account, against the emulator."""

from __future__ import annotations

import time

import pytest

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from services.refresher.jobs import refresh_due_job
from services.refresher.refresh import Outcome, TransientRefreshError, refresh_account
from shared.accounts import history
from shared.accounts.history import RefreshTrigger
from tests.refresher.conftest import emulator_account


async def _add_social(r: Refresher, refresh_token: str) -> str:
    (account_id,) = (await r.ops.add_refresh_token("social", refresh_token)).added
    return account_id


async def test_each_refresh_is_recorded_newest_first_with_its_trigger(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl)
    account_id = await _add_social(refresher, emu["refresh_token"])
    started = time.time()

    assert await refresh_due_job({"refresher": refresher}) == 1  # the periodic run: a new account is due
    assert await refresh_account(refresher, account_id, force=True, requested_at=time.time()) is (
        Outcome.REFRESHED
    )
    assert await refresh_account(refresher, account_id) is Outcome.FRESH  # no refresh: nothing recorded

    events = await history.load(refresher.redis, refresher.keys, account_id)
    assert [(e["outcome"], e["trigger"]) for e in events["refreshes"]] == [
        ("ok", RefreshTrigger.FORCED),
        ("ok", RefreshTrigger.SCHEDULED),
    ]
    assert all(started <= e["at"] <= time.time() for e in events["refreshes"])
    assert events["errors"] == []


async def test_a_failed_refresh_is_recorded_as_an_error_and_a_refresh_without_secrets(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl)
    ctl.add_fault(account=emu["name"], endpoint="social_refresh", kind="server_error", times=1)
    ctl.add_fault(
        account=emu["name"],
        endpoint="social_refresh",
        status=401,
        body={"message": "Invalid refresh token provided."},
        times=1,
    )
    account_id = await _add_social(refresher, emu["refresh_token"])

    with pytest.raises(TransientRefreshError):
        await refresh_account(refresher, account_id)
    assert await refresh_account(refresher, account_id, force=True) is Outcome.NEEDS_RELOGIN

    events = await history.load(refresher.redis, refresher.keys, account_id)
    assert [(e["outcome"], e["trigger"]) for e in events["refreshes"]] == [
        ("invalid_token", "forced"),
        ("upstream_error", "on_demand"),
    ]
    assert [(e["kind"], e["source"]) for e in events["errors"]] == [
        ("invalid_token", "refresher"),
        ("upstream_error", "refresher"),
    ]
    assert "Invalid refresh token provided" in events["errors"][0]["reason"]
    assert "500" in events["errors"][1]["reason"]
    stored = str(events)
    assert emu["refresh_token"] not in stored and emu["access_token"] not in stored
