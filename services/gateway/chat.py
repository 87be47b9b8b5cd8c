"""One chat request end to end: who calls, parse, resolve, build the Kiro request, then `answer.respond`.

The call itself is `kiro_call.py`, the answer (whole or streamed) `answer.py`, the counting `accounting.py`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.gateway.accounting import count_request, debugged
from services.gateway.answer import respond
from services.gateway.body import parse_json_object, read_body
from services.gateway.build import build, parse_any
from services.gateway.chat_call import ChatCall
from services.gateway.credentials import KiroCredentials, StandaloneAccount
from services.gateway.debug_bodies import DebugBodies
from services.gateway.errors import (
    Protocol,
    error_response,
    failure_response,
    invalid_request_response,
    unauthorized_response,
)
from services.gateway.kiro.models import AccountModels
from services.gateway.options import Caller, MissingCredentials, RuntimeOptions, Unauthorized
from services.gateway.remote_images import fetch_remote_images
from services.gateway.responses import (
    RESPONSES_ROUTE,
    StoreUnavailable,
    load_previous,
)
from services.gateway.state import GatewayState
from services.gateway.token_pool import TokenPool
from services.gateway.translate import thinking_enabled
from services.gateway.translate.models import ResolvedModel
from shared.disconnect import until_client_leaves
from shared.errors import InvalidRequestError, UpstreamError
from shared.logging import log_fields

logger = logging.getLogger(__name__)


#: a call answered within this long never needs a disconnect watch (most are): starting one costs a task
WATCH_AFTER_SECONDS = 0.2


async def resolve_credentials(request: Request, state: GatewayState, caller: Caller) -> KiroCredentials:
    """The request's Kiro credentials: the router's, a client's own refresh token, or the env accounts'."""
    found = state.contexts.credentials(request.headers, caller)
    if isinstance(found, TokenPool):
        return await found.credentials(state.tokens)
    if isinstance(found, StandaloneAccount):
        return await state.tokens.credentials(
            found, proxy_url=state.contexts.proxy_url(request.headers, caller is Caller.ROUTER)
        )
    return found


async def prepare(
    request: Request, state: GatewayState, protocol: Protocol, route: str
) -> ChatCall | Response:
    """Everything before the call to Kiro; a Response when the request ends here (bad input, no creds)."""
    started = time.perf_counter()
    contexts = state.contexts
    try:
        caller = contexts.authenticate(request.headers)  # before a byte of the body is read
    except Unauthorized as exc:
        return unauthorized_response(protocol, str(exc))
    try:
        raw = await read_body(request, state.settings.max_body_bytes)
    except InvalidRequestError as exc:
        return invalid_request_response(protocol, exc)
    debug = DebugBodies(raw) if state.settings.debug_mode != "off" else None
    options = contexts.options(request.headers, caller is Caller.ROUTER)
    try:
        creds = await resolve_credentials(request, state, caller)
    except MissingCredentials as exc:
        return error_response(protocol, 401, str(exc), openai_code="invalid_api_key")
    except UpstreamError as exc:  # standalone token refresh failed
        return debugged(state, route, debug, failure_response(protocol, exc))
    settings = state.settings
    try:  # the region comes from the router's headers or a profile ARN: checked before it names a host
        routes = state.client.routes(creds, options.endpoint_order, options.endpoint_origins)
    except InvalidRequestError as exc:
        return debugged(state, route, debug, invalid_request_response(protocol, exc))
    prior = None
    if route == RESPONSES_ROUTE:  # the stored conversation a follow-up continues, before the build
        try:
            prior = await _previous(state, raw)
        except InvalidRequestError as exc:
            return debugged(state, route, debug, invalid_request_response(protocol, exc))
        except StoreUnavailable:
            return error_response(
                protocol,
                503,
                "the Responses store is not answering; try again",
                openai_code="store_unavailable",
                headers={"retry-after": "1", "x-should-retry": "true"},
            )
    session_id = request.headers.get("x-claude-code-session-id")
    size = len(raw)
    # a big request is built in a worker, and its objects are gone before the collector resumes
    with state.offload.collector_paused(size):
        try:
            req, responses = await state.offload.run(
                size, parse_any, raw, protocol, session_id, settings.max_json_depth, route=route, prior=prior
            )
            resolved, models = await _resolve(state, creds, options, protocol, req.model)
            await fetch_remote_images(req, state.images)  # Kiro takes inline bytes only
            built = await state.offload.run(
                size,
                build,
                req,
                responses,
                resolved=resolved,
                origin=routes[0].origin,
                profile_arn=creds.profile_arn,
                limit=settings.kiro_payload_limit,
            )
        except InvalidRequestError as exc:
            return debugged(state, route, debug, invalid_request_response(protocol, exc))
    req, kiro = built.req, built.kiro
    if debug is not None:
        debug.kiro = kiro.body
    return ChatCall(
        protocol=protocol,
        route=route,
        req=req,
        kiro=kiro,
        creds=creds,
        routes=routes,
        options=options,
        kiro_model=built.resolved.kiro_id,
        served_model=built.resolved.served,
        thinking=thinking_enabled(req, built.resolved.thinking),
        input_tokens=built.input_tokens,
        context_window=state.catalog.context_window(models, built.resolved.kiro_id),
        started=started,
        continuable=options.auto_continue and bool(req.tools),
        debug=debug,
        responses=built.responses,
    )


async def _resolve(
    state: GatewayState, creds: KiroCredentials, options: RuntimeOptions, protocol: Protocol, name: str
) -> tuple[ResolvedModel, AccountModels]:
    """The model the request names, against its account's list (docs/models.md)."""
    try:
        return await state.catalog.resolve(
            creds, name, options.model_aliases, options.default_model, options.thinking_suffix
        )
    except InvalidRequestError as exc:
        if protocol is Protocol.OPENAI:
            exc.status = 404  # OpenAI SDKs expect model_not_found
        raise


async def _previous(state: GatewayState, raw: bytes) -> list[dict[str, Any]] | None:
    """The conversation `previous_response_id` names (only a body that mentions it is parsed for it)."""
    if b"previous_response_id" not in raw:
        return None
    return await load_previous(state.responses, parse_json_object(raw, state.settings.max_json_depth))


#: nginx's "client closed request": counted and logged for a call the client abandoned, never sent
CLIENT_LEFT = 499


async def handle_chat(request: Request, state: GatewayState, protocol: Protocol, route: str) -> Response:
    prepared = await prepare(request, state, protocol, route)
    if isinstance(prepared, Response):
        state.metrics.child(state.metrics.requests, route, str(prepared.status_code), "-").inc()
        return prepared
    # until the response is committed, a client (or router) that leaves stops the Kiro call: no retry,
    # endpoint fallback or backoff sleep runs for nobody (a committed stream has its own watcher)
    answered = await until_client_leaves(request.receive, respond(state, prepared), after=WATCH_AFTER_SECONDS)
    if answered is None:
        logger.info(
            "client left before the answer began; Kiro call abandoned",
            extra=log_fields(route=route, ms=round((time.perf_counter() - prepared.started) * 1000, 1)),
        )
        count_request(state, prepared, CLIENT_LEFT, None)
        return Response(status_code=CLIENT_LEFT)
    return answered
