"""Structured output through the router: an answer that never fits is a 422, never the account's fault."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from shared.accounts.model import AccountState
from tests.router.stack import Seeder, Stack
from tests.support.accounts import column_of

pytestmark = pytest.mark.e2e

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def _body(*, stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": "Who wrote the first program?"}],
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
    }


async def _settled(seeder: Seeder, account: str) -> dict[str, str]:
    stats = seeder.keys.account_stats(account, time.strftime("%Y-%m-%d", time.gmtime()))
    for _ in range(200):  # the settle runs after the last byte
        found: dict[str, str] = await seeder.redis.hgetall(stats)
        if found.get("requests") == "1":
            return found
        await asyncio.sleep(0.05)
    return await seeder.redis.hgetall(stats)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_that_never_fits_reaches_the_client_without_blaming_the_account(
    stack: Stack, seeder: Seeder, stream: bool
) -> None:
    first = await seeder.account(weight=1_000_000)
    spare = await seeder.account(weight=1)
    stack.control.queue_scripts(first, [{"text": '{"name": "Ada"}', "repeat": 0}])
    key = await seeder.client_key()

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            stack.routers[0].url + "/v1/messages",
            json=_body(stream=stream),
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        )

    if stream:
        assert response.status_code == 200
        assert "event: error" in response.text and "'age' is a required property" in response.text
        assert seeder.chat_calls(first) == 1
    else:
        assert response.status_code == 422, response.text
        assert response.headers["x-should-retry"] == "false"
        assert "'age' is a required property" in response.json()["error"]["message"]
        assert seeder.chat_calls(first) == 2  # the answer and the one retry
    assert seeder.chat_calls(spare) == 0  # no failover
    stats = await _settled(seeder, first)
    assert stats.get("requests") == "1" and stats.get("errors", "0") == "0"
    assert int(stats.get("output_tokens", "0")) > 0
    assert await column_of(seeder.redis, seeder.keys, first, "state") == AccountState.ACTIVE.value
