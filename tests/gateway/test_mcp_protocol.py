"""Kiro's MCP web search, sans I/O: the JSON-RPC request, answers as peers record them, domain filters."""

from __future__ import annotations

import orjson
import pytest

from services.gateway.kiro.mcp import SearchHit, WebSearchFailed, filter_hits, parse_response, request_body


def answer(results: object, **extra: object) -> bytes:
    text = orjson.dumps({"results": results, "totalResults": 1, "query": "q", **extra}).decode()
    return orjson.dumps(
        {
            "id": "x",
            "jsonrpc": "2.0",
            "result": {"content": [{"type": "text", "text": text}], "isError": False},
        }
    )


def test_the_request_is_a_json_rpc_tools_call_of_web_search() -> None:
    body = orjson.loads(request_body("kiro gateway"))
    assert body["jsonrpc"] == "2.0" and body["method"] == "tools/call"
    assert body["params"] == {"name": "web_search", "arguments": {"query": "kiro gateway"}}
    assert body["id"].startswith("web_search_tooluse_") and len(body["id"]) == len("web_search_tooluse_") + 22


def test_results_are_read_from_the_json_text_content() -> None:
    hits = parse_response(
        200,
        answer(
            [
                {
                    "title": "A",
                    "url": "https://a.example/x",
                    "snippet": "about a",
                    "publishedDate": 1746000000000,
                },
                {"title": "no url"},
                {"url": "javascript:alert(1)"},
                {"url": "https://b.example/"},
            ]
        ),
    )
    assert hits == [
        SearchHit("A", "https://a.example/x", "about a", 1746000000000),
        SearchHit("https://b.example/", "https://b.example/"),
    ]
    assert hits[0].page_age == "April 30, 2025" and hits[1].page_age is None


def test_an_empty_result_list_is_an_answer() -> None:
    assert parse_response(200, answer([])) == []


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (500, b"{}"),
        (200, b"not json"),
        (200, b'{"jsonrpc":"2.0","id":"x","error":{"code":-32602,"message":"bad"}}'),
        (200, b'{"result":{"content":[{"type":"text","text":"{}"}],"isError":true}}'),
        (200, b'{"result":{"content":[]}}'),
        (200, b'{"result":{"content":[{"type":"text","text":"not json"}]}}'),
        (200, answer([], error="quota")),
    ],
)
def test_anything_else_is_a_failed_search(status: int, raw: bytes) -> None:
    with pytest.raises(WebSearchFailed):
        parse_response(status, raw)


def test_domain_filters_match_subdomains_and_ignore_www_and_schemes() -> None:
    hits = [
        SearchHit(u, u)
        for u in ("https://www.a.com/1", "https://docs.a.com/2", "https://b.org/3", "https://ba.com/")
    ]
    assert [h.url for h in filter_hits(hits, ["a.com"], [])] == [
        "https://www.a.com/1",
        "https://docs.a.com/2",
    ]
    assert [h.url for h in filter_hits(hits, ["https://b.org/path"], [])] == ["https://b.org/3"]
    assert [h.url for h in filter_hits(hits, [], ["*.a.com", "b.org"])] == ["https://ba.com/"]
    assert filter_hits(hits, [], []) == hits
