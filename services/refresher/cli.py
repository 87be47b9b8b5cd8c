"""`python -m services.refresher [worker|import|add|set|export|restore|list|delete|refresh|check]`.

Without a subcommand the worker runs. Secrets are never taken from the command line (other users can
read it): refresh tokens and client secrets come from a file or stdin (`-`), backup passphrases from an
environment variable named on the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from services.refresher.check import check_account
from services.refresher.context import Refresher
from services.refresher.settings import RefresherSettings
from services.refresher.worker import run_worker
from shared.accounts.importers import ImportFormatError
from shared.accounts.kiro_cli import looks_like_sqlite, read_kiro_cli_db
from shared.accounts.ops import AccountOps, parse_json_bytes
from shared.accounts.report import ImportReport
from shared.crypto import SecretBox
from shared.errors import KiroStackError
from shared.keys import Keys
from shared.kiro.probe import KiroError
from shared.kiro.regions import is_region
from shared.redis import command_line_redis, create_queue_redis

FORMATS = ("kiro-go", "kiro-auth-token", "kiro-cli", "refresh-tokens")


def _region(value: str) -> str:
    """argparse type: an AWS region name (it becomes part of a host name)."""
    if not is_region(value):
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not an AWS region (like us-east-1)")
    return value


def _region_or_empty(value: str) -> str:
    return value if value == "" else _region(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.refresher", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("worker", help="run the arq worker (the default)")

    imp = sub.add_parser("import", help="import accounts from a file")
    imp.add_argument(
        "file",
        help="path, or - for stdin; kiro-cli keeps its login in ~/.local/share/kiro-cli/data.sqlite3 "
        "(amazon-q CLI: ~/.local/share/amazon-q/data.sqlite3)",
    )
    imp.add_argument("--label", default="", help="kiro-auth-token, kiro-cli: label of the account")
    imp.add_argument("--format", choices=FORMATS, help="default: detected from the content")
    imp.add_argument("--registration", help="kiro-auth-token: the {clientIdHash}.json client registration")

    add = sub.add_parser("add", help="add one account from its refresh token")
    add.add_argument(
        "--kind",
        choices=("social", "idc", "external_idp"),
        default="social",
        help="external_idp: an enterprise login through Entra ID or Okta",
    )
    add.add_argument("--refresh-token-file", required=True, help="file holding the refresh token, - = stdin")
    add.add_argument("--client-id", default="", help="idc: OIDC client id; external_idp: the IdP client id")
    add.add_argument("--client-secret-file", help="idc: file holding the client secret")
    add.add_argument("--region", default="us-east-1", type=_region, help="auth (OIDC) region")
    add.add_argument("--start-url", default="")
    add.add_argument("--token-endpoint", default="", help="external_idp: the IdP's OAuth token URL")
    add.add_argument("--scopes", default="", help="external_idp: OAuth scopes its refresh needs")
    add.add_argument("--profile-arn", default="", help="the Kiro profile ARN (external_idp logins)")
    add.add_argument("--label", default="")

    edit = sub.add_parser("set", help="change an account: API region, weight, label")
    edit.add_argument("account_id")
    edit.add_argument(
        "--api-region",
        type=_region_or_empty,
        help="chat API region (like eu-central-1) for this account's calls; '' = its profile ARN's",
    )
    edit.add_argument("--weight", type=int, help="share of picks relative to other accounts (normal: 100)")
    edit.add_argument("--label")

    exp = sub.add_parser("export", help="write an encrypted backup of every account")
    exp.add_argument("--out", default="-", help="file, - = stdout")
    exp.add_argument("--passphrase-env", help="seal with the passphrase in this environment variable")

    res = sub.add_parser("restore", help="recreate accounts from a backup")
    res.add_argument("file", help="path, or - for stdin")
    res.add_argument("--passphrase-env", help="environment variable holding the backup passphrase")

    lst = sub.add_parser("list", help="show every account (no secrets)")
    lst.add_argument("--json", action="store_true")

    dele = sub.add_parser("delete", help="delete an account and everything it owns")
    dele.add_argument("account_id")

    ref = sub.add_parser("refresh", help="ask the worker to refresh an account")
    ref.add_argument("account_id")
    ref.add_argument("--force", action="store_true")

    chk = sub.add_parser("check", help="check an account against Kiro: token, models, usage, one chat")
    chk.add_argument("account", help="account id, label or email")
    chk.add_argument("--json", action="store_true", help="print the stored result as JSON")
    return parser


def _is_sqlite(path: str) -> bool:
    if path == "-":
        return False
    try:
        with open(path, "rb") as handle:
            return looks_like_sqlite(handle.read(16))
    except OSError:
        return False


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _secret_file(path: str | None) -> str:
    return _read(path).decode().strip() if path else ""


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def detect_format(data: Any) -> str:
    """kiro-go config (has `accounts`), kiro-auth-token (has `refreshToken`), else refresh-token list."""
    if isinstance(data, dict) and "accounts" in data:
        return "kiro-go"
    if isinstance(data, dict) and "refreshToken" in data:
        return "kiro-auth-token"
    return "refresh-tokens"


def _load_import(raw: bytes, fmt: str | None) -> tuple[str, Any]:
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if fmt not in (None, "refresh-tokens"):
            raise ImportFormatError("the file is not valid JSON") from None
        data = raw.decode(errors="replace")  # KIRO_REFRESH_TOKENS: comma / newline separated text
    return fmt or detect_format(data), data


@asynccontextmanager
async def _ops(settings: RefresherSettings) -> AsyncIterator[AccountOps]:
    keys = Keys(settings.redis_key_prefix)
    async with command_line_redis(settings, max_connections=8) as redis:
        arq = create_queue_redis(settings)
        try:
            yield AccountOps(redis, keys, SecretBox(settings.secret("kiro_secret_key")), arq)
        finally:
            await arq.aclose()


async def _import(ops: AccountOps, args: argparse.Namespace) -> ImportReport:
    if args.format == "kiro-cli" or (args.format is None and _is_sqlite(args.file)):
        if args.file == "-":
            raise ImportFormatError("a kiro-cli database must be given as a path, not on stdin")
        auth_kv, state = read_kiro_cli_db(args.file)
        return await ops.add_kiro_cli(auth_kv, state, label=args.label)
    fmt, data = _load_import(_read(args.file), args.format)
    if fmt == "kiro-go":
        return await ops.import_kiro_go(data)
    if fmt == "kiro-auth-token":
        registration = parse_json_bytes(_read(args.registration)) if args.registration else None
        return await ops.add_kiro_auth_token(data, registration, label=args.label)
    return await ops.import_refresh_tokens(data)


async def _set(ops: AccountOps, args: argparse.Namespace) -> dict[str, Any]:
    changes = {
        name: value
        for name, value in (("api_region", args.api_region), ("weight", args.weight), ("label", args.label))
        if value is not None
    }
    if not changes:
        raise ValueError("nothing to change: give --api-region, --weight or --label")
    if "weight" in changes and not 0 <= changes["weight"] <= 10_000:
        raise ValueError("--weight must be between 0 and 10000")
    account = await ops.update(args.account_id, changes)
    if account is None:
        raise ValueError(f"no account with id {args.account_id!r}")
    return account.public_view()


async def _list(ops: AccountOps, as_json: bool) -> None:
    listing = await ops.store.list()
    views = [a.public_view() for a in listing.accounts]
    invalid = [{"id": i.id, "reason": i.reason} for i in listing.invalid]
    if as_json:
        print(orjson.dumps({"accounts": views, "invalid": invalid}, option=orjson.OPT_INDENT_2).decode())
        return
    now = time.time()
    print(f"{'id':<26} {'kind':<7} {'state':<14} {'expires in':>10} {'usage':>14}  label")
    for a, view in zip(listing.accounts, views, strict=True):
        expires = f"{int(a.access_expires_at - now)}s" if a.access_expires_at else "-"
        usage = f"{a.usage_current:g}/{a.usage_limit:g}" if a.usage_limit else "-"
        print(f"{a.id:<26} {a.auth_kind.value:<7} {view['state']:<14} {expires:>10} {usage:>14}  {a.label}")
    for i in listing.invalid:
        print(f"{i.id:<26} INVALID: {i.reason}")


async def resolve_account(ops: AccountOps, ref: str) -> str:
    """The id of the account `ref` names: its id, else its only account by label or email (any case)."""
    if await ops.store.exists(ref):
        return ref
    wanted = ref.casefold()
    matches = [
        a.id for a in (await ops.store.list()).accounts if wanted in (a.label.casefold(), a.email.casefold())
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KiroStackError(f"no account with id, label or email {ref!r}")
    raise KiroStackError(f"{ref!r} names {len(matches)} accounts ({', '.join(matches)}): give the id")


async def _check(settings: RefresherSettings, ops: AccountOps, args: argparse.Namespace) -> int:
    account_id = await resolve_account(ops, args.account)
    refresher = Refresher.build(settings, ops.arq_pool)
    try:
        result = await check_account(refresher, account_id, source="cli")
    finally:
        await refresher.close()
    if result is None:
        raise KiroStackError(f"the account {account_id!r} was deleted")
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_check(result))
    return 0 if result["ok"] else 1


def format_check(result: dict[str, Any]) -> str:
    """A check result for people: one line per step, then each chat attempt and each error."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(result["checked_at"]))
    name = f" ({result['label']})" if result.get("label") else ""
    verdict = "OK" if result["ok"] else "FAILED"
    lines = [f"account {result['account_id']}{name}: {verdict}  [{when}, {result['duration_ms']} ms]"]
    for step in result["steps"]:
        lines.append(f"  {step['name']:<7} {step['status']:<8} {step['latency_ms']:>6} ms  {step['detail']}")
        for attempt in step.get("attempts") or ():
            error = attempt.get("error")
            said = _error_text(error) if error else f"answered {attempt.get('answer', '')!r}"
            lines.append(
                f"          {attempt['endpoint']} ({attempt['origin']}, {attempt['host']}) "
                f"{attempt['status']} {attempt.get('latency_ms', 0)} ms: {said}"
            )
        if step["error"] and not step.get("attempts"):
            lines.append(f"          Kiro said: {_error_text(step['error'])}")
    return "\n".join(lines)


def _error_text(error: dict[str, Any]) -> str:
    return str(KiroError(**error))


async def run_command(settings: RefresherSettings, args: argparse.Namespace) -> int:
    """Run one CLI subcommand; returns the exit status."""
    async with _ops(settings) as ops:
        if args.command == "check":
            return await _check(settings, ops, args)
        result: Any = None
        if args.command == "import":
            result = (await _import(ops, args)).as_dict()
        elif args.command == "add":
            report = await ops.add_refresh_token(
                args.kind,
                _secret_file(args.refresh_token_file),
                client_id=args.client_id,
                client_secret=_secret_file(args.client_secret_file),
                auth_region=args.region,
                start_url=args.start_url,
                token_endpoint=args.token_endpoint,
                scopes=args.scopes,
                profile_arn=args.profile_arn,
                label=args.label,
                source="cli",
            )
            if report.skipped:  # the one account asked for was not added: say why, and fail
                raise ValueError(f"account not added: {report.skipped[0]['reason']}")
            result = report.as_dict()
        elif args.command == "set":
            result = await _set(ops, args)
        elif args.command == "export":
            passphrase = os.environ.get(args.passphrase_env, "") if args.passphrase_env else None
            backup = orjson.dumps(await ops.backups.export(passphrase or None), option=orjson.OPT_INDENT_2)
            if args.out == "-":
                sys.stdout.buffer.write(backup + b"\n")
            else:
                await asyncio.to_thread(_write_private, Path(args.out), backup)
            return 0
        elif args.command == "restore":
            passphrase = os.environ.get(args.passphrase_env, "") if args.passphrase_env else None
            result = (
                await ops.backups.restore(parse_json_bytes(_read(args.file)), passphrase or None)
            ).as_dict()
        elif args.command == "list":
            await _list(ops, args.json)
            return 0
        elif args.command == "delete":
            deleted = await ops.delete(args.account_id)
            result = {"deleted": deleted}
        elif args.command == "refresh":
            result = {"queued": await ops.request_refresh(args.account_id, force=args.force, reason="cli")}
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = RefresherSettings.load()
    except KiroStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command in (None, "worker"):
        run_worker(settings)
        return 0
    try:
        return asyncio.run(run_command(settings, args))
    except (KiroStackError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
