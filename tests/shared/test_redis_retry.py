"""A reply lost in transit never applies a write twice: scripts and counters are not resent.

A small TCP proxy between the client and the shared Redis forwards one command, lets Redis run it, then
closes the client's connection instead of relaying the reply — what a network blip or a dying load
balancer does. Only this proxy's connections are cut; the shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.accounts.model import Account, AccountState
from shared.accounts.pool import Pool, PoolLimits, today
from shared.accounts.state import AccountStates
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys
from shared.redis import BoundedRedis, create_redis
from shared.settings import CommonSettings
from tests.support.accounts import put_account


class ReplyDroppingProxy:
    """Relays Redis traffic; once `drop_reply_of(marker)` is armed, the reply to the next command
    containing `marker` is swallowed and that client connection closed."""

    def __init__(self, upstream: str) -> None:
        parsed = urlparse(upstream)
        self.host, self.upstream_port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self.marker: bytes | None = None
        self.dropped = 0
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> ReplyDroppingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def drop_reply_of(self, marker: bytes) -> None:
        self.marker = marker

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        writers = [writer]
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
            writers.append(up_writer)
            await self._pump(reader, writer, up_reader, up_writer)
        except (ConnectionError, OSError):
            pass  # a reset on either side ends this proxied connection, as closing it does
        finally:
            self._conns.discard(task)
            for each in writers:
                each.close()
            await asyncio.gather(*(each.wait_closed() for each in writers), return_exceptions=True)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        cut = asyncio.Event()

        async def to_server() -> None:
            while data := await reader.read(65536):
                if self.marker is not None and self.marker in data.upper():
                    self.marker = None
                    cut.set()  # set before forwarding: the reply can only come after
                up_writer.write(data)
                await up_writer.drain()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                if cut.is_set():
                    self.dropped += 1
                    return
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def stop(self) -> None:
        self.server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        await self.server.wait_closed()


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[ReplyDroppingProxy]:
    started = await ReplyDroppingProxy(redis_url).start()
    yield started
    await started.stop()


@pytest.fixture(params=["unbounded", "bounded"])
async def proxied(request: pytest.FixtureRequest, proxy: ReplyDroppingProxy) -> AsyncIterator[BoundedRedis]:
    """The refresher's client and the router's (deadline + breaker) both, through the proxy."""
    settings = CommonSettings(redis_url=proxy.url, redis_command_timeout=2.0, _env_file=None)
    client = create_redis(settings, bounded=request.param == "bounded")
    yield client
    await client.aclose()


async def _seed_account(redis: aioredis.Redis, keys: Keys, box: SecretBox, account_id: str) -> None:
    account = Account(
        id=account_id,
        label=account_id,
        refresh_token_enc=box.encrypt("refresh"),
        access_token_enc=box.encrypt("access"),
        access_expires_at=time.time() + 3600,
        token_version=1,
    )
    await put_account(redis, keys, account)
    await AccountStates(redis, keys).set(account_id, AccountState.ACTIVE, "seeded", 0.0, notify=False)


async def test_a_settle_whose_reply_is_lost_counts_the_request_exactly_once(
    proxy: ReplyDroppingProxy, proxied: BoundedRedis, redis: aioredis.Redis, keys: Keys, box: SecretBox
) -> None:
    await _seed_account(redis, keys, box, "acct")
    pool = Pool(proxied, keys, PoolLimits(jitter_ratio=0.0))
    first = await pool.pick()
    assert not isinstance(first, tuple) and hasattr(first, "lease_id")
    await pool.release(first, "ok", input_tokens=7)  # the script is loaded now: the next call is one EVALSHA
    second = await pool.pick()
    assert hasattr(second, "lease_id")

    proxy.drop_reply_of(b"EVALSHA")
    with pytest.raises(RedisConnectionError):
        await pool.release(second, "ok", input_tokens=7)  # type: ignore[arg-type]

    stats = await redis.hgetall(keys.account_stats("acct", today()))  # type: ignore[misc]
    assert proxy.dropped == 1
    assert (stats["requests"], stats["input_tokens"]) == ("2", "14")


async def test_an_admission_whose_reply_is_lost_counts_one_request_against_the_key(
    proxy: ReplyDroppingProxy, proxied: BoundedRedis, redis: aioredis.Redis, keys: Keys
) -> None:
    _, plain = await ClientKeys(redis, keys).create("k", rpm=100)
    client_keys = ClientKeys(proxied, keys)
    assert (await client_keys.authorize(plain))[1].ok  # loads the script
    key = await client_keys.authenticate(plain)
    assert key is not None

    proxy.drop_reply_of(b"EVALSHA")
    with pytest.raises(RedisConnectionError):
        await client_keys.authorize(plain)

    usage = await client_keys.usage(key)
    assert proxy.dropped == 1
    assert usage["requests"] == 2
