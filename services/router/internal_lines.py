"""Take the gateway's internal SSE comment lines (`: x-kiro-…`) out of a stream as it passes to the client.

The gateway ends every stream with `: x-kiro-usage {…}` (docs/architecture.md): the router needs it for
usage accounting, the client must never see it (it names credits and failure kinds). Bytes pass through
as they arrive; only a line that is, or may still become, an internal line is held back until its end:
an internal line split across chunks, or a chunk that ends with a line start such as `: x-k`.
"""

from __future__ import annotations

from shared import contract

MARK = contract.INTERNAL_LINE
_NEXT = b"\n" + MARK


class InternalLines:
    """A filter over one SSE byte stream; `lines` collects the internal lines taken out (with their `\\n`)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._held = b""  # the start of a line that is or may become internal
        self._line_start = True  # the next byte fed begins a line

    def feed(self, chunk: bytes) -> bytes:
        """The part of `chunk` (after what was held) the client may see now."""
        if self._passes_whole(chunk):  # the usual chunk: whole events, nothing internal
            self._line_start = True
            return chunk
        data = self._held + chunk if self._held else chunk
        self._held = b""
        out: list[bytes] = []
        pos, at_start = 0, self._line_start
        while True:
            if at_start and data.startswith(MARK, pos):
                begin = pos
            else:
                found = data.find(_NEXT, pos)
                if found < 0:
                    break
                begin = found + 1
            out.append(data[pos:begin])
            end = data.find(b"\n", begin)
            if end < 0:  # the internal line goes on in a later chunk
                self._held, self._line_start = data[begin:], True
                return b"".join(out)
            self.lines.append(data[begin : end + 1])
            pos, at_start = end + 1, True
        keep = self._maybe_internal(data, pos, at_start)
        out.append(data[pos:keep])
        self._held = data[keep:]
        self._line_start = bool(self._held) or (data.endswith(b"\n") if data else at_start)
        return b"".join(out)

    def end(self) -> bytes:
        """What is left when the stream ends: a held prefix shorter than the mark was not internal."""
        held, self._held = self._held, b""
        if held.startswith(MARK):
            self.lines.append(held)
            return b""
        return held

    def _passes_whole(self, chunk: bytes) -> bool:
        if self._held or not chunk.endswith(b"\n") or _NEXT in chunk:
            return False
        return not (self._line_start and chunk.startswith(MARK))

    @staticmethod
    def _maybe_internal(data: bytes, pos: int, at_start: bool) -> int:
        """Where a last, unfinished line that could still become internal begins (else `len(data)`)."""
        newline = data.rfind(b"\n", pos)
        begin = newline + 1 if newline >= 0 else (pos if at_start else len(data))
        rest = data[begin:]
        if rest and len(rest) < len(MARK) and MARK.startswith(rest):
            return begin
        return len(data)
