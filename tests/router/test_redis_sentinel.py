"""The stack on Sentinel: routers, gateways and refresher reach Redis through `redis+sentinel://`, and a
killed primary under load is replaced without losing accounts, client keys or refresh tokens; the
refresher rotates a token on the promoted primary.

The group is a primary, one replica and three sentinels on loopback (primary down after 1 s). Accounts and
keys written before the kill are on the replica (`WAIT 1`), as with `min-replicas-to-write` in
production; what the routers wrote in the last instant before the kill (leases, counters) may not be.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import orjson
import pytest

from services.kiro_emulator.control import directive
from shared.jobs import enqueue_refresh
from shared.redis import Redis, create_queue_redis, create_redis
from shared.settings import CommonSettings
from tests.chaos.redis_load import ANTHROPIC, Answer, message, send
from tests.router.stack import Seeder, Stack, start_stack
from tests.support.polling import wait_for
from tests.support.procs import ServiceProcess, StartWorker, refresher_workers
from tests.support.redis_topologies import SentinelGroup

pytestmark = pytest.mark.e2e

STREAMS = 6
STREAM_TEXT = "".join(f"<{i:02d}>" for i in range(40))
#: four seconds of stream: each one is still running when the primary dies, most end before promotion
STREAM_CHUNKS, STREAM_DELAY_MS = 40, 100
RECOVERY_GOAL_SECONDS = 10.0


@pytest.fixture
def sentinel_group() -> Iterator[SentinelGroup]:
    with SentinelGroup() as group:
        yield group


@pytest.fixture
def sentinel_stack(
    sentinel_group: SentinelGroup, secret_key: str, emulator: ServiceProcess
) -> Iterator[Stack]:
    """emulator → two gateways → two routers, every one on `redis+sentinel://`."""
    yield from start_stack(sentinel_group.url, secret_key, emulator, gateways=2)


@pytest.fixture
async def sentinel_client(sentinel_group: SentinelGroup, sentinel_stack: Stack) -> AsyncIterator[Redis]:
    """The test's own client: through the sentinels, so it follows the primary across the failover."""
    client = create_redis(_settings(sentinel_stack))
    yield client
    await client.aclose()


@pytest.fixture
def refresher(sentinel_stack: Stack, emulator: ServiceProcess) -> Iterator[StartWorker]:
    env = {
        **sentinel_stack.env,
        "KIRO_EMULATOR_URL": emulator.url,
        "WORKER_POLL_DELAY_SECONDS": "0.05",
        "FORCE_REFRESH_GRACE_SECONDS": "0",
    }
    with refresher_workers(env) as start:
        yield start


def _settings(stack: Stack) -> CommonSettings:
    return CommonSettings(
        redis_url=stack.env["REDIS_URL"],
        redis_key_prefix=stack.prefix,
        _env_file=None,  # type: ignore[call-arg]
    )


@dataclass
class Stream:
    status: int = 0
    first_byte_at: float = 0.0
    text: str = ""
    stopped: bool = False


async def _stream(session: aiohttp.ClientSession, url: str, key: str, opened: asyncio.Queue[None]) -> Stream:
    body = message(directive(text=STREAM_TEXT, chunks=STREAM_CHUNKS, delay_ms=STREAM_DELAY_MS), stream=True)
    stream, raw = Stream(), b""
    async with session.post(
        url + "/v1/messages", json=body, headers={"x-api-key": key, **ANTHROPIC}
    ) as answer:
        stream.status = answer.status
        async for chunk in answer.content.iter_any():
            if not stream.first_byte_at:
                stream.first_byte_at = time.monotonic()
                opened.put_nowait(None)
            raw += chunk
    for line in raw.split(b"\n"):
        if line.startswith(b"data: "):
            event = orjson.loads(line[6:])
            if event.get("type") == "content_block_delta":
                stream.text += event["delta"].get("text", "")
            stream.stopped = stream.stopped or event.get("type") == "message_stop"
    return stream


async def _load(
    session: aiohttp.ClientSession, urls: list[str], key: str, answers: list[Answer], stop: asyncio.Event
) -> None:
    """Steady load: one request after another, alternating the routers, into `answers` until `stop`."""
    turn = 0
    while not stop.is_set():
        answers.append(await send(session, urls[turn % len(urls)], key, message(f"steady {turn}")))
        turn += 1
        await asyncio.sleep(0.02)


async def _lasting(client: Redis, stack: Stack) -> dict[str, object]:
    """What must survive a failover: accounts with their refresh tokens, client keys."""
    keys = stack.keys
    accounts = sorted(await client.smembers(keys.accounts()))  # type: ignore[misc]
    client_keys = sorted(await client.smembers(keys.client_keys()))  # type: ignore[misc]
    found: dict[str, object] = {"accounts": accounts, "client_keys": client_keys}
    for account in accounts:
        found[account] = await client.hget(keys.account(account), "refresh_token_enc")  # type: ignore[misc]
    for key_hash in client_keys:  # the key itself, not its last-used time
        record = await client.hgetall(keys.client_key(key_hash))  # type: ignore[misc]
        found[key_hash] = {f: record.get(f) for f in ("id", "hash", "enabled", "name")}
    return found


async def _promoted(group: SentinelGroup, old_port: int) -> float:
    """When the sentinels name another primary (monotonic time)."""
    while True:
        if (await asyncio.to_thread(group.primary_port)) not in (old_port, None):
            return time.monotonic()
        await asyncio.sleep(0.05)


async def test_a_killed_primary_is_replaced_under_load_and_nothing_stored_is_lost(
    sentinel_group: SentinelGroup, sentinel_stack: Stack, sentinel_client: Redis, refresher: StartWorker
) -> None:
    seeder = Seeder(sentinel_stack, sentinel_client)
    accounts = [await seeder.account(max_concurrency=100) for _ in range(3)]
    key = await seeder.client_key()
    refresher()
    urls = [r.url for r in sentinel_stack.routers]
    assert sentinel_group.replicate() == 1  # accounts and keys are on the replica before the kill
    before = await _lasting(sentinel_client, sentinel_stack)
    old_port = sentinel_group.primary.port
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        warm = [await send(session, urls[i % 2], key, message("before")) for i in range(4)]
        assert all(a.status == 200 for a in warm), warm
        stop, answers = asyncio.Event(), []
        load = asyncio.create_task(_load(session, urls, key, answers, stop))
        opened: asyncio.Queue[None] = asyncio.Queue()
        streams = [asyncio.create_task(_stream(session, urls[i % 2], key, opened)) for i in range(STREAMS)]
        async with asyncio.timeout(30):
            for _ in range(STREAMS):
                await opened.get()

        sentinel_group.primary.kill()
        killed_at = time.monotonic()
        async with asyncio.timeout(30):
            promoted_at = await _promoted(sentinel_group, old_port)

        finished = await asyncio.gather(*streams)

        async def served_again() -> bool:  # five requests in a row served after the promotion
            after_promotion = [a.status for a in answers if a.started >= promoted_at]
            return after_promotion[-5:] == [200] * 5

        await wait_for(served_again, within=30, what="requests served again after the promotion")
        stop.set()
        await load
        after = await _lasting(sentinel_client, sentinel_stack)
    served = [a for a in answers if a.started >= promoted_at and a.status == 200]
    assert served, {(a.status, a.error_type) for a in answers if a.started >= killed_at}
    recovery = served[0].started + served[0].seconds - promoted_at
    refused = [a for a in answers if a.status != 200]
    print(
        f"FIGURE sentinel failover: promotion {promoted_at - killed_at:.2f} s after the kill, "
        f"first request served {recovery:.2f} s after the promotion; {len(refused)} of {len(answers)} "
        f"requests refused, slowest refusal {max((a.seconds for a in refused), default=0):.2f} s"
    )
    assert all(a.clean_refusal for a in refused), {(a.status, a.error_type, a.failure) for a in refused}
    assert recovery <= RECOVERY_GOAL_SECONDS
    assert all(s.status == 200 and s.stopped and s.text == STREAM_TEXT for s in finished), finished
    assert all(s.first_byte_at < killed_at for s in finished)
    assert after == before
    assert set(accounts) <= set(after["accounts"])  # type: ignore[arg-type]

    queue = create_queue_redis(_settings(sentinel_stack))
    try:
        assert await enqueue_refresh(queue, sentinel_stack.keys, accounts[0], force=True, reason="test")
    finally:
        await queue.aclose()

    async def refreshed() -> bool:
        version = await sentinel_client.hget(sentinel_stack.keys.account(accounts[0]), "token_version")  # type: ignore[misc]
        return version == "2"

    await wait_for(refreshed, within=30, what="the refresher to rotate a token on the new primary")
