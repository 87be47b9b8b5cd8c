"""Background loops that outlive their own bugs: log the traceback, count the restart, start again.

A service's background loop (pub/sub listener, gauges, probes) handles the failures it expects (Redis
or network errors) itself. Anything else is a bug or data it did not foresee; without supervision the
task dies silently and its job (dropping caches, updating gauges) just stops. `supervise` runs such a
loop forever: an unexpected exception is logged with its traceback (the logging filter redacts
secrets), counted through `on_restart`, and the loop starts again after a backoff delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from shared.logging import log_fields

log = logging.getLogger(__name__)

#: a loop that ran this long before failing was healthy: its next restart starts from the first delay
_HEALTHY_AFTER_SECONDS = 60.0


class Backoff:
    """Delays that double from `first` up to `cap`; `reset()` after a success."""

    def __init__(self, first: float = 0.5, cap: float = 10.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        """The delay to wait now; the one after it is twice as long (at most `cap`)."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first


async def supervise(
    name: str,
    body: Callable[[], Awaitable[None]],
    *,
    on_restart: Callable[[str], None] | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Run `body()` until cancelled, restarting it (after a backoff delay) whenever it raises or returns."""
    delays = backoff or Backoff()
    while True:
        started = time.monotonic()
        try:
            await body()
            problem = "returned"
        except asyncio.CancelledError:
            raise
        except Exception:  # supervision boundary: whatever it was, it is logged and the loop restarts
            problem = "crashed"
            failure = True
        else:
            failure = False
        if time.monotonic() - started >= _HEALTHY_AFTER_SECONDS:
            delays.reset()
        delay = delays.next()
        log.error(
            f"background loop {problem}; restarting in {delay:g} s",
            exc_info=failure,
            extra=log_fields(loop=name),
        )
        if on_restart is not None:
            on_restart(name)
        await asyncio.sleep(delay)


def start_supervised(
    name: str,
    body: Callable[[], Awaitable[None]],
    *,
    on_restart: Callable[[str], None] | None = None,
    backoff: Backoff | None = None,
) -> asyncio.Task[None]:
    """`supervise(...)` as a task named `name` (cancel it at shutdown)."""
    return asyncio.create_task(supervise(name, body, on_restart=on_restart, backoff=backoff), name=name)


def start_logged(name: str, body: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A one-shot background task whose unexpected exception is logged when it happens (with its
    traceback), not at garbage collection or never."""
    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(body, name=name)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("background task failed", exc_info=error, extra=log_fields(task=task.get_name()))
