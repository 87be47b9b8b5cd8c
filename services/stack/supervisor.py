"""Runs the services as child processes with prefixed, coloured output and a clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

COLOURS = {"router": "36", "gateway": "35", "refresher": "33", "emulator": "32", "redis": "34"}


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None


@dataclass
class Supervisor:
    """Starts children, prefixes their output, and stops them all on Ctrl-C / SIGTERM."""

    cwd: str
    children: list[Child] = field(default_factory=list)
    colour: bool = field(default_factory=sys.stdout.isatty)

    def start(self, name: str, module: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(
            name, [sys.executable, "-m", module, *args], {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        )
        child.process = subprocess.Popen(
            child.args, cwd=self.cwd, env=child.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        child.pump = threading.Thread(target=self._pump, args=(child,), daemon=True)
        child.pump.start()
        self.children.append(child)
        return child

    def _prefix(self, name: str) -> str:
        label = f"[{name:<9}]"
        return f"\x1b[{COLOURS.get(name, '37')}m{label}\x1b[0m" if self.colour else label

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        prefix = self._prefix(child.name)
        for raw in child.process.stdout:
            sys.stdout.write(f"{prefix} {raw.decode(errors='replace').rstrip()}\n")
            sys.stdout.flush()

    def say(self, message: str) -> None:
        prefix = self._prefix("stack")
        for line in message.splitlines() or [""]:
            sys.stdout.write(f"{prefix} {line}\n")
        sys.stdout.flush()

    def exited(self) -> Child | None:
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                return child
        return None

    def wait(self) -> int:
        """Block until Ctrl-C, SIGTERM or a child exits; then stop everything."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.is_set():
                dead = self.exited()
                if dead is not None:
                    code = dead.process.returncode if dead.process else 1
                    self.say(f"{dead.name} exited with code {code}; stopping the stack")
                    self.stop()
                    return code or 1
                stop.wait(0.2)
        except KeyboardInterrupt:
            pass
        self.say("stopping ...")
        self.stop()
        return 0

    def stop(self, timeout: float = 15.0) -> None:
        for child in reversed(self.children):
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
