"""Client load for the Redis fault tests: concurrent Anthropic clients that record every answer's timing."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

ANTHROPIC = {"anthropic-version": "2023-06-01"}


def message(text: str = "hi", *, stream: bool = False) -> dict[str, object]:
    """A small Anthropic Messages request body."""
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


@dataclass
class Answer:
    """One request as the client saw it (`status` 0 = no answer: timeout or connection error)."""

    started: float  # time.monotonic() when sent
    seconds: float
    status: int
    retry_after: str | None = None
    error_type: str = ""  # Anthropic error body's error.type, "" when none
    failure: str = ""  # the client-side exception, when there was no answer

    @property
    def clean_refusal(self) -> bool:
        """A 529 the Anthropic SDK retries: Retry-After and the Anthropic error shape."""
        return self.status == 529 and self.retry_after is not None and self.error_type != ""


async def send(session: aiohttp.ClientSession, url: str, key: str, body: dict[str, object]) -> Answer:
    """POST one Messages request, read the whole answer and time it; failures become status 0."""
    started = time.monotonic()
    headers = {"x-api-key": key, **ANTHROPIC}
    try:
        async with session.post(url + "/v1/messages", json=body, headers=headers) as response:
            raw = await response.read()
            status, retry_after = response.status, response.headers.get("retry-after")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Answer(started, time.monotonic() - started, 0, failure=repr(exc))
    seconds = time.monotonic() - started
    error_type = ""
    if status >= 400:
        try:
            error_type = str(orjson.loads(raw)["error"]["type"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            error_type = ""
    return Answer(started, seconds, status, retry_after, error_type)


@dataclass
class Load:
    """`clients` concurrent clients sending Messages requests round-robin to `urls` until `stop()`.

    A client waits `backoff` seconds after an answer that is not 200 (SDKs back off longer: Retry-After),
    none after a 200.
    """

    urls: list[str]
    key: str
    clients: int
    timeout: float
    backoff: float = 0.25
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> Load:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=self.timeout)
        )
        self._tasks = [asyncio.create_task(self._run(i)) for i in range(self.clients)]
        return self

    async def _run(self, number: int) -> None:
        body = message(f"hello from client {number}")
        turn = number
        while not self._stop.is_set():
            answer = await send(self._session, self.urls[turn % len(self.urls)], self.key, body)
            self.answers.append(answer)
            turn += 1
            if answer.status != 200:
                await asyncio.sleep(self.backoff)  # not sync: the client's backoff

    async def stop(self) -> None:
        """Let every client finish the request it is sending, then close."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self._session.close()

    def sent_between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if start <= a.started < end]


def percentile(values: list[float], share: float) -> float:
    """The `share` (0..1) percentile by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
