"""Leases a failed settle or release left taken while Redis was unreachable, freed once it answers again.

Without this, the leases of requests that ended during an outage come back with Redis (AOF) and keep
their accounts "busy" until they expire, minutes later. Only the slot is freed (outcome `none`: a ZREM,
harmless to repeat); the request's stats and usage are not replayed, as the failed call may have run.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import RedisError

from shared.accounts.pool import Lease, Pool
from shared.logging import log_fields
from shared.tasks import start_logged

log = logging.getLogger(__name__)


class PendingReleases:
    """Retries `Pool.release(lease, "none")` every `period` s until it works or the lease has expired."""

    def __init__(self, pool: Pool, lease_ttl_seconds: float, period: float = 0.5) -> None:
        self._pool = pool
        self._ttl = lease_ttl_seconds
        self._period = period
        self._leases: dict[str, tuple[Lease, float]] = {}  # lease id -> (lease, monotonic give-up time)
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._leases)

    def add(self, lease: Lease) -> None:
        """Free `lease` as soon as Redis answers (a renewal cannot have outlived the TTL from now)."""
        self._leases[lease.lease_id] = (lease, time.monotonic() + self._ttl)
        if self._task is None or self._task.done():
            self._task = start_logged("pending lease releases", self._drain())

    async def _drain(self) -> None:
        while self._leases:
            await asyncio.sleep(self._period)
            await self.flush()

    async def flush(self) -> None:
        """One try for every pending lease; stops at the first Redis error (the rest would fail too)."""
        now = time.monotonic()
        freed = 0
        try:
            for lease_id, (lease, until) in list(self._leases.items()):
                if now < until:
                    await self._pool.release(lease, "none")
                    freed += 1
                self._leases.pop(lease_id, None)
        except RedisError:
            pass  # still unreachable: the next round tries again
        finally:
            if freed:
                log.info("leases left by failed settles freed", extra=log_fields(count=freed))

    async def close(self) -> None:
        """Stop retrying; one last try for what is left (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._leases:
            await self.flush()
