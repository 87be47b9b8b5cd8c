"""Anthropic Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens` (query ignored)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.body import read_body
from services.gateway.build import parse
from services.gateway.chat import handle_chat
from services.gateway.errors import (
    JSONBytesResponse,
    Protocol,
    invalid_request_response,
    unauthorized_response,
)
from services.gateway.options import Unauthorized
from services.gateway.remote_images import fetch_remote_images
from services.gateway.state import GatewayState, get_state
from services.gateway.translate import count_tokens
from shared.api_schemas import ANTHROPIC_COUNT_TOKENS, ANTHROPIC_MESSAGES, json_body
from shared.errors import InvalidRequestError

router = APIRouter()


@router.post("/v1/messages", openapi_extra=json_body(ANTHROPIC_MESSAGES))
async def messages(request: Request, state: Annotated[GatewayState, Depends(get_state)]) -> Response:
    """Served by `hot_routes.HOT_ROUTES` ahead of FastAPI (declared here for the API description)."""
    return await handle_chat(request, state, Protocol.ANTHROPIC, "messages")


@router.post("/v1/messages/count_tokens", openapi_extra=json_body(ANTHROPIC_COUNT_TOKENS))
async def count_message_tokens(
    request: Request, state: Annotated[GatewayState, Depends(get_state)]
) -> Response:
    """Answered locally (never forwarded to Kiro): the same estimate the request would be billed with.

    Served by `hot_routes.HOT_ROUTES` ahead of FastAPI (declared here for the API description).
    """
    try:
        state.contexts.authenticate(request.headers)
    except Unauthorized as exc:
        state.metrics.requests.labels("count_tokens", "401", "-").inc()
        return unauthorized_response(Protocol.ANTHROPIC, str(exc))
    session_id = request.headers.get("x-claude-code-session-id")
    try:
        raw = await read_body(request, state.settings.max_body_bytes)
    except InvalidRequestError as exc:
        state.metrics.requests.labels("count_tokens", str(exc.status), "-").inc()
        return invalid_request_response(Protocol.ANTHROPIC, exc)
    size = len(raw)
    with state.offload.collector_paused(size):
        try:
            req = await state.offload.run(
                size, parse, raw, Protocol.ANTHROPIC, session_id, state.settings.max_json_depth
            )
            await fetch_remote_images(req, state.images)  # counted by their size, as the request would be
            tokens = await state.offload.run(size, count_tokens, req)
        except InvalidRequestError as exc:
            state.metrics.requests.labels("count_tokens", str(exc.status), "-").inc()
            return invalid_request_response(Protocol.ANTHROPIC, exc)
    state.metrics.requests.labels("count_tokens", "200", "-").inc()
    return JSONBytesResponse({"input_tokens": tokens})
