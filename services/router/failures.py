"""What an account-level failure reported by a gateway does to the account (cooldown, refresh, disable)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import cast

from redis.exceptions import RedisError

from services.router.context import AppContext
from shared.accounts import history
from shared.accounts.state import INVALID_TOKEN_REASON
from shared.errors import FailureKind
from shared.jobs import enqueue_refresh, enqueue_usage_refresh
from shared.logging import log_fields

log = logging.getLogger(__name__)

_THROTTLE_JITTER = 0.2


async def apply_failure(
    ctx: AppContext,
    account_id: str,
    kind: FailureKind,
    *,
    retry_after: float | None = None,
    reset_at: float | None = None,
    reason: str | None = None,
) -> None:
    """Record the verdict on the account so no replica picks it again until it can work.

    Kiro's verdicts (a throttle, exhausted quota, a rejected token, a suspension) act at once; a transient
    error only counts towards `outlier_consecutive_errors` in a row (outlier detection, as Envoy's
    consecutive 5xx), so one blip never takes an account out of rotation. `reason` is Kiro's own words,
    kept with a suspension and in the account's error history.
    """
    if kind.is_account_level:
        await history.record(ctx.redis, ctx.keys, account_id, history.Failure(kind, reason or "", "router"))
    s = ctx.settings
    if kind is FailureKind.INVALID_TOKEN:
        ctx.credentials.drop(account_id)
        await ctx.pool.cool_down(
            account_id, INVALID_TOKEN_REASON, min_seconds=s.invalid_token_cooldown_seconds
        )
        await _enqueue_refresh(ctx, account_id)
    elif kind is FailureKind.QUOTA_EXHAUSTED:
        await ctx.states.exhaust(
            account_id, await _quota_back_at(ctx, account_id, reset_at), "quota exhausted"
        )
        # the figures and reset date the panel shows, fetched now rather than at the next refresh
        await enqueue_usage_refresh(ctx.arq, ctx.keys, account_id)
    elif kind is FailureKind.THROTTLED:
        await ctx.pool.cool_down(
            account_id,
            "throttled",
            min_seconds=retry_after or 0.0,
            breaker_base=s.cooldown_base_seconds,
            breaker_cap=s.cooldown_max_seconds,
            jitter_ratio=_THROTTLE_JITTER,
        )
    elif kind is FailureKind.SUSPENDED:
        ctx.metrics.account_alerts.labels("suspended").inc()
        log.error(
            "ALERT account suspended by Kiro; disabled",
            extra=log_fields(account=account_id, reason=reason or "-"),
        )
        why = f"suspended by Kiro: {reason}" if reason else "suspended by Kiro"
        await ctx.states.disable(account_id, why)
    elif kind is FailureKind.UPSTREAM_ERROR:
        await ctx.pool.cool_down(
            account_id,
            "upstream error",
            min_seconds=s.upstream_error_cooldown_seconds,
            breaker_base=s.upstream_error_cooldown_seconds,
            breaker_cap=s.cooldown_max_seconds,
            after=s.outlier_consecutive_errors,
        )


async def _quota_back_at(ctx: AppContext, account_id: str, reset_at: float | None) -> float:
    """When an exhausted account's quota returns: Kiro's reset time, else the one its usage limits gave.

    The exhaustion's end is also the `Retry-After` a client gets when every account is out of quota.
    """
    now = time.time()
    if reset_at and reset_at > now:
        return reset_at
    # the refresher's last getUsageLimits answer
    known = await cast(Awaitable[str | None], ctx.redis.hget(ctx.keys.account(account_id), "usage_reset_at"))
    try:
        usage_reset = float(known) if known else 0.0
    except ValueError:
        usage_reset = 0.0
    return usage_reset if usage_reset > now else now + ctx.settings.quota_default_reset_seconds


async def _enqueue_refresh(ctx: AppContext, account_id: str) -> None:
    try:
        await enqueue_refresh(ctx.arq, ctx.keys, account_id, force=True, reason="invalid_token")
    except (RedisError, OSError) as exc:
        log.error("refresh job not queued", extra=log_fields(account=account_id, error=repr(exc)))
