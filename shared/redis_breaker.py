"""A circuit breaker for one process's Redis client: fail at once while Redis is known to be down.

Closed: every call goes through. After `failures` consecutive failures (deadline missed, connection lost
or refused) within `window` seconds it opens: calls fail at once without touching the network, so a
stalled server gets no pile of waiting requests and new connections. Every `probe_interval` seconds one
call is let through as a probe (half-open); its success closes the breaker, its failure keeps it open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

from redis.exceptions import ConnectionError as RedisConnectionError

from shared.errors import KiroStackError


class BreakerState(Enum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class RedisUnavailable(RedisConnectionError, KiroStackError):
    """The breaker is open: the command was not sent (a `ConnectionError`, so `except RedisError` holds)."""


class CircuitBreaker:
    """Consecutive-failure breaker with one probe at a time; single event loop, no locking needed."""

    def __init__(
        self,
        failures: int,
        probe_interval: float,
        *,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.probe_interval = probe_interval
        self.window = window
        self.state = BreakerState.CLOSED
        self.rejected = 0
        #: called with the new state on every change (metrics); must not raise
        self.on_change: Callable[[BreakerState], None] | None = None
        #: called for every call refused while open (metrics); must not raise
        self.on_reject: Callable[[], None] | None = None
        self._clock = clock
        self._failures = 0
        self._last_failure = float("-inf")
        self._opened_at = 0.0
        self._probing = False

    def admit(self) -> bool:
        """May a call go ahead? True when it is the half-open probe; raises `RedisUnavailable` when not."""
        if self.state is BreakerState.CLOSED:
            return False
        now = self._clock()
        if not self._probing and now - self._opened_at >= self.probe_interval:
            self._probing = True
            self._set(BreakerState.HALF_OPEN)
            return True
        self.rejected += 1
        if self.on_reject is not None:
            self.on_reject()
        retry_in = max(0.0, self._opened_at + self.probe_interval - now)
        raise RedisUnavailable(f"Redis circuit breaker open (next probe in {retry_in:.2f}s)")

    def succeeded(self, probe: bool) -> None:
        """Redis answered (any answer, errors included): close."""
        self._failures = 0
        if probe:
            self._probing = False
        if self.state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def failed(self, probe: bool) -> None:
        """A call missed its deadline or lost its connection."""
        now = self._clock()
        if probe:
            self._probing = False
            self._open(now)
            return
        if self.state is not BreakerState.CLOSED:
            return  # a call sent before the breaker opened: the probe decides
        if now - self._last_failure > self.window:
            self._failures = 0
        self._failures += 1
        self._last_failure = now
        if self._failures >= self.threshold:
            self._open(now)

    def abandoned(self, probe: bool) -> None:
        """The call was cancelled by its caller: no verdict; a probe's turn goes to the next call."""
        if probe:
            self._probing = False
            self._set(BreakerState.OPEN)
            self._opened_at = self._clock() - self.probe_interval

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._failures = 0
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self.on_change is not None:
                self.on_change(state)
