"""Commands leave the stack's Redis client packed by hiredis, and the server reads every value as before."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, SSLConnection

from shared.redis import BoundedRedis, create_redis, hiredis_packing
from shared.settings import CommonSettings

ODD_VALUES: list[str | bytes | int | float] = [
    "plain", "ünïcödé ☃", "two words", "", b"\x00\xff\r\n", 0, -5, 2**70, 0.1 + 0.2, 1e-7, 1e20, -0.0, 1.5e300
]  # fmt: skip


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[BoundedRedis]:
    redis = create_redis(CommonSettings(redis_url=redis_url))
    yield redis
    await redis.aclose()


def test_every_argument_packs_to_the_bytes_redis_py_itself_sends() -> None:
    python_packed, hiredis_packed = Connection(), hiredis_packing(Connection)()
    floats = [random.uniform(-1, 1) * 10 ** random.randint(-30, 30) for _ in range(2_000)]
    for value in [*ODD_VALUES, memoryview(b"view"), *floats]:
        args = ("EVALSHA", "f" * 40, 1, "key", value)
        assert b"".join(hiredis_packed.pack_command(*args)) == b"".join(python_packed.pack_command(*args))
    assert b"".join(hiredis_packed.pack_command("CLIENT SETNAME", "x")).startswith(b"*3\r\n$6\r\nCLIENT")


async def test_a_script_reads_the_values_as_redis_pys_own_packing_delivers_them(
    client: BoundedRedis, redis: aioredis.Redis
) -> None:
    pool = client.connection_pool
    assert pool.connection_class.pack_command is hiredis_packing(Connection).pack_command
    texts = [value for value in ODD_VALUES if not isinstance(value, bytes)]
    script = "return ARGV"
    assert await client.eval(script, 0, *texts) == await redis.eval(script, 0, *texts)  # type: ignore[misc]


def test_tls_connections_keep_their_class() -> None:
    packing = hiredis_packing(SSLConnection)
    assert issubclass(packing, SSLConnection)
    assert hiredis_packing(SSLConnection) is packing
