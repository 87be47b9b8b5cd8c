"""The chat routes served straight from ASGI, ahead of FastAPI's routing and dependency solving.

`POST /v1/messages`, `/v1/messages/count_tokens`, `/v1/chat/completions` (and `/v1/responses`) carry
nearly all traffic, and FastAPI's middleware stack, routing and dependency solving were about a quarter
of the gateway's CPU per request. The routes stay declared on the FastAPI app (that is where they are
documented, and where other methods get their 405); `GatewayApp` takes an exact POST to one of them
before FastAPI sees it and calls the same route function with the state FastAPI would inject. Behaviour
is unchanged: the same request ids (requestid.py), error shapes, internal-key check and metrics (the
route functions), and an unexpected error is a 500 in the client's shape, as the app's handler makes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.gateway.errors import Protocol, error_response
from services.gateway.requestid import id_headers, request_id
from services.gateway.routes import anthropic, openai, responses
from services.gateway.state import GatewayState
from shared.logging import request_id_var

logger = logging.getLogger(__name__)

Handler = Callable[[Request, GatewayState], Awaitable[Response]]

HOT_ROUTES: dict[str, tuple[Protocol, Handler]] = {
    "/v1/messages": (Protocol.ANTHROPIC, anthropic.messages),
    "/v1/messages/count_tokens": (Protocol.ANTHROPIC, anthropic.count_message_tokens),
    "/v1/chat/completions": (Protocol.OPENAI, openai.chat_completions),
    "/v1/responses": (Protocol.OPENAI, responses.create_response),
}


class GatewayApp(FastAPI):
    """FastAPI, with the chat routes answered without going through FastAPI."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in HOT_ROUTES:
            scope["app"] = self
            await self._serve_chat(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _serve_chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        protocol, handler = HOT_ROUTES[path]
        state: GatewayState = self.state.gateway
        rid = request_id(scope)
        token = request_id_var.set(rid)
        try:
            try:
                response = await handler(Request(scope, receive), state)
            except Exception:  # the app-wide handler's job on other routes: log, answer 500, keep serving
                logger.exception("unhandled error")
                response = error_response(protocol, 500, "internal error in the gateway")
            # the id joins the response's own headers: no send wrapper to run for every streamed event
            response.raw_headers += id_headers(path, rid)
            await response(scope, receive, send)
        finally:
            request_id_var.reset(token)
