"""Fault suite 4: 1,000 scripted Kiro 429s across 5 accounts.

A throttled account is never asked again for the same client request (no same-account retry at the router,
no fallback to its other endpoint at the gateway), and each throttle cools the account for at least
max(Kiro's Retry-After, 60 s), as the pool's sorted-set score says. Rounds of concurrent small requests; the
accounts are put back in rotation between rounds, as if their cooldowns had passed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from tests.chaos.conftest import figure
from tests.router.stack import Seeder, Stack
from tests.support.accounts import columns_of

RETRY_AFTER = [None, None, 90, 150, 600]  # per account: Kiro's Retry-After on its 429s
THROTTLES_EACH = 200
PER_ROUND = 40  # below the emulator's 50 recorded requests per account: every call of a round is visible
MIN_COOLDOWN = 60.0


async def _ask(client: httpx.AsyncClient, url: str, key: str, text: str) -> int:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": text}],
    }
    response = await client.post(
        url + "/v1/messages", json=body, headers={"x-api-key": key, "anthropic-version": "2023-06-01"}
    )
    return response.status_code


def _throttles(stack: Stack, account: str) -> int:
    return sum(int(by.get("429", 0)) for by in stack.control.statuses(account).values())


def _chat_markers(stack: Stack, account: str, prefix: str) -> list[str]:
    """The client request (marker) of each chat call this account got in the round `prefix`."""
    found = []
    for call in stack.control.requests(account):
        if not str(call["endpoint"]).startswith("chat"):
            continue
        content = str(call["body"]["conversationState"]["currentMessage"]["userInputMessage"]["content"])
        if prefix in content:
            found.append(content[content.index(prefix) :].split()[1])
    return found


async def test_a_throttle_storm_never_retries_an_account_and_cools_each_for_its_hint(
    chaos_stack: Stack, chaos_seeder: Seeder
) -> None:
    stack, seeder = chaos_stack, chaos_seeder
    accounts = [await seeder.account(max_concurrency=PER_ROUND) for _ in RETRY_AFTER]
    hints = dict(zip(accounts, RETRY_AFTER, strict=True))
    for name, hint in hints.items():
        extra = {"headers": {"Retry-After": str(hint)}} if hint else {}
        stack.control.add_fault(
            account=name, endpoint="chat", kind="throttled", times=THROTTLES_EACH, **extra
        )
    key = await seeder.client_key()
    urls = [router.url for router in stack.routers]
    total = THROTTLES_EACH * len(accounts)

    seen = dict.fromkeys(accounts, 0)
    calls_before = dict.fromkeys(accounts, 0)
    repeats = requests = rounds = 0
    statuses: Counter[int] = Counter()
    shortest: dict[str, float] = {}
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=PER_ROUND)) as client:
        while sum(seen.values()) < total and rounds < 200:
            rounds += 1
            for name in accounts:  # their cooldowns have passed
                await seeder.states.activate(name)
            prefix = f"storm-round-{rounds}"
            texts = [f"{prefix} q{i} ." for i in range(PER_ROUND)]
            answers = await asyncio.gather(*(_ask(client, urls[i % 2], key, t) for i, t in enumerate(texts)))
            statuses.update(answers)
            requests += PER_ROUND
            for name in accounts:
                calls = seeder.chat_calls(name)
                markers = _chat_markers(stack, name, prefix)
                # every chat call of the round is one distinct client request
                repeats += (calls - calls_before[name]) - len(set(markers))
                calls_before[name] = calls
                throttled = _throttles(stack, name)
                if throttled > seen[name]:
                    shortest[name] = min(shortest.get(name, 1e9), await _cooldown(seeder, name))
                seen[name] = throttled

    test = "throttle_storm"
    figure(test, "Kiro 429s delivered", sum(seen.values()), f"{total}")
    figure(test, "client requests", requests)
    figure(test, "rounds", rounds)
    figure(test, "same-account retries within a client request", repeats, "0")
    for i, (name, hint) in enumerate(hints.items()):
        goal = f">= {max(hint or 0, 60)}"
        figure(test, f"shortest cooldown s, account {i} (Retry-After {hint})", round(shortest[name], 1), goal)
    figure(test, "client statuses", {str(s): n for s, n in statuses.items()})
    figure(test, "seconds", round(time.monotonic() - started, 1))
    assert sum(seen.values()) == total
    assert repeats == 0
    for name, hint in hints.items():
        assert shortest[name] >= max(hint or 0, MIN_COOLDOWN) - 0.01
    assert set(statuses) <= {200, 429, 529}


async def _cooldown(seeder: Seeder, account: str) -> float:
    """The cooldown the last throttle gave: pool score (when usable again) minus when it was set."""
    state, until, at = await columns_of(
        seeder.redis, seeder.keys, account, "state", "cooldown_until", "updated_at"
    )
    score = await seeder.redis.zscore(seeder.keys.pool(), account)
    assert state == "cooldown"
    assert score is not None and abs(score - float(until)) < 0.01
    return score - float(at)
