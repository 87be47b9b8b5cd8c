"""A round-robin TCP balancer in the test's event loop, like a Kubernetes Service (kube-proxy).

Each new connection goes to the next backend; nothing is retried: a backend that refuses, or a connection
the test tells it to reset, resets the client's connection — what a client of a Service sees while one
replica restarts.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.acceptor import Acceptor
from tests.support.procs import free_port


class RoundRobinProxy:
    """`127.0.0.1:<port>` → the backend ports in turn."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.reset_next = 0  # the next this-many connections are reset at once
        self.resets = 0
        self._turn = 0
        self._acceptor: Acceptor | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RoundRobinProxy:
        self._acceptor = Acceptor(self._accept, port=self.port)
        return self

    def drop_clients(self) -> None:
        """Close every open client connection (as a replica closes its keep-alive connections)."""
        for writer in list(self._clients):
            writer.transport.abort()

    async def stop(self) -> None:
        if self._acceptor is not None:
            await self._acceptor.close()  # stops accepting and cancels the handlers, which abort both ends
        self.drop_clients()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.reset_next > 0:
            self.reset_next -= 1
            self.resets += 1
            writer.transport.abort()
            return
        backend = self.backends[self._turn % len(self.backends)]
        self._turn += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend)
        except OSError:
            self.resets += 1
            writer.transport.abort()
            return
        self._clients.add(writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._clients.discard(writer)
            for end in (writer, up_writer):
                end.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
        finally:
            self._pipes.discard(task)
            sink.transport.abort()  # either side gone: the whole connection is
