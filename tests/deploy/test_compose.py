"""docker-compose.yml: valid for Docker Compose, scalable, healthy start order, persistence, secrets."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.router.settings import RouterSettings
from tests.deploy.tools import ROOT, run, tool

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

COMPOSE_FILE = ROOT / "docker-compose.yml"
SCALED = ("router", "gateway")
KIRO_SERVICES = ("router", "gateway", "refresher", "emulator")
SECRETS = ("KIRO_SECRET_KEY", "INTERNAL_API_KEY", "ADMIN_PASSWORD", "ADMIN_API_KEY", "PROXY_API_KEY")


def compose_project(tmp_path: Path, compose_text: str) -> Path:
    """A copy of the project as a user has it after `cp .env.example .env`."""
    (tmp_path / "docker-compose.yml").write_text(compose_text)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")
    return tmp_path


def compose_config(project: Path) -> tuple[int, str, str]:
    result = run(
        [
            tool("docker-compose"),
            "--profile",
            "emulator",
            "--profile",
            "monitoring",
            "config",
            "--format",
            "json",
        ],
        cwd=project,
    )
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The file as Docker Compose itself resolves it (all profiles, anchors merged, .env applied)."""
    project = compose_project(tmp_path_factory.mktemp("compose"), COMPOSE_FILE.read_text())
    code, out, err = compose_config(project)
    assert code == 0, err
    resolved: dict[str, Any] = json.loads(out)
    return resolved


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def test_docker_compose_accepts_the_file(config: dict[str, Any]) -> None:
    assert {"redis", "router", "gateway", "refresher", "lb", "emulator"} <= set(config["services"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.replace("condition: service_healthy", "condition: when_ready", 1), "condition"),
        (lambda s: s.replace("interval: 5s", "interval: soon", 1), "interval"),
        (
            lambda s: s.replace("      redis:\n        condition", "      redsi:\n        condition", 1),
            "redsi",
        ),
    ],
)
def test_docker_compose_rejects_a_broken_file(tmp_path: Path, change: Any, message: str) -> None:
    broken = change(COMPOSE_FILE.read_text())
    assert broken != COMPOSE_FILE.read_text()
    code, _, err = compose_config(compose_project(tmp_path, broken))
    assert code != 0
    assert message in err


def test_scaled_services_have_no_container_name_or_host_ports(config: dict[str, Any]) -> None:
    for name in SCALED:
        service = config["services"][name]
        assert "container_name" not in service, name
        assert not service.get("ports"), f"{name} publishes a host port: --scale would collide"


def test_clients_enter_through_the_load_balancer_only(config: dict[str, Any]) -> None:
    published = {name for name, s in config["services"].items() if s.get("ports")}
    assert published == {"lb", "prometheus", "grafana"}
    for name in ("prometheus", "grafana"):
        assert all(p["host_ip"] == "127.0.0.1" for p in config["services"][name]["ports"])


def test_router_reaches_every_gateway_replica_through_service_dns(config: dict[str, Any]) -> None:
    env = config["services"]["router"]["environment"]
    assert env["GATEWAY_URLS"] == "http://gateway:8000"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert config["services"]["gateway"]["environment"]["PORT"] == "8000"


def test_every_long_running_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        if name == "grafana":
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_services_start_only_after_their_dependencies_are_healthy(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for dep, spec in service.get("depends_on", {}).items():
            assert spec["condition"] == "service_healthy", f"{name} -> {dep}"
    router_deps = config["services"]["router"]["depends_on"]
    assert router_deps["redis"]["required"] and router_deps["gateway"]["required"]
    # the emulator exists only in its profile: waiting for it must be optional
    assert router_deps["emulator"]["required"] is False


def test_kiro_services_listen_on_all_interfaces_where_health_checks_probe(config: dict[str, Any]) -> None:
    ports = {"router": "8088", "gateway": "8000", "refresher": "9102", "emulator": "9100"}
    for name, port in ports.items():
        env = config["services"][name]["environment"]
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/\S+", env["HEALTHCHECK_URL"]), name
        # set here, not left to the image: a HOST=127.0.0.1 in .env would hide the service from the others
        assert env.get("HOST", env.get("REFRESHER_METRICS_HOST")) == "0.0.0.0", name
        assert env.get("PORT", env.get("REFRESHER_METRICS_PORT")) == port, name


def test_redis_persists_with_append_only_file_on_a_named_volume(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    (volume,) = [v for v in redis["volumes"] if v["target"] == "/data"]
    assert volume["type"] == "volume" and volume["source"] in config["volumes"]


def test_secrets_come_from_the_env_file_never_from_the_compose_file(
    config: dict[str, Any], raw: dict[str, Any]
) -> None:
    for name in KIRO_SERVICES:
        assert set(SECRETS) <= set(config["services"][name]["environment"]), name
    written = json.dumps(raw)
    for secret in SECRETS:
        assert secret not in written, f"{secret} is set in docker-compose.yml; it belongs in .env"


def test_emulator_runs_only_in_its_profile(config: dict[str, Any]) -> None:
    assert config["services"]["emulator"]["profiles"] == ["emulator"]
    for name in ("router", "gateway", "refresher", "redis", "lb"):
        assert not config["services"][name].get("profiles"), name


def test_containers_get_the_shutdown_delay_and_drain_window_before_being_killed(
    config: dict[str, Any],
) -> None:
    drain = RouterSettings.model_fields["drain_timeout_seconds"].default
    for name in ("router", "gateway"):
        service = config["services"][name]
        delay = float(service["environment"].get("SHUTDOWN_DELAY_SECONDS", 0))
        assert int(service["stop_grace_period"].removesuffix("s")) >= delay + drain + 5, name
    assert (
        float(config["services"]["router"]["environment"]["SHUTDOWN_DELAY_SECONDS"]) >= 4
    )  # HAProxy: 2 s x 2


def test_kiro_containers_are_locked_down(config: dict[str, Any]) -> None:
    for name in KIRO_SERVICES:
        service = config["services"][name]
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
