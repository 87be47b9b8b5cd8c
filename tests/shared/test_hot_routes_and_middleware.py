"""A middleware added to the router or the gateway after it is built applies to the hot chat routes too."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.app import create_app as create_gateway
from services.gateway.settings import GatewaySettings
from services.router.app import create_app as create_router
from services.router.settings import RouterSettings


class Maintenance:
    """A middleware an operator might add later: answers every request itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await PlainTextResponse("down for maintenance", status_code=503)(scope, receive, send)


def router_app(secret_key: str) -> FastAPI:
    return create_router(RouterSettings(kiro_secret_key=secret_key, internal_api_key="test-internal"))


def gateway_app(secret_key: str) -> FastAPI:
    return create_gateway(GatewaySettings.load(internal_api_key="k" * 32))


@pytest.mark.parametrize(
    ("build", "paths"),
    [
        (router_app, ["/v1/messages", "/v1/chat/completions", "/v1/responses"]),
        (gateway_app, ["/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions", "/v1/responses"]),
    ],
)
async def test_a_middleware_added_later_sees_the_hot_routes(
    build: Callable[[str], FastAPI], paths: list[str], secret_key: str
) -> None:
    app = build(secret_key)
    app.add_middleware(Maintenance)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        for path in paths:
            response = await client.post(path, json={"model": "claude-sonnet-4.5", "messages": []})
            assert (path, response.status_code, response.text) == (path, 503, "down for maintenance")
