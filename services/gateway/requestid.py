"""Request ids: taken from the router's `X-Request-Id` or made here, echoed on every response, logged."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import request_id_var

_OPENAI_PATHS = ("/v1/chat/completions",)
_ANTHROPIC_PATHS = ("/v1/messages",)


def response_header_names(path: str) -> tuple[bytes, ...]:
    """`request-id` on Anthropic paths, `x-request-id` on OpenAI paths, both where both clients come."""
    if path.startswith(_ANTHROPIC_PATHS):
        return (b"request-id",)
    if path.startswith(_OPENAI_PATHS):
        return (b"x-request-id",)
    return (b"x-request-id", b"request-id")


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware: it would buffer streams and cost per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
                break
        if not rid:
            rid = "req_" + uuid.uuid4().hex[:24]
        token = request_id_var.set(rid)
        extra = [(name, rid.encode("latin-1")) for name in response_header_names(scope["path"])]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
