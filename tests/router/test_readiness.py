"""Readiness of an in-process router app: ready with Redis and a gateway, 503 once SIGTERM arrives."""

from __future__ import annotations

import asyncio
import signal

import httpx
import uvicorn

from services.router.__main__ import draining_server
from services.router.app import create_app
from services.router.settings import RouterSettings
from tests.router.stack import Seeder, Stack
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess
from tests.support.tcp_proxy import RoundRobinProxy


async def test_readiness_turns_503_as_soon_as_sigterm_is_handled(
    redis_url: str, key_prefix: str, secret_key: str, emulator: ServiceProcess
) -> None:
    settings = RouterSettings.load(
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        kiro_secret_key=secret_key,
        internal_api_key="test-internal",
        gateway_urls=emulator.url,  # any server answering /ready below 500 counts as a live gateway
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


async def test_one_reset_connection_to_a_gateway_url_is_retried_and_readiness_stays_up(
    stack: Stack, seeder: Seeder
) -> None:
    """Several replicas behind one URL: one of them resetting a connection is no reason to give up."""
    await seeder.account()
    key = await seeder.client_key()
    proxy = await RoundRobinProxy([stack.gateway.port]).start()
    try:
        router = stack.start_router(proxy.url, GATEWAY_HEALTH_INTERVAL_SECONDS="60")
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as client:
            # arranged: ready before the fault (a just-started router's first Redis ping may miss)
            await wait_for(lambda: _is_ready(client), what="the new router to be ready")
            proxy.drop_clients()  # the replica behind the pooled connection went away
            proxy.reset_next = 1  # and the next new connection reaches one that is restarting
            # not sync: a turn for the router to see its pooled connection closed; nothing shows when it has
            await asyncio.sleep(0.1)
            answer = await client.post(
                "/v1/messages",
                json={
                    "model": "claude-sonnet-4.5",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "hi"}],
                },
                headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            )
            ready = await client.get("/ready")
    finally:
        await proxy.stop()
    assert proxy.resets == 1
    assert answer.status_code == 200, answer.text
    assert ready.status_code == 200, ready.text


async def _is_ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/ready")).status_code == 200
