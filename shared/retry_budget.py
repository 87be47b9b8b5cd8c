"""A retry budget (as Envoy's): retries are allowed only while they stay a small share of recent requests.

Retries that each layer makes on its own multiply in an outage: a router trying four accounts through a
gateway that tries each three times is twelve calls to Kiro for one client request, exactly when Kiro is
down. A budget caps the extra attempts instead of the attempts per request: over the last `window_seconds`,
retries may reach `ratio` x requests, or `minimum` when that is more, so a quiet process still retries
a blip while a process in an outage sends about one attempt per request. In-process state: every router
and gateway replica keeps its own (one budget per replica, as Envoy keeps one per proxy), with no I/O.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RetryBudget:
    """Counts requests and retries in one-second buckets over a sliding window."""

    def __init__(
        self,
        ratio: float = 0.1,
        minimum: int = 3,
        window_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.minimum = minimum
        self._clock = clock
        self._size = max(1, math.ceil(window_seconds))
        self._requests = [0] * self._size
        self._retries = [0] * self._size
        self._second = [-1] * self._size  # which second each bucket holds

    def request(self) -> None:
        """Count one new request (not a retry)."""
        self._requests[self._bucket()] += 1

    def try_retry(self) -> bool:
        """True, and the retry is counted, when one more retry keeps within the budget."""
        at = self._bucket()
        retries = sum(self._retries)
        if retries + 1 > max(self.minimum, self.ratio * sum(self._requests)):
            return False
        self._retries[at] += 1
        return True

    def _bucket(self) -> int:
        """The current second's bucket, after clearing buckets that fell out of the window."""
        second = int(self._clock())
        at = second % self._size
        if self._second[at] != second:
            for i in range(self._size):
                if self._second[i] <= second - self._size:
                    self._requests[i] = self._retries[i] = 0
                    self._second[i] = -1
            self._requests[at] = self._retries[at] = 0
            self._second[at] = second
        return at
