"""The names the Lua scripts share with Python, defined here once and generated into every script.

Each script runs with four tables in scope: `F` (account hash fields), `K` (client key record fields),
`S` (account states) and `C` (stats counters). A script writes `F.state` or `S.cooldown`, never the
literal: a renamed field or a typo is a nil the script cannot send to Redis, and `tests/shared/accounts/
test_script_schema.py` finds every such name in the scripts before anything runs.
"""

from __future__ import annotations

import enum
from dataclasses import fields
from functools import cache
from typing import Final

from shared.accounts.model import Account, AccountState


class Counter(enum.StrEnum):
    """Fields of the per-day stats hashes (accounts and client keys)."""

    REQUESTS = "requests"
    ERRORS = "errors"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    TOKENS = "tokens"  # client keys: input + output, what the daily token budget counts
    CREDITS = "credits"


ACCOUNT_COUNTERS: Final = (Counter.REQUESTS, Counter.ERRORS, Counter.INPUT_TOKENS, Counter.OUTPUT_TOKENS)
KEY_COUNTERS: Final = (*ACCOUNT_COUNTERS, Counter.TOKENS)

#: account hash fields only the scripts write (never part of `Account`)
SCRIPT_ONLY_ACCOUNT_FIELDS: Final = ("errors_in_row",)  # transient errors in a row (outlier detection)


def _table(name: str, values: list[str]) -> str:
    return f"local {name} = {{" + ", ".join(f"{v}='{v}'" for v in values) + "}\n"


@cache
def lua_preamble() -> str:
    """The `F`, `K`, `S` and `C` tables every script starts with."""
    from shared.clientkeys import ClientKey  # clientkeys runs scripts: imported late, not at module load

    return (
        _table("F", [f.name for f in fields(Account)] + list(SCRIPT_ONLY_ACCOUNT_FIELDS))
        + _table("K", [f.name for f in fields(ClientKey)])
        + _table("S", [s.value for s in AccountState])
        + _table("C", [c.value for c in Counter])
    )
