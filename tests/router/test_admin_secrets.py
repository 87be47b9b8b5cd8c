"""Admin secrets: weak ones refused in production, and the environment stays authoritative across restarts
(a changed or removed ADMIN_PASSWORD takes the old password and every session with it)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
import redis as sync_redis

from shared.keys import Keys
from tests.support.procs import ROOT, ServiceProcess, free_port

pytestmark = pytest.mark.e2e


def start_router(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a router that is expected to refuse to start; its exit code and output."""
    full = {**os.environ, **env, "GATEWAY_URLS": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, "-m", "services.router", "--port", str(free_port())],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value", "minimum"),
    [("ADMIN_PASSWORD", "short-pass1", 12), ("ADMIN_API_KEY", "k" * 31, 32)],
)
def test_production_refuses_to_start_with_a_weak_admin_secret(
    stack_env: dict[str, str], name: str, value: str, minimum: int
) -> None:
    done = start_router({**stack_env, "KIRO_ENV": "production", name: value})
    assert done.returncode == 2, done.stdout + done.stderr
    assert name in done.stderr and str(minimum) in done.stderr, done.stderr


def test_production_starts_with_strong_admin_secrets(stack_env: dict[str, str]) -> None:
    env = {**stack_env, "KIRO_ENV": "production", "GATEWAY_URLS": "http://127.0.0.1:9"}
    env |= {"ADMIN_PASSWORD": "p" * 12, "ADMIN_API_KEY": "k" * 32}
    with ServiceProcess("services.router", env=env, name="router") as router:
        assert httpx.get(router.url + "/health", timeout=5).status_code == 200


def login(router: ServiceProcess, password: str) -> httpx.Response:
    return httpx.post(router.url + "/admin/api/login", json={"password": password}, timeout=10)


def session_status(router: ServiceProcess, session_id: str) -> int:
    r = httpx.get(router.url + "/admin/api/session", cookies={"ks_admin": session_id}, timeout=10)
    return r.status_code


def test_a_changed_or_removed_admin_password_ends_the_old_password_and_every_session(
    stack_env: dict[str, str], redis_url: str, key_prefix: str
) -> None:
    base = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9"}
    with ServiceProcess("services.router", env={**base, "ADMIN_PASSWORD": "first-password"}) as router:
        r = login(router, "first-password")
        assert r.status_code == 200, r.text
        first_session = r.cookies["ks_admin"]
        assert session_status(router, first_session) == 200

    with ServiceProcess("services.router", env={**base, "ADMIN_PASSWORD": "second-password"}) as router:
        assert session_status(router, first_session) == 401, "a session of the old password still works"
        assert login(router, "first-password").status_code == 401
        r = login(router, "second-password")
        assert r.status_code == 200, r.text
        second_session = r.cookies["ks_admin"]

    assert "ADMIN_PASSWORD" not in os.environ
    without = {k: v for k, v in base.items() if k != "ADMIN_PASSWORD"}
    with ServiceProcess("services.router", env=without) as router:
        assert session_status(router, second_session) == 401, "a session outlived the removed password"
        r = login(router, "second-password")
        assert r.status_code == 503, r.text
        assert "ADMIN_PASSWORD" in r.json()["detail"]
        # the API key still works for scripts
        bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
        assert httpx.get(router.url + "/admin/api/session", headers=bearer, timeout=10).status_code == 200

    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert not client.hget(Keys(key_prefix).admin(), "password_hash")
    finally:
        client.close()
