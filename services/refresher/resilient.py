"""An arq worker that rides out Redis restarts and blips instead of exiting.

arq's own loop lets the first connection error escape `Worker.main()`, and the process ends. Here every
poll that fails because Redis is unreachable is logged ("redis unreachable; retrying in N s"), waited
out with a backoff, and retried; the first poll that works again logs "redis back". A periodic run that
fell due during the outage is enqueued again under the same job id once Redis answers, so it runs once
(arq's job-id dedupe collapses the workers that all try). Jobs in flight when Redis went away follow arq's
semantics: a job whose result could not be recorded stays queued and runs again after its in-progress
mark lapses (refresh jobs are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.logging import log_fields
from shared.tasks import Backoff

log = logging.getLogger(__name__)

#: what a Redis that is restarting, stopped or unreachable looks like to a client
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class ResilientWorker(Worker):
    """`arq.worker.Worker` whose polling survives Redis being away (see the module docstring)."""

    def __init__(self, *args: Any, backoff: Backoff | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backoff = backoff or Backoff(first=0.5, cap=5.0)
        self._down_since: float | None = None

    async def main(self) -> None:
        while True:  # start only once Redis answers: under compose / Kubernetes it may come up later
            try:
                await self.pool.ping()
                break
            except REDIS_DOWN as exc:
                await self._unreachable(exc)
        self._recovered()
        await super().main()

    async def _poll_iteration(self) -> None:
        scheduled = {job.name: job.next_run for job in self.cron_jobs}
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            # arq moved the schedule on before its enqueue failed: put it back, so the missed run is
            # enqueued (once, under its usual job id) as soon as Redis answers
            for job in self.cron_jobs:
                job.next_run = scheduled[job.name]
            await self._unreachable(exc)
        else:
            self._recovered()

    async def _unreachable(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
        delay = self._backoff.next()
        log.warning(f"redis unreachable; retrying in {delay:g} s", extra=log_fields(error=repr(exc)))
        await asyncio.sleep(delay)

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        outage = time.monotonic() - self._down_since
        self._down_since = None
        self._backoff.reset()
        log.info("redis back", extra=log_fields(unreachable_for=round(outage, 1)))

    async def close(self) -> None:
        try:
            await super().close()
        except REDIS_DOWN as exc:  # stopping while Redis is away: nothing left to record there
            log.warning("redis unreachable while stopping", extra=log_fields(error=repr(exc)))
