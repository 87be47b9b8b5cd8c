"""A TCP listener for the tests' relays that never leaks an accepted socket when it stops.

asyncio.start_server is not enough on Python 3.11: a connection accepted just before `Server.close()` fails to
get its transport (the server refuses to attach it), and its socket is never closed; the test that stops next
then fails on a ResourceWarning. Here a reader callback accepts (no awaiting task whose cancellation could
drop a socket just accepted), every accepted socket is remembered, and `close()` closes what a cancelled
handler never wrapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Acceptor:
    """Accepts on `host:port` (0: a free port) in the running loop and runs `handler` for each connection."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._listener, self._accept)

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                conn, _ = self._listener.accept()
                self._accepted.append(conn)
                task = self._loop.create_task(self._serve(conn))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn)
        await self._handler(reader, writer)

    async def close(self) -> None:
        """Stop accepting, cancel the handlers still running, and close every socket accepted."""
        if self._listener.fileno() < 0:
            return
        self._loop.remove_reader(self._listener)
        self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in self._accepted:
            conn.close()
        self._accepted.clear()
