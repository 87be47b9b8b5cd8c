"""`GET /v1/models` and `GET /v1/models/{id}`: OpenAI or Anthropic shape, chosen by request headers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.chat import resolve_credentials
from services.gateway.errors import JSONBytesResponse, Protocol, error_response, unauthorized_response
from services.gateway.kiro.models import FALLBACK, LIST_WAIT, MODELS_CREATED, AccountModels
from services.gateway.options import Caller, MissingCredentials, RuntimeOptions, Unauthorized
from services.gateway.state import GatewayState, get_state
from shared import contract
from shared.errors import InvalidRequestError, UpstreamError
from shared.kiro.models import ModelInfo, lists_thinking_variant

logger = logging.getLogger(__name__)
router = APIRouter()

_CREATED_AT = datetime.fromtimestamp(MODELS_CREATED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
_PROTOCOLS = frozenset(p.value for p in Protocol)


def protocol_for(request: Request, caller: Caller | None) -> Protocol:
    """client-compat.md §1.9: `x-api-key` or `anthropic-version` ⇒ an Anthropic client.

    Our router keeps the client's `x-api-key` and says what it saw in `contract.CLIENT_PROTOCOL`.
    """
    headers = request.headers
    if caller is Caller.ROUTER:
        told = headers.get(contract.CLIENT_PROTOCOL, "")
        if told in _PROTOCOLS:
            return Protocol(told)
    if "x-api-key" in headers or "anthropic-version" in headers:
        return Protocol.ANTHROPIC
    return Protocol.OPENAI


def _anthropic(model: ModelInfo) -> dict[str, object]:
    return {"type": "model", "id": model.id, "display_name": model.display_name, "created_at": _CREATED_AT}


def _openai(model: ModelInfo) -> dict[str, object]:
    return {"id": model.id, "object": "model", "created": MODELS_CREATED, "owned_by": "kiro"}


def _caller(request: Request, state: GatewayState) -> Caller | Response | None:
    """Who asks for the model list: a Caller, a 401 to answer, or None (anonymous).

    Anonymous callers (no client key is configured, so none can be checked) get the list as cached,
    and no account is used for them; with client keys configured a caller without one gets 401.
    """
    try:
        return state.contexts.authenticate(request.headers)
    except Unauthorized as exc:
        if state.contexts.client_keys.configured:
            return unauthorized_response(protocol_for(request, None), str(exc))
        return None


async def _account_models(request: Request, state: GatewayState, caller: Caller | None) -> AccountModels:
    """The list of the caller's account (waiting briefly for one not known yet); the built-in list for a
    caller without credentials."""
    if caller is None:
        return AccountModels(FALLBACK, "built-in")
    try:
        creds = await resolve_credentials(request, state, caller)
    except (MissingCredentials, UpstreamError):
        return AccountModels(FALLBACK, "built-in")
    return await state.catalog.ensure_known(creds, LIST_WAIT)


def _listed(entry: AccountModels, options: RuntimeOptions) -> list[ModelInfo]:
    """The account's models, each Claude model followed by its thinking variant (the runtime suffix)."""
    suffix = options.thinking_suffix
    listed: list[ModelInfo] = []
    for model in entry.models:
        listed.append(model)
        if suffix and lists_thinking_variant(model.id):
            name = f"{model.display_name} (thinking)"
            listed.append(ModelInfo(model.id + suffix, name, model.context_window))
    return listed


def _page(models: list[ModelInfo], request: Request) -> tuple[list[ModelInfo], bool]:
    """Anthropic pagination: `limit` (1–1000, default 20), `after_id`, `before_id`."""
    query = request.query_params
    raw_limit = query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise InvalidRequestError("limit must be an integer between 1 and 1000", param="limit")
    limit = int(raw_limit)
    ids = [m.id for m in models]
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise InvalidRequestError("use after_id or before_id, not both", param="before_id")
    if before is not None:
        if before not in ids:
            raise InvalidRequestError(f"unknown before_id {before!r}", param="before_id")
        end = ids.index(before)
        start = max(0, end - limit)
        return models[start:end], start > 0
    start = 0
    if after is not None:
        if after not in ids:
            raise InvalidRequestError(f"unknown after_id {after!r}", param="after_id")
        start = ids.index(after) + 1
    page = models[start : start + limit]
    return page, start + limit < len(models)


@router.get("/v1/models")
async def list_models(request: Request, state: Annotated[GatewayState, Depends(get_state)]) -> Response:
    caller = _caller(request, state)
    if isinstance(caller, Response):
        return caller
    entry = await _account_models(request, state, caller)
    models = _listed(entry, state.contexts.options(request.headers, caller is Caller.ROUTER))
    protocol = protocol_for(request, caller)
    if protocol is Protocol.OPENAI:
        return JSONBytesResponse({"object": "list", "data": [_openai(m) for m in models]})
    try:
        page, has_more = _page(models, request)
    except InvalidRequestError as exc:
        return error_response(protocol, 400, exc.message, param=exc.param)
    return JSONBytesResponse(
        {
            "data": [_anthropic(m) for m in page],
            "has_more": has_more,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
        }
    )


@router.get("/v1/models/{model_id:path}")
async def get_model(
    model_id: str, request: Request, state: Annotated[GatewayState, Depends(get_state)]
) -> Response:
    caller = _caller(request, state)
    if isinstance(caller, Response):
        return caller
    entry = await _account_models(request, state, caller)
    protocol = protocol_for(request, caller)
    options = state.contexts.options(request.headers, caller is Caller.ROUTER)
    model = next((m for m in _listed(entry, options) if m.id == model_id), None)
    if model is None:
        resolver = state.catalog.resolver(
            entry, options.model_aliases, options.default_model, options.thinking_suffix
        )
        try:
            resolved = resolver.resolve(model_id)
        except InvalidRequestError:
            return error_response(
                protocol, 404, f"model {model_id!r} not found", openai_code="model_not_found"
            )
        found = entry.by_id.get(resolved.kiro_id)
        model = ModelInfo(model_id, found.display_name if found else resolved.kiro_id)
    return JSONBytesResponse(_anthropic(model) if protocol is Protocol.ANTHROPIC else _openai(model))
