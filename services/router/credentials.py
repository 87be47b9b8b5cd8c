"""Per-process cache of the credentials a gateway call needs, dropped on change notices."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

from shared import contract
from shared.accounts.model import Account
from shared.accounts.store import plain_proxy_url
from shared.crypto import SecretBox, SecretDecryptError
from shared.keys import Keys
from shared.logging import log_fields
from shared.redis_topology import StackRedis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """What the router sends to a gateway in `X-Kiro-*` headers for one account."""

    account_id: str
    access_token: str
    expires_at: float
    region: str
    profile_arn: str
    auth_kind: str
    machine_id: str
    proxy_url: str

    def headers(self) -> dict[str, str]:
        out = {
            contract.ACCESS_TOKEN: self.access_token,
            contract.ACCOUNT_ID: self.account_id,
            contract.AUTH_KIND: self.auth_kind,
        }
        for name, value in (
            (contract.REGION, self.region),
            (contract.PROFILE_ARN, self.profile_arn),
            (contract.MACHINE_ID, self.machine_id),
            (contract.PROXY_URL, self.proxy_url),
        ):
            if value:
                out[name] = value
        return out


class CredentialCache:
    """Decrypted account credentials, kept until the token nears expiry or a notice says they changed."""

    def __init__(self, client: StackRedis, keys: Keys, box: SecretBox, margin_seconds: float) -> None:
        self._client = client
        self._keys = keys
        self._box = box
        self._margin = margin_seconds
        self._cache: dict[str, Credentials] = {}

    def drop(self, account_id: str | None = None) -> None:
        """Forget one account (or all when `account_id` is None)."""
        if account_id is None:
            self._cache.clear()
        else:
            self._cache.pop(account_id, None)

    async def get(self, account_id: str) -> Credentials | None:
        """The account's credentials, or None when it is gone or its token cannot be used."""
        cached = self._cache.get(account_id)
        if cached is not None and cached.expires_at > time.time() + self._margin:
            return cached
        raw = await cast(Awaitable[dict[str, str]], self._client.hgetall(self._keys.account(account_id)))
        if not raw:
            self._cache.pop(account_id, None)
            return None
        try:
            account = Account.from_redis(raw)
            token = self._box.decrypt(account.access_token_enc)
            proxy_url = plain_proxy_url(account, self._box)
        except (ValueError, SecretDecryptError) as exc:
            log.error("account credentials unusable", extra=log_fields(account=account_id, error=str(exc)))
            return None
        creds = Credentials(
            account_id=account.id,
            access_token=token,
            expires_at=account.access_expires_at,
            region=account.api_region,
            profile_arn=account.profile_arn,
            auth_kind=account.auth_kind.value,
            machine_id=account.machine_id,
            proxy_url=proxy_url,
        )
        self._cache[account_id] = creds
        return creds
