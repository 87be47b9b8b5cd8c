"""The settings every service shares. Each service subclasses `CommonSettings` in its own package.

Settings are read once at start (`Settings.load()`) and passed in; nothing else reads the environment.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import runtime_options
from shared.errors import ConfigError
from shared.kiro.endpoint_table import parse_order, parse_origins
from shared.kiro.regions import InvalidRegionError, check_region, profile_arn_region
from shared.redis_location import (
    REDIS_PORT,
    SENTINEL_PORT,
    RedisLocation,
    Topology,
    parse_nodes,
    parse_redis_url,
)


class CommonSettings(BaseSettings):
    """Configuration common to router, gateway and refresher (environment variables, `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    kiro_env: Literal["development", "production"] = Field(
        "development", description="production refuses to start without every required secret"
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis holding pool, tokens, limits: redis:// or rediss:// (TLS) for one server, "
        "redis+sentinel://host:port[,host:port…]/service[/db] for a Sentinel-watched primary, "
        "redis+cluster://host:port[,host:port…] for a Cluster (docs/architecture.md, Redis topologies)",
    )
    redis_sentinels: str | None = Field(
        None,
        description="host:port,… of the sentinels (instead of a redis+sentinel:// URL; REDIS_URL then "
        "gives only password, database and TLS)",
    )
    redis_sentinel_service: str | None = Field(
        None, description="with REDIS_SENTINELS: the service (master) name the sentinels watch"
    )
    redis_cluster_nodes: str | None = Field(
        None,
        description="host:port,… of Cluster nodes (instead of a redis+cluster:// URL; REDIS_URL then "
        "gives only password and TLS)",
    )
    queue_redis_url: str | None = Field(
        None,
        description="Redis of the refresh job queue (arq) when not REDIS_URL; required when REDIS_URL is "
        "a Cluster, which arq cannot use (a redis:// or redis+sentinel:// URL)",
    )
    redis_key_prefix: str = Field(
        "ks:",
        description="prefix of every Redis key this stack writes (on a Redis Cluster a prefix with a hash "
        "tag such as {ks}: keeps every key in one slot; without one the stack spreads over the slots)",
    )
    redis_max_connections: int = Field(256, ge=1, description="connection pool size per process")
    redis_socket_timeout: float = Field(
        5.0, gt=0, description="seconds to connect to Redis or to wait for a free pooled connection"
    )
    redis_command_timeout: float = Field(
        0.5, gt=0, description="router: seconds a Redis command or pipeline a request waits on may take"
    )
    redis_breaker_failures: int = Field(
        3, ge=1, description="router: consecutive Redis failures that open its circuit breaker"
    )
    redis_breaker_probe_seconds: float = Field(
        0.25, gt=0, description="router: while the breaker is open, one probe command this often"
    )
    kiro_secret_key: SecretStr | None = Field(
        None, description="Fernet key encrypting refresh tokens and client secrets at rest"
    )
    internal_api_key: SecretStr | None = Field(
        None, description="shared secret the router presents to gateways (X-Internal-Key)"
    )
    debug_mode: Literal["off", "errors", "all"] = Field(
        "off",
        description="gateway: log the client's and Kiro's request bodies (clipped at 64 KiB, prompts "
        "included, secrets redacted) for failed requests (errors) or every request (all)",
    )
    log_level: str = Field("INFO", description="Python log level")
    log_format: Literal["text", "json"] = Field("text", description="key=value lines or JSON lines")
    vpn_proxy_url: str | None = Field(
        None, description="outbound proxy for Kiro calls (http:// or socks5://)"
    )
    kiro_emulator_url: str | None = Field(
        None, description="tests/demo only: replace every Kiro host with this emulator base URL"
    )
    kiro_api_region: str = Field("us-east-1", description="chat API region when no profile ARN says")
    kiro_q_host: str = Field("https://q.{region}.amazonaws.com", description="Amazon Q chat/models host")
    kiro_codewhisperer_host: str = Field(
        "https://codewhisperer.us-east-1.amazonaws.com", description="legacy CodeWhisperer chat host"
    )
    kiro_runtime_host: str = Field(
        "https://runtime.{region}.kiro.dev", description="newest Kiro chat/models host (endpoint `kiro`)"
    )
    kiro_social_auth_host: str = Field(
        "https://prod.{region}.auth.desktop.kiro.dev", description="Kiro desktop (social) token host"
    )
    kiro_oidc_host: str = Field("https://oidc.{region}.amazonaws.com", description="AWS SSO OIDC host")
    kiro_ide_version: str = Field("0.8.0", description="Kiro IDE version shown in user agents")
    kiro_sdk_version: str = Field("1.0.34", description="AWS SDK version shown in user agents")

    #: names of secrets this service cannot run without; subclasses set it as a ClassVar too
    required_secrets: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def load(cls, **overrides: object) -> Self:
        """Build the settings once, at start, and check them."""
        settings = cls(**overrides)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse to start on a configuration that cannot work or would be insecure."""
        missing = [name for name in self.required_secrets if not self._secret(name)]
        if missing:
            names = ", ".join(n.upper() for n in missing)
            hint = (
                "`make run` generates them into .stack/secrets.env for development"
                if self.kiro_env == "development"
                else "set them in the environment or the Kubernetes Secret"
            )
            raise ConfigError(f"missing required secret(s): {names} ({hint})")
        if self.kiro_env == "production" and self.kiro_emulator_url:
            raise ConfigError("KIRO_EMULATOR_URL is for tests and demos; unset it in production")
        self._check_regions()
        self.queue_redis_location()  # parses REDIS_URL too
        key = self._secret("kiro_secret_key")
        if key:
            from shared.crypto import validate_fernet_key

            validate_fernet_key(key)

    def redis_location(self) -> RedisLocation:
        """Where the stack's Redis is (`REDIS_URL`, or the sentinel / cluster node lists); ConfigError
        when malformed."""
        base = parse_redis_url(self.redis_url)
        if self.redis_sentinels and self.redis_cluster_nodes:
            raise ConfigError("set REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both")
        nodes_setting = "REDIS_SENTINELS" if self.redis_sentinels else "REDIS_CLUSTER_NODES"
        nodes_text = self.redis_sentinels or self.redis_cluster_nodes
        if not nodes_text:
            if self.redis_sentinel_service:
                raise ConfigError("REDIS_SENTINEL_SERVICE needs REDIS_SENTINELS")
            return base
        if base.topology is not Topology.STANDALONE:
            raise ConfigError(f"{nodes_setting} is set: REDIS_URL must then be a redis:// or rediss:// URL")
        sentinel = bool(self.redis_sentinels)
        if sentinel and not self.redis_sentinel_service:
            raise ConfigError("REDIS_SENTINELS needs REDIS_SENTINEL_SERVICE (the monitored master's name)")
        port = SENTINEL_PORT if sentinel else REDIS_PORT
        nodes = parse_nodes(nodes_text, nodes_setting, nodes_text, port)
        db = base.db
        if not sentinel and db:
            raise ConfigError("REDIS_CLUSTER_NODES is set: a Redis Cluster has database 0 only")
        return RedisLocation(
            Topology.SENTINEL if sentinel else Topology.CLUSTER,
            nodes=nodes,
            service=self.redis_sentinel_service or "",
            db=db,
            username=base.username,
            password=base.password,
            tls=base.tls,
        )

    def queue_redis_location(self) -> RedisLocation:
        """Where the refresh job queue (arq) lives: `QUEUE_REDIS_URL`, else the stack's Redis."""
        main = self.redis_location()
        if not self.queue_redis_url:
            if main.topology is Topology.CLUSTER:
                raise ConfigError(
                    "REDIS_URL is a Redis Cluster, which the refresh job queue (arq) cannot use: set "
                    "QUEUE_REDIS_URL to a redis:// or redis+sentinel:// URL"
                )
            return main
        queue = parse_redis_url(self.queue_redis_url, "QUEUE_REDIS_URL")
        if queue.topology is Topology.CLUSTER:
            raise ConfigError(
                "QUEUE_REDIS_URL: arq cannot use a Redis Cluster (redis:// or redis+sentinel://)"
            )
        return queue

    def _check_regions(self) -> None:
        """Every `*_region` setting and the region of every `*_profile_arn` is an AWS region name."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                continue
            try:
                if name.endswith("_region"):
                    check_region(value, name.upper())
                elif name.endswith("_profile_arn"):
                    profile_arn_region(value)
            except InvalidRegionError as exc:
                raise ConfigError(f"{name.upper()}: {exc.message}") from exc

    def _secret(self, name: str) -> str:
        value = getattr(self, name, None)
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return value or ""

    def secret(self, name: str) -> str:
        """The plain value of a secret setting ('' when unset)."""
        return self._secret(name)


class ChatEndpointSettings(CommonSettings):
    """The chat endpoints a service tries, in order (the gateway calls them; the account check does too).

    The panel's runtime options win over these while set (docs/kiro-endpoints.md).
    """

    endpoint_order: str = Field(
        runtime_options.ENDPOINT_ORDER,
        description="chat endpoints tried in order: auto (per API region, docs/kiro-endpoints.md) or a "
        "comma-separated list of codewhisperer, amazonq, kiro",
    )
    endpoint_origins: dict[str, str] = Field(
        default_factory=lambda: dict(runtime_options.ENDPOINT_ORIGINS),
        description='origin per chat endpoint replacing the default, e.g. {"amazonq": "CLI"}',
    )

    def check(self) -> None:
        super().check()
        try:
            self.endpoint_order = parse_order(self.endpoint_order)
            self.endpoint_origins = parse_origins(self.endpoint_origins)
        except ValueError as exc:
            raise ConfigError(f"ENDPOINT_ORDER / ENDPOINT_ORIGINS: {exc}") from exc


class HttpServiceSettings(CommonSettings):
    """What every HTTP service (router, gateway) shares: body limit, connection deadlines, graceful stop,
    worker processes."""

    max_body_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="larger request bodies get 413 (Anthropic's API limit: 32 MB)"
    )
    http_head_timeout_seconds: float = Field(
        30.0, gt=0, description="a connection whose request head is not complete after this long is closed"
    )
    http_body_timeout_seconds: float = Field(
        30.0, gt=0, description="a connection whose request body stalls this long is closed"
    )
    drain_timeout_seconds: float = Field(30.0, ge=0, description="SIGTERM: wait this long for open streams")
    shutdown_delay_seconds: float = Field(
        0.0, ge=0, description="SIGTERM: keep serving (readiness 503) this long before closing the listener"
    )
    workers: int = Field(
        1,
        ge=1,
        description="worker processes serving the port (metrics merged on it); more than 1 uses more "
        "cores in one container (deploy/README.md, Workers or replicas)",
    )
