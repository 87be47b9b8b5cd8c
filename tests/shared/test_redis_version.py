"""Every service refuses to start on Redis older than 7 (Lua's math.random repeats its seed there).

Redis 6 cannot be installed here, so an old server is played by a small RESP speaker on loopback that
answers INFO with an old `redis_version` (and PING, DBSIZE, OK to the rest): what a client sees of one.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.errors import ConfigError
from shared.redis import check_redis_version, create_redis, redis_version_once_up
from shared.redis_breaker import BreakerState
from shared.settings import CommonSettings
from tests.support.polling import wait_for
from tests.support.procs import ROOT, free_port
from tests.support.redis_server import PrivateRedis

pytestmark = pytest.mark.e2e

OLD_VERSION = "6.2.14"
INFO = f"# Server\r\nredis_version:{OLD_VERSION}\r\nredis_mode:standalone\r\n# Memory\r\nused_memory:0\r\n"


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    header = await reader.readline()
    if not header.startswith(b"*"):
        raise ConnectionResetError
    parts = []
    for _ in range(int(header[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            command = (await _read_command(reader))[0].upper()
            if command == b"INFO":
                body = INFO.encode()
                writer.write(b"$%d\r\n%s\r\n" % (len(body), body))
            elif command == b"PING":
                writer.write(b"+PONG\r\n")
            elif command == b"DBSIZE":
                writer.write(b":0\r\n")
            else:
                writer.write(b"+OK\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def old_redis_url() -> AsyncIterator[str]:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://:pw@127.0.0.1:{port}/0"
    server.close()
    await server.wait_closed()


async def _run_until_exit(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            output, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, output.decode(errors="replace")


async def test_the_version_check_refuses_redis_6_and_says_why(old_redis_url: str) -> None:
    client = create_redis(CommonSettings(redis_url=old_redis_url, _env_file=None))
    try:
        with pytest.raises(ConfigError) as caught:
            await check_redis_version(client)
    finally:
        await client.aclose()
    assert f"Redis {OLD_VERSION} is too old" in str(caught.value)
    assert "math.random" in str(caught.value)


async def test_router_gateway_refresher_and_accounts_cli_will_not_start_on_redis_6(
    old_redis_url: str, secret_key: str
) -> None:
    env = {
        "REDIS_URL": old_redis_url,
        "REDIS_KEY_PREFIX": f"kst:{uuid.uuid4().hex[:12]}:",
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": "test-internal-" + uuid.uuid4().hex,
        "ADMIN_PASSWORD": "test-admin-password",
        "RESPONSES_STORE": "redis",
        "KIRO_EMULATOR_URL": "http://127.0.0.1:9",
    }
    runs = {
        "router": ["services.router", "--host", "127.0.0.1", "--port", "0"],
        "gateway": ["services.gateway", "--host", "127.0.0.1", "--port", "0"],
        "refresher worker": ["services.refresher", "worker"],
        "accounts cli": ["services.refresher", "list"],
    }
    results = await asyncio.gather(*(_run_until_exit(args, env) for args in runs.values()))
    for name, (code, output) in zip(runs, results, strict=True):
        assert code != 0, f"{name} started on Redis {OLD_VERSION}:\n{output[-2000:]}"
        assert f"Redis {OLD_VERSION} is too old" in output, f"{name}:\n{output[-2000:]}"
        assert ":pw@" not in output


async def test_a_starting_service_waits_for_a_redis_that_comes_up_after_it() -> None:
    server = PrivateRedis(port=free_port())
    client = create_redis(CommonSettings(redis_url=server.url, _env_file=None), bounded=True)
    try:
        waiting = asyncio.create_task(redis_version_once_up(client, within=20))
        breaker = client.guard.breaker
        assert breaker is not None

        async def refused_a_few_times() -> bool:
            return breaker.state is not BreakerState.CLOSED

        await wait_for(refused_a_few_times, what="the first attempts to fail")
        await asyncio.to_thread(server.start)
        assert (await waiting).startswith("7.")
    finally:
        await client.aclose()
        server.stop()


async def test_a_starting_service_gives_up_when_redis_never_answers() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    client = create_redis(CommonSettings(redis_url=url, redis_socket_timeout=0.5, _env_file=None))
    try:
        with pytest.raises(RedisConnectionError):
            await redis_version_once_up(client, within=0.5)
    finally:
        await client.aclose()
