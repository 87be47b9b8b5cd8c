"""Anthropic's web search through router → gateway → emulator: searched with the picked account."""

from __future__ import annotations

import anthropic
import pytest

from tests.router.stack import Seeder, Stack

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
