"""Account pick latency against the real Redis: the Lua pick alone and the router's admission + pick call.

    .venv/bin/python -m bench.pick_bench [--quick] [--accounts 5,200,2000] [--picks 10000]

For each pool size in `--accounts`, seeds that many active accounts (and one client key) under a private
key prefix, then times, with the router's own client settings (shared.redis.create_redis, hiredis):
`Pool.pick` one at a time, the same with 50 picks in flight, and `ClientKeys.authorize_and_pick` (what a
proxied request's first attempt runs) one at a time. Every lease is released (untimed). Goal: pick p99
<= 0.3 ms one at a time, at every size (the pick reads a bounded sample of a large pool, see pick.lua).
Deletes its keys.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import uvloop
from cryptography.fernet import Fernet

from bench.stats import percentile
from shared.accounts.model import Account, AccountState
from shared.accounts.pool import Lease, Pool, PoolLimits
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys
from shared.redis import Redis, create_redis
from shared.settings import CommonSettings

GOAL_P99_MS = 0.3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pick_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 picks per case")
    parser.add_argument(
        "--accounts",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[5, 200, 2000],
        help="active accounts in the pool, comma-separated sizes (default 5,200,2000)",
    )
    parser.add_argument("--picks", type=int, help="picks per case (default 10000, quick 2000)")
    args = parser.parse_args(argv)
    args.picks = args.picks or (2000 if args.quick else 10000)
    return args


async def seed(client: Redis, keys: Keys, box: SecretBox, count: int) -> None:
    states = AccountStates(client, keys)
    store = AccountStore(client, keys, box)
    for n in range(count):
        account = Account(
            id=f"bench-{n:03d}",
            label=f"bench-{n:03d}",
            refresh_token_enc=box.encrypt("bench-refresh"),
            access_token_enc=box.encrypt("bench-access"),
            access_expires_at=time.time() + 3600,
            token_version=1,
        )
        await store.create(account)
        await states.set(account.id, AccountState.ACTIVE, "bench", 0.0, notify=False)


async def timed(
    picks: int, in_flight: int, one: Callable[[], Awaitable[Lease | None]], pool: Pool
) -> list[float]:
    """Milliseconds of each call; `in_flight` loops share `picks`."""
    took: list[float] = []

    async def loop(share: int) -> None:
        for _ in range(share):
            start = time.perf_counter()
            lease = await one()
            took.append((time.perf_counter() - start) * 1000)
            if lease is not None:
                await pool.release(lease, "none")

    await asyncio.gather(*(loop(picks // in_flight) for _ in range(in_flight)))
    return took


async def run(args: argparse.Namespace) -> int:
    settings = CommonSettings(redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    client = create_redis(settings, max_connections=64)
    met = True
    try:
        for accounts in args.accounts:
            cases = await run_size(client, accounts, args.picks)
            print(f"account pick latency, {accounts} accounts, real Redis, {args.picks} calls per case (ms):")
            for name, took in cases:
                print(f"  {name:<34} p50 {percentile(took, 50):.3f}  p99 {percentile(took, 99):.3f}")
            met = met and percentile(cases[0][1], 99) <= GOAL_P99_MS
    finally:
        await client.aclose()
    print(f"goal pick p99 <= {GOAL_P99_MS} ms (one at a time) at every size: {'met' if met else 'MISSED'}")
    return 0


async def run_size(client: Redis, accounts: int, picks: int) -> list[tuple[str, list[float]]]:
    """The timed cases against a fresh pool of `accounts` active accounts (under a private prefix)."""
    keys = Keys(f"bench-pick-{uuid.uuid4().hex[:8]}:")
    pool = Pool(client, keys, PoolLimits(max_concurrency=1000, jitter_ratio=0.0))
    client_keys = ClientKeys(client, keys)
    try:
        await seed(client, keys, SecretBox(Fernet.generate_key().decode()), accounts)
        _, plain = await client_keys.create("bench")

        async def pick() -> Lease | None:
            result = await pool.pick()
            assert isinstance(result, Lease), result
            return result

        async def admit_and_pick() -> Lease | None:
            _, admission, result = await client_keys.authorize_and_pick(plain, "claude-sonnet-4.5", pool)
            assert admission.ok and isinstance(result, Lease), (admission, result)
            return result

        await timed(200, 1, pick, pool)  # warm: scripts loaded, connections open
        return [
            ("pick, one at a time", await timed(picks, 1, pick, pool)),
            ("pick, 50 in flight", await timed(picks, 50, pick, pool)),
            ("admission + pick, one at a time", await timed(picks, 1, admit_and_pick, pool)),
        ]
    finally:
        stale = [k async for k in client.scan_iter(match=f"{keys.prefix}*", count=1000)]
        if stale:
            await client.delete(*stale)


def main(argv: list[str] | None = None) -> int:
    return uvloop.run(run(parse_args(argv)))  # the router's event loop


if __name__ == "__main__":
    raise SystemExit(main())
