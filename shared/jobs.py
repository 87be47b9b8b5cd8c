"""The contract between router/gateway and the refresher: arq job names and how to enqueue them.

No service imports another: callers enqueue by function name on the queue `keys.arq_queue()`. Job ids
start with the stack's key prefix (`Keys.refresh_job_id`), so stacks sharing one Redis never collide.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from redis.exceptions import RedisError

from shared.keys import Keys
from shared.logging import log_fields

log = logging.getLogger(__name__)

REFRESH_ACCOUNT = "refresh_account"  # (account_id: str, force: bool = False, reason: str = "")
REFRESH_USAGE = "refresh_usage"  # (account_id: str, trigger: str = "")
POLL_DEVICE_FLOW = "poll_device_flow"  # (flow_id: str)
CHECK_ACCOUNT = "check_account"  # (account_id: str, source: str = "") -> the check result (dict)
REFRESH_DUE = "refresh_due"  # cron: every account whose token expires before the next run + margin
USAGE_DUE = "usage_due"  # cron: every account whose usage limits are older than the usage interval

#: why a usage fetch was asked for: the schedule, or Kiro's "out of quota" verdict on a request
USAGE_SCHEDULED = "scheduled"
USAGE_AFTER_QUOTA = "quota"

#: longest a caller waits to enqueue: the router does it on a client's request path
ENQUEUE_DEADLINE_SECONDS = 0.3
#: how long arq keeps the result of a check job for the caller that waits on it
CHECK_RESULT_SECONDS = 300
#: a waiting job collapses the triggers of this long; if it never starts (lost with its Redis write, no
#: worker running), the next trigger after this queues another
PENDING_TTL_MS = 15_000


async def enqueue_refresh(
    arq_pool: Any,
    keys: Keys,
    account_id: str,
    *,
    force: bool = False,
    reason: str = "",
    deadline: float = ENQUEUE_DEADLINE_SECONDS,
) -> bool:
    """Ask the refresher to refresh one account; a burst collapses into the job waiting to start.

    Only a job that has not started yet absorbs new triggers: one already running (or whose worker
    died) does not, so a crashed job never holds up the next refresh. Forced and plain refreshes wait
    apart (a plain one would find an unexpired but rejected token good enough).

    `arq_pool` is an `arq.connections.ArqRedis`. Returns True when a new job was queued; False when one
    was waiting already, or when Redis did not take it within `deadline` seconds (logged; never raised,
    so a client request that asks for a refresh goes on).
    """
    try:
        async with asyncio.timeout(deadline):
            return await _enqueue(arq_pool, keys, account_id, force, reason)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("refresh job not queued", extra=log_fields(account=account_id, error=repr(exc)))
        return False


async def _enqueue(arq_pool: Any, keys: Keys, account_id: str, force: bool, reason: str) -> bool:
    nonce = secrets.token_hex(6)
    if not await arq_pool.set(keys.refresh_pending(account_id, force), nonce, nx=True, px=PENDING_TTL_MS):
        return False
    job = await arq_pool.enqueue_job(
        REFRESH_ACCOUNT,
        account_id,
        force,
        reason,
        _job_id=keys.refresh_job_id(account_id, nonce),
        _queue_name=keys.arq_queue(),
    )
    return job is not None


async def enqueue_usage_refresh(
    arq_pool: Any,
    keys: Keys,
    account_id: str,
    *,
    trigger: str = USAGE_AFTER_QUOTA,
    defer_seconds: float = 0.0,
    deadline: float = ENQUEUE_DEADLINE_SECONDS,
) -> bool:
    """Ask the refresher for one account's usage limits (getUsageLimits); no token refresh.

    A job of the same account and trigger still waiting or running absorbs this one (its arq job id).
    Returns True when a job was queued; False when one was there already, or Redis did not take it
    within `deadline` seconds (logged; never raised, so a client request that reports a quota goes on).
    """
    try:
        async with asyncio.timeout(deadline):
            job = await arq_pool.enqueue_job(
                REFRESH_USAGE,
                account_id,
                trigger,
                _job_id=keys.usage_job_id(account_id, trigger),
                _queue_name=keys.arq_queue(),
                _defer_by=defer_seconds or None,
            )
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("usage job not queued", extra=log_fields(account=account_id, error=repr(exc)))
        return False
    return job is not None


async def refresh_started(redis: Any, keys: Keys, account_id: str, force: bool) -> None:
    """Called by a refresh job as it starts: triggers from now on queue a new job."""
    await redis.delete(keys.refresh_pending(account_id, force))


async def enqueue_check(arq_pool: Any, keys: Keys, account_id: str, *, source: str = "") -> Any:
    """Ask the refresher to check one account against Kiro; the arq `Job` (its result is the check's
    result, kept `CHECK_RESULT_SECONDS`). Raises RedisError / OSError / TimeoutError when Redis does not
    take it within `ENQUEUE_DEADLINE_SECONDS`."""
    async with asyncio.timeout(ENQUEUE_DEADLINE_SECONDS):
        return await arq_pool.enqueue_job(
            CHECK_ACCOUNT,
            account_id,
            source,
            _job_id=keys.check_job_id(account_id, secrets.token_hex(6)),
            _queue_name=keys.arq_queue(),
        )
