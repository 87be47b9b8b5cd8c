"""Which API a caller speaks decides its error shape (by path, else headers); how retry advice is written."""

from __future__ import annotations

import pytest

from shared.client_errors import Protocol, protocol_of, retry_headers


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1/messages", {}, Protocol.ANTHROPIC),
        ("/v1/messages/count_tokens", {"authorization": "Bearer k"}, Protocol.ANTHROPIC),
        ("/v1/chat/completions", {"x-api-key": "k"}, Protocol.OPENAI),  # the path wins
        ("/v1/responses", {"anthropic-version": "2023-06-01"}, Protocol.OPENAI),
        ("/v1/models", {"x-api-key": "k"}, Protocol.ANTHROPIC),
        ("/v1/models", {"anthropic-version": "2023-06-01", "authorization": "Bearer k"}, Protocol.ANTHROPIC),
        ("/v1/models", {"authorization": "Bearer k"}, Protocol.OPENAI),
        ("/v1/unknown", {}, Protocol.OPENAI),
    ],
)
def test_protocol_of(path: str, headers: dict[str, str], expected: Protocol) -> None:
    assert protocol_of(path, headers) is expected


@pytest.mark.parametrize(
    ("seconds", "after", "after_ms"),
    [(0.0, "1", "1"), (0.2, "1", "200"), (1.0, "1", "1000"), (1.2, "2", "1200"), (29.9999, "30", "30000")],
)
def test_retry_headers_never_say_sooner_than_it_can_work(seconds: float, after: str, after_ms: str) -> None:
    assert retry_headers(seconds) == {"retry-after": after, "retry-after-ms": after_ms}
