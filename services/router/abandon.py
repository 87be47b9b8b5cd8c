"""Notices a client that goes away before the first byte and stops the work done for it.

Before the relay starts, the router picks accounts, calls gateways and fails over — seconds, or minutes when
Kiro is slow — and nothing read the client's connection. `Abandonment` watches it: a disconnect cancels the
gateway call in progress (its connection is closed, so the gateway stops too) and no further account is
tried. Redis steps are never cut in the middle (a pick interrupted after Redis ran it would strand a lease):
they finish, and the next `cancellable` section or `check` ends the request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.types import Receive

from shared.disconnect import disconnected
from shared.errors import KiroStackError


class Abandoned(KiroStackError):
    """The client disconnected before the first byte."""


#: a request answered within this long never needs a watcher (most are): starting one costs a task
WATCH_AFTER_SECONDS = 0.2


class Abandonment:
    """Watches one request's connection (from `WATCH_AFTER_SECONDS` on, in a task) until `stop()`."""

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None  # an ASGI app always runs inside a task
        self._task: asyncio.Task[Any] = task
        self.gone = False
        self._inside = False
        self._cancelled = False  # we cancelled the request's task
        self._receive = receive
        self._watch: asyncio.Future[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, self._start)

    def _start(self) -> None:
        self._watch = asyncio.ensure_future(self._wait(self._receive))

    async def _wait(self, receive: Receive) -> None:
        with contextlib.suppress(OSError):  # a failing transport is a client gone too
            await disconnected(receive)
        self.gone = True
        if self._inside:
            self._cancelled = True
            self._task.cancel()

    def check(self) -> None:
        """Raise `Abandoned` when the client has gone."""
        if self.gone:
            raise Abandoned

    @contextmanager
    def cancellable(self) -> Iterator[None]:
        """A section (gateway call, waiting for a busy account) that a disconnect interrupts at once."""
        self.check()
        self._inside = True
        try:
            yield
        except asyncio.CancelledError:
            if self._cancelled and self._task.uncancel() == 0:  # ours alone: not a shutdown
                raise Abandoned from None
            raise
        finally:
            self._inside = False

    def stop(self) -> None:
        """Stop watching (the relay watches the client from its first byte on)."""
        self._timer.cancel()
        if self._watch is not None:
            self._watch.cancel()
