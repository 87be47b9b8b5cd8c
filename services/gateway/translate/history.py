"""IR messages -> turns Kiro accepts: alternation, pairing of tool results, placeholders (§3.2-§3.3)."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from services.gateway.translate.ir import (
    ImagePart,
    Message,
    Role,
    TextPart,
    ToolResultPart,
    ToolUsePart,
)

FIRST_USER_PLACEHOLDER = "Begin conversation"
CONTINUE_PLACEHOLDER = "Continue"
TOOL_RESULTS_PLACEHOLDER = "Tool results provided."
EMPTY_ASSISTANT_PLACEHOLDER = "(empty)"
EMPTY_TOOL_OUTPUT = "(no output)"


@dataclass
class Turn:
    """One Kiro message under construction."""

    role: Role
    texts: list[str] = field(default_factory=list)
    images: list[ImagePart] = field(default_factory=list)
    tool_uses: list[ToolUsePart] = field(default_factory=list)
    tool_results: list[ToolResultPart] = field(default_factory=list)

    @property
    def content(self) -> str:
        text = "\n\n".join(t for t in self.texts if t)
        if text.strip():
            return text
        if self.role == "assistant":
            return EMPTY_ASSISTANT_PLACEHOLDER
        return TOOL_RESULTS_PLACEHOLDER if self.tool_results else CONTINUE_PLACEHOLDER


def build_turns(messages: list[Message]) -> list[Turn]:
    """Alternating turns, user first and last, every tool result paired with the call just before it."""
    turns = _merge(messages)
    if not turns or turns[0].role != "user":
        turns.insert(0, Turn("user", [FIRST_USER_PLACEHOLDER]))
    if turns[-1].role != "user":  # assistant prefill: Kiro always answers a user message
        turns.append(Turn("user", [CONTINUE_PLACEHOLDER]))
    _pair_tool_results(turns)
    return turns


def _merge(messages: list[Message]) -> list[Turn]:
    turns: list[Turn] = []
    for message in messages:
        if not turns or turns[-1].role != message.role:
            turns.append(Turn(message.role))
        turn = turns[-1]
        texts: list[str] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                texts.append(part.text)
            elif isinstance(part, ImagePart) and message.role == "user":
                turn.images.append(part)
            elif isinstance(part, ToolUsePart) and message.role == "assistant":
                turn.tool_uses.append(part)
            elif isinstance(part, ToolResultPart) and message.role == "user":
                turn.tool_results.append(part)
                turn.images.extend(part.images)
            # thinking from earlier turns is not replayed: Kiro cannot verify it and it costs context
        joined = "\n".join(t for t in texts if t)
        if joined:
            turn.texts.append(joined)
    return turns


def _pair_tool_results(turns: list[Turn]) -> None:
    """Keep results only for calls of the assistant turn just before; keep calls only if answered."""
    previous_ids: set[str] = set()
    for index, turn in enumerate(turns):
        if turn.role == "assistant":
            turn.tool_uses = _unique_uses(turn.tool_uses)
            previous_ids = {use.id for use in turn.tool_uses}
            continue
        kept: list[ToolResultPart] = []
        seen: set[str] = set()
        for result in turn.tool_results:
            if result.tool_use_id in seen:
                continue
            seen.add(result.tool_use_id)
            if result.tool_use_id in previous_ids:
                kept.append(result)
            else:  # an orphan is rejected by Kiro; keep its content as text for the model
                turn.texts.append(
                    f"[Tool result for {result.tool_use_id}]\n{result.text or EMPTY_TOOL_OUTPUT}"
                )
        turn.tool_results = kept
        if index > 0:
            answered = {r.tool_use_id for r in kept}
            prev = turns[index - 1]
            dropped = [u for u in prev.tool_uses if u.id not in answered]
            prev.tool_uses = [u for u in prev.tool_uses if u.id in answered]
            for use in dropped:  # a call nobody answered: keep a trace in the text, not the structure
                prev.texts.append(f"[Called {use.name} with input {orjson.dumps(use.input).decode()}]")
        previous_ids = set()


def _unique_uses(uses: list[ToolUsePart]) -> list[ToolUsePart]:
    seen: set[str] = set()
    unique = []
    for use in uses:
        if use.id not in seen:
            seen.add(use.id)
            unique.append(use)
    return unique
