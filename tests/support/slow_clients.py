"""Clients that never finish their request (slowloris), and how long the server takes to close them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import anthropic
import httpx

from services.kiro_emulator.control import directive


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


@dataclass(frozen=True)
class Meanwhile:
    """The slow clients' fate, and what a normal client got at the same time."""

    closed: list[Closed]
    text: str  # the long stream's text
    stream_seconds: float
    health_status: int
    health_ms: float

    def assert_served_while_closing(self, deadline: float, bound: float, tail_status: bytes) -> None:
        """A normal client was served in full while every slow one was closed between its deadline and
        `bound`: half heads with 408, silent ones without a word, unread tails with `tail_status`."""
        assert self.health_status == 200
        assert self.text == "0123456789"
        assert self.stream_seconds > 2 * deadline
        closed = self.closed
        assert all(c.seconds is not None and deadline - 0.5 < c.seconds <= bound for c in closed), closed
        assert all(c.answer.startswith(b"HTTP/1.1 408") for c in closed if c.kind == "half head")
        assert all(c.answer == b"" for c in closed if c.kind == "silent")
        assert all(c.answer.startswith(b"HTTP/1.1 " + tail_status) for c in closed if c.kind == "unread tail")

    def report(self, service: str, deadline: float) -> None:
        seconds = [c.seconds for c in self.closed if c.seconds is not None]
        span = f"{min(seconds):.1f}-{max(seconds):.1f} s" if seconds else "-"
        print(
            f"\n{service}: {len(seconds)} of {len(self.closed)} half-sent connections closed in {span} "
            f"(deadline {deadline} s); meanwhile a {self.stream_seconds:.1f} s stream finished and /health "
            f"answered in {self.health_ms:.0f} ms"
        )


async def long_stream(url: str, api_key: str, headers: dict[str, str] | None = None) -> tuple[str, float]:
    """A streamed answer of 10 pieces 600 ms apart (it outlasts short deadlines): its text and seconds."""
    started = time.monotonic()
    content = directive(text="0123456789", chunks=10, delay_ms=600)
    async with (
        anthropic.AsyncAnthropic(
            api_key=api_key, base_url=url, max_retries=0, default_headers=headers or {}
        ) as client,
        client.messages.stream(
            model="claude-sonnet-4.5", max_tokens=64, messages=[{"role": "user", "content": content}]
        ) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
    return text, time.monotonic() - started


async def closed_while_serving(
    url: str, slow: list[SlowClient], limit: float, api_key: str, headers: dict[str, str] | None = None
) -> Meanwhile:
    """Wait for the server to close every slow client while a long stream and a /health check run."""
    stream = asyncio.create_task(long_stream(url, api_key, headers))
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.monotonic()
        health = await client.get(url + "/health")
        health_ms = (time.monotonic() - started) * 1000
    closed = await asyncio.gather(*(until_closed(c, limit) for c in slow))
    text, stream_seconds = await stream
    return Meanwhile(list(closed), text, stream_seconds, health.status_code, health_ms)
