"""The gateway ASGI app: lifespan-owned resources, routes, request ids, error shapes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.credentials import TokenCache
from services.gateway.errors import error_response
from services.gateway.hot_routes import HOT_ROUTES
from services.gateway.kiro.client import KiroClient
from services.gateway.kiro.models import ModelCatalog, SharedCatalogues
from services.gateway.metrics import GatewayMetrics
from services.gateway.offload import Offload
from services.gateway.options import RequestContextFactory
from services.gateway.remote_images import FetchPolicy, ImageFetcher
from services.gateway.requestid import RequestIdMiddleware
from services.gateway.responses_store import ConversationStore, MemoryStore
from services.gateway.routes import anthropic, health, models, openai, responses
from services.gateway.settings import GatewaySettings
from services.gateway.state import GatewayState
from services.gateway.translate import load_tokenizer
from shared.client_errors import protocol_of
from shared.hot import HotRoutes
from shared.keys import Keys
from shared.kiro.auth import KiroAuth
from shared.kiro.endpoints import KiroEndpoints
from shared.kiro.transport import ProxySessions
from shared.server import NO_TELEMETRY

logger = logging.getLogger(__name__)


def build_state(settings: GatewaySettings) -> GatewayState:
    """Every per-process resource; must run inside the event loop (aiohttp sessions bind to it)."""
    metrics = GatewayMetrics()
    endpoints = KiroEndpoints.from_settings(settings)
    sessions = ProxySessions(
        max_connections=settings.max_connections,
        connect_timeout=settings.connect_timeout,
        default_proxy=settings.vpn_proxy_url,
    )
    client = KiroClient(sessions, endpoints, settings, metrics)
    machine = settings.kiro_machine_id or "0" * 64
    tokens = TokenCache(
        KiroAuth(endpoints, ide_version=settings.kiro_ide_version, sdk_version=settings.kiro_sdk_version),
        client.post_json,
        margin_seconds=settings.refresh_margin_seconds,
        machine_id=machine,
        on_refresh=lambda outcome: metrics.token_refreshes.labels(outcome).inc(),
    )
    catalog = ModelCatalog(
        client.list_models,
        ttl=settings.models_cache_ttl,
        default_window=settings.context_window,
        shared=shared_catalogues(settings),
    )
    return GatewayState(
        settings=settings,
        metrics=metrics,
        sessions=sessions,
        client=client,
        catalog=catalog,
        tokens=tokens,
        contexts=RequestContextFactory(
            settings, on_set_aside=lambda kind: metrics.tokens_set_aside.labels(kind).inc()
        ),
        offload=Offload(settings.offload_threshold_bytes, settings.offload_threads),
        images=_image_fetcher(settings, metrics),
        responses=responses_store(settings),
    )


def _image_fetcher(settings: GatewaySettings, metrics: GatewayMetrics) -> ImageFetcher | None:
    if not settings.image_fetch_enabled:
        return None
    return ImageFetcher(
        FetchPolicy.from_settings(settings),
        on_outcome=lambda outcome: metrics.image_fetches.labels(outcome).inc(),
    )


def responses_store(settings: GatewaySettings) -> ConversationStore:
    """Redis (bounded: a deadline per command, a breaker) in the stack; an in-process LRU standalone."""
    if settings.responses_backend() == "redis":
        # imported here: a standalone gateway never loads the redis client
        from services.gateway.responses_redis import RedisStore
        from shared.redis import create_redis

        client = create_redis(settings, max_connections=64, bounded=True, allow_cluster=True)
        return RedisStore(
            client,
            Keys(settings.redis_key_prefix),
            settings.responses_ttl_seconds,
            settings.responses_max_bytes,
        )
    return MemoryStore(
        settings.responses_ttl_seconds, settings.responses_max_bytes, settings.responses_memory_bytes
    )


def shared_catalogues(settings: GatewaySettings) -> SharedCatalogues | None:
    """The refresher's per-account model lists in Redis, in the stack (REDIS_URL set); None standalone."""
    if not settings.in_stack():
        return None
    # imported here: a standalone gateway never loads the redis client
    from services.gateway.models_redis import RedisCatalogues
    from shared.redis import create_redis

    client = create_redis(settings, max_connections=16, bounded=True, allow_cluster=True)
    return RedisCatalogues(client, Keys(settings.redis_key_prefix))


def preload(settings: GatewaySettings) -> None:
    """What every worker loads at start, loaded once by their supervisor before it forks them: the workers
    share those pages rather than each hold a copy (the vocabulary ≈19 MiB, the Redis client ≈18 MiB)."""
    load_tokenizer()
    if settings.in_stack() or settings.responses_backend() == "redis":
        from services.gateway import models_redis, responses_redis  # noqa: F401


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        load_tokenizer()  # ≈0.2 s now rather than on the first request (a forked worker has it already)
        state = build_state(settings)
        app.state.gateway = state
        await state.responses.start()
        try:
            yield
        finally:
            state.offload.close()
            await state.sessions.close()
            if state.images is not None:
                await state.images.close()
            await state.responses.close()
            await state.catalog.close()

    app = FastAPI(
        title="Kiro Stack gateway", lifespan=lifespan, docs_url=None, redoc_url=None, telemetry=NO_TELEMETRY
    )
    app.add_middleware(RequestIdMiddleware)  # before HotRoutes: the chat routes carry their ids themselves
    app.add_middleware(HotRoutes, routes=HOT_ROUTES)  # later middlewares wrap the chat routes too
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(anthropic.router)
    app.include_router(openai.router)
    app.include_router(responses.router)

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(
            protocol_of(request.url.path, request.headers), 500, "internal error in the gateway"
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(
            protocol_of(request.url.path, request.headers),
            exc.status_code,
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    return app
