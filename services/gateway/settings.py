"""Gateway settings: read once at start by `python -m services.gateway`, then passed in."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from services.gateway.client_keys import parse_digests
from services.gateway.token_pool import WeightedToken, parse_token_list
from shared import runtime_options
from shared.errors import ConfigError
from shared.runtime_options import ClaudeThinkingFormat, ThinkingFormat
from shared.settings import ChatEndpointSettings, HttpServiceSettings


class GatewaySettings(ChatEndpointSettings, HttpServiceSettings):
    """Configuration of the stateless gateway (environment variables, upper-case field names)."""

    host: str = Field("127.0.0.1", description="listen address")
    port: int = Field(8000, description="listen port")

    # request limits
    max_json_depth: int = Field(128, ge=8, description="deeper JSON nesting gets 400")
    kiro_payload_limit: int = Field(600_000, ge=1, description="Kiro request body limit in bytes")
    max_output_tokens: int = Field(64_000, ge=1, description="max_tokens above this is clamped")
    context_window: int = Field(200_000, ge=1, description="tokens; for usage maths and prompt limits")
    offload_threshold_bytes: int = Field(
        256 * 1024, ge=0, description="bodies larger than this are parsed and translated in a worker thread"
    )
    offload_threads: int = Field(2, ge=1, description="worker threads for big requests (bounds their CPU)")

    # upstream behaviour
    retry_attempts: int = Field(3, ge=1, description="attempts per endpoint on transient failures")
    retry_base_delay: float = Field(0.5, ge=0, description="seconds; doubles per retry, with jitter")
    retry_max_delay: float = Field(4.0, ge=0, description="cap of one backoff delay (seconds)")
    retry_budget_ratio: float = Field(
        0.05, ge=0, le=1, description="retries and endpoint fallbacks: at most this share of recent calls"
    )
    retry_budget_min: int = Field(3, ge=0, description="retries always allowed per 10 s (quiet gateway)")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to connect to Kiro")
    first_token_timeout: float = Field(30.0, gt=0, description="seconds from request to Kiro's first byte")
    idle_read_timeout: float = Field(300.0, gt=0, description="seconds of silence mid-stream before failing")
    ping_interval: float = Field(
        10.0, gt=0, description="keep-alive after this many seconds without a byte to the client"
    )
    max_connections: int = Field(1000, ge=1, description="pooled upstream connections per process")
    auto_continue: bool = Field(
        runtime_options.AUTO_CONTINUE, description="continue a tool call Kiro's output cap cut off"
    )
    max_continuations: int = Field(3, ge=0, description="continuation requests per response")
    models_cache_ttl: float = Field(
        3600.0,
        ge=0,
        description="seconds an account's model list asked of Kiro by the gateway itself is kept",
    )

    # remote image URLs: fetched by the gateway (Kiro takes inline bytes only), behind an SSRF guard
    image_fetch_enabled: bool = Field(
        True, description="fetch image URLs; off: the model sees '[image not available: URL]' instead"
    )
    image_fetch_max_bytes: int = Field(5 * 1024 * 1024, ge=1, description="larger images are refused")
    image_fetch_timeout_seconds: float = Field(10.0, gt=0, description="per image, redirects included")
    image_fetch_allow_http: bool = Field(False, description="also fetch plain http:// image URLs")
    image_fetch_max_redirects: int = Field(3, ge=0, description="redirects followed, each target re-checked")
    image_fetch_allow_hosts: str = Field(
        "",
        description="comma-separated host names (or IP literals) exempt from the private-address check",
    )

    # model and thinking defaults (the router may override them per request in X-Kiro-Options)
    default_model: str = Field("claude-sonnet-4.5", description="Kiro model for OpenAI-named models")
    thinking_suffix: str = Field(
        runtime_options.THINKING_SUFFIX, description="model-name suffix that turns thinking on"
    )
    model_aliases: dict[str, str] = Field(default_factory=dict, description="client name -> Kiro model id")
    openai_thinking_format: ThinkingFormat = Field(
        runtime_options.OPENAI_THINKING_FORMAT, description="how OpenAI clients receive reasoning"
    )
    claude_thinking_format: ClaudeThinkingFormat = Field(
        runtime_options.CLAUDE_THINKING_FORMAT,
        description="how Anthropic clients receive thinking: blocks, or thinking_tags inline in the text",
    )

    # Responses API: conversations kept for `previous_response_id` follow-ups
    responses_store: Literal["auto", "redis", "memory"] = Field(
        "auto",
        description="where Responses conversations are kept: auto = Redis when REDIS_URL is set, else memory",
    )
    responses_ttl_seconds: float = Field(3600.0, gt=0, description="seconds a Responses conversation is kept")
    responses_max_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="a larger Responses conversation (JSON) is not stored"
    )
    responses_memory_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="memory store: total bytes kept (least recently used go first)",
    )

    # standalone mode (no router): client keys, and accounts from the environment
    proxy_api_key: SecretStr | None = Field(
        None, description="standalone: client key clients send as x-api-key or Authorization: Bearer"
    )
    proxy_api_keys_sha256: str = Field(
        "", description="standalone: comma-separated SHA-256 hex digests of more accepted client keys"
    )
    kiro_refresh_token: SecretStr | None = Field(None, description="standalone: the account's refresh token")
    kiro_refresh_tokens: SecretStr | None = Field(
        None,
        description="standalone: several accounts' refresh tokens, comma or newline separated, each "
        "`token` or `token:weight` (weighted round robin; KIRO_REFRESH_TOKEN joins the list)",
    )
    token_cooldown_seconds: float = Field(
        60.0,
        gt=0,
        description="standalone: a token Kiro throttled (without Retry-After) or whose refresh failed "
        "is skipped this long",
    )
    kiro_client_id: str | None = Field(None, description="standalone OIDC (Builder ID / IdC) client id")
    kiro_client_secret: SecretStr | None = Field(None, description="standalone OIDC client secret")
    kiro_auth_kind: Literal["social", "idc", "external_idp"] = Field(
        "social", description="standalone: how the refresh token is refreshed"
    )
    kiro_auth_region: str = Field("us-east-1", description="standalone: social auth / OIDC region")
    kiro_profile_arn: str | None = Field(None, description="standalone: profile ARN (social logins)")
    kiro_machine_id: str | None = Field(None, description="standalone: fingerprint shown in user agents")
    refresh_margin_seconds: float = Field(300.0, ge=0, description="refresh this long before expiry")
    refresh_timeout: float = Field(30.0, gt=0, description="seconds for one token refresh call")

    def responses_backend(self) -> Literal["redis", "memory"]:
        """The Responses store in use: `auto` means Redis when REDIS_URL was set (the stack), else memory."""
        if self.responses_store != "auto":
            return self.responses_store
        return "redis" if self.in_stack() else "memory"

    def in_stack(self) -> bool:
        """REDIS_URL was set: the gateway runs behind the router, next to the refresher's Redis."""
        return "redis_url" in self.model_fields_set

    def env_tokens(self) -> list[WeightedToken]:
        """The standalone accounts' refresh tokens: KIRO_REFRESH_TOKEN (weight 1) then KIRO_REFRESH_TOKENS.

        Raises ConfigError for an entry that cannot be a token (so a typo refuses to start).
        """
        single = self.secret("kiro_refresh_token")
        listed = parse_token_list(self.secret("kiro_refresh_tokens"))
        tokens = [WeightedToken(single, 1)] if single else []
        return tokens + [t for t in listed if t.token != single]

    def check(self) -> None:
        """Production needs a way to authenticate callers, and an env account only behind a client key."""
        super().check()
        digests = parse_digests(self.proxy_api_keys_sha256)  # malformed digests refuse to start anywhere
        client_keys = bool(self.secret("proxy_api_key") or digests)
        env_accounts = bool(self.env_tokens())
        if self.secret("kiro_refresh_tokens") and not env_accounts:
            raise ConfigError("KIRO_REFRESH_TOKENS is set but holds no token")
        if self.kiro_env == "production":
            if env_accounts and not client_keys:
                name = "KIRO_REFRESH_TOKEN" if self.secret("kiro_refresh_token") else "KIRO_REFRESH_TOKENS"
                raise ConfigError(
                    f"{name} is set but no client key: anyone reaching this gateway would spend "
                    "the account; set PROXY_API_KEY (or PROXY_API_KEYS_SHA256)"
                )
            if not (self.secret("internal_api_key") or client_keys):
                raise ConfigError(
                    "the gateway needs INTERNAL_API_KEY (behind the router) or PROXY_API_KEY / "
                    "PROXY_API_KEYS_SHA256 (standalone clients)"
                )
        if self.kiro_auth_kind == "external_idp" and env_accounts:
            raise ConfigError("standalone mode refreshes social and idc tokens only (KIRO_AUTH_KIND)")
