"""`python -m services.stack run|demo|ensure-redis` — what `make run`, `make demo` and `make test` call."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import httpx

from services.stack.redis_boot import RedisHandle, ensure_redis, sync_client
from services.stack.secrets_file import load_or_create
from services.stack.supervisor import RESTART_DELAY_CAP_SECONDS, RESTART_DELAY_SECONDS, Supervisor
from shared.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = ROOT / ".stack"

ROUTER_PORT = 8088
GATEWAY_PORT = 8000

NO_ACCOUNTS = """No Kiro accounts in the pool yet. Add one of these ways:
  * Admin panel: http://127.0.0.1:{router_port}/admin  (password: ADMIN_PASSWORD in {secrets})
    -> "Add account": paste a refresh token, a kiro-auth-token.json, or sign in with Builder ID.
  * Command line (the token is read from stdin, so it stays out of your shell history):
      set -a; . {secrets}; set +a
      .venv/bin/python -m services.refresher add --kind social --refresh-token-file -
  * Import kiro-go (same environment): .venv/bin/python -m services.refresher import data/config.json
Then point a client at the router, e.g.:
  ANTHROPIC_BASE_URL=http://127.0.0.1:{router_port} ANTHROPIC_API_KEY=<PROXY_API_KEY> claude"""


def _wait_healthy(url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def _account_count(url: str, prefix: str) -> int:
    client = sync_client(url)
    try:
        keys = Keys(prefix)
        # the accounts of a layout the router has not moved yet count too (shared/accounts/layout.py)
        counts: list[int] = [client.scard(keys.accounts()), client.scard(keys.legacy_accounts())]  # type: ignore[list-item]
        return max(counts)
    finally:
        client.close()


def start_stack(sup: Supervisor, args: argparse.Namespace) -> RedisHandle:
    """Redis + secrets + router, gateway and refresher; returns the Redis handle (stop it at the end)."""
    state_dir = Path(args.state_dir)
    secrets, created = load_or_create(state_dir / "secrets.env", dict(os.environ))
    handle = ensure_redis(
        os.environ.get("REDIS_URL"), state_dir / "redis", allow_embedded=True, daemonize=False
    )
    for note in handle.notes:
        sup.say(note)
    env = {**secrets, "REDIS_URL": handle.url, "GATEWAY_URLS": f"http://127.0.0.1:{args.gateway_port}"}
    if args.metrics_port is not None:
        env["REFRESHER_METRICS_PORT"] = str(args.metrics_port)
    sup.start("gateway", "services.gateway", ["--host", args.host, "--port", str(args.gateway_port)], env)
    sup.start("refresher", "services.refresher", [], env)
    sup.start("router", "services.router", ["--host", args.host, "--port", str(args.router_port)], env)
    if created:
        sup.say(
            f"generated development secrets in {state_dir / 'secrets.env'}:\n"
            f"  admin password : {secrets['ADMIN_PASSWORD']}\n"
            f"  client API key : {secrets['PROXY_API_KEY']}"
        )
    return handle


def _announce_when_up(sup: Supervisor, args: argparse.Namespace, redis_url: str) -> None:
    """Print where the stack answers (and how to add an account) once router and gateway are up."""
    router_up = _wait_healthy(f"http://127.0.0.1:{args.router_port}/health")
    if router_up and _wait_healthy(f"http://127.0.0.1:{args.gateway_port}/health"):
        sup.say(f"router  : http://127.0.0.1:{args.router_port}   (clients, /admin panel, /metrics)")
        sup.say(f"gateway : http://127.0.0.1:{args.gateway_port}   (internal)")
        prefix = os.environ.get("REDIS_KEY_PREFIX", "ks:")
        if _account_count(redis_url, prefix) == 0:
            secrets_path = Path(args.state_dir) / "secrets.env"
            sup.say(NO_ACCOUNTS.format(router_port=args.router_port, secrets=secrets_path))


def cmd_run(args: argparse.Namespace) -> int:
    sup = Supervisor(
        cwd=str(ROOT), restart_delay=args.restart_delay, restart_delay_cap=args.restart_delay_cap
    )
    handle = start_stack(sup, args)
    try:
        # supervision starts at once: a service that dies while the others boot is restarted too
        threading.Thread(target=_announce_when_up, args=(sup, args, handle.url), daemon=True).start()
        return sup.wait()
    finally:
        sup.stop()
        handle.stop()


def cmd_demo(args: argparse.Namespace) -> int:
    from services.stack.demo import run_demo

    code: int = run_demo(ROOT, STATE_DIR, keep=args.keep)
    return code


def cmd_ensure_redis(args: argparse.Namespace) -> int:
    """Print a Redis URL that answers; start a daemonized private redis-server when needed (tests)."""
    handle = ensure_redis(os.environ.get("REDIS_URL"), None, allow_embedded=not args.real, daemonize=True)
    for note in handle.notes:
        print(note, file=sys.stderr)
    print(handle.url)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start router, gateway and refresher")
    run.add_argument("--host", default="127.0.0.1", help="listen address of router and gateway")
    run.add_argument("--router-port", type=int, default=ROUTER_PORT)
    run.add_argument("--gateway-port", type=int, default=GATEWAY_PORT)
    run.add_argument("--metrics-port", type=int, default=None, help="refresher /metrics port")
    run.add_argument("--state-dir", default=str(STATE_DIR), help="dev secrets and private Redis data")
    run.add_argument(
        "--restart-delay",
        type=float,
        default=RESTART_DELAY_SECONDS,
        help="seconds before restarting a service that exited (doubles on each further exit)",
    )
    run.add_argument(
        "--restart-delay-cap",
        type=float,
        default=RESTART_DELAY_CAP_SECONDS,
        help="longest delay before a restart, in seconds",
    )
    run.set_defaults(func=cmd_run)
    demo = sub.add_parser("demo", help="the stack against the Kiro emulator, one streamed request")
    demo.add_argument("--keep", action="store_true", help="keep the stack running after the request")
    demo.set_defaults(func=cmd_demo)
    ensure = sub.add_parser("ensure-redis", help="print a Redis URL that answers (starting one if needed)")
    ensure.add_argument("--real", action="store_true", help="never fall back to the embedded fake")
    ensure.set_defaults(func=cmd_ensure_redis)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
