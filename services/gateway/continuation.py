"""Auto-continuation: when Kiro's output cap cuts a tool call, ask for the rest in a follow-up request.

The follow-up is an ordinary valid Kiro request in the same conversation (same `conversationId`): the
original current message moves into history, an assistant turn carries what was produced of the cut
call, and a new user turn asks to continue exactly where the output stopped. Kiro (and the emulator,
services/kiro_emulator/README.md "Output cap and auto-continuation") answers with the rest of the call
under the same `toolUseId`, which the app feeds into the same translator.
"""

from __future__ import annotations

import copy
from typing import Any

CONTINUE_PROMPT = (
    "Your previous answer was cut off by the output limit in the middle of the tool call {name} "
    "(id {id}). Continue exactly where the output stopped: emit only the remaining characters of that "
    "tool call's JSON input, then anything that was still to follow. Do not repeat what was already sent."
)


def continuation_payload(
    payload: dict[str, Any], tool_use_id: str, name: str, input_so_far: str
) -> dict[str, Any]:
    """A new Kiro request body continuing `payload` after a cut-off tool call."""
    state = payload["conversationState"]
    current = state["currentMessage"]["userInputMessage"]
    moved = {k: v for k, v in current.items() if k != "userInputMessageContext"}
    context = current.get("userInputMessageContext") or {}
    if context.get("toolResults"):
        moved["userInputMessageContext"] = {"toolResults": context["toolResults"]}
    partial = input_so_far or "(nothing yet)"
    assistant = {"content": f"[tool call {name} (id {tool_use_id}) cut off; input so far]\n{partial}"}
    new_current: dict[str, Any] = {
        "content": CONTINUE_PROMPT.format(name=name, id=tool_use_id),
        "modelId": current["modelId"],
        "origin": current["origin"],
    }
    if context.get("tools"):
        new_current["userInputMessageContext"] = {"tools": context["tools"]}
    new_state = {k: v for k, v in state.items() if k not in ("history", "currentMessage")}
    new_state["history"] = [
        *copy.copy(state.get("history", [])),
        {"userInputMessage": moved},
        {"assistantResponseMessage": assistant},
    ]
    new_state["currentMessage"] = {"userInputMessage": new_current}
    return {**{k: v for k, v in payload.items() if k != "conversationState"}, "conversationState": new_state}
