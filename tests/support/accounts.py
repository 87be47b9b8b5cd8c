"""Accounts written and read straight in Redis, the way the stack stores them: the record under the
account's tag, its pick state in the columns under the pick's tag (`shared.accounts.columns`)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import cast

from shared.accounts import columns
from shared.accounts.model import Account
from shared.keys import Keys
from shared.redis_topology import StackRedis


async def put_account(client: StackRedis, keys: Keys, account: Account | Mapping[str, str]) -> None:
    """Store `account` (or raw stored fields, `id` among them) as it is, replacing what was stored."""
    values = account.to_redis() if isinstance(account, Account) else dict(account)
    account_id = values["id"]
    record, state = columns.stored(values)
    if record:
        await cast(Awaitable[int], client.hset(keys.account(account_id), mapping=record))
    await cast(Awaitable[int], client.hset(keys.account_columns(), mapping=columns.fields(account_id, state)))
    await cast(Awaitable[int], client.sadd(keys.accounts(), account_id))


async def column_of(client: StackRedis, keys: Keys, account_id: str, name: str) -> str | None:
    """One pick-state column of one account (`state`, `failures`, `weight`, ...) as stored."""
    return await cast(
        Awaitable[str | None], client.hget(keys.account_columns(), columns.column(name, account_id))
    )


async def columns_of(client: StackRedis, keys: Keys, account_id: str, *names: str) -> list[str | None]:
    """Pick-state columns of one account, in order."""
    fields = columns.columns_of(account_id, names)
    return await cast(Awaitable[list[str | None]], client.hmget(keys.account_columns(), fields))


async def set_columns(client: StackRedis, keys: Keys, account_id: str, values: Mapping[str, object]) -> None:
    """Write pick-state columns of one account straight into Redis (a test's shortcut)."""
    await cast(
        Awaitable[int], client.hset(keys.account_columns(), mapping=columns.fields(account_id, values))
    )
