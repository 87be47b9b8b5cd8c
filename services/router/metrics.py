"""The router's Prometheus metrics (names start with `kiro_router_`), one registry per app."""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import (
    DURATION_BUCKETS,
    FAST_BUCKETS,
    LATENCY_BUCKETS,
    LabelCache,
    counter,
    gauge,
    histogram,
)

M = TypeVar("M", Counter, Gauge, Histogram)


class RouterMetrics:
    """Every metric the router writes; accounts and client keys appear by id, never secrets."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.child = LabelCache()
        self.requests = counter(
            registry,
            "kiro_router_requests_total",
            "Client requests by route, final status, model, account and client key id",
            ("route", "status", "model", "account", "client_key"),
        )
        self.attempts = counter(
            registry, "kiro_router_attempts_total", "Gateway attempts by outcome", ("outcome",)
        )
        self.failovers = counter(
            registry, "kiro_router_failovers_total", "Attempts abandoned for another account", ("reason",)
        )
        self.pick_seconds = histogram(
            registry, "kiro_router_pick_seconds", "Account pick latency (one Lua call)", buckets=FAST_BUCKETS
        )
        self.ttfb_seconds = histogram(
            registry,
            "kiro_router_ttfb_seconds",
            "Request start to the first response byte from a gateway",
            ("route",),
            buckets=LATENCY_BUCKETS,
        )
        self.stream_seconds = histogram(
            registry,
            "kiro_router_stream_duration_seconds",
            "Request start to the last byte sent to the client",
            ("route",),
            buckets=DURATION_BUCKETS,
        )
        self.tokens = counter(
            registry,
            "kiro_router_tokens_total",
            "Tokens by direction (input/output), model and client key id",
            ("direction", "model", "client_key"),
        )
        self.credits = counter(
            registry,
            "kiro_router_credits_total",
            "Kiro credits by client key id and model",
            ("client_key", "model"),
        )
        self.pool_accounts = gauge(
            registry,
            "kiro_router_pool_accounts",
            "Accounts by state (refreshed from Redis)",
            ("state",),
            "mostrecent",
        )
        self.inflight = gauge(
            registry,
            "kiro_router_inflight",
            "In-flight requests of this router (all its workers) per account",
            ("account",),
        )
        self.no_account = counter(
            registry, "kiro_router_no_account_total", "503s because no account was usable", ("reason",)
        )
        self.account_alerts = counter(
            registry, "kiro_router_account_alerts_total", "Accounts disabled upstream", ("kind",)
        )
        self.key_rejections = counter(
            registry, "kiro_router_client_key_rejections_total", "Client requests refused", ("reason",)
        )
        self.gateway_up = gauge(
            registry,
            "kiro_router_gateway_up",
            "1 while some address of the gateway URL is admitted (not ejected)",
            ("gateway",),
            "livemax",
        )
        # one series per address the gateway name resolves to now (removed when DNS stops giving it)
        self.gateway_address_up = gauge(
            registry,
            "kiro_router_gateway_address_up",
            "1 while the gateway address is admitted, 0 while it is ejected",
            ("gateway", "address"),
            "livemax",
        )
        self.gateway_address_inflight = gauge(
            registry,
            "kiro_router_gateway_address_inflight",
            "Requests of this router (all its workers) in flight to the gateway address",
            ("gateway", "address"),
        )
        self.midstream_errors = counter(
            registry, "kiro_router_midstream_errors_total", "Streams cut after the first byte", ("route",)
        )
        self.redis_breaker_state = gauge(
            registry,
            "kiro_router_redis_breaker_state",
            "Redis circuit breaker: 0 closed, 1 open, 2 half-open",
            merge="livemax",
        )
        self.redis_short_circuited = counter(
            registry, "kiro_router_redis_short_circuited_total", "Redis calls refused by the open breaker"
        )
        # only accounts with a known limit and some burn in the last 7 days; an account's series go with it
        # (with workers too: `shared.metrics.retire_series`)
        self.credit_runway_days = gauge(
            registry,
            "kiro_router_account_credit_runway_days",
            "Days until the account's credits run out at its average burn of the last 7 days",
            ("account",),
            "mostrecent",
        )
        self.credit_reset_days = gauge(
            registry,
            "kiro_router_account_credit_reset_days",
            "Days until the account's usage limit resets (+Inf when no reset date is known)",
            ("account",),
            "mostrecent",
        )
        self.loop_restarts = counter(
            registry,
            "kiro_router_background_restarts_total",
            "Background loops restarted after an unexpected exception",
            ("loop",),
        )
