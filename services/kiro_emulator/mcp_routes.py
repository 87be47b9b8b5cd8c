"""Kiro's MCP endpoint as the gateway uses it (`tools/call` of `web_search`), and the chat side of it.

`POST /mcp` answers a JSON-RPC `tools/call` of `web_search` with results that depend only on the query
(README: "Web search (MCP)"). The chat endpoints call the `web_search` tool by themselves when it is
offered and the current message is Claude Code's search prompt ("Perform a web search for the query:").
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from services.kiro_emulator import replies
from services.kiro_emulator.context import NOT_JSON, STATE, Exchange, bearer, parse_json
from services.kiro_emulator.replies import ErrorAnswer, json_response
from services.kiro_emulator.scripts import Script, ToolCallSpec
from services.kiro_emulator.validate import ChatRequest
from shared.kiro.endpoints import EMULATOR_PATHS

SEARCH_PROMPT = "Perform a web search for the query:"
RESULT_DOMAINS = ("docs.example.com", "news.example.org", "blog.example.net")
#: 2025-01-01T00:00:00Z in Unix ms: result n was published n days later
_EPOCH_MS = 1_735_689_600_000
_DAY_MS = 86_400_000


def search_results(query: str) -> list[dict[str, Any]]:
    """The emulator's results for `query`: one per RESULT_DOMAINS entry, the same every time."""
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:60] or "query"
    return [
        {
            "title": f"{query} ({domain})",
            "url": f"https://{domain}/{slug}",
            "snippet": f"Result {n} for {query} from {domain}.",
            "publishedDate": _EPOCH_MS + n * _DAY_MS,
            "id": f"{slug}-{n}",
            "domain": domain,
        }
        for n, domain in enumerate(RESULT_DOMAINS, 1)
    ]


def search_call(chat: ChatRequest) -> Script | None:
    """Claude Code's search prompt with `web_search` offered: answer with a call of it (no text)."""
    if "web_search" not in chat.tool_names or chat.has_tool_results:
        return None
    at = chat.content.rfind(SEARCH_PROMPT)
    if at < 0:
        return None
    query = chat.content[at + len(SEARCH_PROMPT) :].strip().splitlines()[0:1]
    if not query or not query[0].strip():
        return None
    return Script(text="", tool_calls=[ToolCallSpec(name="web_search", input={"query": query[0].strip()})])


def _rpc_error(request_id: object, code: int, message: str) -> web.Response:
    return json_response({"id": request_id, "jsonrpc": "2.0", "error": {"code": code, "message": message}})


async def mcp(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw = await request.read()
    token = bearer(request)
    account, valid = state.account_by_access(token) if token else (None, False)
    body = parse_json(raw)
    exchange = Exchange(request, "mcp", account, body, raw)
    try:
        await exchange.apply_fault()
        if account is None or not valid:
            raise replies.invalid_token()
        if account.suspended:
            raise replies.suspended()
        profile = request.headers.get("x-amzn-kiro-profile-arn")
        if account.auth_kind == "social" and profile != account.profile_arn:
            raise replies.invalid_token()  # a social login's profile goes in this header [1]
    except ErrorAnswer as answer:
        return exchange.error(answer)
    exchange.finish(200)
    if body is NOT_JSON or not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
        return _rpc_error(None, -32600, "Invalid Request")
    request_id = body.get("id")
    params = body.get("params")
    if body.get("method") != "tools/call":
        return _rpc_error(request_id, -32601, "Method not found")
    if not isinstance(params, dict) or params.get("name") != "web_search":
        return _rpc_error(request_id, -32602, "Invalid params: unknown tool")
    arguments = params.get("arguments")
    query = arguments.get("query") if isinstance(arguments, dict) else None
    if not isinstance(query, str) or not query.strip():
        return _rpc_error(request_id, -32602, "Invalid params: query")
    results = search_results(query.strip())
    text = orjson.dumps({"results": results, "totalResults": len(results), "query": query.strip()}).decode()
    return json_response(
        {
            "id": request_id,
            "jsonrpc": "2.0",
            "result": {"content": [{"type": "text", "text": text}], "isError": False},
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post(EMULATOR_PATHS["mcp"], mcp)
