"""CLAUDE_THINKING_FORMAT through the gateway and the emulator, read with the official anthropic SDK.

`blocks` (the default) gives a signed `thinking` block; `thinking_tags` gives one text block that holds
`<thinking>…</thinking>` and then the answer, streamed and not. The router sends the panel's choice in
`X-Kiro-Options`; a gateway without a router takes its environment variable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import pytest

from tests.gateway.support import AnthropicFactory, Emulator, directive, start_gateway
from tests.support.procs import ServiceProcess

THINKING = "First, consider the question carefully."
ANSWER = "The answer is 4."
TAGGED = f"<thinking>{THINKING}</thinking>\n\n{ANSWER}"


def ask(client: anthropic.Anthropic, *, stream: bool) -> anthropic.types.Message:
    request = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 8000,
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "messages": [{"role": "user", "content": directive(thinking=THINKING, text=ANSWER, chunks=3)}],
    }
    if not stream:
        return client.messages.create(**request)  # type: ignore[call-overload,no-any-return]
    with client.messages.stream(**request) as events:  # type: ignore[arg-type]
        texts = [event.text for event in events if event.type == "text"]
        final = events.get_final_message()
    assert "".join(texts) == "".join(b.text for b in final.content if b.type == "text")
    return final


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_thinking_shows_as_tags_in_the_answer_text_when_the_router_says_so(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory, stream: bool
) -> None:
    account = emu.account()
    options = json.dumps({"claude_thinking_format": "thinking_tags"})
    final = ask(anthropic_sdk(gateway, account, **{"X-Kiro-Options": options}), stream=stream)
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].type == "text" and final.content[0].text == TAGGED
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_thinking_shows_as_a_signed_block_by_default_and_when_the_router_says_blocks(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory, stream: bool
) -> None:
    account = emu.account()
    for headers in ({}, {"X-Kiro-Options": json.dumps({"claude_thinking_format": "blocks"})}):
        final = ask(anthropic_sdk(gateway, account, **headers), stream=stream)
        assert [b.type for b in final.content] == ["thinking", "text"]
        assert final.content[0].type == "thinking" and final.content[0].thinking == THINKING
        assert final.content[0].signature
        assert final.content[1].type == "text" and final.content[1].text == ANSWER


@pytest.fixture
def tags_gateway(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    proc = start_gateway(emulator.url, CLAUDE_THINKING_FORMAT="thinking_tags")
    yield proc
    proc.stop()


def test_a_gateway_on_its_own_takes_the_format_from_its_environment(
    tags_gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    final = ask(anthropic_sdk(tags_gateway, account), stream=True)
    assert [b.type for b in final.content] == ["text"] and final.content[0].text == TAGGED  # type: ignore[union-attr]
    # the router's choice still wins over the environment
    options = json.dumps({"claude_thinking_format": "blocks"})
    final = ask(anthropic_sdk(tags_gateway, account, **{"X-Kiro-Options": options}), stream=False)
    assert [b.type for b in final.content] == ["thinking", "text"]
