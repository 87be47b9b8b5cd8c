"""Route class of the admin API: the caller is checked before a byte of body is read, bodies are read
with a limit, and known failures become clear 4xx/502 answers.

FastAPI reads and parses a route's body before it solves the route's dependencies, so `require_admin`
as a dependency alone would let anyone make the router buffer and parse any body. `AdminRoute` runs it
first, then reads the body itself up to the route's limit (413 beyond) and hands FastAPI the bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from services.router.context import app_context
from services.router.routes.admin_auth import require_admin
from services.router.routes.admin_errors import KNOWN, as_http
from shared.errors import InvalidRequestError
from shared.http_body import read_body
from shared.logging import log_fields

log = logging.getLogger(__name__)

#: body limit of admin routes that declare none: JSON documents (imports, backups) stay far below it
DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
_LIMIT_ATTRIBUTE = "__admin_body_limit__"
_PUBLIC_ATTRIBUTE = "__admin_public__"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def body_limit(limit: int) -> Callable[[Endpoint], Endpoint]:
    """Decorator (under the route decorator): this admin endpoint accepts bodies of up to `limit` bytes."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _LIMIT_ATTRIBUTE, limit)
        return endpoint

    return mark


def public(endpoint: Endpoint) -> Endpoint:
    """Decorator (under the route decorator): this admin endpoint is open to anyone (login, logout)."""
    setattr(endpoint, _PUBLIC_ATTRIBUTE, True)
    return endpoint


class AdminRoute(APIRoute):
    """Admin route: authenticate unless marked `public` (fail closed), read the body bounded, map failures.

    What a route needs is read from its endpoint, not from the dependencies a router adds when it is
    included: FastAPI versions differ in how included routes carry those.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.needs_admin = not getattr(endpoint, _PUBLIC_ATTRIBUTE, False)
        self.body_limit: int = getattr(endpoint, _LIMIT_ATTRIBUTE, DEFAULT_BODY_LIMIT)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if self.needs_admin:
                await require_admin(request, app_context(request))
            request = await _with_bounded_body(request, self.body_limit)
            try:
                return await handler(request)
            except KNOWN as exc:
                answer = as_http(exc)
                log.info(
                    "admin request refused",
                    extra=log_fields(
                        path=request.url.path, status=answer.status_code, error=type(exc).__name__
                    ),
                )
                raise answer from exc

        return guarded


async def _with_bounded_body(request: Request, limit: int) -> Request:
    """`request` with its body read (at most `limit` bytes, else 413) and replayed to FastAPI."""
    try:
        body = await read_body(request, limit)
    except InvalidRequestError as exc:  # too large (413), or the client hung up mid-body (400)
        raise HTTPException(exc.status, exc.message) from exc
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    receive = request.receive

    async def replay() -> Message:
        # the buffered body once; then whatever the connection says next (a disconnect)
        return pending.pop() if pending else await receive()

    return Request(request.scope, replay)
