"""Every captured client request parses and becomes a Kiro payload that obeys kiro-protocol.md §3."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.translate import (
    ChatRequest,
    ImagePart,
    TextPart,
    ToolResultPart,
    ToolUsePart,
    build_kiro_request,
    count_tokens,
    parse_anthropic,
    parse_openai,
)
from services.gateway.translate.kiro_request import MAX_PAYLOAD_BYTES, thinking_enabled
from tests.gateway.translate.fixtures import assert_valid_kiro_payload, client_captures, load_capture

CAPTURES = client_captures()


def parse_capture(name: str) -> ChatRequest:
    capture = load_capture(name)
    if capture["path"].startswith("/v1/chat/completions"):
        return parse_openai(capture["body"])
    return parse_anthropic(capture["body"])


def translate(req: ChatRequest) -> dict:  # type: ignore[type-arg]
    kiro = build_kiro_request(
        req, model_id="claude-sonnet-4.5", conversation_id="c0ffee00-0000-4000-8000-000000000000"
    )
    assert kiro.payload_bytes <= MAX_PAYLOAD_BYTES
    return kiro.payload


def messages_of(payload: dict) -> list[dict]:  # type: ignore[type-arg]
    state = payload["conversationState"]
    return [*state.get("history", []), state["currentMessage"]]


def test_the_fixture_directory_holds_the_expected_captures() -> None:
    names = {p.stem for p in CAPTURES}
    assert {"claude_code_02_messages_stream_first_turn", "sdk_openai_py_tool_result"} <= names
    assert len(CAPTURES) >= 18


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_every_capture_translates_to_a_valid_kiro_payload(path: Path) -> None:
    req = parse_capture(path.stem)
    payload = translate(req)
    assert_valid_kiro_payload(payload)
    assert count_tokens(req) >= 1


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_every_declared_tool_reaches_kiro_under_its_own_name(path: Path) -> None:
    req = parse_capture(path.stem)
    payload = translate(req)
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    sent = [
        t["toolSpecification"]["name"] for t in current.get("userInputMessageContext", {}).get("tools", [])
    ]
    assert sent[: len(req.tools)] == [t.name for t in req.tools]


@pytest.mark.parametrize(
    "name",
    [
        "claude_code_02_messages_stream_first_turn",
        "claude_code_03_messages_stream_tool_result",
        "claude_code_04_messages_nonstream_fallback",
        "claude_code_07_messages_no_experimental_betas",
    ],
)
def test_claude_code_turns_keep_system_prompt_once_at_the_start_with_adaptive_thinking(name: str) -> None:
    body = load_capture(name)["body"]
    req = parse_anthropic(body)
    payload = translate(req)
    first = messages_of(payload)[0]["userInputMessage"]["content"]
    assert first.startswith("<thinking_mode>adaptive</thinking_mode><thinking_effort>high</thinking_effort>")
    main_prompt = body["system"][2]["text"]
    mid_conversation_system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    assert main_prompt[:200] in first
    assert mid_conversation_system[:200] in first
    contents = " ".join(str(next(iter(m.values()))["content"]) for m in messages_of(payload))
    assert contents.count(main_prompt[:200]) == 1
    assert contents.count("<thinking_mode>") == 1
    assert "list the files here" in first


def test_claude_code_oversized_tool_description_moves_to_the_system_prompt_with_a_pointer() -> None:
    body = load_capture("claude_code_02_messages_stream_first_turn")["body"]
    workflow = next(t for t in body["tools"] if t["name"] == "Workflow")
    assert len(workflow["description"]) > 10_000
    payload = translate(parse_anthropic(body))
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    spec = next(
        t["toolSpecification"]
        for t in current["userInputMessageContext"]["tools"]
        if t["toolSpecification"]["name"] == "Workflow"
    )
    assert "system prompt" in spec["description"]
    first = messages_of(payload)[0]["userInputMessage"]["content"]
    assert "# Tool documentation: Workflow" in first
    assert workflow["description"][-300:] in first


def test_claude_code_tool_result_turn_pairs_the_bash_call_with_its_result() -> None:
    payload = translate(parse_capture("claude_code_03_messages_stream_tool_result"))
    history = payload["conversationState"]["history"]
    assert len(history) == 2
    assistant = history[1]["assistantResponseMessage"]
    assert assistant["content"] == "Listing files."
    assert assistant["toolUses"] == [
        {
            "toolUseId": "toolu_01StubCall95659169",
            "name": "Bash",
            "input": {"command": "ls", "description": "List files in current directory"},
        }
    ]
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["userInputMessageContext"]["toolResults"] == [
        {
            "toolUseId": "toolu_01StubCall95659169",
            "content": [{"text": "(Bash completed with no output)"}],
            "status": "success",
        }
    ]
    assert current["content"] == "Tool results provided."


def test_claude_code_session_id_from_metadata_gives_a_stable_conversation_id() -> None:
    first = parse_capture("claude_code_02_messages_stream_first_turn")
    second = parse_capture("claude_code_03_messages_stream_tool_result")
    assert first.session_id == "91b7a0f6-7cdb-424f-9aaf-3e6a9af2880d"
    ids = {
        build_kiro_request(r, model_id="auto").payload["conversationState"]["conversationId"]
        for r in (first, second)
    }
    assert len(ids) == 1


def test_anthropic_sdk_tool_result_with_block_content_is_flattened_to_text() -> None:
    req = parse_capture("sdk_anthropic_py_stream_tool_result")
    result = req.messages[-1].parts[0]
    assert isinstance(result, ToolResultPart)
    assert (result.tool_use_id, result.text, result.is_error) == (
        "toolu_01StubCall95659201",
        "18C sunny",
        False,
    )
    payload = translate(req)
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["userInputMessageContext"]["toolResults"][0]["content"] == [{"text": "18C sunny"}]


def test_openai_tool_role_message_becomes_a_paired_tool_result() -> None:
    req = parse_capture("sdk_openai_py_tool_result")
    assert isinstance(req.messages[1].parts[0], ToolUsePart)
    payload = translate(req)
    history = payload["conversationState"]["history"]
    assert history[1]["assistantResponseMessage"]["toolUses"][0] == {
        "toolUseId": "call_1",
        "name": "get_weather",
        "input": {"location": "Paris"},
    }
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["userInputMessageContext"]["toolResults"][0]["toolUseId"] == "call_1"


def test_openai_reasoning_effort_injects_thinking_tags_with_a_budget() -> None:
    req = parse_capture("sdk_openai_py_tool_result")
    assert thinking_enabled(req, model_suffix=False)
    first = messages_of(translate(req))[0]["userInputMessage"]["content"]
    assert first.startswith(
        "<thinking_mode>enabled</thinking_mode><max_thinking_length>4000</max_thinking_length>"
    )


def test_openai_system_message_is_placed_before_the_first_user_text() -> None:
    payload = translate(parse_capture("sdk_openai_py_plain"))
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["content"] == "You are terse.\n\nSay hello"
    assert "history" not in payload["conversationState"]


def test_anthropic_sdk_thinking_budget_is_passed_as_max_thinking_length() -> None:
    payload = translate(parse_capture("sdk_anthropic_py_stream_thinking"))
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["content"] == (
        "<thinking_mode>enabled</thinking_mode><max_thinking_length>2048</max_thinking_length>\n\n2+2"
    )


def test_request_without_thinking_gets_no_thinking_tags() -> None:
    payload = translate(parse_capture("sdk_anthropic_py_stream_tools"))
    assert "<thinking_mode>" not in str(payload)


def test_openai_array_content_and_image_data_url_reach_kiro_as_text_and_image() -> None:
    body = load_capture("sdk_openai_py_stream_tools")["body"]
    body["messages"][0]["content"].append(
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}}
    )
    req = parse_openai(body)
    assert [type(p) for p in req.messages[0].parts] == [TextPart, ImagePart]
    payload = translate(req)
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["content"] == "Weather in Paris?"
    assert current["images"] == [{"format": "png", "source": {"bytes": "iVBORw0KGgoAAAANSUhEUg=="}}]
    assert_valid_kiro_payload(payload)
