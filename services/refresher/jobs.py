"""The arq job functions (names from `shared/jobs.py`): thin wrappers mapping outcomes to arq retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, cast

from arq.worker import Retry

from services.refresher.context import Refresher
from services.refresher.device import PollAgain, poll_device_flow
from services.refresher.refresh import (
    PARKED_STATES,
    Outcome,
    TransientRefreshError,
    horizon,
    refresh_account,
)
from services.refresher.resilient import REDIS_DOWN
from services.refresher.usage import after_token
from shared.jobs import enqueue_refresh, refresh_started
from shared.logging import log_fields

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 300.0
#: how often a job waiting for another worker's refresh lock looks again
LOCK_POLL_SECONDS = 0.25


def _refresher(ctx: dict[str, Any]) -> Refresher:
    return cast(Refresher, ctx["refresher"])


def retry_delay(base: float, job_try: int) -> float:
    """Exponential backoff: base, 2×base, 4×base, ... capped at 5 minutes."""
    return float(min(base * 2.0 ** max(job_try - 1, 0), MAX_RETRY_DELAY))


async def refresh_account_job(
    ctx: dict[str, Any], account_id: str, force: bool = False, reason: str = ""
) -> str:
    """`refresh_account(account_id, force, reason)`: refresh one account if it needs it."""
    r = _refresher(ctx)
    requested_at = ctx["enqueue_time"].timestamp() if ctx.get("enqueue_time") else time.time()
    try:
        await refresh_started(ctx["redis"], r.keys, account_id, force)  # the queue's Redis holds the mark
        outcome = await _refresh_when_unlocked(r, account_id, force, requested_at)
    except TransientRefreshError as exc:
        delay = retry_delay(r.settings.refresh_retry_base_seconds, int(ctx.get("job_try", 1)))
        log.warning(
            "refresh failed, will retry",
            extra=log_fields(account=account_id, error=str(exc), retry_in=delay, reason=reason),
        )
        raise Retry(defer=delay) from exc
    except REDIS_DOWN as exc:
        # Redis went away mid-job: run it again once it is back (arq records the retry when it can)
        log.warning("refresh interrupted: redis unreachable", extra=log_fields(account=account_id))
        raise Retry(defer=r.settings.refresh_retry_base_seconds) from exc
    if outcome is Outcome.LOCKED:  # a live holder on a slow upstream: look again later
        raise Retry(defer=r.settings.refresh_lock_ttl_seconds)
    return outcome.value


async def _refresh_when_unlocked(r: Refresher, account_id: str, force: bool, requested_at: float) -> Outcome:
    """`refresh_account`, waiting up to one lock lifetime while another worker holds the account's lock.

    A live holder finishes and we find the token fresh; a crashed holder stops renewing its lock, which
    lapses within that lifetime, and we refresh. Waiting here rather than through an arq retry keeps a
    forced refresh after a crash within seconds of the lock lapsing, and spends no try.
    """
    deadline = time.monotonic() + r.settings.refresh_lock_ttl_seconds
    while True:
        outcome = await refresh_account(r, account_id, force=force, requested_at=requested_at)
        if outcome is not Outcome.LOCKED or time.monotonic() >= deadline:
            return outcome
        await asyncio.sleep(LOCK_POLL_SECONDS)


async def refresh_due_job(ctx: dict[str, Any]) -> int:
    """Cron `refresh_due`: refresh every account whose token expires before the next run plus the
    margin, `refresh_concurrency` at a time. Returns how many accounts were due."""
    r = _refresher(ctx)
    due = await due_accounts(r)
    gate = asyncio.Semaphore(r.settings.refresh_concurrency)

    async def one(account_id: str) -> Outcome | None:
        async with gate:
            try:
                return await refresh_account(r, account_id)
            except TransientRefreshError:
                # arq retries with backoff from here on (and collapses with on-demand triggers)
                await enqueue_refresh(ctx["redis"], r.keys, account_id, reason="retry")
                return None

    outcomes = await asyncio.gather(*(one(account_id) for account_id in due), return_exceptions=True)
    for account_id, outcome in zip(due, outcomes, strict=True):
        if isinstance(outcome, BaseException):  # one broken account must not stop the others
            log.error(
                "refresh crashed",
                extra=log_fields(account=account_id, error=f"{type(outcome).__name__}: {outcome}"),
            )
    refreshed = sum(1 for o in outcomes if o is Outcome.REFRESHED)
    log.info("periodic refresh", extra=log_fields(due=len(due), refreshed=refreshed))
    return len(due)


async def due_accounts(r: Refresher) -> list[str]:
    """Enabled, not parked accounts whose access token expires before the next run + margin."""
    ids = sorted(await cast(Awaitable[set[str]], r.redis.smembers(r.keys.accounts())))
    pipe = r.redis.pipeline(transaction=False)
    for account_id in ids:
        pipe.hmget(r.keys.account(account_id), ["enabled", "state", "access_expires_at", "refresh_token_enc"])
    rows = await pipe.execute()
    deadline = time.time() + horizon(r)
    parked = {s.value for s in PARKED_STATES}
    due: list[str] = []
    for account_id, (enabled, state, expires, refresh_token) in zip(ids, rows, strict=True):
        if enabled != "1" or not refresh_token or state in parked:
            continue
        try:
            expires_at = float(expires or 0)
        except ValueError:
            expires_at = 0.0
        if expires_at < deadline:
            due.append(account_id)
    return due


async def refresh_usage_job(ctx: dict[str, Any], account_id: str) -> str:
    """`refresh_usage(account_id)`: fetch usage limits and update the pool state."""
    await after_token(_refresher(ctx), account_id)
    return "ok"


async def poll_device_flow_job(ctx: dict[str, Any], flow_id: str) -> str:
    """`poll_device_flow(flow_id)`: poll a device login once; retried at the OIDC interval while pending."""
    try:
        return await poll_device_flow(_refresher(ctx), flow_id)
    except PollAgain as again:
        raise Retry(defer=again.delay) from again
