"""Read-only figures for the admin panel: per-account and per-key counters of one UTC day, pool by state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.router.context import AppContext
from shared.accounts.pool import today
from shared.accounts.schema import ACCOUNT_COUNTERS, KEY_COUNTERS, Counter
from shared.clientkeys import ClientKey
from shared.parsing import float_or_zero


async def account_stats(
    ctx: AppContext, ids: Iterable[str], day: str | None = None
) -> dict[str, dict[str, Any]]:
    """Counters of each account for one day (default today): requests, errors, tokens, credits."""
    ids = list(ids)
    if not ids:
        return {}
    day = day or today()
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for account_id in ids:
            pipe.hgetall(ctx.keys.account_stats(account_id, day))
        rows: list[dict[str, str]] = await pipe.execute()
    out: dict[str, dict[str, Any]] = {}
    for account_id, raw in zip(ids, rows, strict=True):
        stats: dict[str, Any] = {name: int(float_or_zero(raw.get(name))) for name in ACCOUNT_COUNTERS}
        stats[Counter.CREDITS] = round(float_or_zero(raw.get(Counter.CREDITS)), 4)
        out[account_id] = stats
    return out


async def key_usage(
    ctx: AppContext, keys: list[ClientKey], day: str | None = None
) -> dict[str, dict[str, Any]]:
    """Usage of each client key (by key id) for one day: requests, errors, tokens, credits."""
    if not keys:
        return {}
    day = day or today()
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(ctx.keys.client_key_usage(key.key_hash, day))
        rows: list[dict[str, str]] = await pipe.execute()
    out: dict[str, dict[str, Any]] = {}
    for key, raw in zip(keys, rows, strict=True):
        usage: dict[str, Any] = {name: int(float_or_zero(raw.get(name))) for name in KEY_COUNTERS}
        usage[Counter.CREDITS] = round(float_or_zero(raw.get(Counter.CREDITS)), 4)
        out[key.id] = usage
    return out


async def overview(ctx: AppContext) -> dict[str, Any]:
    """The dashboard: pool counts by state, today's totals, per account and per key."""
    day = today()
    summary = await ctx.pool.summary()
    listing = await ctx.store.list()
    per_account = await account_stats(ctx, (a.id for a in listing.accounts), day)
    totals: dict[str, Any] = dict.fromkeys(ACCOUNT_COUNTERS, 0)
    totals["credits"] = 0.0
    for stats in per_account.values():
        for name in totals:
            totals[name] += stats[name]
    totals["credits"] = round(totals["credits"], 4)
    client_keys = await ctx.client_keys.list()
    usage = await key_usage(ctx, client_keys, day)
    return {
        "day": day,
        "pool": {**summary.counts, "total": summary.total, "soonest_reset": summary.soonest_reset},
        "totals": totals,
        "accounts": [
            {
                "id": a.id,
                "label": a.label,
                "state": a.state.value,
                "usage_current": a.usage_current,
                "usage_limit": a.usage_limit,
                **per_account.get(a.id, {}),
            }
            for a in listing.accounts
        ],
        "keys": [{"id": k.id, "name": k.name, "enabled": k.enabled, **usage[k.id]} for k in client_keys],
    }
