"""Account state transitions (active, cooldown, exhausted, disabled, needs re-login), one Lua script each.

Every writer (router on failures, refresher on refresh results, admin API) goes through here so the
account's state (its columns, `shared.accounts.columns`) and the pool sorted set never disagree.
"""

from __future__ import annotations

import orjson

from shared.accounts.model import AccountState
from shared.accounts.scripts import argv, register
from shared.keys import Keys
from shared.redis_topology import StackRedis

#: the cooldown of an account whose access token Kiro rejected; a stored new token ends it
INVALID_TOKEN_REASON = "invalid token; refreshing"


class AccountStates:
    """State writer bound to one Redis client and key prefix."""

    def __init__(self, client: StackRedis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._set_state = register(client, "set_state")
        self._end_cooldown = register(client, "end_cooldown")

    async def set(
        self,
        account_id: str,
        state: AccountState,
        reason: str = "",
        until: float = 0.0,
        *,
        reset_failures: bool = False,
        notify: bool = True,
    ) -> bool:
        """Move the account to `state`; returns False when the account does not exist."""
        done = await self._set_state(
            keys=[self._keys.account_columns(), self._keys.pool(), self._keys.accounts()],
            args=argv(
                "set_state",
                id=account_id,
                state=state.value,
                reason=reason,
                until_ts=until,
                reset="1" if reset_failures else "0",
            ),
        )
        if done and notify:
            await self.notify(account_id, "account_changed")
        return bool(done)

    async def activate(self, account_id: str) -> bool:
        return await self.set(account_id, AccountState.ACTIVE, reset_failures=True)

    async def cool_down(self, account_id: str, until: float, reason: str) -> bool:
        return await self.set(account_id, AccountState.COOLDOWN, reason, until)

    async def end_cooldown(self, account_id: str, reason: str) -> bool:
        """Back into rotation now if it is cooling down for `reason` (and only then); True when it was."""
        ended = await self._end_cooldown(
            keys=[self._keys.account_columns(), self._keys.pool()], args=[account_id, reason]
        )
        if ended:
            await self.notify(account_id, "account_changed")
        return bool(ended)

    async def exhaust(self, account_id: str, until: float, reason: str = "quota exhausted") -> bool:
        return await self.set(account_id, AccountState.EXHAUSTED, reason, until)

    async def disable(self, account_id: str, reason: str) -> bool:
        return await self.set(account_id, AccountState.DISABLED, reason)

    async def needs_relogin(self, account_id: str, reason: str) -> bool:
        return await self.set(account_id, AccountState.NEEDS_RELOGIN, reason)

    async def notify(self, account_id: str, kind: str) -> None:
        """Publish a change notice so every process drops its cached view of the account."""
        await self._client.publish(
            self._keys.events(), orjson.dumps({"type": kind, "account_id": account_id})
        )
