"""Fault suite 8: client header names, fuzzed in any case, never reach a gateway or Kiro unless allowed.

The router forwards an allowlist (docs/architecture.md, "Client edge"). Every fuzzed header carries a
`leak-…` value: any of them seen by the gateway stand-in or recorded by the Kiro emulator is a leak.
"""

from __future__ import annotations

import asyncio
import random
import string

import httpx
import orjson
import pytest

from tests.chaos.conftest import figure
from tests.router.stack import Seeder, Stack
from tests.support.capture import Seen, capture_gateway

pytestmark = pytest.mark.e2e

#: what clients may show a gateway (the contract under test)
ALLOWED = {"accept", "anthropic-beta", "anthropic-version", "content-type", "user-agent"}
ALLOWED |= {"x-claude-code-session-id"}
ALLOWED_PREFIXES = ("openai-", "x-stainless-")
#: what the router itself sends a gateway (aiohttp adds host, content-length and accept-encoding)
ROUTER_OWN = {"host", "content-length", "accept-encoding", "x-internal-key", "x-request-id", "x-kiro-options"}
ROUTER_OWN |= {f"x-kiro-{n}" for n in ("access-token", "account-id", "region", "profile-arn", "auth-kind")}
ROUTER_OWN |= {"x-kiro-machine-id", "x-kiro-proxy-url", "x-kiro-client-protocol"}

KNOWN = [
    *(f"x-kiro-{n}" for n in ("access-token", "refresh-token", "account-id", "options", "proxy-url")),
    *(
        f"x-kiro-{n}"
        for n in (
            "region",
            "profile-arn",
            "auth-kind",
            "machine-id",
            "client-secret",
            "failure",
            "client-protocol",
        )
    ),
    "x-internal-key",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-prefix",
    "x-real-ip",
    "forwarded",
    "via",
    "connection",
    "te",
    "upgrade",
    "keep-alive",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "proxy-authenticate",
    "cookie",
    "authorization",
    "x-request-id",
    "request-id",
    "x-amz-security-token",
    "x-amz-user-agent",
    "x-amzn-codewhisperer-optout",
    "amz-sdk-invocation-id",
    "origin",
    "referer",
]
PREFIXES = ["x-kiro-", "x-internal-", "x-forwarded-", "proxy-", "x-amz-", "x-amzn-", "sec-", "x-", ""]
NAME_CHARS = string.ascii_lowercase + string.digits + "-"


def _any_case(name: str, rnd: random.Random) -> str:
    return "".join(c.upper() if rnd.random() < 0.5 else c for c in name)


def fuzzed_names(rnd: random.Random, count: int) -> list[str]:
    """Known internal and hop-by-hop names and random ones under risky prefixes, each in a random case."""
    names = []
    while len(names) < count:
        if rnd.random() < 0.4:
            base = rnd.choice(KNOWN)
        else:
            base = rnd.choice(PREFIXES) + "".join(rnd.choice(NAME_CHARS) for _ in range(rnd.randint(1, 12)))
            base = base.strip("-") or "x"
        lower = base.lower()
        if lower in ALLOWED or lower.startswith(ALLOWED_PREFIXES) or lower in ("x-api-key", "host"):
            continue
        names.append(_any_case(base, rnd))
    return names


def _headers(key: str, names: list[str], first: int) -> dict[str, str]:
    out = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    for i, name in enumerate(names):
        out.setdefault(name, f"leak-{first + i}")  # one value per name, whatever its case
    return out


async def _send(client: httpx.AsyncClient, url: str, n: int, headers: dict[str, str]) -> int:
    body = {"model": "claude-sonnet-4.5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    route = n % 5
    if route == 0:
        answer = await client.post(url + "/v1/messages", json=body, headers=headers)
    elif route == 1:
        answer = await client.post(url + "/v1/chat/completions", json=body, headers=headers)
    elif route == 2:
        answer = await client.post(url + "/v1/messages/count_tokens", json=body, headers=headers)
    elif route == 3:
        answer = await client.get(url + "/v1/models", headers=headers)
    else:
        answer = await client.get(url + "/v1/models/claude-sonnet-4.5", headers=headers)
    return answer.status_code


def _leaks(seen: Seen) -> list[tuple[str, str]]:
    """Headers the gateway received that a client chose: not allowed, not the router's own, or repeated.

    The router's `X-Request-Id` is the client's own when that is a sane id (tracing), else a new one.
    """
    names = [name.lower() for name, _ in seen.headers]
    return [
        (name, value)
        for name, value in seen.headers
        if ("leak-" in value and name.lower() != "x-request-id")
        or names.count(name.lower()) > 1
        or not (name.lower() in ALLOWED | ROUTER_OWN or name.lower().startswith(ALLOWED_PREFIXES))
    ]


async def test_fuzzed_client_headers_never_reach_the_gateway(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key()
    rnd = random.Random(8)
    tried: set[str] = set()
    async with capture_gateway() as gateway:
        router = await asyncio.to_thread(stack.start_router, gateway.url)
        async with httpx.AsyncClient(timeout=30) as client:
            statuses = []
            for n in range(100):
                names = fuzzed_names(rnd, 20)
                tried.update(names)
                statuses.append(await _send(client, router.url, n, _headers(key, names, n * 100)))
            chunked = await client.post(  # a client's transfer-encoding is the router's business only
                router.url + "/v1/messages",
                content=_chunks(),
                headers={
                    "x-api-key": key,
                    "anthropic-version": "2023-06-01",
                    "content-type": "application/json",
                },
            )

    proxied = gateway.proxied()
    leaked = [leak for seen in proxied for leak in _leaks(seen)]
    figure("header_allowlist", "header names tried on the way to the gateway", len(tried))
    figure("header_allowlist", "of those reaching the gateway", len(leaked), "0")
    assert statuses == [200] * 100
    assert chunked.status_code == 200
    assert len(proxied) == 101
    assert leaked == []
    assert not any(key in value for seen in proxied for _, value in seen.headers)
    assert all(seen.raw_path.split("?")[0] in _PATHS for seen in proxied)


async def test_fuzzed_client_headers_never_reach_kiro(stack: Stack, seeder: Seeder) -> None:
    account = await seeder.account()
    key = await seeder.client_key()
    rnd = random.Random(88)
    tried: set[str] = set()
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(40):  # the emulator keeps an account's last 50 requests
            names = fuzzed_names(rnd, 20)
            tried.update(names)
            assert await _send(client, stack.routers[n % 2].url, n, _headers(key, names, n * 100)) == 200

    recorded = orjson.dumps([stack.control.requests(account), stack.control.requests()]).decode()
    leaks = recorded.count("leak-")
    figure("header_allowlist", "header names tried on the way to Kiro", len(tried))
    figure("header_allowlist", "of those reaching Kiro", leaks, "0")
    assert len(stack.control.requests(account)) > 0
    assert leaks == 0


_PATHS = {"/v1/messages", "/v1/chat/completions", "/v1/messages/count_tokens", "/v1/models"}
_PATHS |= {"/v1/models/claude-sonnet-4.5"}


async def _chunks():  # type: ignore[no-untyped-def]
    yield b'{"model": "claude-sonnet-4.5", "max_tokens": 16, '
    yield b'"messages": [{"role": "user", "content": "hi"}]}'
