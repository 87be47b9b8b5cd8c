"""Waiting in tests for something another process does: poll, and fail with a clear message in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest


async def wait_for(check: Callable[[], Awaitable[Any]], within: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


def wait_until(check: Callable[[], Any], within: float = 10.0, what: str = "condition") -> Any:
    """`wait_for` for synchronous tests: poll `check` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        time.sleep(0.05)
