"""Fault suite 3: total Kiro outage (every chat answer 500/503) — retries do not multiply the load.

Router failover and gateway retries each run within a retry budget, and accounts are only ejected after
transient errors in a row: Kiro sees at most 1.2 calls per client request, clients get a retryable 529 with
Retry-After, and no account is disabled for Kiro's outage.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from tests.chaos.conftest import figure
from tests.router.stack import Seeder, Stack
from tests.support.accounts import column_of

ACCOUNTS = 5
REQUESTS = 120


async def _ask(client: httpx.AsyncClient, url: str, key: str, i: int) -> httpx.Response:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": f"during the outage {i}"}],
    }
    return await client.post(
        url + "/v1/messages", json=body, headers={"x-api-key": key, "anthropic-version": "2023-06-01"}
    )


async def test_a_total_upstream_outage_gets_at_most_1_2_kiro_calls_per_request(
    chaos_stack: Stack, chaos_seeder: Seeder
) -> None:
    accounts = [await chaos_seeder.account(max_concurrency=REQUESTS) for _ in range(ACCOUNTS)]
    for i, name in enumerate(accounts):
        kind = "server_error" if i % 2 else "unavailable"
        chaos_stack.control.add_fault(account=name, endpoint="chat", kind=kind, times=0)
    key = await chaos_seeder.client_key()
    urls = [router.url for router in chaos_stack.routers]

    limits = httpx.Limits(max_connections=REQUESTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        answers = await asyncio.gather(*(_ask(client, urls[i % 2], key, i) for i in range(REQUESTS)))

    calls = sum(chaos_seeder.chat_calls(name) for name in accounts)
    ratio = calls / REQUESTS
    statuses = Counter(a.status_code for a in answers)
    states = Counter([await column_of(chaos_seeder.redis, chaos_seeder.keys, n, "state") for n in accounts])
    test = "upstream_outage"
    figure(test, "client requests", REQUESTS)
    figure(test, "Kiro chat calls", calls)
    figure(test, "Kiro calls per client request", round(ratio, 3), "<= 1.2")
    figure(test, "client statuses", {str(s): n for s, n in statuses.items()})
    figure(test, "account states after", dict(states), "none disabled")
    assert ratio <= 1.2
    assert set(statuses) == {529}  # Anthropic callers: overloaded_error, which the SDK retries
    assert all(
        a.json()["error"]["type"] == "overloaded_error" and int(a.headers["retry-after"]) >= 1
        for a in answers
    )
    assert all(a.headers["x-should-retry"] == "true" for a in answers)
    assert "disabled" not in states
    in_pool = [await chaos_seeder.redis.zscore(chaos_seeder.keys.pool(), n) for n in accounts]
    assert None not in in_pool
