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

T = TypeVar("T")


async def cancel_on_disconnect(receive: Receive, task: asyncio.Task[Any]) -> None:
    """Cancel `task` once the client disconnects (call only after the request body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


def fired(watcher: asyncio.Task[None]) -> bool:
    """The watcher saw the client leave and cancelled its task."""
    return watcher.done() and not watcher.cancelled() and watcher.exception() is None


async def until_client_leaves(receive: Receive, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None when the client disconnected first (then `work` was cancelled).

    One watcher task, no task for `work`: the watcher cancels the current task, and the cancellation
    surfaces inside `work` wherever it waits (a backoff sleep, a connect, a first byte).
    """
    task = asyncio.current_task()
    assert task is not None
    watcher = asyncio.get_running_loop().create_task(cancel_on_disconnect(receive, task))
    try:
        return await work
    except asyncio.CancelledError:
        # our own cancellation (the client left) ends here; any other (shutdown) goes on
        if not fired(watcher) or task.uncancel() > 0:
            raise
        return None
    finally:
        watcher.cancel()
