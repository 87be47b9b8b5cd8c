"""`POST /v1/responses` on a gateway alone (in-process store) and on one whose Redis does not answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.gateway.support import Emulator, OpenAIFactory, directive, sse_events, start_gateway
from tests.support.procs import ServiceProcess

MODEL = "claude-sonnet-4.5"


@pytest.fixture
def silent_redis_gateway(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """A gateway whose Redis accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    proc = start_gateway(
        emulator.url,
        REDIS_URL=f"redis://127.0.0.1:{sock.getsockname()[1]}/0",
        REDIS_COMMAND_TIMEOUT="0.2",
    )
    yield proc
    proc.stop()
    sock.close()


def test_follow_up_finds_the_conversation_in_the_standalone_store(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)

    first = client.responses.create(model=MODEL, input="remember the word kiwi")
    second = client.responses.create(model=MODEL, input="which word?", previous_response_id=first.id)
    third = client.responses.create(model=MODEL, input="and now?", previous_response_id=second.id)

    sent = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]["conversationState"]
    history = [
        m.get("userInputMessage", m.get("assistantResponseMessage"))["content"] for m in sent["history"]
    ]
    assert history == ["remember the word kiwi", "remember the word kiwi", "which word?", "which word?"]
    assert sent["currentMessage"]["userInputMessage"]["content"] == "and now?"
    assert third.output_text == "and now?"


def test_reasoning_streams_as_summary_items_when_thinking_is_on(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)

    with client.responses.stream(
        model=MODEL, input=directive(thinking="Two plus two.", text="4"), reasoning={"effort": "high"}
    ) as stream:
        summary = "".join(e.delta for e in stream if e.type == "response.reasoning_summary_text.delta")
        final = stream.get_final_response()

    assert summary == "Two plus two."
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == "4"
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens > 0


def test_codex_shaped_stream_is_accepted_and_events_are_named_and_numbered(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    body = {
        "model": "gpt-5-codex",
        "instructions": "You are a coding agent.",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "<environment/>"}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello codex"}]},
        ],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}},
            {
                "type": "custom",
                "name": "apply_patch",
                "format": {"type": "grammar", "definition": "start: x"},
            },
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199-conversation",
        "text": {"verbosity": "medium"},
        "some_future_field": {"x": 1},
    }
    r = httpx.post(f"{gateway.url}/v1/responses", json=body, headers=account.headers(), timeout=30)

    assert r.status_code == 200, r.text
    events = [(name, json.loads(data)) for name, data in sse_events(r.text) if name != "comment"]
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert events[0][0] == "response.created" and events[-1][0] == "response.completed"
    assert "hello codex" in events[-1][1]["response"]["output_text"]


def test_text_reaches_the_client_as_kiro_sends_it(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    arrivals: list[float] = []

    with client.responses.stream(
        model=MODEL, input=directive(text="slow as a drip", chunks=3, delay_ms=500)
    ) as s:
        for event in s:
            if event.type == "response.output_text.delta":
                arrivals.append(time.monotonic())

    assert len(arrivals) == 3
    assert arrivals[-1] - arrivals[0] >= 0.8  # the first delta did not wait for the last


def test_a_store_that_does_not_answer_neither_blocks_the_stream_nor_hangs_the_follow_up(
    silent_redis_gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(silent_redis_gateway, account)

    with client.responses.stream(model=MODEL, input="still served") as stream:
        final = stream.get_final_response()
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model=MODEL, input="next", previous_response_id=final.id)

    assert final.output_text == "still served"  # the failed store write was logged, the answer complete
    assert caught.value.status_code == 503 and caught.value.code == "store_unavailable"


def test_kiro_failing_mid_stream_ends_with_response_failed_and_nothing_is_stored(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    prompt = directive(
        text="partial answer here",
        chunks=3,
        exception={"after_frames": 2, "type": "ThrottlingException", "message": "Too many requests"},
    )

    with client.responses.stream(model=MODEL, input=prompt) as stream:
        events = list(stream)
    failed = events[-1]

    assert "response.output_text.delta" in [e.type for e in events]  # what came before went out
    assert failed.type == "response.failed"
    assert failed.response.error is not None and failed.response.error.code == "rate_limit_exceeded"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="next", previous_response_id=failed.response.id)
    assert caught.value.code == "previous_response_not_found"
