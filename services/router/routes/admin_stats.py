"""Read-only figures for the admin panel: per-account and per-key counters by UTC day and all time, pool
by state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from services.router.context import AppContext
from shared.accounts.model import Account
from shared.accounts.pool import STATS_TTL_SECONDS, last_days, today
from shared.accounts.schema import ACCOUNT_COUNTERS, KEY_COUNTERS, Counter
from shared.clientkey_record import ClientKey
from shared.parsing import float_or_zero

#: the history reaches back as far as the day hashes live (they expire after 35 days)
MAX_HISTORY_DAYS = STATS_TTL_SECONDS // 86400

#: what the history counts per day and all time, for accounts and client keys alike
HISTORY_COUNTERS = (*ACCOUNT_COUNTERS, Counter.CREDITS)

By = Literal["account", "key"]


def _counters(raw: dict[str, str], whole: Iterable[str] = ACCOUNT_COUNTERS) -> dict[str, Any]:
    """The counters of one stored hash: the `whole` ones as whole numbers, credits to 4 decimals, 0 when
    missing."""
    out: dict[str, Any] = {name: int(float_or_zero(raw.get(name))) for name in whole}
    out[Counter.CREDITS] = round(float_or_zero(raw.get(Counter.CREDITS)), 4)
    return out


def _sum(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The history counters of several rows added up."""
    total = _counters({})
    for row in rows:
        for name in HISTORY_COUNTERS:
            total[name] += row[name]
    total[Counter.CREDITS] = round(total[Counter.CREDITS], 4)
    return total


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
    return {account_id: _counters(raw) for account_id, raw in zip(ids, rows, strict=True)}


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
    return {key.id: _counters(raw, KEY_COUNTERS) for key, raw in zip(keys, rows, strict=True)}


@dataclass(frozen=True, slots=True)
class _Counted:
    """One account or client key as the history reads it: its day hashes and its all-time hash."""

    id: str
    name: str
    day_key: Callable[[str], str]
    total_key: str


def _counted(ctx: AppContext, by: By, accounts: list[Account], keys: list[ClientKey]) -> list[_Counted]:
    """What the history is read for: every account, or every client key."""
    if by == "account":
        return [
            _Counted(
                a.id,
                a.label or a.id,
                partial(ctx.keys.account_stats, a.id),
                ctx.keys.account_stats_total(a.id),
            )
            for a in accounts
        ]
    return [
        _Counted(
            k.id,
            k.name or k.id,
            partial(ctx.keys.client_key_usage, k.key_hash),
            ctx.keys.client_key_usage_total(k.key_hash),
        )
        for k in keys
    ]


async def history(
    ctx: AppContext, span: list[str], by: By, accounts: list[Account], keys: list[ClientKey]
) -> dict[str, Any]:
    """Counters of every account or client key on each day of `span`, and all time: one round trip.

    Every day is present, zero when nothing was counted (or its hash has expired).
    """
    counted = _counted(ctx, by, accounts, keys)
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for entity in counted:
            for day in span:
                pipe.hgetall(entity.day_key(day))
            pipe.hgetall(entity.total_key)
        rows: list[dict[str, str]] = await pipe.execute()
    width = len(span) + 1
    series: list[dict[str, Any]] = []
    for n, entity in enumerate(counted):
        own = rows[n * width : (n + 1) * width]
        series.append(
            {
                "id": entity.id,
                "name": entity.name,
                "days": [{"day": day, **_counters(raw)} for day, raw in zip(span, own[:-1], strict=True)],
                "all_time": _counters(own[-1]),
            }
        )
    return {
        "by": by,
        "series": series,
        "day_totals": [{"day": day, **_sum(s["days"][i] for s in series)} for i, day in enumerate(span)],
        "all_time": _sum(s["all_time"] for s in series),
    }


async def overview(ctx: AppContext, days: int = 1, by: By = "account") -> dict[str, Any]:
    """The dashboard: pool counts by state, today's totals, per account and per key, and the history."""
    now = time.time()
    day = today(now)
    summary = await ctx.pool.summary()
    listing = await ctx.store.list()
    per_account = await account_stats(ctx, (a.id for a in listing.accounts), day)
    client_keys = await ctx.client_keys.list()
    usage = await key_usage(ctx, client_keys, day)
    return {
        "day": day,
        "pool": {**summary.counts, "total": summary.total, "soonest_reset": summary.soonest_reset},
        "totals": _sum(per_account.values()),
        "accounts": [
            {
                "id": a.id,
                "label": a.label,
                "state": a.effective_state(now).value,
                "usage_current": a.usage_current,
                "usage_limit": a.usage_limit,
                **per_account.get(a.id, {}),
            }
            for a in listing.accounts
        ],
        "keys": [{"id": k.id, "name": k.name, "enabled": k.enabled, **usage[k.id]} for k in client_keys],
        **await history(ctx, last_days(days, now), by, listing.accounts, client_keys),
    }
