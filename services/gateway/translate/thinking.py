"""Streaming splitter for a `<thinking>…</thinking>` block at the start of Kiro's answer (§5)."""

from __future__ import annotations

from typing import Literal

Piece = tuple[Literal["thinking", "text", "thinking_end"], str]

#: opening tag -> closing tag; `<thinking>` is what Kiro's models emit, the others are seen elsewhere
TAGS = {
    "<thinking>": "</thinking>",
    "<think>": "</think>",
    "<reasoning>": "</reasoning>",
    "<thought>": "</thought>",
}
_LONGEST_OPEN = max(map(len, TAGS))
_AFTER_CLOSE = "\n\n"


class ThinkingSplitter:
    """Feed answer text as it streams; get ("thinking", t), ("thinking_end", ""), ("text", t) pieces.

    Only a block at the very start (after optional whitespace) is reasoning; everything after its
    closing tag, including later tags, is text. Tags split across deltas are held back, never leaked.
    """

    def __init__(self) -> None:
        self._state: Literal["detect", "inside", "after", "text"] = "detect"
        self._buffer = ""
        self._close_tag = ""

    @property
    def in_thinking(self) -> bool:
        return self._state == "inside"

    def feed(self, text: str) -> list[Piece]:
        if self._state == "text":
            return [("text", text)] if text else []
        self._buffer += text
        if self._state == "detect":
            return self._detect()
        if self._state == "inside":
            return self._inside()
        return self._after()

    def finish(self) -> list[Piece]:
        """End of the answer: release whatever is held back (an unclosed block ends here)."""
        buffered, self._buffer = self._buffer, ""
        state, self._state = self._state, "text"
        if state == "inside":
            end: Piece = ("thinking_end", "")
            return [("thinking", buffered), end] if buffered else [end]
        if state == "after" and not buffered.strip():
            return []
        return [("text", buffered)] if buffered else []

    def _detect(self) -> list[Piece]:
        stripped = self._buffer.lstrip()
        for open_tag, close_tag in TAGS.items():
            if stripped.startswith(open_tag):
                self._state, self._close_tag = "inside", close_tag
                self._buffer = stripped[len(open_tag) :]
                return self._inside()
        if not stripped or (len(stripped) < _LONGEST_OPEN and any(t.startswith(stripped) for t in TAGS)):
            return []  # could still become an opening tag: wait for more
        self._state = "text"
        buffered, self._buffer = self._buffer, ""
        return [("text", buffered)]

    def _inside(self) -> list[Piece]:
        end = self._buffer.find(self._close_tag)
        if end >= 0:
            thinking = self._buffer[:end]
            self._buffer = self._buffer[end + len(self._close_tag) :]
            self._state = "after"
            pieces: list[Piece] = [("thinking", thinking)] if thinking else []
            return [*pieces, ("thinking_end", ""), *self._after()]
        keep = _held_back(self._buffer, self._close_tag)
        emit, self._buffer = (
            self._buffer[: len(self._buffer) - keep],
            self._buffer[len(self._buffer) - keep :],
        )
        return [("thinking", emit)] if emit else []

    def _after(self) -> list[Piece]:
        """Drop the blank line that separates reasoning from the answer, then pass text through."""
        if len(self._buffer) < len(_AFTER_CLOSE) and _AFTER_CLOSE.startswith(self._buffer):
            return []
        if self._buffer.startswith(_AFTER_CLOSE):
            self._buffer = self._buffer[len(_AFTER_CLOSE) :]
        self._state = "text"
        buffered, self._buffer = self._buffer, ""
        return [("text", buffered)] if buffered else []


def _held_back(buffer: str, tag: str) -> int:
    """Length of the longest suffix of `buffer` that is a proper prefix of `tag`."""
    for size in range(min(len(tag) - 1, len(buffer)), 0, -1):
        if buffer.endswith(tag[:size]):
            return size
    return 0


def split_thinking(text: str) -> tuple[str, str]:
    """(thinking, answer) of a whole answer text, by the same rules as the streaming splitter."""
    splitter = ThinkingSplitter()
    thinking: list[str] = []
    answer: list[str] = []
    for kind, piece in [*splitter.feed(text), *splitter.finish()]:
        (thinking if kind == "thinking" else answer).append(piece)
    return "".join(thinking), "".join(answer)
