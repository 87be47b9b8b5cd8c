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

from shared.accounts.model import AuthKind
from shared.crypto import sha256_hex
from shared.errors import AuthRefreshError, FailureKind
from shared.kiro.answers import json_or_text, parse_token
from shared.kiro.auth import KiroAuth
from shared.logging import log_fields

logger = logging.getLogger(__name__)


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
        auth: KiroAuth,
        post_json: PostJSON,
        *,
        margin_seconds: float,
        machine_id: str,
        on_refresh: Callable[[str], None] | None = None,
    ) -> None:
        self._auth = auth
        self._post_json = post_json
        self._margin = margin_seconds
        self._machine_id = machine_id
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
        # the refresher's requests and its reading of the answer (shared/kiro/auth.py): one implementation
        if account.auth_kind is AuthKind.SOCIAL:
            request = self._auth.social_refresh(
                refresh_token, account.auth_region, account.machine_id or self._machine_id
            )
        elif account.auth_kind is AuthKind.IDC:
            if not account.client_id or not account.client_secret:
                raise AuthRefreshError(
                    FailureKind.INVALID_TOKEN, "IdC refresh needs KIRO_CLIENT_ID and KIRO_CLIENT_SECRET"
                )
            request = self._auth.oidc_refresh(
                account.client_id, account.client_secret, refresh_token, account.auth_region
            )
        else:
            raise AuthRefreshError(
                FailureKind.INVALID_TOKEN, "standalone mode supports social and idc refresh tokens only"
            )
        try:
            status, raw = await self._post_json(request.url, request.json or {}, request.headers, proxy_url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._count("error")
            raise AuthRefreshError(FailureKind.UPSTREAM_ERROR, f"token refresh failed: {exc!r}") from exc
        try:
            tokens = parse_token(status, json_or_text(raw))
        except AuthRefreshError as exc:
            self._count("rejected" if exc.kind is FailureKind.INVALID_TOKEN else "error")
            logger.warning(
                "token refresh refused",
                extra=log_fields(status=status, auth_kind=account.auth_kind, kind=exc.kind.value),
            )
            raise
        self._count("ok")
        return _Token(
            access_token=tokens.access_token,
            expires_at=time.time() + tokens.expires_in,
            refresh_token=tokens.refresh_token or refresh_token,
            profile_arn=tokens.profile_arn or (current.profile_arn if current else None),
        )

    def _count(self, outcome: str) -> None:
        if self._on_refresh is not None:
            self._on_refresh(outcome)
