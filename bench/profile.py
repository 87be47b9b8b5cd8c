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


def _function(frame: str) -> str:
    """`name (path/to/file.py:123)` -> `name (file.py)`: lines of one function add up."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1].rstrip(")")
    return f"{name} ({file})" if file else name


def summarize(raw: Path, top: int = 15) -> dict[str, Any]:
    """Top functions by own time (leaf frames) and by inclusive time, as shares of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return {"samples": 0, "own": [], "inclusive": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"samples": total, "own": share(own), "inclusive": share(inclusive)}
