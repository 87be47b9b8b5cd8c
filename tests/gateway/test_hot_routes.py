"""The chat routes answered ahead of FastAPI stay part of the app's API description."""

from __future__ import annotations

from services.gateway.app import create_app
from services.gateway.hot_routes import HOT_ROUTES
from services.gateway.settings import GatewaySettings


def test_chat_routes_served_ahead_of_fastapi_stay_in_the_openapi_schema() -> None:
    app = create_app(GatewaySettings.load(internal_api_key="k" * 32))
    paths = app.openapi()["paths"]
    assert set(HOT_ROUTES) == {
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/chat/completions",
        "/v1/responses",
    }
    for path in HOT_ROUTES:
        assert "post" in paths[path]
