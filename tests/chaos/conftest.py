"""Fault-suite fixtures: a stack on a private Redis the test may kill, pause or restart; figures.

Every test here is marked `chaos` (run alone with `make chaos`) and reports its figures with `figure()`:
printed, and appended as JSON lines to `$CHAOS_FIGURES` (default `.stack/chaos-figures.jsonl`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from tests.router.stack import Seeder, Stack, start_stack
from tests.support.procs import ROOT, ServiceProcess
from tests.support.redis_server import PrivateRedis

FIGURES = Path(os.environ.get("CHAOS_FIGURES") or ROOT / ".stack" / "chaos-figures.jsonl")


def figure(test: str, name: str, value: object, goal: str = "") -> None:
    """Report one measured figure of the fault suite (stdout and the figures file)."""
    print(f"FIGURE {test}: {name} = {value}" + (f" (goal {goal})" if goal else ""))
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("ab") as out:
        out.write(orjson.dumps({"test": test, "name": name, "value": value, "goal": goal}) + b"\n")


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis of this test's own with AOF (appendfsync always): killable, pausable, restartable."""
    with PrivateRedis(aof=True) as server:
        yield server


@pytest.fixture
def chaos_stack(private_redis: PrivateRedis, secret_key: str, emulator: ServiceProcess) -> Iterator[Stack]:
    """emulator → gateway → two routers, all on `private_redis`."""
    yield from start_stack(private_redis.url, secret_key, emulator)


@pytest.fixture
async def chaos_seeder(chaos_stack: Stack, private_redis: PrivateRedis) -> AsyncIterator[Seeder]:
    client = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
    seeder = Seeder(chaos_stack, client)
    yield seeder
    chaos_stack.stop_extra()
    await client.aclose()
