"""Refreshing one account against the emulator, in process: every login kind, rotation, failures."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from cryptography.fernet import Fernet

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from services.refresher.jobs import due_accounts
from services.refresher.refresh import Outcome, TransientRefreshError, refresh_account
from shared.accounts.model import AccountState
from shared.accounts.ops import AccountOps
from shared.accounts.state import INVALID_TOKEN_REASON
from shared.crypto import SecretBox
from tests.refresher.conftest import emulator_account, settings_from
from tests.support.accounts import columns_of

PROFILE = "arn:aws:codewhisperer:eu-central-1:111122223333:profile/REFRESHTEST"


async def _add_social(r: Refresher, refresh_token: str) -> str:
    (account_id,) = (await r.ops.add_refresh_token("social", refresh_token)).added
    return account_id


async def test_social_login_gets_its_first_token_usage_and_enters_the_pool(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(
        ctl,
        profile_arn=PROFILE,
        usage={"current": 12.5, "limit": 1000, "next_reset": 1893456000, "subscription_title": "KIRO PRO"},
    )
    account_id = await _add_social(refresher, emu["refresh_token"])

    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED

    account = await refresher.store.get(account_id)
    assert account is not None
    assert refresher.store.access_token(account) == ctl.account(emu["name"])["access_token"]
    assert account.state is AccountState.ACTIVE
    assert account.profile_arn == PROFILE
    assert (account.subscription_title, account.usage_current, account.usage_limit) == (
        "KIRO PRO",
        12.5,
        1000,
    )
    assert account.usage_reset_at == 1893456000
    assert account.token_version == 1
    assert await refresher.redis.zscore(refresher.keys.pool(), account_id) == 0
    snapshot = json.loads(await refresher.redis.get(refresher.keys.usage_limits(account_id)) or "{}")
    assert snapshot["limit"] == 1000
    (usage_call,) = ctl.requests(emu["name"], endpoint="usage")
    assert usage_call["query"]["profileArn"] == PROFILE
    assert ctl.counts(emu["name"])["social_refresh"] == 1


async def test_a_fresh_token_is_not_refreshed_again(refresher: Refresher, ctl: EmulatorControl) -> None:
    emu = emulator_account(ctl)
    account_id = await _add_social(refresher, emu["refresh_token"])
    await refresh_account(refresher, account_id)

    assert await refresh_account(refresher, account_id) is Outcome.FRESH
    assert ctl.counts(emu["name"])["social_refresh"] == 1


async def test_a_new_token_ends_the_cooldown_kiro_rejecting_the_old_one_caused_and_no_other(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    rejected, throttled = emulator_account(ctl), emulator_account(ctl)
    rejected_id = await _add_social(refresher, rejected["refresh_token"])
    throttled_id = await _add_social(refresher, throttled["refresh_token"])
    for account_id in (rejected_id, throttled_id):
        await refresh_account(refresher, account_id)
    until = time.time() + 30
    await refresher.states.cool_down(rejected_id, until, INVALID_TOKEN_REASON)  # as the router does on a 403
    await refresher.states.cool_down(throttled_id, until, "throttled")

    for account_id in (rejected_id, throttled_id):
        assert await refresh_account(refresher, account_id, force=True, requested_at=time.time()) is (
            Outcome.REFRESHED
        )

    back = await refresher.store.get(rejected_id)
    assert back is not None and back.state is AccountState.ACTIVE  # usable now, not in 30 s
    assert await refresher.redis.zscore(refresher.keys.pool(), rejected_id) == 0
    still = await refresher.store.get(throttled_id)
    assert still is not None and still.state is AccountState.COOLDOWN  # a new token does not end a throttle
    assert await refresher.redis.zscore(refresher.keys.pool(), throttled_id) == pytest.approx(until)


async def test_a_rejection_of_a_token_refreshed_moments_ago_ends_its_cooldown_without_another_refresh(
    refresher_env: dict[str, str], ctl: EmulatorControl
) -> None:
    refresher = Refresher.build(settings_from(refresher_env, force_refresh_grace_seconds=5))
    try:
        emu = emulator_account(ctl)
        account_id = await _add_social(refresher, emu["refresh_token"])
        await refresh_account(refresher, account_id)
        await refresher.states.cool_down(account_id, time.time() + 30, INVALID_TOKEN_REASON)

        # the token is younger than the forced-refresh grace: the rejected one was the token before it
        outcome = await refresh_account(refresher, account_id, force=True, requested_at=time.time())

        assert outcome is Outcome.FRESH
        account = await refresher.store.get(account_id)
        assert account is not None and account.state is AccountState.ACTIVE
        assert ctl.counts(emu["name"])["social_refresh"] == 1
    finally:
        await refresher.close()


async def test_idc_login_with_rotation_stores_the_newest_refresh_token(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, auth_kind="idc", rotate_refresh=True)
    report = await refresher.ops.add_refresh_token(
        "idc", emu["refresh_token"], client_id=emu["client_id"], client_secret=emu["client_secret"]
    )
    (account_id,) = report.added

    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED
    assert await refresh_account(refresher, account_id, force=True, requested_at=time.time() + 10) is (
        Outcome.REFRESHED
    )

    account = await refresher.store.get(account_id)
    assert account is not None
    current = ctl.account(emu["name"])
    assert refresher.store.refresh_token(account) == current["refresh_token"]
    assert refresher.store.refresh_token(account) != emu["refresh_token"]
    assert refresher.store.access_token(account) == current["access_token"]
    assert account.state is AccountState.ACTIVE
    assert ctl.counts(emu["name"])["oidc_token"] == 2


async def test_kiro_auth_token_file_login_is_refreshed_like_any_other(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, profile_arn=PROFILE)
    token_file = {
        "accessToken": "old",
        "refreshToken": emu["refresh_token"],
        "expiresAt": "2026-01-01T00:00:00.000Z",
        "authMethod": "social",
        "provider": "Google",
        "profileArn": PROFILE,
        "region": "us-east-1",
    }
    (account_id,) = (await refresher.ops.add_kiro_auth_token(token_file)).added
    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED
    account = await refresher.store.get(account_id)
    assert account is not None and account.state is AccountState.ACTIVE


async def test_rejected_refresh_token_marks_needs_relogin_once_without_a_retry_storm(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl)
    ctl.add_fault(
        account=emu["name"],
        endpoint="social_refresh",
        status=401,
        body={"message": "Invalid refresh token provided."},
        times=0,
    )
    account_id = await _add_social(refresher, emu["refresh_token"])

    assert await refresh_account(refresher, account_id) is Outcome.NEEDS_RELOGIN
    assert await refresh_account(refresher, account_id) is Outcome.SKIPPED

    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.state is AccountState.NEEDS_RELOGIN
    assert "log in again" in account.state_reason
    assert "Invalid refresh token provided" in account.state_reason
    assert account.refresh_failures == 1
    assert await refresher.redis.zscore(refresher.keys.pool(), account_id) is None
    assert ctl.counts(emu["name"])["social_refresh"] == 1


async def test_server_errors_are_retried_and_surfaced_on_the_account(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl)
    ctl.add_fault(account=emu["name"], endpoint="social_refresh", kind="server_error", times=2)
    account_id = await _add_social(refresher, emu["refresh_token"])

    for _ in range(2):
        with pytest.raises(TransientRefreshError):
            await refresh_account(refresher, account_id)
    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.refresh_failures == 2
    assert "500" in account.last_refresh_error
    assert account.state is AccountState.PENDING

    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED
    account = await refresher.store.get(account_id)
    assert account is not None
    assert (account.refresh_failures, account.last_refresh_error, account.state) == (
        0,
        "",
        AccountState.ACTIVE,
    )


async def test_exhausted_account_leaves_the_pool_until_its_reset(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    reset = time.time() + 86400
    emu = emulator_account(ctl, usage={"current": 1000, "limit": 1000, "next_reset": reset})
    account_id = await _add_social(refresher, emu["refresh_token"])

    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED

    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.state is AccountState.EXHAUSTED
    assert account.exhausted_until == pytest.approx(reset)
    assert await refresher.redis.zscore(refresher.keys.pool(), account_id) == pytest.approx(reset)


async def test_a_rotation_the_upstream_never_committed_falls_back_to_the_previous_token(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl)
    account_id = await _add_social(refresher, emu["refresh_token"])
    # a rotated token was stored, but the upstream never made it valid
    await refresher.tokens.write(
        account_id,
        expected_version=0,
        access_token="x",
        access_expires_at=1,
        rotated_refresh_token="aorBogus0000000001",
    )

    assert await refresh_account(refresher, account_id, force=True, requested_at=time.time() + 10) is (
        Outcome.REFRESHED
    )
    account = await refresher.store.get(account_id)
    assert account is not None
    assert refresher.store.refresh_token(account) == emu["refresh_token"]
    assert account.state is AccountState.ACTIVE


async def test_a_burst_of_forced_refreshes_in_one_process_costs_one_upstream_call(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, rotate_refresh=True)
    ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=200, times=1)
    account_id = await _add_social(refresher, emu["refresh_token"])
    asked = time.time()

    outcomes = await asyncio.gather(
        *(refresh_account(refresher, account_id, force=True, requested_at=asked) for _ in range(20))
    )

    assert outcomes.count(Outcome.REFRESHED) == 1
    assert set(outcomes) <= {Outcome.REFRESHED, Outcome.LOCKED, Outcome.FRESH}
    assert ctl.counts(emu["name"])["social_refresh"] == 1


async def test_disabled_import_gets_a_token_but_stays_out_of_the_pool(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl)
    account_id = await _add_social(refresher, emu["refresh_token"])
    await refresher.store.update(account_id, {"enabled": False})

    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED
    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.state is AccountState.DISABLED
    assert await refresher.redis.zscore(refresher.keys.pool(), account_id) is None


async def test_periodic_run_picks_only_enabled_accounts_that_would_expire_before_the_next_run(
    refresher: Refresher,
) -> None:
    now = time.time()
    horizon = refresher.settings.refresh_interval_seconds + refresher.settings.refresh_margin_seconds
    expiring = {
        "soon": now + horizon - 60,
        "later": now + horizon + 600,
        "pending": 0.0,
        "disabled": now,
        "relogin": now,
    }
    ids: dict[str, str] = {}
    for name, expires_at in expiring.items():
        (account_id,) = (
            await refresher.ops.add_refresh_token("social", f"aorDueSelection-{name}-0001")
        ).added
        ids[name] = account_id
        if expires_at:
            await refresher.tokens.write(
                account_id, expected_version=0, access_token="a", access_expires_at=expires_at
            )
    await refresher.ops.set_enabled(ids["disabled"], False)
    await refresher.states.needs_relogin(ids["relogin"], "test")

    assert sorted(await due_accounts(refresher)) == sorted([ids["soon"], ids["pending"]])


async def test_a_malformed_record_is_flagged_invalid_and_left_alone(refresher: Refresher) -> None:
    (account_id,) = (await refresher.ops.add_refresh_token("social", "aorMalformedRecord00001")).added
    await refresher.redis.hset(refresher.keys.account(account_id), "auth_kind", "kerberos")

    assert await refresh_account(refresher, account_id) is Outcome.SKIPPED

    state, reason = await columns_of(refresher.redis, refresher.keys, account_id, "state", "state_reason")
    assert state == "invalid" and "auth_kind" in reason
    listing = await refresher.store.list()
    assert [item.id for item in listing.invalid] == [account_id]


async def test_secrets_sealed_with_another_key_mark_the_account_invalid_instead_of_crashing(
    refresher: Refresher,
) -> None:
    other = AccountOps(refresher.redis, refresher.keys, SecretBox(Fernet.generate_key().decode()))
    (account_id,) = (await other.add_refresh_token("social", "aorOtherStackKey0000001")).added

    assert await refresh_account(refresher, account_id) is Outcome.SKIPPED

    account = await refresher.store.get(account_id)
    assert account is not None
    assert account.state is AccountState.INVALID
    assert "KIRO_SECRET_KEY" in account.state_reason


async def test_an_idc_login_whose_client_registration_lapsed_says_so_and_shows_in_metrics(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    emu = emulator_account(ctl, auth_kind="idc")
    ctl.add_fault(
        account=emu["name"],
        endpoint="oidc_token",
        status=400,
        body={"error": "invalid_client", "error_description": "Client authentication failed"},
        times=0,
    )
    report = await refresher.ops.add_refresh_token(
        "idc", emu["refresh_token"], client_id=emu["client_id"], client_secret=emu["client_secret"]
    )
    (account_id,) = report.added
    lapsed = time.time() - 3600
    await refresher.store.set_fields(account_id, {"client_secret_expires_at": str(lapsed)})

    assert await refresh_account(refresher, account_id) is Outcome.NEEDS_RELOGIN

    account = await refresher.store.get(account_id)
    assert account is not None and account.state is AccountState.NEEDS_RELOGIN
    assert "client registration expired on" in account.state_reason
    assert "Client authentication failed" in account.state_reason
    await refresher.metrics.collect_accounts(refresher.redis, refresher.keys)
    gauge = refresher.metrics.registry.get_sample_value(
        "kiro_refresher_client_registration_seconds_to_expiry", {"account_id": account_id}
    )
    assert gauge is not None and -3700 < gauge < -3500
