"""The Prometheus registry of a process and helpers every service uses to define and expose metrics.

Metric names start with `kiro_`. Labels never carry tokens or keys: accounts appear by id, client keys
by name.
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    ProcessCollector as _ProcessCollector,
)
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)

# seconds; fine at the low end for proxy overheads, up to long generations
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
)
FAST_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def new_registry() -> CollectorRegistry:
    """A registry per app instance (tests start several in one process), with process metrics."""
    registry = CollectorRegistry(auto_describe=True)
    _ProcessCollector(registry=registry)
    return registry


def counter(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(name, doc, labels, registry=registry)


def gauge(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return Gauge(name, doc, labels, registry=registry)


def histogram(
    registry: CollectorRegistry,
    name: str,
    doc: str,
    labels: tuple[str, ...] = (),
    buckets: tuple[float, ...] = LATENCY_BUCKETS,
) -> Histogram:
    return Histogram(name, doc, labels, registry=registry, buckets=buckets)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """Body and content type for a `/metrics` response."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class LabelCache:
    """`metric.labels(*values)` looked up once: `labels()` takes a lock and rebuilds its key on every call.

    Per request that is a dict hit instead. Safe because no service removes a labelled child, and label
    values are bounded (routes, statuses, models, account ids, failure kinds), so the cache is too.
    """

    def __init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}

    def __call__(self, metric: M, *values: str) -> M:
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found  # type: ignore[return-value]
