"""Noticing a client that left: ASGI servers say so only through `receive`, so a task waits there.

Used twice: before the first byte, a client that leaves cancels the Kiro call with every retry, endpoint
fallback and backoff sleep still to come (`until_client_leaves`); once streaming, `sse.SSEResponse`
cancels the stream the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.types import Receive

from shared.disconnect import disconnected

T = TypeVar("T")


async def cancel_on_disconnect(receive: Receive, task: asyncio.Task[Any]) -> None:
    """Cancel `task` once the client disconnects (call only after the request body was read)."""
    await disconnected(receive)
    task.cancel()


def fired(watcher: asyncio.Task[None]) -> bool:
    """The watcher saw the client leave and cancelled its task."""
    return watcher.done() and not watcher.cancelled() and watcher.exception() is None


#: a call answered within this long never needs a watcher (most are): starting one costs a task
WATCH_AFTER_SECONDS = 0.2


async def until_client_leaves(receive: Receive, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None when the client disconnected first (then `work` was cancelled).

    No task for `work`, and a watcher task only once `work` has taken `WATCH_AFTER_SECONDS`: the watcher
    cancels the current task, and the cancellation surfaces inside `work` wherever it waits (a backoff
    sleep, a connect, a first byte).
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    watchers: list[asyncio.Task[None]] = []
    timer = loop.call_later(
        WATCH_AFTER_SECONDS, lambda: watchers.append(loop.create_task(cancel_on_disconnect(receive, task)))
    )
    try:
        return await work
    except asyncio.CancelledError:
        # our own cancellation (the client left) ends here; any other (shutdown) goes on
        if not (watchers and fired(watchers[0])) or task.uncancel() > 0:
            raise
        return None
    finally:
        timer.cancel()
        for watcher in watchers:
            watcher.cancel()
