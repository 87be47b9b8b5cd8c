"""Noticing a client that left, and stopping the work done for it: one mechanism for router and gateway.

ASGI servers report a disconnect only through `receive` (once the request body has been read), so a task
waits there. `ClientWatch` starts that task (at once, or only after `after` seconds: most requests are
answered sooner and never need one) and, while armed, cancels the request's own task when the client
goes. The request's code catches the `CancelledError` and asks `ours()` whether the watch caused it — a
shutdown's cancellation is never swallowed. Used before the first byte (gateway retries, router failover)
and while streaming (gateway SSE, router relay).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.types import Receive

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def disconnected(receive: Receive) -> None:
    """Return once the client has disconnected (call only after the request body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class ClientWatch:
    """Watches one request's connection; while `armed`, a disconnect cancels the task that created it."""

    __slots__ = ("_cancelled", "_receive", "_task", "_timer", "_watch", "armed", "gone")

    def __init__(self, receive: Receive, *, after: float = 0.0, armed: bool = True) -> None:
        task = asyncio.current_task()
        assert task is not None  # an ASGI app always runs inside a task
        self._task: asyncio.Task[Any] = task
        self._receive = receive
        self._cancelled = False  # we cancelled the task
        self._watch: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.armed = armed
        self.gone = False
        if after > 0:
            self._timer = asyncio.get_running_loop().call_later(after, self._start)
        else:
            self._start()

    def _start(self) -> None:
        self._watch = asyncio.ensure_future(self._wait())

    async def _wait(self) -> None:
        try:
            await disconnected(self._receive)
        except OSError:  # a failing transport is a client gone too
            pass
        except Exception:  # so is a `receive` that fails otherwise: nothing more can reach that client
            logger.warning("reading the client's connection failed; treating it as gone", exc_info=True)
        self.gone = True
        if self.armed:
            self._cancelled = True
            self._task.cancel()

    def ours(self) -> bool:
        """After a `CancelledError`: True when this watch alone caused it (the cancellation is then spent)."""
        return self._cancelled and self._task.uncancel() == 0

    def stop(self) -> None:
        """Stop watching (the answer is complete, or another watch takes over)."""
        self.armed = False
        if self._timer is not None:
            self._timer.cancel()
        if self._watch is not None:
            self._watch.cancel()


async def until_client_leaves(receive: Receive, work: Awaitable[T], *, after: float) -> T | None:
    """`work`'s result, or None when the client disconnected first (then `work` was cancelled).

    No task for `work`; the watch (from `after` seconds on) cancels the current task, and the cancellation
    surfaces inside `work` wherever it waits (a backoff sleep, a connect, a first byte).
    """
    watch = ClientWatch(receive, after=after)
    try:
        return await work
    except asyncio.CancelledError:
        if not watch.ours():  # a shutdown, not (only) the client
            raise
        return None
    finally:
        watch.stop()
