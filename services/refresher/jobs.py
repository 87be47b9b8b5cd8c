"""The arq job functions (names from `shared/jobs.py`): thin wrappers mapping outcomes to arq retries."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable
from typing import Any, cast

from arq.worker import Retry

from services.refresher.check import check_account
from services.refresher.context import Refresher
from services.refresher.device import PollAgain, poll_device_flow
from services.refresher.refresh import (
    PARKED_STATES,
    Outcome,
    TransientRefreshError,
    horizon,
    refresh_account,
    refresh_when_unlocked,
)
from services.refresher.resilient import REDIS_DOWN
from services.refresher.usage import after_token, renew_stale_model_lists
from shared.accounts.history import RefreshTrigger
from shared.accounts.store import read_fields
from shared.jobs import (
    USAGE_AFTER_QUOTA,
    USAGE_SCHEDULED,
    enqueue_refresh,
    enqueue_usage_refresh,
    refresh_started,
)
from shared.logging import log_fields
from shared.parsing import float_or_zero

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 300.0


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
        outcome = await refresh_when_unlocked(r, account_id, force=force, requested_at=requested_at)
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


async def refresh_due_job(ctx: dict[str, Any]) -> int:
    """Cron `refresh_due`: refresh every account whose token expires before the next run plus the
    margin, `refresh_concurrency` at a time. Returns how many accounts were due."""
    r = _refresher(ctx)
    due = await due_accounts(r)
    gate = asyncio.Semaphore(r.settings.refresh_concurrency)

    async def one(account_id: str) -> Outcome | None:
        async with gate:
            try:
                return await refresh_account(r, account_id, trigger=RefreshTrigger.SCHEDULED)
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
    models = 0
    if r.settings.refresh_models:  # a refreshed account got its model list with its token
        just_done = {a for a, o in zip(due, outcomes, strict=True) if o is Outcome.REFRESHED}
        models = await renew_stale_model_lists(r, await usable_accounts(r, skip=just_done), gate)
    log.info("periodic refresh", extra=log_fields(due=len(due), refreshed=refreshed, model_lists=models))
    return len(due)


async def due_accounts(r: Refresher) -> list[str]:
    """Enabled, not parked accounts whose access token expires before the next run + margin."""
    deadline = time.time() + horizon(r)
    return [account_id for account_id, expires_at in await _in_rotation(r) if expires_at < deadline]


async def usable_accounts(r: Refresher, skip: set[str]) -> list[str]:
    """Enabled, not parked accounts holding an unexpired access token, but those in `skip`."""
    now = time.time()
    return [a for a, expires_at in await _in_rotation(r) if expires_at > now and a not in skip]


async def _in_rotation(r: Refresher) -> list[tuple[str, float]]:
    """(id, access token expiry) of every enabled, not parked account with a refresh token, by id."""
    ids = sorted(await cast(Awaitable[set[str]], r.redis.smembers(r.keys.accounts())))
    fields = ("enabled", "state", "access_expires_at", "refresh_token_enc")
    rows = await read_fields(r.redis, r.keys, ids, fields)
    parked = {s.value for s in PARKED_STATES}
    found: list[tuple[str, float]] = []
    for account_id, (enabled, state, expires, refresh_token) in zip(ids, rows, strict=True):
        if enabled != "1" or not refresh_token or state in parked:
            continue
        try:
            expires_at = float(expires or 0)
        except ValueError:
            expires_at = 0.0
        found.append((account_id, expires_at))
    return found


async def refresh_usage_job(ctx: dict[str, Any], account_id: str, trigger: str = "") -> str:
    """`refresh_usage(account_id, trigger)`: fetch usage limits and update the pool state."""
    await after_token(_refresher(ctx), account_id, after_quota=trigger == USAGE_AFTER_QUOTA)
    return "ok"


async def usage_due_job(ctx: dict[str, Any]) -> int:
    """Cron `usage_due`: queue a usage fetch for every account whose limits are older than
    `usage_refresh_interval_seconds`, each at a random moment of the next tick so they do not all
    call Kiro at once. Returns how many were due."""
    r = _refresher(ctx)
    due = await usage_due_accounts(r)
    spread = r.settings.usage_tick_seconds()
    for account_id in due:
        await enqueue_usage_refresh(
            ctx["redis"], r.keys, account_id, trigger=USAGE_SCHEDULED, defer_seconds=random.uniform(0, spread)
        )
    if due:
        log.info("usage limits due", extra=log_fields(due=len(due)))
    return len(due)


#: the usage fields the schedule reads: when the figures were fetched, failures in a row, the last one
USAGE_TIMES = ("usage_updated_at", "usage_failures", "usage_failed_at")


def usage_retry_after(failures: int, interval: float) -> float:
    """Seconds the schedule waits after `failures` getUsageLimits calls failed in a row: one minute,
    doubling, never longer than the interval itself (an account Kiro keeps refusing is not asked every
    minute; one that failed once is asked again soon)."""
    if failures <= 0:
        return 0.0
    return float(min(interval, 60 * 2 ** min(failures - 1, 16)))


async def usage_due_accounts(r: Refresher) -> list[str]:
    """Enabled, not parked accounts with a live access token whose usage limits are older than the
    interval (an expired token is the periodic refresh's job, which fetches the usage after it), and
    whose last failed fetch, if any, is older than `usage_retry_after`."""
    ids = sorted(await cast(Awaitable[set[str]], r.redis.smembers(r.keys.accounts())))
    fields = (*("enabled", "state", "access_token_enc", "access_expires_at"), *USAGE_TIMES)
    rows = await read_fields(r.redis, r.keys, ids, fields)
    now = time.time()
    interval = r.settings.usage_refresh_interval_seconds
    parked = {s.value for s in PARKED_STATES}
    due: list[str] = []
    for account_id, row in zip(ids, rows, strict=True):
        enabled, state, access_token, expires, updated, failures, failed_at = row
        if enabled != "1" or not access_token or state in parked or float_or_zero(expires) <= now:
            continue
        if float_or_zero(updated) > now - interval:
            continue
        if float_or_zero(failed_at) > now - usage_retry_after(int(float_or_zero(failures)), interval):
            continue
        due.append(account_id)
    return due


async def poll_device_flow_job(ctx: dict[str, Any], flow_id: str) -> str:
    """`poll_device_flow(flow_id)`: poll a device login once; retried at the OIDC interval while pending."""
    try:
        return await poll_device_flow(_refresher(ctx), flow_id)
    except PollAgain as again:
        raise Retry(defer=again.delay) from again


async def check_account_job(ctx: dict[str, Any], account_id: str, source: str = "") -> dict[str, Any] | None:
    """`check_account(account_id, source)`: the account check; its result (None: no such account)."""
    result = await check_account(_refresher(ctx), account_id, source=source)
    if result is not None:
        log.info(
            "account checked",
            extra=log_fields(account=account_id, ok=result["ok"], source=source, ms=result["duration_ms"]),
        )
    return result
