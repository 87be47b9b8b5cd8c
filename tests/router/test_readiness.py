"""Readiness of an in-process router app: ready with Redis and a gateway, 503 once SIGTERM arrives."""

from __future__ import annotations

import asyncio
import signal

import httpx
import uvicorn

from services.router.__main__ import draining_server
from services.router.app import create_app
from services.router.settings import RouterSettings
from tests.support.procs import ServiceProcess


async def test_readiness_turns_503_as_soon_as_sigterm_is_handled(
    redis_url: str, key_prefix: str, secret_key: str, emulator: ServiceProcess
) -> None:
    settings = RouterSettings.load(
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        kiro_secret_key=secret_key,
        internal_api_key="test-internal",
        gateway_urls=emulator.url,  # any server answering /health below 500 counts as a live gateway
    )
    app = create_app(settings)
    server = draining_server(uvicorn.Config(app), app)

    async with asyncio.timeout(30), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://router", timeout=10) as client:
            before = await client.get("/ready")
            server.handle_exit(signal.SIGTERM, None)
            after = await client.get("/ready")

    assert before.status_code == 200 and before.json()["redis"] is True
    assert after.status_code == 503
    assert after.json()["draining"] is True
