"""The CPU-heavy steps of big requests, run off the event loop in a small bounded thread pool.

Parsing and translating a request costs about its size: ~4.6 s for 200,000 messages / 8 MB, during
which a gateway that did it on the loop answered nothing else — not even `/health`. Bodies above
`OFFLOAD_THRESHOLD_BYTES` therefore parse, translate and count tokens in a worker thread; smaller ones,
nearly all traffic, stay on the loop (no thread hop). The pool has `OFFLOAD_THREADS` threads, so a flood
of huge requests queues there and cannot take every thread or core.

A worker's Python code yields the GIL to the loop every few milliseconds, but one C call does not. The
longest such calls were the cyclic garbage collector's: full collections walk every live object (the big
request's millions included), and even young collections traverse the big lists being built, each
holding the GIL for 0.1–0.5 s, several times per request. While a big request is being worked on, the
cyclic collector pauses from a big request's arrival until its objects are gone — resuming earlier
would let the next young collection walk them all at once, on the loop — and the last such request
turns it back on (reference counting still frees everything but cycles; those wait, at most as long as
big requests keep arriving back to back). A failing big request leaves its objects behind in the
worker (`traceback_free`). What remains is orjson parsing a huge body (~10–20 ms per MB, one C call)
and freeing the biggest structures, each one C call too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import ParamSpec, TypeVar

from shared.errors import InvalidRequestError

P = ParamSpec("P")
T = TypeVar("T")


def traceback_free(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn`, whose InvalidRequestError leaves without a traceback.

    The frames of a failing big request (the parsed body, the payload built so far) would stay alive
    with the error and be freed later on the event loop, ~0.2 s for a huge request; without the
    traceback they are freed at once, in the worker.
    """

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except InvalidRequestError as exc:
            raise exc.with_traceback(None) from None

    return call


class CollectorPaused:
    """The cyclic GC is off while any big request is held; the last one out turns it back on (if it was)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._was_enabled = gc.isenabled()

    def __enter__(self) -> None:
        with self._lock:
            if self._busy == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._busy += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy == 0 and self._was_enabled:
                gc.enable()


class Offload:
    """Runs a function in the worker pool when the request is big, inline otherwise."""

    def __init__(self, threshold_bytes: int, threads: int) -> None:
        self.threshold_bytes = threshold_bytes
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gateway-cpu")
        self._paused = CollectorPaused()

    async def run(self, size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)`; in a worker (with this task's context: request id) when `size` is big."""
        if size <= self.threshold_bytes:
            return fn(*args, **kwargs)
        return await self.in_worker(fn, *args, **kwargs)

    async def in_worker(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in a worker, whatever the size: for work the caller knows is long."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def collector_paused(self, size: int) -> AbstractContextManager[None]:
        """For a big request: no cyclic collection until its objects are gone (hold it that long)."""
        return self._paused if size > self.threshold_bytes else contextlib.nullcontext()

    def close(self) -> None:
        """Stop the workers (lifespan end); queued work is dropped, running work finishes on its own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
