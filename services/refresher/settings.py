"""Refresher configuration: read once at start (`RefresherSettings.load()`) and passed down."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.errors import ConfigError
from shared.settings import ChatEndpointSettings


class RefresherSettings(ChatEndpointSettings):
    """Environment of the refresher worker and CLI (env names are the upper-case field names)."""

    required_secrets: ClassVar[tuple[str, ...]] = ("kiro_secret_key",)

    refresh_interval_seconds: int = Field(
        1800, ge=1, description="periodic run; must divide a minute, an hour or a day evenly"
    )
    refresh_margin_seconds: float = Field(
        300.0, ge=0, description="refresh tokens expiring before next run + this"
    )
    refresh_due_timeout_seconds: float = Field(
        300.0, gt=0, description="longest a periodic run may take (also how long arq waits for a dead worker)"
    )
    refresh_on_startup: bool = Field(False, description="also run the periodic refresh when a worker starts")
    refresh_concurrency: int = Field(16, ge=1, description="refresh jobs one worker runs at a time")
    refresh_timeout_seconds: float = Field(30.0, gt=0, description="one auth / usage call, whole")
    refresh_lock_ttl_seconds: float = Field(
        10.0,
        gt=0,
        description="per-account refresh lock lifetime, renewed while its refresh runs: how long a crashed "
        "worker's lock can hold up the next refresh",
    )
    refresh_max_tries: int = Field(5, ge=1, description="tries of one refresh job on transient failures")
    refresh_retry_base_seconds: float = Field(5.0, ge=0, description="first retry delay (doubles, max 300 s)")
    force_refresh_grace_seconds: float = Field(
        5.0, ge=0, description="a forced refresh is skipped if the token is younger than this"
    )
    usage_refresh_interval_seconds: int = Field(
        900,
        ge=0,
        description="fetch each account's usage limits this often, between token refreshes, spread over "
        "a minute (0 = only after a token refresh or a quota error; below 60 it must divide a minute)",
    )
    refresh_models: bool = Field(
        True, description="cache each account's model list for the gateways (after a refresh, and when stale)"
    )
    models_cache_ttl_seconds: int = Field(
        3600, ge=60, description="lifetime of a cached model list (renewed at half of it)"
    )
    device_flow_max_polls: int = Field(400, ge=1, description="polls of one device login before giving up")
    worker_poll_delay_seconds: float = Field(0.2, gt=0, description="how often an idle worker looks for jobs")
    refresher_metrics_host: str = Field("127.0.0.1", description="metrics listen address")
    refresher_metrics_port: int = Field(9102, ge=0, description="/metrics and /health port (0 = off)")

    def check(self) -> None:
        super().check()
        cron_schedule(self.refresh_interval_seconds)
        interval = self.usage_refresh_interval_seconds
        if 0 < interval < 60 and 60 % interval:
            raise ConfigError(f"USAGE_REFRESH_INTERVAL_SECONDS={interval}: below 60 it must divide a minute")

    def usage_tick_seconds(self) -> int:
        """How often the usage schedule looks for accounts due (and the window their fetches spread over)."""
        return min(self.usage_refresh_interval_seconds, 60)


def cron_schedule(interval: int) -> dict[str, set[int]]:
    """arq cron fields that fire every `interval` seconds; ConfigError when no field set can."""
    if interval < 60 and 60 % interval == 0:
        return {"second": set(range(0, 60, interval))}
    if interval % 60 == 0 and interval < 3600 and 3600 % interval == 0:
        return {"minute": set(range(0, 60, interval // 60)), "second": {0}}
    if interval % 3600 == 0 and 86400 % interval == 0:
        return {"hour": set(range(0, 24, interval // 3600)), "minute": {0}, "second": {0}}
    raise ConfigError(
        f"REFRESH_INTERVAL_SECONDS={interval} must divide a minute, an hour or a day evenly "
        "(e.g. 30, 300, 1800, 3600, 21600)"
    )
