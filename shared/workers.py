"""WORKERS > 1: one service port served by N forked worker processes, their metrics merged.

This process (the supervisor) binds the listening socket, points prometheus_client at a private temporary
directory of per-process metric files (`shared.metrics.merge_workers`) and forks the workers. Each
worker runs the whole app on the shared socket: its own lifespan, Redis and HTTP pools, background loops,
readiness and drain; the kernel hands every new connection to one of them. The supervisor
- replaces a worker that dies (crash, OOM kill); a worker whose startup fails (its lifespan raised, e.g.
  Redis unreachable) stops the service with exit code 3 instead, so the orchestrator restarts it;
- forwards SIGTERM/SIGINT to every worker (each drains as a single process does, `shared/server.py`;
  a second signal skips the rest of the shutdown delay) and exits 0 once all have finished;
- drops a dead worker's live gauges; its counters stay, so merged sums never go down.
Workers stop on their own when the supervisor is gone (`GracefulServer(supervisor=…)`).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from shared.logging import log_fields
from shared.metrics import WorkerFiles, merge_workers
from shared.server import trim_heap

log = logging.getLogger(__name__)

#: a worker's exit code when its app did not start (uvicorn uses the same for its own runs)
STARTUP_FAILED = 3

#: a worker that dies sooner than this after its start is replaced only after this long (no crash loop
#: spinning the CPU)
MIN_LIFETIME_SECONDS = 1.0

#: runs one worker on the shared sockets until it is told to stop; returns its exit code
Worker = Callable[[list[socket.socket]], int]


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """The service's listening socket, bound once here and shared by every worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def supervise(count: int, worker: Worker, sockets: list[socket.socket], *, service: str) -> int:
    """Keep `count` forked workers running on `sockets` until SIGTERM/SIGINT; the exit code to return."""
    with _metrics_dir(service):
        return _Supervisor(count, worker, sockets).run()


class _Supervisor:
    def __init__(self, count: int, worker: Worker, sockets: list[socket.socket]) -> None:
        self.count = count
        self.worker = worker
        self.sockets = sockets
        self.procs: dict[int, BaseProcess] = {}  # slot → its current process
        self.started: dict[int, float] = {}  # slot → when its current process started (monotonic)
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        # what is imported so far stays shared with the workers: keep their collections off those pages,
        # and the heap that start-up freed out of every copy
        gc.freeze()
        trim_heap()
        try:
            for slot in range(self.count):
                self._start(slot)
            while self.procs:
                wait([proc.sentinel for proc in self.procs.values()], timeout=1.0)
                for slot, proc in list(self.procs.items()):
                    if proc.exitcode is not None:
                        self._reap(slot, proc)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _start(self, slot: int) -> None:
        proc = multiprocessing.get_context("fork").Process(
            target=_worker_main, args=(self.worker, self.sockets), name=f"worker-{slot}", daemon=False
        )
        proc.start()
        self.procs[slot] = proc
        self.started[slot] = time.monotonic()
        log.info("worker started", extra=log_fields(worker=slot, pid=proc.pid))

    def _reap(self, slot: int, proc: BaseProcess) -> None:
        del self.procs[slot]
        if proc.pid is not None:
            mark_process_dead(proc.pid, str(WorkerFiles.path))  # type: ignore[no-untyped-call]
        fields = log_fields(worker=slot, pid=proc.pid, exit_code=proc.exitcode)
        if self.stopping:
            log.info("worker stopped", extra=fields)
        elif proc.exitcode == STARTUP_FAILED:
            log.error("worker failed to start; stopping the service", extra=fields)
            self.exit_code = STARTUP_FAILED
            self._stop_all()
        else:
            log.error("worker died; replacing it", extra=fields)
            time.sleep(max(0.0, self.started[slot] + MIN_LIFETIME_SECONDS - time.monotonic()))
            if not self.stopping:  # a signal may have come meanwhile
                self._start(slot)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._stop_all()

    def _stop_all(self) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signal.SIGTERM)


def _worker_main(worker: Worker, sockets: list[socket.socket]) -> None:
    # the supervisor's handlers came along with the fork; uvicorn installs the worker's own
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    raise SystemExit(worker(sockets))


@contextmanager
def _metrics_dir(service: str) -> Iterator[None]:
    """A private directory (under TMPDIR) for the workers' metric files, removed when they are done.

    Never a shared one: another service, or another copy of this one on the host, would mix its values in.
    """
    path = Path(tempfile.mkdtemp(prefix=f"kiro-{service}-metrics-"))
    merge_workers(path)
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)
