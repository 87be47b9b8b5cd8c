"""The hot path: proxy routes served by `Front` as plain ASGI apps, still documented and error-handled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from services.router.hot import Front, HotRoute, hot_routes
from tests.router.stack import Seeder, Stack


class Refused(Exception):
    pass


class RefusedHard(Refused):
    pass


def _app() -> FastAPI:
    """An app with one hot route that echoes what it saw, and a handler for `Refused`."""
    app = FastAPI()

    async def echo(request: Request) -> Response:
        body = await request.body()
        if body == b"refuse":
            raise RefusedHard("no")
        return JSONResponse({"body": body.decode(), "started": "kiro.started" in request.scope})

    async def refused(request: Request, exc: Refused) -> Response:
        return JSONResponse({"refused": type(exc).__name__}, status_code=429)

    app.router.add_api_route("/hot", echo, methods=["POST"], summary="hot", route_class_override=HotRoute)
    app.add_exception_handler(Refused, refused)  # type: ignore[arg-type]

    @app.get("/cold")
    async def cold() -> dict[str, str]:
        return {"cold": "yes"}

    return app


async def _call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


class _RoutingTableMustNotRun:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError(f"{scope['method']} {scope['path']} went through the routing table")


async def test_front_serves_a_hot_route_without_the_routing_table() -> None:
    app = _app()
    front = Front(_RoutingTableMustNotRun(), hot_routes(app))

    status, body = await _call(_with_app(front, app), "POST", "/hot", b"ping")

    assert status == 200
    assert body == b'{"body":"ping","started":true}'


async def test_hot_route_errors_go_to_the_apps_nearest_exception_handler() -> None:
    app = _app()
    front = Front(_RoutingTableMustNotRun(), hot_routes(app))

    status, body = await _call(_with_app(front, app), "POST", "/hot", b"refuse")

    assert (status, body) == (429, b'{"refused":"RefusedHard"}')


async def test_requests_front_does_not_claim_reach_the_app_and_hot_routes_work_there_too() -> None:
    app = _app()
    app.add_middleware(Front, hot=hot_routes(app))

    assert await _call(app, "GET", "/cold") == (200, b'{"cold":"yes"}')
    assert (await _call(app, "GET", "/hot"))[0] == 405
    assert await _call(app.router, "POST", "/hot", b"via routing") == (  # the route's own app
        200,
        b'{"body":"via routing","started":false}',
    )


def _with_app(front: Front, app: FastAPI) -> Any:
    """`front` as the outermost app of `app` (Starlette puts the app in the scope for `request.app`)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app
        await front(scope, receive, send)

    return asgi


@pytest.mark.e2e
async def test_proxy_routes_stay_in_the_openapi_schema(stack: Stack, seeder: Seeder) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        schema = (await client.get(stack.routers[0].url + "/openapi.json")).json()

    paths = schema["paths"]
    assert paths["/v1/messages"]["post"]["summary"] == "Anthropic Messages (streaming or not)"
    assert paths["/v1/chat/completions"]["post"]["summary"] == "OpenAI Chat Completions (streaming or not)"
    assert "/v1/messages/count_tokens" in paths and "/v1/models" in paths
