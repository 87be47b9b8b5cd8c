"""Test tiers: `unit` (starts no process; may use the shared Redis), `e2e`, `browser`, `chaos`, `clients`.

A test that uses a fixture starting a process is e2e (browser for chromium); every other test is unit,
and a unit test that starts a process anyway fails with a message saying how to mark it. So
`make test-fast` (`-m unit`) can never quietly grow into the slow tier.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

#: fixtures that start a process (directly or through what they need)
PROCESS_FIXTURES = frozenset(
    {
        "emulator",
        "stack",
        "router",
        "gateway",
        "start_worker",
        "private_redis",
        "chaos_stack",
        "aider_bin",
        "codex_bin",
    }
)
SLOW_TIERS = ("e2e", "browser", "chaos", "clients")


def assign(items: list[pytest.Item]) -> None:
    """Mark each collected test with its tier (markers written in the test module win)."""
    for item in items:
        if "tests/chaos/" in item.path.as_posix():
            item.add_marker(pytest.mark.chaos)
        names = set(getattr(item, "fixturenames", ()))
        if "browser" in names and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)
        if names & PROCESS_FIXTURES and item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.e2e)
        if not any(item.get_closest_marker(tier) for tier in SLOW_TIERS):
            item.add_marker(pytest.mark.unit)


def refuse_processes(item: pytest.Item, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a unit test, starting a process is an error that names the fix."""

    def refuse(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            f"{item.nodeid} starts a process but is in the unit tier: "
            "add `pytestmark = pytest.mark.e2e` to its module (or the mark to the test)"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
