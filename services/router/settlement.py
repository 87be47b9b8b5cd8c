"""Settling a finished request: metrics, the log line, the lease, the account's and the client key's usage.

One Redis round trip frees the lease and records the usage and the request-log entry (`Pool.release`);
a Kiro failure inside a started stream still goes through the account's failure policy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from services.router.context import AppContext
from services.router.exchange import Exchange
from services.router.failures import apply_failure
from services.router.reqlog import SERVED, Finished
from shared.accounts.pool import Lease
from shared.contract import Usage
from shared.errors import FailureKind
from shared.logging import log_fields, request_id_var

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settled:
    """How a relayed answer ended."""

    status: int
    outcome: str  # ok | cut | disconnected
    usage: Usage
    served_model: str
    ttfb: float  # seconds from arrival to the first relayed byte; -1 when none was


async def settle(ctx: AppContext, ex: Exchange, lease: Lease | None, done: Settled) -> None:
    """Count the finished request, log it, free its lease and charge its account and client key."""
    outcome, usage = done.outcome, done.usage
    account = lease.account_id if lease else ""
    ok = outcome == "ok" and done.status < 400 and usage.failure is None
    metrics = ctx.metrics
    seconds = time.perf_counter() - ex.started
    metrics.child(metrics.stream_seconds, ex.route).observe(seconds)
    client_key = ex.key_label
    metrics.child(metrics.requests, ex.route, str(done.status), ex.model, account, client_key).inc()
    metrics.child(metrics.attempts, "served" if ok else outcome if outcome != "ok" else "error").inc()
    if usage.input_tokens or usage.output_tokens:
        metrics.child(metrics.tokens, "input", ex.model, client_key).inc(usage.input_tokens)
        metrics.child(metrics.tokens, "output", ex.model, client_key).inc(usage.output_tokens)
    if usage.credits:
        metrics.child(metrics.credits, client_key, ex.model).inc(usage.credits)
    token = request_id_var.set(ex.request_id)
    log.info(
        "request done",
        extra=log_fields(
            route=ex.route,
            status=done.status,
            outcome=outcome,
            account=account or "-",
            model=ex.model or "-",
            served_model=done.served_model or "-",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            seconds=round(seconds, 3),
        ),
    )
    entry = ctx.request_log.call(_finished(ex, lease, done, ok, seconds)) if ctx.request_log.size else None
    key_usage = None
    counted = usage.input_tokens or usage.output_tokens or usage.credits or not ok
    if ex.key is not None and (counted or ex.key_slot):  # a slot alone still needs freeing
        key_usage = ctx.client_keys.usage_call(
            ex.key,
            usage.input_tokens,
            usage.output_tokens,
            credits=usage.credits,
            error=not ok,
            request_id=ex.key_slot,
        )
    try:
        if lease is not None:
            # the account is not to blame for a client's 4xx or a client hanging up
            account_failed = outcome == "cut" or done.status >= 500 or usage.failure is not None
            await ctx.pool.release(
                lease,
                "error" if account_failed else "ok",
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                credits=usage.credits,
                key_usage=key_usage,  # one round trip for the lease, the key's usage and the log
                log_entry=entry,
            )
            await _apply_in_band_failure(ctx, lease, usage)
        else:
            if key_usage is not None:
                await ctx.client_keys.write_usage(key_usage)
            await ctx.request_log.write(entry)
    except RedisError as exc:
        log.error("could not settle the request", extra=log_fields(account=account, error=repr(exc)))
        if lease is not None:
            ctx.pending_releases.add(lease)
    finally:
        request_id_var.reset(token)


def _finished(ex: Exchange, lease: Lease | None, done: Settled, ok: bool, seconds: float) -> Finished:
    """The request log's view of this request (no content, no key material)."""
    outcome, usage = done.outcome, done.usage
    return Finished(
        route=ex.route,
        model=ex.model,
        served_model=done.served_model,
        key=ex.key,
        request_id=ex.request_id,
        status=done.status,
        outcome=SERVED if ok else "error" if outcome == "ok" else outcome,
        account=lease.account_id if lease else "",
        trail=tuple(ex.trail),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        credits=usage.credits,
        ttfb_ms=done.ttfb * 1000 if done.ttfb >= 0 else -1.0,
        duration_ms=seconds * 1000,
    )


async def _apply_in_band_failure(ctx: AppContext, lease: Lease | None, usage: Usage) -> None:
    """A Kiro failure inside a started stream cannot fail over, but the account still pays for it."""
    if lease is None or not usage.failure:
        return
    try:
        kind = FailureKind(usage.failure)
    except ValueError:
        return
    if kind.is_account_level:  # through the same outlier policy as failures before the first byte
        await apply_failure(ctx, lease.account_id, kind, reason=usage.reason)
