"""Structured output: request shapes, instruction, code-fence stripper, answer check, retry request."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.translate import (
    AnthropicCollector,
    AnthropicStream,
    OpenAIStream,
    ToolNameMap,
    build_kiro_request,
    parse_anthropic,
    parse_openai,
    structured,
)
from services.gateway.translate.structured import FenceStripper, OutputFormat, check, strip_fence
from shared.errors import InvalidRequestError
from shared.kiro.events import TextDelta, ToolUseInputDelta, ToolUseStart, ToolUseStop
from tests.gateway.translate.fixtures import assert_valid_kiro_payload
from tests.gateway.translate.sse import anthropic_events, openai_chunks

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
USER = [{"role": "user", "content": "Who?"}]


def openai_format(**json_schema: Any) -> OutputFormat:
    fmt = structured.from_openai({"type": "json_schema", "json_schema": json_schema})
    assert fmt is not None
    return fmt


def person(strict: bool = True) -> OutputFormat:
    return openai_format(name="person", schema=PERSON, strict=strict)


# --- request shapes -------------------------------------------------------------------------------


def test_openai_text_format_changes_nothing() -> None:
    req = parse_openai({"model": "m", "messages": USER, "response_format": {"type": "text"}})
    assert req.output_format is None and req.system == []


def test_openai_json_schema_format_appends_an_instruction_with_the_schema_to_the_system_prompt() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "Be exact."}, *USER],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "description": "a person", "schema": PERSON, "strict": True},
        },
    }
    req = parse_openai(body)
    assert req.output_format is not None and req.output_format.strict
    assert req.system[0] == "Be exact."
    assert '"person" (a person)' in req.system[1]
    assert json.dumps(PERSON, separators=(",", ":")) in req.system[1]
    payload = build_kiro_request(req, model_id="claude-sonnet-4.5").payload
    content = payload["conversationState"]["currentMessage"]["userInputMessage"]["content"]
    assert content.startswith("Be exact.\n\nOutput format:") and content.endswith("Who?")


def test_openai_json_schema_without_strict_is_lenient_about_the_schema() -> None:
    assert not openai_format(name="p", schema=PERSON).strict


@pytest.mark.parametrize(
    ("body", "spelling"),
    [
        ({"output_config": {"effort": "high", "format": {"type": "json_schema", "schema": PERSON}}}, "ga"),
        ({"output_format": {"type": "json_schema", "schema": PERSON}}, "beta"),
    ],
)
def test_anthropic_accepts_both_spellings_of_the_format(body: dict[str, Any], spelling: str) -> None:
    req = parse_anthropic({"model": "m", "max_tokens": 10, "messages": USER, **body})
    assert req.output_format is not None, spelling
    assert req.output_format.schema == PERSON and req.output_format.strict
    assert req.system[-1].startswith("Output format:")


def test_anthropic_output_config_format_wins_over_the_beta_field() -> None:
    other = {"type": "object", "properties": {"x": {"type": "number"}}}
    fmt = structured.from_anthropic(
        {"type": "json_schema", "schema": other}, {"format": {"type": "json_schema", "schema": PERSON}}
    )
    assert fmt is not None and fmt.schema == PERSON


def test_responses_text_format_is_flat() -> None:
    fmt = structured.from_responses(
        {"type": "json_schema", "name": "person", "schema": PERSON, "strict": True}
    )
    assert fmt is not None and fmt.name == "person" and fmt.strict
    assert structured.from_responses({"type": "text"}) is None


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ({"type": "yaml"}, "response_format.type"),
        ({}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nope"}}}, "schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"pattern": "("}}}, "schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "https://e.com/s"}}},
            "schema",
        ),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/$defs/gone"}}}, "schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": [1]}}, "schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "strict": "yes"}}, "strict"),
    ],
)
def test_a_format_that_cannot_be_honoured_is_a_400_naming_the_field(value: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_openai({"model": "m", "messages": USER, "response_format": value})
    assert info.value.status == 400 and info.value.param is not None and param in info.value.param


def test_anthropic_format_needs_a_schema() -> None:
    with pytest.raises(InvalidRequestError) as info:
        structured.from_anthropic(None, {"format": {"type": "json_schema"}})
    assert info.value.param == "output_config.format.schema"


def test_local_references_work() -> None:
    schema = {"type": "object", "properties": {"p": {"$ref": "#/$defs/P"}}, "$defs": {"P": PERSON}}
    fmt = openai_format(name="wrapped", schema=schema, strict=True)
    assert check(fmt, '{"p": {"name": "Ada", "age": 36}}').ok
    assert check(fmt, '{"p": {"name": "Ada"}}').errors == ("$.p: 'age' is a required property",)


# --- the code fence -------------------------------------------------------------------------------

FENCED = [
    ('```json\n{"a": 1}\n```', '{"a": 1}'),
    ('```\n{"a": 1}\n```\n', '{"a": 1}'),
    ("  \n```JSON\n[1, 2]\n```  ", "[1, 2]"),
    ('```json\n{"a": "x ``` y"}\n```', '{"a": "x ``` y"}'),
    ('```json\n{"a": 1}```', '{"a": 1}'),
    ('```json\n{"a": 1}\n```\nHope this helps!', '{"a": 1}'),
    ('{"a": "```"}', '{"a": "```"}'),
    ('{"a": 1}', '{"a": 1}'),
    ("Here it is: ```json\n{}\n```", "Here it is: ```json\n{}\n```"),
    ("``", "``"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), FENCED)
def test_a_fence_around_the_answer_is_removed(text: str, expected: str) -> None:
    assert strip_fence(text) == expected


@given(st.sampled_from(FENCED), st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_the_fence_is_removed_wherever_the_stream_splits_the_text(
    case: tuple[str, str], cuts: list[int]
) -> None:
    text, expected = case
    stripper = FenceStripper()
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    out = "".join(stripper.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    assert out + stripper.flush() == expected


def test_the_stripper_holds_back_only_the_fence() -> None:
    stripper = FenceStripper()
    assert stripper.feed("```js") == ""
    assert stripper.feed('on\n{"name": ') == '{"name":'  # trailing whitespace waits for what follows
    assert stripper.feed('"Ada"}\n``') == ' "Ada"}'
    assert stripper.feed("`") == ""
    assert stripper.flush() == ""
    plain = FenceStripper()
    assert plain.feed("{") == "{"


# --- the check -------------------------------------------------------------------------------------


def test_check_accepts_a_fenced_valid_answer_and_returns_it_bare() -> None:
    verdict = check(person(), '```json\n{"name": "Ada", "age": 36}\n```')
    assert verdict.ok and verdict.text == '{"name": "Ada", "age": 36}'


def test_invalid_json_is_fatal_even_without_strict() -> None:
    verdict = check(person(strict=False), "Ada is 36.")
    assert verdict.fatal and verdict.errors[0].startswith("not valid JSON")


def test_json_mode_wants_an_object() -> None:
    fmt = OutputFormat("json_object")
    assert check(fmt, '{"x": []}').ok
    assert check(fmt, "[1]").errors == ("expected a JSON object, got array",)


def test_schema_violations_name_the_place_and_are_fatal_only_when_strict() -> None:
    strict = check(person(), '{"name": "Ada", "age": "old", "x": 1}')
    assert strict.fatal
    assert "$.age: 'old' is not of type 'integer'" in strict.errors
    assert any("Additional properties are not allowed" in e for e in strict.errors)
    lenient = check(person(strict=False), '{"name": "Ada"}')
    assert lenient.errors and not lenient.fatal


def test_long_error_lists_are_cut() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    verdict = check(openai_format(name="ints", schema=schema, strict=True), json.dumps(["a"] * 9))
    assert len(verdict.errors) == structured.MAX_REPORTED_ERRORS + 1
    assert verdict.errors[-1] == "and 4 more"


# --- the retry request -----------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_the_retry_request_is_a_valid_kiro_request_carrying_the_answer_and_the_problem() -> None:
    req = parse_openai(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris as JSON?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
            "tools": [WEATHER_TOOL],
            "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}},
        }
    )
    payload = build_kiro_request(req, model_id="claude-sonnet-4.5").payload
    assert req.output_format is not None
    verdict = check(req.output_format, '{"name": "Ada"}')
    retry = structured.retry_payload(payload, verdict.text, req.output_format, verdict)
    assert_valid_kiro_payload(retry)
    state = retry["conversationState"]
    assert state["conversationId"] == payload["conversationState"]["conversationId"]
    assert state["history"][-1] == {"assistantResponseMessage": {"content": '{"name": "Ada"}'}}
    current = state["currentMessage"]["userInputMessage"]
    assert "'age' is a required property" in current["content"]
    assert current["userInputMessageContext"]["tools"][0]["toolSpecification"]["name"] == "weather"
    assert "toolResults" in state["history"][-2]["userInputMessage"]["userInputMessageContext"]


def test_an_empty_answer_is_still_a_valid_assistant_turn() -> None:
    req = parse_openai({"model": "m", "messages": USER, "response_format": {"type": "json_object"}})
    assert req.output_format is not None
    payload = build_kiro_request(req, model_id="claude-sonnet-4.5").payload
    retry = structured.retry_payload(payload, "", req.output_format, check(req.output_format, ""))
    assert_valid_kiro_payload(retry)


# --- the translators -------------------------------------------------------------------------------


def anthropic_stream(fmt: OutputFormat | None) -> AnthropicStream:
    return AnthropicStream("m", 1, ToolNameMap(), False, 200_000, output_format=fmt)


def openai_stream(fmt: OutputFormat | None) -> OpenAIStream:
    return OpenAIStream("m", 1, ToolNameMap(), False, "reasoning_content", False, 200_000, output_format=fmt)


def test_anthropic_stream_sends_the_json_without_its_fence_and_ends_normally() -> None:
    stream = anthropic_stream(person())
    body = stream.start()
    for piece in ["``", '`json\n{"name": "Ada",', ' "age": 36}', "\n`", "``\n"]:
        body += stream.feed(TextDelta(piece))
    body += stream.finish()
    events = anthropic_events(body)
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert json.loads(text) == {"name": "Ada", "age": 36} and not text.startswith("`")
    assert events[-1]["type"] == "message_stop"
    assert stream.verdict is not None and stream.verdict.ok


def test_anthropic_stream_with_an_invalid_answer_ends_with_an_error_event() -> None:
    stream = anthropic_stream(person())
    body = stream.start() + stream.feed(TextDelta('{"name": "Ada"}')) + stream.finish()
    events = anthropic_events(body)
    # the block stays open: SDK stream helpers parse a text block when it stops, before seeing the error
    assert [e["type"] for e in events][-2:] == ["content_block_delta", "error"]
    assert events[-1]["error"]["type"] == "invalid_request_error"
    message = events[-1]["error"]["message"]
    assert "'age' is a required property" in message and "cannot be retried" in message
    assert stream.failure is None  # not a Kiro failure: the router must not blame the account


def test_openai_stream_with_an_invalid_answer_ends_with_an_error_chunk_and_no_done() -> None:
    stream = openai_stream(OutputFormat("json_object"))
    body = stream.start() + stream.feed(TextDelta("Sure! Here you go.")) + stream.finish()
    chunks = openai_chunks(body)
    assert chunks[-1]["error"]["code"] == structured.ERROR_CODE
    assert chunks[-1]["error"]["param"] == "response_format"
    assert "[DONE]" not in chunks


def test_a_tool_call_answer_is_not_checked() -> None:
    stream = anthropic_stream(person())
    body = stream.start()
    raw = '{"city": "Paris"}'
    stop = ToolUseStop("t1", "weather", raw, {"city": "Paris"}, None, "stop")
    for event in (ToolUseStart("t1", "weather"), ToolUseInputDelta("t1", raw), stop):
        body += stream.feed(event)
    body += stream.finish()
    assert anthropic_events(body)[-1]["type"] == "message_stop"
    assert stream.verdict is None


def test_a_collector_keeps_the_bare_json_for_the_reply() -> None:
    collector = AnthropicCollector("m", 1, ToolNameMap(), False, 200_000, output_format=person())
    collector.feed(TextDelta('```json\n{"name": "Ada", "age": 36}\n```'))
    assert collector.finish() == b""
    assert collector.result()["content"] == [{"type": "text", "text": '{"name": "Ada", "age": 36}'}]


def test_without_a_format_a_fence_is_left_alone() -> None:
    stream = anthropic_stream(None)
    body = stream.start() + stream.feed(TextDelta("```json\n{}\n```")) + stream.finish()
    text = "".join(e["delta"]["text"] for e in anthropic_events(body) if e["type"] == "content_block_delta")
    assert text == "```json\n{}\n```"


# --- robustness ------------------------------------------------------------------------------------

KEYWORDS = [
    "type",
    "properties",
    "items",
    "required",
    "enum",
    "const",
    "$ref",
    "$defs",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "pattern",
    "minimum",
    "maxLength",
    "additionalProperties",
    "prefixItems",
    "$schema",
    "$id",
    "format",
    "if",
    "then",
    "dependentSchemas",
    "unevaluatedProperties",
    "$dynamicRef",
    "$anchor",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.text(max_size=6)
    | st.sampled_from(
        [
            "object",
            "string",
            "integer",
            "#",
            "#/$defs/a",
            "#/properties/a",
            "a",
            "^a+$",
            "http://x/s",
            "$defs",
        ]
    )
)
SCHEMAS = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYWORDS) | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=14,
)
ANSWERS = st.text(max_size=40) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
).map(json.dumps)


@given(SCHEMAS, ANSWERS, st.booleans())
def test_any_schema_is_refused_with_a_400_or_checks_any_answer_without_crashing(
    schema: Any, answer: str, strict: bool
) -> None:
    try:
        fmt = structured.from_openai(
            {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": strict}}
        )
    except InvalidRequestError as exc:
        assert exc.status == 400 and exc.param is not None and exc.param.startswith("response_format")
        return
    assert fmt is not None
    verdict = check(fmt, answer)
    assert verdict.ok or verdict.errors
    structured.instruction(fmt)
