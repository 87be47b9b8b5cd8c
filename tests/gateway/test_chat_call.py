"""A chat call keeps only what its response needs once Kiro has answered (memory per open stream)."""

from __future__ import annotations

import time

from services.gateway.chat_call import ChatCall
from services.gateway.credentials import KiroCredentials
from services.gateway.errors import Protocol
from services.gateway.kiro_call import new_translator
from services.gateway.options import RuntimeOptions
from services.gateway.translate import build_kiro_request, parse_anthropic
from shared.kiro.endpoints import ChatRoute
from tests.gateway.translate.fixtures import load_capture


def _call(stream: bool) -> ChatCall:
    body = {**load_capture("claude_code_02_messages_stream_first_turn")["body"], "stream": stream}
    req = parse_anthropic(body)
    return ChatCall(
        protocol=Protocol.ANTHROPIC,
        route="messages",
        req=req,
        kiro=build_kiro_request(req, model_id="claude-sonnet-4.5"),
        creds=KiroCredentials(access_token="t"),
        routes=(ChatRoute("amazonq", "https://q.example.test/generateAssistantResponse", "AI_EDITOR", ""),),
        options=RuntimeOptions("-thinking", "reasoning_content", "claude-sonnet-4-5", auto_continue=True),
        kiro_model="claude-sonnet-4.5",
        served_model="claude-sonnet-4.5",
        thinking=False,
        input_tokens=16_943,
        context_window=200_000,
        started=time.perf_counter(),
        continuable=True,
    )


def test_a_released_call_holds_no_parsed_request_or_kiro_payload() -> None:
    call = _call(stream=True)
    assert call.req.messages and call.kiro.payload and len(call.kiro.body) > 70_000
    call.release_request()
    assert not call.req.messages and not call.req.system and not call.req.tools
    assert call.kiro.payload == {} and call.kiro.body == b""


def test_what_the_response_needs_survives_the_release() -> None:
    call = _call(stream=True)
    model, tools = call.req.model, call.kiro.tool_names
    call.release_request()
    assert call.req.model == model and call.req.stream and call.kiro.tool_names is tools
    assert b'"input_tokens":16943' in new_translator(call).start()
