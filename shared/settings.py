"""The settings every service shares. Each service subclasses `CommonSettings` in its own package.

Settings are read once at start (`Settings.load()`) and passed in; nothing else reads the environment.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError
from shared.kiro.regions import InvalidRegionError, check_region, profile_arn_region


class CommonSettings(BaseSettings):
    """Configuration common to router, gateway and refresher (environment variables, `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    kiro_env: Literal["development", "production"] = Field(
        "development", description="production refuses to start without every required secret"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis holding pool, tokens, limits")
    redis_key_prefix: str = Field("ks:", description="prefix of every Redis key this stack writes")
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
        key = self._secret("kiro_secret_key")
        if key:
            from shared.crypto import validate_fernet_key

            validate_fernet_key(key)

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
