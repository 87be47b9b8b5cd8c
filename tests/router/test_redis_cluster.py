"""The stack on a real Redis Cluster (three primaries on loopback): two routers and two gateways on
`redis+cluster://` with a plain key prefix (each account's keys in a slot of its own, the pool's in one
more), the refresher with its job queue on the plain Redis
(`QUEUE_REDIS_URL`: arq cannot use a Cluster), the Kiro emulator upstream.

An account added through the admin API gets its token from the refresher; the real SDKs stream and
answer; a failing account fails over to another; a client key's limits hold; the request log is read back;
the admin signs in and deletes an account.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
import redis as sync_redis

from services.kiro_emulator.control import unique_name
from shared.redis import create_redis
from shared.redis_topology import BoundedCluster
from shared.settings import CommonSettings
from tests.router.stack import Seeder, Stack, start_stack
from tests.support.accounts import column_of
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, StartWorker, refresher_workers
from tests.support.redis_topologies import ClusterGroup

pytestmark = pytest.mark.e2e

ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex
ADMIN_PASSWORD = "test-admin-password-" + uuid.uuid4().hex[:8]
MODEL = "claude-sonnet-4.5"


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterGroup]:
    with ClusterGroup() as group:
        yield group


@pytest.fixture(scope="module")
def cluster_stack(
    cluster: ClusterGroup, redis_url: str, secret_key: str, emulator: ServiceProcess
) -> Iterator[Stack]:
    """emulator → two gateways → two routers, on the Cluster; the job queue on the plain Redis."""
    yield from start_stack(
        cluster.url,
        secret_key,
        emulator,
        prefix=f"kst-{uuid.uuid4().hex[:12]}:",
        gateways=2,
        QUEUE_REDIS_URL=redis_url,
        ADMIN_API_KEY=ADMIN_KEY,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )


@pytest.fixture(scope="module")
def refresher(cluster_stack: Stack, emulator: ServiceProcess) -> Iterator[StartWorker]:
    env = {**cluster_stack.env, "KIRO_EMULATOR_URL": emulator.url, "WORKER_POLL_DELAY_SECONDS": "0.05"}
    with refresher_workers(env) as start:
        start()
        yield start


@pytest.fixture
async def seeder(cluster_stack: Stack) -> AsyncIterator[Seeder]:
    """Writes accounts and keys straight into the Cluster (the test's own client); wipes the stack first."""
    cluster_stack.wipe()
    settings = CommonSettings(
        redis_url=cluster_stack.env["REDIS_URL"],
        redis_key_prefix=cluster_stack.prefix,
        queue_redis_url=cluster_stack.env["QUEUE_REDIS_URL"],
        _env_file=None,  # type: ignore[call-arg]
    )
    client = create_redis(settings, allow_cluster=True)
    assert isinstance(client, BoundedCluster)
    yield Seeder(cluster_stack, client)  # type: ignore[arg-type]  # the same commands
    await client.aclose()


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _states(http: httpx.AsyncClient) -> dict[str, str]:
    listing = (await http.get("/admin/api/accounts", headers=_admin())).json()
    return {a["label"]: a["state"] for a in listing["accounts"]}


async def test_an_account_added_through_the_admin_api_serves_the_sdks(
    cluster_stack: Stack, seeder: Seeder, refresher: StartWorker
) -> None:
    name = unique_name("cl")
    emulated = cluster_stack.control.register_account(name)
    routers = [r.url for r in cluster_stack.routers]
    async with httpx.AsyncClient(base_url=routers[0], timeout=30) as http:
        added = await http.post(
            "/admin/api/accounts",
            json={"auth_kind": "social", "refresh_token": emulated["refresh_token"], "label": name},
            headers=_admin(),
        )
        assert added.status_code in (200, 201), added.text

        async def active() -> bool:
            return (await _states(http)).get(name) == "active"

        await wait_for(active, within=30, what="the refresher to fetch the new account's first token")
    key = await seeder.client_key()
    claude = anthropic.AsyncAnthropic(api_key=key, base_url=routers[0], max_retries=0)
    gpt = openai.AsyncOpenAI(api_key=key, base_url=routers[1] + "/v1", max_retries=0)
    try:
        async with claude.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "streamed on a cluster"}]
        ) as stream:
            streamed = "".join([t async for t in stream.text_stream])
        plain = await claude.messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "answered on a cluster"}]
        )
        chunks = await gpt.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "openai on a cluster"}], stream=True
        )
        parts = [c.choices[0].delta.content async for c in chunks if c.choices and c.choices[0].delta.content]
        answer = await gpt.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "openai once more"}]
        )
    finally:
        await claude.close()
        await gpt.close()

    assert streamed == "streamed on a cluster"
    assert plain.content[0].type == "text" and plain.content[0].text == "answered on a cluster"
    assert "".join(parts) == "openai on a cluster"
    assert answer.choices[0].message.content == "openai once more"
    assert seeder.chat_calls(name) == 4


async def test_a_failing_account_fails_over_to_another(cluster_stack: Stack, seeder: Seeder) -> None:
    failing = await seeder.account(weight=1_000_000)
    healthy = await seeder.account(weight=1)
    cluster_stack.control.add_fault(account=failing, endpoint="chat", kind="throttled", times=0)
    key = await seeder.client_key()

    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            cluster_stack.routers[1].url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": "fail over"}]},
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        )

    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "fail over"
    assert seeder.chat_calls(failing) >= 1 and seeder.chat_calls(healthy) == 1
    assert await column_of(seeder.redis, seeder.keys, failing, "state") == "cooldown"  # type: ignore[misc]


async def test_the_stacks_keys_spread_over_the_primaries(
    cluster: ClusterGroup, cluster_stack: Stack, seeder: Seeder
) -> None:
    # the pool's keys share one slot; each account's record, tokens and stats sit in a slot of their own
    for _ in range(8):
        await seeder.account()

    holding = 0
    for node in cluster.nodes:
        with sync_redis.Redis(port=node.port) as client:
            holding += any(True for _ in client.scan_iter(match=f"{cluster_stack.prefix}*", count=1000))

    assert holding >= 2  # all on one primary: 1 chance in 3**8


async def test_client_key_limits_and_the_request_log(cluster_stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    limited = await seeder.client_key(rpm=1)
    only_haiku = await seeder.client_key(allowed_models=("claude-haiku-4.5",))
    routers = [r.url for r in cluster_stack.routers]

    def body(text: str) -> dict[str, Any]:
        return {"model": MODEL, "messages": [{"role": "user", "content": text}]}

    async with httpx.AsyncClient(timeout=30) as http:
        first = await http.post(
            routers[0] + "/v1/chat/completions",
            json=body("first"),
            headers={"Authorization": f"Bearer {limited}"},
        )
        second = await http.post(  # the other router: the limit lives in the Cluster, shared
            routers[1] + "/v1/chat/completions",
            json=body("second"),
            headers={"Authorization": f"Bearer {limited}"},
        )
        other_model = await http.post(
            routers[0] + "/v1/chat/completions",
            json=body("x"),
            headers={"Authorization": f"Bearer {only_haiku}"},
        )

        async def logged() -> dict[str, Any] | None:
            entries = (await http.get(routers[1] + "/admin/api/requests", headers=_admin())).json()["entries"]
            return next((e for e in entries if e["status"] == 200), None)

        entry = await wait_for(logged, within=10, what="the request in the log")

    assert first.status_code == 200, first.text
    assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
    assert second.json()["error"]["type"] in ("rate_limit_exceeded", "rate_limit_error", "requests")
    assert other_model.status_code in (400, 403, 404), other_model.text
    assert entry["model"] == MODEL and entry["outcome"] == "served" and entry["key"] == "test"


async def test_the_admin_signs_in_and_deletes_an_account(cluster_stack: Stack, seeder: Seeder) -> None:
    doomed = await seeder.account()
    kept = await seeder.account()
    async with httpx.AsyncClient(base_url=cluster_stack.routers[0].url, timeout=30) as http:
        wrong = await http.post("/admin/api/login", json={"password": "not-the-password"})
        signed_in = await http.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
        session = await http.get("/admin/api/session")
        deleted = await http.delete(f"/admin/api/accounts/{doomed}", headers=_admin())
        listed = await _states(http)
    left = [k async for k in seeder.redis.scan_iter(match=seeder.keys.account_prefix(doomed) + "*")]

    assert wrong.status_code == 401
    assert signed_in.status_code == 200, signed_in.text
    assert session.status_code == 200
    assert deleted.status_code in (200, 204), deleted.text
    assert doomed not in listed and listed[kept] == "active"
    assert left == []
