"""Kiro's MCP `web_search` tool, sans I/O: the JSON-RPC request body and the parsed results.

Protocol (docs/architecture.md "Web search"): `POST {q host}/mcp` with
`{"id", "jsonrpc": "2.0", "method": "tools/call", "params": {"name": "web_search", "arguments": {"query"}}}`;
the answer's `result.content[0].text` is itself JSON: `{"results": [{"title", "url", "snippet"?,
"publishedDate"? (Unix ms), "domain"?, "id"?}], "totalResults"?, "query"?, "error"?}`.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from shared.errors import KiroStackError

_ID_CHARS = string.ascii_letters + string.digits
#: a search answer is titles, URLs and snippets: far below this; a bigger body is refused unread
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class WebSearchFailed(KiroStackError):
    """Kiro's web search gave no usable answer (HTTP error, JSON-RPC error, malformed results)."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    url: str
    snippet: str = ""
    published_ms: int | None = None

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    @property
    def page_age(self) -> str | None:
        """Anthropic's `page_age` wording ("April 30, 2025"), when Kiro gave a publication date."""
        if self.published_ms is None:
            return None
        try:
            day = datetime.fromtimestamp(self.published_ms / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return f"{day:%B} {day.day}, {day.year}"


def request_body(query: str) -> bytes:
    """The JSON-RPC `tools/call` body; the id has the shape the Kiro IDE uses (not checked by Kiro)."""
    request_id = "web_search_tooluse_" + "".join(secrets.choice(_ID_CHARS) for _ in range(22))
    return orjson.dumps(
        {
            "id": request_id,
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": {"name": "web_search", "arguments": {"query": query}},
        }
    )


def parse_response(status: int, raw: bytes) -> list[SearchHit]:
    """The hits of one MCP answer; WebSearchFailed when there are none to trust (an empty list is fine)."""
    if status != 200:
        raise WebSearchFailed(f"MCP answered HTTP {status}")
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WebSearchFailed("MCP answer is not JSON") from None
    if not isinstance(envelope, dict):
        raise WebSearchFailed("MCP answer is not a JSON object")
    error = envelope.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        raise WebSearchFailed(f"MCP error {code}")
    result = envelope.get("result")
    if not isinstance(result, dict) or result.get("isError"):
        raise WebSearchFailed("MCP tool call failed")
    content = result.get("content")
    first = content[0] if isinstance(content, list) and content else None
    if not isinstance(first, dict) or first.get("type") != "text" or not isinstance(first.get("text"), str):
        raise WebSearchFailed("MCP answer has no text content")
    try:
        payload = orjson.loads(first["text"])
    except orjson.JSONDecodeError:
        raise WebSearchFailed("MCP search results are not JSON") from None
    if not isinstance(payload, dict) or payload.get("error") or not isinstance(payload.get("results"), list):
        raise WebSearchFailed("MCP search results are malformed")
    return [hit for item in payload["results"] if (hit := _hit(item)) is not None]


def _hit(item: Any) -> SearchHit | None:
    if not isinstance(item, dict):
        return None
    title, url = item.get("title"), item.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    snippet = item.get("snippet")
    published = item.get("publishedDate")
    return SearchHit(
        title=title if isinstance(title, str) and title else url,
        url=url,
        snippet=snippet if isinstance(snippet, str) else "",
        published_ms=published if isinstance(published, int) and not isinstance(published, bool) else None,
    )


def _domain(entry: str) -> str:
    """`example.com`, `https://example.com/path` or `*.example.com` as the bare host name."""
    entry = entry.strip().lower()
    if "://" in entry:
        entry = urlsplit(entry).hostname or ""
    return entry.split("/", 1)[0].removeprefix("*.").removeprefix("www.")


def _covers(domain: str, host: str) -> bool:
    host = host.removeprefix("www.")
    return bool(domain) and (host == domain or host.endswith("." + domain))


def filter_hits(hits: list[SearchHit], allowed: list[str], blocked: list[str]) -> list[SearchHit]:
    """Only hits from `allowed` domains (when given), none from `blocked` ones; subdomains included."""
    allow = [_domain(d) for d in allowed]
    block = [_domain(d) for d in blocked]
    return [
        hit
        for hit in hits
        if (not allow or any(_covers(d, hit.host) for d in allow))
        and not any(_covers(d, hit.host) for d in block)
    ]
