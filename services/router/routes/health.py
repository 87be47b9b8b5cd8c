"""Liveness, readiness (Redis + a healthy gateway, not draining), metrics (bearer-guarded when
METRICS_BEARER is set), and the root probe."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from services.router.context import AppContext, Ctx
from shared.crypto import constant_time_equals
from shared.http_auth import bearer_token
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


@router.get("/metrics", summary="Prometheus metrics (`Authorization: Bearer $METRICS_BEARER` when it is set)")
async def metrics(request: Request, ctx: Ctx) -> Response:
    if ctx.settings.metrics_port:
        return JSONResponse({"detail": "metrics are served on METRICS_PORT"}, status_code=404)
    if not metrics_allowed(ctx, request.headers.get("authorization", "")):
        return JSONResponse(
            {"detail": METRICS_REFUSED}, status_code=401, headers={"WWW-Authenticate": METRICS_CHALLENGE}
        )
    body, content_type = exposition(ctx.metrics.registry)
    return Response(body, media_type=content_type)


METRICS_REFUSED = "metrics need Authorization: Bearer <METRICS_BEARER>"
METRICS_CHALLENGE = 'Bearer realm="kiro-stack-metrics"'


def metrics_allowed(ctx: AppContext, authorization: str) -> bool:
    """No METRICS_BEARER configured, or `authorization` carries it (compared in constant time).

    The metrics name accounts and show traffic: with a bearer set a stranger gets nothing.
    """
    expected = ctx.settings.secret("metrics_bearer")
    if not expected:
        return True
    presented = bearer_token(authorization)
    return bool(presented) and constant_time_equals(presented, expected)
