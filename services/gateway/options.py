"""Who may call, and the per-request context: credentials (`X-Kiro-*`) and runtime options (`X-Kiro-Options`).

A request is trusted when its `X-Internal-Key` matches INTERNAL_API_KEY (constant-time): it comes from our
router, and its `X-Kiro-*` headers are used. Any other request is a standalone client's and is served only
with a valid client key (client_keys.py); it may then use the env account or bring its own
`X-Kiro-Refresh-Token`, never the router's other `X-Kiro-*` headers. Without a valid key: 401.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from starlette.datastructures import Headers

from services.gateway.client_keys import ClientKeys, parse_digests
from services.gateway.credentials import KiroCredentials, StandaloneAccount
from services.gateway.settings import GatewaySettings
from services.gateway.token_pool import TokenPool
from shared import contract, runtime_options
from shared.accounts.model import AuthKind
from shared.crypto import constant_time_equals
from shared.errors import KiroStackError
from shared.http_auth import presented_key
from shared.kiro.endpoint_table import parse_order, parse_origins
from shared.runtime_options import (
    CLAUDE_THINKING_FORMATS,
    THINKING_FORMATS,
    ClaudeThinkingFormat,
    ThinkingFormat,
)


class MissingCredentials(KiroStackError):
    """The request carries no usable Kiro credentials and no standalone account is configured."""


class Caller(enum.Enum):
    """Who a request comes from, as `RequestContextFactory.authenticate` established it."""

    ROUTER = "router"  # valid X-Internal-Key
    CLIENT = "client"  # a standalone client with a valid client key


class Unauthorized(KiroStackError):
    """Neither our router (X-Internal-Key) nor a client with a valid client key (HTTP 401)."""


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Settings the admin panel may change at runtime; defaults come from the gateway settings."""

    thinking_suffix: str
    openai_thinking_format: ThinkingFormat
    default_model: str
    auto_continue: bool
    model_aliases: dict[str, str] = field(default_factory=dict)
    claude_thinking_format: ClaudeThinkingFormat = runtime_options.CLAUDE_THINKING_FORMAT
    #: ENDPOINT_ORDER and ENDPOINT_ORIGINS, already checked (shared/kiro/endpoint_table.py)
    endpoint_order: str = runtime_options.ENDPOINT_ORDER
    endpoint_origins: dict[str, str] = field(default_factory=dict)


class RequestContextFactory:
    """Turns request headers into credentials and options, caching parsed option headers."""

    def __init__(self, settings: GatewaySettings, on_set_aside: Callable[[str], None] | None = None) -> None:
        self._internal_key = settings.secret("internal_api_key")
        self.client_keys = ClientKeys(
            settings.secret("proxy_api_key"), parse_digests(settings.proxy_api_keys_sha256)
        )
        self.defaults = RuntimeOptions(
            thinking_suffix=settings.thinking_suffix,
            openai_thinking_format=settings.openai_thinking_format,
            default_model=settings.default_model,
            auto_continue=settings.auto_continue,
            model_aliases=dict(settings.model_aliases),
            claude_thinking_format=settings.claude_thinking_format,
            endpoint_order=settings.endpoint_order,
            endpoint_origins=dict(settings.endpoint_origins),
        )
        #: the env accounts (KIRO_REFRESH_TOKEN / KIRO_REFRESH_TOKENS); None when there are none
        self.pool = _env_pool(settings, on_set_aside)
        self._options_cache: dict[str, RuntimeOptions] = {}

    def trusted(self, headers: Headers) -> bool:
        """True when the request proves it comes from our router."""
        if not self._internal_key:
            return False
        presented = headers.get("x-internal-key")
        return presented is not None and constant_time_equals(presented, self._internal_key)

    def authenticate(self, headers: Headers) -> Caller:
        """Our router or a client with a valid client key; Unauthorized otherwise.

        Reads headers only, so a caller is refused before a byte of its body is read.
        """
        if self.trusted(headers):
            return Caller.ROUTER
        if not self.client_keys.configured:
            raise Unauthorized(
                "this gateway serves its router only: no client key (PROXY_API_KEY) is configured"
            )
        presented = presented_key(headers)
        if not presented:
            raise Unauthorized("missing client API key: send it as x-api-key or Authorization: Bearer")
        if not self.client_keys.accepts(presented):
            raise Unauthorized("invalid client API key")
        return Caller.CLIENT

    def credentials(
        self, headers: Headers, caller: Caller
    ) -> KiroCredentials | StandaloneAccount | TokenPool:
        """Pooled credentials from the router, else a standalone account to refresh, else the env accounts.

        For both callers a sent `X-Kiro-Refresh-Token` goes before the env accounts.
        """
        if caller is Caller.ROUTER:
            access = headers.get(contract.ACCESS_TOKEN)
            if access:
                return KiroCredentials(
                    access_token=access,
                    auth_kind=_auth_kind(headers),
                    account_id=headers.get(contract.ACCOUNT_ID) or "",
                    region=headers.get(contract.REGION) or None,
                    profile_arn=headers.get(contract.PROFILE_ARN) or None,
                    machine_id=headers.get(contract.MACHINE_ID) or "",
                    proxy_url=headers.get(contract.PROXY_URL) or None,
                )
        refresh = headers.get(contract.REFRESH_TOKEN)
        if refresh:
            return StandaloneAccount(
                refresh_token=refresh,
                auth_kind=_auth_kind(headers),
                client_id=headers.get(contract.CLIENT_ID) or None,
                client_secret=headers.get(contract.CLIENT_SECRET) or None,
                profile_arn=headers.get(contract.PROFILE_ARN) or None,
            )
        if self.pool is not None:
            return self.pool
        raise MissingCredentials(
            "no Kiro credentials: send X-Kiro-Refresh-Token, or configure KIRO_REFRESH_TOKEN(S) "
            "on the gateway"
        )

    def proxy_url(self, headers: Headers, trusted: bool) -> str | None:
        return (headers.get(contract.PROXY_URL) or None) if trusted else None

    def options(self, headers: Headers, trusted: bool) -> RuntimeOptions:
        """The router's `X-Kiro-Options` over the defaults; malformed values fall back to defaults."""
        raw = headers.get(contract.OPTIONS) if trusted else None
        if not raw:
            return self.defaults
        cached = self._options_cache.get(raw)
        if cached is not None:
            return cached
        options = self._parse_options(raw)
        if len(self._options_cache) > 256:
            self._options_cache.clear()
        self._options_cache[raw] = options
        return options

    def _parse_options(self, raw: str) -> RuntimeOptions:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self.defaults
        if not isinstance(data, dict):
            return self.defaults
        d = self.defaults
        fmt = data.get("openai_thinking_format")
        claude = data.get("claude_thinking_format")
        aliases = data.get("model_aliases")
        return RuntimeOptions(
            thinking_suffix=_str(data.get("thinking_suffix"), d.thinking_suffix),
            openai_thinking_format=fmt if fmt in THINKING_FORMATS else d.openai_thinking_format,
            default_model=_str(data.get("default_model"), d.default_model) or d.default_model,
            auto_continue=data["auto_continue"]
            if isinstance(data.get("auto_continue"), bool)
            else d.auto_continue,
            model_aliases=(
                {str(k): str(v) for k, v in aliases.items() if isinstance(v, str)}
                if isinstance(aliases, dict)
                else d.model_aliases
            ),
            claude_thinking_format=claude if claude in CLAUDE_THINKING_FORMATS else d.claude_thinking_format,
            endpoint_order=_order(data.get("endpoint_order"), d.endpoint_order),
            endpoint_origins=_origins(data.get("endpoint_origins"), d.endpoint_origins),
        )


def _env_pool(settings: GatewaySettings, on_set_aside: Callable[[str], None] | None) -> TokenPool | None:
    """The env accounts; KIRO_PROFILE_ARN and KIRO_MACHINE_ID belong to KIRO_REFRESH_TOKEN's account
    (listed tokens learn their profile from the refresh and get a machine id of their own)."""
    tokens = settings.env_tokens()
    if not tokens:
        return None
    single = settings.secret("kiro_refresh_token")
    accounts = [
        (
            StandaloneAccount(
                refresh_token=t.token,
                auth_kind=AuthKind(settings.kiro_auth_kind),
                client_id=settings.kiro_client_id,
                client_secret=settings.secret("kiro_client_secret") or None,
                auth_region=settings.kiro_auth_region,
                profile_arn=settings.kiro_profile_arn if t.token == single else None,
                machine_id=settings.kiro_machine_id if t.token == single else None,
            ),
            t.weight,
        )
        for t in tokens
    ]
    return TokenPool(accounts, cooldown_seconds=settings.token_cooldown_seconds, on_set_aside=on_set_aside)


def _order(value: object, default: str) -> str:
    """The router's endpoint order, or `default` when it sent none or one that is not valid here."""
    try:
        return parse_order(value) if isinstance(value, str) else default
    except ValueError:
        return default


def _origins(value: object, default: dict[str, str]) -> dict[str, str]:
    try:
        return parse_origins(value) if isinstance(value, dict) else default
    except ValueError:
        return default


def _str(value: object, default: str) -> str:
    return value if isinstance(value, str) else default


def _auth_kind(headers: Headers) -> AuthKind:
    """`X-Kiro-Auth-Kind`, social when absent or unknown."""
    kind = headers.get(contract.AUTH_KIND) or "social"
    return AuthKind(kind) if kind in AuthKind.__members__.values() else AuthKind.SOCIAL
