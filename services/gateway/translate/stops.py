"""Client stop sequences, applied to the streamed answer text (Kiro has no such parameter)."""

from __future__ import annotations

from collections.abc import Iterable


class StopMatcher:
    """Feed answer text; get what is safe to emit. Text that may begin a stop sequence is held back."""

    def __init__(self, sequences: Iterable[str]) -> None:
        self._sequences = [s for s in dict.fromkeys(sequences) if s]
        self._held = ""
        self.matched: str | None = None

    def __bool__(self) -> bool:
        return bool(self._sequences)

    def feed(self, text: str) -> str:
        if self.matched is not None:
            return ""
        buffer = self._held + text
        hits = [(buffer.find(s), s) for s in self._sequences if s in buffer]
        if hits:
            position, self.matched = min(hits, key=lambda hit: (hit[0], -len(hit[1])))
            self._held = ""
            return buffer[:position]
        keep = max((_overlap(buffer, s) for s in self._sequences), default=0)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """The held-back text, when the text it might have continued has ended."""
        held, self._held = self._held, ""
        return held


def _overlap(buffer: str, sequence: str) -> int:
    """Length of the longest suffix of `buffer` that is a proper prefix of `sequence`."""
    for size in range(min(len(sequence) - 1, len(buffer)), 0, -1):
        if buffer.endswith(sequence[:size]):
            return size
    return 0
