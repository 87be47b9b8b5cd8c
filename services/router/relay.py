"""Pass a gateway's answer to the client chunk by chunk, then settle the lease, usage and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
from redis.exceptions import RedisError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.router.context import AppContext
from services.router.errors import in_band_error
from services.router.failures import apply_failure
from services.router.hints import safe_model
from services.router.internal_lines import InternalLines
from services.router.reqlog import SERVED, Finished
from services.router.upstream import Upstream, response_headers
from shared import contract
from shared.accounts.pool import Lease
from shared.client_errors import Protocol
from shared.clientkeys import ClientKey
from shared.contract import Usage
from shared.disconnect import ClientWatch
from shared.errors import FailureKind
from shared.logging import log_fields, request_id_var

log = logging.getLogger(__name__)


@dataclass
class Exchange:
    """One client request as the relay needs it after the pick."""

    route: str
    protocol: Protocol
    model: str
    key: ClientKey | None
    request_id: str
    started: float  # perf_counter at arrival
    trail: list[str] = field(default_factory=list)  # "account:reason" of each account failed over


class RelayResponse(Response):
    """Streams the upstream body as it arrives; frees the lease when done, on error and on disconnect."""

    def __init__(self, ctx: AppContext, exchange: Exchange, upstream: Upstream, lease: Lease | None) -> None:
        self.ctx = ctx
        self.exchange = exchange
        self.answer = upstream
        self.upstream = upstream.response
        self.lease = lease
        self.status_code = upstream.response.status
        self.background = None
        self.raw_headers = response_headers(upstream.response)
        content_type = upstream.response.headers.get("Content-Type", "")
        self.is_sse = content_type.startswith("text/event-stream")
        self.usage = Usage()
        self.served_model = safe_model(upstream.response.headers.get(contract.SERVED_MODEL, ""))
        self.ttfb = -1.0  # seconds from arrival to the first relayed byte; -1 until then

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx, ex = self.ctx, self.exchange
        account = self.lease.account_id if self.lease else ""
        if account:
            ctx.metrics.child(ctx.metrics.inflight, account).inc()
        relay = asyncio.current_task()
        assert relay is not None  # an ASGI app always runs inside a task
        watch = ClientWatch(receive)  # a hang-up cancels this task
        renewal = _Renewal(ctx, self.lease) if self.lease else None
        ctx.open_streams.add(relay)
        outcome = "disconnected"
        try:
            # pumped in this task (no task and wait per request); a hang-up cancels it
            outcome = await self._pump(send)
        except asyncio.CancelledError:
            if not watch.ours():  # not (only) the client: let it through
                raise
            log.info("client disconnected mid-stream", extra=log_fields(account=account, route=ex.route))
        finally:
            watch.stop()
            ctx.open_streams.discard(relay)
            if renewal is not None:
                renewal.stop()
            self.answer.close()
            if account:
                ctx.metrics.child(ctx.metrics.inflight, account).dec()
            await self._settle(outcome)

    async def _pump(self, send: Send) -> str:
        ex, ctx = self.exchange, self.ctx
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        internal = InternalLines() if self.is_sse else None  # the usage trailer is ours, not the client's
        first = True
        outcome = "ok"
        try:
            async for chunk in self.upstream.content.iter_any():
                if first:
                    self.ttfb = time.perf_counter() - ex.started
                    ctx.metrics.child(ctx.metrics.ttfb_seconds, ex.route).observe(self.ttfb)
                    first = False
                body = internal.feed(chunk) if internal is not None else chunk
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome = "cut"
            ctx.metrics.midstream_errors.labels(ex.route).inc()
            log.warning(
                "gateway stream cut after the first byte",
                extra=log_fields(gateway=self.upstream.url.host, error=repr(exc), route=ex.route),
            )
            if self.is_sse:
                message = "the upstream stream was interrupted; please retry the request"
                event = in_band_error(ex.protocol, message)
                held = internal.end() if internal is not None else b""  # before the event, in order
                await send({"type": "http.response.body", "body": held + event, "more_body": True})
        rest = internal.end() if internal is not None else b""
        await send({"type": "http.response.body", "body": rest, "more_body": False})
        self.usage = self._usage(internal.lines if internal is not None else [])
        return outcome

    def _usage(self, internal: list[bytes]) -> Usage:
        if self.is_sse:
            line = next((x for x in reversed(internal) if x.startswith(contract.USAGE_LINE)), b"")
            return Usage.from_trailer(line)
        return Usage.from_headers(self.upstream.headers)

    async def _settle(self, outcome: str) -> None:
        ctx, ex = self.ctx, self.exchange
        usage = self.usage
        account = self.lease.account_id if self.lease else ""
        ok = outcome == "ok" and self.status_code < 400 and usage.failure is None
        metrics = ctx.metrics
        seconds = time.perf_counter() - ex.started
        metrics.child(metrics.stream_seconds, ex.route).observe(seconds)
        metrics.child(metrics.requests, ex.route, str(self.status_code), ex.model, account).inc()
        metrics.child(metrics.attempts, "served" if ok else outcome if outcome != "ok" else "error").inc()
        if usage.input_tokens or usage.output_tokens:
            metrics.child(metrics.tokens, "input", ex.model).inc(usage.input_tokens)
            metrics.child(metrics.tokens, "output", ex.model).inc(usage.output_tokens)
        token = request_id_var.set(ex.request_id)
        log.info(
            "request done",
            extra=log_fields(
                route=ex.route,
                status=self.status_code,
                outcome=outcome,
                account=account or "-",
                model=ex.model or "-",
                served_model=self.served_model or "-",
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                seconds=round(seconds, 3),
            ),
        )
        entry = ctx.request_log.call(self._finished(outcome, ok, seconds)) if ctx.request_log.size else None
        key_usage = None
        if ex.key is not None and (usage.input_tokens or usage.output_tokens or not ok):
            key_usage = ctx.client_keys.usage_call(
                ex.key, usage.input_tokens, usage.output_tokens, error=not ok
            )
        try:
            if self.lease is not None:
                # the account is not to blame for a client's 4xx or a client hanging up
                account_failed = outcome == "cut" or self.status_code >= 500 or usage.failure is not None
                await ctx.pool.release(
                    self.lease,
                    "error" if account_failed else "ok",
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    credits=usage.credits,
                    key_usage=key_usage,  # one round trip for the lease, the key's usage and the log
                    log_entry=entry,
                )
                await self._apply_in_band_failure(usage)
            else:
                if key_usage is not None:
                    await ctx.client_keys.write_usage(key_usage)
                await ctx.request_log.write(entry)
        except RedisError as exc:
            log.error("could not settle the request", extra=log_fields(account=account, error=repr(exc)))
            if self.lease is not None:
                ctx.pending_releases.add(self.lease)
        finally:
            request_id_var.reset(token)

    def _finished(self, outcome: str, ok: bool, seconds: float) -> Finished:
        """The request log's view of this request (no content, no key material)."""
        ex, usage = self.exchange, self.usage
        return Finished(
            route=ex.route,
            model=ex.model,
            served_model=self.served_model,
            key=ex.key,
            request_id=ex.request_id,
            status=self.status_code,
            outcome=SERVED if ok else "error" if outcome == "ok" else outcome,
            account=self.lease.account_id if self.lease else "",
            trail=tuple(ex.trail),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            credits=usage.credits,
            ttfb_ms=self.ttfb * 1000 if self.ttfb >= 0 else -1.0,
            duration_ms=seconds * 1000,
        )

    async def _apply_in_band_failure(self, usage: Usage) -> None:
        """A Kiro failure inside a started stream cannot fail over, but the account still pays for it."""
        if self.lease is None or not usage.failure:
            return
        try:
            kind = FailureKind(usage.failure)
        except ValueError:
            return
        if kind.is_account_level:  # through the same outlier policy as failures before the first byte
            await apply_failure(self.ctx, self.lease.account_id, kind, reason=usage.reason)


class _Renewal:
    """Renews a stream's lease every `lease_ttl_seconds`/3 from a timer: no task until a renewal is due."""

    def __init__(self, ctx: AppContext, lease: Lease) -> None:
        self._ctx = ctx
        self._lease = lease
        self._period = ctx.settings.lease_ttl_seconds / 3
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(self._period, self._due)
        self._task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def _due(self) -> None:
        self._task = self._loop.create_task(self._renew())
        self._timer = self._loop.call_later(self._period, self._due)

    async def _renew(self) -> None:
        try:
            await self._ctx.pool.renew(self._lease)
        except RedisError as exc:
            log.warning("lease renewal failed", extra=log_fields(error=repr(exc)))
