"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from services.gateway.errors import JSONBytesResponse
from services.gateway.state import GatewayState, get_state
from shared.metrics import exposition

router = APIRouter()

_OK = b'{"status":"ok","service":"kiro-gateway"}'


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
@router.api_route("/health", methods=["GET", "HEAD"], include_in_schema=False)
async def health() -> Response:
    """The process is alive (Claude Code probes `HEAD /` before its first request)."""
    return JSONBytesResponse(_OK)


@router.get("/ready", include_in_schema=False)
async def ready(state: Annotated[GatewayState, Depends(get_state)]) -> Response:
    """Ready once the lifespan built the upstream session and until SIGTERM (then 503 while draining)."""
    if state.draining:
        return JSONBytesResponse({"status": "draining", "model_lists": state.catalog.known}, status_code=503)
    return JSONBytesResponse({"status": "ready", "model_lists": state.catalog.known})


@router.get("/metrics", include_in_schema=False)
async def metrics(state: Annotated[GatewayState, Depends(get_state)]) -> Response:
    body, content_type = exposition(state.metrics.registry)
    return Response(body, media_type=content_type)
