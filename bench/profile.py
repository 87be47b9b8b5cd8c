"""Where the time goes: py-spy samples of a running service, summarised by function."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def start_recording(pid: int, out: Path, seconds: float, rate: int = 250) -> subprocess.Popen[bytes] | None:
    """`py-spy record` of one process in raw (collapsed stacks) format, in the background."""
    exe = py_spy()
    if exe is None:
        return None
    args = [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate)]
    args += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _package(frame: str) -> str:
    """`name (fastapi/routing.py:12)` -> `fastapi`; our code by its first two folders (`services/router`)."""
    path = frame.rpartition(" (")[2].rsplit(":", 1)[0]
    parts = path.replace("<frozen ", "").strip("<>)").split("/")
    if parts[0] in {"services", "shared"} and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py") if len(parts) > 1 else "asyncio/stdlib"


def _function(frame: str) -> str:
    """`name (path/to/file.py:123)` -> `name (file.py)`: lines of one function add up."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1].rstrip(")")
    return f"{name} ({file})" if file else name


# what a request costs a service, by step: the functions whose inclusive time makes up each step
PHASES = {
    "router": {
        "dependency in threadpool": ("run_in_threadpool",),
        "key admission + first pick (Redis)": ("authorize_and_pick",),
        "failover pick (Redis)": ("Pool.pick",),
        "request to the gateway": ("ClientSession._request",),
        "relay of the body": ("RelayResponse._pump",),
        "settle: lease release and usage (Redis)": ("settle",),
        "all Redis calls": (
            "Redis.execute_command",
            "run_script",
            "AsyncScript.__call__",
            "Pipeline.execute",
        ),
    },
    "gateway": {
        "dependency in threadpool": ("run_in_threadpool",),
        "request to Kiro": ("ClientSession._request",),
        "event-stream decoding": ("EventStreamDecoder._decode_available",),
        "translation to SSE": ("StreamTranslator.feed",),
        "token counting": ("count_text", "count_tokens", "estimate_input_tokens"),
        "response writing": ("StreamingResponse.stream_response",),
    },
}


def summarize(raw: Path, top: int = 15, phases: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Top functions by own time (leaf frames) and by inclusive time, as shares of all samples.

    With `phases`, also the share of samples spent inside any of each phase's functions.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    in_phase: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = [f for f in stack.split(";") if f]
        if not raw_frames:
            continue
        frames = [_function(f) for f in raw_frames]
        by_package[_package(raw_frames[-1])] += count
        total += count
        own[frames[-1]] += count
        names = {f.split(" (")[0] for f in frames}
        for name in set(frames):
            inclusive[name] += count
        for phase, functions in (phases or {}).items():
            if names.intersection(functions):
                in_phase[phase] += count
    if not total:
        return {"samples": 0, "own": [], "inclusive": [], "phases": {}, "own_by_package": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    phase_shares = {phase: round(100 * in_phase[phase] / total, 1) for phase in phases or {}}
    return {
        "samples": total,
        "own": share(own),
        "inclusive": share(inclusive),
        "phases": phase_shares,
        "own_by_package": share(by_package),
    }
