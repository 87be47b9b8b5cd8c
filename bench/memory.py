"""Resident memory and CPU time of the measured processes, read from /proc while load runs."""

from __future__ import annotations

import os
import threading
from pathlib import Path

MIB = 1024 * 1024
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    """VmRSS of a process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return 0
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size: pages shared with other processes (a forked worker's with its supervisor)
    counted by share, so the figures of a supervisor and its workers add up (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return 0
    return 0


class PeakSampler:
    """Samples every process every `interval` seconds in a thread; `window()` returns and resets peaks."""

    def __init__(self, pids: dict[str, int], interval: float = 0.05) -> None:
        self.pids = pids
        self.interval = interval
        self._peaks: dict[str, int] = dict.fromkeys(pids, 0)
        self._cpu = self._cpu_now()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> PeakSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def window(self) -> tuple[dict[str, float], dict[str, float]]:
        """Peak RSS (MiB) and CPU seconds used by each process since the last call."""
        cpu = self._cpu_now()
        with self._lock:
            peaks = {name: round(value / MIB, 1) for name, value in self._peaks.items()}
            self._peaks = dict.fromkeys(self.pids, 0)
        used = {name: round(cpu[name] - self._cpu[name], 3) for name in self.pids}
        self._cpu = cpu
        return peaks, used

    def _cpu_now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = {name: rss_bytes(pid) for name, pid in self.pids.items()}
            with self._lock:
                for name, value in now.items():
                    self._peaks[name] = max(self._peaks[name], value)
