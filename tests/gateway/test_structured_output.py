"""Structured output through the official SDKs, the gateway and the emulator (Kiro has no such feature).

The gateway asks for the format in the system prompt, checks the answer, asks once more with the problem
when a non-streaming answer does not fit, then answers 422; a stream ends with an in-band error.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel

from tests.gateway.support import AnthropicFactory, Emulator, OpenAIFactory, anthropic_client, openai_client
from tests.support.procs import ServiceProcess


class Person(BaseModel):
    name: str
    age: int


ADA = '{"name": "Ada", "age": 36}'
FENCED_ADA = f"```json\n{ADA}\n```"
NOT_JSON = "Ada Lovelace was 36."
NO_AGE = '{"name": "Ada"}'
MODEL = "claude-sonnet-4-6"
QUESTION = [{"role": "user", "content": "Who wrote the first program?"}]


def chat_calls(emu: Emulator, name: str) -> list[dict[str, Any]]:
    return [r["body"]["conversationState"] for r in emu.requests(name, "chat_codewhisperer")]


def current_content(state: dict[str, Any]) -> str:
    content: str = state["currentMessage"]["userInputMessage"]["content"]
    return content


def first_content(state: dict[str, Any]) -> str:
    first = (state.get("history") or [state["currentMessage"]])[0]
    content: str = first["userInputMessage"]["content"]
    return content


# --- OpenAI -----------------------------------------------------------------------------------------


def test_openai_parse_gets_a_pydantic_object_from_a_fenced_answer(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.script(account.name, text=FENCED_ADA, chunks=4)
    completion = openai_sdk(gateway, account).chat.completions.parse(
        model=MODEL, messages=QUESTION, response_format=Person
    )
    message = completion.choices[0].message
    assert message.parsed == Person(name="Ada", age=36)
    assert message.content == ADA  # the fence is gone from what the client reads
    [sent] = chat_calls(emu, account.name)
    instruction = first_content(sent)
    assert "Output format:" in instruction and '"Person"' in instruction
    assert '"required":["name","age"]' in instruction  # the schema itself, compact


def test_openai_invalid_answer_is_asked_for_again_with_the_problem(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.script(account.name, scripts=[{"text": NO_AGE}, {"text": ADA}])
    raw = openai_sdk(gateway, account).chat.completions.with_raw_response.parse(
        model=MODEL, messages=QUESTION, response_format=Person
    )
    assert raw.parse().choices[0].message.parsed == Person(name="Ada", age=36)
    first, retry = chat_calls(emu, account.name)
    assert retry["conversationId"] == first["conversationId"]
    assert retry["history"][-1]["assistantResponseMessage"]["content"] == NO_AGE
    assert "'age' is a required property" in current_content(retry)
    usage = raw.parse().usage
    assert usage is not None
    assert int(raw.headers["x-kiro-usage-output-tokens"]) > usage.completion_tokens  # both answers counted
    assert float(raw.headers["x-kiro-usage-credits"]) == pytest.approx(0.02)


def test_openai_answer_invalid_twice_is_a_422_the_sdk_does_not_retry(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    emu.script(account.name, text=NOT_JSON, repeat=0)
    client = openai_client(gateway, account).with_options(max_retries=2)
    try:
        with pytest.raises(openai.UnprocessableEntityError) as info:
            client.chat.completions.create(
                model=MODEL, messages=QUESTION, response_format={"type": "json_object"}
            )
    finally:
        client.close()
    error = info.value
    assert error.status_code == 422 and error.code == "structured_output_invalid"
    assert "not a valid JSON object (2 attempt(s)): not valid JSON" in error.message
    assert len(chat_calls(emu, account.name)) == 2  # the first answer and the one retry, no SDK retries


def test_openai_non_strict_schema_gets_its_second_answer_even_off_schema(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.script(account.name, text=NO_AGE, repeat=0)
    completion = openai_sdk(gateway, account).chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": Person.model_json_schema()},
        },
    )
    assert completion.choices[0].message.content == NO_AGE
    assert len(chat_calls(emu, account.name)) == 2


def test_openai_stream_arrives_as_it_is_made_without_the_fence(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.script(account.name, text=["```json\n", '{"name": ', '"Ada", ', '"age": 36}', "\n```"], delay_ms=400)
    started = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    with openai_sdk(gateway, account).chat.completions.stream(
        model=MODEL, messages=QUESTION, response_format=Person
    ) as stream:
        for event in stream:
            if event.type == "content.delta":
                arrivals.append((time.monotonic() - started, event.delta))
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Person(name="Ada", age=36)
    assert "".join(delta for _, delta in arrivals) == ADA
    assert arrivals[0][0] < arrivals[-1][0] - 0.5  # the first piece did not wait for the last


def test_openai_stream_with_an_invalid_answer_ends_in_an_error_after_the_text(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.script(account.name, text=NOT_JSON, chunks=3)
    seen = ""
    stream = openai_sdk(gateway, account).chat.completions.create(
        model=MODEL, messages=QUESTION, response_format={"type": "json_object"}, stream=True
    )
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            seen += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert seen == NOT_JSON
    assert "a streamed answer cannot be retried" in info.value.message
    assert len(chat_calls(emu, account.name)) == 1


# --- Anthropic --------------------------------------------------------------------------------------


def test_anthropic_parse_retries_once_and_gets_the_object(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.script(account.name, scripts=[{"text": NOT_JSON}, {"text": FENCED_ADA}])
    message = anthropic_sdk(gateway, account).messages.parse(
        model=MODEL, max_tokens=1024, messages=QUESTION, output_format=Person
    )
    assert message.parsed_output == Person(name="Ada", age=36)
    first, retry = chat_calls(emu, account.name)
    assert "Output format:" in first_content(first)
    assert "not valid JSON" in current_content(retry)


def test_anthropic_answer_invalid_twice_is_a_422(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    emu.script(account.name, text=NO_AGE, repeat=0)
    client = anthropic_client(gateway, account).with_options(max_retries=2)
    schema = Person.model_json_schema()
    try:
        with pytest.raises(anthropic.UnprocessableEntityError) as info:
            client.messages.create(
                model=MODEL,
                max_tokens=1024,
                messages=QUESTION,
                output_config={"format": {"type": "json_schema", "schema": schema}},
            )
    finally:
        client.close()
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert "'age' is a required property" in body["error"]["message"]
    assert len(chat_calls(emu, account.name)) == 2


def test_anthropic_stream_with_an_invalid_answer_ends_with_an_error_event(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.script(account.name, text=NO_AGE, chunks=2)
    seen = ""
    client = anthropic_sdk(gateway, account)
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model=MODEL, max_tokens=1024, messages=QUESTION, output_format=Person
        ) as stream,
    ):
        for text in stream.text_stream:
            seen += text
    assert seen == NO_AGE
    assert "'age' is a required property" in str(info.value)
    assert len(chat_calls(emu, account.name)) == 1


def test_anthropic_beta_output_format_spelling_is_honoured(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.script(account.name, text=ADA)
    message = anthropic_sdk(gateway, account).messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=QUESTION,
        extra_body={"output_format": {"type": "json_schema", "schema": Person.model_json_schema()}},
    )
    assert message.content[0].type == "text" and message.content[0].text == ADA
    assert "Output format:" in first_content(chat_calls(emu, account.name)[0])


def test_a_schema_that_is_not_one_is_a_400_before_kiro_is_called(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_sdk(gateway, account).messages.create(
            model=MODEL,
            max_tokens=1024,
            messages=QUESTION,
            output_config={"format": {"type": "json_schema", "schema": {"type": "person"}}},
        )
    assert "output_config.format.schema: not a valid JSON Schema" in str(info.value)
    assert chat_calls(emu, account.name) == []


def test_long_answers_are_checked_too_stream_and_not(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    numbers = list(range(5000))  # ~29 KB of JSON: checked in a worker thread, not on the loop
    good = json.dumps({"numbers": numbers})
    bad = json.dumps({"numbers": [*numbers, "5000"]})
    fmt: Any = {
        "type": "json_schema",
        "json_schema": {
            "name": "numbers",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"numbers": {"type": "array", "items": {"type": "integer"}}},
                "required": ["numbers"],
            },
        },
    }
    account = emu.account()
    emu.script(account.name, scripts=[{"text": bad, "chunks": 50}, {"text": good, "chunks": 50}])
    client = openai_sdk(gateway, account)
    completion = client.chat.completions.create(model=MODEL, messages=QUESTION, response_format=fmt)
    assert completion.choices[0].message.content == good
    emu.script(account.name, text=bad, chunks=50)
    stream = client.chat.completions.create(model=MODEL, messages=QUESTION, response_format=fmt, stream=True)
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert "$.numbers[5000]: '5000' is not of type 'integer'" in info.value.message


# --- OpenAI Responses API (`text.format`) ---------------------------------------------------------


def test_responses_parse_retries_once_and_gets_the_object(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.script(account.name, scripts=[{"text": NO_AGE}, {"text": FENCED_ADA}])
    response = openai_sdk(gateway, account).responses.parse(model=MODEL, input=QUESTION, text_format=Person)
    assert response.output_parsed == Person(name="Ada", age=36)
    first, retry = chat_calls(emu, account.name)
    assert "Output format:" in first_content(first)
    assert "'age' is a required property" in current_content(retry)


def test_responses_stream_with_an_invalid_answer_ends_in_response_failed(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.script(account.name, text=NOT_JSON, chunks=3)
    stream = openai_sdk(gateway, account).responses.create(
        model=MODEL, input=QUESTION, text={"format": {"type": "json_object"}}, stream=True
    )
    kinds = [event.type for event in stream]
    assert "response.output_text.delta" in kinds  # the text went out as it came
    assert kinds[-1] == "response.failed" and "response.completed" not in kinds
    assert len(chat_calls(emu, account.name)) == 1
