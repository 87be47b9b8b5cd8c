"""The router application: resources built in the lifespan, routes, error shapes, the admin panel."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from services.router.background import start_background
from services.router.context import AppContext
from services.router.credentials import CredentialCache
from services.router.errors import ClientError, error_response, protocol_of, unavailable_status
from services.router.gateways import Gateways
from services.router.metrics import RouterMetrics
from services.router.metrics_listener import start_metrics_listener
from services.router.pending_releases import PendingReleases
from services.router.reqlog import RequestLog
from services.router.request_ids import request_id
from services.router.resolve import resolver
from services.router.routes import admin, admin_auth, admin_openapi, health, proxy
from services.router.runtime import RuntimeSettings
from services.router.settings import RouterSettings
from shared.accounts.layout import ensure_layout
from shared.accounts.pool import Pool, PoolLimits
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.hot import HotRoutes
from shared.keys import Keys
from shared.logging import log_fields
from shared.metrics import new_registry
from shared.redis import create_queue_redis, create_redis, redis_version_once_up
from shared.redis_breaker import BreakerState, CircuitBreaker, RedisUnavailable
from shared.retry_budget import RetryBudget
from shared.server import NO_TELEMETRY

log = logging.getLogger(__name__)

#: how long a starting router waits for Redis to answer before it gives up (and is restarted)
REDIS_START_WAIT_SECONDS = 5.0


def create_app(settings: RouterSettings) -> FastAPI:
    """A router app bound to `settings`; its resources exist between lifespan start and end."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = await _build_context(settings)
        app.state.ctx = ctx
        plain = settings.secret("proxy_api_key")
        if plain and await ctx.client_keys.ensure(plain):
            log.info("bootstrap client key stored (PROXY_API_KEY)")
        await admin_auth.ensure_password(ctx)
        if encrypted := await ctx.store.encrypt_plain_proxy_urls():
            log.info("plain-text account proxy URLs encrypted", extra=log_fields(accounts=encrypted))
        metrics_port = settings.metrics_port
        listener = (
            await start_metrics_listener(ctx, settings.host, metrics_port, shared=settings.workers > 1)
            if metrics_port
            else None
        )
        await ctx.gateways.start(ctx.http)
        tasks = start_background(ctx)
        # startup objects live as long as the process: keep them out of every later full collection,
        # which would otherwise walk them all (tens of ms) in the middle of requests
        gc.freeze()
        try:
            yield
        finally:
            ctx.draining = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if listener is not None:
                await listener.cleanup()
            await ctx.http.close()
            await asyncio.sleep(0)  # let the closed transports' callbacks run before the loop ends
            await ctx.arq.aclose()
            await ctx.pending_releases.close()
            await ctx.redis.aclose()

    # /openapi.json is served by admin_openapi: the admin API is described to the admin only
    app = FastAPI(
        title="Kiro Stack router",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.add_exception_handler(ClientError, _client_error)  # type: ignore[arg-type]
    app.add_exception_handler(RedisError, _redis_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.include_router(health.router)
    app.include_router(proxy.router)
    app.include_router(admin.router)
    app.include_router(admin_openapi.router)
    app.mount("/admin", PanelFiles(directory=admin.UI_DIR, html=True), name="admin-ui")
    app.add_middleware(HotRoutes, routes=proxy.HOT_ROUTES)  # first: later middlewares wrap the hot routes
    return app


async def _build_context(settings: RouterSettings) -> AppContext:
    redis = create_redis(settings, bounded=True, allow_cluster=True)
    version = await redis_version_once_up(redis, within=REDIS_START_WAIT_SECONDS)
    log.info("redis", extra=log_fields(redis=settings.redis_location().describe(), redis_version=version))
    keys = Keys(settings.redis_key_prefix)
    await ensure_layout(redis, keys)
    box = SecretBox(settings.secret("kiro_secret_key"))
    metrics = RouterMetrics(new_registry())
    if redis.guard.breaker is not None:
        _watch_breaker(redis.guard.breaker, metrics)
    limits = PoolLimits(
        lease_ttl_seconds=settings.lease_ttl_seconds,
        max_concurrency=settings.default_max_concurrency,
        min_interval_ms=settings.default_min_interval_ms,
        jitter_ratio=settings.governor_jitter_ratio,
        token_margin_seconds=settings.token_margin_seconds,
        sticky_ttl_seconds=settings.sticky_ttl_seconds,
    )
    http = aiohttp.ClientSession(
        # gateways are reached by address: `Gateways` resolves their names itself (GATEWAY_RESOLVE_*)
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
        skip_auto_headers=("User-Agent",),
    )
    arq = create_queue_redis(settings)
    pool = Pool(redis, keys, limits)
    return AppContext(
        settings=settings,
        redis=redis,
        keys=keys,
        box=box,
        states=AccountStates(redis, keys),
        store=AccountStore(redis, keys, box),
        pool=pool,
        client_keys=ClientKeys(redis, keys),
        arq=arq,
        http=http,
        metrics=metrics,
        gateways=Gateways(
            settings.gateway_url_list,
            metrics,
            resolver(settings.gateway_hosts_file),
            eject_seconds=settings.gateway_eject_seconds,
        ),
        runtime=RuntimeSettings(
            redis, keys, settings.runtime_settings_ttl_seconds, settings.failover_attempts, pool
        ),
        credentials=CredentialCache(redis, keys, box, settings.token_margin_seconds),
        request_log=RequestLog(redis, keys, settings.request_log_size),
        failover_budget=RetryBudget(settings.failover_budget_ratio, settings.failover_budget_min),
        pending_releases=PendingReleases(pool, settings.lease_ttl_seconds),
    )


def _watch_breaker(breaker: CircuitBreaker, metrics: RouterMetrics) -> None:
    """Log when the Redis breaker opens and closes (not each failed probe); count what it refuses."""
    was_closed = True

    def changed(state: BreakerState) -> None:
        nonlocal was_closed
        metrics.redis_breaker_state.set(state.value)
        if was_closed and state is BreakerState.OPEN:
            log.error("redis circuit breaker open: requests get 503 until a probe succeeds")
        elif state is BreakerState.CLOSED:
            log.info("redis circuit breaker closed: redis answers again")
        was_closed = state is BreakerState.CLOSED

    breaker.on_change = changed
    breaker.on_reject = metrics.redis_short_circuited.inc


class PanelFiles(StaticFiles):
    """The admin panel's static files, with headers that keep it out of frames and sniffers."""

    HEADERS: ClassVar[dict[str, str]] = {
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }

    def file_response(self, full_path: Any, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(full_path, *args, **kwargs)
        response.headers.update(self.HEADERS)
        if str(full_path).endswith(".js") and "content-type" in response.headers:
            # module scripts run only with a JavaScript type; the host's mime table may not say so
            response.headers["Content-Type"] = "text/javascript; charset=utf-8"
        return response


async def _client_error(request: Request, exc: ClientError) -> Response:
    return error_response(protocol_of(request), exc, request_id(request))


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Routing's own answers (404, 405): the client API's in the client's shape, the rest as FastAPI's."""
    if not request.url.path.startswith("/v1/"):
        return await http_exception_handler(request, exc)
    error = ClientError(exc.status_code, str(exc.detail))
    answer = error_response(protocol_of(request), error, request_id(request))
    answer.headers.update(exc.headers or {})
    return answer


async def _redis_error(request: Request, exc: RedisError) -> Response:
    """Without Redis (pool, keys) nothing can be served; say so in the client's shape, retryable."""
    if not isinstance(exc, RedisUnavailable):  # the open breaker logged itself once
        log.error("redis unavailable", extra=log_fields(error=repr(exc)))
    status, kind = unavailable_status(protocol_of(request), retryable=True)
    error = ClientError(
        status,
        "the account pool store is unreachable",
        kind=kind,
        code="store_unavailable",
        retry_after=2,
        should_retry=True,
    )
    return error_response(protocol_of(request), error, request_id(request))
