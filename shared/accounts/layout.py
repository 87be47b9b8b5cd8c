"""Moves stored data from the one-slot layout to the current one, once, at start.

Until this layout, an account's pick state was in its record, the pool and accounts set had no hash tag,
and client keys, the request log, the admin's password and sessions and device logins sat beside them.
Now the pick state is in the columns under the pick's tag (`shared.accounts.columns`), and the others
moved under that tag too (`shared/keys.py`). The admin sign-in limiter's counters are not moved: they
expire within minutes. Every process that reads or writes them runs `ensure_layout` first. It is:
- **idempotent**: each step can run again after a crash half-way (an account's columns are written in one
  command, and not written again once there; a key copied again replaces nothing newer);
- **one at a time**: under a lock, while the others wait for the layout mark;
- **lossless**: the old keys are copied, never changed, and only expire `LEGACY_GRACE_SECONDS` later.
  Leases, governor times and conversations' sticky accounts are not copied: they expire on their own
  within minutes and only cost a fresh pick.

During a rolling upgrade, replicas of the former version go on serving from the old keys until they
expire; what they change meanwhile (an account's state, a client key's usage) is not carried over.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable
from typing import Any, cast

from redis.exceptions import ResponseError

from shared.accounts import columns
from shared.accounts.scripts import register
from shared.errors import ConfigError
from shared.keys import Keys, match_prefix
from shared.logging import log_fields
from shared.redis_topology import StackRedis

log = logging.getLogger("kiro.layout")

#: the layout this code reads and writes (the value of `Keys.layout()`)
LAYOUT_VERSION = "2"
#: how long the mover may hold its lock before another process may take over
LOCK_MS = 120_000
#: how long the old layout's keys stay after the move, for replicas of the former version still running
LEGACY_GRACE_SECONDS = 3600


async def ensure_layout(client: StackRedis, keys: Keys, *, wait: float = 60.0) -> bool:
    """Move stored data to the current layout unless that was done; True when this call moved it.

    Waits up to `wait` seconds while another process moves it; `ConfigError` when it takes longer.
    """
    if await client.get(keys.layout()) == LAYOUT_VERSION:
        return False
    owner = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    while not await client.set(keys.layout_lock(), owner, nx=True, px=LOCK_MS):
        if await client.get(keys.layout()) == LAYOUT_VERSION:
            return False
        if time.monotonic() > deadline:
            raise ConfigError(
                f"Redis data is being moved to the current key layout by another process (lock "
                f"{keys.layout_lock()!r}) for over {wait:.0f} s; start again once it is done"
            )
        await asyncio.sleep(0.2)
    try:
        if await client.get(keys.layout()) == LAYOUT_VERSION:
            return False
        moved = await _move(client, keys)
        await client.set(keys.layout(), LAYOUT_VERSION)
        if any(moved.values()):
            log.warning("redis data moved to the current key layout", extra=log_fields(**moved))
        return True
    finally:
        await register(client, "release_lock")(keys=[keys.layout_lock()], args=[owner])


async def _move(client: StackRedis, keys: Keys) -> dict[str, int]:
    ids = sorted(await cast(Awaitable[set[str]], client.smembers(keys.legacy_accounts())))
    for account_id in ids:
        await _move_account(client, keys, account_id)
    moved_keys = 0
    for prefix in keys.legacy_moved_prefixes():
        for name in [key async for key in client.scan_iter(match=match_prefix(prefix), count=500)]:
            moved_keys += await _copy_key(client, name, keys.pick_prefix + name[len(keys.prefix) :])
    moved_keys += await _copy_key(client, keys.legacy_request_log(), keys.request_log())
    moved_keys += await _copy_key(client, keys.legacy_admin(), keys.admin())
    for name in (keys.legacy_pool(), keys.legacy_pool_weights(), keys.legacy_accounts()):
        await _retire(client, name)
    return {"accounts": len(ids), "keys": moved_keys}


async def _retire(client: StackRedis, name: str) -> None:
    """Let an old key expire after the grace (sooner if it expires sooner by itself)."""
    await client.expire(name, LEGACY_GRACE_SECONDS, lt=True)


async def _move_account(client: StackRedis, keys: Keys, account_id: str) -> None:
    record = await cast(Awaitable[dict[str, str]], client.hgetall(keys.account(account_id)))
    _, state = columns.stored(record)
    state["errors_in_row"] = record.get("errors_in_row", "0")
    table = keys.account_columns()
    # every writer of an account's columns writes `token_version` (the move, creation, token writes)
    done = await cast(Awaitable[bool], client.hexists(table, columns.column("token_version", account_id)))
    if record and not done:
        await cast(Awaitable[int], client.hset(table, mapping=columns.fields(account_id, state)))
    await cast(Awaitable[int], client.sadd(keys.accounts(), account_id))
    score = await client.zscore(keys.legacy_pool(), account_id)
    if score is not None:
        await client.zadd(keys.pool(), {account_id: score}, nx=True)
    # the record keeps its copy of the state, for replicas of the former version; readers take the columns


async def _copy_key(client: StackRedis, old: str, new: str) -> int:
    """Copy `old` to `new` (with its expiry; a set is merged into one already at `new`), then let `old`
    expire after the grace."""
    dumped: Any = await client.dump(old)
    if dumped is None:
        return 0
    ttl = await client.pttl(old)
    try:
        await client.restore(new, max(0, ttl), dumped)
    except ResponseError as exc:
        if "BUSYKEY" not in str(exc):
            raise
        if await client.type(new) == "set":
            members = await cast(Awaitable[set[str]], client.smembers(old))
            if members:
                await cast(Awaitable[int], client.sadd(new, *members))
        # any other key already at `new` was written by the current layout: it is the newer one
    await _retire(client, old)
    return 1
