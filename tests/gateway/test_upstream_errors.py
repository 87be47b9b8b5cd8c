"""Kiro failures as clients and the router see them: status, shape, X-Kiro-Failure, retries, fallback."""

from __future__ import annotations

import json
import re
import time

import anthropic
import httpx
import openai
import pytest

from tests.gateway.support import Account, AnthropicFactory, Emulator, OpenAIFactory, directive, sse_events
from tests.support.procs import ServiceProcess

MODEL = "claude-sonnet-4-6"
# the pattern Claude Code parses to drive compaction (client-compat.md §1.6)
CLAUDE_CODE_TOO_LONG = re.compile(r"prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)", re.IGNORECASE)


def _post(
    gateway: ServiceProcess, headers: dict[str, str], content: str = "hello", **extra: object
) -> httpx.Response:
    body = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("fault", "status", "error_type", "failure", "chat_calls"),
    [
        ("invalid_token", 401, "authentication_error", "invalid_token", 1),
        ("suspended", 403, "permission_error", "suspended", 1),
        ("quota", 429, "rate_limit_error", "quota_exhausted", 1),
        ("bad_request", 400, "invalid_request_error", "invalid_request", 1),
        ("server_error", 529, "overloaded_error", "upstream_error", 3),
        ("unavailable", 529, "overloaded_error", "upstream_error", 3),
    ],
)
def test_kiro_failure_before_the_stream_is_reported_with_the_failure_header(
    gateway: ServiceProcess,
    emu: Emulator,
    fault: str,
    status: int,
    error_type: str,
    failure: str,
    chat_calls: int,
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=0, kind=fault)
    r = _post(gateway, account.headers(), stream=True)
    assert r.status_code == status
    assert r.json()["type"] == "error"
    assert r.json()["error"]["type"] == error_type
    assert r.headers["x-kiro-failure"] == failure
    assert r.headers["request-id"]
    counts = emu.counts(account.name)
    assert counts.get("chat_codewhisperer", 0) == chat_calls
    assert counts.get("chat_amazonq", 0) == 0


def test_quota_exhaustion_tells_sdks_not_to_retry(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=0, kind="quota")
    r = _post(gateway, account.headers())
    assert r.status_code == 429
    assert r.headers["x-should-retry"] == "false"
    assert int(r.headers["retry-after"]) >= 60  # no reset time from Kiro: a default, never nothing


def test_quota_exhaustion_says_when_kiros_reset_comes_in_both_shapes(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    reset_at = time.time() + 5400
    quota = {"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"}
    emu.fault(
        account=account.name, endpoint="chat", times=0, status=402, body={**quota, "nextDateReset": reset_at}
    )
    with pytest.raises(anthropic.RateLimitError) as anthropic_error:
        anthropic_sdk(gateway, account).messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.RateLimitError) as openai_error:
        openai_sdk(gateway, account).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    for caught in (anthropic_error.value, openai_error.value):
        headers = caught.response.headers
        assert abs(int(headers["retry-after"]) - (reset_at - time.time())) <= 60
        assert headers["x-should-retry"] == "false"


def _standalone(account: Account) -> dict[str, str]:
    """Headers of a trusted request with a refresh token instead of the router's access token."""
    return {"X-Kiro-Access-Token": "", "X-Kiro-Refresh-Token": account.refresh_token}


def _chat_counts(emu: Emulator, account: Account) -> dict[str, int]:
    return {k: n for k, n in emu.counts(account.name).items() if k.startswith("chat_")}


def test_throttling_on_both_endpoints_is_a_429_with_retry_after(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=0, kind="throttled")
    client = anthropic_sdk(gateway, account, **_standalone(account))
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    headers = caught.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-kiro-failure"] == "throttled"
    assert headers["x-kiro-retry-after"] == headers["retry-after"]
    assert _chat_counts(emu, account) == {"chat_codewhisperer": 1, "chat_amazonq": 1}


def test_a_throttled_account_from_the_router_is_not_retried_on_the_other_endpoint(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=0, kind="throttled")
    client = anthropic_sdk(gateway, account)  # the router's access token: it fails over to another account
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["x-kiro-failure"] == "throttled"
    assert emu.counts(account.name) == {"chat_codewhisperer": 1}


def test_throttled_endpoint_falls_back_to_the_next_with_its_origin(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat_codewhisperer", times=0, kind="throttled")
    client = anthropic_sdk(gateway, account, **_standalone(account))
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "fallback"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "fallback"
    assert _chat_counts(emu, account) == {"chat_codewhisperer": 1, "chat_amazonq": 1}
    sent = emu.requests(account.name, "chat_amazonq")[-1]  # what most clients send to q.{region}
    assert sent["body"]["conversationState"]["currentMessage"]["userInputMessage"]["origin"] == "AI_EDITOR"
    assert "x-amz-target" not in {name.lower() for name in sent["headers"]}


def test_a_transient_server_error_is_retried_and_then_succeeds(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=1, kind="server_error")
    client = anthropic_sdk(gateway, account)
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "again"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "again"
    assert emu.counts(account.name) == {"chat_codewhisperer": 2}


def test_openai_clients_get_their_own_shapes_for_upstream_failures(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    emu.fault(account=account.name, endpoint="chat", times=1, kind="quota")
    with pytest.raises(openai.RateLimitError) as quota:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert quota.value.code == "insufficient_quota"
    emu.fault(account=account.name, endpoint="chat", times=0, kind="unavailable")
    with pytest.raises(openai.InternalServerError) as down:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert down.value.status_code == 503
    assert down.value.response.headers["x-kiro-failure"] == "upstream_error"


def test_unknown_model_at_kiro_is_a_404_model_not_found_for_openai(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=1, kind="invalid_model")
    with pytest.raises(openai.NotFoundError) as caught:
        openai_sdk(gateway, account).chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found"


def test_kiro_input_too_long_becomes_the_prompt_is_too_long_wording(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=1, kind="too_long")
    r = _post(gateway, account.headers())
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    match = CLAUDE_CODE_TOO_LONG.search(r.json()["error"]["message"])
    assert match and int(match[1]) > int(match[2])


def test_a_payload_over_kiros_size_limit_is_refused_before_calling_kiro(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    r = _post(gateway, account.headers(), content="word " * 140_000)
    assert r.status_code == 400
    assert CLAUDE_CODE_TOO_LONG.search(r.json()["error"]["message"])
    assert emu.counts(account.name).get("chat_codewhisperer", 0) == 0


def test_an_exception_frame_mid_stream_becomes_an_in_band_error_after_the_partial_text(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    script = directive(
        text="partial answer then trouble",
        chunks=4,
        exception={"after_frames": 2, "type": "ThrottlingException", "message": "Too many requests"},
    )
    r = _post(gateway, account.headers(), content=script, stream=True)
    assert r.status_code == 200
    events = sse_events(r.text)
    names = [name for name, _ in events]
    assert "content_block_delta" in names
    assert names[-2:] == ["error", "comment"]
    assert "message_stop" not in names
    assert '"failure":"throttled"' in events[-1][1]

    client = anthropic_sdk(gateway, account)
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": script}]
        ) as stream,
    ):
        received.extend(stream.text_stream)
    assert "".join(received)  # the text before the failure reached the client


def test_a_connection_reset_mid_stream_is_an_in_band_error_not_a_silent_end(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    script = directive(text="this stream will be cut off abruptly", chunks=5, reset_after_frames=2)
    r = _post(gateway, account.headers(), content=script, stream=True)
    events = sse_events(r.text)
    names = [name for name, _ in events]
    assert "content_block_delta" in names
    assert names[-2:] == ["error", "comment"]
    assert '"failure":"upstream_error"' in events[-1][1]
    assert "message_stop" not in names


def test_openai_stream_failure_is_an_error_chunk_the_sdk_raises(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    script = directive(text="cut short here", chunks=3, reset_after_frames=1)
    client = openai_sdk(gateway, account)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": script}], stream=True
        ):
            pass


def test_a_throttling_exception_before_any_answer_still_falls_back_to_the_other_endpoint(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    throttle = {"after_frames": 0, "type": "ThrottlingException", "message": "Too many requests"}
    emu.fault(account=account.name, endpoint="chat_codewhisperer", times=0, exception=throttle)
    r = _post(gateway, account.headers(**_standalone(account)), content="first frame trouble", stream=True)
    assert r.status_code == 200
    names = [name for name, _ in sse_events(r.text)]
    assert "error" not in names and names[-2] == "message_stop"
    assert _chat_counts(emu, account) == {"chat_codewhisperer": 1, "chat_amazonq": 1}


def test_a_leading_exception_on_every_endpoint_is_an_http_error_the_router_can_act_on(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    throttle = {"after_frames": 0, "type": "ThrottlingException", "message": "Too many requests"}
    emu.fault(account=account.name, endpoint="chat", times=0, exception=throttle)
    r = _post(gateway, account.headers(), stream=True)
    assert r.status_code == 429
    assert r.headers["x-kiro-failure"] == "throttled"


SUSPENSION = "Your account has been temporarily suspended. Please contact support to appeal."
#: one Kiro exception frame, the failure it means, the Anthropic error type clients see
EXCEPTION_FRAMES = [
    ("AccessDeniedException", SUSPENSION, "suspended", "permission_error"),
    ("ThrottlingException", "Too many requests", "throttled", "rate_limit_error"),
    ("ServiceQuotaExceededException", "Slow down", "throttled", "rate_limit_error"),
    ("AccessDeniedException", "The bearer token included in the request is invalid.", "invalid_token", None),
    ("InternalServerException", "boom", "upstream_error", "overloaded_error"),
]


@pytest.mark.parametrize(("exception_type", "message", "failure", "error_type"), EXCEPTION_FRAMES)
def test_an_exception_frame_mid_stream_is_classified_as_before_the_first_byte(
    gateway: ServiceProcess,
    emu: Emulator,
    exception_type: str,
    message: str,
    failure: str,
    error_type: str | None,
) -> None:
    """One classifier: the usage trailer the router reads says what X-Kiro-Failure says before the stream."""
    account = emu.account()
    exception = {"after_frames": 2, "type": exception_type, "message": message}
    script = directive(text="partial answer then trouble", chunks=4, exception=exception)
    r = _post(gateway, account.headers(), content=script, stream=True)
    assert r.status_code == 200
    events = sse_events(r.text)
    assert [name for name, _ in events][-2:] == ["error", "comment"]
    assert "content_block_delta" in [name for name, _ in events]
    trailer = json.loads(events[-1][1].removeprefix("x-kiro-usage "))
    assert trailer["failure"] == failure
    assert message in trailer["reason"] and exception_type in trailer["reason"]
    if error_type is not None:
        assert json.loads(events[-2][1])["error"]["type"] == error_type

    before = emu.account()
    emu.fault(account=before.name, endpoint="chat", times=0, exception={**exception, "after_frames": 0})
    early = _post(gateway, before.headers(), stream=True)
    assert early.headers["x-kiro-failure"] == failure
    assert message in early.headers["x-kiro-failure-reason"]


def test_a_suspension_mid_answer_of_a_non_streamed_request_is_a_suspended_failure(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    exception = {"after_frames": 2, "type": "AccessDeniedException", "message": SUSPENSION}
    r = _post(
        gateway, account.headers(), content=directive(text="abc def ghi", chunks=3, exception=exception)
    )
    assert r.status_code == 403
    assert r.headers["x-kiro-failure"] == "suspended"
    assert r.json()["error"]["type"] == "permission_error"


def test_a_stream_that_ends_well_has_no_failure_reason(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    events = sse_events(_post(gateway, account.headers(), stream=True).text)
    trailer = json.loads(events[-1][1].removeprefix("x-kiro-usage "))
    assert trailer["failure"] is None and trailer["reason"] is None
