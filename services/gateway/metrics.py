"""The gateway's Prometheus metrics (names start with kiro_gateway_); labels never carry secrets."""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from shared.metrics import DURATION_BUCKETS, LabelCache, counter, gauge, histogram, new_registry

M = TypeVar("M", bound=MetricWrapperBase)


class GatewayMetrics:
    """One set of metric objects per app instance, registered in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or new_registry()
        self.child = LabelCache()
        r = self.registry
        self.requests = counter(
            r,
            "kiro_gateway_requests_total",
            "client requests by route, status and model",
            ("route", "status", "model"),
        )
        self.upstream_attempts = counter(
            r,
            "kiro_gateway_upstream_attempts_total",
            "calls to Kiro by endpoint and outcome",
            ("endpoint", "outcome"),
        )
        self.upstream_retries = counter(
            r,
            "kiro_gateway_upstream_retries_total",
            "retries on the same endpoint by failure kind",
            ("endpoint", "kind"),
        )
        self.upstream_fallbacks = counter(
            r,
            "kiro_gateway_upstream_fallbacks_total",
            "switches to the next chat endpoint by the endpoint left and failure kind",
            ("endpoint", "kind"),
        )
        self.continuations = counter(
            r, "kiro_gateway_continuations_total", "auto-continuation requests for cut-off tool calls"
        )
        self.web_searches = counter(
            r,
            "kiro_gateway_web_searches_total",
            "web_search server tool calls by outcome (ok or the error code the client got)",
            ("outcome",),
        )
        self.structured_outputs = counter(
            r,
            "kiro_gateway_structured_outputs_total",
            "answers checked against a requested JSON format: valid, invalid, off_schema (non-strict)",
            ("outcome",),
        )
        self.stream_errors = counter(
            r, "kiro_gateway_stream_errors_total", "in-band errors after the first byte by kind", ("kind",)
        )
        self.ttfb = histogram(
            r, "kiro_gateway_ttfb_seconds", "request start to the first byte from Kiro", ("route",)
        )
        self.stream_duration = histogram(
            r,
            "kiro_gateway_stream_duration_seconds",
            "duration of streamed responses",
            ("route",),
            buckets=DURATION_BUCKETS,
        )
        self.tokens = counter(r, "kiro_gateway_tokens_total", "tokens in and out (estimated)", ("direction",))
        self.credits = counter(r, "kiro_gateway_credits_total", "Kiro credits metered")
        self.inflight_streams = gauge(r, "kiro_gateway_inflight_streams", "streamed responses in progress")
        self.image_fetches = counter(
            r,
            "kiro_gateway_image_fetches_total",
            "image URLs fetched for requests by outcome: fetched, refused (SSRF guard, size, type), failed",
            ("outcome",),
        )
        self.token_refreshes = counter(
            r, "kiro_gateway_token_refreshes_total", "standalone token refreshes by outcome", ("outcome",)
        )
        self.tokens_set_aside = counter(
            r,
            "kiro_gateway_standalone_tokens_set_aside_total",
            "KIRO_REFRESH_TOKENS tokens taken out of rotation, by failure kind (dead: until restart)",
            ("kind",),
        )
