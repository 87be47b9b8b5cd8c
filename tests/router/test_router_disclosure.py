"""What the router tells a stranger: `/metrics` only with METRICS_BEARER when one is set, and an OpenAPI
description without the admin API unless the caller is the admin."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.procs import ServiceProcess, free_port

pytestmark = pytest.mark.e2e

BEARER = "metrics-bearer-for-tests-0123456789"


@pytest.fixture
def router(stack_env: dict[str, str]) -> Iterator[ServiceProcess]:
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9", "METRICS_BEARER": BEARER}
    with ServiceProcess("services.router", env=env, name="router") as proc:
        yield proc


def test_metrics_need_the_bearer_when_one_is_configured(router: ServiceProcess) -> None:
    anonymous = httpx.get(router.url + "/metrics", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "kiro_" not in anonymous.text
    wrong = httpx.get(router.url + "/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert wrong.status_code == 401
    scraped = httpx.get(router.url + "/metrics", headers={"Authorization": f"Bearer {BEARER}"}, timeout=10)
    assert scraped.status_code == 200
    assert "kiro_" in scraped.text


def test_metrics_stay_open_without_a_bearer_configured(stack_env: dict[str, str]) -> None:
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9"}
    with ServiceProcess("services.router", env=env, name="router") as router:
        assert httpx.get(router.url + "/metrics", timeout=10).status_code == 200


def test_openapi_lists_the_admin_api_only_to_the_admin(
    router: ServiceProcess, stack_env: dict[str, str]
) -> None:
    anonymous = httpx.get(router.url + "/openapi.json", timeout=10)
    assert anonymous.status_code == 200
    public = anonymous.json()
    assert "/v1/messages" in public["paths"]
    assert not [path for path in public["paths"] if path.startswith("/admin")]
    assert "AccountCreate" not in public.get("components", {}).get("schemas", {})
    assert "admin" not in anonymous.text.lower()

    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    full = httpx.get(router.url + "/openapi.json", headers=bearer, timeout=10).json()
    assert "/admin/api/accounts" in full["paths"] and "/v1/messages" in full["paths"]
    assert "AccountCreate" in full["components"]["schemas"]

    wrong = httpx.get(router.url + "/openapi.json", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert wrong.status_code == 200 and "/admin/api/accounts" not in wrong.json()["paths"]
    assert httpx.get(router.url + "/docs", timeout=10).status_code == 404


def test_metrics_port_serves_the_metrics_apart_from_the_client_port(stack_env: dict[str, str]) -> None:
    port = free_port()
    env = {**stack_env, "GATEWAY_URLS": "http://127.0.0.1:9", "METRICS_PORT": str(port)}
    with ServiceProcess("services.router", env=env, name="router") as router:
        assert httpx.get(router.url + "/metrics", timeout=10).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200 and "kiro_" in scraped.text
