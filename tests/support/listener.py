"""A TCP port that counts the connections opened to it: proof that nothing ever dialled a smuggled host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


class Listener:
    """Accepts and closes connections, counting them."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    def accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    counter = Listener()
    server = await asyncio.start_server(counter.accepted, "127.0.0.1", 0)
    counter.port = server.sockets[0].getsockname()[1]
    yield counter
    server.close()
    await server.wait_closed()
