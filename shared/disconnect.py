"""Noticing a client that left: ASGI servers say so only through `receive`, once the body has been read."""

from __future__ import annotations

from starlette.types import Receive


async def disconnected(receive: Receive) -> None:
    """Return once the client has disconnected (call only after the request body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass
