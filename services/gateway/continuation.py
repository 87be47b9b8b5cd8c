"""Auto-continuation: when Kiro's output cap cuts a tool call, ask for the rest in a follow-up request.

The follow-up is an ordinary valid Kiro request in the same conversation (same `conversationId`): the
original current message moves into history, an assistant turn carries what was produced of the cut
call, and a new user turn asks to continue exactly where the output stopped. Kiro (and the emulator,
services/kiro_emulator/README.md "Output cap and auto-continuation") answers with the rest of the call
under the same `toolUseId`, which the app feeds into the same translator.
"""

from __future__ import annotations

from typing import Any

from services.gateway.translate.follow_up import follow_up_payload

CONTINUE_PROMPT = (
    "Your previous answer was cut off by the output limit in the middle of the tool call {name} "
    "(id {id}). Continue exactly where the output stopped: emit only the remaining characters of that "
    "tool call's JSON input, then anything that was still to follow. Do not repeat what was already sent."
)


def continuation_payload(
    payload: dict[str, Any], tool_use_id: str, name: str, input_so_far: str
) -> dict[str, Any]:
    """A new Kiro request body continuing `payload` after a cut-off tool call."""
    partial = input_so_far or "(nothing yet)"
    said = f"[tool call {name} (id {tool_use_id}) cut off; input so far]\n{partial}"
    return follow_up_payload(payload, said, CONTINUE_PROMPT.format(name=name, id=tool_use_id))
