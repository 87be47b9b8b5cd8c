"""Account check results in Redis: the last one per account (`keys.account_check(id)`, JSON).

The refresher writes them (`services/refresher/check.py` says what a result holds); the admin API and
the CLI read them. A result is deleted with its account (it carries the account's hash tag).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from shared.keys import Keys
from shared.redis_topology import StackRedis


async def save_check(client: StackRedis, keys: Keys, account_id: str, result: dict[str, Any]) -> None:
    """Store `result` as the account's last check."""
    await client.set(keys.account_check(account_id), orjson.dumps(result))


async def load_check(client: StackRedis, keys: Keys, account_id: str) -> dict[str, Any] | None:
    """The account's last check, or None when it was never checked."""
    return _parse(await client.get(keys.account_check(account_id)))


async def load_checks(
    client: StackRedis, keys: Keys, account_ids: Iterable[str]
) -> dict[str, dict[str, Any] | None]:
    """The last check of each account (None: never checked), in one round trip."""
    ids = list(account_ids)
    if not ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for account_id in ids:
        pipe.get(keys.account_check(account_id))
    return {account_id: _parse(raw) for account_id, raw in zip(ids, await pipe.execute(), strict=True)}


def _parse(raw: str | bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
