"""Token writes (refresher only): compare-and-set on `token_version`, and the per-account refresh lock.

A refresher reads the account (and its `token_version`) inside the lock, calls the auth endpoint, and
writes the result with `write()`. If anyone wrote tokens in between — a worker whose lock had expired
while it was paused, say — the version no longer matches and the stale result is dropped.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from shared.accounts.scripts import argv, register
from shared.crypto import SecretBox
from shared.keys import Keys
from shared.redis_topology import StackRedis


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a compare-and-set: `written`, the version now stored (-1 = account deleted)."""

    written: bool
    version: int


class TokenStore:
    """Writes tokens with compare-and-set and holds per-account refresh locks."""

    def __init__(self, client: StackRedis, keys: Keys, box: SecretBox) -> None:
        self._client = client
        self._keys = keys
        self._box = box
        self._write = register(client, "write_tokens")
        self._token_column = register(client, "token_column")
        self._release = register(client, "release_lock")
        self._extend = register(client, "extend_lock")

    async def write(
        self,
        account_id: str,
        *,
        expected_version: int,
        access_token: str,
        access_expires_at: float,
        rotated_refresh_token: str | None = None,
        profile_arn: str = "",
    ) -> WriteResult:
        """Store a new access token (and the rotated refresh token) if `token_version` is unchanged.

        Then the pick learns the new expiry (`token_column.lua`, under the pick's tag). Should that second
        call be lost, the pick goes on seeing the old expiry: the account reads as having no usable token
        and is refreshed again, so nothing stays wrong.
        """
        expires = repr(float(access_expires_at))
        written, version = await self._write(
            keys=[self._keys.account(account_id)],
            args=argv(
                "write_tokens",
                expected=expected_version,
                access_token_enc=self._box.encrypt(access_token),
                access_expires_at=expires,
                refresh_token_enc=self._box.encrypt(rotated_refresh_token) if rotated_refresh_token else "",
                profile_arn=profile_arn,
            ),
        )
        if written:
            await self._token_column(
                keys=[self._keys.account_columns(), self._keys.accounts()],
                args=argv("token_column", id=account_id, version=int(version), token_until=expires),
            )
        return WriteResult(bool(written), int(version))

    async def acquire_lock(self, account_id: str, ttl_ms: int) -> str | None:
        """Take the account's refresh lock for `ttl_ms`; returns the owner token, None when taken.

        The owner token names host and pid so an operator (or a test) can see who holds it.
        """
        owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        taken = await self._client.set(self._keys.account_refresh_lock(account_id), owner, nx=True, px=ttl_ms)
        return owner if taken else None

    async def release_lock(self, account_id: str, owner: str) -> bool:
        """Release the lock if we still own it; False when it expired (and maybe someone else holds it)."""
        released = await self._release(keys=[self._keys.account_refresh_lock(account_id)], args=[owner])
        return bool(released)

    async def extend_lock(self, account_id: str, owner: str, ttl_ms: int) -> bool:
        """Renew the lock for another `ttl_ms` if we still own it; False when it lapsed meanwhile."""
        lock = self._keys.account_refresh_lock(account_id)
        extended = await self._extend(keys=[lock], args=[owner, ttl_ms])
        return bool(extended)

    async def lock_owner(self, account_id: str) -> str | None:
        """Who holds the refresh lock right now (None when free)."""
        owner: str | None = await self._client.get(self._keys.account_refresh_lock(account_id))
        return owner
