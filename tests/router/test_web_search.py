"""Anthropic's web search through router → gateway → emulator: searched with the picked account."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest

from services.kiro_emulator.control import directive
from tests.router.stack import Seeder, Stack
from tests.router.test_sdks import claude_cli  # noqa: F401 - the fixture installs the CLI
from tests.support.claude_code import claude_print

pytestmark = pytest.mark.e2e


async def test_a_search_request_through_the_router_uses_the_picked_accounts_token(
    stack: Stack, seeder: Seeder
) -> None:
    account = await seeder.account()
    client = anthropic.AsyncAnthropic(
        api_key=await seeder.client_key(), base_url=stack.routers[0].url, max_retries=0
    )
    async with client.messages.stream(
        model="claude-sonnet-4.5",
        max_tokens=256,
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        messages=[{"role": "user", "content": "Perform a web search for the query: kiro stack"}],
    ) as stream:
        final = await stream.get_final_message()
    await client.close()

    assert [b.type for b in final.content] == ["server_tool_use", "web_search_tool_result", "text"]
    assert final.usage.server_tool_use is not None and final.usage.server_tool_use.web_search_requests == 1
    counts = stack.control.counts(account)
    assert counts["mcp"] == 1 and counts["chat_codewhisperer"] == 2
    searched = stack.control.requests(account, endpoint="mcp")[-1]
    assert searched["status"] == 200


@pytest.mark.slow
@pytest.mark.usefixtures("claude_cli")
async def test_claude_codes_web_search_tool_gets_results(
    stack: Stack, seeder: Seeder, tmp_path: Path
) -> None:
    account = await seeder.account()
    search_turn = directive(
        text="", tool_calls=[{"name": "WebSearch", "input": {"query": "kiro stack news"}}]
    )
    key, prompt = await seeder.client_key(), f"Search the web. {search_turn}"
    result = await claude_print(stack.routers[0].url, key, prompt, tools="WebSearch", tmp_path=tmp_path)
    assert result["is_error"] is False
    assert stack.control.counts(account)["mcp"] == 1
    chats = [r for r in stack.control.requests(account=account) if r["endpoint"].startswith("chat")]
    main_loop_results = [
        r for r in chats if "toolResults" in json.dumps(r["body"]) and "WebSearch" in json.dumps(r["body"])
    ]
    assert main_loop_results, "Claude Code never sent the WebSearch result back"
    assert "https://docs.example.com/kiro-stack-news" in json.dumps(main_loop_results[-1]["body"])
