"""Changing the admin password through the admin API: the current one is checked like a login, every
other session ends, the caller stays signed in, and only a changed ADMIN_PASSWORD overrides it at a
restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import redis as sync_redis

from services.router.routes.admin_login_limit import FAILURES_PER_CLIENT
from shared.keys import Keys
from tests.support.procs import ServiceProcess

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "set-in-the-panel-42"
ENDED = "every admin session ended"  # the router's warning when ADMIN_PASSWORD replaced a password


@contextmanager
def signed_in(router: ServiceProcess, password: str, address: str = "127.0.0.1") -> Iterator[httpx.Client]:
    """A panel session from `address`: an admin API client holding the session cookie."""
    transport = httpx.HTTPTransport(local_address=address)
    headers = {"X-Requested-With": "kiro-stack-admin"}
    with httpx.Client(
        base_url=router.url + "/admin/api", headers=headers, transport=transport, timeout=10
    ) as client:
        r = client.post("/login", json={"password": password})
        assert r.status_code == 200, r.text
        yield client


def change(client: httpx.Client, current: str, new: str) -> httpx.Response:
    return client.post("/password", json={"current_password": current, "new_password": new})


def login_status(router: ServiceProcess, password: str) -> int:
    return httpx.post(router.url + "/admin/api/login", json={"password": password}, timeout=10).status_code


def router_env(stack_env: dict[str, str], password: str) -> dict[str, str]:
    return {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9", "ADMIN_PASSWORD": password}


def test_a_wrong_current_password_is_refused_and_counted_like_a_failed_login(
    router: ServiceProcess, stack_env: dict[str, str]
) -> None:
    password = stack_env["ADMIN_PASSWORD"]
    with signed_in(router, password, "127.0.0.7") as admin:
        for i in range(FAILURES_PER_CLIENT):
            r = change(admin, f"guess-{i}", NEW_PASSWORD)
            assert r.status_code == 403, r.text
            assert r.json()["detail"] == "the current password is wrong"
        # the limit of logins applies: the right password is not even checked now
        r = change(admin, password, NEW_PASSWORD)
        assert r.status_code == 429, r.text
        assert admin.post("/login", json={"password": password}).status_code == 429
        assert admin.get("/session").status_code == 200, "a wrong guess ended the session"
    assert login_status(router, NEW_PASSWORD) == 401
    assert login_status(router, password) == 200


def test_a_new_password_shorter_than_production_allows_is_refused_naming_the_rule(
    router: ServiceProcess, stack_env: dict[str, str]
) -> None:
    password = stack_env["ADMIN_PASSWORD"]
    with signed_in(router, password) as admin:
        r = change(admin, password, "short-pass1")
        assert r.status_code == 400, r.text
        assert "at least 12 characters" in r.json()["detail"]
    assert login_status(router, "short-pass1") == 401
    assert login_status(router, password) == 200


def test_a_changed_password_ends_every_other_session_and_keeps_the_callers(
    router: ServiceProcess, stack_env: dict[str, str], redis_url: str, key_prefix: str
) -> None:
    password = stack_env["ADMIN_PASSWORD"]
    with signed_in(router, password) as other, signed_in(router, password) as admin:
        # a cross-site form cannot do it with the cookie alone
        forged = httpx.post(
            router.url + "/admin/api/password",
            json={"current_password": password, "new_password": NEW_PASSWORD},
            cookies=admin.cookies,
            timeout=10,
        )
        assert forged.status_code == 403, forged.text

        r = change(admin, password, NEW_PASSWORD)
        assert r.status_code == 200, r.text
        assert r.json() == {"changed": True}
        assert admin.get("/session").status_code == 200, "the caller was signed out"
        assert admin.get("/settings").status_code == 200
        assert other.get("/session").status_code == 401, "a session opened before the change still works"
    assert login_status(router, password) == 401
    assert login_status(router, NEW_PASSWORD) == 200

    # scripts with the API key can change it too (no session of theirs to keep)
    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    r = httpx.post(
        router.url + "/admin/api/password",
        json={"current_password": NEW_PASSWORD, "new_password": password},
        headers=bearer,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert login_status(router, password) == 200

    logs = router.logs()
    assert logs.count("admin password changed") == 2
    assert password not in logs and NEW_PASSWORD not in logs
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stored = client.hgetall(Keys(key_prefix).admin())
    finally:
        client.close()
    assert not any(password in v or NEW_PASSWORD in v for v in stored.values())


def test_a_change_on_one_router_applies_on_every_router(stack_env: dict[str, str]) -> None:
    env = router_env(stack_env, "environment-password-1")
    with ServiceProcess("services.router", env=env) as one, ServiceProcess("services.router", env=env) as two:
        with (
            signed_in(two, "environment-password-1") as on_two,
            signed_in(one, "environment-password-1") as on_one,
        ):
            assert change(on_one, "environment-password-1", NEW_PASSWORD).status_code == 200
            assert on_two.get("/session").status_code == 401
            assert on_one.get("/session").status_code == 200
        assert login_status(two, "environment-password-1") == 401
        assert login_status(two, NEW_PASSWORD) == 200


def test_a_panel_password_survives_a_restart_until_admin_password_changes(stack_env: dict[str, str]) -> None:
    env = router_env(stack_env, "environment-password-1")
    with (
        ServiceProcess("services.router", env=env) as router,
        signed_in(router, "environment-password-1") as admin,
    ):
        assert change(admin, "environment-password-1", NEW_PASSWORD).status_code == 200
        session = dict(admin.cookies)
        assert router.count_in_logs("admin password set from ADMIN_PASSWORD") == 1
        assert router.count_in_logs(ENDED) == 0  # the first password ends nothing: no warning

    with ServiceProcess("services.router", env=env) as router:
        assert login_status(router, "environment-password-1") == 401, (
            "the restart brought the old password back"
        )
        assert login_status(router, NEW_PASSWORD) == 200
        r = httpx.get(router.url + "/admin/api/session", cookies=session, timeout=10)
        assert r.status_code == 200, "a restart with the same ADMIN_PASSWORD ended the session"

    with ServiceProcess("services.router", env=router_env(stack_env, "environment-password-2")) as router:
        assert login_status(router, NEW_PASSWORD) == 401, "a new ADMIN_PASSWORD did not override the panel's"
        assert login_status(router, "environment-password-2") == 200
        r = httpx.get(router.url + "/admin/api/session", cookies=session, timeout=10)
        assert r.status_code == 401
        assert router.count_in_logs(ENDED) == 1
