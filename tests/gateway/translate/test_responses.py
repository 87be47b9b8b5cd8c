"""The Responses translators: input items -> IR, Kiro events -> `response.*` events the SDK parses."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import pytest

from services.gateway.translate import ToolNameMap, build_kiro_request
from services.gateway.translate.ir import ImagePart, TextPart, ToolResultPart, ToolUsePart
from services.gateway.translate.responses_in import parse_responses
from services.gateway.translate.responses_out import ResponsesCollector, ResponsesStream
from shared.errors import InvalidRequestError
from shared.kiro.events import (
    KiroEvent,
    StreamError,
    TextDelta,
    ToolUseInputDelta,
    ToolUseStart,
    ToolUseStop,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _stop(tool_use_id: str, name: str, raw: str) -> ToolUseStop:
    return ToolUseStop(tool_use_id, name, raw, json.loads(raw), None, "stop")


def _stream(**kwargs: Any) -> ResponsesStream:
    defaults: dict[str, Any] = {"echo": {"tools": [], "tool_choice": "auto", "parallel_tool_calls": True}}
    defaults["tool_kinds"] = kwargs.pop("tool_kinds", {})
    return ResponsesStream(
        "claude-sonnet-4.5",
        42,
        ToolNameMap(),
        kwargs.pop("thinking", False),
        200_000,
        **{
            **defaults,
            **kwargs,
        },
    )


def _render(stream: ResponsesStream, events: Iterable[KiroEvent]) -> bytes:
    return stream.start() + stream.ping() + b"".join(stream.feed(e) for e in events) + stream.finish()


def _sdk(body: bytes) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return openai.OpenAI(
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        max_retries=0,
    )


def _events(body: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:])
        for block in body.decode().split("\n\n")
        for line in block.split("\n")
        if line.startswith("data: ")
    ]


# --- request side ------------------------------------------------------------------------------------
def test_string_input_and_instructions_become_one_user_message_and_the_system_prompt() -> None:
    parsed = parse_responses(
        {"model": "m", "input": "Hi", "instructions": "Be brief.", "max_output_tokens": 99}
    )
    assert parsed.chat.system == ["Be brief."]
    assert [(m.role, m.parts) for m in parsed.chat.messages] == [("user", [TextPart("Hi")])]
    assert parsed.chat.max_tokens == 99
    assert parsed.items == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    ]
    assert parsed.store is True


def test_item_list_round_trips_calls_outputs_images_and_reasoning() -> None:
    body = {
        "model": "m",
        "input": [
            {"type": "message", "role": "developer", "content": "Use tools."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather and this picture?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Think."}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Looking."}],
            },
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Oslo"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "rain"},
        ],
        "tools": [WEATHER],
    }
    chat = parse_responses(body).chat
    assert chat.system == ["Use tools."]
    user, assistant, results = chat.messages
    assert user.parts == [TextPart("Weather and this picture?"), ImagePart("image/png", PNG)]
    assert ToolUsePart("call_1", "get_weather", {"city": "Oslo"}) in assistant.parts
    assert TextPart("Looking.") in assistant.parts
    assert results.parts == [ToolResultPart("call_1", "rain")]
    kiro = build_kiro_request(chat, model_id="claude-sonnet-4.5").payload["conversationState"]
    current = kiro["currentMessage"]["userInputMessage"]
    assert current["userInputMessageContext"]["toolResults"][0]["toolUseId"] == "call_1"
    assert kiro["history"][1]["assistantResponseMessage"]["toolUses"][0]["input"] == {"city": "Oslo"}


def test_prior_conversation_comes_before_the_new_items() -> None:
    prior = [
        {"type": "message", "role": "user", "content": "First question"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "First answer"}],
        },
    ]
    parsed = parse_responses({"model": "m", "input": "Second", "previous_response_id": "resp_x"}, prior)
    assert [m.role for m in parsed.chat.messages] == ["user", "assistant", "user"]
    assert parsed.items[:2] == prior and parsed.previous_response_id == "resp_x"


def test_codex_shaped_request_is_accepted() -> None:
    body = {
        "model": "gpt-5-codex",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<env/>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "reasoning", "summary": [], "content": None, "encrypted_content": "gAAA"},
            {
                "type": "local_shell_call",
                "call_id": "c1",
                "status": "completed",
                "action": {"type": "exec", "command": ["ls"]},
            },
            {"type": "function_call_output", "call_id": "c1", "output": "a\nb"},
            {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": "Done"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "shell",
                "parameters": {"type": "object", "properties": {}},
                "strict": False,
            },
            {
                "type": "custom",
                "name": "apply_patch",
                "description": "Patch files.",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
            },
            {"type": "local_shell"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conv-1",
        "text": {"verbosity": "medium"},
        "service_tier": "auto",
    }
    parsed = parse_responses(body)
    assert parsed.store is False and parsed.chat.stream and parsed.encrypted_reasoning
    assert parsed.tool_kinds == {"shell": "function", "apply_patch": "custom", "local_shell": "local_shell"}
    assert parsed.chat.thinking is not None
    kiro = build_kiro_request(parsed.chat, model_id="claude-sonnet-4.5").payload["conversationState"]
    history_uses = [
        u for m in kiro["history"] for u in m.get("assistantResponseMessage", {}).get("toolUses", [])
    ]
    assert {u["name"]: u["input"] for u in history_uses} == {
        "local_shell": {"command": ["ls"]},
        "apply_patch": {"input": "*** Begin Patch"},
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"input": [{"type": "computer_call", "call_id": "c", "action": {}}]}, "input[0].type"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"input": 7}, "input"),
    ],
)
def test_features_kiro_cannot_serve_are_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_responses({"model": "m", "input": "hi", **body})
    assert caught.value.param == param and caught.value.status == 400


def test_offered_built_in_tools_are_left_out_and_their_traces_skipped() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "news?"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Here."}]},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [{"type": "web_search", "external_web_access": False}, WEATHER],
    }
    parsed = parse_responses(body)
    assert [t.name for t in parsed.chat.tools] == ["get_weather"]
    assert parsed.ignored_tools == ["web_search"]
    assert [m.role for m in parsed.chat.messages] == ["user", "assistant", "user"]


def test_json_schema_output_becomes_an_instruction() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    parsed = parse_responses(
        {
            "model": "m",
            "input": "x",
            "text": {"format": {"type": "json_schema", "name": "n", "schema": schema}},
        }
    )
    assert '"properties":{"n":{"type":"integer"}}' in parsed.chat.system[-1]


# --- response side -----------------------------------------------------------------------------------
def test_sdk_stream_accumulates_reasoning_text_and_usage() -> None:
    stream = _stream(thinking=True, echo={"instructions": "x"}, encrypted_reasoning=True)
    body = _render(
        stream, [TextDelta("<thinking>Add them.</thinking>\n\n"), TextDelta("2 + 2 "), TextDelta("= 4")]
    )
    with _sdk(body).responses.stream(model="m", input="2+2?") as sdk_stream:
        kinds = [event.type for event in sdk_stream]
        final = sdk_stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds and "response.output_text.delta" in kinds
    assert final.output_text == "2 + 2 = 4"
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Add them."
    assert reasoning.encrypted_content
    assert message.type == "message" and message.status == "completed"
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens > 0
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
    numbers = [e["sequence_number"] for e in _events(body)]
    assert numbers == list(range(len(numbers)))


def test_sdk_stream_builds_function_calls_with_streamed_arguments() -> None:
    events: list[KiroEvent] = [
        TextDelta("Checking."),
        ToolUseStart("call_a", "get_weather"),
        ToolUseInputDelta("call_a", '{"city": '),
        ToolUseInputDelta("call_a", '"Paris"}'),
        _stop("call_a", "get_weather", '{"city": "Paris"}'),
        ToolUseStart("call_b", "get_weather"),
        ToolUseInputDelta("call_b", '{"city": "Rome"}'),
        _stop("call_b", "get_weather", '{"city": "Rome"}'),
    ]
    body = _render(_stream(tool_kinds={"get_weather": "function"}), events)
    deltas = [e["delta"] for e in _events(body) if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"city": ', '"Paris"}', '{"city": "Rome"}']  # streamed as Kiro sent them
    with _sdk(body).responses.stream(model="m", input="x", tools=[WEATHER]) as sdk_stream:
        final = sdk_stream.get_final_response()
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_weather", {"city": "Rome"}),
    ]


def test_custom_and_local_shell_calls_come_out_as_their_own_item_types() -> None:
    events: list[KiroEvent] = [
        ToolUseStart("c1", "apply_patch"),
        ToolUseInputDelta("c1", '{"input": "*** Begin Patch\\n"}'),
        _stop("c1", "apply_patch", '{"input": "*** Begin Patch\\n"}'),
        ToolUseStart("c2", "local_shell"),
        ToolUseInputDelta("c2", '{"command": ["ls", "-l"]}'),
        _stop("c2", "local_shell", '{"command": ["ls", "-l"]}'),
    ]
    stream = _stream(tool_kinds={"apply_patch": "custom", "local_shell": "local_shell"})
    body = _render(stream, events)
    done = [e["item"] for e in _events(body) if e["type"] == "response.output_item.done"]
    assert done[0]["type"] == "custom_tool_call" and done[0]["input"] == "*** Begin Patch\n"
    assert done[1]["type"] == "local_shell_call" and done[1]["action"]["command"] == ["ls", "-l"]
    assert any(e["type"] == "response.custom_tool_call_input.done" for e in _events(body))


def test_cut_answer_is_incomplete_and_a_kiro_failure_is_response_failed() -> None:
    cut = _stream()
    body = _render(
        cut, [TextDelta("partial"), StreamError("exception", "ContentLengthExceededException", "too long")]
    )
    last = _events(body)[-1]
    assert last["type"] == "response.completed" and last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    with _sdk(body).responses.stream(model="m", input="x") as sdk_stream:
        assert sdk_stream.get_final_response().output_text == "partial"

    failed = _stream()
    body = (
        failed.start()
        + failed.feed(TextDelta("so far"))
        + failed.feed(StreamError("exception", "ThrottlingException", "slow down"))
    )
    last = _events(body)[-1]
    assert last["type"] == "response.failed"
    assert last["response"]["error"]["code"] == "rate_limit_exceeded"
    assert failed.finish() == b""


def test_collector_result_is_a_response_object_the_sdk_parses() -> None:
    collector = ResponsesCollector(
        "claude-sonnet-4.5",
        10,
        ToolNameMap(),
        False,
        200_000,
        echo={"tools": [WEATHER], "tool_choice": "auto", "parallel_tool_calls": True},
        tool_kinds={"get_weather": "function"},
    )
    for event in [
        TextDelta("Sure."),
        ToolUseStart("c", "get_weather"),
        ToolUseInputDelta("c", "{}"),
        _stop("c", "get_weather", "{}"),
    ]:
        assert collector.feed(event) == b""
    collector.finish()
    result = collector.result()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=result)

    client = openai.OpenAI(
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    response = client.responses.create(model="m", input="x")
    assert response.status == "completed" and response.output_text == "Sure."
    assert [o.type for o in response.output] == ["message", "function_call"]
    assert collector.output_items()[1]["call_id"] == "c"


def test_tools_in_a_namespace_reach_kiro_and_their_calls_name_the_namespace() -> None:
    # Codex offers its sub-agent tools as `{"type": "namespace", "name": "multi_agent_v1", "tools": [...]}`
    spawn = {**WEATHER, "name": "spawn_agent", "description": "Start a sub-agent."}
    body = {
        "model": "claude-sonnet-4.5",
        "input": "start a helper",
        "tools": [
            WEATHER,
            {"type": "namespace", "name": "multi_agent_v1", "description": "", "tools": [spawn]},
        ],
    }
    parsed = parse_responses(body)
    assert [t.name for t in parsed.chat.tools] == ["get_weather", "spawn_agent"]
    assert parsed.ignored_tools == []

    events: list[KiroEvent] = [
        ToolUseStart("c1", "spawn_agent"),
        ToolUseInputDelta("c1", '{"city": "Oslo"}'),
        _stop("c1", "spawn_agent", '{"city": "Oslo"}'),
        ToolUseStart("c2", "get_weather"),
        ToolUseInputDelta("c2", '{"city": "Rome"}'),
        _stop("c2", "get_weather", '{"city": "Rome"}'),
    ]
    stream = _stream(tool_kinds=parsed.tool_kinds, tool_namespaces=parsed.tool_namespaces)
    rendered = _render(stream, events)
    with _sdk(rendered).responses.stream(model="m", input="x") as sdk_stream:
        final = sdk_stream.get_final_response()
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.name, c.namespace) for c in calls] == [
        ("spawn_agent", "multi_agent_v1"),
        ("get_weather", None),
    ]
