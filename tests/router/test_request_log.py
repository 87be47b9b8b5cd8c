"""The request log: written by real routers for real proxied requests, read back by the admin API."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from services.kiro_emulator.control import directive
from services.router.reqlog import Finished, RequestLog
from shared.accounts.pool import Lease, Pool, today
from shared.clientkey_record import ClientKey
from shared.clientkeys import ClientKeys
from shared.crypto import sha256_hex
from shared.keys import Keys
from tests.router.conftest import SeedAccount
from tests.router.stack import Seeder, Stack
from tests.support.procs import ServiceProcess

ANTHROPIC = {"anthropic-version": "2023-06-01"}
ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex


def _body(text: str, model: str = "claude-sonnet-4.5") -> dict[str, Any]:
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}


async def _post(url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC})


async def _requests(url: str, **params: str | int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(
            url + "/admin/api/requests", params=params, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


async def _until_logged(url: str, count: int) -> list[dict[str, Any]]:
    """The log is appended when the relay settles, just after the client has its answer."""
    deadline = time.monotonic() + 10
    while True:
        entries: list[dict[str, Any]] = (await _requests(url))["entries"]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.05)


def _router(stack: Stack, **env: str) -> ServiceProcess:
    return stack.start_router(stack.gateway.url, ADMIN_API_KEY=ADMIN_KEY, **env)


@pytest.mark.e2e
async def test_log_shows_the_model_asked_for_and_the_model_that_served_it(
    stack: Stack, seeder: Seeder
) -> None:
    router = _router(stack)
    await seeder.account()
    key = await seeder.client_key()

    retired = await _post(router.url, key, _body("hi", model="claude-3-5-haiku-20241022"))
    exact = await _post(router.url, key, _body("hi", model="claude-sonnet-4.5"))
    streamed = await _post(router.url, key, {**_body("hi", model="claude-opus-4-8-thinking"), "stream": True})

    assert retired.json()["model"] == "claude-haiku-4.5"  # the client sees the mapping too
    assert "x-kiro-served-model" not in retired.headers  # the gateway's header stays at the router
    assert '"model":"claude-opus-4.7-thinking"' in streamed.text
    entries = await _until_logged(router.url, 3)
    assert [(e["model"], e["served_model"]) for e in reversed(entries)] == [
        ("claude-3-5-haiku-20241022", "claude-haiku-4.5"),
        ("claude-sonnet-4.5", "claude-sonnet-4.5"),
        ("claude-opus-4-8-thinking", "claude-opus-4.7-thinking"),
    ]
    assert exact.status_code == 200


@pytest.mark.e2e
async def test_log_shows_failover_trail_refusal_and_exhausted_failover_but_no_secret(
    stack: Stack, seeder: Seeder
) -> None:
    router = _router(stack)
    failing = await seeder.account(weight=1_000_000)  # picked first
    healthy = await seeder.account(weight=1)
    stack.control.add_fault(account=failing, endpoint="chat", kind="throttled", times=0)
    key = await seeder.client_key()
    _, haiku_only = await seeder.client_keys.create("haiku only", allowed_models=("claude-haiku-4.5",))
    prompt = "secret prompt " + uuid.uuid4().hex

    refused = await _post(router.url, haiku_only, _body(prompt))
    unknown = await _post(router.url, "sk-not-a-key-" + uuid.uuid4().hex, _body(prompt))
    served = await _post(router.url, key, _body(prompt))
    stack.control.add_fault(account=healthy, endpoint="chat", kind="server_error", times=0)
    exhausted = await _post(router.url, key, _body(prompt))

    assert (refused.status_code, unknown.status_code, served.status_code) == (403, 401, 200)
    assert exhausted.status_code >= 500
    entries = await _until_logged(router.url, 3)
    assert [e["outcome"] for e in entries] == ["failed_over", "served", "refused"]  # the 401 is not logged
    last, ok, no = entries
    assert ok["account"] == healthy
    assert ok["tried"] == [{"account": failing, "reason": "throttled"}]
    assert ok["key"] == "test" and ok["route"] == "messages" and ok["model"] == "claude-sonnet-4.5"
    assert ok["status"] == 200 and ok["input_tokens"] > 0 and ok["output_tokens"] > 0
    assert ok["request_id"].startswith("req_")
    assert 0 <= ok["ttfb_ms"] <= ok["duration_ms"]
    assert last["tried"] == [{"account": healthy, "reason": "upstream_error"}]
    assert last["status"] == exhausted.status_code and last["account"] == ""
    assert (no["key"], no["status"], no["reason"]) == ("haiku only", 403, "model_not_allowed")
    assert no["account"] == ""

    raw = await seeder.redis.xrange(stack.keys.request_log())
    text = repr(raw)
    for secret in (prompt, key, haiku_only, sha256_hex(key), sha256_hex(haiku_only), ADMIN_KEY):
        assert secret not in text
    assert served.json()["content"][0]["text"] not in text


@pytest.mark.e2e
async def test_api_filters_and_pages_newest_first(stack: Stack, seeder: Seeder) -> None:
    router = _router(stack)
    first = await seeder.account(weight=1_000_000)
    second = await seeder.account(weight=1)
    stack.control.add_fault(account=first, endpoint="chat", kind="quota", times=0)
    key = await seeder.client_key()
    _, slow = await seeder.client_keys.create("one per minute", rpm=1)
    assert (await _post(router.url, key, _body("one"))).status_code == 200
    assert (await _post(router.url, slow, _body("two"))).status_code == 200
    assert (await _post(router.url, slow, _body("three"))).status_code == 429
    entries = await _until_logged(router.url, 3)
    assert [e["outcome"] for e in entries] == ["refused", "served", "served"]

    errors = (await _requests(router.url, status="error"))["entries"]
    assert [(e["key"], e["reason"]) for e in errors] == [("one per minute", "rate_limit_exceeded")]
    served = (await _requests(router.url, status="ok"))["entries"]
    assert [e["key"] for e in served] == ["one per minute", "test"]
    by_failed_account = (await _requests(router.url, account=first))["entries"]
    assert [e["key"] for e in by_failed_account] == ["test"]  # only that one failed over from it
    assert len((await _requests(router.url, account=second))["entries"]) == 2
    assert [e["key"] for e in (await _requests(router.url, key="test"))["entries"]] == ["test"]

    page = await _requests(router.url, limit=2)
    assert [e["id"] for e in page["entries"]] == [e["id"] for e in entries[:2]]
    rest = await _requests(router.url, limit=2, before=page["next_before"])
    assert [e["id"] for e in rest["entries"]] == [entries[2]["id"]]
    assert rest["next_before"] is None


async def _stream(url: str, key: str, text: str, *, kill: ServiceProcess | None = None) -> int:
    """Read a streamed answer's first chunks; then hang up, or kill the gateway `kill` and read to the end."""
    body = {**_body(text), "stream": True}
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC}) as r,
    ):
        seen = 0
        async for _ in r.aiter_raw():
            seen += 1
            if seen == 3 and kill is None:
                break
            if seen == 3 and kill is not None:
                kill.signal(signal.SIGKILL)
        return r.status_code


@pytest.mark.e2e
async def test_streams_cut_by_the_gateway_or_left_by_the_client_and_503s_are_logged(
    stack: Stack, seeder: Seeder
) -> None:
    key = await seeder.client_key()
    gateway = stack.start_gateway()
    router = stack.start_router(gateway.url, ADMIN_API_KEY=ADMIN_KEY)
    assert (await _post(router.url, key, _body("nobody home"))).status_code == 500
    account = await seeder.account()
    slow = directive(text="w" * 2000, chunks=100, delay_ms=50)

    assert await _stream(router.url, key, slow) == 200  # the client hangs up
    assert await _stream(router.url, key, slow, kill=gateway) == 200

    entries = await _until_logged(router.url, 3)
    assert [(e["outcome"], e["status"], e["reason"]) for e in entries] == [
        ("cut", 200, ""),
        ("disconnected", 200, ""),
        ("error", 500, "none_configured"),
    ]
    for streamed in entries[:2]:
        assert streamed["account"] == account
        assert streamed["ttfb_ms"] is not None and streamed["ttfb_ms"] < streamed["duration_ms"]
    assert entries[2]["ttfb_ms"] is None and entries[2]["account"] == ""


@pytest.mark.e2e
async def test_request_log_size_zero_writes_nothing(stack: Stack, seeder: Seeder) -> None:
    router = _router(stack, REQUEST_LOG_SIZE="0")
    account = await seeder.account()
    key = await seeder.client_key()
    _, disabled = await seeder.client_keys.create("off")
    record = await seeder.client_keys.authenticate(disabled)
    assert record is not None
    await seeder.client_keys.update(record.id, enabled=False)

    assert (await _post(router.url, key, _body("not logged"))).status_code == 200
    assert (await _post(router.url, disabled, _body("not logged"))).status_code == 403
    stats = seeder.keys.account_stats(account, time.strftime("%Y-%m-%d", time.gmtime()))
    for _ in range(200):  # wait for the settle, which would have logged it
        if await seeder.redis.hget(stats, "requests") == "1":
            break
        await asyncio.sleep(0.05)

    assert await seeder.redis.hget(stats, "requests") == "1"
    assert await seeder.redis.exists(stack.keys.request_log()) == 0
    assert await _requests(router.url) == {"entries": [], "next_before": None, "size": 0}


@pytest.mark.e2e
async def test_admin_api_requires_the_admin_and_checks_its_parameters(stack: Stack, seeder: Seeder) -> None:
    router = _router(stack)
    async with httpx.AsyncClient(base_url=router.url + "/admin/api", timeout=10) as client:
        assert (await client.get("/requests")).status_code == 401
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for params in ({"before": "not-an-id"}, {"status": "bad"}, {"limit": 0}, {"limit": 501}):
            assert (await client.get("/requests", params=params, headers=auth)).status_code == 422, params
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        openapi = (await client.get(router.url + "/openapi.json")).json()
    operation = openapi["paths"]["/admin/api/requests"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"limit", "before", "status", "account", "key"}


def _done(n: int, key: ClientKey) -> Finished:
    return Finished(
        route="messages", model="m", key=key, request_id=f"req_{n}", status=200, outcome="served", account="a"
    )


async def test_log_is_capped_near_its_size_and_reads_newest_first(redis: aioredis.Redis, keys: Keys) -> None:
    log = RequestLog(redis, keys, 10)
    key = ClientKey(id="k1", name="laptop", key_hash="h")
    for n in range(600):
        await log.append(_done(n, key))

    # MAXLEN ~ trims whole stream nodes (100 entries each by default): cheap, and near the size
    assert 10 <= await redis.xlen(keys.request_log()) <= 10 + 100
    page = await log.read(3)
    assert [e["request_id"] for e in page.entries] == ["req_599", "req_598", "req_597"]
    older = await log.read(3, page.next_before)
    assert [e["request_id"] for e in older.entries] == ["req_596", "req_595", "req_594"]


async def test_paging_bounds_any_client_may_send_are_answered_not_refused_by_redis(
    redis: aioredis.Redis, keys: Keys
) -> None:
    log = RequestLog(redis, keys, 10)
    await log.append(_done(1, ClientKey(id="k1", name="laptop", key_hash="h")))

    assert (await log.read(5, "0-0")).entries == []  # nothing is older than the first possible id
    past_the_end = await log.read(5, "99999999999999999999-0")  # beyond 64 bits: the whole log
    assert [e["request_id"] for e in past_the_end.entries] == ["req_1"]


async def test_log_off_appends_nothing(redis: aioredis.Redis, keys: Keys) -> None:
    log = RequestLog(redis, keys, 0)
    await log.append(_done(1, ClientKey(id="k1", name="laptop", key_hash="h")))
    assert await redis.exists(keys.request_log()) == 0
    assert (await log.read(10)).entries == []


async def test_settle_appends_the_entry_with_or_without_key_usage(
    pool: Pool, redis: aioredis.Redis, keys: Keys, seed_account: SeedAccount
) -> None:
    await seed_account("logged")
    store = ClientKeys(redis, keys)
    record, _ = await store.create("laptop")
    log = RequestLog(redis, keys, 100)
    with_usage, without = await pool.pick(), await pool.pick()
    assert isinstance(with_usage, Lease) and isinstance(without, Lease)

    done = _done(1, record)
    await pool.release(
        with_usage, "ok", input_tokens=7, key_usage=store.usage_call(record, 7, 0), log_entry=log.call(done)
    )
    await pool.release(without, "ok", log_entry=log.call(_done(2, record)))

    page = await log.read(10)
    assert [(e["request_id"], e["key"], e["key_id"]) for e in page.entries] == [
        ("req_2", "laptop", record.id),
        ("req_1", "laptop", record.id),
    ]
    assert (await store.usage(record))["input_tokens"] == 7
    assert (await redis.hgetall(keys.account_stats("logged", today())))["requests"] == "2"
    assert await pool.in_flight("logged") == 0
