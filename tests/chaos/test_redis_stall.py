"""A Redis that stops answering (`CLIENT PAUSE`) as an OpenAI SDK user sees it through the router.

The first request waits at most the command deadline, then the breaker answers at once; every answer is
a 503 the SDK retries (Retry-After, x-should-retry, the OpenAI error shape); the breaker shows in the
metrics; and the router serves again by itself soon after Redis does.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import openai

from tests.chaos.conftest import figure
from tests.router.stack import Seeder, Stack
from tests.support.redis_server import PrivateRedis

TEST = "redis_stall_openai"
PAUSE = 3.0
MESSAGES = [{"role": "user", "content": "hello"}]


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


async def test_stalled_redis_gives_openai_clients_a_retryable_503_within_a_second_then_heals(
    chaos_stack: Stack, chaos_seeder: Seeder, private_redis: PrivateRedis
) -> None:
    await chaos_seeder.account()
    key = await chaos_seeder.client_key()
    router = chaos_stack.routers[0]
    client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key=key, max_retries=0, timeout=30)
    model = "claude-sonnet-4.5"
    await client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]

    private_redis.client_pause(PAUSE)
    paused_at = time.monotonic()
    answers: list[tuple[float, openai.APIStatusError | None]] = []
    for _ in range(8):
        start = time.monotonic()
        try:
            await client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
            answers.append((time.monotonic() - start, None))
        except openai.APIStatusError as exc:
            answers.append((time.monotonic() - start, exc))
    async with httpx.AsyncClient(timeout=10) as http:
        metrics = (await http.get(router.url + "/metrics")).text

    await asyncio.sleep(max(0.0, paused_at + PAUSE - time.monotonic()))
    resumed_at = time.monotonic()
    while True:
        try:
            await client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
            break
        except openai.APIStatusError as exc:
            assert exc.status_code == 503
            assert time.monotonic() - resumed_at < 10
            await asyncio.sleep(0.02)
    healed = time.monotonic() - resumed_at
    await client.close()

    seconds = [s for s, _ in answers]
    figure(TEST, "first_answer_seconds_in_stall", round(seconds[0], 3), "<= 1")
    figure(TEST, "max_answer_seconds_once_open", round(max(seconds[-4:]), 3))
    figure(TEST, "first_200_seconds_after_stall", round(healed, 3), "<= 2")
    assert max(seconds) <= 1.0, seconds
    # the breaker opens after 3 missed deadlines; in two of five clean-clone CI runs a 4th request still
    # waited its deadline (presumably another caller's Redis answer in between reset the count; not under the
    # test's control); from then on nobody waits on Redis
    fast = [i for i, s in enumerate(seconds) if s <= 0.1]
    assert fast and fast[0] <= 4 and max(seconds[fast[0] :]) <= 0.1, seconds
    for _, error in answers:
        assert error is not None and error.status_code == 503
        assert error.response.headers["retry-after"] and error.response.headers["x-should-retry"] == "true"
        assert isinstance(error.body, dict) and error.body.get("type") and error.body.get("message")
    assert _metric(metrics, "kiro_router_redis_breaker_state") in (1.0, 2.0)
    # every answer that did not wait was refused by the open breaker without touching Redis
    assert _metric(metrics, "kiro_router_redis_short_circuited_total") >= len(fast), seconds
    assert healed <= 2.0
