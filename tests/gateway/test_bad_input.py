"""Malformed requests on every endpoint get the client's own error shape with 400/404/413, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.support import INTERNAL_KEY, Emulator
from tests.support.procs import ServiceProcess

MESSAGES = "/v1/messages"
COUNT = "/v1/messages/count_tokens?beta=true"
CHAT = "/v1/chat/completions"
GOOD_MESSAGES = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}
GOOD_CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def _deep(levels: int) -> object:
    value: object = "bottom"
    for _ in range(levels):
        value = {"x": [value]}
    return value


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


CASES = [
    # path, body, status, error type, param
    (MESSAGES, b"{not json", 400, "invalid_request_error", None),
    (MESSAGES, b"", 400, "invalid_request_error", None),
    (MESSAGES, b"[1, 2]", 400, "invalid_request_error", None),
    (MESSAGES, _json({**GOOD_MESSAGES, "model": 5}), 400, "invalid_request_error", "model"),
    (
        MESSAGES,
        _json({"model": "claude-sonnet-4-6", "max_tokens": 10}),
        400,
        "invalid_request_error",
        "messages",
    ),
    (MESSAGES, _json({**GOOD_MESSAGES, "messages": "hi"}), 400, "invalid_request_error", "messages"),
    (MESSAGES, _json({**GOOD_MESSAGES, "max_tokens": "lots"}), 400, "invalid_request_error", "max_tokens"),
    (MESSAGES, _json({**GOOD_MESSAGES, "model": "gemini-pro"}), 400, "invalid_request_error", "model"),
    (MESSAGES, _json({**GOOD_MESSAGES, "metadata": _deep(200)}), 400, "invalid_request_error", None),
    (COUNT, b"{not json", 400, "invalid_request_error", None),
    (COUNT, _json({"model": "claude-sonnet-4-6", "messages": 5}), 400, "invalid_request_error", "messages"),
    (CHAT, b"{not json", 400, "invalid_request_error", None),
    (CHAT, b"null", 400, "invalid_request_error", None),
    (CHAT, _json({"model": "gpt-4o", "input": "hi"}), 400, "invalid_request_error", "input"),
    (
        CHAT,
        _json({**GOOD_CHAT, "messages": [{"role": "wizard", "content": "hi"}]}),
        400,
        "invalid_request_error",
        None,
    ),
    (CHAT, _json({**GOOD_CHAT, "stream": "yes"}), 400, "invalid_request_error", "stream"),
    (CHAT, _json({**GOOD_CHAT, "model": "gemini-pro"}), 404, "invalid_request_error", "model"),
    (CHAT, _json({**GOOD_CHAT, "tools": _deep(300)}), 400, "invalid_request_error", None),
]


def _error(path: str, response: httpx.Response) -> dict[str, object]:
    body = response.json()
    if path.startswith(MESSAGES):
        assert body["type"] == "error"
        assert response.headers["request-id"]
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert response.headers["x-request-id"]
    error: dict[str, object] = body["error"]
    return error


@pytest.fixture(scope="module")
def http(gateway: ServiceProcess) -> Iterator[httpx.Client]:
    # the router's internal key: requests without it (or a client key) end at 401 before any body check
    with httpx.Client(base_url=gateway.url, timeout=30, headers={"X-Internal-Key": INTERNAL_KEY}) as client:
        yield client


@pytest.mark.parametrize(("path", "body", "status", "error_type", "param"), CASES)
def test_malformed_request_gets_a_clear_error_in_the_clients_shape(
    http: httpx.Client, emu: Emulator, path: str, body: bytes, status: int, error_type: str, param: str | None
) -> None:
    account = emu.account()
    r = http.post(path, content=body, headers={**account.headers(), "content-type": "application/json"})
    assert r.status_code == status, r.text
    error = _error(path, r)
    assert error["type"] == error_type
    assert error["message"]
    if param is not None and path == CHAT:
        assert error["param"] == param
    if param is not None:
        assert param in str(error["message"]) or error.get("param") == param
    assert emu.counts(account.name).get("chat_codewhisperer", 0) == 0


@pytest.mark.parametrize("path", [MESSAGES, COUNT, CHAT])
def test_an_oversized_body_is_a_413_request_too_large(http: httpx.Client, path: str) -> None:
    big = b'{"model": "x", "pad": "' + b"a" * 2_100_000 + b'"}'
    r = http.post(path, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    error = _error(path, r)
    assert error["type"] == ("request_too_large" if path.startswith(MESSAGES) else "invalid_request_error")


def test_an_oversized_chunked_body_is_refused_while_reading(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "x", "pad": "'
        for _ in range(30):
            yield b"a" * 100_000
        yield b'"}'

    r = http.post(MESSAGES, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert _error(MESSAGES, r)["type"] == "request_too_large"


def test_unknown_fields_are_accepted(http: httpx.Client, emu: Emulator) -> None:
    account = emu.account()
    body = {
        **GOOD_MESSAGES,
        "service_tier": "auto",
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "some_future_field": {"nested": [1, 2, 3]},
    }
    assert http.post(MESSAGES, json=body, headers=account.headers()).status_code == 200
    chat = {**GOOD_CHAT, "stream_options": {"include_usage": True}, "n": 1, "logit_bias": {}, "future": True}
    assert http.post(CHAT, json=chat, headers=account.headers()).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", MESSAGES, 405),
        ("GET", CHAT, 405),
        ("POST", "/v1/completions", 404),
        ("GET", "/v1/nothing", 404),
    ],
)
def test_wrong_method_or_path_still_answers_in_the_clients_shape(
    http: httpx.Client, method: str, path: str, status: int
) -> None:
    r = http.request(method, path)
    assert r.status_code == status
    body = r.json()
    if path.startswith(MESSAGES):
        assert body["type"] == "error"
        assert body["error"]["type"] == ("not_found_error" if status == 404 else "invalid_request_error")
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
