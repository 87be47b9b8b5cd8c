"""The processes a benchmark measures: emulator, gateway, router(s), refresher, on a private key prefix."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from cryptography.fernet import Fernet

from services.kiro_emulator.control import EmulatorControl
from tests.support.procs import ServiceProcess, free_port


@dataclass
class Account:
    name: str
    access_token: str
    refresh_token: str
    profile_arn: str


@dataclass
class BenchStack:
    """Real service processes on free loopback ports; `stop()` also deletes the stack's Redis keys."""

    redis_url: str
    routers_wanted: int = 1
    #: also a router and a gateway with WORKERS=2 (`w2-router` → `w2-gateway`), for the 1 vs 2 workers point
    with_workers: bool = True
    prefix: str = field(default_factory=lambda: f"ksbench:{uuid.uuid4().hex[:10]}:")
    internal_key: str = field(default_factory=lambda: "bench-internal-" + uuid.uuid4().hex)
    client_key: str = field(default_factory=lambda: "bench-client-" + uuid.uuid4().hex)
    admin_key: str = field(default_factory=lambda: "bench-admin-" + uuid.uuid4().hex)
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    account: Account | None = None
    account_id: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)  # more settings for every service

    @property
    def env(self) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_url,
            "REDIS_KEY_PREFIX": self.prefix,
            "INTERNAL_API_KEY": self.internal_key,
            "ADMIN_API_KEY": self.admin_key,
            "ADMIN_PASSWORD": "bench-admin-password",
            "PROXY_API_KEY": self.client_key,
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }

    def start(self) -> BenchStack:
        secret = Fernet.generate_key().decode()
        emulator = self._spawn("emulator", "services.kiro_emulator", health="/_emulator/health")
        emulator.wait_healthy()
        env = {**self.env, "KIRO_SECRET_KEY": secret, "KIRO_EMULATOR_URL": emulator.url}
        gateway = self._spawn("gateway", "services.gateway", env=env)
        metrics_port = free_port()
        self._spawn(
            "refresher",
            "services.refresher",
            env={**env, "REFRESHER_METRICS_PORT": str(metrics_port)},
            args=[],
            port=metrics_port,
        )
        router_env = {**env, "GATEWAY_URLS": gateway.url, "DEFAULT_MAX_CONCURRENCY": "100000"}
        for n in range(self.routers_wanted):
            self._spawn(f"router-{n + 1}", "services.router", env=router_env)
        if self.with_workers:
            w2_gateway = self._spawn("w2-gateway", "services.gateway", env={**env, "WORKERS": "2"})
            w2_env = {**router_env, "GATEWAY_URLS": w2_gateway.url, "WORKERS": "2"}
            self._spawn("w2-router", "services.router", env=w2_env)
        for proc in self.procs.values():
            proc.wait_healthy()
        self.account = self._add_account(emulator.url)
        self._wait_router_ready()
        return self

    def _spawn(
        self,
        name: str,
        module: str,
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        port: int | None = None,
        health: str = "/health",
    ) -> ServiceProcess:
        """Start a process without waiting for it (the caller waits for all of them at once)."""
        proc = ServiceProcess(module, args=args, env=env, port=port, health_path=None, name=name)
        self.procs[name] = proc
        proc.start()
        proc.health_path = health
        return proc

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()
        client = redis.Redis.from_url(self.redis_url)
        try:
            # arq's own keys are `arq:<kind>:<job id>`, and our job ids start with the prefix
            patterns = (f"{self.prefix}*", f"arq:*:{self.prefix}*")
            keys = [k for pattern in patterns for k in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()

    @property
    def routers(self) -> list[ServiceProcess]:
        return [p for n, p in self.procs.items() if n.startswith("router-")]

    def pids(self) -> dict[str, int]:
        """Each process by name; the workers of a WORKERS=2 service as `<name>/<n>` next to it."""
        pids = {name: p.proc.pid for name, p in self.procs.items() if p.proc is not None}
        for name in [n for n in pids if n.startswith("w2-")]:
            for n, pid in enumerate(sorted(children(pids[name]))):
                pids[f"{name}/{n}"] = pid
        return pids

    def _add_account(self, emulator_url: str) -> Account:
        """An emulator account, added through the admin API and made active by the refresher."""
        name = f"bench-{uuid.uuid4().hex[:8]}"
        with EmulatorControl(emulator_url) as control:
            view = control.register_account(name, auth_kind="social")
        account = Account(name, view["access_token"], view["refresh_token"], view.get("profile_arn") or "")
        admin = {"authorization": f"Bearer {self.admin_key}"}
        router = self.routers[0].url
        created = httpx.post(
            f"{router}/admin/api/accounts",
            json={"auth_kind": "social", "refresh_token": account.refresh_token, "label": name},
            headers=admin,
            timeout=10,
        )
        created.raise_for_status()
        account_id = self.account_id = created.json()["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = httpx.get(f"{router}/admin/api/accounts/{account_id}", headers=admin, timeout=10).json()
            if state.get("state") == "active":
                return account
            time.sleep(0.2)
        raise RuntimeError(f"account {account_id} never became active: {state}")

    def _wait_router_ready(self) -> None:
        deadline = time.monotonic() + 30
        w2 = [self.procs["w2-router"]] if "w2-router" in self.procs else []
        for router in [*self.routers, *w2]:
            while httpx.get(router.url + "/ready", timeout=5).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{router.name} not ready:\n{router.logs()}")
                time.sleep(0.2)


def children(pid: int) -> set[int]:
    """Pids whose parent is `pid` (a supervisor's workers), read from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found
