"""Fault suite 7: canary secrets never show up anywhere but where they must.

A whole stack (router, gateway, refresher; emulator as Kiro; DEBUG_MODE=all and LOG_LEVEL=DEBUG, the
noisiest settings an operator can pick) serves 10,000 requests that walk every path a client can reach:
answers streamed and not, both protocols, bad JSON, unknown models, wrong and missing keys, Kiro errors
before and after the first byte, expired access tokens (refresh), throttling and suspension, admin logins
with wrong passwords, admin reads. The secrets are real ones: the accounts' refresh and access tokens, an
IdC client secret, a per-account proxy password, the client key and the admin password. Afterwards none of
them may appear, in plain text or URL-encoded, in any service's log, any /metrics page, any answer a
client got (bodies and headers), or anywhere in Redis: every value of every key and the AOF files.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis as sync_redis

from services.kiro_emulator.control import EmulatorControl, directive, unique_name
from tests.chaos.conftest import figure
from tests.gateway.proxies import TestProxy
from tests.support.procs import ServiceProcess, free_port
from tests.support.redis_server import PrivateRedis

REQUESTS = 10_000
CONCURRENCY = 16
ANTHROPIC = {"anthropic-version": "2023-06-01"}


@dataclass
class Canaries:
    """Every secret value the run handled; grows as tokens are refreshed and rotated."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: object) -> None:
        self.values.update(v for v in values if isinstance(v, str) and len(v) >= 8)

    def forms(self) -> dict[bytes, str]:
        """Each secret as it could be written: plain, URL-encoded, base64."""
        out: dict[bytes, str] = {}
        for value in self.values:
            for form in (value, quote(value, safe=""), base64.b64encode(value.encode()).decode()):
                out[form.encode()] = value
        return out


@dataclass
class Stack:
    router: ServiceProcess
    gateway: ServiceProcess
    refresher: ServiceProcess
    control: EmulatorControl
    admin_password: str
    client_key: str
    admin_key: str
    accounts: dict[str, str]  # emulator name -> pool account id


@pytest.fixture
def canaries() -> Canaries:
    return Canaries()


@pytest.fixture
def debug_stack(
    private_redis: PrivateRedis, secret_key: str, emulator: ServiceProcess, canaries: Canaries
) -> Iterator[Stack]:
    admin_password = "canary-admin-" + uuid.uuid4().hex
    client_key = "sk-canary-" + uuid.uuid4().hex
    admin_key = "canary-admin-api-" + uuid.uuid4().hex
    internal = "canary-internal-" + uuid.uuid4().hex
    canaries.add(admin_password, client_key, admin_key, internal, secret_key)
    env = {
        "REDIS_URL": private_redis.url,
        "REDIS_KEY_PREFIX": "ks:",
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": internal,
        "ADMIN_PASSWORD": admin_password,
        "ADMIN_API_KEY": admin_key,
        "PROXY_API_KEY": client_key,
        "KIRO_EMULATOR_URL": emulator.url,
        "DEBUG_MODE": "all",
        "LOG_LEVEL": "DEBUG",
        "PICK_WAIT_SECONDS": "0.2",
        "RUNTIME_SETTINGS_TTL_SECONDS": "0",
    }
    gateway = ServiceProcess("services.gateway", env=env, name="gateway")
    router = ServiceProcess("services.router", env={**env, "GATEWAY_URLS": gateway.url}, name="router")
    metrics_port = free_port()
    refresher = ServiceProcess(
        "services.refresher",
        ["worker"],
        env={**env, "REFRESHER_METRICS_PORT": str(metrics_port)},
        port=metrics_port,
        name="refresher",
    )
    control = EmulatorControl(emulator.url)
    procs = [gateway, router, refresher]
    try:
        for proc in procs:
            proc.start()
        yield Stack(router, gateway, refresher, control, admin_password, client_key, admin_key, {})
    finally:
        for proc in reversed(procs):
            proc.stop()
        control.close()


def _admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_key}"}


def _add_accounts(stack: Stack, canaries: Canaries, proxy_url: str) -> None:
    """A social account, one behind a proxy with a password, and an IdC account — through the admin API."""
    social = stack.control.register_account(unique_name("canary"), rotate_refresh=True)
    proxied = stack.control.register_account(unique_name("canary-px"), rotate_refresh=True)
    idc = stack.control.register_account(unique_name("canary-idc"), auth_kind="idc", rotate_refresh=True)
    proxy_password = "canary-proxy-" + uuid.uuid4().hex
    canaries.add(proxy_password)
    bodies = {
        social["name"]: {"auth_kind": "social", "refresh_token": social["refresh_token"]},
        proxied["name"]: {
            "auth_kind": "social",
            "refresh_token": proxied["refresh_token"],
            "proxy_url": proxy_url.replace("://", f"://canary:{proxy_password}@"),
        },
        idc["name"]: {
            "auth_kind": "idc",
            "refresh_token": idc["refresh_token"],
            "client_id": idc["client_id"],
            "client_secret": idc["client_secret"],
        },
    }
    for name, body in bodies.items():
        answer = httpx.post(
            stack.router.url + "/admin/api/accounts", json={**body, "label": name}, headers=_admin(stack)
        )
        assert answer.status_code in (200, 201), answer.text
        stack.accounts[name] = answer.json()["id"]
    _collect_emulator_secrets(stack, canaries)
    _wait_active(stack)


def _collect_emulator_secrets(stack: Stack, canaries: Canaries) -> None:
    for name in stack.accounts:
        account = stack.control.account(name)
        canaries.add(account["refresh_token"], account.get("client_secret"), *account["access_tokens"])


def _wait_active(stack: Stack, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = httpx.get(stack.router.url + "/admin/api/accounts", headers=_admin(stack)).json()
        if sum(a["state"] == "active" for a in listed["accounts"]) == len(stack.accounts):
            return
        time.sleep(0.1)
    raise AssertionError(f"accounts not active: {listed}")


def _chat(prompt_text: str, *, stream: bool, **script: Any) -> dict[str, Any]:
    prompt = prompt_text + ("\n" + directive(**script) if script else "")
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    }


def _openai(prompt_text: str, *, stream: bool, **script: Any) -> dict[str, Any]:
    body = _chat(prompt_text, stream=stream, **script)
    del body["max_tokens"]
    return body


_SUCCEEDING = {
    "anthropic",
    "anthropic_stream",
    "openai",
    "openai_stream",
    "tool_call",
    "count_tokens",
    "models",
}


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None


def _calls(stack: Stack, *, damaging: bool) -> Iterator[tuple[str, Call]]:
    """An endless mix of every path a client can take; `damaging` adds answers that take accounts out."""
    key = {"x-api-key": stack.client_key, **ANTHROPIC}
    bearer = {"Authorization": f"Bearer {stack.client_key}"}
    near_miss = stack.client_key[:-1] + ("0" if stack.client_key[-1] != "0" else "1")
    kinds: list[tuple[str, Call]] = [
        ("anthropic", Call("POST", "/v1/messages", key, _chat("hello", stream=False))),
        ("anthropic_stream", Call("POST", "/v1/messages", key, _chat("hello", stream=True))),
        ("openai", Call("POST", "/v1/chat/completions", bearer, _openai("hello", stream=False))),
        ("openai_stream", Call("POST", "/v1/chat/completions", bearer, _openai("hello", stream=True))),
        (
            "tool_call",
            Call("POST", "/v1/messages", key, _chat("go", stream=True, tool_calls=[{"name": "Bash"}])),
        ),
        ("bad_json", Call("POST", "/v1/messages", key, content=b'{"model": "x", "messages": [')),
        ("not_object", Call("POST", "/v1/chat/completions", bearer, [1, 2, 3])),
        ("no_messages", Call("POST", "/v1/messages", key, {"model": "claude-sonnet-4.5", "max_tokens": 5})),
        ("unknown_model", Call("POST", "/v1/messages", key, {**_chat("x", stream=False), "model": "nope-1"})),
        ("wrong_key", Call("POST", "/v1/messages", {"x-api-key": near_miss}, _chat("x", stream=False))),
        ("wrong_bearer", Call("GET", "/v1/models", {"Authorization": f"Bearer {near_miss}"})),
        ("no_key", Call("POST", "/v1/chat/completions", {}, _openai("x", stream=False))),
        ("count_tokens", Call("POST", "/v1/messages/count_tokens", key, _chat("count me", stream=False))),
        ("models", Call("GET", "/v1/models", bearer)),
        ("model", Call("GET", "/v1/models/claude-sonnet-4.5", key)),
        (
            "midstream_error",
            Call(
                "POST",
                "/v1/messages",
                key,
                _chat(
                    "x",
                    stream=True,
                    text="partial",
                    exception={"after_frames": 1, "type": "InternalServerException"},
                ),
            ),
        ),
        (
            "stream_cut",
            Call(
                "POST",
                "/v1/chat/completions",
                bearer,
                _openai("x", stream=True, text=["a", "b", "c"], reset_after_frames=1),
            ),
        ),
        (
            "kiro_500",
            Call("POST", "/v1/messages", key, _chat("x", stream=False, error={"kind": "server_error"})),
        ),
        (
            "kiro_400",
            Call("POST", "/v1/messages", key, _chat("x", stream=True, error={"kind": "bad_request"})),
        ),
        (
            "too_long",
            Call(
                "POST", "/v1/chat/completions", bearer, _openai("x", stream=False, error={"kind": "too_long"})
            ),
        ),
        (
            "admin_wrong_password",
            Call("POST", "/admin/api/login", {}, {"password": stack.admin_password[:-1] + "x"}),
        ),
        ("admin_read", Call("GET", "/admin/api/accounts", _admin(stack))),
        ("admin_requests", Call("GET", "/admin/api/requests?limit=5", _admin(stack))),
        ("admin_no_auth", Call("GET", "/admin/api/keys", {"Authorization": f"Bearer {stack.client_key}"})),
    ]
    if damaging:
        kinds += [
            (
                "kiro_throttled",
                Call("POST", "/v1/messages", key, _chat("x", stream=False, error={"kind": "throttled"})),
            ),
            (
                "kiro_invalid_token",
                Call(
                    "POST",
                    "/v1/chat/completions",
                    bearer,
                    _openai("x", stream=False, error={"kind": "invalid_token"}),
                ),
            ),
            (
                "kiro_quota",
                Call("POST", "/v1/messages", key, _chat("x", stream=True, error={"kind": "quota"})),
            ),
            (
                "midstream_throttle",
                Call(
                    "POST",
                    "/v1/messages",
                    key,
                    _chat("x", stream=True, text="partial", exception={"after_frames": 1}),
                ),
            ),
        ]
    # mostly answers that succeed (as real traffic is), so accounts stay in rotation for the whole run
    weights = [8 if name in _SUCCEEDING else 1 for name, _ in kinds]
    rng = random.Random(7)
    while True:
        yield rng.choices(kinds, weights)[0]


async def _drive(stack: Stack, canaries: Canaries, seen: list[bytes], counts: dict[str, int]) -> None:
    """REQUESTS calls, CONCURRENCY at a time; every answer (status line, headers, body) kept in `seen`."""
    mild = _calls(stack, damaging=False)
    harsh = _calls(stack, damaging=True)
    sent = itertools.count()
    async with httpx.AsyncClient(base_url=stack.router.url, timeout=30) as client:

        async def worker() -> None:
            while (n := next(sent)) < REQUESTS:
                name, call = next(harsh if n >= REQUESTS * 0.8 else mild)
                if n % 1000 == 500:  # the stack notices an expired access token and refreshes it
                    for account in stack.accounts:
                        stack.control.expire_tokens(account)
                counts[name] = counts.get(name, 0) + 1
                answer = await client.request(
                    call.method, call.path, headers=call.headers, json=call.json, content=call.content
                )
                seen.append(f"{answer.status_code} {answer.headers!r}".encode() + answer.content)
                if n % 500 == 0:
                    _collect_emulator_secrets(stack, canaries)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    _collect_emulator_secrets(stack, canaries)


def _redis_dump(server: PrivateRedis) -> list[bytes]:
    """Every key and every value of every type, plus the AOF files on disk."""
    client = sync_redis.Redis(port=server.port)
    out: list[bytes] = []
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            out.append(key)
            if kind == "string":
                out.append(client.get(key) or b"")
            elif kind == "hash":
                out += [b for pair in client.hgetall(key).items() for b in pair]
            elif kind == "list":
                out += client.lrange(key, 0, -1)
            elif kind == "set":
                out += list(client.smembers(key))
            elif kind == "zset":
                out += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                for _, fields in client.xrange(key):
                    out += [b for pair in fields.items() for b in pair]
            else:
                out.append(client.dump(key) or b"")
    finally:
        client.close()
    out += [
        path.read_bytes() for path in Path(server.dir).rglob("*") if path.is_file() and path.suffix != ".log"
    ]
    return out


def _find(forms: dict[bytes, str], haystacks: dict[str, list[bytes]]) -> list[str]:
    leaks = []
    for where, blobs in haystacks.items():
        for blob in blobs:
            for form, secret in forms.items():
                if form in blob:
                    at = blob.index(form)
                    leaks.append(f"{where}: {secret[:12]}... near {blob[max(0, at - 80) : at + 20]!r}")
    return leaks


def test_canary_secrets_appear_in_no_log_metric_answer_or_redis_value(
    debug_stack: Stack, canaries: Canaries, private_redis: PrivateRedis, emulator: ServiceProcess
) -> None:
    stack = debug_stack
    seen: list[bytes] = []
    counts: dict[str, int] = {}
    with TestProxy("http", emulator.url) as proxy:
        _add_accounts(stack, canaries, proxy.url)
        login = httpx.post(stack.router.url + "/admin/api/login", json={"password": stack.admin_password})
        assert login.status_code == 200
        seen.append(login.content + repr(login.headers).encode())
        started = time.monotonic()
        asyncio.run(_drive(stack, canaries, seen, counts))
        seconds = time.monotonic() - started
        assert proxy.connections > 0  # the proxied account really served through its proxy

    metrics = [
        httpx.get(url + "/metrics").content
        for url in (stack.router.url, stack.gateway.url, stack.refresher.url)
    ]
    logs = [Path(p.log_file.name).read_bytes() for p in (stack.router, stack.gateway, stack.refresher)]
    haystacks = {"answers": seen, "logs": logs, "metrics": metrics, "redis": _redis_dump(private_redis)}
    forms = canaries.forms()
    leaks = _find(forms, haystacks)

    served = sum(1 for s in seen if s.startswith(b"200"))
    figure("secret_canaries", "requests", sum(counts.values()), ">= 10,000")
    figure("secret_canaries", "paths exercised", len(counts))
    figure("secret_canaries", "answered 200 / other", f"{served} / {len(seen) - served}")
    figure("secret_canaries", "secret values watched", len(canaries.values))
    figure(
        "secret_canaries",
        "MiB searched",
        round(sum(len(b) for v in haystacks.values() for b in v) / 2**20, 1),
    )
    figure("secret_canaries", "seconds for the requests", round(seconds, 1))
    figure("secret_canaries", "appearances", len(leaks), "0")
    assert sum(counts.values()) >= REQUESTS
    # the success path was exercised too (how much varies: the last fifth throttles every account out)
    assert served > REQUESTS // 10
    assert len(canaries.values) >= 12
    assert not leaks, "\n".join(leaks[:20])
