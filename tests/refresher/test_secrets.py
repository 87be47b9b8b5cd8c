"""Secrets stay secret: a canary refresh token and client secret never appear in logs, in Redis
unencrypted, or in /metrics — on the success path and on the failure path."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import httpx
import redis.asyncio as aioredis

from services.kiro_emulator.control import EmulatorControl, unique_name
from services.refresher.context import Refresher
from shared.accounts.model import AccountState
from shared.accounts.ops import AccountOps
from tests.refresher.conftest import StartWorker
from tests.support.polling import wait_for
from tests.support.procs import ROOT


async def _every_value_under(redis: aioredis.Redis, prefix: str) -> list[str]:
    values: list[str] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=500):
        kind = await redis.type(key)
        values.append(key)
        if kind == "string":
            values.append(await redis.get(key) or "")
        elif kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                values += [field, value]
        elif kind == "set":
            values += list(await redis.smembers(key))
        elif kind == "zset":
            values += await redis.zrange(key, 0, -1)
        elif kind == "list":
            values += await redis.lrange(key, 0, -1)
        elif kind == "stream":
            values += [str(entry) for entry in await redis.xrange(key)]
    return values


async def test_canary_secrets_never_leak_to_logs_redis_or_metrics(
    refresher: Refresher,
    queued_ops: AccountOps,
    ctl: EmulatorControl,
    start_worker: StartWorker,
    redis: aioredis.Redis,
    key_prefix: str,
    refresher_env: dict[str, str],
) -> None:
    canary_rt = f"canary-rt-{uuid.uuid4().hex}"
    canary_idc_rt = f"canary-idc-{uuid.uuid4().hex}"
    canary_secret = f"canary-secret-{uuid.uuid4().hex}"
    canary_dead = f"canary-dead-{uuid.uuid4().hex}"
    canaries = [canary_rt, canary_idc_rt, canary_secret, canary_dead]
    social = ctl.register_account(unique_name("canary"), refresh_token=canary_rt, rotate_refresh=True)
    idc = ctl.register_account(
        unique_name("canary"),
        auth_kind="idc",
        refresh_token=canary_idc_rt,
        client_id=f"cid-{uuid.uuid4().hex}",
        client_secret=canary_secret,
    )
    worker = start_worker(LOG_LEVEL="DEBUG")

    ids = [
        *(await queued_ops.add_refresh_token("social", canary_rt)).added,
        *(
            await queued_ops.add_refresh_token(
                "idc", canary_idc_rt, client_id=idc["client_id"], client_secret=canary_secret
            )
        ).added,
        *(await queued_ops.add_refresh_token("social", canary_dead)).added,  # unknown upstream: rejected
    ]

    async def settled() -> bool:
        accounts = [await refresher.store.get(i) for i in ids]
        return [a.state if a else None for a in accounts] == [
            AccountState.ACTIVE,
            AccountState.ACTIVE,
            AccountState.NEEDS_RELOGIN,
        ]

    await wait_for(settled, within=15, what="all accounts refreshed or rejected")
    access_tokens = [ctl.account(social["name"])["access_token"], ctl.account(idc["name"])["access_token"]]
    async with httpx.AsyncClient(base_url=worker.url) as http:
        metrics = (await http.get("/metrics")).text
    listed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.refresher", "list", "--json"],
        cwd=ROOT,
        env={**refresher_env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    listing = listed.stdout
    stored = "\n".join(await _every_value_under(redis, key_prefix))
    logs = worker.logs()

    assert "token refreshed" in logs and "needs re-login" in logs  # the paths did run and log
    for secret in [*canaries, *access_tokens]:
        assert secret not in logs
        assert secret not in metrics
        assert secret not in stored
        assert secret not in listing
    assert ids[0] in listing
