"""Resident memory of the measured processes, sampled from /proc while load runs."""

from __future__ import annotations

import threading
from pathlib import Path

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """VmRSS of a process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
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
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> PeakSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def window(self) -> dict[str, float]:
        """Peak RSS (MiB) of each process since the last call."""
        with self._lock:
            peaks = {name: round(value / MIB, 1) for name, value in self._peaks.items()}
            self._peaks = dict.fromkeys(self.pids, 0)
        return peaks

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = {name: rss_bytes(pid) for name, pid in self.pids.items()}
            with self._lock:
                for name, value in now.items():
                    self._peaks[name] = max(self._peaks[name], value)
