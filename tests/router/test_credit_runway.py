"""Credit runway from a real router over real Redis: the admin API's figures, the runway gauges on
/metrics (and gone with the account), and the panel's Runway column and pool runway card."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, expect

from shared.accounts.model import AccountState
from shared.accounts.runway import window_days
from shared.keys import Keys
from tests.router.conftest import SeedAccount
from tests.router.test_admin_panel import sign_in
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

DAY = 86400.0


@pytest.fixture
def router(stack_env: dict[str, str]) -> Iterator[ServiceProcess]:
    """A router refreshing its gauges every 50 ms (the runway gauges every 200 ms)."""
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9", "POOL_GAUGE_INTERVAL_SECONDS": "0.05"}
    with ServiceProcess("services.router", env=env, name="router") as proc:
        yield proc


async def _seed(seed_account: SeedAccount, redis: aioredis.Redis, keys: Keys) -> float:
    """Four accounts the way the refresher and the router leave them; returns the steady one's reset.

    burner: added two days ago, 600 credits since, 600 of 1000 left: ~300 a day, out in ~2 days, before
    its reset in 10 days. steady: 70 a day for a week, 900 left: lasts until its reset in 2 days.
    idle: a limit, no credits. unlimited: credits but no limit known. A disabled account stays out of the
    pool's figures."""
    now = time.time()
    days = window_days(now)
    steady_reset = now + 2 * DAY
    await seed_account(
        "burner",
        usage_limit=1000.0,
        usage_current=400.0,
        usage_reset_at=now + 10 * DAY,
        created_at=now - 2 * DAY,
    )
    await seed_account(
        "steady",
        usage_limit=1000.0,
        usage_current=100.0,
        usage_reset_at=steady_reset,
        created_at=now - 30 * DAY,
    )
    await seed_account("idle", usage_limit=500.0, created_at=now - 30 * DAY)
    await seed_account("unlimited", created_at=now - 30 * DAY)
    await seed_account("off", usage_limit=5000.0, created_at=now - 30 * DAY, state=AccountState.DISABLED)
    for day, credits in zip(days, (200, 200, 200), strict=False):
        await redis.hset(keys.account_stats("burner", day), "credits", credits)
    for day in days:
        await redis.hset(keys.account_stats("steady", day), "credits", 70)
        await redis.hset(keys.account_stats("unlimited", day), "credits", 5)
    return steady_reset


def _bearer(stack_env: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}


async def test_admin_api_gives_each_account_and_the_pool_its_runway(
    router: ServiceProcess,
    stack_env: dict[str, str],
    seed_account: SeedAccount,
    redis: aioredis.Redis,
    keys: Keys,
) -> None:
    steady_reset = await _seed(seed_account, redis, keys)
    async with httpx.AsyncClient(
        base_url=router.url + "/admin/api", headers=_bearer(stack_env), timeout=10
    ) as api:
        listing = (await api.get("/accounts")).json()
        answer = (await api.get("/runway")).json()
        one = (await api.get("/accounts/burner")).json()
    by_id = {a["id"]: a["runway"] for a in listing["accounts"]}
    burner = by_id["burner"]
    assert (one["runway"]["days_left"], one["runway"]["text"]) == (burner["days_left"], burner["text"])
    assert burner["burn_per_day"] == pytest.approx(300, rel=1e-3)  # 600 credits over the 2 days it existed
    assert burner["days_left"] == 2.0
    assert (burner["runs_out_before_reset"], burner["text"]) == (True, "runs out in ~2 days")
    steady = by_id["steady"]
    assert 70 <= steady["burn_per_day"] <= 490 / 6  # 490 credits over 6 days and the part of today gone
    assert steady["runs_out_before_reset"] is False
    assert steady["text"] == "lasts until the reset on " + time.strftime(
        "%Y-%m-%d", time.gmtime(steady_reset)
    )
    assert (by_id["idle"]["days_left"], by_id["idle"]["text"]) == (None, "no usage in 7 days")
    assert (by_id["unlimited"]["days_left"], by_id["unlimited"]["text"]) == (None, "no limit known")

    assert answer["window_days"] == 7
    assert {a["id"]: a["text"] for a in answer["accounts"]} == {a: r["text"] for a, r in by_id.items()}
    pool = answer["pool"]  # burner + steady + idle; not the disabled one, nor the one with no limit
    assert (pool["limit"], pool["used"], pool["remaining"]) == (2500, 500, 2000)
    assert pool["burn_per_day"] == pytest.approx(burner["burn_per_day"] + steady["burn_per_day"], abs=1e-3)
    assert pool["reset_at"] == pytest.approx(steady_reset)
    assert pool["text"] == steady["text"]


def _gauges(page: str, name: str) -> dict[str, float]:
    pattern = rf'^kiro_router_account_credit_{name}_days\{{account="([^"]+)"\}} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, page, re.MULTILINE)}


async def test_runway_gauges_cover_accounts_with_a_limit_and_a_burn_and_go_with_the_account(
    router: ServiceProcess,
    stack_env: dict[str, str],
    seed_account: SeedAccount,
    redis: aioredis.Redis,
    keys: Keys,
) -> None:
    await _seed(seed_account, redis, keys)
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as http:

        async def gauges() -> tuple[dict[str, float], dict[str, float]] | None:
            page = (await http.get("/metrics")).text
            runway, reset = _gauges(page, "runway"), _gauges(page, "reset")
            return (runway, reset) if set(runway) == {"burner", "steady"} else None

        runway, reset = await wait_for(gauges, 15, "the runway gauges of burner and steady")
        assert runway["burner"] == pytest.approx(2.0, rel=1e-3)
        assert reset["burner"] == pytest.approx(10.0, rel=1e-3)
        assert reset["steady"] == pytest.approx(2.0, rel=1e-3)
        assert set(reset) == {"burner", "steady"}

        r = await http.delete("/admin/api/accounts/burner", headers=_bearer(stack_env))
        assert r.status_code == 200, r.text

        async def burner_gone() -> bool:
            page = (await http.get("/metrics")).text
            return set(_gauges(page, "runway")) == set(_gauges(page, "reset")) == {"steady"}

        await wait_for(burner_gone, 15, "the deleted account's runway gauges to go")


@pytest.mark.browser
async def test_panel_shows_the_runway_column_and_the_pool_runway_card(
    router: ServiceProcess,
    seed_account: SeedAccount,
    redis: aioredis.Redis,
    keys: Keys,
    browser: Browser,
    shots: Path,
) -> None:
    await _seed(seed_account, redis, keys)
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    await sign_in(page, router.url)
    card = page.locator("#pool-runway .stat")
    await expect(card).to_contain_text("Pool runway")
    await expect(card).to_contain_text("lasts until the reset on")
    await expect(card).to_contain_text("2,000 of 2,500 left")
    await page.screenshot(path=shots / "dashboard-pool-runway.png")

    await page.get_by_role("link", name="Accounts").click()
    header = page.locator("#accounts-table thead th")
    runway_column = await header.all_text_contents()
    column = runway_column.index("Runway") + 1
    cell = page.locator(f"#accounts-table tbody tr[data-account-id=burner] td:nth-child({column})")
    await expect(cell).to_contain_text("runs out in ~2 days")
    await expect(cell).to_have_class(re.compile(r"\brunway-soon\b"))
    steady = page.locator(f"#accounts-table tbody tr[data-account-id=steady] td:nth-child({column})")
    await expect(steady).to_contain_text("lasts until the reset on")
    await expect(steady).not_to_have_class(re.compile(r"\brunway-soon\b"))
    unlimited = page.locator(f"#accounts-table tbody tr[data-account-id=unlimited] td:nth-child({column})")
    await expect(unlimited).to_contain_text("no limit known")
    await page.screenshot(path=shots / "accounts-runway.png")
