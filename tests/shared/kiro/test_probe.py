"""The account check's pure parts: Kiro's errors as said, chat answers, the probe and its model."""

from __future__ import annotations

from shared.kiro.eventstream import encode_event, encode_exception
from shared.kiro.probe import (
    KiroError,
    describe_error,
    probe_chat_body,
    probe_model,
    read_chat_answer,
)


def test_a_kiro_error_keeps_its_status_type_reason_and_message() -> None:
    body = b'{"message":"You have reached the limit.","reason":"MONTHLY_REQUEST_COUNT"}'
    headers = {"x-amzn-errortype": "ServiceQuotaExceededException:http://internal.amazon.com/coral/"}

    error = describe_error(402, headers, body)

    assert error == KiroError(
        402, "ServiceQuotaExceededException", "MONTHLY_REQUEST_COUNT", "You have reached the limit."
    )
    assert (
        str(error)
        == "HTTP 402 ServiceQuotaExceededException MONTHLY_REQUEST_COUNT: You have reached the limit."
    )


def test_oauth_aws_and_plain_text_errors_are_read_too() -> None:
    oauth = describe_error(400, {}, b'{"error":"invalid_grant","error_description":"Invalid refresh token"}')
    aws = describe_error(403, {}, b'{"__type":"com.amazon#AccessDeniedException","Message":"denied"}')
    nested = describe_error(400, {}, b'{"error":{"reason":"INVALID_MODEL_ID","message":"Invalid model."}}')
    text = describe_error(502, {}, b"<html>Bad Gateway</html>")

    assert (oauth.reason, oauth.message) == ("invalid_grant", "Invalid refresh token")
    assert (aws.type, aws.message) == ("AccessDeniedException", "denied")
    assert (nested.reason, nested.message) == ("INVALID_MODEL_ID", "Invalid model.")
    assert (text.status, text.message) == (502, "<html>Bad Gateway</html>")


def test_a_chat_answer_gives_its_text_and_credits_and_an_exception_frame_is_its_error() -> None:
    good = encode_event("assistantResponseEvent", {"content": "Hello"}) + encode_event(
        "meteringEvent", {"unit": "credit", "usage": 0.02}
    )
    refused = encode_exception("ThrottlingException", "Too many requests")

    answer = read_chat_answer(good)
    failed = read_chat_answer(refused)

    assert (answer.text, answer.credits, answer.error) == ("Hello", 0.02, None)
    assert failed.error == KiroError(200, "ThrottlingException", "", "Too many requests")


def test_an_answer_without_text_or_cut_in_a_frame_is_reported() -> None:
    empty = read_chat_answer(encode_event("meteringEvent", {"unit": "credit", "usage": 0.01}))
    whole = encode_event("assistantResponseEvent", {"content": "Hi there"})
    capped = read_chat_answer(whole + whole[:10], complete=False)
    truncated = read_chat_answer(whole + whole[:10])

    assert empty.error is not None and empty.error.message == "the answer had no text"
    assert capped.error is None and capped.text == "Hi there"
    assert truncated.error is not None and truncated.error.type == "EventStreamError"


def test_the_probe_is_one_word_on_the_cheapest_listed_model() -> None:
    body = probe_chat_body("claude-haiku-4.5", "AI_EDITOR", "arn:aws:codewhisperer:us-east-1:1:profile/X")

    message = body["conversationState"]["currentMessage"]["userInputMessage"]
    assert message == {"content": "Hi", "modelId": "claude-haiku-4.5", "origin": "AI_EDITOR"}
    assert "history" not in body["conversationState"] and body["profileArn"].endswith("profile/X")
    assert (
        probe_model([{"modelId": "claude-opus-4.5"}, {"modelId": "claude-haiku-4.5"}]) == "claude-haiku-4.5"
    )
    assert probe_model([{"modelId": "glm-5"}]) == "glm-5"
    assert probe_model([]) == "claude-sonnet-4.5"
