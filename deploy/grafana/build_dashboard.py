"""Writes deploy/grafana/kiro-stack.json, the Kiro Stack Grafana dashboard (run after editing this file).

    .venv/bin/python deploy/grafana/build_dashboard.py

The JSON is committed and importable as is (Dashboards → Import, or the compose `monitoring` profile's
provisioning); a test checks it matches this script, that every query parses and that every metric it
queries is one the services export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("kiro-stack.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def quantiles(metric: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> list[tuple[str, str]]:
    group = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[{RATE}])))",
            f"p{round(q * 100)}{suffix}",
        )
        for q in qs
    ]


class Dashboard:
    """Lays panels out on Grafana's 24-column grid, row by row."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.y = 0
        self.x = 0
        self.row_height = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "id": len(self.panels) + 1,
                "title": title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        self.y += 1

    def panel(
        self,
        title: str,
        targets: list[tuple[str, str]],
        *,
        unit: str = "short",
        kind: str = "timeseries",
        width: int = 8,
        height: int = 8,
        description: str = "",
        stack: bool = False,
        instant: bool = False,
    ) -> None:
        if self.x + width > 24:
            self._newline()
        custom: dict[str, Any] = {}
        if kind == "timeseries":
            custom = {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 20 if stack else 0,
                "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                "showPoints": "never",
                "spanNulls": True,
            }
        self.panels.append(
            {
                "type": kind,
                "id": len(self.panels) + 1,
                "title": title,
                "description": description,
                "datasource": DS,
                "gridPos": {"x": self.x, "y": self.y, "w": width, "h": height},
                "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
                "options": _options(kind),
                "targets": [
                    {
                        "refId": chr(ord("A") + n),
                        "datasource": DS,
                        "expr": expr,
                        "legendFormat": legend,
                        "instant": instant,
                        "range": not instant,
                        **({"format": "table"} if kind == "table" else {}),
                    }
                    for n, (expr, legend) in enumerate(targets)
                ],
            }
        )
        self.x += width
        self.row_height = max(self.row_height, height)

    def _newline(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0


def _options(kind: str) -> dict[str, Any]:
    if kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if kind == "bargauge":
        return {
            "orientation": "horizontal",
            "displayMode": "gradient",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        }
    if kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
        }
    return {"showHeader": True}


def build() -> dict[str, Any]:
    d = Dashboard()
    requests = "kiro_router_requests_total"
    failing = (
        f'(sum(rate({requests}{{status=~"5.."}}[{RATE}])) or vector(0))'
        f" + (sum(rate(kiro_router_midstream_errors_total[{RATE}])) or vector(0))"
    )

    d.row("Overview")
    d.panel("Requests / s", [(f"sum(rate({requests}[{RATE}]))", "requests")], kind="stat", width=4, height=4)
    d.panel(
        "Failing (5xx or cut mid-stream)",
        [(f"({failing}) / sum(rate({requests}[{RATE}]))", "ratio")],
        kind="stat",
        unit="percentunit",
        width=4,
        height=4,
    )
    d.panel(
        "TTFB p99",
        [(f"histogram_quantile(0.99, sum by (le) (rate(kiro_router_ttfb_seconds_bucket[{RATE}])))", "p99")],
        kind="stat",
        unit="s",
        width=4,
        height=4,
    )
    d.panel(
        "Usable accounts",
        [('max(kiro_refresher_accounts{state="active"})', "active")],
        kind="stat",
        width=4,
        height=4,
    )
    d.panel(
        "Open streams",
        [("sum(kiro_gateway_inflight_streams)", "gateway streams")],
        kind="stat",
        width=4,
        height=4,
    )
    d.panel(
        "Gateway replicas admitted (worst router)",
        [("min(sum by (instance) (kiro_router_gateway_address_up))", "replicas")],
        kind="stat",
        width=4,
        height=4,
    )

    d.row("Traffic and errors")
    d.panel("Requests by route", [(f"sum by (route) (rate({requests}[{RATE}]))", "{{route}}")], unit="reqps")
    d.panel("Requests by model", [(f"sum by (model) (rate({requests}[{RATE}]))", "{{model}}")], unit="reqps")
    d.panel(
        "Responses by status",
        [(f"sum by (status) (rate({requests}[{RATE}]))", "{{status}}")],
        unit="reqps",
        stack=True,
    )
    d.panel(
        "Errors by route and status (4xx/5xx)",
        [(f'sum by (route, status) (rate({requests}{{status=~"[45].."}}[{RATE}]))', "{{route}} {{status}}")],
        unit="reqps",
    )
    d.panel(
        "Streams cut after the first byte",
        [
            (f"sum by (route) (rate(kiro_router_midstream_errors_total[{RATE}]))", "router {{route}}"),
            (f"sum by (kind) (rate(kiro_gateway_stream_errors_total[{RATE}]))", "gateway {{kind}}"),
        ],
        unit="reqps",
    )
    d.panel(
        "Failovers and refusals",
        [
            (f"sum by (reason) (rate(kiro_router_failovers_total[{RATE}]))", "failover: {{reason}}"),
            (f"sum by (reason) (rate(kiro_router_no_account_total[{RATE}]))", "no account: {{reason}}"),
            (
                f"sum by (reason) (rate(kiro_router_client_key_rejections_total[{RATE}]))",
                "client key: {{reason}}",
            ),
        ],
        unit="reqps",
        description="Failovers happen before the first byte; refusals are answered with 503 / 401 / 429.",
    )
    d.panel(
        "Requests by client key (top 10)",
        [(f"topk(10, sum by (client_key) (rate({requests}[{RATE}])))", "{{client_key}}")],
        unit="reqps",
        width=12,
        description="Keys by id (the panel's Client keys tab names them); '-' is a request without one.",
    )
    d.panel(
        "Credits by client key (top 10)",
        [(f"topk(10, sum by (client_key) (increase(kiro_router_credits_total[{RATE}])))", "{{client_key}}")],
        width=12,
        description="Kiro credits the key's requests were charged, as the usage trailer reports them.",
    )

    d.row("Latency")
    d.panel(
        "Time to first byte (router)",
        quantiles("kiro_router_ttfb_seconds"),
        unit="s",
        description="Request start at the router to the first byte from a gateway.",
    )
    d.panel(
        "Time to first byte from Kiro (gateway)",
        quantiles("kiro_gateway_ttfb_seconds"),
        unit="s",
        description="Router TTFB minus this is what router and gateway add.",
    )
    d.panel(
        "Stream duration (router)", quantiles("kiro_router_stream_duration_seconds", qs=(0.5, 0.99)), unit="s"
    )
    d.panel(
        "TTFB p99 by route",
        quantiles("kiro_router_ttfb_seconds", by="route", qs=(0.99,)),
        unit="s",
    )
    d.panel(
        "Redis: account pick latency",
        quantiles("kiro_router_pick_seconds", qs=(0.5, 0.99)),
        unit="s",
        description="One Lua call per pick: Redis round trip plus script time.",
    )
    d.panel(
        "Gateway attempts by outcome",
        [(f"sum by (outcome) (rate(kiro_router_attempts_total[{RATE}]))", "{{outcome}}")],
        unit="reqps",
    )

    d.row("Account pool")
    d.panel(
        "Accounts by state",
        [("max by (state) (kiro_refresher_accounts)", "{{state}}")],
        stack=True,
        description="active, cooldown, exhausted, needs_relogin, disabled, invalid, pending.",
    )
    d.panel(
        "Quota used (per account)",
        [
            (
                "max by (account_id) (kiro_refresher_account_usage)"
                " / max by (account_id) (kiro_refresher_account_usage_limit > 0)",
                "{{account_id}}",
            )
        ],
        kind="bargauge",
        unit="percentunit",
        instant=True,
    )
    d.panel(
        "Access token expires in (per account)",
        [("min by (account_id) (kiro_refresher_token_seconds_to_expiry)", "{{account_id}}")],
        kind="bargauge",
        unit="s",
        instant=True,
    )
    d.panel(
        "Usage vs limit (per account)",
        [
            ("max by (account_id) (kiro_refresher_account_usage)", "{{account_id}} used"),
            ("max by (account_id) (kiro_refresher_account_usage_limit)", "{{account_id}} limit"),
        ],
        width=12,
    )
    d.panel(
        "In-flight requests per account",
        [("sum by (account) (kiro_router_inflight)", "{{account}}")],
        width=12,
    )
    d.panel(
        "Requests per account",
        [(f'sum by (account) (rate({requests}{{account!=""}}[{RATE}]))', "{{account}}")],
        unit="reqps",
        width=12,
    )
    d.panel(
        "Accounts disabled by an upstream verdict",
        [(f"sum by (kind) (increase(kiro_router_account_alerts_total[{RATE}]))", "{{kind}}")],
        width=12,
    )

    d.panel(
        "Credit runway (days at the last 7 days' burn, per account)",
        [("max by (account) (kiro_router_account_credit_runway_days)", "{{account}}")],
        kind="bargauge",
        unit="d",
        instant=True,
        width=24,
        height=6,
        description="Accounts with a known limit and some use; the alert: under 3 days, before the reset.",
    )
    d.panel(
        "IdC / Builder ID login lapses in (client registration, per account)",
        [("min by (account_id) (kiro_refresher_client_registration_seconds_to_expiry)", "{{account_id}}")],
        kind="bargauge",
        unit="s",
        instant=True,
        width=24,
        height=6,
        description="The refresh token dies with the OIDC client registration: sign in again before then.",
    )

    d.row("Token refresh")
    d.panel(
        "Refresh attempts by result",
        [(f"sum by (result) (rate(kiro_refresher_refresh_attempts_total[{RATE}]))", "{{result}}")],
        unit="ops",
    )
    d.panel(
        "Refresh call duration",
        quantiles("kiro_refresher_refresh_duration_seconds", qs=(0.5, 0.99)),
        unit="s",
    )
    d.panel(
        "Usage-limit fetches by result",
        [(f"sum by (result) (rate(kiro_refresher_usage_fetches_total[{RATE}]))", "{{result}}")],
        unit="ops",
    )

    d.row("Kiro upstream (gateway)")
    d.panel(
        "Kiro calls by endpoint and outcome",
        [
            (
                f"sum by (endpoint, outcome) (rate(kiro_gateway_upstream_attempts_total[{RATE}]))",
                "{{endpoint}} {{outcome}}",
            )
        ],
        unit="reqps",
    )
    d.panel(
        "Retries and endpoint fallbacks",
        [
            (f"sum by (kind) (rate(kiro_gateway_upstream_retries_total[{RATE}]))", "retry: {{kind}}"),
            (f"sum by (kind) (rate(kiro_gateway_upstream_fallbacks_total[{RATE}]))", "fallback: {{kind}}"),
            (f"sum(rate(kiro_gateway_continuations_total[{RATE}]))", "auto-continuations"),
        ],
        unit="reqps",
    )
    d.panel(
        "Tokens and credits",
        [
            (f"sum by (direction) (rate(kiro_router_tokens_total[{RATE}]))", "tokens {{direction}}"),
            (f"sum(rate(kiro_gateway_credits_total[{RATE}]))", "credits"),
        ],
        unit="short",
    )

    d.panel(
        "Requests in flight per gateway replica (all routers)",
        [("sum by (address) (kiro_router_gateway_address_inflight)", "{{address}}")],
        width=12,
        description="Routers send each request to the replica with the fewest in flight: lines stay close.",
    )
    d.panel(
        "Gateway replicas admitted per router",
        [("sum by (instance) (kiro_router_gateway_address_up)", "{{instance}}")],
        width=12,
        description="A replica failing 3 times in a row is ejected, then probed back in.",
    )

    d.row("Processes")  # with WORKERS > 1 a series per worker, told apart by `pid`
    d.panel(
        "Resident memory",
        [('process_resident_memory_bytes{job=~"$job"}', "{{job}} {{instance}} {{pid}}")],
        unit="bytes",
    )
    d.panel(
        "CPU",
        [(f'rate(process_cpu_seconds_total{{job=~"$job"}}[{RATE}])', "{{job}} {{instance}} {{pid}}")],
        unit="percentunit",
    )
    d.panel(
        "Open file descriptors",
        [('process_open_fds{job=~"$job"}', "{{job}} {{instance}} {{pid}}")],
    )

    return {
        "title": "Kiro Stack",
        "uid": "kiro-stack",
        "description": "Kiro Stack router, gateway and refresher: traffic, latency, account pool, refresh.",
        "tags": ["kiro-stack"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                },
                {
                    "name": "job",
                    "label": "Job",
                    "type": "query",
                    "datasource": DS,
                    "query": {"query": "label_values(process_resident_memory_bytes, job)", "refId": "job"},
                    "definition": "label_values(process_resident_memory_bytes, job)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                    "hide": 0,
                },
            ]
        },
        "panels": d.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
