"""Client-facing API routes: thin — check the key, read the body with a limit, hand over to `forward`."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.router.auth import AuthorizedKey, authorize_and_pick, require_key_before_body
from services.router.body import read_body
from services.router.context import AppContext, Ctx, app_context
from services.router.errors import ClientError, protocol_of
from services.router.exchange import Exchange
from services.router.forward import Outgoing, forward
from services.router.hints import read_hints, safe_model
from services.router.request_ids import request_id
from shared.api_schemas import (
    ANTHROPIC_COUNT_TOKENS,
    ANTHROPIC_MESSAGES,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    json_body,
)
from shared.clientkey_record import ClientKey
from shared.hot import STARTED, plain_app

router = APIRouter()

#: what a model id may look like (`claude-sonnet-4.5`, `claude-sonnet-4-5[1m]`, `…-v2:0`): no path
#: separators, no `%`, no control characters, never only dots
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\[\]-]{0,127}")


@router.post(
    "/v1/messages",
    summary="Anthropic Messages (streaming or not)",
    openapi_extra=json_body(ANTHROPIC_MESSAGES),
)
async def messages(request: Request) -> Response:
    return await _proxy(request, app_context(request), "messages")


@router.post(
    "/v1/chat/completions",
    summary="OpenAI Chat Completions (streaming or not)",
    openapi_extra=json_body(OPENAI_CHAT),
)
async def chat_completions(request: Request) -> Response:
    return await _proxy(request, app_context(request), "chat_completions")


@router.post(
    "/v1/responses",
    summary="OpenAI Responses (streaming or not)",
    openapi_extra=json_body(OPENAI_RESPONSES),
)
async def responses(request: Request) -> Response:
    return await _proxy(request, app_context(request), "responses")


#: POST routes `shared.hot.HotRoutes` serves as plain ASGI apps, before FastAPI's routing and dependencies
HOT_ROUTES = {
    "/v1/messages": plain_app(messages),
    "/v1/chat/completions": plain_app(chat_completions),
    "/v1/responses": plain_app(responses),
}


@router.post(
    "/v1/messages/count_tokens",
    summary="Anthropic token count (no account needed)",
    openapi_extra=json_body(ANTHROPIC_COUNT_TOKENS),
)
async def count_tokens(
    request: Request,
    key: AuthorizedKey,
    ctx: Ctx,
) -> Response:
    body = await read_body(request, ctx.settings.max_body_bytes)
    exchange = _exchange(request, key, "count_tokens", "")
    out = Outgoing(request.method, _path(request), body, list(request.headers.items()))
    return await forward(ctx, exchange, out, with_account=False)


@router.get("/v1/models", summary="Models (Anthropic or OpenAI shape; needs an account's credentials)")
async def models(
    request: Request,
    key: AuthorizedKey,
    ctx: Ctx,
) -> Response:
    exchange = _exchange(request, key, "models", "")
    out = Outgoing(request.method, _path(request), b"", list(request.headers.items()))
    return await forward(ctx, exchange, out)


@router.get("/v1/models/{model_id:path}", summary="One model (needs an account's credentials)")
async def model(request: Request, key: AuthorizedKey, ctx: Ctx, model_id: str) -> Response:
    exchange = _exchange(request, key, "models", "")
    out = Outgoing(request.method, _model_path(model_id), b"", list(request.headers.items()))
    return await forward(ctx, exchange, out)


async def _proxy(request: Request, ctx: AppContext, route: str) -> Response:
    await require_key_before_body(request, ctx)  # an unknown key gets its 401 before a byte is read
    body = await read_body(request, ctx.settings.max_body_bytes)
    hints = read_hints(body, request.headers.get("x-claude-code-session-id"))
    key, slot, picked = await authorize_and_pick(request, ctx, route, hints.model, hints.conversation)
    exchange = _exchange(request, key, route, hints.model)
    exchange.key_slot = slot
    out = Outgoing(request.method, _path(request), body, list(request.headers.items()), hints.conversation)
    return await forward(ctx, exchange, out, first_pick=picked, receive=request.receive)


def _exchange(request: Request, key: ClientKey, route: str, model: str) -> Exchange:
    return Exchange(
        route=route,
        protocol=protocol_of(request),
        model=safe_model(model),
        key=key,
        request_id=request_id(request),
        started=request.scope.get(STARTED, time.perf_counter()),
    )


def _model_path(model_id: str) -> str:
    """The gateway path of one model, built from the validated id alone (never from the client's path).

    An id with a path separator (`anthropic/claude-…`, `..%2Fmetrics`) names no model Kiro has: 404.
    """
    if not _MODEL_ID.fullmatch(model_id) or ".." in model_id:
        raise ClientError(404, "not a model id (ids have no '/', '..' or '%')", code="model_not_found")
    return "/v1/models/" + quote(model_id, safe="")


def _path(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")
