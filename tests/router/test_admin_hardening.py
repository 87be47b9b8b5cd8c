"""The admin panel is hardened from the first second: hashed password stored at start, no framing."""

from __future__ import annotations

import httpx
import pytest
import redis as sync_redis

from shared.crypto import verify_password
from shared.keys import Keys
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e


def test_admin_password_is_stored_hashed_at_start_before_any_login(
    router: ServiceProcess, redis_url: str, key_prefix: str, stack_env: dict[str, str]
) -> None:
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stored = client.hgetall(Keys(key_prefix).admin())
    finally:
        client.close()
    password = stack_env["ADMIN_PASSWORD"]
    assert stored, "nothing stored for the admin at start"
    assert all(password not in value for value in stored.values())
    assert any(verify_password(password, value) for value in stored.values())


def test_panel_pages_refuse_framing_and_sniffing(router: ServiceProcess) -> None:
    for path in ("/admin/", "/admin/js/main.js", "/admin/app.css"):
        response = httpx.get(router.url + path, timeout=5)
        assert response.status_code == 200, path
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
