"""Per-account history: its last failures and token refreshes, in small capped Redis lists.

The router writes a failure where it applies one (`apply_failure`), the refresher each refresh it
attempts; the admin API's account detail reads both. An entry is JSON with a time, a word from the
failure vocabulary (`FailureKind`) and a short reason in Kiro's (or the auth host's) words: never a
token or another secret. The lists carry the account's hash tag, so deleting the account deletes them.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from shared.errors import FailureKind
from shared.keys import Keys
from shared.logging import log_fields
from shared.redis_topology import StackRedis

log = logging.getLogger(__name__)

#: entries kept per list; a list whose account stops failing (or was deleted meanwhile) expires after
HISTORY_LENGTH = 50
HISTORY_TTL_SECONDS = 30 * 86400
REASON_CHARS = 200


class RefreshTrigger(enum.StrEnum):
    """Why the refresher refreshed an account's token."""

    SCHEDULED = "scheduled"  # the periodic run: the token expires before the next one
    FORCED = "forced"  # Kiro rejected the token, or an operator asked
    ON_DEMAND = "on_demand"  # a job without force: the router found no usable account, a retry, a check


@dataclass(frozen=True)
class Failure:
    """An account-level failure: Kiro's verdict on a call (`source` router) or on a refresh (refresher)."""

    kind: FailureKind
    reason: str
    source: str


@dataclass(frozen=True)
class Refresh:
    """One refresh attempt: `ok`, or the `FailureKind` of its failure with the reason."""

    outcome: str
    trigger: RefreshTrigger
    reason: str = ""


async def record(client: StackRedis, keys: Keys, account_id: str, *events: Failure | Refresh) -> None:
    """Add `events` to the account's lists in one round trip.

    History only explains what the pool already did: a Redis error loses the entries (logged), it never
    fails the caller's work.
    """
    now = round(time.time(), 3)
    pipe = client.pipeline(transaction=False)
    for event in events:
        if isinstance(event, Failure):
            key = keys.account_errors(account_id)
            entry: dict[str, Any] = {"at": now, "kind": event.kind.value, "source": event.source}
        else:
            key = keys.account_refreshes(account_id)
            entry = {"at": now, "outcome": event.outcome, "trigger": event.trigger.value}
        entry["reason"] = event.reason[:REASON_CHARS]
        pipe.lpush(key, orjson.dumps(entry))
        pipe.ltrim(key, 0, HISTORY_LENGTH - 1)
        pipe.expire(key, HISTORY_TTL_SECONDS)
    try:
        await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("account history not written", extra=log_fields(account=account_id, error=repr(exc)))


async def load(client: StackRedis, keys: Keys, account_id: str) -> dict[str, list[dict[str, Any]]]:
    """The account's `errors` and `refreshes`, newest first."""
    pipe = client.pipeline(transaction=False)
    pipe.lrange(keys.account_errors(account_id), 0, HISTORY_LENGTH - 1)
    pipe.lrange(keys.account_refreshes(account_id), 0, HISTORY_LENGTH - 1)
    errors, refreshes = await pipe.execute()
    return {"errors": _entries(errors), "refreshes": _entries(refreshes)}


def _entries(rows: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in rows:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
