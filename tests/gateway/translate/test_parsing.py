"""Both request parsers: what clients send is accepted; bad shapes get an error naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.translate import (
    ImagePart,
    ImageUrlPart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
    parse_anthropic,
    parse_openai,
)
from shared.errors import InvalidRequestError

PNG = "iVBORw0KGgoAAAANSUhEUg=="


def anthropic(**fields: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    } | fields


def openai(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]} | fields


ANTHROPIC_BAD: list[tuple[str, Any, str]] = [
    ("body not an object", ["x"], "body"),
    ("missing messages", {"model": "m"}, "messages"),
    ("missing model", {"messages": [{"role": "user", "content": "x"}]}, "model"),
    ("model not a string", anthropic(model=5), "model"),
    ("messages not a list", anthropic(messages="hi"), "messages"),
    ("messages empty", anthropic(messages=[]), "messages"),
    ("message not an object", anthropic(messages=["hi"]), "messages[0]"),
    ("unknown role", anthropic(messages=[{"role": "tool", "content": "x"}]), "messages[0].role"),
    ("content a number", anthropic(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (
        "block not an object",
        anthropic(messages=[{"role": "user", "content": ["x"]}]),
        "messages[0].content[0]",
    ),
    (
        "block without type",
        anthropic(messages=[{"role": "user", "content": [{}]}]),
        "messages[0].content[0].type",
    ),
    (
        "text not a string",
        anthropic(messages=[{"role": "user", "content": [{"type": "text", "text": 1}]}]),
        "messages[0].content[0].text",
    ),
    (
        "image of an unsupported type",
        anthropic(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/bmp", "data": PNG},
                        }
                    ],
                }
            ]
        ),
        "messages[0].content[0].source.data",
    ),
    (
        "image data not base64",
        anthropic(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "%%%"},
                        }
                    ],
                }
            ]
        ),
        "messages[0].content[0].source.data",
    ),
    (
        "tool_use input not an object",
        anthropic(
            messages=[
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "n", "input": "[]"}],
                },
            ]
        ),
        "messages[1].content[0].input",
    ),
    (
        "tool_result without id",
        anthropic(messages=[{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]),
        "messages[0].content[0].tool_use_id",
    ),
    ("max_tokens not a number", anthropic(max_tokens="many"), "max_tokens"),
    ("max_tokens zero", anthropic(max_tokens=0), "max_tokens"),
    ("stream not a boolean", anthropic(stream="yes"), "stream"),
    ("system a number", anthropic(system=5), "system"),
    ("tools not a list", anthropic(tools={}), "tools"),
    ("tool without name", anthropic(tools=[{"input_schema": {"type": "object"}}]), "tools[0].name"),
    (
        "tool schema not an object",
        anthropic(tools=[{"name": "n", "input_schema": []}]),
        "tools[0].input_schema",
    ),
    ("tool_choice unknown", anthropic(tool_choice={"type": "sometimes"}), "tool_choice.type"),
    ("tool_choice tool without name", anthropic(tool_choice={"type": "tool"}), "tool_choice.name"),
    ("thinking unknown type", anthropic(thinking={"type": "deep"}), "thinking.type"),
    (
        "thinking budget a string",
        anthropic(thinking={"type": "enabled", "budget_tokens": "x"}),
        "thinking.budget_tokens",
    ),
    ("stop_sequences of numbers", anthropic(stop_sequences=[1]), "stop_sequences[0]"),
]

OPENAI_BAD: list[tuple[str, Any, str]] = [
    ("body not an object", "hello", "body"),
    ("responses api input", {"model": "gpt-4o", "input": "hello"}, "input"),
    ("missing messages", {"model": "gpt-4o"}, "messages"),
    ("missing model", {"messages": [{"role": "user", "content": "x"}]}, "model"),
    ("messages not a list", openai(messages={"role": "user"}), "messages"),
    ("messages empty", openai(messages=[]), "messages"),
    ("only a system message", openai(messages=[{"role": "system", "content": "x"}]), "messages"),
    ("unknown role", openai(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
    (
        "content an object",
        openai(messages=[{"role": "user", "content": {"text": "x"}}]),
        "messages[0].content",
    ),
    (
        "part without type",
        openai(messages=[{"role": "user", "content": [{"text": "x"}]}]),
        "messages[0].content[0].type",
    ),
    (
        "image data url not base64",
        openai(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}],
                }
            ]
        ),
        "messages[0].content[0].image_url.url",
    ),
    (
        "tool message without tool_call_id",
        openai(messages=[{"role": "tool", "content": "x"}]),
        "messages[0].tool_call_id",
    ),
    (
        "tool call without function",
        openai(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]),
        "messages[0].tool_calls[0].function",
    ),
    ("max_tokens a string", openai(max_tokens="10"), "max_tokens"),
    ("max_completion_tokens negative", openai(max_completion_tokens=-1), "max_tokens"),
    ("stream a string", openai(stream="true"), "stream"),
    ("stream_options not an object", openai(stream_options=True), "stream_options"),
    ("tools not a list", openai(tools="x"), "tools"),
    (
        "tool function not an object",
        openai(tools=[{"type": "function", "function": "f"}]),
        "tools[0].function",
    ),
    (
        "tool function without name",
        openai(tools=[{"type": "function", "function": {}}]),
        "tools[0].function.name",
    ),
    ("tool_choice unknown", openai(tool_choice="sometimes"), "tool_choice"),
    ("reasoning_effort unknown", openai(reasoning_effort="extreme"), "reasoning_effort"),
    ("stop a number", openai(stop=5), "stop"),
]


@pytest.mark.parametrize(("case", "body", "param"), ANTHROPIC_BAD, ids=[c[0] for c in ANTHROPIC_BAD])
def test_malformed_anthropic_request_names_the_field(case: str, body: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_anthropic(body)
    assert caught.value.param == param
    assert caught.value.status == 400
    assert param in caught.value.message


@pytest.mark.parametrize(("case", "body", "param"), OPENAI_BAD, ids=[c[0] for c in OPENAI_BAD])
def test_malformed_openai_request_names_the_field(case: str, body: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_openai(body)
    assert caught.value.param == param
    assert caught.value.status == 400
    assert param in caught.value.message


def test_responses_api_body_gets_a_message_that_explains_what_to_send() -> None:
    with pytest.raises(InvalidRequestError, match="'messages'") as caught:
        parse_openai({"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}]})
    assert "input" in caught.value.message


def test_anthropic_accepts_every_field_and_block_real_clients_send() -> None:
    req = parse_anthropic(
        anthropic(
            system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            metadata={"user_id": "user_abc_account__session_1234"},
            thinking={"type": "enabled", "budget_tokens": 1024},
            output_config={"effort": "high"},
            context_management={"edits": []},
            service_tier="auto",
            container=None,
            mcp_servers=[],
            temperature=0.2,
            top_k=5,
            some_future_field={"x": 1},
            tools=[
                {
                    "name": "get",
                    "description": "d",
                    "input_schema": {"type": "object"},
                    "cache_control": {"type": "ephemeral"},
                    "defer_loading": False,
                    "strict": True,
                    "eager_input_streaming": True,
                    "input_examples": [],
                },
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            ],
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
                },
                {"role": "system", "content": "mid-conversation instructions"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "redacted_thinking", "data": "xxx"},
                        {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
                        {"type": "tool_use", "id": "t1", "name": "get", "input": {"a": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "is_error": True},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
                        },
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": "x"},
                        },
                    ],
                },
            ],
        )
    )
    assert req.system == ["be brief", "mid-conversation instructions"]
    assert req.session_id == "1234"
    assert [t.name for t in req.tools] == ["get"]
    assert req.thinking is not None and req.thinking.budget_tokens == 1024
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    assert [type(p) for p in req.messages[1].parts] == [ThinkingPart, ToolUsePart]
    result, image, url_image, doc, pdf = req.messages[2].parts
    assert isinstance(result, ToolResultPart) and result.is_error and result.text == ""
    assert isinstance(image, ImagePart) and image.format == "png"
    assert url_image == ImageUrlPart("https://example.com/a.png", "messages[3].content[2].source.url")
    assert doc == TextPart("doc")
    assert isinstance(pdf, TextPart)


def test_anthropic_adaptive_thinking_takes_effort_from_output_config() -> None:
    req = parse_anthropic(anthropic(thinking={"type": "adaptive"}, output_config={"effort": "medium"}))
    assert req.thinking is not None and (req.thinking.mode, req.thinking.effort) == ("adaptive", "medium")
    assert parse_anthropic(anthropic(thinking={"type": "disabled"})).thinking is None


def test_anthropic_session_header_wins_over_metadata() -> None:
    assert parse_anthropic(anthropic(), session_id="from-header").session_id == "from-header"


def test_max_tokens_above_the_backend_limit_is_clamped_not_rejected() -> None:
    assert parse_anthropic(anthropic(max_tokens=1_000_000)).max_tokens == 64_000
    assert parse_openai(openai(max_completion_tokens=500_000)).max_tokens == 64_000
    assert parse_anthropic({"model": "m", "messages": [{"role": "user", "content": "x"}]}).max_tokens > 0


def test_openai_accepts_every_field_and_message_shape_real_clients_send() -> None:
    req = parse_openai(
        openai(
            messages=[
                {"role": "developer", "content": [{"type": "text", "text": "dev rules"}]},
                {"role": "system", "content": "sys"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/jpeg;base64,{PNG}", "detail": "low"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
                        {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
                        {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "not json"}},
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "one"},
                {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
            ],
            tools=[
                {
                    "type": "function",
                    "function": {"name": "f", "parameters": {"type": "object"}, "strict": True},
                }
            ],
            functions=[{"name": "legacy", "parameters": {"type": "object"}}],
            tool_choice={"type": "function", "function": {"name": "f"}},
            parallel_tool_calls=False,
            stream=True,
            stream_options={"include_usage": True},
            n=2,
            stop="END",
            response_format={"type": "json_object"},
            seed=1,
            user="u",
            logprobs=False,
            store=False,
            prediction=None,
            modalities=["text"],
            reasoning_effort="minimal",
            future_field=True,
        )
    )
    assert req.system[:2] == ["dev rules", "sys"]
    assert req.output_format is not None and req.output_format.kind == "json_object"
    assert req.system[2].startswith("Output format: answer with one valid JSON object")
    assert [t.name for t in req.tools] == ["f", "legacy"]
    assert (req.tool_choice.mode, req.tool_choice.name) == ("tool", "f")
    assert req.include_usage and req.stream and req.stop_sequences == ["END"]
    assert req.thinking is None
    user = req.messages[0].parts
    assert isinstance(user[1], ImagePart) and user[1].format == "jpeg"
    assert isinstance(user[2], ImageUrlPart) and user[2].url == "https://example.com/x.png"
    calls = req.messages[1].parts
    assert [c.input for c in calls if isinstance(c, ToolUsePart)] == [{"x": 1}, {"raw_arguments": "not json"}]
    results = req.messages[2].parts
    assert [(r.tool_use_id, r.text) for r in results if isinstance(r, ToolResultPart)] == [
        ("c1", "one"),
        ("c2", "two"),
    ]


@pytest.mark.parametrize(
    ("tool_choice", "mode"), [("auto", "auto"), ("none", "none"), ("required", "any"), (None, "auto")]
)
def test_openai_tool_choice_strings(tool_choice: str | None, mode: str) -> None:
    assert parse_openai(openai(tool_choice=tool_choice)).tool_choice.mode == mode


def test_openai_legacy_function_call_pairs_with_the_function_result() -> None:
    req = parse_openai(
        openai(
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "done"},
            ]
        )
    )
    call = req.messages[1].parts[0]
    result = req.messages[2].parts[0]
    assert isinstance(call, ToolUsePart) and isinstance(result, ToolResultPart)
    assert call.id == result.tool_use_id


def test_the_web_search_server_tool_is_kept_apart_from_client_tools() -> None:
    tool = {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 2,
        "allowed_domains": ["docs.python.org"],
        "user_location": {"type": "approximate", "city": "Paris"},
    }
    req = parse_anthropic(anthropic(tools=[tool]))
    assert req.tools == []
    assert req.web_search is not None
    assert (req.web_search.max_uses, req.web_search.allowed_domains) == (2, ["docs.python.org"])
    assert parse_anthropic(anthropic()).web_search is None


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"max_uses": 0}, "tools[0].max_uses"),
        ({"allowed_domains": "a.com"}, "tools[0].allowed_domains"),
        ({"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "tools[0]"),
    ],
)
def test_a_bad_web_search_tool_is_refused_naming_the_field(tool: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_anthropic(anthropic(tools=[{"type": "web_search_20250305", "name": "web_search", **tool}]))
    assert caught.value.param == param


def test_echoed_search_blocks_become_text_the_model_can_read() -> None:
    result = {"type": "web_search_result", "url": "https://a.com/x", "title": "A", "encrypted_content": "e"}
    req = parse_anthropic(
        anthropic(
            messages=[
                {"role": "user", "content": "search"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_1",
                            "name": "web_search",
                            "input": {"query": "q"},
                        },
                        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [result]},
                        {
                            "type": "web_search_tool_result",
                            "tool_use_id": "srvtoolu_2",
                            "content": {
                                "type": "web_search_tool_result_error",
                                "error_code": "max_uses_exceeded",
                            },
                        },
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_3",
                            "name": "code_execution",
                            "input": {},
                        },
                    ],
                },
                {"role": "user", "content": "and?"},
            ]
        )
    )
    assert req.messages[1].parts == [
        TextPart("[web search: q]"),
        TextPart("[web search results]\n- A: https://a.com/x"),
        TextPart("[web search failed: max_uses_exceeded]"),
    ]
