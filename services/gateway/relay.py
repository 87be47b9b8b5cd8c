"""Kiro bytes → event-stream decoder → Kiro events → translator → SSE bytes, as they arrive.

One `Relay` serves one client response: the first Kiro answer plus any auto-continuations, keep-alive
pings, the idle-read timeout, and in-stream failures turned into `UpstreamError` (the caller decides:
in-band error event when streaming, an error response otherwise).

Pings are timed from the last byte written to the client, not from Kiro's last frame: Kiro frames the
client never sees (metering, context usage, hidden thinking) keep Kiro's connection busy while the
client hears nothing, and an idle proxy or client watchdog counts only what reaches it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from services.gateway.continuation import continuation_payload
from services.gateway.credentials import KiroCredentials
from services.gateway.kiro.client import KiroClient, UpstreamResponse
from services.gateway.metrics import GatewayMetrics
from services.gateway.translate import AnthropicStream, OpenAIStream
from services.gateway.translate.responses_out import ResponsesStream
from services.gateway.web_search import SearchRounds
from shared.errors import EventStreamError, FailureKind, UpstreamError
from shared.kiro.endpoints import ChatRoute
from shared.kiro.events import KiroEventStream, Metering, StreamError
from shared.logging import log_fields

logger = logging.getLogger(__name__)

Translator = AnthropicStream | OpenAIStream | ResponsesStream


class Relay:
    """Pumps Kiro answers through one translator; `run()` yields SSE bytes (pings included)."""

    def __init__(
        self,
        client: KiroClient,
        metrics: GatewayMetrics,
        translator: Translator,
        *,
        body: bytes,
        creds: KiroCredentials,
        routes: tuple[ChatRoute, ...],
        ping_interval: float,
        idle_timeout: float,
        max_continuations: int,
        searches: SearchRounds | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self.translator = translator
        self._body = body  # the Kiro request as sent: a continuation starts from it
        self._creds = creds
        self._routes = routes
        self._ping_interval = ping_interval
        self._idle_timeout = idle_timeout
        self._continuations_left = max_continuations
        self._searches = searches
        self.upstream: UpstreamResponse | None = None
        self.credits = 0.0
        self.stream_error: StreamError | None = None
        self._loop = asyncio.get_running_loop()
        self._sent_at = self._loop.time()  # when bytes last went to the client (the response start)

    def retarget(self, creds: KiroCredentials, routes: tuple[ChatRoute, ...], body: bytes) -> None:
        """The first call went to another account (a refresh, or the next standalone token): follow-up
        calls use its credentials, its endpoints and its request."""
        self._creds, self._routes = creds, routes
        if self._body:
            self._body = body
        if self._searches is not None:
            self._searches.creds = creds

    def sent(self) -> None:
        """Bytes just went to the client (the caller's own writes, e.g. pings before Kiro answered)."""
        self._sent_at = self._loop.time()

    def _until_ping(self) -> float:
        return self._ping_interval - (self._loop.time() - self._sent_at)

    async def run(self, upstream: UpstreamResponse) -> AsyncIterator[bytes]:
        """Relay `upstream` (and continuations) to the end.

        Kiro's own in-stream errors reach the translator as events (it renders them; `stream_error` is
        set); failures of the transport or framing raise UpstreamError for the caller to render.
        """
        self.upstream = upstream
        while True:
            async for out in self._pump(upstream):
                yield out
            if self.stream_error is not None:
                return
            partial = self.translator.partial_tool_call() if self._continuations_left > 0 else None
            if partial is not None:
                self._continuations_left -= 1
                self._metrics.continuations.inc()
                upstream.close()
                payload = continuation_payload(orjson.loads(self._body), *partial)
                self._body = orjson.dumps(payload)
                logger.info("auto-continuing a cut-off tool call", extra=log_fields(tool_use_id=partial[0]))
                async for ping in self._open(payload, self._body):
                    yield ping
                upstream = self.upstream  # the answer _open set
                continue
            searches, translator = self._searches, self.translator
            if searches is None or not isinstance(translator, AnthropicStream):
                return
            async for out in searches.run(translator, self._until_ping):
                yield out
                self.sent()
            follow = searches.follow
            if follow is None:
                return
            upstream.close()
            if self._body:  # a continuation of the next answer starts from the next request
                self._body = follow.body
            async for ping in self._open(follow.payload, follow.body):
                yield ping
            upstream = self.upstream  # the answer _open set

    async def _open(self, payload: dict[str, Any], body: bytes) -> AsyncIterator[bytes]:
        """Open a follow-up Kiro call into `self.upstream`, yielding pings while Kiro is slow to answer."""
        opening = asyncio.ensure_future(self._client.open_chat(payload, self._creds, self._routes, body=body))
        try:
            while not (await asyncio.wait({opening}, timeout=max(0.0, self._until_ping())))[0]:
                yield self.translator.ping()
                self.sent()
        finally:
            if not opening.done():
                opening.cancel()
        self.upstream = opening.result()

    async def _pump(self, upstream: UpstreamResponse) -> AsyncIterator[bytes]:
        translator = self.translator
        stream = KiroEventStream()
        loop = self._loop
        data: bytes | None = upstream.first_chunk
        last_data = loop.time()
        while True:
            if data:
                last_data = loop.time()
                try:
                    events = stream.feed(data)
                except EventStreamError as exc:
                    raise UpstreamError(FailureKind.UPSTREAM_ERROR, f"corrupt Kiro stream: {exc}") from None
                out: list[bytes] = []
                for event in events:
                    if isinstance(event, Metering):
                        self.credits += event.usage
                    elif isinstance(event, StreamError):
                        # the translator renders it (in-band error, or a max_tokens end); read no further
                        self.stream_error = event
                        yield b"".join(out) + translator.feed(event)
                        return
                    out.append(translator.feed(event))
                if any(out):
                    yield b"".join(out)
                    self.sent()
                elif self._until_ping() <= 0:  # Kiro talks, but nothing of it reaches the client
                    yield translator.ping()
                    self.sent()
            elif data is None:
                silent = loop.time() - last_data
                if silent >= self._idle_timeout:
                    raise UpstreamError(FailureKind.UPSTREAM_ERROR, f"Kiro went silent for {silent:.1f}s")
                yield translator.ping()
                self.sent()
            else:
                break
            remaining = self._idle_timeout - (loop.time() - last_data)
            try:
                data = await upstream.read(max(0.0, min(self._until_ping(), remaining)))
            except (aiohttp.ClientError, OSError) as exc:
                raise UpstreamError(FailureKind.UPSTREAM_ERROR, f"Kiro connection lost: {exc!r}") from None
        try:
            closing = stream.close()
        except EventStreamError as exc:
            raise UpstreamError(FailureKind.UPSTREAM_ERROR, f"Kiro stream ended early: {exc}") from None
        tail = b"".join(translator.feed(event) for event in closing)
        if tail:
            yield tail
