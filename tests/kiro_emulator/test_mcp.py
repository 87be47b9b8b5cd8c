"""The emulator's MCP web search (`POST /mcp`) and the chat's own call of `web_search`."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from services.gateway.kiro.mcp import parse_response
from services.kiro_emulator.control import EmulatorControl
from shared.kiro.endpoints import EMULATOR_PATHS
from tests.kiro_emulator.conftest import Kiro, kiro_body

SEARCH_TOOL = {
    "toolSpecification": {
        "name": "web_search",
        "description": "Search the web.",
        "inputSchema": {"json": {"type": "object", "properties": {"query": {"type": "string"}}}},
    }
}


def rpc(query: object, *, name: str = "web_search", method: str = "tools/call") -> dict[str, Any]:
    arguments = {"query": query}
    return {
        "id": "web_search_tooluse_x",
        "jsonrpc": "2.0",
        "method": method,
        "params": {"name": name, "arguments": arguments},
    }


def search(kiro: Kiro, account: dict[str, Any], body: Any, **headers: str) -> httpx.Response:
    return kiro.http.post(
        EMULATOR_PATHS["mcp"],
        content=orjson.dumps(body),
        headers={
            "Authorization": f"Bearer {account['access_token']}",
            "Content-Type": "application/json",
            "x-amzn-kiro-profile-arn": account["profile_arn"],
            **headers,
        },
    )


def test_results_depend_only_on_the_query_and_parse_like_kiro_answers(
    kiro: Kiro, account: dict[str, Any]
) -> None:
    first = search(kiro, account, rpc("rust async"))
    again = search(kiro, account, rpc("rust async"))
    assert first.status_code == 200 and first.json()["id"] == "web_search_tooluse_x"
    assert first.json() == again.json()
    hits = parse_response(200, first.content)
    assert [h.url for h in hits] == [
        "https://docs.example.com/rust-async",
        "https://news.example.org/rust-async",
        "https://blog.example.net/rust-async",
    ]
    assert hits[0].page_age == "January 2, 2025"


def test_a_social_login_without_its_profile_header_is_refused(kiro: Kiro, account: dict[str, Any]) -> None:
    assert search(kiro, account, rpc("q"), **{"x-amzn-kiro-profile-arn": ""}).status_code == 403


def test_bad_calls_get_json_rpc_errors(kiro: Kiro, account: dict[str, Any]) -> None:
    assert search(kiro, account, rpc("")).json()["error"]["code"] == -32602
    assert search(kiro, account, rpc("q", name="web_fetch")).json()["error"]["code"] == -32602
    assert search(kiro, account, rpc("q", method="tools/list")).json()["error"]["code"] == -32601
    assert search(kiro, account, {"no": "rpc"}).json()["error"]["code"] == -32600


def test_faults_apply_to_the_mcp_endpoint(kiro: Kiro, ctl: EmulatorControl, account: dict[str, Any]) -> None:
    ctl.add_fault(account=account["name"], endpoint="mcp", kind="unavailable")
    assert search(kiro, account, rpc("q")).status_code == 503
    assert search(kiro, account, rpc("q")).status_code == 200
    assert ctl.counts(account["name"])["mcp"] == 2


def test_chat_calls_web_search_for_claude_codes_search_prompt(kiro: Kiro, token: str) -> None:
    body = kiro_body("Perform a web search for the query: rust async")
    body["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"] = {
        "tools": [SEARCH_TOOL]
    }
    answer = kiro.chat(token, body)
    assert answer.text == ""
    assert [orjson.loads(v) for v in answer.tool_inputs().values()] == [{"query": "rust async"}]


def test_chat_without_the_tool_offered_just_echoes_the_prompt(kiro: Kiro, token: str) -> None:
    answer = kiro.chat(token, kiro_body("Perform a web search for the query: rust async"))
    assert answer.text == "Perform a web search for the query: rust async"
    assert answer.tool_inputs() == {}
