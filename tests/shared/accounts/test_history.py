"""An account's failure and refresh history: newest first, capped, gone with the account."""

from __future__ import annotations

import redis.asyncio as aioredis

from shared.accounts import history
from shared.accounts.history import HISTORY_LENGTH, Failure, Refresh, RefreshTrigger
from shared.accounts.model import Account
from shared.accounts.store import AccountStore
from shared.errors import FailureKind
from shared.keys import Keys


async def test_history_keeps_the_newest_entries_with_short_reasons(redis: aioredis.Redis, keys: Keys) -> None:
    for n in range(HISTORY_LENGTH + 5):
        await history.record(
            redis, keys, "a1", Failure(FailureKind.THROTTLED, f"slow down {n} " + "x" * 500, "router")
        )
    await history.record(redis, keys, "a1", Refresh("ok", RefreshTrigger.SCHEDULED))

    events = await history.load(redis, keys, "a1")
    assert len(events["errors"]) == HISTORY_LENGTH
    assert events["errors"][0]["reason"].startswith(f"slow down {HISTORY_LENGTH + 4} ")
    assert len(events["errors"][0]["reason"]) == history.REASON_CHARS
    assert events["errors"][-1]["reason"].startswith("slow down 5 ")
    assert [(e["outcome"], e["trigger"]) for e in events["refreshes"]] == [("ok", "scheduled")]
    assert 0 < await redis.ttl(keys.account_errors("a1")) <= history.HISTORY_TTL_SECONDS


async def test_deleting_an_account_deletes_its_history(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await store.create(Account(id="a1"))
    await history.record(
        redis,
        keys,
        "a1",
        Failure(FailureKind.UPSTREAM_ERROR, "boom", "router"),
        Refresh("ok", RefreshTrigger.FORCED),
    )

    assert await store.delete("a1")

    assert await history.load(redis, keys, "a1") == {"errors": [], "refreshes": []}
    assert not await redis.exists(keys.account_errors("a1"), keys.account_refreshes("a1"))
