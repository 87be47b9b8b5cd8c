"""OpenAI Chat Completions: `POST /v1/chat/completions` (stream and non-stream)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.chat import handle_chat
from services.gateway.errors import Protocol
from services.gateway.state import GatewayState, get_state
from shared.api_schemas import OPENAI_CHAT, json_body

router = APIRouter()


@router.post("/v1/chat/completions", openapi_extra=json_body(OPENAI_CHAT))
async def chat_completions(request: Request, state: Annotated[GatewayState, Depends(get_state)]) -> Response:
    """Served by `hot_routes.HOT_ROUTES` ahead of FastAPI (declared here for the API description)."""
    return await handle_chat(request, state, Protocol.OPENAI, "chat_completions")
