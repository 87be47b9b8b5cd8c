"""Each account's credit runway from its usage snapshot and the last seven days' credits in Redis
(`shared.accounts.runway` does the arithmetic), for the admin API and the runway gauges."""

from __future__ import annotations

from collections.abc import Sequence

from services.router.context import AppContext
from shared.accounts.model import POOL_STATES, Account
from shared.accounts.runway import Runway, daily_burn, pool_runway, runway, window_days
from shared.accounts.schema import Counter
from shared.metrics import retire_series, series
from shared.parsing import float_or_zero


async def account_runways(ctx: AppContext, accounts: Sequence[Account], now: float) -> dict[str, Runway]:
    """The runway of every account, by id; the window's credits read in one pipeline."""
    if not accounts:
        return {}
    days = window_days(now)
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for account in accounts:
            for day in days:
                pipe.hget(ctx.keys.account_stats(account.id, day), Counter.CREDITS)
        credits: list[str | None] = await pipe.execute()
    out: dict[str, Runway] = {}
    for i, account in enumerate(accounts):
        window = [float_or_zero(c) for c in credits[i * len(days) : (i + 1) * len(days)]]
        burn = daily_burn(window, account.created_at, now)
        out[account.id] = runway(
            account.usage_limit, account.usage_current, account.usage_reset_at, burn, now
        )
    return out


def pool_of(accounts: Sequence[Account], runways: dict[str, Runway], now: float) -> Runway:
    """The runway of the accounts in the pool (active, cooling down or out of quota)."""
    return pool_runway((runways[a.id] for a in accounts if a.state in POOL_STATES), now)


class RunwayGauges:
    """`kiro_router_account_credit_{runway,reset}_days{account}` for the accounts with a known limit and
    some burn; remembers which it set (across restarts of its loop) to retire those of accounts gone."""

    def __init__(self) -> None:
        self._shown: set[str] = set()

    async def refresh(self, ctx: AppContext, now: float) -> None:
        accounts = (await ctx.store.list()).accounts
        runways = await account_runways(ctx, accounts, now)
        metrics = ctx.metrics
        shown = set()
        for account_id, r in runways.items():
            if r.days_left is None or r.burn_per_day <= 0:
                continue
            series(metrics.credit_runway_days, account_id).set(r.days_left)
            series(metrics.credit_reset_days, account_id).set(r.reset_days(now))
            shown.add(account_id)
        for account_id in self._shown - shown:
            retire_series(metrics.credit_runway_days, account_id)
            retire_series(metrics.credit_reset_days, account_id)
        self._shown = shown
