"""Router configuration: read once at start (`RouterSettings.load()`) and passed down."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from services.router.resolve import GatewayName
from shared.errors import ConfigError
from shared.settings import HttpServiceSettings


class RouterSettings(HttpServiceSettings):
    """Environment of the client-facing router (env names are the upper-case field names)."""

    host: str = Field("127.0.0.1", description="listen address")
    port: int = Field(8088, description="listen port")
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="addresses or networks of load balancers whose X-Forwarded-For names the client "
        "(login limits and logs key on the client address); `*` only when nothing else can reach the router",
    )
    gateway_urls: str = Field("http://127.0.0.1:8000", description="comma-separated gateway base URLs")
    proxy_api_key: SecretStr | None = Field(
        None, description="bootstrap client API key, stored hashed at start when absent"
    )
    admin_password: SecretStr | None = Field(
        None, description="admin panel password; one changed in the panel stays until this value changes"
    )
    admin_api_key: SecretStr | None = Field(None, description="bearer key for the admin API")
    metrics_bearer: SecretStr | None = Field(
        None, description="when set, /metrics answers only `Authorization: Bearer <this>` (else 401)"
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="serve /metrics on this port of HOST instead of PORT (0 = on PORT)"
    )

    failover_attempts: int = Field(4, ge=1, le=16, description="accounts tried before the first byte")
    failover_budget_ratio: float = Field(
        0.1, ge=0, le=1, description="failovers after Kiro errors: at most this share of recent requests"
    )
    failover_budget_min: int = Field(
        3, ge=0, description="failovers after Kiro errors always allowed per 10 s (quiet router)"
    )
    default_max_concurrency: int = Field(8, ge=1, description="in-flight requests per account (default)")
    default_min_interval_ms: int = Field(0, ge=0, description="governor spacing between request starts")
    governor_jitter_ratio: float = Field(0.2, ge=0, le=1, description="random extra spacing, x interval")
    lease_ttl_seconds: float = Field(120.0, gt=1, description="in-flight lease lifetime; renewed on streams")
    token_margin_seconds: float = Field(60.0, ge=0, description="access token must outlive now + margin")
    pick_wait_seconds: float = Field(5.0, ge=0, description="wait this long for a busy account to free up")
    sticky_ttl_seconds: int = Field(3600, ge=0, description="conversation affinity lifetime (0 = off)")

    cooldown_base_seconds: float = Field(60.0, gt=0, description="first throttle cooldown (doubles)")
    cooldown_max_seconds: float = Field(1800.0, gt=0, description="circuit breaker cooldown cap")
    invalid_token_cooldown_seconds: float = Field(30.0, ge=0, description="pause while refreshing")
    upstream_error_cooldown_seconds: float = Field(
        5.0, ge=0, description="first cooldown of an account ejected for 5xx in a row (doubles)"
    )
    outlier_consecutive_errors: int = Field(
        3, ge=1, description="transient Kiro errors in a row that cool an account down (1 = the first)"
    )
    quota_default_reset_seconds: float = Field(3600.0, gt=0, description="exhaustion without a reset time")
    no_account_retry_after_seconds: int = Field(30, ge=1, description="Retry-After when nothing is usable")

    gateway_connect_timeout: float = Field(5.0, gt=0, description="seconds to connect to a gateway")
    gateway_read_timeout: float = Field(600.0, gt=0, description="max silence between streamed chunks")
    gateway_health_interval_seconds: float = Field(5.0, gt=0, description="gateway health probe period")
    gateway_resolve_interval_seconds: float = Field(
        15.0, gt=0, description="resolve gateway names to their replicas' addresses again this often"
    )
    gateway_eject_seconds: float = Field(
        5.0, gt=0, description="how long a failing gateway address is ejected (x2 for each flap, up to x8)"
    )
    gateway_hosts_file: str | None = Field(
        None, description="hosts-format file (`address name`) consulted before DNS for gateway names"
    )
    pool_gauge_interval_seconds: float = Field(15.0, gt=0, description="pool-by-state gauge refresh")
    runtime_settings_ttl_seconds: float = Field(5.0, ge=0, description="cache of the settings hash")
    request_log_size: int = Field(
        1000, ge=0, description="recent requests kept for the admin panel's request log (0 = off)"
    )

    required_secrets: ClassVar[tuple[str, ...]] = ("kiro_secret_key", "internal_api_key")
    #: shortest admin secrets production accepts (a guessable admin secret hands over every account)
    min_admin_password_length: ClassVar[int] = 12
    min_admin_api_key_length: ClassVar[int] = 32

    def check(self) -> None:
        """The common checks, gateway URLs that parse, and in production no admin password under 12 or API
        key under 32 characters."""
        super().check()
        if not self.gateway_url_list:
            raise ConfigError("GATEWAY_URLS names no gateway")
        for url in self.gateway_url_list:
            try:
                GatewayName.parse(url)
            except ValueError as exc:
                raise ConfigError(f"GATEWAY_URLS: {exc}") from exc
        if self.kiro_env != "production":
            return
        for name, minimum in (
            ("admin_password", self.min_admin_password_length),
            ("admin_api_key", self.min_admin_api_key_length),
        ):
            value = self.secret(name)
            if value and len(value) < minimum:
                raise ConfigError(
                    f"{name.upper()} is {len(value)} characters long; production needs at least {minimum} "
                    f"(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )

    @property
    def gateway_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.gateway_urls.split(",") if u.strip()]
