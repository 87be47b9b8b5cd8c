"""Loads the Lua scripts of `scripts/` once per Redis client (EVALSHA with automatic reload)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_DIR = Path(__file__).with_name("scripts")


@cache
def source(name: str) -> str:
    return (_DIR / f"{name}.lua").read_text()


def register(client: Redis, name: str) -> AsyncScript:
    """An `AsyncScript` for `scripts/<name>.lua` bound to `client`."""
    return client.register_script(source(name))
