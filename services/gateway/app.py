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
from services.gateway.errors import Protocol, error_response
from services.gateway.hot_routes import GatewayApp
from services.gateway.kiro.client import KiroClient
from services.gateway.kiro.models import ModelCatalog
from services.gateway.kiro.sessions import UpstreamSessions
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
from shared.keys import Keys
from shared.kiro.endpoints import KiroEndpoints

logger = logging.getLogger(__name__)


def build_state(settings: GatewaySettings) -> GatewayState:
    """Every per-process resource; must run inside the event loop (aiohttp sessions bind to it)."""
    metrics = GatewayMetrics()
    endpoints = KiroEndpoints.from_settings(settings)
    sessions = UpstreamSessions(
        max_connections=settings.max_connections,
        connect_timeout=settings.connect_timeout,
        default_proxy=settings.vpn_proxy_url,
    )
    client = KiroClient(sessions, endpoints, settings, metrics)
    machine = settings.kiro_machine_id or "0" * 64
    tokens = TokenCache(
        endpoints,
        client.post_json,
        margin_seconds=settings.refresh_margin_seconds,
        user_agent=client.user_agent(machine),
        on_refresh=lambda outcome: metrics.token_refreshes.labels(outcome).inc(),
    )
    catalog = ModelCatalog(
        client.list_models, ttl=settings.models_cache_ttl, default_window=settings.context_window
    )
    return GatewayState(
        settings=settings,
        metrics=metrics,
        sessions=sessions,
        client=client,
        catalog=catalog,
        tokens=tokens,
        contexts=RequestContextFactory(settings),
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

        client = create_redis(settings, max_connections=64, bounded=True)
        return RedisStore(
            client,
            Keys(settings.redis_key_prefix),
            settings.responses_ttl_seconds,
            settings.responses_max_bytes,
        )
    return MemoryStore(
        settings.responses_ttl_seconds, settings.responses_max_bytes, settings.responses_memory_bytes
    )


def _protocol_of(path: str) -> Protocol:
    return Protocol.ANTHROPIC if path.startswith("/v1/messages") else Protocol.OPENAI


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        load_tokenizer()  # ≈0.2 s now rather than on the first request
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

    app = GatewayApp(title="Kiro Stack gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(anthropic.router)
    app.include_router(openai.router)
    app.include_router(responses.router)

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(_protocol_of(request.url.path), 500, "internal error in the gateway")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(
            _protocol_of(request.url.path), exc.status_code, str(exc.detail), headers=dict(exc.headers or {})
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    return app
