"""Request ids (`shared.request_ids`: the router's X-Request-Id, else a new one), echoed on each response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import request_id_var
from shared.request_ids import request_id

_OPENAI_PATHS = ("/v1/chat/completions",)
_ANTHROPIC_PATHS = ("/v1/messages",)


def response_header_names(path: str) -> tuple[bytes, ...]:
    """`request-id` on Anthropic paths, `x-request-id` on OpenAI paths, both where both clients come."""
    if path.startswith(_ANTHROPIC_PATHS):
        return (b"request-id",)
    if path.startswith(_OPENAI_PATHS):
        return (b"x-request-id",)
    return (b"x-request-id", b"request-id")


def id_headers(path: str, rid: str) -> list[tuple[bytes, bytes]]:
    """The response headers carrying `rid` on `path`."""
    return [(name, rid.encode("latin-1")) for name in response_header_names(path)]


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware: it would buffer streams and cost per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        token = request_id_var.set(rid)
        extra = id_headers(scope["path"], rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
