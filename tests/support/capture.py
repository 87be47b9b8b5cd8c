"""A stand-in gateway for router tests: a real HTTP server that records every request it receives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.procs import free_port


@dataclass(frozen=True)
class Seen:
    method: str
    raw_path: str  # exactly as it arrived on the wire (percent-encoding kept)
    headers: tuple[tuple[str, str], ...]  # names as sent, in order


@dataclass
class CaptureGateway:
    url: str
    seen: list[Seen] = field(default_factory=list)

    def proxied(self) -> list[Seen]:
        """Everything but the router's health probes."""
        return [s for s in self.seen if s.raw_path not in ("/health", "/ready")]


@asynccontextmanager
async def capture_gateway() -> AsyncIterator[CaptureGateway]:
    """Answers `/health` 200, every other request 200 with a small JSON object (non-streaming)."""
    port = free_port()
    capture = CaptureGateway(f"http://127.0.0.1:{port}")

    async def handle(request: web.Request) -> web.Response:
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers)
        capture.seen.append(Seen(request.method, request.raw_path, headers))
        return web.json_response({"id": "captured", "object": "model", "type": "model"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield capture
    finally:
        await runner.cleanup()
