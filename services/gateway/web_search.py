"""Anthropic's `web_search` server tool, run by the gateway with Kiro's MCP web search.

Kiro runs no server tools, so the gateway offers Kiro an ordinary tool of the same name (`query`
parameter). When Kiro's answer calls it, the translator shows the call to the client as a
`server_tool_use` block; after that answer ends, `SearchRounds` runs each search through Kiro's MCP
endpoint, streams a `web_search_tool_result` block per call, and asks Kiro again with the calls and
their results appended to the conversation — until an answer makes no search, the client's own tools
are called (the client must answer those), or the round limit is reached. docs/architecture.md
"Web search" has the protocol and the limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from services.gateway.credentials import KiroCredentials
from services.gateway.kiro import mcp
from services.gateway.kiro.client import KiroClient
from services.gateway.metrics import GatewayMetrics
from services.gateway.translate import AnthropicStream, ChatRequest, KiroRequest, Message, Tool, ToolChoice
from services.gateway.translate.ir import Part, TextPart, ToolResultPart, ToolUsePart, WebSearchSpec
from services.gateway.translate.stream_core import Block
from shared.logging import log_fields

logger = logging.getLogger(__name__)

SEARCH_TOOL_DESCRIPTION = (
    "Search the web. Returns the title, URL, date and a snippet of the best matching pages. Use it for "
    "recent events and for facts that may have changed since your training data; cite the URLs you use."
)
SEARCH_TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "The search query"}},
    "required": ["query"],
}
#: searches per request when the client sets no `max_uses` (Claude Code sets 8)
DEFAULT_MAX_USES = 8
#: Kiro calls after the first, whatever `max_uses` says: a model that keeps searching ends here
MAX_FOLLOW_UPS = 10

Rebuild = Callable[[ChatRequest], Awaitable[KiroRequest]]


def offer_search_tool(req: ChatRequest) -> None:
    """Declare the web search to Kiro as a client tool; a client tool of the same name wins over it."""
    spec = req.web_search
    if spec is None:
        return
    if any(tool.name.lower() == spec.name.lower() for tool in req.tools):
        req.web_search = None
        return
    req.tools.append(Tool(spec.name, SEARCH_TOOL_DESCRIPTION, SEARCH_TOOL_SCHEMA))


@dataclass(slots=True)
class Outcome:
    """One search as the client sees it (`content`) and as Kiro reads it (`text`)."""

    content: Any
    text: str
    failed: bool = False


def _error(code: str, text: str) -> Outcome:
    return Outcome({"type": "web_search_tool_result_error", "error_code": code}, text, failed=True)


def _results_text(query: str, hits: list[mcp.SearchHit]) -> str:
    lines = [f'Web search results for "{query}":', ""]
    for number, hit in enumerate(hits, 1):
        lines.append(f"{number}. {hit.title}\n   URL: {hit.url}")
        if hit.page_age:
            lines.append(f"   Published: {hit.page_age}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
    if not hits:
        lines.append("No results.")
    return "\n".join(lines)


@dataclass
class SearchRounds:
    """The searches of one client request, between Kiro answers (see the module docstring)."""

    client: KiroClient
    creds: KiroCredentials
    spec: WebSearchSpec
    req: ChatRequest
    rebuild: Rebuild
    metrics: GatewayMetrics
    #: the next Kiro request, set by `run` when the conversation goes on
    follow: KiroRequest | None = None
    uses: int = 0
    follow_ups: int = 0
    _seen: int = field(default=0, repr=False)

    @property
    def max_uses(self) -> int:
        return self.spec.max_uses or DEFAULT_MAX_USES

    async def run(self, translator: AnthropicStream, until_ping: Callable[[], float]) -> AsyncIterator[bytes]:
        """After one Kiro answer: run its searches, yield their result blocks, set `follow`.

        `until_ping` is the relay's clock: seconds until a ping is due since the last byte the client got
        (the relay resets it on every chunk this yields).
        """
        self.follow = None
        blocks = translator.blocks[self._seen :]
        calls = [b for b in blocks if b.kind == "server_tool_use"]
        if not calls or translator.failure is not None or translator.stop_sequence is not None:
            return
        out = translator.end_round()
        if out:
            yield out
        outcomes: list[Outcome] = []
        for call in calls:
            task = asyncio.ensure_future(self._search(call, translator))
            try:
                while not task.done():  # the client hears pings while Kiro searches
                    await asyncio.wait({task}, timeout=max(0.0, until_ping()))
                    if not task.done():
                        yield translator.ping()
            finally:
                task.cancel()
            outcome = task.result()
            code = outcome.content.get("error_code", "error") if outcome.failed else "ok"
            self.metrics.child(self.metrics.web_searches, code).inc()
            outcomes.append(outcome)
            yield translator.add_server_result(call.client_id, outcome.content)
        self._seen = len(translator.blocks)
        if any(b.kind == "tool_use" for b in blocks) or self.follow_ups >= MAX_FOLLOW_UPS:
            return  # the client answers its own tool calls first; or the model searched enough
        self.follow_ups += 1
        self._extend_conversation(blocks, calls, outcomes)
        self.follow = await self.rebuild(self.req)

    async def _search(self, call: Block, translator: AnthropicStream) -> Outcome:
        tool_input = call.tool_input()
        query = tool_input.get("query") if tool_input is not None else None
        if not isinstance(query, str) or not query.strip():
            return _error("invalid_tool_input", "The search was not run: the tool needs a non-empty `query`.")
        if self.uses >= self.max_uses:
            return _error(
                "max_uses_exceeded",
                f"The search was not run: the limit of {self.max_uses} web searches for this request is "
                "used up. Answer with the results you already have.",
            )
        self.uses += 1
        try:
            status, raw = await self.client.web_search(mcp.request_body(query.strip()), self.creds)
            hits = mcp.parse_response(status, raw)
        except (mcp.WebSearchFailed, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning(
                "web search failed", extra=log_fields(account=self.creds.account_id or "-", error=str(exc))
            )
            return _error(
                "unavailable",
                "The web search service is unavailable; no results. Answer from what you know and say "
                "that the search failed.",
            )
        translator.web_search_requests += 1
        hits = mcp.filter_hits(hits, self.spec.allowed_domains, self.spec.blocked_domains)
        content = [
            {
                "type": "web_search_result",
                "url": hit.url,
                "title": hit.title,
                "encrypted_content": hit.snippet,
                "page_age": hit.page_age,
            }
            for hit in hits
        ]
        return Outcome(content, _results_text(query.strip(), hits))

    def _extend_conversation(self, blocks: list[Block], calls: list[Block], outcomes: list[Outcome]) -> None:
        """This answer's text and searches, then their results, as the next turns of the request."""
        said: list[Part] = [TextPart(b.text) for b in blocks if b.kind == "text" and b.text]
        uses: list[Part] = [
            ToolUsePart(call.tool_use_id, call.name, call.tool_input() or {}) for call in calls
        ]
        results: list[Part] = [
            ToolResultPart(call.tool_use_id, outcome.text, is_error=outcome.failed)
            for call, outcome in zip(calls, outcomes, strict=True)
        ]
        self.req.messages += [Message("assistant", said + uses), Message("user", results)]
        if self.req.tool_choice.mode in ("any", "tool"):
            self.req.tool_choice = ToolChoice()  # it searched as told; now it may answer
