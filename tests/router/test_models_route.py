"""`/v1/models` through the router: each account's own list in the client's shape; `/v1/models/{id}`
takes a model id only (no way to reach another gateway path)."""

from __future__ import annotations

import asyncio

import anthropic
import httpx
import openai
import orjson
import pytest

from services.refresher.context import Refresher
from services.refresher.settings import RefresherSettings
from services.refresher.usage import refresh_models_cache
from shared.accounts.model import AccountState
from tests.router.stack import Seeder, Stack
from tests.support.capture import capture_gateway

pytestmark = pytest.mark.e2e

#: request targets after `/v1/models/`, as sent on the wire (encoded, double-encoded, raw, mixed case)
TRAVERSALS = [
    "..%2F..%2Fmetrics",
    "..%2f..%2fmetrics",
    "%2E%2E%2F%2E%2E%2Fmetrics",
    "%2e%2e/%2e%2e/metrics",
    "..%252F..%252Fmetrics",
    "../../metrics",
    "../../v1/messages",
    "x/../../../metrics",
    "..%5C..%5Cmetrics",
    "..",
    "%2E%2E",
    "anthropic%2Fclaude-sonnet-4.5",
    "anthropic/claude-sonnet-4.5",
    "claude%00sonnet",
    "claude%0D%0Ax-injected:%201",
    "claude%20sonnet",
    "a" * 300,
    "",
]


async def _raw_get(url: str, target: str, key: str) -> tuple[int, bytes]:
    """GET exactly `target` (no client-side normalisation of `..` or percent-escapes); status and body."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nhost: router\r\nx-api-key: {key}\r\n"
            "anthropic-version: 2023-06-01\r\nconnection: close\r\n\r\n".encode()
        )
        answer = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_traversal_ids_never_reach_another_gateway_path(stack: Stack, seeder: Seeder) -> None:
    await seeder.account()
    key = await seeder.client_key()
    async with capture_gateway() as gateway:
        router = await asyncio.to_thread(stack.start_router, gateway.url)
        answers = [await _raw_get(router.url, "/v1/models/" + t, key) for t in TRAVERSALS]
        served = await _raw_get(router.url, "/v1/models/claude-sonnet-4-5[1m]", key)

    print(f"\n{len(TRAVERSALS)} traversal ids tried, {len(gateway.proxied()) - 1} reached the gateway")
    for target, (status, body) in zip(TRAVERSALS, answers, strict=True):
        assert status == 404, target
        assert orjson.loads(body)["error"]["type"] == "not_found_error", target  # the client's shape
    assert served[0] == 200
    assert [s.raw_path for s in gateway.proxied()] == ["/v1/models/claude-sonnet-4-5%5B1m%5D"]


async def test_model_route_through_a_real_gateway_answers_models_not_metrics(
    stack: Stack, seeder: Seeder
) -> None:
    await seeder.account()
    key = await seeder.client_key()
    url = stack.routers[0].url

    metrics = await _raw_get(url, "/v1/models/..%2F..%2Fmetrics", key)
    health = await _raw_get(url, "/v1/models/..%2F..%2Fhealth", key)
    async with httpx.AsyncClient(timeout=30) as client:
        model = await client.get(url + "/v1/models/claude-sonnet-4.5", headers={"x-api-key": key})

    assert metrics[0] == 404
    assert b"kiro_gateway" not in metrics[1]
    assert health[0] == 404
    assert model.status_code == 200
    assert model.json()["id"] == "claude-sonnet-4.5"


async def test_paths_of_the_client_api_no_route_serves_answer_in_the_clients_shape(
    stack: Stack, seeder: Seeder
) -> None:
    key = await seeder.client_key()
    url = stack.routers[0].url
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        openai = await client.post("/v1/completions", json={}, headers={"Authorization": f"Bearer {key}"})
        anthropic = await client.get(
            "/v1/messages", headers={"x-api-key": key, "anthropic-version": "2023-06-01"}
        )
        admin = await client.get("/admin/api/nothing-here")

    assert openai.status_code == 404 and openai.json()["error"]["type"] == "invalid_request_error"
    assert anthropic.status_code == 405 and anthropic.json()["type"] == "error"
    assert admin.status_code == 404 and "detail" in admin.json()  # the admin API keeps its own shape


async def test_anthropic_sdk_lists_models_in_the_anthropic_shape_through_the_router(
    stack: Stack, seeder: Seeder
) -> None:
    await seeder.account()
    client = anthropic.AsyncAnthropic(
        api_key=await seeder.client_key(), base_url=stack.routers[0].url, max_retries=0
    )
    page = await client.models.list()
    one = await client.models.retrieve(page.data[0].id)
    await client.close()

    assert page.data and all(m.type == "model" and m.display_name and m.created_at for m in page.data)
    assert page.has_more is False  # the SDK stops paging here rather than asking again
    assert (page.first_id, page.last_id) == (page.data[0].id, page.data[-1].id)
    assert one.type == "model" and one.id == page.data[0].id


@pytest.mark.parametrize(
    ("auth", "extra", "shape"),
    [
        ("x-api-key", {}, "anthropic"),  # curl and tools that send the key the Anthropic way, no version
        ("x-api-key", {"anthropic-version": "2023-06-01"}, "anthropic"),
        ("authorization", {"anthropic-version": "2023-06-01"}, "anthropic"),  # ANTHROPIC_AUTH_TOKEN
        ("authorization", {}, "openai"),
    ],
)
async def test_the_models_shape_follows_the_clients_headers_through_the_router(
    stack: Stack, seeder: Seeder, auth: str, extra: dict[str, str], shape: str
) -> None:
    await seeder.account()
    key = await seeder.client_key()
    credential = key if auth == "x-api-key" else f"Bearer {key}"
    async with httpx.AsyncClient(timeout=30) as client:
        listed = await client.get(stack.routers[1].url + "/v1/models", headers={auth: credential, **extra})
        one = await client.get(
            stack.routers[1].url + "/v1/models/claude-sonnet-4.5", headers={auth: credential, **extra}
        )

    assert listed.status_code == 200 and one.status_code == 200
    body, model = listed.json(), one.json()
    if shape == "anthropic":
        assert {"data", "has_more", "first_id", "last_id"} <= set(body) and "object" not in body
        assert {m["type"] for m in body["data"]} == {"model"}
        assert all(m["display_name"] and m["created_at"].endswith("Z") for m in body["data"])
        assert model["type"] == "model" and "created_at" in model
    else:
        assert body["object"] == "list" and "has_more" not in body
        assert {m["object"] for m in body["data"]} == {"model"}
        assert all(isinstance(m["created"], int) and m["owned_by"] for m in body["data"])
        assert model["object"] == "model"


async def test_both_sdks_list_the_accounts_models_with_thinking_variants_through_the_router(
    stack: Stack, seeder: Seeder
) -> None:
    name = await seeder.account()
    stack.control.update_account(name, models=["claude-sonnet-4.6", "deepseek-3.2", "claude-haiku-4.5"])
    key = await seeder.client_key()
    url = stack.routers[0].url
    expected = [
        "claude-sonnet-4.6",
        "claude-sonnet-4.6-thinking",
        "deepseek-3.2",
        "claude-haiku-4.5",
        "claude-haiku-4.5-thinking",
    ]
    async with (
        anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0) as claude,
        openai.AsyncOpenAI(api_key=key, base_url=url + "/v1", max_retries=0) as gpt,
    ):
        assert [m.id async for m in claude.models.list()] == expected
        assert [m.id async for m in gpt.models.list()] == expected


async def test_each_account_answers_through_the_router_with_the_list_the_refresher_cached(
    stack: Stack, seeder: Seeder
) -> None:
    newest = await seeder.account()
    older = await seeder.account(state=AccountState.DISABLED)  # out of the pool for now
    stack.control.update_account(newest, models=["claude-opus-4.7", "claude-sonnet-4.5"])
    stack.control.update_account(older, models=["claude-opus-4.5"])
    settings = RefresherSettings.load(
        redis_url=stack.env["REDIS_URL"],
        redis_key_prefix=stack.prefix,
        kiro_secret_key=stack.secret_key,
        kiro_emulator_url=stack.emulator.url,
    )
    refresher = Refresher.build(settings)
    try:
        for name in (newest, older):
            account = await refresher.store.get(name)
            assert account is not None and await refresh_models_cache(refresher, account)
    finally:
        await refresher.close()
    key = await seeder.client_key()
    url = stack.routers[0].url

    async def ask() -> tuple[list[str], str]:
        """The models listed, and the model that answered Claude Code's `claude-opus-4-8`."""
        async with openai.AsyncOpenAI(api_key=key, base_url=url + "/v1", max_retries=0) as client:
            listed = [m.id async for m in client.models.list()]
            answer = await client.chat.completions.create(
                model="claude-opus-4-8", messages=[{"role": "user", "content": "hi"}]
            )
            return listed, answer.model

    listed, answer = await ask()
    assert listed == [
        "claude-opus-4.7",
        "claude-opus-4.7-thinking",
        "claude-sonnet-4.5",
        "claude-sonnet-4.5-thinking",
    ]
    assert answer == "claude-opus-4.7"

    await seeder.states.set(newest, AccountState.DISABLED, "test", 0, notify=False)
    await seeder.states.set(older, AccountState.ACTIVE, "test", 0, notify=False)
    listed, answer = await ask()
    assert listed == ["claude-opus-4.5", "claude-opus-4.5-thinking"]
    assert answer == "claude-opus-4.5"
    for name in (newest, older):  # the refresher asked Kiro once per account; the gateway did not
        assert stack.control.counts(name).get("models") == 1
