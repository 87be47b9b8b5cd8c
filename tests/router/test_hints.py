"""What the router reads from a request body: model, stream flag, conversation affinity."""

from __future__ import annotations

import orjson
import pytest

from services.router.errors import ClientError
from services.router.hints import read_hints


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
    assert (first.stream, later.stream, later.model) == (False, True, "claude-sonnet-4.5")


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

    assert (hints.model, hints.stream, hints.conversation) == ("", False, None)


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
