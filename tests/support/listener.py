"""A TCP port that counts the connections opened to it: proof that nothing ever dialled a smuggled host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.polling import wait_for


class Listener:
    """Accepts and closes connections, counting them."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self.peers: list[int] = []  # the client port of every accepted connection, in accept order

    def accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.peers.append(writer.get_extra_info("peername")[1])
        writer.close()

    async def connections_before_a_marker(self) -> int:
        """Connections accepted before one this call opens now: a positive marker instead of a wait.

        Connections are accepted in the order they were opened, so once the marker is counted, every
        connection opened before this call has been counted too."""
        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        marker = writer.get_extra_info("sockname")[1]
        try:
            await wait_for(lambda: asyncio.sleep(0, marker in self.peers), what="the marker connection")
        finally:
            writer.close()
        return self.peers.index(marker)


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    counter = Listener()
    server = await asyncio.start_server(counter.accepted, "127.0.0.1", 0)
    counter.port = server.sockets[0].getsockname()[1]
    yield counter
    server.close()
    await server.wait_closed()
