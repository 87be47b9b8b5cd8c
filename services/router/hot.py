"""The hot path: the proxy routes served as plain ASGI apps, reached before FastAPI's routing table.

Per proxied request FastAPI's route matching, dependency solving, request/response wrappers and exception
middleware cost more CPU than the router's own work. The proxy endpoints take nothing from them (their
only input is the raw request), so `Front` hands those requests straight to the endpoint wrapped by
`plain_app`, which answers errors through the app's own exception handlers. The endpoints stay declared
as ordinary routes, for the OpenAPI schema.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


def plain_app(endpoint: Endpoint) -> ASGIApp:
    """`endpoint` as an ASGI app; exceptions go to the app's exception handlers as FastAPI would send them."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = _handler_for(request.app, exc)
            if handler is None:
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    return app


def _handler_for(app: FastAPI, exc: Exception) -> Callable[[Request, Any], Any] | None:
    """The handler registered for the nearest class of `exc` (what Starlette's exception middleware picks)."""
    handlers = app.exception_handlers
    return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)


class Front:
    """The app's outermost own middleware: stamps the arrival time, serves the hot routes without routing.

    `kiro.started` lets TTFB and durations start when the request does. Starlette's error middleware stays
    outside, so an unhandled exception is still a 500.
    """

    def __init__(self, app: ASGIApp, hot: Mapping[str, ASGIApp]) -> None:
        self.app = app
        self.hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["kiro.started"] = time.perf_counter()
            if scope["method"] == "POST":
                hot = self.hot.get(_route_path(scope))
                if hot is not None:
                    await hot(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the routing table would match (without the root path a proxy may mount us under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
