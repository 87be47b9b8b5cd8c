"""Fixtures shared by the whole suite: real Redis with a private key prefix, process helpers, emulator."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from hypothesis import settings

from shared.crypto import SecretBox
from shared.keys import Keys
from tests.router.stack import Seeder, Stack, start_stack
from tests.support.listener import listener  # noqa: F401 - a fixture for every room
from tests.support.procs import ServiceProcess
from tests.support.tiers import assign, refuse_processes

# Property tests judge what the code does, not how fast one example runs: on a loaded 2-core CI machine
# the default 200 ms deadline per example fails tests whose code is right.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    assign(items)


@pytest.fixture(autouse=True)
def _unit_tier_starts_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("unit") is not None:
        refuse_processes(request.node, monkeypatch)


REDIS_URL = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = sync_redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except sync_redis.ConnectionError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"tests need a real Redis at {REDIS_URL} (make test starts one): {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"kst:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = sync_redis.Redis.from_url(redis_url)
    try:
        # arq's own keys are `arq:<kind>:<job id>`, and our job ids start with the prefix
        keys = [
            k
            for pattern in (prefix, f"arq:*:{prefix}")
            for k in client.scan_iter(match=f"{pattern}*", count=1000)
        ]
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def keys(key_prefix: str) -> Keys:
    return Keys(key_prefix)


@pytest.fixture
def box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key)


@pytest.fixture
def stack_env(redis_url: str, key_prefix: str, secret_key: str) -> dict[str, str]:
    """Environment for service processes started by a test: its own key prefix, fresh secrets."""
    return {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": "test-internal-" + uuid.uuid4().hex,
        "ADMIN_PASSWORD": "test-admin-password",
        "ADMIN_API_KEY": "test-admin-key-" + uuid.uuid4().hex,
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="session")
def emulator() -> Iterator[ServiceProcess]:
    """One Kiro emulator for the session; tests isolate themselves by account name."""
    proc = ServiceProcess("services.kiro_emulator", health_path="/_emulator/health", name="emulator")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def stack(redis_url: str, secret_key: str, emulator: ServiceProcess) -> Iterator[Stack]:
    """emulator → gateway → two routers, shared by every e2e test (each test wipes its keys first)."""
    yield from start_stack(redis_url, secret_key, emulator)


@pytest.fixture
async def seeder(stack: Stack, redis: aioredis.Redis) -> AsyncIterator[Seeder]:
    stack.wipe()
    seeder = Seeder(stack, redis)
    yield seeder
    stack.stop_extra()
