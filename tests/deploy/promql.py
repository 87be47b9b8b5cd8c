"""PromQL expressions of the alert rules and the dashboard, and the metric names they query."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import ROOT

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "kiro-stack.json"
# Grafana's variables, replaced by what they expand to so promtool can parse the expressions
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$job": ".*"}
METRIC = re.compile(r"\b((?:kiro|process)_[a-z0-9_]+)\b")
# names in label matchers' values or templates that are not metrics
_NOT_METRICS = re.compile(r'"[^"]*"|\'[^\']*\'')


def alert_expressions() -> dict[str, str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_expressions() -> dict[str, str]:
    """`panel title/refId` -> expression with Grafana variables expanded (panels and variables)."""
    board = dashboard()
    found: dict[str, str] = {}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            found[f"{panel['title']}/{target['refId']}"] = expand(target["expr"])
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            match = re.fullmatch(r"label_values\((\w+), *\w+\)", query["query"])
            assert match, f"variable {variable['name']}: unsupported query {query['query']}"
            found[f"variable {variable['name']}"] = match.group(1)
    return found


def expand(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def metric_names(expr: str) -> set[str]:
    return set(METRIC.findall(_NOT_METRICS.sub('""', expr)))


def recording_rules_file(expressions: dict[str, str], path: Path) -> Path:
    """The expressions as recording rules, so `promtool check rules` parses every one of them."""
    rules = [{"record": f"check:expr_{n}", "expr": expr} for n, expr in enumerate(expressions.values())]
    path.write_text(yaml.safe_dump({"groups": [{"name": "parse-check", "rules": rules}]}))
    return path
