"""The tests' relays stop without leaking a socket, even with connections arriving as they stop."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import warnings

from tests.support.acceptor import Acceptor


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


def _hammer(port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"x" * 1000)
        except OSError:
            pass


async def test_an_acceptor_closed_under_a_flood_of_connections_leaves_no_socket_open() -> None:
    accepted = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(10):
            acceptor = Acceptor(_echo)
            stop = threading.Event()
            threads = [threading.Thread(target=_hammer, args=(acceptor.port, stop)) for _ in range(4)]
            for t in threads:
                t.start()
            await asyncio.sleep(0.05)
            accepted += len(acceptor._accepted)
            await acceptor.close()
            stop.set()
            for t in threads:
                t.join(5)
            for _ in range(3):  # aborted transports close their sockets on these turns
                await asyncio.sleep(0)
        gc.collect()
    assert accepted > 10
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
