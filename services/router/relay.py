"""Pass a gateway's answer to the client chunk by chunk; `settlement.py` then settles lease and usage."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from redis.exceptions import RedisError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.router.context import AppContext
from services.router.errors import in_band_error
from services.router.exchange import Exchange
from services.router.hints import safe_model
from services.router.internal_lines import InternalLines
from services.router.settlement import Settled, settle
from services.router.upstream import Upstream, response_headers
from shared import contract
from shared.accounts.pool import Lease
from shared.contract import Usage
from shared.disconnect import ClientWatch
from shared.logging import log_fields

log = logging.getLogger(__name__)


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
        renewal = _Renewal(ctx, self.lease, ex) if self.lease else None
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
            await settle(
                self.ctx,
                self.exchange,
                self.lease,
                Settled(self.status_code, outcome, self.usage, self.served_model, self.ttfb),
            )

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


class _Renewal:
    """Renews a stream's lease (and its client key's in-flight entry) every `lease_ttl_seconds`/3 from a
    timer: no task until a renewal is due."""

    def __init__(self, ctx: AppContext, lease: Lease, exchange: Exchange) -> None:
        self._ctx = ctx
        self._lease = lease
        self._exchange = exchange
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
        ctx, ex = self._ctx, self._exchange
        try:
            await ctx.pool.renew(self._lease)
            if ex.key is not None:
                await ctx.client_keys.renew_slot(ex.key, ex.key_slot, ctx.settings.lease_ttl_seconds)
        except RedisError as exc:
            log.warning("lease renewal failed", extra=log_fields(error=repr(exc)))
