"""uvicorn's HTTP protocol with deadlines on what a client sends: the request head, the body, the tail.

uvicorn (httptools) bounds only the idle time after an answer (`timeout_keep_alive`): a connection that
sends nothing, half a request head, or half a body is held forever, and so is one that keeps sending the
unread rest of a body the app already answered (a 401 before the body). Thousands of those exhaust
sockets and memory (slowloris). `deadline_protocol(deadlines)` is the protocol class to pass as
`uvicorn.Config(http=...)`; it closes a connection whose client is late:

- head: the request line and headers must be complete `head` seconds after the connection opens (or after
  the first byte of the next request on a kept-alive one); a partly sent head gets a 408 first;
- body: while a request body is read, at most `body` seconds without a byte (time the app holds reading
  back, or waits to send `100 Continue`, is not the client's and does not count);
- tail: a body the app answered before reading it all must be over `body` seconds after the answer;
- idle: a kept-alive connection is closed `timeout_keep_alive` seconds after an answer, also when stray
  bytes arrive meanwhile (uvicorn's own timer stops at the first byte).

Nothing bounds a request the client has sent in full: the answer may stream as long as it lasts. One timer
per connection, moved only when a deadline comes nearer; when it fires it re-reads the deadline of the
current phase, so the hot path (`on_body`) only stores a time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD, _BODY, _BUSY, _TAIL, _IDLE = range(5)
_TOO_SLOW = b"the request head came too slowly\n"
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TOO_SLOW), _TOO_SLOW)
)


@dataclass(frozen=True)
class ClientDeadlines:
    """Seconds a client gets for a request head and between body bytes (see the module docstring)."""

    head: float = 30.0
    body: float = 30.0


class DeadlineProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes connections whose client is late; `deadlines` set per subclass."""

    deadlines: ClassVar[ClientDeadlines] = ClientDeadlines()
    _watch: asyncio.TimerHandle | None = None
    _phase = _HEAD
    _since = 0.0  # start of the current phase; in `_BODY`, time of the last byte
    _begun = False  # a byte of the current request head arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter(_HEAD, self.deadlines.head)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if self._phase != _HEAD:  # the next request of a kept-alive connection
            self._enter(_HEAD, self.deadlines.head)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._begun = False
        self._enter(_BODY, self.deadlines.body)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._phase == _BODY:
            self._since = self.loop.time()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._phase == _BODY:
            self._phase = _BUSY
        elif self._phase == _TAIL:  # the unread rest of a body answered early is over
            self._enter(_IDLE, self.timeout_keep_alive)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._phase == _BODY and self.cycle.response_complete:  # answered before the body was read
            self._enter(_TAIL, self.deadlines.body)
        elif self._phase == _BUSY and self.cycle.response_complete:  # (not when a pipelined one started)
            self._enter(_IDLE, self.timeout_keep_alive)

    def _enter(self, phase: int, seconds: float) -> None:
        self._phase = phase
        self._since = self.loop.time()
        self._watch_until(self._since + seconds)

    def _watch_until(self, when: float) -> None:
        if self._watch is not None:
            if self._watch.when() <= when:
                return  # fires first and re-reads the deadline then
            self._watch.cancel()
        self._watch = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._watch = None
        if self.transport.is_closing():
            return
        due = self._due()
        if due is None:
            return
        if self.loop.time() < due:
            self._watch_until(due)
            return
        if self._phase == _HEAD and self._begun and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()

    def _due(self) -> float | None:
        """When the current phase runs out (None: no deadline while the app answers a whole request)."""
        if self._phase == _HEAD:
            return self._since + self.deadlines.head
        if self._phase == _BODY:
            if self.flow.read_paused or self.cycle.waiting_for_100_continue:
                self._since = self.loop.time()  # we are not reading: the client cannot be late
            return self._since + self.deadlines.body
        if self._phase == _TAIL:
            return self._since + self.deadlines.body
        if self._phase == _IDLE:
            return self._since + self.timeout_keep_alive
        return None


def deadline_protocol(deadlines: ClientDeadlines) -> type[DeadlineProtocol]:
    """The protocol class for `uvicorn.Config(http=...)` with these deadlines."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"deadlines": deadlines})
