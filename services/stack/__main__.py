"""`python -m services.stack run|demo|ensure-redis` — what `make run`, `make demo` and `make test` call."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx
import redis

from services.stack.redis_boot import RedisHandle, ensure_redis
from services.stack.secrets_file import load_or_create
from services.stack.supervisor import Supervisor
from shared.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = ROOT / ".stack"

ROUTER_PORT = 8088
GATEWAY_PORT = 8000

NO_ACCOUNTS = """No Kiro accounts in the pool yet. Add one of these ways:
  * Admin panel: http://127.0.0.1:{router_port}/admin  (password: ADMIN_PASSWORD in .stack/secrets.env)
    -> "Add account": paste a refresh token, a kiro-auth-token.json, or sign in with Builder ID.
  * Command line:  .venv/bin/python -m services.refresher add --kind social --refresh-token <TOKEN>
  * Import kiro-go: .venv/bin/python -m services.refresher import path/to/data/config.json
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
    client = redis.Redis.from_url(url)
    try:
        count: int = client.scard(Keys(prefix).accounts())  # type: ignore[assignment]
        return count
    finally:
        client.close()


def start_stack(sup: Supervisor, *, extra_env: dict[str, str]) -> tuple[RedisHandle, dict[str, str]]:
    """Redis + secrets + router, gateway and refresher; returns the Redis handle and the common env."""
    secrets, created = load_or_create(STATE_DIR / "secrets.env", dict(os.environ))
    handle = ensure_redis(
        os.environ.get("REDIS_URL"), STATE_DIR / "redis", allow_embedded=True, daemonize=False
    )
    for note in handle.notes:
        sup.say(note)
    env = {
        **secrets,
        **extra_env,
        "REDIS_URL": handle.url,
        "GATEWAY_URLS": f"http://127.0.0.1:{GATEWAY_PORT}",
    }
    sup.start("gateway", "services.gateway", ["--host", "127.0.0.1", "--port", str(GATEWAY_PORT)], env)
    sup.start("refresher", "services.refresher", [], env)
    sup.start("router", "services.router", ["--host", "127.0.0.1", "--port", str(ROUTER_PORT)], env)
    if created:
        sup.say(
            "generated development secrets in .stack/secrets.env:\n"
            f"  admin password : {secrets['ADMIN_PASSWORD']}\n"
            f"  client API key : {secrets['PROXY_API_KEY']}"
        )
    return handle, env


def cmd_run(_: argparse.Namespace) -> int:
    sup = Supervisor(cwd=str(ROOT))
    handle, env = start_stack(sup, extra_env={})
    try:
        if _wait_healthy(f"http://127.0.0.1:{ROUTER_PORT}/health"):
            sup.say(f"router  : http://127.0.0.1:{ROUTER_PORT}   (clients, /admin panel, /metrics)")
            sup.say(f"gateway : http://127.0.0.1:{GATEWAY_PORT}   (internal)")
            if _account_count(handle.url, env.get("REDIS_KEY_PREFIX", "ks:")) == 0:
                sup.say(NO_ACCOUNTS.format(router_port=ROUTER_PORT))
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
    sub.add_parser("run", help="start router, gateway and refresher").set_defaults(func=cmd_run)
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
