"""An account's proxy (stored encrypted, or in plain text by an older version) carries its chat calls."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from shared.accounts.store import AccountStore
from tests.router.stack import Seeder, Stack

pytestmark = pytest.mark.e2e


class AuthProxy:
    """A minimal HTTP forward proxy that records the credentials each request presented."""

    def __init__(self) -> None:
        self.credentials: list[str] = []
        self.port = 0

    def url(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        scheme, _, value = request.headers.get("Proxy-Authorization", "").partition(" ")
        self.credentials.append(base64.b64decode(value).decode() if scheme == "Basic" else "")
        skip = ("host", "proxy-connection", "proxy-authorization")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, str(request.url), data=await request.read(), headers=headers
            ) as up,
        ):
            body = await up.read()
            return web.Response(status=up.status, body=body, headers={"Content-Type": up.content_type})


@pytest.fixture
async def proxy() -> AsyncIterator[AuthProxy]:
    recorder = AuthProxy()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recorder.port = runner.addresses[0][1]
    yield recorder
    await runner.cleanup()


async def chat(stack: Stack, key: str) -> httpx.Response:
    body = {"model": "claude-sonnet-4.5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(stack.routers[0].url + "/v1/messages", json=body, headers=headers)


async def test_an_encrypted_proxy_url_is_decrypted_for_the_gateway(
    stack: Stack, seeder: Seeder, proxy: AuthProxy
) -> None:
    await seeder.account(proxy_url_enc=seeder.box.encrypt(proxy.url("enc-user", "enc-s3cret")))
    r = await chat(stack, await seeder.client_key())
    assert r.status_code == 200, r.text
    assert "enc-user:enc-s3cret" in proxy.credentials


async def test_a_plain_proxy_url_of_an_older_version_still_carries_the_calls(
    stack: Stack, seeder: Seeder, proxy: AuthProxy
) -> None:
    await seeder.account(proxy_url=proxy.url("old-user", "old-s3cret"))
    r = await chat(stack, await seeder.client_key())
    assert r.status_code == 200, r.text
    assert "old-user:old-s3cret" in proxy.credentials


async def test_a_starting_router_encrypts_plain_proxy_urls_without_losing_them(
    stack: Stack, seeder: Seeder, redis: aioredis.Redis
) -> None:
    account_id = await seeder.account(proxy_url="http://old-user:old-s3cret@127.0.0.1:3128")
    stack.start_router(stack.gateway.url)
    stored = await redis.hgetall(stack.keys.account(account_id))
    assert "old-s3cret" not in " ".join(stored.values())
    account = await AccountStore(redis, stack.keys, seeder.box).get(account_id)
    assert account is not None
    assert seeder.box.decrypt(account.proxy_url_enc) == "http://old-user:old-s3cret@127.0.0.1:3128"
