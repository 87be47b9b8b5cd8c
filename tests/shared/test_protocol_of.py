"""Which API a caller speaks decides the error shape it gets: by path, else by Anthropic's headers."""

from __future__ import annotations

import pytest

from shared.client_errors import Protocol, protocol_of


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
