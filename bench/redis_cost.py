"""`python -m bench.redis_cost`: Redis commands and bytes per request, per refresh and per idle second.

Starts a private `redis-server` (nobody else's traffic in its counters) and the whole stack on it, then
reads `INFO commandstats` / `INFO stats` deltas over: an idle window (the background loops alone), N
requests sent one after another through the router, and N forced token refreshes. The idle rate is taken
off the other two, so the per-request and per-refresh figures are what one more request or refresh costs.
docs/capacity.md quotes these figures; tests/deploy/test_capacity_doc.py checks the per-request one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
import redis as sync_redis
from cryptography.fernet import Fernet

from bench.load import MODEL
from bench.pick_bench import seed
from bench.stack import BenchStack
from services.kiro_emulator.control import EmulatorControl
from shared.accounts.pool import Lease, Pool, PoolLimits
from shared.crypto import SecretBox
from shared.keys import Keys
from shared.redis import create_redis
from shared.settings import CommonSettings
from tests.support.redis_server import PrivateRedis


@dataclass
class Counters:
    """Redis's own counters at one moment: calls per command, bytes in and out, CPU seconds."""

    calls: dict[str, int]
    net_in: int
    net_out: int
    cpu: float
    at: float

    @classmethod
    def read(cls, client: sync_redis.Redis) -> Counters:
        stats = client.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        info = client.info("stats")
        cpu = client.info("cpu")
        used = float(cpu["used_cpu_sys_main_thread"]) + float(cpu["used_cpu_user_main_thread"])
        net_in, net_out = int(info["total_net_input_bytes"]), int(info["total_net_output_bytes"])
        return cls(calls, net_in, net_out, used, time.time())

    def minus(self, before: Counters) -> dict[str, Any]:
        calls = {k: v - before.calls.get(k, 0) for k, v in self.calls.items() if v - before.calls.get(k, 0)}
        return {
            "seconds": self.at - before.at,
            "calls": calls,
            "bytes_in": self.net_in - before.net_in,
            "bytes_out": self.net_out - before.net_out,
            "cpu_s": self.cpu - before.cpu,
        }


#: commands the measurement itself sends (INFO to read the counters)
_OWN = {"info"}


def per_unit(window: dict[str, Any], idle: dict[str, Any], units: int) -> dict[str, Any]:
    """`window` less the idle rate over its duration, divided by `units`."""
    scale = window["seconds"] / idle["seconds"] if idle["seconds"] else 0.0
    calls: dict[str, float] = {}
    for name, n in window["calls"].items():
        if name in _OWN:
            continue
        extra = (n - idle["calls"].get(name, 0) * scale) / units
        if extra > 0.05:
            calls[name] = round(extra, 2)
    return {
        "commands": round(sum(calls.values()), 1),
        "by_command": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "bytes_in": round((window["bytes_in"] - idle["bytes_in"] * scale) / units),
        "bytes_out": round((window["bytes_out"] - idle["bytes_out"] * scale) / units),
        "redis_cpu_us": round((window["cpu_s"] - idle["cpu_s"] * scale) / units * 1e6, 1),
    }


def idle_rate(window: dict[str, Any]) -> dict[str, Any]:
    seconds = window["seconds"]
    calls = {k: round(v / seconds, 2) for k, v in window["calls"].items() if k not in _OWN}
    return {
        "commands_per_s": round(sum(calls.values()), 1),
        "by_command": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "bytes_in_per_s": round(window["bytes_in"] / seconds),
        "bytes_out_per_s": round(window["bytes_out"] / seconds),
    }


def send_requests(stack: BenchStack, count: int, *, stream: bool = True) -> None:
    """`count` small requests through the router, one after another, each read to the end."""
    headers = {"x-api-key": stack.client_key, "anthropic-version": "2023-06-01"}
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "capacity"}],
    }
    with httpx.Client(base_url=stack.routers[0].url, headers=headers, timeout=30) as client:
        for _ in range(count):
            response = client.post("/v1/messages", json=body)
            response.raise_for_status()


def force_refreshes(stack: BenchStack, count: int) -> None:
    """`count` token refreshes of the stack's account (asked through the admin API), each waited for
    before the next by watching the emulator's count of refresh calls, which touches no Redis."""
    assert stack.account is not None
    headers = {"authorization": f"Bearer {stack.admin_key}"}
    with (
        httpx.Client(base_url=stack.routers[0].url, headers=headers, timeout=10) as client,
        EmulatorControl(stack.procs["emulator"].url) as emulator,
    ):
        for _ in range(count):
            before = emulator.counts(stack.account.name).get("social_refresh", 0)
            client.post(f"/admin/api/accounts/{stack.account_id}/refresh").raise_for_status()
            deadline = time.monotonic() + 15
            while emulator.counts(stack.account.name).get("social_refresh", 0) == before:
                if time.monotonic() > deadline:
                    raise RuntimeError("a forced refresh did not reach the emulator in 15 s")
                time.sleep(0.05)
            time.sleep(0.3)  # the refresher stores the new tokens after Kiro answered


def settle(client: sync_redis.Redis, seconds: float) -> dict[str, Any]:
    before = Counters.read(client)
    time.sleep(seconds)
    return Counters.read(client).minus(before)


def measure(
    stack: BenchStack, client: sync_redis.Redis, requests: int, refreshes: int, idle: float
) -> dict[str, Any]:
    """Per-request and per-refresh figures on a started stack whose Redis only it uses."""
    send_requests(stack, 3)  # warm: connections, scripts loaded, caches filled
    time.sleep(1.0)
    quiet = settle(client, idle)
    before = Counters.read(client)
    send_requests(stack, requests)
    streamed = Counters.read(client).minus(before)
    result: dict[str, Any] = {
        "requests": requests,
        "idle": idle_rate(quiet),
        "per_request": per_unit(streamed, quiet, requests),
    }
    if refreshes:
        before = Counters.read(client)
        force_refreshes(stack, refreshes)
        result["per_refresh"] = per_unit(Counters.read(client).minus(before), quiet, refreshes)
        result["refreshes"] = refreshes
    return result


def run(requests: int, refreshes: int, idle: float) -> dict[str, Any]:
    """A private Redis, the stack on it, the measurement; everything stopped afterwards."""
    server = PrivateRedis().start()
    # forced refreshes back to back: none skipped as "just refreshed"
    stack = BenchStack(server.url, extra_env={"FORCE_REFRESH_GRACE_SECONDS": "0"})
    client = sync_redis.Redis.from_url(server.url)
    try:
        stack.start()
        return measure(stack, client, requests, refreshes, idle)
    finally:
        client.close()
        stack.stop()
        server.kill()


def pick_cost(accounts: int, picks: int = 2000, in_flight: int = 50) -> dict[str, Any]:
    """Redis commands and main-thread CPU per pick + release with `accounts` active accounts (how the pool's
    size weighs on Redis), on a private Redis; no services."""
    server = PrivateRedis().start()
    sync = sync_redis.Redis.from_url(server.url)

    async def run() -> dict[str, Any]:
        client = create_redis(CommonSettings(redis_url=server.url), max_connections=64)
        keys = Keys("capacity:")
        pool = Pool(client, keys, PoolLimits(max_concurrency=1000, jitter_ratio=0.0))
        try:
            await seed(client, keys, SecretBox(Fernet.generate_key().decode()), accounts)

            async def loop(share: int) -> None:
                for _ in range(share):
                    lease = await pool.pick()
                    assert isinstance(lease, Lease), lease
                    await pool.release(lease, "none")

            await loop(100)  # scripts loaded
            before = Counters.read(sync)
            await asyncio.gather(*(loop(picks // in_flight) for _ in range(in_flight)))
            spent = Counters.read(sync).minus(before)
        finally:
            await client.aclose()
        return {
            "accounts": accounts,
            **per_unit(
                spent, {"seconds": 0, "calls": {}, "bytes_in": 0, "bytes_out": 0, "cpu_s": 0.0}, picks
            ),
        }

    try:
        return asyncio.run(run())
    finally:
        sync.close()
        server.kill()


#: the figure docs/capacity.md states, as `Redis commands per request: **N**`
DOC_FIGURE = re.compile(r"Redis commands per request: \*\*(\d+(?:\.\d+)?)\*\*")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--refreshes", type=int, default=10)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle window (default 10)")
    parser.add_argument("--quick", action="store_true", help="50 requests, 3 refreshes, 5 s idle")
    parser.add_argument(
        "--pick-accounts",
        help="instead: Redis cost of a pick + release with these pool sizes (e.g. 10,100,1000)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.refreshes, args.idle = 50, 3, 5.0
    if args.pick_accounts:
        sizes = [int(n) for n in args.pick_accounts.split(",")]
        print(json.dumps([pick_cost(n) for n in sizes], indent=2))
        return 0
    print(json.dumps(run(args.requests, args.refreshes, args.idle), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
