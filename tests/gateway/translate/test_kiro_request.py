"""History repair, tool pairing, tool names, thinking tags and the size limit of the Kiro request."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.translate import (
    ContextLengthError,
    build_kiro_request,
    parse_anthropic,
    parse_openai,
)
from services.gateway.translate.ir import ChatRequest
from tests.gateway.translate.fixtures import assert_valid_kiro_payload

PNG = "iVBORw0KGgoAAAANSUhEUg=="


def kiro(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    req = parse_anthropic({"model": "m", "max_tokens": 10, "messages": messages, **fields})
    payload = build(req)
    assert_valid_kiro_payload(payload)
    return payload


def build(req: ChatRequest, **kwargs: Any) -> dict[str, Any]:
    return build_kiro_request(req, model_id="claude-sonnet-4.5", conversation_id="conv", **kwargs).payload


def turns(payload: dict[str, Any]) -> list[tuple[str, str]]:
    state = payload["conversationState"]
    out = []
    for item in [*state.get("history", []), state["currentMessage"]]:
        ((kind, body),) = item.items()
        out.append(("user" if kind == "userInputMessage" else "assistant", body["content"]))
    return out


def tool_use(tool_id: str, name: str = "get", **tool_input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def tool_result(tool_id: str, text: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": text, **extra}


def test_a_single_user_message_becomes_the_current_message_without_history() -> None:
    payload = kiro([{"role": "user", "content": "hi"}])
    assert payload == {
        "conversationState": {
            "chatTriggerType": "MANUAL",
            "conversationId": "conv",
            "currentMessage": {
                "userInputMessage": {"content": "hi", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}
            },
        }
    }


def test_consecutive_messages_of_one_role_are_merged() -> None:
    payload = kiro(
        [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": "d"},
            {"role": "user", "content": "e"},
        ]
    )
    assert turns(payload) == [("user", "a\n\nb"), ("assistant", "c\n\nd"), ("user", "e")]


def test_history_starting_with_the_assistant_gets_a_user_message_first() -> None:
    payload = kiro([{"role": "assistant", "content": "hello"}, {"role": "user", "content": "hi"}])
    assert turns(payload) == [("user", "Begin conversation"), ("assistant", "hello"), ("user", "hi")]


def test_assistant_prefill_at_the_end_is_followed_by_continue() -> None:
    payload = kiro([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure,"}])
    assert turns(payload) == [("user", "hi"), ("assistant", "Sure,"), ("user", "Continue")]


def test_empty_contents_get_placeholders() -> None:
    payload = kiro(
        [
            {"role": "user", "content": ""},
            {"role": "assistant", "content": [tool_use("t1")]},
            {"role": "user", "content": [tool_result("t1")]},
        ]
    )
    assert turns(payload) == [
        ("user", "Continue"),
        ("assistant", "(empty)"),
        ("user", "Tool results provided."),
    ]


def test_orphan_tool_result_becomes_text_instead_of_a_rejected_result() -> None:
    payload = kiro(
        [{"role": "user", "content": [tool_result("ghost", "42"), {"type": "text", "text": "and?"}]}]
    )
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert "userInputMessageContext" not in current
    assert "[Tool result for ghost]\n42" in current["content"]
    assert "and?" in current["content"]


def test_unanswered_tool_call_is_dropped_from_the_structure_but_kept_as_text() -> None:
    payload = kiro(
        [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "calling"}, tool_use("t1", city="Paris")],
            },
            {"role": "user", "content": "never mind"},
        ]
    )
    assistant = payload["conversationState"]["history"][1]["assistantResponseMessage"]
    assert "toolUses" not in assistant
    assert '[Called get with input {"city":"Paris"}]' in assistant["content"]


def test_duplicate_tool_results_are_sent_once() -> None:
    payload = kiro(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [tool_use("t1"), tool_use("t2")]},
            {
                "role": "user",
                "content": [tool_result("t1", "a"), tool_result("t2", "b"), tool_result("t1", "again")],
            },
        ]
    )
    results = payload["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"][
        "toolResults"
    ]
    assert [(r["toolUseId"], r["content"][0]["text"]) for r in results] == [("t1", "a"), ("t2", "b")]


def test_error_results_have_error_status_and_their_images_join_the_message() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": PNG}}
    payload = kiro(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [tool_use("t1")]},
            {
                "role": "user",
                "content": [
                    tool_result("t1", is_error=True, content=[{"type": "text", "text": "boom"}, image])
                ],
            },
        ]
    )
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["userInputMessageContext"]["toolResults"] == [
        {"toolUseId": "t1", "content": [{"text": "boom"}], "status": "error"}
    ]
    assert current["images"] == [{"format": "webp", "source": {"bytes": PNG}}]


def test_tools_used_in_history_but_no_longer_declared_get_a_placeholder_declaration() -> None:
    payload = kiro(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [tool_use("t1", name="old_tool"), tool_use("t2", name="GET")]},
            {"role": "user", "content": [tool_result("t1"), tool_result("t2")]},
        ],
        tools=[{"name": "get", "description": "fetch", "input_schema": {"type": "object"}}],
    )
    current = payload["conversationState"]["currentMessage"]["userInputMessage"]
    specs = {
        t["toolSpecification"]["name"]: t["toolSpecification"]
        for t in current["userInputMessageContext"]["tools"]
    }
    assert set(specs) == {"get", "old_tool"}
    assert specs["old_tool"]["description"] == "Tool used in conversation history"
    uses = payload["conversationState"]["history"][1]["assistantResponseMessage"]["toolUses"]
    assert [u["name"] for u in uses] == ["old_tool", "get"]  # case-insensitive match to the declared name


def test_long_tool_names_are_shortened_reversibly() -> None:
    long_name = "mcp__some_server_with_a_long_name__" + "very_long_operation_name_" * 3
    req = parse_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [tool_use("t1", name=long_name)]},
                {"role": "user", "content": [tool_result("t1")]},
            ],
            "tools": [
                {"name": long_name, "description": "x", "input_schema": {"type": "object"}},
                {"name": "dotted.name", "description": "y", "input_schema": {"type": "object"}},
            ],
        }
    )
    result = build_kiro_request(req, model_id="m", conversation_id="c")
    assert_valid_kiro_payload(result.payload)
    current = result.payload["conversationState"]["currentMessage"]["userInputMessage"]
    sent = [t["toolSpecification"]["name"] for t in current["userInputMessageContext"]["tools"]]
    assert all(len(n) <= 64 for n in sent) and len(long_name) > 64
    assert [result.tool_names.to_client(n) for n in sent] == [long_name, "dotted.name"]
    used = result.payload["conversationState"]["history"][1]["assistantResponseMessage"]["toolUses"][0][
        "name"
    ]
    assert used == sent[0]


def test_empty_tool_description_gets_a_placeholder_and_schema_is_cleaned() -> None:
    payload = kiro(
        [{"role": "user", "content": "x"}],
        tools=[
            {
                "name": "t",
                "description": "",
                "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "required": None},
            }
        ],
    )
    spec = payload["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"][
        "tools"
    ][0]
    assert spec["toolSpecification"]["description"] == "Tool t"
    assert spec["toolSpecification"]["inputSchema"]["json"] == {"type": "object", "properties": {}}


def test_tool_choice_none_sends_no_tools_when_history_needs_none() -> None:
    payload = kiro(
        [{"role": "user", "content": "x"}],
        tools=[{"name": "t", "description": "d", "input_schema": {"type": "object"}}],
        tool_choice={"type": "none"},
    )
    assert "userInputMessageContext" not in payload["conversationState"]["currentMessage"]["userInputMessage"]


def test_system_prompt_goes_once_into_the_first_user_message() -> None:
    payload = kiro(
        [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ],
        system="You are a pirate.",
    )
    assert turns(payload) == [("user", "You are a pirate.\n\nfirst"), ("assistant", "ok"), ("user", "second")]


def test_thinking_tags_are_injected_once_before_the_system_prompt() -> None:
    payload = kiro(
        [{"role": "user", "content": "q"}], system="sys", thinking={"type": "enabled", "budget_tokens": 3000}
    )
    assert turns(payload)[0][1] == (
        "<thinking_mode>enabled</thinking_mode><max_thinking_length>3000</max_thinking_length>\nsys\n\nq"
    )


def test_thinking_tags_the_client_already_wrote_are_not_injected_again() -> None:
    payload = kiro(
        [{"role": "user", "content": "q"}],
        system="<thinking_mode>enabled</thinking_mode> sys",
        thinking={"type": "enabled", "budget_tokens": 3000},
    )
    assert turns(payload)[0][1].count("<thinking_mode>") == 1


def test_thinking_suffix_on_the_model_injects_the_default_budget() -> None:
    req = parse_openai(
        {"model": "claude-sonnet-4-5-thinking", "messages": [{"role": "user", "content": "q"}]}
    )
    payload = build(req, thinking=True)
    assert turns(payload)[0][1] == (
        "<thinking_mode>enabled</thinking_mode><max_thinking_length>16000</max_thinking_length>\n\nq"
    )
    assert "<thinking_mode>" not in str(build(req))


def test_earlier_thinking_blocks_are_not_replayed_to_kiro() -> None:
    payload = kiro(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "secret", "signature": "s"},
                    {"type": "text", "text": "a"},
                ],
            },
            {"role": "user", "content": "q2"},
        ]
    )
    assert "secret" not in str(payload)


def test_profile_arn_is_sent_at_the_top_level_and_origin_on_every_user_message() -> None:
    req = parse_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
            ],
        }
    )
    payload = build(req, origin="CLI", profile_arn="arn:aws:codewhisperer:us-east-1:1:profile/X")
    assert payload["profileArn"] == "arn:aws:codewhisperer:us-east-1:1:profile/X"
    state = payload["conversationState"]
    assert state["history"][0]["userInputMessage"]["origin"] == "CLI"
    assert state["currentMessage"]["userInputMessage"]["origin"] == "CLI"


def test_serialized_body_is_what_the_payload_says() -> None:
    req = parse_anthropic({"model": "m", "messages": [{"role": "user", "content": "héllo 世界"}]})
    result = build_kiro_request(req, model_id="m", conversation_id="c")
    assert orjson.loads(result.body) == result.payload
    assert result.payload_bytes == len(result.body)


def test_oversized_request_is_refused_with_claude_codes_prompt_too_long_wording() -> None:
    req = parse_anthropic({"model": "m", "messages": [{"role": "user", "content": "word " * 200_000}]})
    with pytest.raises(ContextLengthError) as caught:
        build_kiro_request(req, model_id="m", conversation_id="c")
    error = caught.value
    assert error.status == 400
    assert error.payload_bytes > error.max_bytes == 600_000
    assert error.tokens > error.max_tokens > 0
    assert error.message == f"prompt is too long: {error.tokens} tokens > {error.max_tokens} maximum"


def test_the_byte_limit_is_configurable() -> None:
    req = parse_anthropic({"model": "m", "messages": [{"role": "user", "content": "x" * 2_000}]})
    build_kiro_request(req, model_id="m", conversation_id="c")
    with pytest.raises(ContextLengthError):
        build_kiro_request(req, model_id="m", conversation_id="c", max_payload_bytes=1_000)


def test_a_forced_tool_choice_becomes_one_sentence_in_the_current_message() -> None:
    tools = [{"name": "get", "description": "d", "input_schema": {"type": "object"}}]
    forced = kiro(
        [{"role": "user", "content": "x"}], tools=tools, tool_choice={"type": "tool", "name": "get"}
    )
    assert turns(forced)[-1][1] == "x\n\n(Answer by calling the tool get.)"
    any_tool = kiro([{"role": "user", "content": "x"}], tools=tools, tool_choice={"type": "any"})
    assert turns(any_tool)[-1][1] == "x\n\n(Answer by calling one of the available tools.)"
    auto = kiro([{"role": "user", "content": "x"}], tools=tools, tool_choice={"type": "auto"})
    assert turns(auto)[-1][1] == "x"
    unknown = kiro(
        [{"role": "user", "content": "x"}], tools=tools, tool_choice={"type": "tool", "name": "nope"}
    )
    assert turns(unknown)[-1][1] == "x"
