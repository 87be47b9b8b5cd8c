"""The dashboard's history in a real browser: 30 days of counters stacked per account, then per key."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, Request, expect

from shared.accounts.pool import last_days
from shared.clientkeys import ClientKeys
from shared.keys import Keys
from tests.router.browser import REFRESH_MS
from tests.router.conftest import SeedAccount
from tests.router.test_admin_panel import sign_in
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess

#: how often the open dashboard reads its history again (js/dashboard.js)
HISTORY_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: chart.js's first two palette colours: the first and second series
BLUE, ORANGE = (0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B)

COUNT_COLOURS = """async ([png, wanted]) => {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  const canvas = new OffscreenCanvas(img.width, img.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, img.width, img.height).data;
  const distinct = new Set();
  const hits = wanted.map(() => 0);
  for (let i = 0; i < px.length; i += 4) {
    distinct.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    wanted.forEach(([r, g, b], n) => {
      if (px[i] === r && px[i + 1] === g && px[i + 2] === b) hits[n] += 1;
    });
  }
  return [distinct.size, hits];
}"""


async def colours(page: Page, png: bytes, wanted: list[tuple[int, int, int]]) -> tuple[int, list[int]]:
    """How many colours a screenshot has and how many pixels of each `wanted` one (the browser decodes it)."""
    distinct, hits = await page.evaluate(COUNT_COLOURS, [base64.b64encode(png).decode(), wanted])
    return int(distinct), [int(n) for n in hits]


async def test_dashboard_charts_thirty_days_per_account_then_per_key(
    router: ServiceProcess,
    redis: aioredis.Redis,
    keys: Keys,
    seed_account: SeedAccount,
    browser: Browser,
    shots: Path,
) -> None:
    await seed_account("acc-alpha", label="Alpha")
    await seed_account("acc-beta", label="Beta")
    client_keys = ClientKeys(redis, keys)
    ci, _ = await client_keys.create("ci")
    batch, _ = await client_keys.create("batch")
    month = last_days(30)
    async with redis.pipeline(transaction=False) as pipe:
        for i, day in enumerate(month):
            alpha, beta = keys.account_stats("acc-alpha", day), keys.account_stats("acc-beta", day)
            pipe.hset(alpha, mapping={"requests": 10 + i, "credits": 0.5 + i / 10})
            pipe.hset(beta, mapping={"requests": 5 + i % 7, "credits": i % 4 / 4})
            pipe.hset(keys.client_key_usage(ci.key_hash, day), mapping={"requests": 3 + i % 5})
            pipe.hset(keys.client_key_usage(batch.key_hash, day), mapping={"requests": 8, "credits": 1.25})
        pipe.hset(keys.account_stats_total("acc-alpha"), mapping={"requests": 4321, "credits": 98.5})
        await pipe.execute()

    page = await browser.new_page(viewport={"width": 1360, "height": 1000})
    await sign_in(page, router.url)
    await page.get_by_role("button", name="30 days").click()

    requests_chart = page.locator("#chart-requests")
    await expect(requests_chart.locator(".chart-bar")).to_have_count(30)
    await expect(requests_chart.locator(".chart-legend li")).to_have_text(["Alpha", "Beta"])
    assert await requests_chart.locator(".chart-bar rect").count() == 60  # every day has both accounts
    seeded = requests_chart.locator("title", has_text=f"{month[10]} · Alpha: 20 requests")
    await expect(seeded).to_have_count(1)
    await requests_chart.locator(f'.chart-bar[data-day="{month[10]}"]').hover()
    await expect(requests_chart.locator(".chart-readout")).to_contain_text("Alpha 20")
    await expect(page.locator("#chart-credits .chart-legend li")).to_have_text(["Alpha", "Beta"])
    await expect(page.locator("#all-time-table tbody tr", has_text="Alpha")).to_contain_text("4,321")

    charts = page.locator(".chart-grid")
    png = await charts.screenshot(path=shots / "history-by-account.png")
    distinct, (blue, orange) = await colours(page, png, [BLUE, ORANGE])
    assert distinct > 20 and blue > 2000 and orange > 1000, (distinct, blue, orange)

    await page.get_by_role("button", name="By key").click()
    await expect(requests_chart.locator(".chart-legend li")).to_have_text(["ci", "batch"])
    await expect(requests_chart.locator("title", has_text=f"{month[0]} · batch: 8 requests")).to_have_count(1)
    await expect(page.locator("#all-time-table th.entity")).to_have_text("Key")
    await page.screenshot(path=shots / "history-by-key.png", full_page=True)


async def test_the_open_dashboard_reads_its_history_once_a_minute_not_at_every_refresh(
    router: ServiceProcess, seed_account: SeedAccount, browser: Browser
) -> None:
    """The history costs (accounts or keys) × (days + 1) Redis reads: the 5 s refresh reads today only."""
    await seed_account("acc-alpha", label="Alpha")
    page = await browser.new_page(viewport={"width": 1360, "height": 1000})
    await page.clock.install()  # the panel's timers run on the test's clock
    asked: list[str] = []  # the `days` of every stats request the page makes

    def note(request: Request) -> None:
        url = urlsplit(request.url)
        if url.path.endswith("/admin/api/stats"):
            asked.append(parse_qs(url.query)["days"][0])

    async def until(check: Callable[[], bool], what: str) -> None:
        async def poll() -> bool:
            return check()

        await wait_for(poll, what=what)

    page.on("request", note)
    await sign_in(page, router.url)
    await until(lambda: "7" in asked, "the dashboard's first load, with 7 days of history")
    # Its answer shown: until then every load asks for the history again (a slow first answer is not lost).
    await expect(page.locator("#chart-requests")).to_contain_text("the last 7 days")

    seen = len(asked)
    for _ in range(3):  # refreshes within the minute: today's figures only
        await page.clock.run_for(REFRESH_MS)
    await until(lambda: len(asked) >= seen + 3, "three refreshes")
    assert set(asked[seen:]) == {"1"}, asked

    seen = len(asked)
    await page.clock.run_for(HISTORY_MS)  # a minute on: the history again
    await until(lambda: "7" in asked[seen:], "the history read again after a minute")

    await page.get_by_role("button", name="30 days").click()  # a pick reads it at once
    await until(lambda: "30" in asked, "the picked span read at once")
