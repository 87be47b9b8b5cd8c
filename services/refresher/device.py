"""Polling a device-authorization login (kiro-protocol.md §10.3) until it yields tokens or ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import cast

from services.refresher.context import Refresher
from services.refresher.usage import after_token
from shared.errors import FailureKind, KiroStackError, UpstreamError
from shared.kiro.answers import DeviceFlowFailed, DeviceFlowPending, parse_device_token
from shared.logging import log_fields

log = logging.getLogger(__name__)

SLOW_DOWN_STEP = 5.0  # seconds added to the interval on `slow_down` (RFC 8628)


class PollAgain(KiroStackError):
    """The login is still pending: poll again after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"poll again in {delay:g}s")
        self.delay = delay


async def poll_device_flow(r: Refresher, flow_id: str) -> str:
    """Poll once; returns the final status, or raises PollAgain while the user has not finished."""
    key = r.keys.device_flow(flow_id)
    flow = await cast(Awaitable[dict[str, str]], r.redis.hgetall(key))
    if not flow:
        return "expired"
    if flow.get("status") != "pending":
        return flow.get("status", "error")
    if float(flow.get("expires_at") or 0) < time.time():
        await r.ops.set_device_flow(flow_id, "expired")
        return "expired"
    interval = float(flow.get("interval") or 5)
    request = r.auth.device_token(
        flow["client_id"],
        r.store.box.decrypt(flow["client_secret_enc"]),
        r.store.box.decrypt(flow["device_code_enc"]),
        flow.get("auth_region") or "us-east-1",
    )
    try:
        tokens = parse_device_token(*await r.http.send(request))
    except DeviceFlowPending as pending:
        r.metrics.device_polls.labels("slow_down" if pending.slow_down else "pending").inc()
        if pending.slow_down:
            interval += SLOW_DOWN_STEP
            await r.redis.hset(key, "interval", repr(interval))  # type: ignore[misc]
        raise PollAgain(interval) from None
    except DeviceFlowFailed as failed:
        r.metrics.device_polls.labels(failed.reason).inc()
        await r.ops.set_device_flow(flow_id, failed.reason)
        return failed.reason
    except UpstreamError as exc:
        r.metrics.device_polls.labels(exc.kind.value).inc()
        if exc.kind in (FailureKind.UPSTREAM_ERROR, FailureKind.THROTTLED):
            raise PollAgain(interval * 2) from exc
        await r.ops.set_device_flow(flow_id, "error", error=exc.message[:200])
        return "error"
    r.metrics.device_polls.labels("complete").inc()
    account_id = await r.ops.finish_device_flow(flow_id, tokens)
    if account_id is None:
        return "expired"
    log.info("device login complete", extra=log_fields(account=account_id))
    await after_token(r, account_id)
    return "complete"
