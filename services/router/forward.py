"""Pick an account, call a gateway, fail over on account-level failures — all before the first byte."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import aiohttp
from redis.exceptions import RedisError
from starlette.responses import Response
from starlette.types import Receive

from services.router.abandon import Abandoned, Abandonment
from services.router.context import AppContext
from services.router.errors import ClientError, unavailable_status
from services.router.exchange import Exchange
from services.router.exhausted import SDK_MAX_RETRY_AFTER, exhausted
from services.router.failures import apply_failure
from services.router.relay import RelayResponse
from services.router.reqlog import Finished
from services.router.upstream import (
    GatewayUnreachable,
    Upstream,
    failure_of,
    forward_headers,
    header_float,
    open_upstream,
)
from shared import contract
from shared.accounts.pool import Lease, PickMiss
from shared.errors import FailureKind
from shared.jobs import enqueue_refresh
from shared.logging import log_fields

log = logging.getLogger(__name__)

_REFRESH_SWEEP_PERIOD = 10.0


@dataclass
class Outgoing:
    """The request to send to a gateway."""

    method: str
    path: str  # path + query, as the client sent it
    body: bytes
    headers: list[tuple[str, str]]
    conversation: str | None = None


async def forward(
    ctx: AppContext,
    exchange: Exchange,
    out: Outgoing,
    *,
    with_account: bool = True,
    first_pick: Lease | PickMiss | None = None,
    receive: Receive | None = None,
) -> Response:
    """Serve the request through up to `failover_attempts` accounts; stream the first good answer.

    `first_pick` is the pick made together with the key's admission (one Redis call for both); later
    attempts pick alone. A lease this function holds when it fails (a Redis error, a cancelled request)
    is freed at once rather than left to expire, and so is the client key's in-flight entry of a request
    that ends here. With the client's `receive`, a client that disconnects before the first byte stops the
    gateway call in progress and any further failover.
    """
    held = _Held(first_pick if isinstance(first_pick, Lease) else None)
    watch = Abandonment(receive) if receive is not None else None
    try:
        return await _forward(
            ctx, exchange, out, with_account=with_account, first_pick=first_pick, held=held, watch=watch
        )
    except Abandoned:
        if held.lease is not None:
            _release_soon(ctx, held.lease)
        _free_key_slot_soon(ctx, exchange)
        return await _abandoned(ctx, exchange)
    except BaseException:
        if held.lease is not None:
            _release_soon(ctx, held.lease)
        _free_key_slot_soon(ctx, exchange)  # a ClientError was settled already: freeing twice is harmless
        raise
    finally:
        if watch is not None:
            watch.stop()


async def _abandoned(ctx: AppContext, exchange: Exchange) -> Response:
    """The client went away before the first byte: log it (499, as nginx) and answer no one."""
    log.info("client disconnected before the first byte", extra=log_fields(route=exchange.route))
    ctx.metrics.requests.labels(exchange.route, "499", exchange.model, "", exchange.key_label).inc()
    await _log_end(ctx, exchange, 499, "abandoned", "client_disconnected")
    return Response(status_code=499)


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

    _keep(asyncio.ensure_future(release()))


def _free_key_slot_soon(ctx: AppContext, exchange: Exchange) -> None:
    """Free the client key's in-flight entry of a request the router ends without a settle."""
    key, slot = exchange.key, exchange.key_slot
    if key is None or not slot:
        return

    async def free() -> None:
        try:
            await ctx.client_keys.release_slot(key, slot)
        except RedisError as exc:  # the entry stops counting when it expires
            log.warning("key in-flight entry not freed", extra=log_fields(key=key.id, error=repr(exc)))

    _keep(asyncio.ensure_future(free()))


def _keep(task: asyncio.Task[None]) -> None:
    """Hold a fire-and-forget task until it is done (the loop keeps only weak references)."""
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
    watch: Abandonment | None,
) -> Response:
    runtime = await ctx.runtime.current()
    if not with_account:
        headers = forward_headers(
            out.headers, ctx, exchange.request_id, runtime.options_header, None, protocol=exchange.protocol
        )
        try:
            with _cancellable(watch):
                upstream = await open_upstream(ctx, out.method, out.path, out.body, headers)
        except GatewayUnreachable as exc:
            error = _no_gateway(ctx, exchange)
            await _log_end(ctx, exchange, error.status, "error", error.code)
            raise error from exc
        return RelayResponse(ctx, exchange, upstream, None)

    tried: list[str] = []
    failed: list[FailureKind] = []  # the verdict on each account tried
    trail = exchange.trail
    ctx.failover_budget.request()
    for attempt in range(runtime.failover_attempts):
        if watch is not None:
            watch.check()
        picked = await _pick(ctx, tried, out.conversation, first_pick if attempt == 0 else None, watch)
        held.lease = picked if isinstance(picked, Lease) else None
        if isinstance(picked, PickMiss):
            if failed:
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
        headers = forward_headers(
            out.headers, ctx, exchange.request_id, runtime.options_header, creds, protocol=exchange.protocol
        )
        try:
            with _cancellable(watch):
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
        await _fail_over(ctx, picked, upstream, kind)
        failed.append(kind)
        tried.append(picked.account_id)
        trail.append(f"{picked.account_id}:{kind.value}")
        if not _may_fail_over(ctx, kind, last=attempt == runtime.failover_attempts - 1):
            break
    if not failed:
        error = await _no_account(ctx, exchange, PickMiss("excluded", 0.0))
        await _count_error(ctx, exchange, error.status, error.code)
        raise error
    error = await exhausted(ctx, exchange, failed)
    await _count_error(ctx, exchange, error.status, error.code, outcome="failed_over")
    raise error


def _may_fail_over(ctx: AppContext, kind: FailureKind, *, last: bool) -> bool:
    """Whether to try another account after `kind`: transient Kiro errors only within the retry budget.

    A verdict on one account (throttled, quota, token, suspension) takes that account out of rotation, so
    failing over on it cannot multiply the load on Kiro; a transient error may be Kiro being down for
    every account, when each failover is one more call into the outage.
    """
    if last or kind is not FailureKind.UPSTREAM_ERROR:
        return not last
    if ctx.failover_budget.try_retry():
        return True
    ctx.metrics.attempts.labels("retry_budget_exhausted").inc()
    return False


async def _fail_over(ctx: AppContext, lease: Lease, upstream: Upstream, kind: FailureKind) -> None:
    """An account-level failure before the first byte: mark the account, free the slot."""
    response = upstream.response
    try:
        with contextlib.suppress(aiohttp.ClientError):
            await response.read()  # drained, so the connection to the gateway is reused
    finally:
        upstream.close()
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
        retry_after=header_float(response, contract.RETRY_AFTER),
        reset_at=header_float(response, contract.RESET_AT),
        reason=response.headers.get(contract.FAILURE_REASON),
    )


async def _count_error(
    ctx: AppContext, exchange: Exchange, status: int, reason: str | None, *, outcome: str = "error"
) -> None:
    """Count a request the router ends itself as an error in the client key's usage, and log it."""
    if exchange.key is not None:
        await ctx.client_keys.record_usage(exchange.key, 0, 0, error=True, request_id=exchange.key_slot)
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


def _kind(failure: str | None) -> FailureKind | None:
    if failure is None:
        return None
    try:
        return FailureKind(failure)
    except ValueError:
        return None


def _cancellable(watch: Abandonment | None) -> AbstractContextManager[None]:
    return watch.cancellable() if watch is not None else nullcontext()


async def _pick(
    ctx: AppContext,
    tried: list[str],
    conversation: str | None,
    first: Lease | PickMiss | None = None,
    watch: Abandonment | None = None,
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
        with _cancellable(watch):
            await asyncio.sleep(min(max(result.retry_after, 0.01), remaining))
        result = None


async def _no_account(ctx: AppContext, exchange: Exchange, miss: PickMiss) -> ClientError:
    """Why nothing is usable (503, for Anthropic callers 529 or 500), retryable only when waiting helps."""
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
    log.warning("no usable account", extra=log_fields(reason=reason, pick=miss.reason))
    if reason == "cooling" and counts["exhausted"] and not counts["cooldown"]:
        # every account is out of quota: the same answer as when each one tried said so (exhausted.py)
        ctx.metrics.requests.labels(exchange.route, "429", exchange.model, "", exchange.key_label).inc()
        return ClientError(
            429,
            message,
            kind="rate_limit_error",
            code="insufficient_quota",
            retry_after=retry_after,
            should_retry=retry_after <= SDK_MAX_RETRY_AFTER,
        )
    retryable = reason in ("busy", "refreshing") or (
        reason == "cooling" and retry_after <= SDK_MAX_RETRY_AFTER
    )
    # a long cooldown is still "overloaded, come back at Retry-After" (told not to retry before it)
    status, kind = unavailable_status(exchange.protocol, retryable=retryable or reason == "cooling")
    ctx.metrics.requests.labels(exchange.route, str(status), exchange.model, "", exchange.key_label).inc()
    return ClientError(
        status,
        message,
        kind=kind,
        code=reason,
        retry_after=retry_after if retryable or reason == "cooling" else None,
        should_retry=retryable,
    )


def _no_gateway(ctx: AppContext, exchange: Exchange) -> ClientError:
    ctx.metrics.requests.labels(exchange.route, "502", exchange.model, "", exchange.key_label).inc()
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
