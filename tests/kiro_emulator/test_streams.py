"""Answers decode into the frames the script asks for: text, thinking, tools, trailer, breakage, timing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import orjson
import pytest

from services.kiro_emulator.control import EmulatorControl, directive
from shared.kiro.eventstream import EventStreamDecoder
from tests.kiro_emulator.conftest import Kiro, kiro_body
from tests.shared.kiro.fixtures import eventstream_dir

TRAILER = ["meteringEvent", "contextUsageEvent"]


def types(answer: Any) -> list[str | None]:
    return [t for t, _ in answer.events]


def test_default_answer_echoes_the_message_then_metering_and_context(kiro: Kiro, token: str) -> None:
    content = "Please repeat this sentence, which is long enough to need several frames."
    answer = kiro.chat(token, kiro_body(content))
    assert answer.text == content
    assert types(answer)[-2:] == TRAILER
    assert types(answer).count("assistantResponseEvent") == 2
    metering, context = answer.events[-2][1], answer.events[-1][1]
    assert metering == {"unit": "credit", "unitPlural": "credits", "usage": 0.01}
    assert 0 < context["contextUsagePercentage"] < 1


def test_directive_sets_the_text_and_its_frame_count_and_is_not_echoed(kiro: Kiro, token: str) -> None:
    answer = kiro.chat(token, kiro_body("Say hi\n" + directive(text="Hello from the script", chunks=5)))
    assert answer.text == "Hello from the script"
    assert types(answer) == ["assistantResponseEvent"] * 5 + TRAILER
    echo = kiro.chat(token, kiro_body("Say hi\n" + directive(chunks=2)))
    assert echo.text == "Say hi"


def test_directive_after_prepended_system_prompt_and_thinking_tags_still_applies(
    kiro: Kiro, token: str
) -> None:
    content = (
        "<thinking_mode>enabled</thinking_mode>"
        "--- SYSTEM PROMPT ---\nBe brief.\n--- END SYSTEM PROMPT ---\n\n" + directive(text="scripted")
    )
    assert kiro.chat(token, kiro_body(content)).text == "scripted"


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ('[[emulator {"text": "x"]]', "not JSON"),
        ('[[emulator {"txet": "x"}]]', "txet"),
        ('[[emulator {"text": "x"} trailing', "followed by ]]"),
        ('[[emulator {"chunks": 0}]]', "chunks"),
    ],
)
def test_bad_directive_is_a_clear_400(kiro: Kiro, token: str, line: str, detail: str) -> None:
    answer = kiro.chat(token, kiro_body(line))
    assert answer.status == 400
    assert answer.error["reason"] == "EMULATOR_DIRECTIVE"
    assert detail in answer.error["message"]


def test_queued_scripts_answer_the_accounts_next_requests_in_order(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    name, token = account["name"], account["access_token"]
    ctl.queue_scripts(name, [{"text": "first"}, {"text": "second", "repeat": 2}])
    texts = [kiro.chat(token, kiro_body("echo me")).text for _ in range(4)]
    assert texts == ["first", "second", "second", "echo me"]


def test_script_queued_by_access_token_reaches_the_same_account(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    ctl.queue_script(account["access_token"], text="by token")
    assert kiro.chat(account["access_token"], kiro_body("x")).text == "by token"


def test_thinking_comes_first_with_both_tags_split_across_frames(kiro: Kiro, token: str) -> None:
    answer = kiro.chat(
        token, kiro_body(directive(thinking="The user wants 2+2. That is 4.", text="2 + 2 = 4."))
    )
    assert answer.text == "<thinking>The user wants 2+2. That is 4.</thinking>\n\n2 + 2 = 4."
    contents = [p["content"] for t, p in answer.events if t == "assistantResponseEvent"]
    assert contents[0] == "<think"
    assert any(c.endswith("</thin") for c in contents)
    assert "<thinking>" not in contents and not any("</thinking>" in c for c in contents)


def test_tool_call_is_start_fragments_and_stop_with_the_same_id(kiro: Kiro, token: str) -> None:
    call = {
        "name": "get_weather",
        "input": {"city": "Paris", "unit": "celsius"},
        "id": "tooluse_fixed",
        "chunks": 3,
    }
    answer = kiro.chat(token, kiro_body(directive(text="Let me check.", tool_calls=[call])))
    tool_frames = [p for t, p in answer.events if t == "toolUseEvent"]
    assert tool_frames[0] == {"toolUseId": "tooluse_fixed", "name": "get_weather", "input": ""}
    assert tool_frames[-1] == {"toolUseId": "tooluse_fixed", "name": "get_weather", "stop": True}
    assert len(tool_frames) == 5
    assert json.loads(answer.tool_inputs()["tooluse_fixed"]) == call["input"]
    assert types(answer)[0] == "assistantResponseEvent"
    assert types(answer)[-2:] == TRAILER


def test_parallel_tool_calls_follow_each_other_each_closed_by_its_stop(kiro: Kiro, token: str) -> None:
    calls = [
        {"name": "read_file", "input": {"path": "a.txt"}},
        {"name": "read_file", "input": {"path": "b.txt"}},
    ]
    answer = kiro.chat(token, kiro_body(directive(tool_calls=calls)))
    frames = [p for t, p in answer.events if t == "toolUseEvent"]
    ids = list(answer.tool_inputs())
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(i.startswith("tooluse_") for i in ids)
    first_stop = next(i for i, p in enumerate(frames) if p.get("stop"))
    assert {p["toolUseId"] for p in frames[: first_stop + 1]} == {ids[0]}
    assert [json.loads(answer.tool_inputs()[i]) for i in ids] == [c["input"] for c in calls]
    assert answer.text == ""


def test_large_tool_input_arrives_in_many_fragments(kiro: Kiro, token: str) -> None:
    content = "line of a big file\n" * 400
    call = {"name": "write_file", "input": {"path": "big.txt", "content": content}}
    answer = kiro.chat(token, kiro_body(directive(tool_calls=[call])))
    fragments = [p for t, p in answer.events if t == "toolUseEvent" and p.get("input")]
    assert len(fragments) > 100
    assert json.loads(answer.tool_inputs()[fragments[0]["toolUseId"]])["content"] == content


def test_trailer_values_can_be_set_or_left_out(kiro: Kiro, token: str) -> None:
    answer = kiro.chat(token, kiro_body(directive(text="x", metering=0.25, context_usage=42.5)))
    assert answer.events[-2:] == [
        ("meteringEvent", {"unit": "credit", "unitPlural": "credits", "usage": 0.25}),
        ("contextUsageEvent", {"contextUsagePercentage": 42.5}),
    ]
    bare = kiro.chat(token, kiro_body(directive(text="x", metering=False, context_usage=False)))
    assert types(bare) == ["assistantResponseEvent"]


def test_extra_raw_events_are_sent_after_the_content(kiro: Kiro, token: str) -> None:
    events = [
        {"event": "reasoningContentEvent", "payload": {"text": "hmm"}},
        {"event": "followupPromptEvent", "payload": {"followupPrompt": {"content": "more?"}}},
    ]
    answer = kiro.chat(
        token, kiro_body(directive(text="x", events=events, metering=False, context_usage=False))
    )
    assert answer.events[1:] == [(e["event"], e["payload"]) for e in events]


def test_exception_frame_mid_stream_ends_the_answer(kiro: Kiro, token: str) -> None:
    script = {"text": "abcdef", "chunks": 3, "exception": {"after_frames": 2, "type": "ThrottlingException"}}
    answer = kiro.chat(token, kiro_body(directive(**script)))
    assert [f.message_type for f in answer.frames] == ["event", "event", "exception"]
    assert answer.frames[-1].exception_type == "ThrottlingException"
    assert answer.text == "abcd"


def _read_until_broken(url: str, token: str, body: dict[str, Any]) -> tuple[bytes, Exception | None]:
    received = b""
    try:
        with httpx.stream(
            "POST",
            url + "/codewhisperer/generateAssistantResponse",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ) as r:
            for chunk in r.iter_raw():
                received += chunk
    except httpx.HTTPError as exc:
        return received, exc
    return received, None


def test_connection_reset_mid_stream_cuts_the_body_after_the_planned_frames(kiro: Kiro, token: str) -> None:
    body = kiro_body(directive(text="abcdef", chunks=3, reset_after_frames=2, delay_ms=20))
    received, error = _read_until_broken(kiro.url, token, body)
    assert isinstance(error, httpx.RemoteProtocolError)
    decoder = EventStreamDecoder()
    frames = decoder.feed(received)
    assert [orjson.loads(f.payload)["content"] for f in frames] == ["ab", "cd"]


def test_drip_delivers_the_first_frame_long_before_the_last(kiro: Kiro, token: str) -> None:
    body = kiro_body(directive(text="one two three four five", chunks=5, delay_ms=200))
    arrivals: list[float] = []
    decoder = EventStreamDecoder()
    start = time.monotonic()
    with httpx.stream(
        "POST",
        kiro.url + "/codewhisperer/generateAssistantResponse",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ) as r:
        for chunk in r.iter_raw():
            arrivals += [time.monotonic() - start] * len(decoder.feed(chunk))
    assert len(arrivals) == 7
    # 6 gaps of 200 ms: the last frame comes >= 1.2 s in; the first must not wait for it.
    assert arrivals[-1] >= 1.1
    assert arrivals[-1] - arrivals[0] >= 1.0


def test_first_byte_delay_holds_back_even_the_status_line(kiro: Kiro, token: str) -> None:
    body = kiro_body(directive(text="late", first_byte_delay_ms=400))
    start = time.monotonic()
    with httpx.stream(
        "POST",
        kiro.url + "/codewhisperer/generateAssistantResponse",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ) as r:
        headers_at = time.monotonic() - start
        r.read()
    assert r.status_code == 200
    assert headers_at >= 0.35


def test_script_error_answers_before_the_stream(kiro: Kiro, token: str) -> None:
    answer = kiro.chat(token, kiro_body(directive(error={"kind": "throttled"})))
    assert answer.status == 429
    assert answer.headers["x-amzn-errortype"] == "ThrottlingException"
    custom = kiro.chat(token, kiro_body(directive(error={"status": 500, "body": {"message": "boom"}})))
    assert (custom.status, custom.error) == (500, {"message": "boom"})


async def test_many_dripping_streams_are_served_side_by_side(kiro: Kiro, token: str) -> None:
    """50 answers of 5 frames 100 ms apart: served one after another this would take 25 s."""
    body = orjson.dumps(kiro_body(directive(text="abcde", chunks=5, delay_ms=100)))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=kiro.url, timeout=60, limits=limits) as client:

        async def one() -> list[str]:
            r = await client.post("/codewhisperer/generateAssistantResponse", content=body, headers=headers)
            decoder = EventStreamDecoder()
            return [orjson.loads(f.payload).get("content", "") for f in decoder.feed(r.content)]

        start = time.monotonic()
        await one()
        alone = time.monotonic() - start
        start = time.monotonic()
        results = await asyncio.gather(*(one() for _ in range(50)))
        elapsed = time.monotonic() - start
    assert all("".join(r) == "abcde" and len(r) == 7 for r in results)
    # one after another, 50 answers take 50 times one; side by side, a few times one on a busy machine
    assert elapsed < 10 * alone, (elapsed, alone)


FIXTURE_SCRIPTS: dict[str, dict[str, Any]] = {
    "text.bin": {"text": ["Hello! ", "Here is the answer", "你好世界 😀 café", " Done."]},
    "thinking.bin": {
        "text": ["<think", "ing>The user wants 2+2. ", "That is 4.</thin", "king>\n\n", "2 + 2 = 4."]
    },
    "metering_context.bin": {"text": "Short reply.", "metering": 0.0172, "context_usage": 1.234},
    "tool_call.bin": {
        "text": "Let me check the weather.",
        "tool_calls": [
            {
                "name": "get_weather",
                "id": "tooluse_Q2xhdWRlVG9vbDAx",
                "input": ["", '{"city": "Par', 'is", "unit": ', '"celsius"}'],
            }
        ],
    },
    "parallel_tool_calls.bin": {
        "tool_calls": [
            {"name": "read_file", "id": "tooluse_" + "A" * 22, "input": ['{"path":', ' "a.txt"}']},
            {"name": "read_file", "id": "tooluse_" + "B" * 22, "input": ['{"path": "b', '.txt"}']},
        ]
    },
}


@pytest.mark.parametrize("fixture", list(FIXTURE_SCRIPTS))
def test_scripted_answer_reproduces_the_protocol_fixture_byte_for_byte(
    kiro: Kiro, token: str, fixture: str
) -> None:
    script = {"metering": False, "context_usage": False, **FIXTURE_SCRIPTS[fixture]}
    r = kiro.http.post(
        "/codewhisperer/generateAssistantResponse",
        json=kiro_body(directive(**script)),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.content == (eventstream_dir() / fixture).read_bytes()


def test_conditional_scripts_skip_requests_they_do_not_match(
    kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]
) -> None:
    token = account["access_token"]
    tools = {
        "tools": [{"toolSpecification": {"name": "Bash", "description": "Run.", "inputSchema": {"json": {}}}}]
    }
    agent_turn = kiro_body("fix the bug")
    agent_turn["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"] = tools
    ctl.queue_scripts(
        account["name"],
        [
            {"text": "agent answer", "when_has_tools": True},
            {"text": "haiku answer", "when_model": "claude-haiku-4.5"},
        ],
    )
    assert kiro.chat(token, kiro_body("title please")).text == "title please"
    assert kiro.chat(token, kiro_body("summary", model="claude-haiku-4.5")).text == "haiku answer"
    assert kiro.chat(token, agent_turn).text == "agent answer"
    ctl.queue_script(account["name"], text="only for paris", when_content="Paris")
    assert kiro.chat(token, kiro_body("London?")).text == "London?"
    assert kiro.chat(token, kiro_body("Paris?")).text == "only for paris"
