"""Every metric the alerts and the dashboard query is one the running services really export."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import redis as sync_redis

from tests.deploy.promql import alert_expressions, dashboard_expressions, metric_names
from tests.support.procs import ServiceProcess, free_port

pytestmark = pytest.mark.e2e


def exported_names(exposition: str) -> set[str]:
    """Sample names a scrape yields, including those of families that have no sample yet."""
    names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", exposition, re.M))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M):
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
    return names


@pytest.fixture(scope="module")
def scraped(emulator: ServiceProcess, redis_url: str, secret_key: str) -> Iterator[set[str]]:
    """emulator → gateway → router, plus a refresher, on a private key prefix; their /metrics names."""
    prefix = f"kst:deploy-{free_port()}:"
    env = {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "KIRO_SECRET_KEY": secret_key,
        "INTERNAL_API_KEY": "test-internal-deploy-metrics",
        "KIRO_EMULATOR_URL": emulator.url,
    }
    gateway = ServiceProcess("services.gateway", env=env, name="gateway")
    metrics_port = free_port()
    procs = [
        gateway,
        ServiceProcess(
            "services.refresher",
            args=[],
            env={**env, "REFRESHER_METRICS_PORT": str(metrics_port)},
            port=metrics_port,
            name="refresher",
        ),
        ServiceProcess("services.router", env={**env, "GATEWAY_URLS": gateway.url}, name="router"),
    ]
    started: list[ServiceProcess] = []
    try:
        for proc in procs:  # start all three, then wait: startup is the slow part of this module
            health_path, proc.health_path = proc.health_path, None
            started.append(proc.start())
            proc.health_path = health_path
        for proc in started:
            proc.wait_healthy()
        names: set[str] = set()
        for proc in started:
            response = httpx.get(proc.url + "/metrics", timeout=10)
            assert response.status_code == 200, f"{proc.name}: {response.status_code}"
            names |= exported_names(response.text)
        yield names
    finally:
        for proc in reversed(started):
            proc.stop()
        delete_prefix(redis_url, prefix)


def delete_prefix(redis_url: str, prefix: str) -> None:
    client = sync_redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_scrape_parser_sees_families_without_samples() -> None:
    text = "# HELP a_total x\n# TYPE a_total counter\n# HELP h x\n# TYPE h histogram\nb 1.0\n"
    assert exported_names(text) >= {"a_total", "h_bucket", "h_count", "b"}


def test_every_metric_the_alerts_query_is_exported(scraped: set[str]) -> None:
    for alert, expr in alert_expressions().items():
        missing = metric_names(expr) - scraped
        assert not missing, f"{alert} queries metrics no service exports: {sorted(missing)}"


def test_every_metric_the_dashboard_queries_is_exported(scraped: set[str]) -> None:
    queried = set()
    for panel, expr in dashboard_expressions().items():
        missing = metric_names(expr) - scraped
        assert not missing, f"panel {panel!r} queries metrics no service exports: {sorted(missing)}"
        queried |= metric_names(expr)
    assert len(queried) > 25
