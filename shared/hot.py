"""The hot path of router and gateway: the chat routes served as plain ASGI apps, ahead of routing.

Per proxied request FastAPI's route matching, dependency solving, request/response wrappers and exception
middleware cost more CPU than the services' own work, and the chat endpoints take nothing from them (their
only input is the raw request). `HotRoutes` is an ordinary pure-ASGI middleware that hands an exact POST
to one of them straight to its app. Install it **first** (`app.add_middleware(HotRoutes, routes=...)`
before any other): every middleware added later wraps it, so it applies to the hot routes too, and
Starlette's error middleware stays outside (an unhandled exception is still a 500). The endpoints stay
declared as ordinary routes, for the OpenAPI schema and for other methods' 405.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.server import IdleTrim

Endpoint = Callable[[Request], Awaitable[Response]]

#: scope key: `time.perf_counter()` when the request reached the app (TTFB and durations start there)
STARTED = "kiro.started"


class HotRoutes:
    """Serves exact `POST` paths with their own ASGI apps; stamps every request's arrival time and counts
    the requests in flight (`IdleTrim`: the heap goes back to the kernel once none is)."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, ASGIApp]) -> None:
        self.app = app
        self.routes = routes
        self.idle = IdleTrim()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault(STARTED, time.perf_counter())
        hot = self.routes.get(route_path(scope)) if scope["method"] == "POST" else None
        idle = self.idle
        idle.begin()
        try:
            await (hot or self.app)(scope, receive, send)
        finally:
            idle.end()


def route_path(scope: Scope) -> str:
    """The path the routing table would match (without the root path a proxy may mount us under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def answer(request: Request, endpoint: Endpoint) -> Response:
    """`endpoint`'s response; an exception is answered by the app's nearest handler (as FastAPI would)."""
    try:
        return await endpoint(request)
    except Exception as exc:
        handler = _handler_for(request, exc)
        if handler is None:
            raise
        response = handler(request, exc)
        answered: Response = await response if inspect.isawaitable(response) else response
        return answered


def plain_app(endpoint: Endpoint) -> ASGIApp:
    """`endpoint` as an ASGI app for `HotRoutes`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await answer(Request(scope, receive), endpoint)
        await response(scope, receive, send)

    return app


def _handler_for(request: Request, exc: Exception) -> Callable[[Request, Any], Any] | None:
    """The handler registered for the nearest class of `exc` (what Starlette's exception middleware picks)."""
    handlers = request.app.exception_handlers
    return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
