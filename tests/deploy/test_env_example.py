""".env.example documents every setting of every service, and deploy files name only real settings."""

from __future__ import annotations

import re

import yaml
from pydantic_settings import BaseSettings

from services.gateway.settings import GatewaySettings
from services.kiro_emulator.settings import EmulatorSettings
from services.refresher.settings import RefresherSettings
from services.router.settings import RouterSettings
from tests.deploy.tools import ROOT

SETTINGS: tuple[type[BaseSettings], ...] = (
    RouterSettings,
    GatewaySettings,
    RefresherSettings,
    EmulatorSettings,
)
# read by docker compose itself, the container health check or Grafana, not by the services
DEPLOY_ONLY = {
    "KIRO_IMAGE",
    "KIRO_HTTP_BIND",
    "KIRO_HTTP_PORT",
    "PROMETHEUS_PORT",
    "GRAFANA_PORT",
    "GF_SECURITY_ADMIN_PASSWORD",
    "HEALTHCHECK_URL",
}


def setting_names() -> set[str]:
    return {name.upper() for cls in SETTINGS for name in cls.model_fields}


def documented_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.M))


def test_env_example_documents_every_setting_of_every_service() -> None:
    missing = setting_names() - documented_names()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_names_only_real_settings() -> None:
    unknown = documented_names() - setting_names() - DEPLOY_ONLY
    assert not unknown, f"no service reads {sorted(unknown)}"


def test_env_example_leaves_secrets_empty_and_every_other_line_commented() -> None:
    active = re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.M)
    assert {name for name, _ in active} == {
        "KIRO_SECRET_KEY",
        "INTERNAL_API_KEY",
        "ADMIN_PASSWORD",
        "ADMIN_API_KEY",
        "PROXY_API_KEY",
    }
    assert all(value == "" for _, value in active)


def test_compose_sets_only_real_settings_in_container_environments() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    kiro = {n: s for n, s in compose["services"].items() if str(s.get("image")).startswith("${KIRO_IMAGE")}
    assert set(kiro) == {"router", "gateway", "refresher", "emulator"}
    for name, service in kiro.items():
        unknown = set(service.get("environment", {})) - setting_names() - DEPLOY_ONLY
        assert not unknown, f"{name}: {sorted(unknown)}"
