"""Background loops of a router process: change notices, pool gauges, gateway probes and name
resolution (all supervised)."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from redis.exceptions import RedisError

from services.router.context import AppContext
from services.router.credit_runway import RunwayGauges
from shared.logging import log_fields
from shared.tasks import start_supervised

log = logging.getLogger(__name__)


def start_background(ctx: AppContext) -> list[asyncio.Task[None]]:
    """Start every background loop under supervision (a crash is logged, counted and restarted)."""

    def restarted(loop: str) -> None:
        ctx.metrics.loop_restarts.labels(loop).inc()

    interval = ctx.settings.gateway_health_interval_seconds
    runways = RunwayGauges()
    resolve_every = ctx.settings.gateway_resolve_interval_seconds
    return [
        start_supervised(
            "gateway-probes", lambda: ctx.gateways.run_probes(ctx.http, interval), on_restart=restarted
        ),
        start_supervised(
            "gateway-resolution",
            lambda: ctx.gateways.run_resolution(ctx.http, resolve_every, min(interval, resolve_every)),
            on_restart=restarted,
        ),
        start_supervised("change-notices", lambda: listen_for_changes(ctx), on_restart=restarted),
        start_supervised("pool-gauges", lambda: refresh_pool_gauges(ctx, runways), on_restart=restarted),
    ]


async def listen_for_changes(ctx: AppContext) -> None:
    """Drop cached credentials and settings on `keys.events()` notices; resubscribe after Redis errors."""
    while True:
        pubsub = ctx.redis.pubsub()
        try:
            await pubsub.subscribe(ctx.keys.events())
            # notices may have been missed while unsubscribed: start from a clean cache
            ctx.credentials.drop()
            ctx.runtime.invalidate()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    apply_notice(ctx, message.get("data"))
        except (RedisError, OSError) as exc:
            log.warning("change notices interrupted; resubscribing", extra=log_fields(error=repr(exc)))
            await asyncio.sleep(1.0)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


def apply_notice(ctx: AppContext, data: object) -> None:
    try:
        notice = orjson.loads(data) if isinstance(data, (str, bytes)) else {}
    except orjson.JSONDecodeError:
        return
    if not isinstance(notice, dict):
        return
    if notice.get("type") == "settings_changed":
        ctx.runtime.invalidate()
        return
    account_id = notice.get("account_id")
    ctx.credentials.drop(account_id if isinstance(account_id, str) else None)


#: the runway gauges read every account and seven days of its stats, and change slowly: they are
#: refreshed every this many rounds of the pool gauges (a minute by default)
RUNWAY_EVERY_ROUNDS = 4


async def refresh_pool_gauges(ctx: AppContext, runways: RunwayGauges) -> None:
    """Keep `kiro_router_pool_accounts{state}` and, less often, the accounts' credit runway gauges in
    step with Redis."""
    rounds = 0
    while True:
        try:
            summary = await ctx.pool.summary()
            for state, count in summary.counts.items():
                ctx.metrics.pool_accounts.labels(state).set(count)
            if rounds % RUNWAY_EVERY_ROUNDS == 0:
                await runways.refresh(ctx, time.time())
        except RedisError as exc:
            log.warning("pool gauge refresh failed", extra=log_fields(error=repr(exc)))
        rounds += 1
        await asyncio.sleep(ctx.settings.pool_gauge_interval_seconds)
