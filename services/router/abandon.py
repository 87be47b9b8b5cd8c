"""Notices a client that goes away before the first byte and stops the work done for it.

Before the relay starts, the router picks accounts, calls gateways and fails over — seconds, or minutes when
Kiro is slow — and nothing read the client's connection. `Abandonment` watches it: a disconnect cancels the
gateway call in progress (its connection is closed, so the gateway stops too) and no further account is
tried. Redis steps are never cut in the middle (a pick interrupted after Redis ran it would strand a lease):
they finish, and the next `cancellable` section or `check` ends the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import Receive

from shared.disconnect import ClientWatch
from shared.errors import KiroStackError


class Abandoned(KiroStackError):
    """The client disconnected before the first byte."""


#: a request answered within this long never needs a watcher (most are): starting one costs a task
WATCH_AFTER_SECONDS = 0.2


class Abandonment:
    """Watches one request's connection (from `WATCH_AFTER_SECONDS` on) until `stop()`.

    Only inside a `cancellable` section does a disconnect cancel the request's task; elsewhere it is
    noticed at the next `check` (or section).
    """

    def __init__(self, receive: Receive) -> None:
        self._watch = ClientWatch(receive, after=WATCH_AFTER_SECONDS, armed=False)

    @property
    def gone(self) -> bool:
        return self._watch.gone

    def check(self) -> None:
        """Raise `Abandoned` when the client has gone."""
        if self._watch.gone:
            raise Abandoned

    @contextmanager
    def cancellable(self) -> Iterator[None]:
        """A section (gateway call, waiting for a busy account) that a disconnect interrupts at once."""
        self.check()
        self._watch.armed = True
        try:
            yield
        except asyncio.CancelledError:
            if self._watch.ours():  # ours alone: not a shutdown
                raise Abandoned from None
            raise
        finally:
            self._watch.armed = False

    def stop(self) -> None:
        """Stop watching (the relay watches the client from its first byte on)."""
        self._watch.stop()
