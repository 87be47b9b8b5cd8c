"""One more Kiro request in the same conversation, built from the last one (continuations, retries)."""

from __future__ import annotations

import copy
from typing import Any


def follow_up_payload(payload: dict[str, Any], answer: str, prompt: str) -> dict[str, Any]:
    """A Kiro request going on in the same conversation: `answer` as the assistant's turn, `prompt` next.

    The current message moves into history (keeping its tool results); the new one keeps the model,
    origin and tools. Auto-continuation and structured-output retries are built this way.
    """
    state = payload["conversationState"]
    current = state["currentMessage"]["userInputMessage"]
    moved = {k: v for k, v in current.items() if k != "userInputMessageContext"}
    context = current.get("userInputMessageContext") or {}
    if context.get("toolResults"):
        moved["userInputMessageContext"] = {"toolResults": context["toolResults"]}
    new_current: dict[str, Any] = {
        "content": prompt,
        "modelId": current["modelId"],
        "origin": current["origin"],
    }
    if context.get("tools"):
        new_current["userInputMessageContext"] = {"tools": context["tools"]}
    new_state = {k: v for k, v in state.items() if k not in ("history", "currentMessage")}
    new_state["history"] = [
        *copy.copy(state.get("history", [])),
        {"userInputMessage": moved},
        {"assistantResponseMessage": {"content": answer}},
    ]
    new_state["currentMessage"] = {"userInputMessage": new_current}
    return {**{k: v for k, v in payload.items() if k != "conversationState"}, "conversationState": new_state}
