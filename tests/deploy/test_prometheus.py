"""Prometheus scrape config and alert rules: valid for promtool, and the rules' unit tests pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.promql import ALERTS, alert_expressions
from tests.deploy.tools import ROOT, run, tool

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

PROMETHEUS = ROOT / "deploy" / "prometheus"
REQUIRED_ALERTS = {
    "KiroNoUsableAccounts",
    "KiroRefreshFailing",
    "KiroErrorRatioHigh",
    "KiroTimeToFirstByteHigh",
    "KiroAccountNeedsRelogin",
    "KiroQuotaNearlyExhausted",
    "KiroClientRegistrationExpiring",
    "KiroAccountCreditsRunningOut",
    # capacity: each fires before a limit of docs/capacity.md is reached
    "KiroRouterCpuSaturated",
    "KiroGatewayCpuSaturated",
    "KiroGatewayStreamsNearConnectionLimit",
    "KiroPoolNearlyExhausted",
    "KiroRedisCpuNearLimit",
    "KiroRedisOpsNearLimit",
}


def test_scrape_config_is_valid_and_scrapes_every_service() -> None:
    result = run([tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        (name, sd["port"])
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    }
    assert targets == {("router", 8088), ("gateway", 8000), ("refresher", 9102)}


def test_alert_rules_are_valid() -> None:
    result = run([tool("promtool"), "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_cover_the_failures_operators_must_hear_about() -> None:
    assert set(alert_expressions()) >= REQUIRED_ALERTS


def test_alert_rules_unit_tests_pass() -> None:
    result = run([tool("promtool"), "test", "rules", str(PROMETHEUS / "alerts_test.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    tested = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    names = {case["alertname"] for test in tested for case in test["alert_rule_test"]}
    assert names == set(alert_expressions()), "every alert needs a unit test"


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text(ALERTS.read_text().replace('{state="active"}) < 1', '{state="active"}) < 0'))
    tests = tmp_path / "alerts_test.yml"
    tests.write_text((PROMETHEUS / "alerts_test.yml").read_text())
    result = run([tool("promtool"), "test", "rules", str(tests)])
    assert result.returncode != 0
    assert "KiroNoUsableAccounts" in result.stdout + result.stderr
