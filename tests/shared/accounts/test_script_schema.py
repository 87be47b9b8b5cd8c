"""The Lua scripts and Python share one schema: field, state and counter names, and named arguments."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from shared.accounts import scripts
from shared.accounts.columns import SCRIPT_COLUMNS
from shared.accounts.model import Account, AccountState
from shared.accounts.schema import Counter, bind_names, lua_names
from shared.accounts.scripts import argv, signature
from shared.clientkey_record import ClientKey

SCRIPTS = sorted(p.stem for p in Path(scripts.__file__).with_name("scripts").glob("*.lua"))
#: scripts that only slice their KEYS/ARGV between parts that name their own arguments
COMPOSED = {"admit_pick", "settle"}
NAMES = {
    "F": {f.name for f in fields(Account)} | set(SCRIPT_COLUMNS),
    "K": {f.name for f in fields(ClientKey)},
    "S": {s.value for s in AccountState},
    "C": {c.value for c in Counter},
}
SCHEMA_WORDS = NAMES["F"] | NAMES["K"] | NAMES["S"] | NAMES["C"]


def body(name: str) -> str:
    """The script as written, comments left out."""
    return "\n".join(line.split("--")[0] for line in scripts._raw(name).splitlines())


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_shared_name_a_script_uses_exists_in_python(name: str) -> None:
    used = re.findall(r"\b([FKSC])\.([a-z_]+)", body(name))
    unknown = [f"{table}.{word}" for table, word in used if word not in NAMES[table]]
    assert unknown == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_script_spells_a_field_state_or_counter_as_a_literal_in_a_redis_call(name: str) -> None:
    text = body(name)
    compared = re.findall(r"[=~]= '([a-z_]+)'", text)
    in_calls = [
        w for line in text.splitlines() if "redis.call(" in line for w in re.findall(r"'([a-z_]+)'", line)
    ]
    assert [w for w in compared + in_calls if w in SCHEMA_WORDS] == []


@pytest.mark.parametrize("name", sorted(set(SCRIPTS) - COMPOSED))
def test_a_script_with_more_than_three_arguments_names_them_and_uses_every_name(name: str) -> None:
    text = body(name)
    positional = [int(n) for n in re.findall(r"ARGV\[(\d+)\]", text)]
    assert max(positional, default=0) <= 3, "name the arguments with a `--! ARGV:` line"
    sig = signature(name)
    for arg in (*sig.names, *([sig.rest] if sig.rest else [])):
        assert re.search(rf"\b{arg}\b", text), f"{name}.lua declares `{arg}` but never uses it"


def test_argv_orders_by_the_declaration_and_refuses_a_slip() -> None:
    sig = signature("report")
    values = {n: i for i, n in enumerate(sig.names)}
    assert argv("report", **dict(reversed(values.items()))) == list(range(len(sig.names)))
    with pytest.raises(TypeError, match=r"missing \['after'\]"):
        argv("report", **{n: 0 for n in sig.names if n != "after"})
    with pytest.raises(TypeError, match=r"unknown \['jitter_ratio'\]"):
        argv("report", **values, jitter_ratio=0.1)
    assert argv("pick", **{n: "x" for n in signature("pick").names}, tried=["a", "b"])[-2:] == ["a", "b"]


def test_the_loader_binds_every_name_and_refuses_an_unknown_one() -> None:
    assert lua_names() == NAMES
    assert bind_names("redis.call('HSET', KEYS[1], F.state, S.cooldown, C.requests, K.rpm)") == (
        "redis.call('HSET', KEYS[1], 'state', 'cooldown', 'requests', 'rpm')"
    )
    with pytest.raises(ValueError, match=r"F\.sate"):
        bind_names("redis.call('HGET', KEYS[1], F.sate)")


@pytest.mark.parametrize("name", SCRIPTS)
def test_what_redis_gets_has_no_schema_name_left(name: str) -> None:
    assert not re.search(r"\b[FKSC]\.[a-z_]+", bind_names(scripts.source(name)))
