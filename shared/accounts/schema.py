"""The names the Lua scripts share with Python, defined here once and generated into every script.

A script writes `F.state` (account hash fields), `K.rpm` (client key record fields), `S.cooldown` (account
states) or `C.requests` (stats counters), never the literal; the loader replaces each with its string
before the script reaches Redis (so it costs nothing per call) and refuses a name Python does not
define. `tests/shared/accounts/test_script_schema.py` checks every script without loading it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import fields
from functools import cache
from typing import Final

from shared.accounts.columns import SCRIPT_COLUMNS
from shared.accounts.model import Account, AccountState
from shared.clientkey_record import ClientKey


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


@cache
def lua_names() -> dict[str, frozenset[str]]:
    """The names each schema table (`F`, `K`, `S`, `C`) offers the scripts."""
    return {
        "F": frozenset([f.name for f in fields(Account)] + list(SCRIPT_COLUMNS)),
        "K": frozenset(f.name for f in fields(ClientKey)),
        "S": frozenset(s.value for s in AccountState),
        "C": frozenset(c.value for c in Counter),
    }


_NAME = re.compile(r"\b([FKSC])\.([a-z_]+)\b")


def bind_names(lua: str) -> str:
    """`lua` with every `F.x`, `K.x`, `S.x` and `C.x` replaced by `'x'`; ValueError for an unknown name."""
    names = lua_names()

    def literal(match: re.Match[str]) -> str:
        table, word = match.groups()
        if word not in names[table]:
            raise ValueError(f"a script uses {table}.{word}, which shared/accounts/schema.py does not define")
        return f"'{word}'"

    return _NAME.sub(literal, lua)
