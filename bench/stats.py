"""Summaries of load samples: percentiles, throughput, losses."""

from __future__ import annotations

import math
from typing import Any

from bench.load import Sample


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def summarize(samples: list[Sample], duration: float, *, closed_loop: int = 0) -> dict[str, Any]:
    """Measured samples only (started after warm-up): counts, TTFB/total percentiles in ms, throughput.

    Throughput is answers per second of `duration`; with `closed_loop` = the number of loops, it is
    Little's law instead (loops / mean answer time, errors excluded): steady when an answer lasts about
    as long as the window, where counting answers started in the window jumps with the loops' phase.
    """
    measured = [s for s in samples if s[6]]
    ok = [s for s in measured if s[0]]
    ttft = [s[3] * 1000 for s in ok]
    ttfb = [s[2] * 1000 for s in ok]
    total = [s[4] * 1000 for s in ok]
    statuses: dict[str, int] = {}
    for s in measured:
        if not s[0]:
            statuses[str(s[1])] = statuses.get(str(s[1]), 0) + 1
    return {
        "requests": len(measured),
        "ok": len(ok),
        "errors": len(measured) - len(ok),
        "error_statuses": statuses,
        "events_lost": sum(s[5] for s in ok),
        "events_reordered": sum(s[7] for s in ok),
        "ttft_p50_ms": round(percentile(ttft, 50), 3),
        "ttft_p99_ms": round(percentile(ttft, 99), 3),
        "ttfb_p50_ms": round(percentile(ttfb, 50), 3),
        "ttfb_p99_ms": round(percentile(ttfb, 99), 3),
        "total_p50_ms": round(percentile(total, 50), 3),
        "total_p99_ms": round(percentile(total, 99), 3),
        "throughput_rps": round(len(ok) / duration, 1) if duration else 0.0,
    } | ({"throughput_rps": _little(closed_loop, ok, len(measured))} if closed_loop else {})


def _little(loops: int, ok: list[Sample], measured: int) -> float:
    if not ok:
        return 0.0
    mean_seconds = sum(s[4] for s in ok) / len(ok)
    return round(loops * len(ok) / measured / mean_seconds, 1)
