"""The Grafana dashboard: importable JSON, in step with its generator, every query valid PromQL."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.promql import DASHBOARD, dashboard, dashboard_expressions, recording_rules_file
from tests.deploy.tools import ROOT, run, tool

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

GENERATOR = ROOT / "deploy" / "grafana" / "build_dashboard.py"


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return dashboard()


def test_dashboard_is_the_output_of_its_generator() -> None:
    spec = importlib.util.spec_from_file_location("build_dashboard", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == DASHBOARD.read_text(), "run deploy/grafana/build_dashboard.py"


def test_dashboard_is_importable_as_is(board: dict[str, Any]) -> None:
    assert board["uid"] == "kiro-stack" and board["title"]
    assert "id" not in board, "an id from another Grafana would clash on import"
    (datasource,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert datasource["query"] == "prometheus"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]


def test_panels_do_not_overlap_on_the_grid(board: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_dashboard_shows_what_operators_look_for(board: dict[str, Any]) -> None:
    queries = " ".join(dashboard_expressions().values())
    for metric in [
        "kiro_router_requests_total",
        "kiro_router_ttfb_seconds_bucket",
        "kiro_router_stream_duration_seconds_bucket",
        "kiro_router_failovers_total",
        "kiro_refresher_accounts",
        "kiro_refresher_account_usage",
        "kiro_refresher_account_usage_limit",
        "kiro_refresher_token_seconds_to_expiry",
        "kiro_refresher_client_registration_seconds_to_expiry",
        "kiro_refresher_refresh_attempts_total",
        "kiro_router_pick_seconds_bucket",
        "kiro_router_credits_total",
    ]:
        assert metric in queries, metric
    for label in ("route", "model", "status", "client_key"):
        assert f"sum by ({label})" in queries


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) > 30
    rules = recording_rules_file(expressions, tmp_path / "dashboard.rules.yml")
    result = run([tool("promtool"), "check", "rules", str(rules)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_an_invalid_query(tmp_path: Path) -> None:
    rules = recording_rules_file(
        {"x": "sum by (le (rate(kiro_router_ttfb_seconds_bucket[5m]))"}, tmp_path / "r.yml"
    )
    assert run([tool("promtool"), "check", "rules", str(rules)]).returncode != 0
