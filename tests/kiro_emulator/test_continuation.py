"""Output cap cuts a tool call; a continuation request (same conversation) gets exactly the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.kiro_emulator.control import EmulatorControl, directive
from tests.kiro_emulator.conftest import Answer, Kiro, kiro_body

CALL = {"name": "write_file", "input": {"path": "notes.txt", "content": "x" * 300}, "id": "tooluse_cut"}
FULL_INPUT = json.dumps(CALL["input"])
TOOLS = [
    {
        "toolSpecification": {
            "name": "write_file",
            "description": "Write a file.",
            "inputSchema": {"json": {"type": "object"}},
        }
    }
]


def first_request(script: dict[str, Any]) -> dict[str, Any]:
    body = kiro_body("Write the notes file.\n" + directive(**script))
    body["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"] = {
        "tools": TOOLS
    }
    return body


def continuation_request(
    first: dict[str, Any], so_far: str, *, conversation_id: str | None = None
) -> dict[str, Any]:
    """What a gateway sends: the cut turn moved to history, then a user turn asking to continue."""
    state = first["conversationState"]
    original = dict(state["currentMessage"]["userInputMessage"])
    original.pop("userInputMessageContext")
    current = {
        "content": "Continue exactly where the output stopped (tool call tooluse_cut).",
        "modelId": original["modelId"],
        "origin": original["origin"],
        "userInputMessageContext": {"tools": TOOLS},
    }
    return kiro_body(
        history=[
            {"userInputMessage": original},
            {
                "assistantResponseMessage": {
                    "content": f"[tool call write_file cut off; input so far]\n{so_far}"
                }
            },
        ],
        conversationId=conversation_id or state["conversationId"],
        currentMessage={"userInputMessage": current},
    )


def tool_frames(answer: Answer) -> list[dict[str, Any]]:
    return [p for t, p in answer.events if t == "toolUseEvent"]


def test_output_cap_cuts_a_tool_call_without_stop_and_still_ends_with_the_trailer(
    kiro: Kiro, token: str
) -> None:
    answer = kiro.chat(token, first_request({"text": "Writing.", "tool_calls": [CALL], "output_cap": 108}))
    assert answer.text == "Writing."
    so_far = answer.tool_inputs()["tooluse_cut"]
    assert so_far == FULL_INPUT[:100]
    assert not any(p.get("stop") for p in tool_frames(answer))
    with pytest.raises(json.JSONDecodeError):
        json.loads(so_far)
    assert [t for t, _ in answer.events][-2:] == ["meteringEvent", "contextUsageEvent"]


def test_continuation_request_gets_the_rest_of_the_tool_call_under_the_same_id(
    kiro: Kiro, token: str
) -> None:
    first = first_request({"tool_calls": [CALL], "output_cap": 200})
    cut = kiro.chat(token, first)
    so_far = cut.tool_inputs()["tooluse_cut"]
    rest = kiro.chat(token, continuation_request(first, so_far))
    assert rest.status == 200, rest.error
    frames = tool_frames(rest)
    assert {p["toolUseId"] for p in frames} == {"tooluse_cut"}
    assert frames[-1] == {"toolUseId": "tooluse_cut", "name": "write_file", "stop": True}
    assert json.loads(so_far + rest.tool_inputs()["tooluse_cut"]) == CALL["input"]


def test_a_small_cap_needs_several_continuations_each_capped_again(kiro: Kiro, token: str) -> None:
    first = first_request({"tool_calls": [CALL], "output_cap": 150})
    answer = kiro.chat(token, first)
    assembled = answer.tool_inputs()["tooluse_cut"]
    rounds = 0
    while not any(p.get("stop") for p in tool_frames(answer)):
        rounds += 1
        answer = kiro.chat(token, continuation_request(first, assembled))
        assert len(answer.tool_inputs()["tooluse_cut"]) <= 150
        assembled += answer.tool_inputs()["tooluse_cut"]
    assert rounds == 2  # 344 chars of input in slices of 150
    assert json.loads(assembled) == CALL["input"]


def test_continuation_is_also_recognised_by_the_tool_use_id_in_the_request(kiro: Kiro, token: str) -> None:
    first = first_request({"tool_calls": [CALL], "output_cap": 300})
    so_far = kiro.chat(token, first).tool_inputs()["tooluse_cut"]
    rest = kiro.chat(token, continuation_request(first, so_far, conversation_id="another-conversation"))
    assert json.loads(so_far + rest.tool_inputs()["tooluse_cut"]) == CALL["input"]


def test_text_continuation_delivers_the_rest_of_the_input_as_text(kiro: Kiro, token: str) -> None:
    first = first_request({"tool_calls": [CALL], "output_cap": 300, "continue_as": "text"})
    so_far = kiro.chat(token, first).tool_inputs()["tooluse_cut"]
    rest = kiro.chat(token, continuation_request(first, so_far))
    assert tool_frames(rest) == []
    assert json.loads(so_far + rest.text) == CALL["input"]


def test_what_followed_the_cut_call_comes_after_its_rest(kiro: Kiro, token: str) -> None:
    second = {"name": "write_file", "input": {"path": "b.txt", "content": "b"}, "id": "tooluse_next"}
    first = first_request({"tool_calls": [CALL, second], "output_cap": 200})
    cut = kiro.chat(token, first)
    assert list(cut.tool_inputs()) == ["tooluse_cut"]
    rest = kiro.chat(token, continuation_request(first, cut.tool_inputs()["tooluse_cut"]))
    assert list(rest.tool_inputs()) == ["tooluse_cut", "tooluse_next"]
    assert json.loads(rest.tool_inputs()["tooluse_next"]) == second["input"]


def test_continuations_are_consumed_and_dropped_by_an_account_reset(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    token = account["access_token"]
    first = first_request({"tool_calls": [CALL], "output_cap": 50})
    so_far = kiro.chat(token, first).tool_inputs()["tooluse_cut"]
    ctl.reset_account(account["name"])
    after_reset = kiro.chat(token, continuation_request(first, so_far))
    assert tool_frames(after_reset) == []
    assert after_reset.text.startswith("Continue exactly")
