"""Kiro credentials of one request, and the standalone-mode access-token cache.

Pooled mode: the router hands over an access token in `X-Kiro-*` headers. Standalone mode: the gateway
holds refresh tokens itself and refreshes them on demand — once per token until near expiry (never once
per request), one refresh in flight per token (single-flight), rotated refresh tokens followed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import orjson

from shared.accounts.model import AuthKind
from shared.crypto import sha256_hex
from shared.errors import AuthRefreshError, FailureKind
from shared.kiro.endpoints import KiroEndpoints
from shared.logging import log_fields

logger = logging.getLogger(__name__)

DEFAULT_EXPIRES_IN = 3600.0


@dataclass(frozen=True, slots=True)
class KiroCredentials:
    """What one call to Kiro needs to authenticate as one account."""

    access_token: str
    auth_kind: AuthKind = AuthKind.SOCIAL
    account_id: str = ""
    region: str | None = None
    profile_arn: str | None = None
    machine_id: str = ""
    proxy_url: str | None = None
    # standalone only: identifies the refresh token so a rejected access token can be refreshed once
    refresh: StandaloneAccount | None = None


@dataclass(frozen=True, slots=True)
class StandaloneAccount:
    """A refresh token (plus OIDC client for IdC) the gateway refreshes itself."""

    refresh_token: str
    auth_kind: AuthKind = AuthKind.SOCIAL
    client_id: str | None = None
    client_secret: str | None = None
    auth_region: str = "us-east-1"
    profile_arn: str | None = None
    machine_id: str | None = None

    @property
    def cache_key(self) -> str:
        return sha256_hex(f"{self.auth_kind}:{self.client_id or ''}:{self.refresh_token}")


@dataclass(slots=True)
class _Token:
    access_token: str
    expires_at: float
    refresh_token: str  # the current one: rotation replaces the token the client keeps sending
    profile_arn: str | None


#: posts JSON to a URL (through the account's proxy) and returns (status, body)
PostJSON = Callable[[str, dict[str, object], dict[str, str], str | None], Awaitable[tuple[int, bytes]]]


class TokenCache:
    """Access tokens for standalone refresh tokens, keyed by a hash of the refresh token."""

    def __init__(
        self,
        endpoints: KiroEndpoints,
        post_json: PostJSON,
        *,
        margin_seconds: float,
        user_agent: str,
        on_refresh: Callable[[str], None] | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._post_json = post_json
        self._margin = margin_seconds
        self._user_agent = user_agent
        self._on_refresh = on_refresh
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def credentials(
        self, account: StandaloneAccount, *, proxy_url: str | None = None, force: bool = False
    ) -> KiroCredentials:
        """Credentials with a fresh access token; refreshes at most once per expiry (or when forced)."""
        key = account.cache_key
        token = self._tokens.get(key)
        if force or token is None or token.expires_at - self._margin <= time.time():
            stale = token.access_token if token else None
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                token = self._tokens.get(key)
                # another request refreshed while we waited: use its token, forced or not
                needs = token is None or token.expires_at - self._margin <= time.time()
                if needs or (force and token is not None and token.access_token == stale):
                    token = await self._refresh(account, token, proxy_url)
                    self._tokens[key] = token
        assert token is not None
        return KiroCredentials(
            access_token=token.access_token,
            auth_kind=account.auth_kind,
            account_id="standalone-" + key[:12],
            profile_arn=token.profile_arn or account.profile_arn,
            machine_id=account.machine_id or key[:64],
            proxy_url=proxy_url,
            refresh=account,
        )

    async def _refresh(
        self, account: StandaloneAccount, current: _Token | None, proxy_url: str | None
    ) -> _Token:
        refresh_token = current.refresh_token if current else account.refresh_token
        if account.auth_kind is AuthKind.SOCIAL:
            url = self._endpoints.social_refresh(account.auth_region)
            body: dict[str, object] = {"refreshToken": refresh_token}
        elif account.auth_kind is AuthKind.IDC:
            if not account.client_id or not account.client_secret:
                raise AuthRefreshError(
                    FailureKind.INVALID_TOKEN, "IdC refresh needs KIRO_CLIENT_ID and KIRO_CLIENT_SECRET"
                )
            url = self._endpoints.oidc_token(account.auth_region)
            body = {
                "clientId": account.client_id,
                "clientSecret": account.client_secret,
                "refreshToken": refresh_token,
                "grantType": "refresh_token",
            }
        else:
            raise AuthRefreshError(
                FailureKind.INVALID_TOKEN, "standalone mode supports social and idc refresh tokens only"
            )
        try:
            status, raw = await self._post_json(url, body, {"User-Agent": self._user_agent}, proxy_url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._count("error")
            raise AuthRefreshError(FailureKind.UPSTREAM_ERROR, f"token refresh failed: {exc!r}") from exc
        if status != 200:
            self._count("rejected" if status in (400, 401, 403) else "error")
            kind = FailureKind.INVALID_TOKEN if status in (400, 401, 403) else FailureKind.UPSTREAM_ERROR
            logger.warning(
                "token refresh rejected", extra=log_fields(status=status, auth_kind=account.auth_kind)
            )
            raise AuthRefreshError(kind, f"token refresh answered HTTP {status}", status=status)
        try:
            data = orjson.loads(raw)
            access_token = str(data["accessToken"])
            expires_in = float(data.get("expiresIn") or DEFAULT_EXPIRES_IN)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self._count("error")
            raise AuthRefreshError(
                FailureKind.UPSTREAM_ERROR, f"token refresh answer unusable: {exc!r}"
            ) from None
        self._count("ok")
        return _Token(
            access_token=access_token,
            expires_at=time.time() + expires_in,
            refresh_token=str(data.get("refreshToken") or refresh_token),
            profile_arn=data.get("profileArn") or (current.profile_arn if current else None),
        )

    def _count(self, outcome: str) -> None:
        if self._on_refresh is not None:
            self._on_refresh(outcome)
