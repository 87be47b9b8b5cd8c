"""Clients that never finish their request (slowloris), and how long the server takes to close them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class SlowClient:
    kind: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opened: float


@dataclass(frozen=True)
class Closed:
    kind: str
    seconds: float | None  # from opening to the server's close; None: still open at the limit
    answer: bytes  # what the server wrote before closing


async def open_slow(url: str, kind: str, sent: bytes) -> SlowClient:
    """Connect, send `sent` (maybe nothing) and then nothing more."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    opened = time.monotonic()
    if sent:
        writer.write(sent)
        await writer.drain()
    return SlowClient(kind, reader, writer, opened)


async def until_closed(client: SlowClient, limit: float) -> Closed:
    """Read until the server closes the connection (EOF or reset), at most `limit` seconds after opening."""
    answer = b""
    try:
        async with asyncio.timeout(limit - (time.monotonic() - client.opened)):
            while chunk := await client.reader.read(65536):
                answer += chunk
    except TimeoutError:
        return Closed(client.kind, None, answer)
    except ConnectionResetError:
        pass
    finally:
        client.writer.close()
    return Closed(client.kind, time.monotonic() - client.opened, answer)


def half_head(path: str = "/v1/messages") -> bytes:
    return f"POST {path} HTTP/1.1\r\nhost: slow\r\ncontent-type: application/json\r\nx-api-".encode()


def head_then_part_of_body(headers: dict[str, str], path: str = "/v1/messages") -> bytes:
    """A full request head promising 1,000 bytes of body, and the first few of them."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = f"POST {path} HTTP/1.1\r\nhost: slow\r\ncontent-type: application/json\r\n{lines}"
    return (head + "content-length: 1000\r\n\r\n").encode() + b'{"model": "claude-s'
