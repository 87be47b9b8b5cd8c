"""How refresh calls travel: through the account's proxy, within the timeout; schedule validation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from services.kiro_emulator.control import EmulatorControl
from services.refresher.context import Refresher
from services.refresher.refresh import Outcome, TransientRefreshError, refresh_account
from services.refresher.settings import cron_schedule
from shared.errors import ConfigError
from tests.refresher.conftest import emulator_account, settings_from


class RecordingProxy:
    """A minimal HTTP forward proxy that records the absolute URLs it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(str(request.url))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "proxy-connection")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, str(request.url), data=await request.read(), headers=headers
            ) as upstream,
        ):
            body = await upstream.read()
            return web.Response(status=upstream.status, body=body, content_type=upstream.content_type)


@pytest.fixture
async def proxy() -> AsyncIterator[RecordingProxy]:
    recorder = RecordingProxy()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recorder.url = f"http://127.0.0.1:{port}"
    yield recorder
    await runner.cleanup()


async def test_account_proxy_carries_its_refresh_and_usage_calls(
    refresher: Refresher, ctl: EmulatorControl, proxy: RecordingProxy
) -> None:
    emu = emulator_account(ctl)
    (account_id,) = (
        await refresher.ops.add_refresh_token("social", emu["refresh_token"], proxy_url=proxy.url)
    ).added

    assert await refresh_account(refresher, account_id) is Outcome.REFRESHED

    assert any(url.endswith("/auth/refreshToken") for url in proxy.seen)
    assert any("/getUsageLimits" in url for url in proxy.seen)


async def test_an_upstream_slower_than_the_timeout_is_a_transient_failure(
    refresher_env: dict[str, str], ctl: EmulatorControl
) -> None:
    r = Refresher.build(settings_from(refresher_env, refresh_timeout_seconds=0.3))
    try:
        emu = emulator_account(ctl)
        ctl.add_fault(account=emu["name"], endpoint="social_refresh", first_byte_delay_ms=1500, times=1)
        (account_id,) = (await r.ops.add_refresh_token("social", emu["refresh_token"])).added

        with pytest.raises(TransientRefreshError):
            await refresh_account(r, account_id)

        account = await r.store.get(account_id)
        assert account is not None
        assert "Timeout" in account.last_refresh_error and account.refresh_failures == 1
    finally:
        await r.close()


@pytest.mark.parametrize(
    ("interval", "fields"),
    [
        (1, {"second": set(range(60))}),
        (30, {"second": {0, 30}}),
        (1800, {"minute": {0, 30}, "second": {0}}),
        (21600, {"hour": {0, 6, 12, 18}, "minute": {0}, "second": {0}}),
    ],
)
def test_refresh_interval_becomes_cron_fields(interval: int, fields: dict[str, set[int]]) -> None:
    assert cron_schedule(interval) == fields


@pytest.mark.parametrize("interval", [7, 90, 5000])
def test_an_interval_cron_cannot_express_is_refused_at_start(interval: int) -> None:
    with pytest.raises(ConfigError, match="REFRESH_INTERVAL_SECONDS"):
        cron_schedule(interval)
