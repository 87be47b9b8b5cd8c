"""The hot path: proxy routes served by `HotRoutes` as plain ASGI apps, still documented and error-handled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from services.router.app import create_app
from services.router.routes import proxy
from services.router.settings import RouterSettings
from shared.hot import HotRoutes, plain_app
from tests.router.stack import Seeder, Stack


class Refused(Exception):
    pass


class RefusedHard(Refused):
    pass


async def _echo(request: Request) -> Response:
    body = await request.body()
    if body == b"refuse":
        raise RefusedHard("no")
    if body == b"crash":
        raise RuntimeError("unhandled")
    return JSONResponse({"body": body.decode(), "started": "kiro.started" in request.scope})


def _app() -> FastAPI:
    """An app with a hot route that echoes what it saw, a cold route, and a handler for `Refused`."""
    app = FastAPI()

    async def refused(request: Request, exc: Refused) -> Response:
        return JSONResponse({"refused": type(exc).__name__}, status_code=429)

    app.add_exception_handler(Refused, refused)  # type: ignore[arg-type]
    app.post("/hot")(_echo)

    @app.get("/cold")
    async def cold() -> dict[str, str]:
        return {"cold": "yes"}

    return app


_HOT = {"/hot": plain_app(_echo)}


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


async def test_a_hot_route_is_served_without_the_routing_table() -> None:
    app = _app()
    front = HotRoutes(_RoutingTableMustNotRun(), _HOT)

    status, body = await _call(_with_app(front, app), "POST", "/hot", b"ping")

    assert status == 200
    assert body == b'{"body":"ping","started":true}'


async def test_hot_route_errors_go_to_the_apps_nearest_exception_handler() -> None:
    app = _app()
    front = HotRoutes(_RoutingTableMustNotRun(), _HOT)

    status, body = await _call(_with_app(front, app), "POST", "/hot", b"refuse")

    assert (status, body) == (429, b'{"refused":"RefusedHard"}')


async def test_requests_hot_routes_do_not_claim_reach_the_app() -> None:
    app = _app()
    app.add_middleware(HotRoutes, routes=_HOT)

    assert await _call(app, "GET", "/cold") == (200, b'{"cold":"yes"}')
    assert (await _call(app, "GET", "/hot"))[0] == 405
    assert await _call(app, "POST", "/hot/", b"x") == (307, b"")  # the app's own trailing-slash redirect


async def test_an_unhandled_error_in_a_hot_route_is_still_a_500() -> None:
    app = _app()
    app.add_middleware(HotRoutes, routes=_HOT)
    sent: list[int] = []

    async def status_of(scope: Scope, receive: Receive, send: Send) -> None:
        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent.append(message["status"])

        await app(scope, receive, record)

    with pytest.raises(RuntimeError, match="unhandled"):  # Starlette answers 500, then re-raises
        await _call(status_of, "POST", "/hot", b"crash")
    assert sent == [500]


def test_the_proxy_routes_are_the_hot_ones() -> None:
    assert set(proxy.HOT_ROUTES) == {"/v1/messages", "/v1/chat/completions", "/v1/responses"}


def _with_app(front: HotRoutes, app: FastAPI) -> Any:
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


def test_the_router_app_serves_the_proxy_routes_hot(secret_key: str) -> None:
    settings = RouterSettings(kiro_secret_key=secret_key, internal_api_key="test-internal")

    app = create_app(settings)

    hot = [m for m in app.user_middleware if m.cls is HotRoutes]
    assert len(hot) == 1 and hot[0].kwargs["routes"] is proxy.HOT_ROUTES
