"""The account record as stored in the Redis hash `keys.account(id)`.

Field names in the hash are the dataclass field names. Secrets are stored encrypted (`*_enc` fields,
`SecretBox`), never plain. Only the refresher writes token fields (`refresh_token_enc`,
`prev_refresh_token_enc`, `access_token_enc`, `access_expires_at`, `token_version`), through a
compare-and-set on `token_version`.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from shared.kiro.regions import check_region, profile_arn_region


class AuthKind(enum.StrEnum):
    SOCIAL = "social"  # Kiro desktop login with Google / GitHub (refresh at the social auth host)
    IDC = "idc"  # AWS SSO OIDC: Builder ID or IAM Identity Center (clientId/clientSecret)
    EXTERNAL_IDP = "external_idp"  # enterprise Entra/Okta, refreshed at its own token endpoint


class AccountState(enum.StrEnum):
    ACTIVE = "active"  # in the pool
    COOLDOWN = "cooldown"  # in the pool, usable again at `cooldown_until`
    EXHAUSTED = "exhausted"  # out of quota until `exhausted_until` (pool score = that time)
    DISABLED = "disabled"  # out of the pool: by an admin or for a reason (suspended, ...)
    NEEDS_RELOGIN = "needs_relogin"  # out of the pool: refresh token rejected (invalid_grant)
    INVALID = "invalid"  # out of the pool: the stored record is malformed (`state_reason` says why)
    PENDING = "pending"  # out of the pool: added, waiting for its first access token from the refresher


#: Fields that go into host names: a record with a value that is not an AWS region is malformed.
_REGION_FIELDS = frozenset({"auth_region", "api_region"})

#: States in which an account is a member of the pool sorted set.
#: why a new account is `pending` (out of the pool) until the refresher got its first access token
PENDING_REASON = "waiting for the first token refresh"
POOL_STATES = frozenset({AccountState.ACTIVE, AccountState.COOLDOWN, AccountState.EXHAUSTED})
#: In-pool states that end by themselves at a time (the pool score): `cooldown_until`, `exhausted_until`.
WAITING_STATES = frozenset({AccountState.COOLDOWN, AccountState.EXHAUSTED})


def effective_state(state: AccountState, until: float, now: float) -> AccountState:
    """The state an account is really in: a cooldown or exhaustion whose time has passed is active.

    The stored field only goes back to active at the account's next success (release.lua), which can be
    minutes after the pick started choosing it again (its pool score is in the past).
    """
    return AccountState.ACTIVE if state in WAITING_STATES and until <= now else state


@dataclass
class Account:
    """One Kiro account. Times are unix seconds (float); 0 means "not set"."""

    id: str
    label: str = ""
    auth_kind: AuthKind = AuthKind.SOCIAL
    provider: str = ""  # Google, Github, BuilderId, Enterprise, ...
    auth_region: str = "us-east-1"  # social auth / OIDC region
    api_region: str = ""  # chat API region ('' = from profile ARN or default)
    profile_arn: str = ""
    start_url: str = ""  # IdC start URL
    token_endpoint: str = ""  # external IdP token endpoint
    scopes: str = ""  # external IdP: space-separated OAuth scopes sent with each refresh ('' = none)
    email: str = ""
    machine_id: str = ""  # stable per-account fingerprint for user agents
    # secrets, encrypted with SecretBox
    refresh_token_enc: str = ""
    prev_refresh_token_enc: str = ""  # kept until the new one has been used once
    client_id: str = ""
    client_secret_enc: str = ""
    client_secret_expires_at: float = 0.0
    access_token_enc: str = ""
    access_expires_at: float = 0.0
    token_version: int = 0
    # pool behaviour
    enabled: bool = True
    weight: int = 100
    # per-account outbound proxy ('' = global VPN_PROXY_URL); it may carry user:password, so it is stored
    # encrypted in `proxy_url_enc`. `proxy_url` holds only a plain URL written before that (read as a
    # fallback and encrypted at the next write or router start): read it through `AccountStore.proxy_url`.
    proxy_url_enc: str = ""
    proxy_url: str = ""
    max_concurrency: int = 0  # 0 = the stack default
    min_interval_ms: int = -1  # -1 = the stack default; governor spacing between request starts
    # state
    state: AccountState = AccountState.ACTIVE
    state_reason: str = ""
    cooldown_until: float = 0.0
    exhausted_until: float = 0.0
    failures: int = 0  # consecutive account-level failures (circuit breaker)
    # refresh bookkeeping
    last_refresh_at: float = 0.0
    last_refresh_error: str = ""
    refresh_failures: int = 0
    # usage snapshot (getUsageLimits)
    subscription_title: str = ""
    usage_current: float = 0.0
    usage_limit: float = 0.0
    usage_reset_at: float = 0.0
    usage_updated_at: float = 0.0
    usage_failures: int = 0  # getUsageLimits calls failed in a row (the schedule backs off)
    usage_failed_at: float = 0.0
    # bookkeeping
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    source: str = ""  # how it was added: admin, import:kiro-go, import:env, device-flow, ...

    def to_redis(self) -> dict[str, str]:
        """Flat string mapping for HSET."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if isinstance(value, bool):
                out[key] = "1" if value else "0"
            elif isinstance(value, enum.Enum):
                out[key] = str(value.value)
            else:
                out[key] = str(value)
        return out

    @classmethod
    def from_redis(cls, data: dict[str, str]) -> Account:
        """Parse a stored hash; raises ValueError naming the bad field when the record is malformed."""
        if not data.get("id"):
            raise ValueError("record has no id")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            try:
                kwargs[f.name] = _parse(f.type, raw)
                if f.name in _REGION_FIELDS and raw:
                    check_region(raw, f.name)
                elif f.name == "profile_arn" and raw:
                    profile_arn_region(raw)
            except ValueError as exc:
                raise ValueError(f"field {f.name!r}: {exc}") from exc
        return cls(**kwargs)

    @property
    def has_refresh_token(self) -> bool:
        return bool(self.refresh_token_enc)

    @property
    def waiting_until(self) -> float:
        """When a cooldown or exhaustion ends (its pool score); 0 in any other state."""
        if self.state is AccountState.COOLDOWN:
            return self.cooldown_until
        if self.state is AccountState.EXHAUSTED:
            return self.exhausted_until
        return 0.0

    def effective_state(self, now: float) -> AccountState:
        """The state the account is really in at `now` (`effective_state`)."""
        return effective_state(self.state, self.waiting_until, now)

    def public_view(self, now: float | None = None) -> dict[str, Any]:
        """Everything but secrets (presence flags instead); the admin API adds the masked proxy URL
        (`AccountStore.public_view`).

        `state` is the effective state (`effective_state`): a lapsed cooldown shows as active, with
        `usable_since` (when it lapsed) and no reason; `usable_at` is when a cooldown or exhaustion still
        running ends (None otherwise).
        """
        now = time.time() if now is None else now
        until = self.waiting_until
        state = self.effective_state(now)
        lapsed = state is not self.state
        data = asdict(self)
        for secret in (
            "refresh_token_enc",
            "prev_refresh_token_enc",
            "client_secret_enc",
            "access_token_enc",
            "proxy_url_enc",
            "proxy_url",
        ):
            data.pop(secret)
        data["auth_kind"] = self.auth_kind.value
        data["state"] = state.value
        data["usable_at"] = until if state in WAITING_STATES else None
        data["usable_since"] = until if lapsed and until else None
        if lapsed:
            data["state_reason"] = ""  # what the next success writes (release.lua)
        data["has_refresh_token"] = bool(self.refresh_token_enc)
        data["has_access_token"] = bool(self.access_token_enc)
        data["has_client_secret"] = bool(self.client_secret_enc)
        data["has_proxy_url"] = bool(self.proxy_url_enc or self.proxy_url)
        data["usage_reset_days"] = self.usage_reset_days(now)
        return data

    def usage_reset_days(self, now: float | None = None) -> int | None:
        """Whole days (rounded up) until the quota resets (getUsageLimits' `nextDateReset`); None unknown."""
        if not self.usage_reset_at:
            return None
        left = self.usage_reset_at - (time.time() if now is None else now)
        return max(0, math.ceil(left / 86400))


def mask_proxy_url(url: str) -> str:
    """The proxy URL as the panel shows it: `http://user:****@host:port`, never the password."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "****"  # not parseable: show nothing of it
    if ":" in host:
        host = f"[{host}]"
    if parts.password is not None:
        auth = f"{parts.username or ''}:****@"
    elif parts.username:
        auth = "****@"  # a lone user name is often the credential itself (token proxies)
    else:
        auth = ""
    return f"{parts.scheme}://{auth}{host}{port}"


def _parse(type_name: Any, raw: str) -> Any:
    kind = str(type_name)
    if kind == "bool":
        if raw not in ("0", "1", "true", "false", "True", "False"):
            raise ValueError(f"not a boolean: {raw!r}")
        return raw in ("1", "true", "True")
    if kind == "int":
        return int(float(raw)) if raw else 0
    if kind == "float":
        return float(raw) if raw else 0.0
    if kind == "AuthKind":
        return AuthKind(raw)
    if kind == "AccountState":
        return AccountState(raw)
    return raw
