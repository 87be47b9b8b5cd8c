"""Builds and runs the arq worker: job functions, the periodic refresh, lifespan of resources."""

from __future__ import annotations

import logging
from typing import Any

from arq.cron import cron
from arq.worker import func

from services.refresher import jobs
from services.refresher.context import Refresher
from services.refresher.metrics import start_server
from services.refresher.resilient import ResilientWorker
from services.refresher.settings import RefresherSettings, cron_schedule
from shared import jobs as names
from shared.accounts.layout import ensure_layout
from shared.errors import ConfigError
from shared.keys import Keys
from shared.logging import configure_logging, log_fields
from shared.redis import check_redis_version, create_queue_redis

#: no arq command is slow: a reply that takes longer than this means Redis (or the path to it) is stuck
QUEUE_SOCKET_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


def build_worker(settings: RefresherSettings) -> ResilientWorker:
    """An arq worker on `keys.arq_queue()` that outlives Redis outages; resources live from `on_startup`
    to `on_shutdown`."""
    keys = Keys(settings.redis_key_prefix)
    call_timeout = settings.refresh_timeout_seconds

    async def startup(ctx: dict[str, Any]) -> None:
        refresher = Refresher.build(settings, ctx["redis"])
        ctx["refresher"] = refresher
        version = await check_redis_version(refresher.redis)
        await ensure_layout(refresher.redis, keys)
        ctx["metrics_runner"] = None
        if settings.refresher_metrics_port:
            ctx["metrics_runner"] = await start_server(
                refresher.metrics,
                refresher.redis,
                keys,
                settings.refresher_metrics_host,
                settings.refresher_metrics_port,
            )
        log.info(
            "refresher started",
            extra=log_fields(
                queue=keys.arq_queue(),
                interval=settings.refresh_interval_seconds,
                redis=settings.redis_location().describe(),
                redis_version=version,
            ),
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if ctx.get("metrics_runner") is not None:
            await ctx["metrics_runner"].cleanup()
        if ctx.get("refresher") is not None:
            await ctx["refresher"].close()

    functions = [
        func(
            jobs.refresh_account_job,
            name=names.REFRESH_ACCOUNT,
            keep_result=0,
            max_tries=settings.refresh_max_tries,
            # waiting for another holder's lock, then refresh (+ previous token) + usage + models
            timeout=settings.refresh_lock_ttl_seconds + call_timeout * 4 + 10,
        ),
        func(
            jobs.refresh_usage_job,
            name=names.REFRESH_USAGE,
            keep_result=0,
            max_tries=3,
            timeout=call_timeout * 2,
        ),
        func(
            jobs.check_account_job,
            name=names.CHECK_ACCOUNT,
            keep_result=names.CHECK_RESULT_SECONDS,
            max_tries=1,  # an operator asked: a failure is the answer, not a reason to try again
            # a refresh (lock wait, refresh, usage, models), models, usage, up to two chat routes
            timeout=settings.refresh_lock_ttl_seconds + call_timeout * 8 + 10,
        ),
        func(
            jobs.poll_device_flow_job,
            name=names.POLL_DEVICE_FLOW,
            keep_result=0,
            max_tries=settings.device_flow_max_polls,
            timeout=call_timeout * 3 + 10,
        ),
    ]
    cron_jobs = [
        cron(
            jobs.refresh_due_job,
            name=keys.cron_job_name(names.REFRESH_DUE),  # run ids carry the prefix: stacks never collide
            run_at_startup=settings.refresh_on_startup,
            unique=True,
            keep_result=0,
            timeout=settings.refresh_due_timeout_seconds,
            **cron_schedule(settings.refresh_interval_seconds),  # type: ignore[arg-type]
        )
    ]
    if settings.usage_refresh_interval_seconds:
        cron_jobs.append(
            cron(
                jobs.usage_due_job,
                name=keys.cron_job_name(names.USAGE_DUE),
                unique=True,
                keep_result=0,
                timeout=settings.refresh_due_timeout_seconds,
                **cron_schedule(settings.usage_tick_seconds()),  # type: ignore[arg-type]
            )
        )
    return ResilientWorker(
        functions=functions,
        cron_jobs=cron_jobs,
        redis_pool=create_queue_redis(settings, socket_timeout=QUEUE_SOCKET_TIMEOUT_SECONDS),
        queue_name=keys.arq_queue(),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.refresh_concurrency,
        keep_result=0,
        poll_delay=settings.worker_poll_delay_seconds,
        health_check_interval=60,
        max_tries=settings.refresh_max_tries,
    )


def run_worker(settings: RefresherSettings) -> None:
    """`python -m services.refresher`: run until SIGINT / SIGTERM."""
    configure_logging("refresher", settings.log_level, settings.log_format)
    try:
        build_worker(settings).run()
    except ConfigError as exc:  # found at start (an old Redis): one clear line, not a traceback
        log.critical("refresher cannot start", extra=log_fields(error=str(exc)))
        raise SystemExit(2) from None
