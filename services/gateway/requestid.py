"""Request ids: taken from the router's `X-Request-Id` or made here, echoed on every response, logged."""

from __future__ import annotations

import random

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


def request_id(scope: Scope) -> str:
    """The router's `X-Request-Id` (at most 128 chars), else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            rid: str = value.decode("latin-1")[:128]
            if rid:
                return rid
            break
    # an id only correlates log lines: no need for the OS entropy (a syscall) uuid4 draws on
    return f"req_{random.getrandbits(96):024x}"


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
