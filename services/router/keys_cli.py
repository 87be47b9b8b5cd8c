"""`python -m services.router keys list|create|set|delete`: client keys from the command line.

Talks to Redis with the router's own settings (REDIS_URL, REDIS_KEY_PREFIX). The plain key is printed once,
by `create`; nothing else ever shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

from services.router.settings import RouterSettings
from shared.clientkey_record import ClientKey
from shared.clientkeys import ClientKeys
from shared.errors import KiroStackError
from shared.keys import Keys
from shared.redis import command_line_redis


def _expiry(value: str) -> int:
    """argparse type: `never`/0, unix seconds, or a UTC date `YYYY-MM-DD[THH:MM]`."""
    if value in ("0", "never"):
        return 0
    if value.isdigit():
        return int(value)
    for layout in ("%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(value, layout))
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{value!r} is not unix seconds nor a UTC date like 2027-01-31T18:00")


def _count(value: str) -> int:
    """argparse type: a whole number >= 0 (0 = unlimited)."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return int(value)


def _models(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def _limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=_models, help="allowed models, comma separated ('' = all)")
    parser.add_argument("--rpm", type=_count, help="requests per minute, 0 = unlimited")
    parser.add_argument("--daily-tokens", type=_count, help="tokens per UTC day, 0 = unlimited")
    parser.add_argument("--max-concurrency", type=_count, help="requests in flight at once, 0 = unlimited")
    parser.add_argument("--monthly-credits", type=_count, help="credits per UTC month, 0 = unlimited")
    parser.add_argument("--expires", type=_expiry, help="unix seconds or UTC date (2027-01-31T18:00), never")
    parser.add_argument("--note", help="free text for the admin")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.router keys", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the keys, their limits and this month's credits")
    listing.add_argument("--json", action="store_true")
    create = sub.add_parser("create", help="a new key: prints it once, with its record")
    create.add_argument("name")
    _limit_options(create)
    change = sub.add_parser("set", help="change a key's name, state, limits, expiry or note")
    change.add_argument("key", help="the key's id or name")
    change.add_argument("--name")
    state = change.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False)
    _limit_options(change)
    delete = sub.add_parser("delete", help="delete a key: clients using it are refused at once")
    delete.add_argument("key", help="the key's id or name")
    return parser


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "name": getattr(args, "name", None),
        "enabled": getattr(args, "enabled", None),
        "allowed_models": args.models,
        "rpm": args.rpm,
        "daily_tokens": args.daily_tokens,
        "max_concurrency": args.max_concurrency,
        "monthly_credits": args.monthly_credits,
        "expires_at": args.expires,
        "note": args.note,
    }
    return {name: value for name, value in given.items() if value is not None}


async def _resolve(store: ClientKeys, ref: str) -> ClientKey:
    """The key `ref` names: by id, else the only key with that name."""
    keys = await store.list()
    matches = [k for k in keys if k.id == ref] or [k for k in keys if k.name == ref]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KiroStackError(f"no client key with id or name {ref!r}")
    raise KiroStackError(
        f"{ref!r} names {len(matches)} keys ({', '.join(k.id for k in matches)}): give the id"
    )


async def _list(store: ClientKeys, as_json: bool) -> None:
    keys = await store.list()
    standing = await store.standing(keys)
    if as_json:
        views = [{**k.public_view(), **standing[k.id]} for k in keys]
        print(orjson.dumps({"keys": views}, option=orjson.OPT_INDENT_2).decode())
        return
    now = time.time()
    print(f"{'id':<12} {'state':<8} {'credits/month':>16} {'conc':>5} {'rpm':>6} {'expires':<17} name")
    for k in keys:
        state = "expired" if k.expired(now) else "enabled" if k.enabled else "disabled"
        credits = f"{standing[k.id]['month_credits']:g}/{k.monthly_credits or '∞'}"
        expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.expires_at)) if k.expires_at else "never"
        conc = k.max_concurrency or "∞"
        print(f"{k.id:<12} {state:<8} {credits:>16} {conc!s:>5} {k.rpm or '∞'!s:>6} {expires:<17} {k.name}")


async def run_command(store: ClientKeys, args: argparse.Namespace) -> int:
    """Run one `keys` subcommand; returns the exit status."""
    if args.command == "list":
        await _list(store, args.json)
        return 0
    result: dict[str, Any]
    if args.command == "create":
        changes = _changes(args)
        models = tuple(changes.pop("allowed_models", ()))
        key, plain = await store.create(changes.pop("name"), allowed_models=models, **changes)
        result = {**key.public_view(), "key": plain}
    elif args.command == "set":
        changes = _changes(args)
        if not changes:
            raise ValueError("nothing to change: give --name, --enable/--disable or a limit")
        updated = await store.update((await _resolve(store, args.key)).id, **changes)
        if updated is None:
            raise KiroStackError(f"the key {args.key!r} was deleted")
        result = updated.public_view()
    else:
        key = await _resolve(store, args.key)
        await store.delete(key.id)
        result = {"deleted": key.id}
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


async def _run(settings: RouterSettings, args: argparse.Namespace) -> int:
    async with command_line_redis(settings, max_connections=4) as redis:
        return await run_command(ClientKeys(redis, Keys(settings.redis_key_prefix)), args)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = RouterSettings.load()
        return asyncio.run(_run(settings, args))
    except (KiroStackError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
