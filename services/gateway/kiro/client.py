"""The Kiro chat client: endpoint fallback (docs/kiro-endpoints.md), retries with backoff and jitter,
first-token timeout.

`open_chat` returns only once Kiro has answered 200 *and* sent its first bytes, so every failure it
raises happened before anything reached the client and may still be retried, moved to the next
endpoint, or handed to the router for failover (`UpstreamError.kind`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from services.gateway.credentials import KiroCredentials
from services.gateway.kiro.classify import classify_exception_frame, classify_http
from services.gateway.kiro.mcp import MAX_RESPONSE_BYTES, WebSearchFailed
from services.gateway.metrics import GatewayMetrics
from services.gateway.settings import GatewaySettings
from shared.crypto import sha256_hex
from shared.errors import EventStreamError, FailureKind, UpstreamError
from shared.kiro.auth import chat_headers
from shared.kiro.endpoints import ChatRoute, KiroEndpoints
from shared.kiro.eventstream import EventStreamDecoder
from shared.kiro.transport import ProxySessions
from shared.logging import log_fields
from shared.retry_budget import RetryBudget

logger = logging.getLogger(__name__)

_ERROR_BODY_LIMIT = 64 * 1024


class UpstreamResponse:
    """A 200 answer from Kiro whose first bytes already arrived; read the rest chunk by chunk."""

    __slots__ = ("first_chunk", "response", "route")

    def __init__(self, response: aiohttp.ClientResponse, route: ChatRoute, first_chunk: bytes) -> None:
        self.response = response
        self.route = route
        self.first_chunk = first_chunk

    async def read(self, within: float) -> bytes | None:
        """The next bytes (b"" at the end of the body), or None when Kiro stayed silent for `within` s."""
        content = self.response.content
        data = content.read_nowait()  # what already arrived: no timer to arm and cancel
        if data or content.is_eof():
            return data
        try:
            async with asyncio.timeout(within):
                return await self.response.content.readany()
        except TimeoutError:
            return None

    def close(self) -> None:
        """Return the connection to the pool when the body was read to the end, else drop it."""
        if self.response.content.at_eof():
            self.response.release()
        else:
            self.response.close()


def set_origin(payload: dict[str, Any], origin: str) -> None:
    """Rewrite `origin` in the current message and every history user message (endpoint switch)."""
    state = payload["conversationState"]
    state["currentMessage"]["userInputMessage"]["origin"] = origin
    for item in state.get("history", ()):
        user = item.get("userInputMessage")
        if user is not None:
            user["origin"] = origin


def _leading_exception(first_chunk: bytes) -> UpstreamError | None:
    """An exception frame *before* any answer can still be retried or failed over, like an HTTP error."""
    # only the first frame matters, and the chunk may hold a whole answer the relay decodes anyway
    first_frame = first_chunk[: int.from_bytes(first_chunk[:4], "big")]
    try:
        frames = EventStreamDecoder().feed(first_frame)
    except EventStreamError:
        return None  # the relay reports corrupt streams
    if not frames or frames[0].message_type not in ("exception", "error"):
        return None
    frame = frames[0]
    kind = frame.exception_type or frame.headers.get(":error-code")
    try:
        body = orjson.loads(frame.payload)
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
    except orjson.JSONDecodeError:
        message = frame.payload[:200].decode("utf-8", "replace")
    return classify_exception_frame(kind if isinstance(kind, str) else "UnknownError", message)


class KiroClient:
    """Calls Kiro's chat and model-list endpoints for one gateway process."""

    def __init__(
        self,
        sessions: ProxySessions,
        endpoints: KiroEndpoints,
        settings: GatewaySettings,
        metrics: GatewayMetrics,
    ) -> None:
        self._sessions = sessions
        self._endpoints = endpoints
        self._settings = settings
        self._metrics = metrics
        self._sdk = settings.kiro_sdk_version
        self._ide = settings.kiro_ide_version
        self._budget = RetryBudget(settings.retry_budget_ratio, settings.retry_budget_min)

    def _headers(self, creds: KiroCredentials, attempt: int, amz_target: str = "") -> dict[str, str]:
        return chat_headers(
            creds.access_token,
            sdk_version=self._sdk,
            ide_version=self._ide,
            machine_id=creds.machine_id or sha256_hex(creds.account_id or creds.access_token[:24]),
            attempt=attempt,
            max_attempts=self._settings.retry_attempts,
            amz_target=amz_target,
            auth_kind=creds.auth_kind,
        )

    def _backoff(self, retry: int) -> float:
        base: float = min(self._settings.retry_max_delay, self._settings.retry_base_delay * 2.0**retry)
        return base * (0.5 + random.random() / 2)

    def api_region(self, creds: KiroCredentials) -> str:
        return self._endpoints.api_region(creds.profile_arn, creds.region)

    def routes(
        self, creds: KiroCredentials, order: str | None = None, origins: Mapping[str, str] | None = None
    ) -> tuple[ChatRoute, ...]:
        """The chat endpoints to try for this account (ENDPOINT_ORDER / ENDPOINT_ORIGINS; the gateway's
        settings unless the router's options say otherwise). InvalidRegionError on a bad region."""
        if order is None:
            order, origins = self._settings.endpoint_order, self._settings.endpoint_origins
        return self._endpoints.chat_routes(self.api_region(creds), order, origins)

    async def open_chat(
        self,
        payload: dict[str, Any],
        creds: KiroCredentials,
        routes: tuple[ChatRoute, ...],
        *,
        body: bytes | None = None,
        first_token_timeout: float | None = None,
    ) -> UpstreamResponse:
        """POST generateAssistantResponse along `routes` until one streams; raise a classified UpstreamError.

        `body` is `payload` already serialised (used as is while the origin needs no rewrite).
        """
        deadline = first_token_timeout or self._settings.first_token_timeout
        failure: UpstreamError | None = None
        self._budget.request()
        for position, route in enumerate(routes):
            current = payload["conversationState"]["currentMessage"]["userInputMessage"].get("origin")
            if current != route.origin or body is None:
                set_origin(payload, route.origin)
                body = orjson.dumps(payload)
            for attempt in range(1, self._settings.retry_attempts + 1):
                try:
                    upstream = await self._attempt(body, creds, route, attempt=attempt, deadline=deadline)
                except UpstreamError as exc:
                    failure = exc
                    self._metrics.child(self._metrics.upstream_attempts, route.name, exc.kind.value).inc()
                    logger.info(
                        "kiro attempt failed",
                        extra=log_fields(
                            endpoint=route.name, attempt=attempt, kind=exc.kind.value, status=exc.status
                        ),
                    )
                    if (
                        exc.kind is FailureKind.UPSTREAM_ERROR
                        and attempt < self._settings.retry_attempts
                        and self._budget.try_retry()
                    ):
                        self._metrics.upstream_retries.labels(route.name, exc.kind.value).inc()
                        await asyncio.sleep(self._backoff(attempt - 1))
                        continue
                    break
                self._metrics.child(self._metrics.upstream_attempts, route.name, "ok").inc()
                return upstream
            assert failure is not None
            # a throttled account is never retried at once when a router can fail over to another one
            if (
                failure.kind is not FailureKind.THROTTLED
                or position == len(routes) - 1
                or creds.refresh is None
                or not self._budget.try_retry()
            ):
                raise failure
            self._metrics.upstream_fallbacks.labels(route.name, failure.kind.value).inc()
        assert failure is not None
        raise failure

    async def _attempt(
        self,
        body: bytes,
        creds: KiroCredentials,
        route: ChatRoute,
        *,
        attempt: int,
        deadline: float,
    ) -> UpstreamResponse:
        session, proxy = self._sessions.for_proxy(creds.proxy_url)
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(deadline):
                response = await session.post(
                    route.url, data=body, headers=self._headers(creds, attempt, route.amz_target), proxy=proxy
                )
                if response.status != 200:
                    raw = await response.content.read(_ERROR_BODY_LIMIT)
                    raise classify_http(response.status, raw, response.headers)
                first = await response.content.readany()
        except TimeoutError:
            if response is not None:
                response.close()
            raise UpstreamError(
                FailureKind.UPSTREAM_ERROR, f"Kiro sent no first byte within {deadline:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            if response is not None:
                response.close()
            raise UpstreamError(FailureKind.UPSTREAM_ERROR, f"cannot reach Kiro: {exc!r}") from None
        except UpstreamError:
            assert response is not None
            response.release()
            raise
        if not first:
            response.release()
            raise UpstreamError(FailureKind.UPSTREAM_ERROR, "Kiro answered 200 with an empty body")
        failure = _leading_exception(first)
        if failure is not None:
            response.close()
            raise failure
        return UpstreamResponse(response, route, first)

    async def list_models(self, creds: KiroCredentials) -> list[dict[str, Any]]:
        """ListAvailableModels for one account (`{"models":[{"modelId",...}]}`), on the host that goes with
        the first chat endpoint of the gateway's ENDPOINT_ORDER (docs/kiro-endpoints.md)."""
        region = self.api_region(creds)
        first = self._endpoints.chat_routes(region, self._settings.endpoint_order)[0]
        url = self._endpoints.models(region, creds.profile_arn, first.name)
        session, proxy = self._sessions.for_proxy(creds.proxy_url)
        headers = self._headers(creds, 1)
        async with asyncio.timeout(self._settings.connect_timeout + 10):
            async with session.get(url, headers=headers, proxy=proxy) as response:
                raw = await response.read()
                if response.status != 200:
                    raise classify_http(response.status, raw, response.headers)
        data = orjson.loads(raw)
        models = data.get("models") if isinstance(data, dict) else None
        return [m for m in models or [] if isinstance(m, dict) and isinstance(m.get("modelId"), str)]

    async def web_search(self, body: bytes, creds: KiroCredentials) -> tuple[int, bytes]:
        """POST one MCP JSON-RPC call (`kiro/mcp.py`); (status, body).

        Raises WebSearchFailed (answer too big), aiohttp.ClientError, TimeoutError."""
        url = self._endpoints.mcp(self.api_region(creds))
        headers = self._headers(creds, 1)
        headers["Accept"] = "*/*"
        if creds.profile_arn:  # Kiro's MCP endpoint wants the profile in a header, not the body
            headers["x-amzn-kiro-profile-arn"] = creds.profile_arn
        session, proxy = self._sessions.for_proxy(creds.proxy_url)
        async with asyncio.timeout(self._settings.first_token_timeout):  # a whole search answer
            async with session.post(url, data=body, headers=headers, proxy=proxy) as response:
                raw = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    raw += chunk
                    if len(raw) > MAX_RESPONSE_BYTES:
                        raise WebSearchFailed(f"MCP answer larger than {MAX_RESPONSE_BYTES} bytes")
                return response.status, bytes(raw)

    async def post_json(
        self, url: str, body: dict[str, object], headers: dict[str, str], proxy_url: str | None
    ) -> tuple[int, bytes]:
        """A small JSON POST (token refresh) through the account's proxy."""
        session, proxy = self._sessions.for_proxy(proxy_url)
        async with asyncio.timeout(self._settings.refresh_timeout):
            async with session.post(
                url,
                data=orjson.dumps(body),
                headers={**headers, "Content-Type": "application/json"},
                proxy=proxy,
            ) as response:
                return response.status, await response.read()
