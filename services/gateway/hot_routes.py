"""The chat routes the gateway serves through `shared.hot.HotRoutes`, ahead of FastAPI's routing.

`POST /v1/messages`, `/v1/messages/count_tokens`, `/v1/chat/completions` and `/v1/responses` carry nearly
all traffic; FastAPI's routing and dependency solving were about a quarter of the gateway's CPU per
request. Each is called with the state FastAPI would inject, under the request id (`requestid.py`) that
also goes out on the response's own headers (no send wrapper to run for every streamed event), and an
unexpected error is a 500 in the client's shape, as the app's handler makes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.requestid import id_headers
from services.gateway.routes import anthropic, openai, responses
from services.gateway.state import GatewayState
from shared.hot import answer
from shared.logging import request_id_var
from shared.request_ids import request_id

Handler = Callable[[Request, GatewayState], Awaitable[Response]]


def chat_app(handler: Handler) -> ASGIApp:
    async def endpoint(request: Request) -> Response:
        return await handler(request, request.app.state.gateway)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id(scope)
        token = request_id_var.set(rid)
        try:
            request = Request(scope, receive)
            response = await answer(request, endpoint)
            response.raw_headers += id_headers(scope["path"], rid)
            await response(scope, receive, send)
        finally:
            request_id_var.reset(token)

    return app


HOT_ROUTES: dict[str, ASGIApp] = {
    "/v1/messages": chat_app(anthropic.messages),
    "/v1/messages/count_tokens": chat_app(anthropic.count_message_tokens),
    "/v1/chat/completions": chat_app(openai.chat_completions),
    "/v1/responses": chat_app(responses.create_response),
}
