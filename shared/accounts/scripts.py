"""Loads the Lua scripts of `scripts/` once per Redis client (EVALSHA with automatic reload).

A script with more than a few arguments names them in one header line, and both sides are built from it:

    --! ARGV: account_id reason min_wait:n ...tried

The script gets `local account_id, reason, min_wait = ARGV[1], ARGV[2], tonumber(ARGV[3])` (`:n` = a number)
and `local tried = {ARGV[4], ...}` for a trailing `...name`; Python builds the ARGV list with
`argv("report", account_id=..., reason=..., min_wait=...)`, which refuses a missing or unknown name. So the
order lives in one place and a slip fails at once. Scripts name fields, states and counters through
`shared/accounts/schema.py` (`F.state`, `S.cooldown`, `C.requests`, ...), bound when the script is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NoReturn

from redis.commands.core import AsyncScript

from shared.accounts.schema import bind_names
from shared.redis_topology import StackRedis

_DIR = Path(__file__).with_name("scripts")
_DECLARATION = re.compile(r"^--! ARGV:(.*)$", re.M)

Arg = str | int | float


@dataclass(frozen=True, slots=True)
class Signature:
    """The named ARGV of one script: names in order, which are numbers, and the trailing list (if any)."""

    names: tuple[str, ...]
    numbers: frozenset[str]
    rest: str | None

    def lua(self) -> str:
        """Lua locals for the named arguments."""
        if not self.names and not self.rest:
            return ""
        values = [
            f"tonumber(ARGV[{i}])" if n in self.numbers else f"ARGV[{i}]" for i, n in enumerate(self.names, 1)
        ]
        out = f"local {', '.join(self.names)} = {', '.join(values)}\n" if self.names else ""
        if self.rest:
            out += f"local {self.rest} = {{unpack(ARGV, {len(self.names) + 1})}}\n"
        return out


@cache
def signature(name: str) -> Signature:
    found = _DECLARATION.findall(_raw(name))
    if len(found) > 1:
        raise ValueError(f"{name}.lua declares its ARGV twice")
    names: list[str] = []
    numbers: set[str] = set()
    rest = None
    for token in found[0].split() if found else []:
        if rest is not None:
            raise ValueError(f"{name}.lua: `...{rest}` must be the last argument")
        if token.startswith("..."):
            rest = token[3:]
            continue
        arg, _, kind = token.partition(":")
        names.append(arg)
        if kind == "n":
            numbers.add(arg)
        elif kind:
            raise ValueError(f"{name}.lua: unknown argument kind {kind!r} of {arg}")
    if len(set(names)) != len(names):
        raise ValueError(f"{name}.lua names an argument twice")
    return Signature(tuple(names), frozenset(numbers), rest)


def argv(script: str, **values: Arg | Sequence[Arg]) -> list[Arg]:
    """The ARGV of `script` from its argument names (see the module docstring).

    Runs several times per proxied request: the common path is one list comprehension and a length check.
    """
    sig = signature(script)
    try:
        out: list[Arg] = [values[name] for name in sig.names]  # type: ignore[misc]
    except KeyError:
        out = []
    rest = values.get(sig.rest, ()) if sig.rest else ()
    expected = len(sig.names) + (1 if sig.rest and sig.rest in values else 0)
    if len(out) != len(sig.names) or len(values) != expected or isinstance(rest, str | int | float):
        _refuse(script, sig, values)
    out.extend(rest)
    return out


def _refuse(script: str, sig: Signature, values: dict[str, Arg | Sequence[Arg]]) -> NoReturn:
    given = set(values)
    wanted = set(sig.names) | ({sig.rest} if sig.rest else set())
    missing, unknown = sorted(set(sig.names) - given), sorted(given - wanted)
    if not missing and not unknown:
        raise TypeError(f"{script}.lua: `{sig.rest}` is a list")
    raise TypeError(f"{script}.lua takes {sorted(wanted)}; missing {missing}, unknown {unknown}")


@cache
def _raw(name: str) -> str:
    return (_DIR / f"{name}.lua").read_text()


#: `col(name, id)`: the field of one account's column in the columns hash (`shared.accounts.columns`)
_COL = "local function col(name, id) return name .. ':' .. id end\n"


@cache
def source(name: str) -> str:
    """The script body with its named arguments bound (no shared names: see `with_schema`)."""
    raw = _raw(name)
    return signature(name).lua() + (_COL if "col(" in raw else "") + raw


def with_schema(lua: str) -> str:
    """The script as Redis gets it: schema names bound to their strings."""
    return bind_names(lua)


def register(client: StackRedis, name: str) -> AsyncScript:
    """An `AsyncScript` for `scripts/<name>.lua` bound to `client`."""
    return AsyncScript(client, with_schema(source(name)))  # type: ignore[arg-type]  # a Cluster runs it too
