"""Prometheus metrics of the refresher and the small HTTP server exposing them (/metrics, /health).

Account gauges (accounts by state, seconds until each access token expires) are read from Redis at
scrape time, so every worker shows the same pool-wide picture. Labels carry account ids, never secrets.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally

from aiohttp import web
from prometheus_client import CollectorRegistry

from shared import metrics as m
from shared.accounts.model import AccountState
from shared.accounts.store import read_fields
from shared.keys import Keys
from shared.parsing import float_or_zero
from shared.redis import ping
from shared.redis_topology import StackRedis

log = logging.getLogger(__name__)


class RefresherMetrics:
    """The refresher's metrics on their own registry."""

    def __init__(self) -> None:
        self.registry: CollectorRegistry = m.new_registry()
        r = self.registry
        self.refresh_attempts = m.counter(
            r, "kiro_refresher_refresh_attempts_total", "Token refresh attempts", ("auth_kind", "result")
        )
        self.refresh_duration = m.histogram(
            r,
            "kiro_refresher_refresh_duration_seconds",
            "Duration of upstream token refresh calls",
            ("auth_kind",),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.usage_fetches = m.counter(
            r, "kiro_refresher_usage_fetches_total", "getUsageLimits calls", ("result",)
        )
        self.device_polls = m.counter(
            r, "kiro_refresher_device_flow_polls_total", "Device login token polls", ("result",)
        )
        self.accounts = m.gauge(r, "kiro_refresher_accounts", "Accounts by state", ("state",))
        self.seconds_to_expiry = m.gauge(
            r,
            "kiro_refresher_token_seconds_to_expiry",
            "Seconds until the stored access token of an account expires (negative = expired)",
            ("account_id",),
        )
        self.registration_seconds_to_expiry = m.gauge(
            r,
            "kiro_refresher_client_registration_seconds_to_expiry",
            "Seconds until the OIDC client registration of an IdC / Builder ID account lapses (then the "
            "account needs a new login)",
            ("account_id",),
        )
        self.usage = m.gauge(
            r,
            "kiro_refresher_account_usage",
            "Quota used by an account (last getUsageLimits)",
            ("account_id",),
        )
        self.usage_limit = m.gauge(
            r,
            "kiro_refresher_account_usage_limit",
            "Quota limit of an account (0 = unknown)",
            ("account_id",),
        )

    async def collect_accounts(self, client: StackRedis, keys: Keys) -> None:
        """Read every account's state and token expiry from Redis into the gauges."""
        ids = sorted(await client.smembers(keys.accounts()))  # type: ignore[misc]
        fields = ("state", "access_expires_at", "usage_current", "usage_limit", "client_secret_expires_at")
        rows = await read_fields(client, keys, ids, fields)
        now = time.time()
        tally: Tally[str] = Tally()
        for gauge in (
            self.seconds_to_expiry,
            self.registration_seconds_to_expiry,
            self.usage,
            self.usage_limit,
        ):
            gauge.clear()
        for account_id, (state, expires, used, limit, registration) in zip(ids, rows, strict=True):
            tally[state or AccountState.INVALID.value] += 1
            if expires_at := float_or_zero(expires):
                self.seconds_to_expiry.labels(account_id).set(round(expires_at - now, 1))
            if registration_expires_at := float_or_zero(registration):
                self.registration_seconds_to_expiry.labels(account_id).set(
                    round(registration_expires_at - now)
                )
            self.usage.labels(account_id).set(float_or_zero(used))
            self.usage_limit.labels(account_id).set(float_or_zero(limit))
        for state in AccountState:
            self.accounts.labels(state.value).set(tally.get(state.value, 0))


async def start_server(
    metrics: RefresherMetrics, client: StackRedis, keys: Keys, host: str, port: int
) -> web.AppRunner:
    """Serve /metrics and /health; stop it with `runner.cleanup()`."""

    async def health(_: web.Request) -> web.Response:
        rtt = await ping(client)
        status = 200 if rtt is not None else 503
        return web.json_response({"status": "ok" if rtt is not None else "redis down"}, status=status)

    async def metrics_page(_: web.Request) -> web.Response:
        await metrics.collect_accounts(client, keys)
        body, content_type = m.exposition(metrics.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics listening", extra={"fields": {"host": host, "port": port}})
    return runner
