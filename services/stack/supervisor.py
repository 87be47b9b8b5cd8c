"""Runs the services as child processes with prefixed, coloured output, restarts and a clean shutdown.

A service that exits on its own is restarted after a backoff (by default 1 s, doubling up to 30 s: the
launcher's `--restart-delay` and `--restart-delay-cap`) and the launcher says so. One that keeps
crashing — `CRASH_LIMIT` exits within `CRASH_WINDOW_SECONDS` — is a fault no restart will fix (a port in
use, a bad setting): the launcher names it, stops the stack and exits non-zero, so `make run` never looks
healthy while a part of it is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from shared.tasks import Backoff

COLOURS = {"router": "36", "gateway": "35", "refresher": "33", "emulator": "32", "redis": "34"}

#: this many exits of one service within the window: stop restarting, stop the stack
CRASH_LIMIT = 5
CRASH_WINDOW_SECONDS = 60.0
#: the first restart of a service waits this long; each next one twice as long, up to the cap
RESTART_DELAY_SECONDS = 1.0
RESTART_DELAY_CAP_SECONDS = 30.0


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    backoff: Backoff  # the delay before its next restart
    process: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None
    exits: deque[float] = field(default_factory=deque)  # when it exited, within the crash window
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Starts children, prefixes their output, restarts the ones that exit, and stops them all on Ctrl-C /
    SIGTERM."""

    cwd: str
    children: list[Child] = field(default_factory=list)
    colour: bool = field(default_factory=sys.stdout.isatty)
    crash_limit: int = CRASH_LIMIT
    crash_window: float = CRASH_WINDOW_SECONDS
    restart_delay: float = RESTART_DELAY_SECONDS
    restart_delay_cap: float = RESTART_DELAY_CAP_SECONDS
    _out: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one writer of stdout at a time
    _held: list[str] | None = field(default=None, repr=False)  # the services' lines, while `hold_logs`

    def start(self, name: str, module: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(
            name,
            [sys.executable, "-m", module, *args],
            {**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            Backoff(first=self.restart_delay, cap=self.restart_delay_cap),
        )
        self.children.append(child)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.args, cwd=self.cwd, env=child.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        child.pump = threading.Thread(target=self._pump, args=(child,), daemon=True)
        child.pump.start()
        self.say(f"{child.name} started (pid {child.process.pid})")

    def _prefix(self, name: str) -> str:
        label = f"[{name:<9}]"
        return f"\x1b[{COLOURS.get(name, '37')}m{label}\x1b[0m" if self.colour else label

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        prefix = self._prefix(child.name)
        with child.process.stdout as output:  # closed at the process's end (a restart spawns a new one)
            self._relay(prefix, output)

    def _relay(self, prefix: str, output: IO[bytes]) -> None:
        for raw in output:
            line = f"{prefix} {raw.decode(errors='replace').rstrip()}\n"
            with self._out:
                if self._held is not None:
                    self._held.append(line)
                else:
                    sys.stdout.write(line)
                    sys.stdout.flush()

    def say(self, message: str) -> None:
        prefix = self._prefix("stack")
        with self._out:
            for line in message.splitlines() or [""]:
                sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()

    @contextmanager
    def hold_logs(self) -> Iterator[None]:
        """The services' lines wait until the block ends, then follow in order: what the block prints
        (the demo's streamed answer) reads whole instead of cut by a log line."""
        with self._out:
            self._held = []
        try:
            yield
        finally:
            with self._out:
                held, self._held = self._held or [], None
                sys.stdout.write("".join(held))
                sys.stdout.flush()

    def wait(self) -> int:
        """Block until Ctrl-C or SIGTERM (0) or a service crash-loops (1), restarting services that exit;
        then stop everything."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.is_set():
                failed = self.tend()
                if failed is not None:
                    self.say(
                        f"{failed.name} exited {len(failed.exits)} times within {self.crash_window:g} s; "
                        f"not restarting it again. Stopping the stack (see {failed.name}'s last lines above)"
                    )
                    self.stop()
                    return 1
                stop.wait(0.2)
        except KeyboardInterrupt:
            pass
        self.say("stopping ...")
        self.stop()
        return 0

    def tend(self) -> Child | None:
        """One supervision step: schedule restarts of exited children, start those that are due.

        Returns a child that crash-loops (the caller stops the stack), else None."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    self._spawn(child)
                continue
            if child.process is None or child.process.poll() is None:
                continue
            while child.exits and now - child.exits[0] > self.crash_window:
                child.exits.popleft()
            if not child.exits:  # it had been running fine for a while: the backoff starts over
                child.backoff.reset()
            child.exits.append(now)
            if len(child.exits) >= self.crash_limit:
                return child
            delay = child.backoff.next()
            child.restart_at = now + delay
            self.say(
                f"{child.name} exited with code {child.process.returncode}; restarting in {delay:g} s "
                f"({len(child.exits)} exit(s) in the last {self.crash_window:g} s)"
            )
        return None

    def stop(self, timeout: float = 15.0) -> None:
        for child in reversed(self.children):
            child.restart_at = None
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(5)
            if child.pump is not None:
                child.pump.join(2.0)  # its last lines printed, its pipe closed
