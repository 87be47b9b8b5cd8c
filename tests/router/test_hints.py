"""What the router reads from a request body: the model and the conversation affinity."""

from __future__ import annotations

import orjson
import pytest

from services.router.errors import ClientError
from services.router.hints import leading_model, read_hints
from tests.support.procs import ROOT


def _body(*messages: dict[str, object], **extra: object) -> bytes:
    return orjson.dumps(
        {"model": "claude-sonnet-4.5", "system": "be brief", "messages": list(messages), **extra}
    )


def test_conversation_hint_is_the_same_on_every_turn_of_a_conversation() -> None:
    first = read_hints(_body({"role": "user", "content": "plan a trip"}), None)
    later = read_hints(
        _body(
            {"role": "user", "content": "plan a trip"},
            {"role": "assistant", "content": "where to?"},
            {"role": "user", "content": "Lisbon"},
            stream=True,
        ),
        None,
    )
    other = read_hints(_body({"role": "user", "content": "write a poem"}), None)

    assert first.conversation is not None
    assert first.conversation == later.conversation
    assert first.conversation != other.conversation
    assert later.model == "claude-sonnet-4.5"


def test_client_session_id_wins_over_the_message_hash() -> None:
    body = _body({"role": "user", "content": "same text"})

    by_header = read_hints(body, "session-a")
    by_metadata = read_hints(
        _body({"role": "user", "content": "same text"}, metadata={"user_id": "u1"}), None
    )

    assert by_header.conversation != read_hints(body, None).conversation
    assert (
        by_header.conversation
        == read_hints(_body({"role": "user", "content": "other"}), "session-a").conversation
    )
    assert by_metadata.conversation != read_hints(body, None).conversation


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_body_that_is_not_a_json_object_is_a_client_error(raw: bytes) -> None:
    with pytest.raises(ClientError) as caught:
        read_hints(raw, None)

    assert caught.value.status == 400


def test_missing_or_odd_fields_are_tolerated() -> None:
    hints = read_hints(b'{"model": 5, "stream": "yes", "messages": "nope", "extra": {}}', None)

    assert (hints.model, hints.conversation) == ("", None)


def test_responses_conversation_hint_is_the_prompt_cache_key_or_the_first_input_item() -> None:
    def responses(items: list[dict[str, object]], **extra: object) -> bytes:
        return orjson.dumps({"model": "m", "instructions": "be brief", "input": items, **extra})

    first = {"type": "message", "role": "user", "content": "plan a trip"}
    turn_one = read_hints(responses([first]), None)
    turn_two = read_hints(responses([first, {"role": "assistant", "content": "where?"}]), None)
    keyed_one = read_hints(responses([first], prompt_cache_key="conv-1"), None)
    keyed_two = read_hints(responses([{"role": "user", "content": "other"}], prompt_cache_key="conv-1"), None)

    assert turn_one.conversation is not None and turn_one.conversation == turn_two.conversation
    assert keyed_one.conversation == keyed_two.conversation != turn_one.conversation
    assert read_hints(orjson.dumps({"model": "m", "input": "just text"}), None).conversation is not None


def test_claude_code_turn_is_routed_from_its_first_bytes() -> None:
    capture = orjson.loads(
        (ROOT / "tests/fixtures/clients/claude_code_02_messages_stream_first_turn.json").read_bytes()
    )
    body = orjson.dumps(capture["body"])
    session = capture["headers"]["X-Claude-Code-Session-Id"]
    # the tool schemas name a `model` property too: an object value, not a second model
    assert body.count(b'"model"') > 1

    assert leading_model(body) == "claude-opus-4-8"
    hints = read_hints(body, session)
    assert hints.model == "claude-opus-4-8"
    assert hints.conversation == read_hints(b'{"model": "m"}', session).conversation


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        # a later top-level duplicate: the gateway reads the last one, so must the router
        (b'{"model": "allowed", "messages": [], "model": "forbidden"}', "forbidden"),
        (b'{"model": "allowed", "messages": [], "model" :\n "forbidden"}', "forbidden"),
        # the same key spelled with escapes
        (b'{"model": "allowed", "mod\\u0065l": "forbidden"}', "forbidden"),
        (b'{"model": "allowed", "\\u006Dodel": "forbidden"}', "forbidden"),
        # escapes inside the model itself
        (b'{"model": "claude\\u002dsonnet", "messages": []}', "claude-sonnet"),
        (b'{"model": "a\\"b", "messages": []}', 'a"b'),
        # the model not first, or not a string
        (b'{"messages": [], "model": "second"}', "second"),
        (b'{"model": null, "messages": []}', ""),
        (b'{"model": ["x"], "messages": []}', ""),
        # `"model"` inside strings and nested objects is not the model
        (
            b'{"model": "real", "system": "say \\"model\\": \\"fake\\"", '
            b'"tools": [{"model": {"type": "string"}}]}',
            "real",
        ),
        (
            b'{"model": "real", "messages": [{"role": "user", '
            b'"content": [{"type": "tool_use", "input": {"model": "x"}}]}]}',
            "real",
        ),
        # unicode in and around the model
        (
            '{"model": "mod\u00e8le-\u4e16", "system": "\u00e9t\u00e9 \U0001f600"}'.encode(),
            "mod\u00e8le-\u4e16",
        ),
        (b' \r\n\t{ "model" : "spaced" }', "spaced"),
    ],
)
def test_every_body_routes_on_the_model_the_gateway_reads(raw: bytes, model: str) -> None:
    """Same answer as a full parse (last duplicate wins, escapes decoded), with a session header or not."""
    assert read_hints(raw, "session-1").model == read_hints(raw, None).model == model


def test_short_path_reads_only_the_opening_of_a_huge_body() -> None:
    filler = [{"role": "user", "content": "x" * 1000}] * 20_000  # 20 MB the router never parses
    body = b'{"model": "claude-sonnet-4.5", "messages": ' + orjson.dumps(filler)[:-1] + b", not json at all"

    assert read_hints(body, "session-1").model == "claude-sonnet-4.5"
    with pytest.raises(ClientError):  # without the header the whole body is parsed, and refused
        read_hints(body, None)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b'{"model": 5}', b"", b'{"model": "a"'])
def test_bodies_the_short_path_cannot_read_fall_back_to_the_full_parse(raw: bytes) -> None:
    assert leading_model(raw) is None
