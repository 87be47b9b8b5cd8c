"""An account's pick state: kept apart from its record, under the pick's hash tag.

A pick, a failure report or a state change reads and writes the state of accounts and the pool's sorted
set in one script, so on a Redis Cluster that state must share the pool's slot, while the rest of the
account (names, encrypted tokens, stats) keeps its own slot (`shared/keys.py`). The state lives in one hash
(`Keys.account_columns()`), one field per account and *column*: `<column>:<account id>` (`state:a1`), so each
script names every key it touches in KEYS, whatever accounts it reads.

Readers see one account: `merge` lays its columns over its record (`AccountStore.get` and `list` do).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, TypeVar

V = TypeVar("V")

#: `Account` fields kept in the columns, never in the record
ACCOUNT_COLUMNS: Final = (
    "enabled",
    "weight",
    "max_concurrency",
    "min_interval_ms",
    "state",
    "state_reason",
    "cooldown_until",
    "exhausted_until",
    "failures",
    "updated_at",
)
#: columns only the scripts write (not `Account` fields)
SCRIPT_COLUMNS: Final = (
    "errors_in_row",  # transient errors in a row (outlier detection)
    "token_until",  # when the stored access token expires (0 = none): the pick skips an account without one
    "token_version",  # the record's token_version that `token_until` was written for
    "inflight",  # leases held (the leases sorted set has their expiry)
    "next_start",  # unix ms before which the governor lets no request start
)
COLUMNS: Final = ACCOUNT_COLUMNS + SCRIPT_COLUMNS
_ACCOUNT_COLUMNS = frozenset(ACCOUNT_COLUMNS)


def column(name: str, account_id: str) -> str:
    """The field of one account's column in the columns hash (the scripts' `col(name, id)`)."""
    return f"{name}:{account_id}"


def columns_of(account_id: str, names: Iterable[str] = COLUMNS) -> list[str]:
    """The fields of `names` of one account, in order."""
    return [column(name, account_id) for name in names]


def fields_of(ids: Iterable[str], names: Sequence[str]) -> list[str]:
    """The fields of `names` of every account of `ids`, account after account: one HMGET reads them all,
    `by_account` cuts its reply."""
    return [column(name, account_id) for account_id in ids for name in names]


def by_account(values: Sequence[V], width: int) -> list[Sequence[V]]:
    """The reply of an HMGET of `fields_of(ids, names)` as each account's values (`width`: len(names))."""
    return [values[start : start + width] for start in range(0, len(values), width)]


def is_column(name: str) -> bool:
    """True for an `Account` field kept in the columns."""
    return name in _ACCOUNT_COLUMNS


def split(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """`values` (account field -> stored string) as (record fields, column fields)."""
    record: dict[str, str] = {}
    columns: dict[str, str] = {}
    for name, value in values.items():
        (columns if name in _ACCOUNT_COLUMNS else record)[name] = value
    return record, columns


def stored(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A whole account (field -> stored string) as it is written: (record fields, columns), the columns
    with the pick's view of its tokens (`token_until`: the access token's expiry, '0' without one) and the
    record's `token_version` that view was taken at."""
    record, state = split(values)
    state["token_until"] = (record.get("access_expires_at") or "0") if record.get("access_token_enc") else "0"
    state["token_version"] = record.get("token_version", "0")
    return record, state


def fields(account_id: str, values: Mapping[str, object]) -> dict[str, str]:
    """Columns of one account (column -> value) as fields of the columns hash."""
    return {column(name, account_id): str(value) for name, value in values.items()}


def _later(one: str, other: str) -> str:
    try:
        return max(one, other, key=float)
    except ValueError:
        return one


def merge(record: Mapping[str, str], values: Iterable[str | None]) -> dict[str, str]:
    """The account as one mapping: the `ACCOUNT_COLUMNS` values (in order, None = absent) over its record.

    `updated_at` is the later of the two: the record's writers and the state's writers both set it.
    """
    out = dict(record)
    for name, value in zip(ACCOUNT_COLUMNS, values, strict=True):
        if value is None:
            continue
        out[name] = _later(value, out[name]) if name == "updated_at" and out.get(name) else value
    return out
