"""Refresher benchmark against the Kiro emulator: time to refresh N accounts, and jobs per burst.

    .venv/bin/python -m bench.refresh_bench [--quick] [--accounts 1000] [--concurrency 32] [--workers 1]

1. N emulator accounts (rotating refresh tokens) are added, pending, under a private key prefix; one
   periodic run (`refresh_due`, enqueued by hand) is timed until every account is active with its first
   access token and usage (goal: 1,000 accounts in < 60 s with bounded concurrency).
2. Bursts: for several accounts (refreshed > 5 s before, past the forced-refresh grace), 100 concurrent
   forced `refresh_account` triggers each; counted are the arq jobs queued and the upstream refresh calls
   per burst (goal: exactly 1).
Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0); deletes its keys afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from cryptography.fernet import Fernet

from services.kiro_emulator.control import EmulatorControl
from shared.accounts.ops import AccountOps
from shared.accounts.store import read_fields
from shared.crypto import SecretBox
from shared.jobs import REFRESH_DUE, enqueue_refresh
from shared.keys import Keys
from tests.support.procs import ServiceProcess, free_port

GOAL_SECONDS_PER_1000 = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.refresh_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 accounts, 3 bursts")
    parser.add_argument("--accounts", type=int, help="accounts to refresh (default 1000, quick 200)")
    parser.add_argument("--concurrency", type=int, default=32, help="REFRESH_CONCURRENCY per worker")
    parser.add_argument("--workers", type=int, default=1, help="refresher processes")
    parser.add_argument("--bursts", type=int, help="burst rounds (default 10, quick 3; 0 = none)")
    args = parser.parse_args(argv)
    args.accounts = args.accounts or (200 if args.quick else 1000)
    args.bursts = args.bursts if args.bursts is not None else (3 if args.quick else 10)
    return args


async def count_active(client: aioredis.Redis, keys: Keys, ids: list[str]) -> int:
    states = await read_fields(client, keys, ids, ["state"])
    return sum(1 for (state,) in states if state == "active")


async def add_accounts(ops: AccountOps, ctl: EmulatorControl, count: int, tag: str) -> dict[str, str]:
    """Emulator accounts + pending stack accounts; returns stack id -> emulator name."""
    names: dict[str, str] = {}
    for i in range(count):
        name = f"bench-{tag}-{i}"
        emu = await asyncio.to_thread(ctl.register_account, name, rotate_refresh=True)
        (account_id,) = (await ops.add_refresh_token("social", emu["refresh_token"], label=name)).added
        names[account_id] = name
    return names


async def time_full_refresh(
    client: aioredis.Redis, arq: ArqRedis, keys: Keys, ids: list[str], within: float
) -> tuple[float, int]:
    """Seconds from enqueueing one periodic run until every account is active (and how many were)."""
    started = time.perf_counter()
    await arq.enqueue_job(keys.cron_job_name(REFRESH_DUE), _queue_name=keys.arq_queue())
    active = 0
    while time.perf_counter() - started < within:
        active = await count_active(client, keys, ids)
        if active == len(ids):
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started, active


async def burst(
    arq: ArqRedis, keys: Keys, ctl: EmulatorControl, account_id: str, name: str, triggers: int = 100
) -> tuple[int, int]:
    """(jobs queued, upstream refresh calls) for `triggers` concurrent forced triggers."""
    before = (await asyncio.to_thread(ctl.counts, name)).get("social_refresh", 0)
    queued = await asyncio.gather(
        *(enqueue_refresh(arq, keys, account_id, force=True, reason="bench") for _ in range(triggers))
    )
    await asyncio.sleep(2.0)
    after = (await asyncio.to_thread(ctl.counts, name)).get("social_refresh", 0)
    return sum(queued), after - before


async def run(args: argparse.Namespace) -> dict[str, Any]:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"ksbench-refresh:{uuid.uuid4().hex[:8]}:"
    keys = Keys(prefix)
    secret = Fernet.generate_key().decode()
    tag = uuid.uuid4().hex[:6]
    emulator = ServiceProcess("services.kiro_emulator", health_path="/_emulator/health", name="emulator")
    emulator.env["LOG_LEVEL"] = "WARNING"
    emulator.start()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    arq = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=keys.arq_queue())
    workers: list[ServiceProcess] = []
    try:
        with EmulatorControl(emulator.url) as ctl:
            ops = AccountOps(client, keys, SecretBox(secret))
            names = await add_accounts(ops, ctl, args.accounts, tag)
            env = {
                "REDIS_URL": redis_url,
                "REDIS_KEY_PREFIX": prefix,
                "KIRO_SECRET_KEY": secret,
                "KIRO_EMULATOR_URL": emulator.url,
                "REFRESH_CONCURRENCY": str(args.concurrency),
                "LOG_LEVEL": "WARNING",
                "WORKER_POLL_DELAY_SECONDS": "0.05",
            }
            for i in range(args.workers):
                port = free_port()
                proc = ServiceProcess(
                    "services.refresher",
                    ["worker"],
                    {**env, "REFRESHER_METRICS_PORT": str(port)},
                    port=port,
                    name=f"refresher-{i}",
                )
                workers.append(proc.start())
            ids = list(names)
            within = max(30.0, 2 * GOAL_SECONDS_PER_1000 * args.accounts / 1000)
            seconds, active = await time_full_refresh(client, arq, keys, ids, within=within)
            upstream = (await asyncio.to_thread(ctl.counters))["total"].get("social_refresh", 0)

            if args.bursts:
                await asyncio.sleep(6)  # past the forced-refresh grace: each burst must cause one refresh
            bursts = [
                await burst(arq, keys, ctl, account_id, names[account_id])
                for account_id in ids[: args.bursts]
            ]
    finally:
        for proc in workers:
            proc.stop()
        emulator.stop()
        doomed = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(doomed), 500):
            await client.delete(*doomed[start : start + 500])
        await arq.aclose()
        await client.aclose()
    return {
        "accounts": args.accounts,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "seconds": seconds,
        "active": active,
        "upstream_refreshes": upstream,
        "bursts": bursts,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    n, seconds = result["accounts"], result["seconds"]
    goal = GOAL_SECONDS_PER_1000 * n / 1000
    print(f"refresh of {n} accounts ({result['workers']} worker(s), concurrency {result['concurrency']}):")
    print(f"  {seconds:.2f} s until all active ({result['active']}/{n}), {n / seconds:.0f} accounts/s")
    print(f"  upstream refresh calls: {result['upstream_refreshes']} (one per account expected)")
    refreshed = seconds < goal and result["active"] == n
    print(f"  goal < {goal:.0f} s: {'met' if refreshed else 'MISSED'}")
    calls = [c for _, c in result["bursts"]]
    jobs = [j for j, _ in result["bursts"]]
    print(f"bursts of 100 forced triggers on a fresh account ({len(calls)} rounds):")
    print(f"  arq jobs queued per burst: {jobs}")
    print(f"  upstream refreshes per burst: {calls}")
    collapsed = all(c == 1 for c in calls)
    print(f"  goal exactly 1 per burst: {'met' if collapsed else 'MISSED'}")
    return 0 if refreshed and collapsed else 1


if __name__ == "__main__":
    raise SystemExit(main())
