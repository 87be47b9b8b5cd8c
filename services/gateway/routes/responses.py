"""OpenAI Responses: `POST /v1/responses` (stream and non-stream)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.chat import handle_chat
from services.gateway.errors import Protocol
from services.gateway.responses import RESPONSES_ROUTE
from services.gateway.state import GatewayState, get_state
from shared.api_schemas import OPENAI_RESPONSES, json_body

router = APIRouter()


@router.post("/v1/responses", openapi_extra=json_body(OPENAI_RESPONSES))
async def create_response(request: Request, state: Annotated[GatewayState, Depends(get_state)]) -> Response:
    """Served by `hot_routes.HOT_ROUTES` ahead of FastAPI (declared here for the API description)."""
    return await handle_chat(request, state, Protocol.OPENAI, RESPONSES_ROUTE)
