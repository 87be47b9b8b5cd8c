"""The refresher caches each account's own model list in Redis, with a lifetime, for the gateways."""

from __future__ import annotations

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from services.refresher.jobs import refresh_due_job
from services.refresher.refresh import Outcome, refresh_account
from shared.kiro.models import decode_catalogue
from tests.refresher.conftest import emulator_account


async def _add(r: Refresher, ctl: EmulatorControl, models: list[str]) -> tuple[str, str]:
    emu = emulator_account(ctl, models=models)
    (account_id,) = (await r.ops.add_refresh_token("social", emu["refresh_token"])).added
    return account_id, emu["name"]


async def _listed(r: Refresher, account_id: str) -> list[str]:
    catalogue = decode_catalogue(await r.redis.get(r.keys.account_models(account_id)))
    assert catalogue is not None
    return [m.id for m in catalogue.models]


async def test_each_refresh_caches_the_accounts_own_list_with_a_lifetime(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    opus, sonnet = (
        await _add(refresher, ctl, ["claude-opus-4.7"]),
        await _add(refresher, ctl, ["claude-sonnet-4"]),
    )
    for account_id, _ in (opus, sonnet):
        assert await refresh_account(refresher, account_id) is Outcome.REFRESHED

    assert await _listed(refresher, opus[0]) == ["claude-opus-4.7"]
    assert await _listed(refresher, sonnet[0]) == ["claude-sonnet-4"]
    ttl = await refresher.redis.ttl(refresher.keys.account_models(opus[0]))
    assert (
        refresher.settings.models_cache_ttl_seconds - 60 < ttl <= refresher.settings.models_cache_ttl_seconds
    )
    catalogue = decode_catalogue(await refresher.redis.get(refresher.keys.account_models(opus[0])))
    assert catalogue is not None and catalogue.models[0].context_window == 1_000_000  # Kiro's limits kept


async def test_the_periodic_run_renews_a_list_that_is_missing_or_half_gone_without_a_token_refresh(
    refresher: Refresher, ctl: EmulatorControl
) -> None:
    account_id, name = await _add(refresher, ctl, ["claude-haiku-4.5"])
    await refresh_account(refresher, account_id)
    ctl.update_account(name, models=["claude-haiku-4.5", "claude-sonnet-4.6"])
    key = refresher.keys.account_models(account_id)

    await refresh_due_job({"refresher": refresher})  # the list is fresh: left alone
    assert await _listed(refresher, account_id) == ["claude-haiku-4.5"]

    await refresher.redis.expire(key, refresher.settings.models_cache_ttl_seconds // 2 - 1)
    await refresh_due_job({"refresher": refresher})
    assert await _listed(refresher, account_id) == ["claude-haiku-4.5", "claude-sonnet-4.6"]

    await refresher.redis.delete(key)
    await refresh_due_job({"refresher": refresher})
    assert await _listed(refresher, account_id) == ["claude-haiku-4.5", "claude-sonnet-4.6"]
    assert ctl.counts(name)["social_refresh"] == 1  # the token was not refreshed for it


async def test_a_disabled_account_gets_no_list(refresher: Refresher, ctl: EmulatorControl) -> None:
    account_id, _ = await _add(refresher, ctl, ["claude-haiku-4.5"])
    await refresh_account(refresher, account_id)
    await refresher.redis.delete(refresher.keys.account_models(account_id))
    await refresher.ops.set_enabled(account_id, False)

    await refresh_due_job({"refresher": refresher})

    assert await refresher.redis.exists(refresher.keys.account_models(account_id)) == 0
