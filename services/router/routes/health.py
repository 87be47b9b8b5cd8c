"""Liveness, readiness (Redis + a healthy gateway, not draining), metrics, and the root probe."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.responses import Response

from services.router.context import Ctx
from shared.metrics import exposition
from shared.redis import ping

router = APIRouter()


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def root() -> dict[str, str]:
    return {"service": "kiro-router", "status": "ok"}


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: Redis answers, at least one gateway is healthy, not draining")
async def ready(ctx: Ctx) -> JSONResponse:
    redis_ms = await ping(ctx.redis)
    checks = {
        "redis": redis_ms is not None,
        "gateways": ctx.gateways.healthy_count > 0,
        "draining": ctx.draining,
    }
    ok = checks["redis"] and checks["gateways"] and not ctx.draining
    body = {"status": "ready" if ok else "not_ready", **checks, "open_streams": len(ctx.open_streams)}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(ctx: Ctx) -> Response:
    body, content_type = exposition(ctx.metrics.registry)
    return Response(body, media_type=content_type)
