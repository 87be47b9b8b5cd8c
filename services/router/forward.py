"""Pick an account, call a gateway, fail over on account-level failures — all before the first byte."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp
from redis.exceptions import RedisError
from starlette.responses import Response

from services.router.context import AppContext
from services.router.errors import ClientError
from services.router.failures import apply_failure
from services.router.relay import Exchange, RelayResponse
from services.router.reqlog import Finished
from services.router.upstream import (
    GatewayUnreachable,
    Upstream,
    failure_of,
    forward_headers,
    header_float,
    open_upstream,
    response_headers,
)
from shared.accounts.pool import Lease, PickMiss
from shared.errors import FailureKind
from shared.jobs import enqueue_refresh
from shared.logging import log_fields

log = logging.getLogger(__name__)

_SDK_MAX_RETRY_AFTER = 120.0  # clients ignore longer retry-after values
_REFRESH_SWEEP_PERIOD = 10.0


@dataclass
class Outgoing:
    """The request to send to a gateway."""

    method: str
    path: str  # path + query, as the client sent it
    body: bytes
    headers: list[tuple[str, str]]
    conversation: str | None = None


@dataclass
class _Failed:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


async def forward(
    ctx: AppContext,
    exchange: Exchange,
    out: Outgoing,
    *,
    with_account: bool = True,
    first_pick: Lease | PickMiss | None = None,
) -> Response:
    """Serve the request through up to `failover_attempts` accounts; stream the first good answer.

    `first_pick` is the pick made together with the key's admission (one Redis call for both); later
    attempts pick alone. A lease this function holds when it fails (a Redis error, a cancelled request)
    is freed at once rather than left to expire.
    """
    held = _Held(first_pick if isinstance(first_pick, Lease) else None)
    try:
        return await _forward(ctx, exchange, out, with_account=with_account, first_pick=first_pick, held=held)
    except BaseException:
        if held.lease is not None:
            _release_soon(ctx, held.lease)
        raise


@dataclass
class _Held:
    """The lease `forward` holds and has not handed to a relay (freeing it twice is harmless)."""

    lease: Lease | None


_releasing: set[asyncio.Task[None]] = set()


def _release_soon(ctx: AppContext, lease: Lease) -> None:
    """Free a lease from a task of its own, so a cancelled request still gives its slot back."""

    async def release() -> None:
        try:
            await ctx.pool.release(lease, "none")
        except RedisError as exc:
            log.warning("lease not released", extra=log_fields(account=lease.account_id, error=repr(exc)))
            ctx.pending_releases.add(lease)

    task = asyncio.ensure_future(release())
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


async def _forward(
    ctx: AppContext,
    exchange: Exchange,
    out: Outgoing,
    *,
    with_account: bool,
    first_pick: Lease | PickMiss | None,
    held: _Held,
) -> Response:
    runtime = await ctx.runtime.current()
    if not with_account:
        headers = forward_headers(out.headers, ctx, exchange.request_id, runtime.options_header, None)
        try:
            upstream = await open_upstream(ctx, out.method, out.path, out.body, headers)
        except GatewayUnreachable as exc:
            error = _no_gateway(ctx, exchange)
            await _log_end(ctx, exchange, error.status, "error", error.code)
            raise error from exc
        return RelayResponse(ctx, exchange, upstream, None)

    tried: list[str] = []
    last_failed: _Failed | None = None
    trail = exchange.trail
    for attempt in range(runtime.failover_attempts):
        picked = await _pick(ctx, tried, out.conversation, first_pick if attempt == 0 else None)
        held.lease = picked if isinstance(picked, Lease) else None
        if isinstance(picked, PickMiss):
            if last_failed is not None:
                break
            error = await _no_account(ctx, exchange, picked)
            await _count_error(ctx, exchange, error.status, error.code)
            raise error
        creds = await ctx.credentials.get(picked.account_id)
        if creds is None:
            await ctx.pool.release(picked, "none")
            tried.append(picked.account_id)
            trail.append(f"{picked.account_id}:no_credentials")
            continue
        headers = forward_headers(out.headers, ctx, exchange.request_id, runtime.options_header, creds)
        try:
            upstream = await open_upstream(ctx, out.method, out.path, out.body, headers)
        except GatewayUnreachable as exc:
            await ctx.pool.release(picked, "none")
            ctx.metrics.attempts.labels("gateway_unreachable").inc()
            trail.append(f"{picked.account_id}:gateway_unreachable")
            if attempt == runtime.failover_attempts - 1:
                error = _no_gateway(ctx, exchange)
                await _count_error(ctx, exchange, error.status, error.code)
                raise error from exc
            continue
        failure = failure_of(upstream.response)
        kind = _kind(failure)
        if kind is None or not kind.is_account_level:
            held.lease = None  # the relay frees it when the stream ends
            return RelayResponse(ctx, exchange, upstream, picked)
        last_failed = await _fail_over(ctx, picked, upstream, kind)
        tried.append(picked.account_id)
        trail.append(f"{picked.account_id}:{kind.value}")
    if last_failed is None:
        error = await _no_account(ctx, exchange, PickMiss("excluded", 0.0))
        await _count_error(ctx, exchange, error.status, error.code)
        raise error
    await _count_error(ctx, exchange, last_failed.status, "", outcome="failed_over")
    ctx.metrics.requests.labels(exchange.route, str(last_failed.status), exchange.model, "").inc()
    return _raw_response(last_failed)


async def _fail_over(ctx: AppContext, lease: Lease, upstream: Upstream, kind: FailureKind) -> _Failed:
    """An account-level failure before the first byte: keep the answer, mark the account, free the slot."""
    response = upstream.response
    try:
        body = await response.read()
    except aiohttp.ClientError:
        body = b""
    failed = _Failed(response.status, response_headers(response), body)
    response.release()
    ctx.metrics.failovers.labels(kind.value).inc()
    ctx.metrics.attempts.labels(kind.value).inc()
    log.warning(
        "account failed before the first byte; failing over",
        extra=log_fields(account=lease.account_id, kind=kind.value, status=response.status),
    )
    await ctx.pool.release(lease, "error")
    await apply_failure(
        ctx,
        lease.account_id,
        kind,
        retry_after=header_float(response, "X-Kiro-Retry-After"),
        reset_at=header_float(response, "X-Kiro-Reset-At"),
    )
    return failed


async def _count_error(
    ctx: AppContext, exchange: Exchange, status: int, reason: str | None, *, outcome: str = "error"
) -> None:
    """Count a request the router ends itself as an error in the client key's usage, and log it."""
    if exchange.key is not None:
        await ctx.client_keys.record_usage(exchange.key, 0, 0, error=True)
    await _log_end(ctx, exchange, status, outcome, reason)


async def _log_end(
    ctx: AppContext, exchange: Exchange, status: int, outcome: str, reason: str | None
) -> None:
    """Log a request the router ends itself (no relay settles it)."""
    done = Finished(
        route=exchange.route,
        model=exchange.model,
        key=exchange.key,
        request_id=exchange.request_id,
        status=status,
        outcome=outcome,
        trail=tuple(exchange.trail),
        reason=reason or "",
        duration_ms=(time.perf_counter() - exchange.started) * 1000,
    )
    await ctx.request_log.append(done)


def _raw_response(failed: _Failed) -> Response:
    response = Response(failed.body, status_code=failed.status)
    response.raw_headers = [*failed.headers, (b"content-length", str(len(failed.body)).encode())]
    return response


def _kind(failure: str | None) -> FailureKind | None:
    if failure is None:
        return None
    try:
        return FailureKind(failure)
    except ValueError:
        return None


async def _pick(
    ctx: AppContext, tried: list[str], conversation: str | None, first: Lease | PickMiss | None = None
) -> Lease | PickMiss:
    """One pick (or `first`, already made); when every account is only busy, wait a little and pick again."""
    deadline = time.monotonic() + ctx.settings.pick_wait_seconds
    result = first
    while True:
        if result is None:
            start = time.perf_counter()
            result = await ctx.pool.pick(tried, conversation)
            ctx.metrics.pick_seconds.observe(time.perf_counter() - start)
        if not isinstance(result, PickMiss) or result.reason != "busy":
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return result
        await asyncio.sleep(min(max(result.retry_after, 0.01), remaining))
        result = None


async def _no_account(ctx: AppContext, exchange: Exchange, miss: PickMiss) -> ClientError:
    """A 503 saying why nothing is usable, retryable only when waiting can help."""
    summary = await ctx.pool.summary()
    counts = summary.counts
    retry_after: float = ctx.settings.no_account_retry_after_seconds
    if summary.total == 0:
        reason, message = "none_configured", "no Kiro account is configured; add one in the admin panel"
    elif miss.reason == "busy":
        reason, message, retry_after = "busy", "every Kiro account is at its concurrency limit", 1.0
    elif miss.reason == "no_token":
        reason = "refreshing"
        message = "no Kiro account has a usable access token right now; tokens are being refreshed"
        retry_after = 5.0
        await _refresh_all_pooled(ctx)
    elif miss.reason == "cooling":
        reason = "cooling"
        retry_after = max(miss.retry_after, 1.0)
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + retry_after))
        message = (
            f"every Kiro account is cooling down or out of quota until {until} "
            f"({counts['cooldown']} cooling down, {counts['exhausted']} exhausted)"
        )
    elif counts["needs_relogin"] and not counts["active"]:
        reason = "needs_relogin"
        message = f"every Kiro account needs to log in again ({counts['needs_relogin']}); see the admin panel"
    else:
        reason = "unavailable"
        message = (
            f"no Kiro account is usable: {counts['disabled']} disabled, "
            f"{counts['needs_relogin']} need re-login, {counts['invalid']} invalid"
        )
    ctx.metrics.no_account.labels(reason).inc()
    ctx.metrics.requests.labels(exchange.route, "503", exchange.model, "").inc()
    log.warning("no usable account", extra=log_fields(reason=reason, pick=miss.reason))
    retryable = reason in ("busy", "refreshing") or (
        reason == "cooling" and retry_after <= _SDK_MAX_RETRY_AFTER
    )
    return ClientError(
        503,
        message,
        kind="overloaded_error" if retryable else "api_error",
        code=reason,
        retry_after=retry_after if retryable or reason == "cooling" else None,
        should_retry=retryable,
    )


def _no_gateway(ctx: AppContext, exchange: Exchange) -> ClientError:
    ctx.metrics.requests.labels(exchange.route, "502", exchange.model, "").inc()
    return ClientError(
        502, "no gateway is reachable", code="gateway_unreachable", retry_after=2, should_retry=True
    )


async def _refresh_all_pooled(ctx: AppContext, limit: int = 20) -> None:
    """Ask the refresher for tokens of pooled accounts, at most every few seconds per process."""
    now = time.monotonic()
    if now - ctx.refresh_sweep_at < _REFRESH_SWEEP_PERIOD:
        return
    ctx.refresh_sweep_at = now
    members = await ctx.redis.zrange(ctx.keys.pool(), 0, limit - 1)
    for account_id in members:
        try:
            await enqueue_refresh(ctx.arq, ctx.keys, account_id, reason="no usable access token")
        except OSError as exc:
            log.error("refresh job not queued", extra=log_fields(account=account_id, error=repr(exc)))
