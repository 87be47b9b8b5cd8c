"""The contract between router/gateway and the refresher: arq job names and how to enqueue them.

No service imports another: callers enqueue by function name on the queue `keys.arq_queue()`.
"""

from __future__ import annotations

from typing import Any

from shared.keys import Keys

REFRESH_ACCOUNT = "refresh_account"  # (account_id: str, force: bool = False, reason: str = "")
REFRESH_USAGE = "refresh_usage"  # (account_id: str)
POLL_DEVICE_FLOW = "poll_device_flow"  # (flow_id: str)
REFRESH_DUE = "refresh_due"  # cron: every account whose token expires before the next run + margin


async def enqueue_refresh(
    arq_pool: Any, keys: Keys, account_id: str, *, force: bool = False, reason: str = ""
) -> bool:
    """Ask the refresher to refresh one account; a burst collapses into one job (`_job_id`).

    `arq_pool` is an `arq.connections.ArqRedis`. Returns True when a new job was queued.
    """
    job = await arq_pool.enqueue_job(
        REFRESH_ACCOUNT,
        account_id,
        force,
        reason,
        _job_id=keys.refresh_job_id(account_id),
        _queue_name=keys.arq_queue(),
    )
    return job is not None
