"""Tiny outbound proxies for tests (HTTP forward relay and SOCKS5), run in a background thread.

They count connections so a test can prove the gateway's Kiro traffic went through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit

from tests.support.acceptor import Acceptor


class TestProxy:
    """`kind` "http": every connection is relayed to `upstream` (absolute-form requests work against
    aiohttp servers); `kind` "socks5": a no-auth SOCKS5 CONNECT proxy."""

    __test__ = False  # not a test class

    def __init__(self, kind: str, upstream: str) -> None:
        self.kind = kind
        target = urlsplit(upstream)
        self._upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self._stop: asyncio.Event
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        scheme = "http" if self.kind == "http" else "socks5"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> TestProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("test proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        acceptor = Acceptor(self._handle)
        self.port = acceptor.port
        self._ready.set()
        await self._stop.wait()
        # A transport with unsent bytes waits for its peer on close(); abort() drops it at once.
        for w in self._writers:
            w.transport.abort()
        await acceptor.close()
        # every other task of this private loop (a handler's pipes); none may be left pending
        me = asyncio.current_task()
        while pending := [t for t in asyncio.all_tasks() if t is not me]:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for _ in range(3):  # the closed transports' callbacks (the sockets' actual close) run on these turns
            await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            host, port = (
                self._upstream if self.kind == "http" else await self._socks_handshake(reader, writer)
            )
            up_reader, up_writer = await asyncio.open_connection(host, port)
            self._writers.append(up_writer)
            if self.kind == "socks5":
                writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack(">H", 0))
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()  # stays in _writers: a close waiting on unsent bytes is aborted at shutdown

    @staticmethod
    async def _socks_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
        _version, methods = await reader.readexactly(2)
        await reader.readexactly(methods)
        writer.write(b"\x05\x00")
        _ver, _cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack(">H", await reader.readexactly(2))
        return host, port

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()
