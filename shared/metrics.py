"""The Prometheus registry of a process and helpers every service uses to define and expose metrics.

Metric names start with `kiro_`. Labels never carry tokens or keys: accounts appear by id, client keys
by name.

With WORKERS > 1 (`shared/workers.py`) every worker writes its values to files in a directory of its
supervisor's (`merge_workers`) and `/metrics`, whichever worker answers it, reports them merged: counters
and histograms summed, each gauge by the mode it was defined with, and the process metrics of every live
worker with a `pid` label.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client import (
    ProcessCollector as _ProcessCollector,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

M = TypeVar("M", bound=MetricWrapperBase)

#: the variable prometheus_client reads for the directory of per-process metric files
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: how a gauge's per-worker values merge: livesum for counts of things in flight, livemax for "is it up"
#: flags and states, mostrecent for a value every worker reads from the same place (Redis)
GaugeMode = Literal["livesum", "livemax", "livemin", "mostrecent"]

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


def gauge(
    registry: CollectorRegistry,
    name: str,
    doc: str,
    labels: tuple[str, ...] = (),
    merge: GaugeMode = "livesum",
) -> Gauge:
    return Gauge(name, doc, labels, registry=registry, multiprocess_mode=merge)


#: gauge series this process retired while workers share metric files: prometheus_client cannot delete one
#: from the files, so it is zeroed there and `/metrics` leaves it out while its merged value is 0 (every
#: worker retires the same series: they resolve the same names and read the same pool)
_retired: set[tuple[str, tuple[tuple[str, str], ...]]] = set()


def _series_key(gauge: Gauge, labels: tuple[str, ...]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return gauge._name, tuple(sorted(zip(gauge._labelnames, labels, strict=True)))


def retire_series(gauge: Gauge, *labels: str) -> None:
    """Drop a labelled gauge series (an address DNS stopped giving, an account gone). With workers it is
    zeroed and hidden instead, so pod churn does not grow `/metrics` without end."""
    if WorkerFiles.path is None:
        gauge.remove(*labels)
    else:
        gauge.labels(*labels).set(0)
        _retired.add(_series_key(gauge, labels))


def series(gauge: Gauge, *labels: str) -> Gauge:
    """`gauge.labels(*labels)` for a series that may have been retired before: it shows again."""
    _retired.discard(_series_key(gauge, labels))
    return gauge.labels(*labels)


def histogram(
    registry: CollectorRegistry,
    name: str,
    doc: str,
    labels: tuple[str, ...] = (),
    buckets: tuple[float, ...] = LATENCY_BUCKETS,
) -> Histogram:
    return Histogram(name, doc, labels, registry=registry, buckets=buckets)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """Body and content type for a `/metrics` response: this process's registry, or with workers all of
    their files merged."""
    path = WorkerFiles.path
    if path is None:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    merged = CollectorRegistry()
    merged.register(_WithoutRetired(MultiProcessCollector(None, str(path))))  # type: ignore[no-untyped-call]
    merged.register(WorkerProcesses(path))
    return generate_latest(merged), CONTENT_TYPE_LATEST


def _hidden(name: str, labels: dict[str, str], value: float) -> bool:
    """A retired series (`retire_series`) still at 0 in the merged files."""
    return value == 0 and (name, tuple(sorted(labels.items()))) in _retired


class _WithoutRetired(Collector):
    """The merged worker files without the series `retire_series` retired, while their value is 0."""

    def __init__(self, files: Collector) -> None:
        self.files = files

    def collect(self) -> Iterator[Metric]:
        for family in self.files.collect():
            if _retired:
                family.samples = [
                    sample
                    for sample in family.samples
                    if not _hidden(family.name, sample.labels, sample.value)
                ]
            yield family


class WorkerFiles:
    """Where this process tree's workers keep their metric files; None in a single process."""

    path: Path | None = None


def merge_workers(path: Path) -> None:
    """In a supervisor before it forks: its workers write metric values to files under `path` (which
    prometheus_client finds through PROMETHEUS_MULTIPROC_DIR), and their `/metrics` merge them."""
    os.environ[MULTIPROC_ENV] = str(path)
    # prometheus_client chose its value store when first imported; metrics made from now on use files
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    WorkerFiles.path = path


class WorkerProcesses(Collector):
    """`process_*` metrics (memory, CPU, fds) of every live worker, told apart by a `pid` label.

    Workers are found by the pids in their metric file names; a dead worker's files stay (its counters
    still count) but it has no /proc entry any more.
    """

    _PID = re.compile(r"_(\d+)\.db$")

    def __init__(self, path: Path) -> None:
        self.path = path

    def pids(self) -> list[int]:
        found = {int(m.group(1)) for f in self.path.iterdir() if (m := self._PID.search(f.name))}
        return sorted(pid for pid in found if Path(f"/proc/{pid}").exists())

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for pid in self.pids():
            for family in _process_metrics(pid):
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from families.values()


def _process_metrics(pid: int) -> Iterable[Metric]:
    return _ProcessCollector(pid=lambda: pid, registry=None).collect()


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
