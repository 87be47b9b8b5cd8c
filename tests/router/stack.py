"""A running stack for router end-to-end tests: emulator → one gateway → two router replicas."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis as sync_redis
import redis.asyncio as aioredis
from redis.cluster import RedisCluster as SyncCluster
from redis.sentinel import Sentinel as SyncSentinel

from services.kiro_emulator.control import EmulatorControl, unique_name
from shared.accounts.model import Account, AccountState
from shared.accounts.state import AccountStates
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys
from shared.redis_location import Topology, parse_redis_url
from tests.support.accounts import put_account
from tests.support.procs import ServiceProcess


@dataclass
class Stack:
    prefix: str
    secret_key: str
    env: dict[str, str]
    emulator: ServiceProcess
    gateway: ServiceProcess
    routers: list[ServiceProcess]
    control: EmulatorControl
    extra: list[ServiceProcess] = field(default_factory=list)

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    def start_router(self, gateway_urls: str, **env: str) -> ServiceProcess:
        """Another router on the same Redis prefix (stopped with the stack)."""
        proc = ServiceProcess(
            "services.router", env={**self.env, "GATEWAY_URLS": gateway_urls, **env}, name="router"
        )
        self.extra.append(proc)
        return proc.start()

    def start_gateway(self, **env: str) -> ServiceProcess:
        """Another gateway on the stack's emulator (stopped with the stack); `env` overrides settings."""
        proc = ServiceProcess(
            "services.gateway",
            env={**self.env, "KIRO_EMULATOR_URL": self.emulator.url, **env},
            name="gateway",
        )
        self.extra.append(proc)
        return proc.start()

    def stop_extra(self) -> None:
        """Stop the processes a test started for itself."""
        while self.extra:
            self.extra.pop().stop()

    def wipe(self) -> None:
        """Delete every key of this stack (between tests; the processes keep running)."""
        queue_url = self.env.get("QUEUE_REDIS_URL", self.env["REDIS_URL"])
        # arq's own keys are `arq:<kind>:<job id>`, and our job ids start with the prefix
        for url, patterns in ((self.env["REDIS_URL"], {self.prefix}), (queue_url, {f"arq:*:{self.prefix}"})):
            with sync_client(url) as client:
                found = [k for pattern in patterns for k in client.scan_iter(match=f"{pattern}*", count=1000)]
                for start in range(0, len(found), 500):
                    client.delete(*found[start : start + 500])


@contextmanager
def sync_client(url: str) -> Iterator[sync_redis.Redis]:
    """A plain client of the stack's Redis; behind Sentinel, of the primary the sentinels name now."""
    location = parse_redis_url(url)
    if location.topology is Topology.CLUSTER:
        host, port = location.nodes[0]
        cluster = SyncCluster(host=host, port=port)
        try:
            yield cluster  # type: ignore[misc]  # the commands the tests use are the same
        finally:
            cluster.close()
        return
    if location.topology is not Topology.SENTINEL:
        client = sync_redis.Redis.from_url(url)
        try:
            yield client
        finally:
            client.close()
        return
    sentinel = SyncSentinel(list(location.nodes), socket_timeout=2)
    primary = sentinel.master_for(location.service, db=location.db, password=location.password)
    try:
        yield primary
    finally:
        primary.close()
        for node in sentinel.sentinels:
            node.close()


def start_stack(
    redis_url: str,
    secret_key: str,
    emulator: ServiceProcess,
    *,
    prefix: str = "",
    gateways: int = 1,
    **extra_env: str,
) -> Iterator[Stack]:
    """emulator → `gateways` gateways → two routers (each with every gateway); `extra_env` for all."""
    prefix = prefix or f"kst:{uuid.uuid4().hex[:12]}:"
    env = {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": "test-internal-" + uuid.uuid4().hex,
        "LOG_LEVEL": "INFO",
        "RUNTIME_SETTINGS_TTL_SECONDS": "0",
        "GATEWAY_HEALTH_INTERVAL_SECONDS": "1",
        "POOL_GAUGE_INTERVAL_SECONDS": "1",
        "PICK_WAIT_SECONDS": "0.5",
        **extra_env,
    }
    gateway = ServiceProcess(
        "services.gateway", env={**env, "KIRO_EMULATOR_URL": emulator.url}, name="gateway"
    )
    routers: list[ServiceProcess] = []
    stack = Stack(prefix, secret_key, env, emulator, gateway, routers, EmulatorControl(emulator.url))
    try:
        gateway.start()
        gateway_urls = [gateway.url] + [stack.start_gateway().url for _ in range(gateways - 1)]
        for _ in range(2):
            routers.append(
                ServiceProcess(
                    "services.router", env={**env, "GATEWAY_URLS": ",".join(gateway_urls)}, name="router"
                ).start()
            )
        yield stack
    finally:
        for proc in [*stack.extra, *routers, gateway]:
            proc.stop()
        stack.control.close()
        stack.wipe()


class Seeder:
    """Creates emulator accounts and the matching pool accounts, as the refresher would leave them."""

    def __init__(self, stack: Stack, client: aioredis.Redis) -> None:
        self.stack = stack
        self.redis = client
        self.keys = stack.keys
        self.box = SecretBox(stack.secret_key)
        self.states = AccountStates(client, self.keys)
        self.client_keys = ClientKeys(client, self.keys)

    async def refresh_queued(self, account_id: str) -> bool:
        """Whether a refresh job of this account waits in the stack's arq queue."""
        queued = await self.redis.zrange(self.keys.arq_queue(), 0, -1)
        return any(job.startswith(self.keys.refresh_job_id(account_id, "")) for job in queued)

    async def account(
        self,
        *,
        weight: int = 100,
        state: AccountState = AccountState.ACTIVE,
        until: float = 0.0,
        **fields: object,
    ) -> str:
        name = unique_name("rt")
        emulated = self.stack.control.register_account(name)
        account = Account(
            id=name,
            label=name,
            weight=weight,
            refresh_token_enc=self.box.encrypt(emulated["refresh_token"]),
            access_token_enc=self.box.encrypt(emulated["access_token"]),
            access_expires_at=time.time() + 3000,
            profile_arn=str(emulated.get("profile_arn") or ""),
            token_version=1,
        )
        for key, value in fields.items():
            setattr(account, key, value)
        await put_account(self.redis, self.keys, account)
        await self.states.set(name, state, "seeded", until, notify=False)
        return name

    async def client_key(self, **limits: object) -> str:
        _, plain = await self.client_keys.create("test", **limits)  # type: ignore[arg-type]
        return plain

    def chat_calls(self, account: str) -> int:
        counts = self.stack.control.counts(account)
        return sum(int(n) for endpoint, n in counts.items() if endpoint.startswith("chat_"))
